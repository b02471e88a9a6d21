//! The HTTP auth API, shaped like Django REST framework SimpleJWT with refresh rotation
//! and blacklisting: login, refresh, verify, logout.
//!
//! Besides the JSON body, login and refresh set an httpOnly `refresh_token` cookie and
//! repeat the access token as `token`, so cookie-based and "token"-field clients work too.

use crate::clock::now_unix;
use crate::error::{ApiError, ServerError};
use crate::grace::Successor;
use crate::jwt::{Claims, Issued, TokenError, TokenType};
use crate::state::{lock, CounterCells, RefreshMode, Shared};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const REFRESH_COOKIE: &str = "refresh_token";
const COOKIE_PATH: &str = "/api/auth/";

pub(crate) fn routes() -> Router<Arc<Shared>> {
    let mut router = Router::new();
    // Django wants the trailing slash; accept the bare path too.
    for (path, handler) in [
        ("/api/auth/login/", post(login)),
        ("/api/auth/token/refresh/", post(refresh)),
        ("/api/auth/token/verify/", post(verify)),
        ("/api/auth/logout/", post(logout)),
    ] {
        router = router
            .route(path, handler.clone())
            .route(path.trim_end_matches('/'), handler);
    }
    router
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

async fn login(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if let Some(location) = shared.auth_redirect() {
        return Ok(redirect(location));
    }
    let body: LoginBody = parse_json(&body)?;
    let throttle = &shared.login_throttle;
    if let Some(wait) = throttle.retry_after(&body.username, peer.ip(), Instant::now()) {
        CounterCells::bump(&shared.counters.logins_throttled);
        tracing::warn!(user = %body.username, %peer, "login throttled after repeated failures");
        return Ok(throttled(wait));
    }
    let user = shared.check_password(&body.username, body.password).await?;
    let Some(user) = user else {
        throttle.record_failure(&body.username, peer.ip(), Instant::now());
        CounterCells::bump(&shared.counters.logins_rejected);
        tracing::info!(user = %body.username, "login refused: bad credentials");
        return Err(ApiError::unauthorized(
            "No active account found with the given credentials",
        ));
    };
    let (access, refresh) = issue_pair(&shared, user.id, &user.username)?;
    let (access, refresh) = (access.token, refresh.token);
    CounterCells::bump(&shared.counters.logins);
    tracing::info!(user = %user.username, "login");
    let body = json!({
        "access": access,
        "refresh": refresh,
        "token": access,
        "user": { "id": user.id, "username": user.username },
    });
    Ok(with_refresh_cookie(
        Json(body).into_response(),
        &refresh,
        shared.refresh_ttl,
    ))
}

#[derive(Deserialize, Default)]
struct RefreshBody {
    #[serde(default)]
    refresh: Option<String>,
}

async fn refresh(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let counters = &shared.counters;
    CounterCells::bump(&counters.refreshes);
    if let Some(location) = shared.auth_redirect() {
        return Ok(redirect(location));
    }
    match shared.refresh_mode() {
        RefreshMode::Normal => {}
        RefreshMode::Reject => {
            CounterCells::bump(&counters.refresh_rejected);
            return Err(ApiError::token_not_valid());
        }
        RefreshMode::Fail500 => return Err(ApiError::internal()),
        RefreshMode::Status(code) => {
            if code == 401 {
                CounterCells::bump(&counters.refresh_rejected);
            }
            return Ok(fault_status(code));
        }
    }
    let body: RefreshBody = parse_optional_json(&body)?;
    let Some(token) = body
        .refresh
        .filter(|t| !t.is_empty())
        .or_else(|| cookie(&headers, REFRESH_COOKIE))
    else {
        CounterCells::bump(&counters.refresh_rejected);
        return Err(ApiError::token_not_valid());
    };
    let claims = match shared.keys.verify(&token, TokenType::Refresh) {
        Ok(claims) => claims,
        Err(e) => {
            CounterCells::bump(&counters.refresh_rejected);
            tracing::info!(reason = %e, "refresh refused");
            return Err(ApiError::token_not_valid());
        }
    };
    let (access, refresh) = match rotate(&shared, &claims)? {
        Rotation::Rotated { access, refresh } => {
            tracing::info!(user = %claims.username, "refresh rotated");
            (access, refresh)
        }
        Rotation::Grace { access, refresh } => {
            CounterCells::bump(&counters.refresh_reuse_within_grace);
            tracing::info!(user = %claims.username, "refresh re-presented within the reuse interval");
            (access, refresh)
        }
        Rotation::Reused => {
            CounterCells::bump(&counters.refresh_reuse);
            CounterCells::bump(&counters.refresh_rejected);
            tracing::warn!(user = %claims.username, "refresh refused: token was already used");
            return Err(ApiError::token_not_valid());
        }
        Rotation::NoUser => {
            CounterCells::bump(&counters.refresh_rejected);
            return Err(ApiError::token_not_valid());
        }
    };
    // The rotation is done and stored; a client that gives up while we wait has lost it.
    let delay = shared.refresh_delay();
    if !delay.is_zero() {
        let mut shutdown = shared.shutdown.subscribe();
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = shutdown.wait_for(|down| *down) => {}
        }
    }
    let body = json!({ "access": access, "refresh": refresh, "token": access });
    Ok(with_refresh_cookie(
        Json(body).into_response(),
        &refresh,
        shared.refresh_ttl,
    ))
}

/// What presenting a (validly signed, unexpired) refresh token came to.
enum Rotation {
    /// First presentation: blacklisted, and here is the new pair.
    Rotated { access: String, refresh: String },
    /// Presented again within the reuse interval: the pair its rotation gave.
    Grace { access: String, refresh: String },
    /// Presented again outside the interval, or its successor is used up: reuse.
    Reused,
    /// The token's user no longer exists.
    NoUser,
}

/// Blacklists the token and issues its successor, or answers a re-presentation from
/// the reuse interval. One lock (the grace map's) covers the whole step, so two
/// concurrent presentations of one token see "rotated" and "grace", never "reused".
fn rotate(shared: &Shared, claims: &Claims) -> Result<Rotation, ServerError> {
    let mut grace = lock(&shared.grace);
    let (user, newly_blacklisted) = {
        let mut db = shared.db.lock();
        let user = db.user_by_id(claims.user_id)?;
        let newly = db.blacklist(&claims.jti, claims.exp, now_unix())?;
        (user, newly)
    };
    if !newly_blacklisted {
        let Some(successor) = grace.lookup(&claims.jti, Instant::now()) else {
            return Ok(Rotation::Reused);
        };
        // A successor that was rotated or logged out since ends the grace: handing it
        // out again would revive a session the client (or its thief) already moved on.
        if user.is_none() || shared.db.lock().is_blacklisted(&successor.refresh_jti)? {
            return Ok(Rotation::Reused);
        }
        let access = match shared.keys.verify(&successor.access, TokenType::Access) {
            Ok(_) => successor.access.clone(),
            // The access token it gave has expired meanwhile: an equivalent fresh one.
            Err(_) => {
                shared
                    .keys
                    .issue(
                        TokenType::Access,
                        claims.user_id,
                        &claims.username,
                        shared.access_ttl,
                    )?
                    .token
            }
        };
        return Ok(Rotation::Grace {
            access,
            refresh: successor.refresh.clone(),
        });
    }
    let Some(user) = user else {
        return Ok(Rotation::NoUser);
    };
    let (access, refresh) = issue_pair(shared, user.id, &user.username)?;
    grace.remember(
        claims.jti.clone(),
        Successor {
            access: access.token.clone(),
            refresh: refresh.token.clone(),
            refresh_jti: refresh.jti,
            rotated_at: Instant::now(),
        },
    );
    Ok(Rotation::Rotated {
        access: access.token,
        refresh: refresh.token,
    })
}

/// `429 Too Many Requests` with `Retry-After` in whole seconds (at least 1), in DRF's
/// words.
fn throttled(wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    let body = json!({
        "detail": format!("Request was throttled. Expected available in {secs} seconds."),
    });
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

/// `307 Temporary Redirect` to `location`, for the auth-redirect fault.
fn redirect(location: HeaderValue) -> Response {
    let mut resp = (StatusCode::TEMPORARY_REDIRECT, "redirected").into_response();
    resp.headers_mut().insert(header::LOCATION, location);
    resp
}

/// The `RefreshMode::Status` answer: that status, a short plain-text body.
fn fault_status(code: u16) -> Response {
    let status = StatusCode::from_u16(code)
        .ok()
        .filter(|s| (200..600).contains(&s.as_u16()))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match status.as_u16() {
        204 | 205 | 304 => String::new(),
        n => format!("refresh fault {n}"),
    };
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response();
    if status.is_redirection() {
        resp.headers_mut().insert(
            header::LOCATION,
            HeaderValue::from_static("/api/auth/moved/"),
        );
    }
    resp
}

#[derive(Deserialize)]
struct VerifyBody {
    token: String,
}

async fn verify(State(shared): State<Arc<Shared>>, body: Bytes) -> Result<Response, ApiError> {
    let body: VerifyBody = parse_json(&body)?;
    let valid = match shared.keys.verify(&body.token, TokenType::Access) {
        Ok(_) => true,
        Err(TokenError::WrongType) => match shared.keys.verify(&body.token, TokenType::Refresh) {
            Ok(claims) => !shared.db.lock().is_blacklisted(&claims.jti)?,
            Err(_) => false,
        },
        Err(_) => false,
    };
    if valid {
        Ok(Json(json!({})).into_response())
    } else {
        Err(ApiError::token_not_valid())
    }
}

async fn logout(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Some(bearer) = bearer(&headers) else {
        return Err(ApiError::unauthorized(
            "Authentication credentials were not provided.",
        ));
    };
    let access = shared
        .keys
        .verify(&bearer, TokenType::Access)
        .map_err(|_| ApiError::token_not_valid())?;
    let body: RefreshBody = parse_optional_json(&body)?;
    let Some(token) = body
        .refresh
        .filter(|t| !t.is_empty())
        .or_else(|| cookie(&headers, REFRESH_COOKIE))
    else {
        return Err(ApiError::bad_request("refresh: This field is required."));
    };
    let refresh: Claims = shared
        .keys
        .verify(&token, TokenType::Refresh)
        .map_err(|_| ApiError::token_not_valid())?;
    if refresh.user_id != access.user_id {
        return Err(ApiError::token_not_valid());
    }
    shared
        .db
        .lock()
        .blacklist(&refresh.jti, refresh.exp, now_unix())?;
    tracing::info!(user = %access.username, "logout");
    let mut resp = StatusCode::RESET_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{REFRESH_COOKIE}=; Path={COOKIE_PATH}; HttpOnly; SameSite=Lax; Max-Age=0"
    )) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// Signs a fresh access + refresh pair.
fn issue_pair(
    shared: &Shared,
    user_id: u64,
    username: &str,
) -> Result<(Issued, Issued), ServerError> {
    let access = shared
        .keys
        .issue(TokenType::Access, user_id, username, shared.access_ttl)?;
    let refresh = shared
        .keys
        .issue(TokenType::Refresh, user_id, username, shared.refresh_ttl)?;
    Ok((access, refresh))
}

fn with_refresh_cookie(mut resp: Response, refresh: &str, ttl: Duration) -> Response {
    let cookie = format!(
        "{REFRESH_COOKIE}={refresh}; Path={COOKIE_PATH}; HttpOnly; SameSite=Lax; Max-Age={}",
        ttl.as_secs()
    );
    match HeaderValue::from_str(&cookie) {
        Ok(v) => {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
        Err(_) => tracing::error!("refresh cookie is not a valid header value"),
    }
    resp
}

/// Parses a JSON body; any failure is a 400 with a `detail`.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            // serde's message names the field ("missing field `password`").
            ApiError::bad_request(format!("Invalid request body: {e}"))
        } else {
            ApiError::bad_request("JSON parse error")
        }
    })
}

/// Like `parse_json`, but an empty body counts as `{}` (for cookie-only requests).
fn parse_optional_json<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    // A non-object (say `null`) with no usable field is treated as empty as well.
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(_)) => parse_json(body),
        Ok(_) => Ok(T::default()),
        Err(_) => Err(ApiError::bad_request("JSON parse error")),
    }
}

/// The token of an `Authorization: Bearer <t>` (or `JWT <t>`) header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            let token = token.trim();
            ((scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("jwt"))
                && !token.is_empty())
            .then(|| token.to_owned())
        })
}

/// The value of a cookie sent in any `Cookie` header.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            let v = v.trim().trim_matches('"');
            (k.trim() == name && !v.is_empty()).then(|| v.to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cookie_and_bearer() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; refresh_token=xyz"),
        );
        h.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer  t.o.k "),
        );
        assert_eq!(cookie(&h, "refresh_token").as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, "b"), None);
        assert_eq!(bearer(&h).as_deref(), Some("t.o.k"));
        let mut h = HeaderMap::new();
        h.append(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn optional_json_accepts_empty() {
        let b: RefreshBody = parse_optional_json(b"").unwrap_or_default();
        assert!(b.refresh.is_none());
        assert!(parse_optional_json::<RefreshBody>(b"{nope").is_err());
        let b: Result<RefreshBody, _> = parse_optional_json(br#"{"refresh":"r"}"#);
        assert_eq!(b.ok().and_then(|b| b.refresh).as_deref(), Some("r"));
    }
}
