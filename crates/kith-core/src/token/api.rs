//! The auth API over HTTP: login, refresh, logout and verify, shaped by the profile.
//!
//! Every failure is classified here, once: [`AuthError::Rejected`] means the server
//! said no (the session cannot go on), [`AuthError::Transient`] means try again later
//! (connection error, timeout, 5xx, 429). Nothing in this module retries; callers do.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, AUTHORIZATION, COOKIE, DATE, RETRY_AFTER, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::Value;

use crate::protocol::{ProfileError, RefreshTransport, ServerProfile};
use crate::secret::Secret;

/// Tokens handed out by login or refresh.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub access: Secret,
    /// The new refresh token, when the server issued (rotated) one.
    pub refresh: Option<Secret>,
    /// The user object of the login response, if any (never holds secrets).
    pub user: Option<Value>,
    /// The response's HTTP `Date`, used to estimate clock skew.
    pub server_date: Option<SystemTime>,
}

/// A classified auth failure. Never contains a token.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// The server refused: bad credentials, or a refresh token that is invalid,
    /// blacklisted or expired.
    #[error("the server rejected the request ({status}): {detail}")]
    Rejected { status: u16, detail: String },
    /// Worth retrying later: connection error, timeout, 5xx or 429.
    #[error("temporary failure: {reason}")]
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The server answered 2xx but not with what the profile describes.
    #[error("unexpected response from the auth API: {0}")]
    BadResponse(String),
    #[error("invalid server profile: {0}")]
    Profile(String),
}

impl From<ProfileError> for AuthError {
    fn from(error: ProfileError) -> Self {
        AuthError::Profile(error.to_string())
    }
}

impl AuthError {
    pub fn is_transient(&self) -> bool {
        matches!(self, AuthError::Transient { .. })
    }
}

/// HTTP client for one backend's auth API.
#[derive(Clone)]
pub struct AuthClient {
    http: reqwest::Client,
    profile: ServerProfile,
}

impl AuthClient {
    pub fn new(profile: ServerProfile) -> Result<Self, AuthError> {
        profile.validate()?;
        let http = reqwest::Client::builder()
            .timeout(profile.auth.request_timeout)
            .connect_timeout(profile.auth.request_timeout)
            .user_agent(concat!("kith/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| AuthError::Profile(format!("cannot build HTTP client: {error}")))?;
        Ok(AuthClient { http, profile })
    }

    pub fn profile(&self) -> &ServerProfile {
        &self.profile
    }

    /// Logs in with a username and password.
    pub async fn login(&self, username: &str, password: &Secret) -> Result<TokenGrant, AuthError> {
        let auth = &self.profile.auth;
        let mut body = serde_json::Map::new();
        body.insert(auth.username_field.clone(), Value::from(username));
        body.insert(auth.password_field.clone(), Value::from(password.expose()));
        let url = self.profile.api_url(&auth.login_path)?;
        let response = self
            .http
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(transport_error)?;
        self.read_grant(response).await
    }

    /// Exchanges a refresh token for a new access token (and, with rotation, a new
    /// refresh token).
    pub async fn refresh(&self, refresh: &Secret) -> Result<TokenGrant, AuthError> {
        let auth = &self.profile.auth;
        let url = self.profile.api_url(&auth.refresh_path)?;
        let request = match auth.refresh_transport {
            RefreshTransport::Body => {
                let mut body = serde_json::Map::new();
                body.insert(auth.refresh_field.clone(), Value::from(refresh.expose()));
                self.http.post(url).json(&body)
            }
            RefreshTransport::Cookie => self
                .http
                .post(url)
                .header(
                    COOKIE,
                    format!("{}={}", auth.refresh_cookie, refresh.expose()),
                )
                .json(&serde_json::json!({})),
        };
        let response = request.send().await.map_err(transport_error)?;
        self.read_grant(response).await
    }

    /// Logs out: the server blacklists the refresh token.
    pub async fn logout(&self, access: Option<&Secret>, refresh: &Secret) -> Result<(), AuthError> {
        let auth = &self.profile.auth;
        let url = self.profile.api_url(&auth.logout_path)?;
        let mut request = self.http.post(url);
        if let Some(access) = access {
            request = request.header(AUTHORIZATION, format!("Bearer {}", access.expose()));
        }
        request = match auth.refresh_transport {
            RefreshTransport::Body => {
                let mut body = serde_json::Map::new();
                body.insert(auth.refresh_field.clone(), Value::from(refresh.expose()));
                request.json(&body)
            }
            RefreshTransport::Cookie => request
                .header(
                    COOKIE,
                    format!("{}={}", auth.refresh_cookie, refresh.expose()),
                )
                .json(&serde_json::json!({})),
        };
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = retry_after(response.headers());
        let detail = error_detail(response).await;
        Err(classify_status(status, detail, retry_after))
    }

    /// Asks the server whether `token` is valid (`Ok(false)` when it says no).
    pub async fn verify(&self, token: &Secret) -> Result<bool, AuthError> {
        let Some(path) = &self.profile.auth.verify_path else {
            return Err(AuthError::Profile(
                "this profile has no verify endpoint".into(),
            ));
        };
        let url = self.profile.api_url(path)?;
        let response = self
            .http
            .post(url)
            .json(&serde_json::json!({"token": token.expose()}))
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        if status.is_success() {
            return Ok(true);
        }
        let retry_after = retry_after(response.headers());
        let detail = error_detail(response).await;
        match classify_status(status, detail, retry_after) {
            AuthError::Rejected { .. } => Ok(false),
            other => Err(other),
        }
    }

    async fn read_grant(&self, response: reqwest::Response) -> Result<TokenGrant, AuthError> {
        let status = response.status();
        let headers = response.headers().clone();
        if !status.is_success() {
            let detail = error_detail(response).await;
            return Err(classify_status(status, detail, retry_after(&headers)));
        }
        let body = response.bytes().await.map_err(transport_error)?;
        let value: Value = serde_json::from_slice(&body).map_err(|_| {
            AuthError::BadResponse(format!(
                "expected a JSON object, got {} bytes of something else",
                body.len()
            ))
        })?;
        let auth = &self.profile.auth;
        let access = value
            .get(&auth.access_field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                AuthError::BadResponse(format!("the response has no {:?} field", auth.access_field))
            })?;
        let refresh = match auth.refresh_transport {
            RefreshTransport::Body => value
                .get(&auth.refresh_field)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(Secret::new),
            RefreshTransport::Cookie => cookie_value(&headers, &auth.refresh_cookie),
        };
        Ok(TokenGrant {
            access: Secret::new(access),
            refresh,
            user: value.get("user").cloned(),
            server_date: headers
                .get(DATE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| httpdate::parse_http_date(v).ok()),
        })
    }
}

/// 400/401/403 are the server saying no; 408, 429 and 5xx are worth a retry.
pub fn classify_status(
    status: StatusCode,
    detail: String,
    retry_after: Option<Duration>,
) -> AuthError {
    if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
        AuthError::Transient {
            reason: format!("HTTP {}", status.as_u16()),
            retry_after,
        }
    } else {
        AuthError::Rejected {
            status: status.as_u16(),
            detail,
        }
    }
}

fn transport_error(error: reqwest::Error) -> AuthError {
    let reason = if error.is_timeout() {
        "request timed out".to_string()
    } else if error.is_connect() {
        "cannot connect to the server".to_string()
    } else {
        // reqwest errors name the URL; auth URLs carry no token, but strip it anyway.
        error.without_url().to_string()
    };
    AuthError::Transient {
        reason,
        retry_after: None,
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    when.duration_since(SystemTime::now()).ok()
}

/// The server's explanation, from `{"detail": …}` or the first line of a text body.
async fn error_detail(response: reqwest::Response) -> String {
    let text = response.text().await.unwrap_or_default();
    if let Ok(value) = serde_json::from_str::<Value>(&text) {
        if let Some(detail) = value
            .get("detail")
            .or_else(|| value.get("message"))
            .or_else(|| value.get("error"))
            .and_then(Value::as_str)
        {
            return detail.chars().take(200).collect();
        }
    }
    text.lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(200)
        .collect()
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<Secret> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|cookie| {
            let first = cookie.split(';').next()?;
            let (key, value) = first.split_once('=')?;
            (key.trim() == name && !value.trim().is_empty()).then(|| Secret::new(value.trim()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        assert!(matches!(
            classify_status(StatusCode::UNAUTHORIZED, String::new(), None),
            AuthError::Rejected { status: 401, .. }
        ));
        assert!(matches!(
            classify_status(StatusCode::BAD_REQUEST, String::new(), None),
            AuthError::Rejected { status: 400, .. }
        ));
        assert!(
            classify_status(StatusCode::INTERNAL_SERVER_ERROR, String::new(), None).is_transient()
        );
        assert!(matches!(
            classify_status(
                StatusCode::TOO_MANY_REQUESTS,
                String::new(),
                Some(Duration::from_secs(3))
            ),
            AuthError::Transient {
                retry_after: Some(d),
                ..
            } if d == Duration::from_secs(3)
        ));
    }

    #[test]
    fn refresh_cookie_is_read_from_set_cookie() {
        let mut headers = HeaderMap::new();
        headers.append(SET_COOKIE, "other=1; Path=/".parse().unwrap());
        headers.append(
            SET_COOKIE,
            "refresh_token=abc.def; HttpOnly; Path=/api/auth/"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            cookie_value(&headers, "refresh_token").map(|s| s.expose().to_string()),
            Some("abc.def".into())
        );
        assert_eq!(cookie_value(&headers, "missing"), None);
    }
}
