//! Signing in through Next-Auth (seed 003), as a browser would, over its own routes.
//!
//! A Next.js app with Next-Auth has no JSON login endpoint. Its credentials provider
//! takes a form post guarded by a CSRF token, and the long-lived secret is the session
//! cookie; the backend token rides in the session (`session.token`). So:
//! - sign-in: `GET <base>/csrf` (the token and its cookie), then
//!   `POST <base>/callback/<provider>` as a form with `csrfToken`, the credentials and
//!   `json=true`, keeping the csrf cookie; the session cookie comes back, and
//!   `GET <base>/session` with it gives the token;
//! - renewal: `GET <base>/session` again. Next-Auth re-sets the cookie on every read
//!   (sliding expiry): the newest one is returned as the rotated secret, saved first by
//!   the token manager as with any rotation;
//! - a session answer without a token (`{}`) is Next-Auth saying the session is over:
//!   the confirmed rejection that ends Kith's session. A 5xx or a timeout is not;
//! - sign-out: `POST <base>/signout` with a fresh csrf token and the session cookie.
//!
//! The secrets (session cookie, csrf token, password) only travel in headers and form
//! bodies built here; they are never logged. Written by hand: no maintained Rust crate
//! speaks Next-Auth's routes, and these are four plain requests on the project's one
//! HTTP client (its TLS and proxy configuration).

use reqwest::header::{HeaderMap, COOKIE, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::Value;

use crate::protocol::{ProfileError, ServerProfile};
use crate::secret::Secret;
use crate::token::api::{
    classify_refresh_status, classify_status, looks_like_html, read_limited, retry_after,
    sent_request_error, transport_error, AuthError, TokenGrant,
};

/// Next-Auth's session cookie name over http, and its prefix over https.
const SESSION_COOKIE: &str = "next-auth.session-token";
const SECURE_PREFIX: &str = "__Secure-";
/// The csrf cookie's name ends with this (`__Host-` prefixed on https).
const CSRF_COOKIE: &str = "next-auth.csrf-token";

/// The requests of one Next-Auth app, over the auth client's HTTP client.
pub(crate) struct NextAuth<'a> {
    pub(crate) http: &'a reqwest::Client,
    pub(crate) profile: &'a ServerProfile,
}

/// A csrf token and the cookie that goes with it.
struct Csrf {
    token: Secret,
    cookie: Option<String>,
}

impl NextAuth<'_> {
    fn url(&self, route: &str) -> Result<url::Url, ProfileError> {
        let base = self.profile.auth.nextauth.base_path.trim_end_matches('/');
        self.profile.api_url(&format!("{base}/{route}"))
    }

    /// The session cookie's name: the profile's, or Next-Auth's own for the scheme.
    fn session_cookie(&self) -> String {
        let configured = &self.profile.auth.nextauth.session_cookie;
        if !configured.is_empty() {
            return configured.clone();
        }
        if self.profile.server.starts_with("https://") {
            format!("{SECURE_PREFIX}{SESSION_COOKIE}")
        } else {
            SESSION_COOKIE.to_owned()
        }
    }

    /// `GET <base>/csrf`: the token, and the cookie Next-Auth checks it against.
    async fn csrf(&self, session: Option<&Secret>) -> Result<Csrf, AuthError> {
        let mut request = self.http.get(self.url("csrf")?);
        if let Some(session) = session {
            request = request.header(COOKIE, self.cookie_header(None, Some(session)));
        }
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        if !status.is_success() {
            return Err(classify_status(
                status,
                String::new(),
                retry_after(&headers),
            ));
        }
        let value = json_body(response, &headers, status).await?;
        let token = value
            .get("csrfToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AuthError::BadResponse("the csrf answer has no csrfToken".into()))?;
        Ok(Csrf {
            token: Secret::new(token),
            cookie: set_cookie_pair(&headers, |name| name.ends_with(CSRF_COOKIE)),
        })
    }

    fn cookie_header(&self, csrf: Option<&Csrf>, session: Option<&Secret>) -> String {
        let mut pairs = Vec::new();
        if let Some(cookie) = csrf.and_then(|c| c.cookie.as_deref()) {
            pairs.push(cookie.to_owned());
        }
        if let Some(session) = session {
            pairs.push(format!("{}={}", self.session_cookie(), session.expose()));
        }
        pairs.join("; ")
    }

    /// Signs in with the credentials provider, then reads the session for the token.
    pub(crate) async fn login(
        &self,
        username: &str,
        password: &Secret,
    ) -> Result<TokenGrant, AuthError> {
        let csrf = self.csrf(None).await?;
        let auth = &self.profile.auth;
        let provider = &auth.nextauth.provider;
        let form = [
            ("csrfToken", csrf.token.expose()),
            (auth.username_field.as_str(), username),
            (auth.password_field.as_str(), password.expose()),
            ("json", "true"),
        ];
        let response = self
            .http
            .post(self.url(&format!("callback/{provider}"))?)
            .header(COOKIE, self.cookie_header(Some(&csrf), None))
            .form(&form)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        let answered = json_body(response, &headers, status).await;
        let url = answered
            .as_ref()
            .ok()
            .and_then(|v| v.get("url"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if url.contains("error=CredentialsSignin") {
            return Err(AuthError::Rejected {
                status: status.as_u16(),
                detail: "wrong username or password".into(),
            });
        }
        if !status.is_success() {
            return Err(classify_status(
                status,
                error_of(&url),
                retry_after(&headers),
            ));
        }
        answered?;
        if url.contains("csrf=true") {
            return Err(AuthError::BadResponse(
                "Next-Auth refused the sign-in's csrf token".into(),
            ));
        }
        let session_name = self.session_cookie();
        let session = set_cookie_value(&headers, &session_name).ok_or_else(|| {
            AuthError::BadResponse(format!(
                "Next-Auth signed in but set no {session_name} cookie"
            ))
        })?;
        let mut grant = self.read_session(&session, Exchange::Login).await?;
        grant.refresh = Some(grant.refresh.unwrap_or(session));
        Ok(grant)
    }

    /// Reads the session again: a fresh backend token, and the re-set cookie.
    pub(crate) async fn refresh(&self, session: &Secret) -> Result<TokenGrant, AuthError> {
        self.read_session(session, Exchange::Refresh).await
    }

    async fn read_session(
        &self,
        session: &Secret,
        exchange: Exchange,
    ) -> Result<TokenGrant, AuthError> {
        let response = self
            .http
            .get(self.url("session")?)
            .header(COOKIE, self.cookie_header(None, Some(session)))
            .timeout(self.profile.auth.refresh_timeout)
            .send()
            .await
            .map_err(sent_request_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        if !status.is_success() {
            return Err(match exchange {
                Exchange::Login => classify_status(status, String::new(), retry_after(&headers)),
                Exchange::Refresh => classify_refresh_status(
                    status,
                    String::new(),
                    retry_after(&headers),
                    self.profile.refresh_ends_session(status.as_u16()),
                ),
            });
        }
        let value = json_body(response, &headers, status).await?;
        let field = &self.profile.auth.nextauth.token_field;
        let Some(token) = value
            .get(field)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        else {
            // `{}` is Next-Auth's word that the session is over (signed out, expired);
            // a session without the configured field is a profile that names the
            // wrong one, which only the user can fix: both end the session.
            let detail = if value.as_object().is_some_and(|o| o.is_empty()) {
                "Next-Auth says the session is over".to_owned()
            } else {
                format!("the Next-Auth session has no {field:?} field")
            };
            return Err(AuthError::Rejected {
                status: status.as_u16(),
                detail,
            });
        };
        Ok(TokenGrant {
            access: Secret::new(token),
            refresh: set_cookie_value(&headers, &self.session_cookie()),
            server_date: crate::token::api::server_date(&headers),
        })
    }

    /// Signs out: a fresh csrf token, then `POST <base>/signout` with the session.
    pub(crate) async fn logout(&self, session: &Secret) -> Result<(), AuthError> {
        let csrf = self.csrf(Some(session)).await?;
        let response = self
            .http
            .post(self.url("signout")?)
            .header(COOKIE, self.cookie_header(Some(&csrf), Some(session)))
            .form(&[("csrfToken", csrf.token.expose()), ("json", "true")])
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        if !status.is_success() {
            return Err(classify_status(
                status,
                String::new(),
                retry_after(&headers),
            ));
        }
        let value = json_body(response, &headers, status).await?;
        let url = value.get("url").and_then(Value::as_str).unwrap_or("");
        if url.contains("csrf=true") {
            return Err(AuthError::BadResponse(
                "Next-Auth refused the sign-out's csrf token".into(),
            ));
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Exchange {
    Login,
    Refresh,
}

/// A JSON answer, or a typed error for a web page or a garbled body.
async fn json_body(
    response: reqwest::Response,
    headers: &HeaderMap,
    status: StatusCode,
) -> Result<Value, AuthError> {
    let body = read_limited(response)
        .await
        .map_err(|error| AuthError::BadResponse(error.to_string()))?;
    let html = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("html"));
    if html || looks_like_html(&body) {
        return Err(AuthError::WebPage {
            status: status.as_u16(),
        });
    }
    serde_json::from_slice(&body).map_err(|_| {
        AuthError::BadResponse(format!(
            "expected JSON from Next-Auth, got {} bytes of something else",
            body.len()
        ))
    })
}

/// The `error` of a Next-Auth error URL, for a message.
fn error_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "error")
                .map(|(_, v)| crate::text::plain_text(&v, 80))
        })
        .unwrap_or_default()
}

/// The first `name=value` of a Set-Cookie whose name matches, unless it clears it.
fn set_cookie_pair(headers: &HeaderMap, matches: impl Fn(&str) -> bool) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|cookie| {
            let first = cookie.split(';').next()?.trim();
            let (name, value) = first.split_once('=')?;
            (matches(name.trim()) && !value.trim().is_empty()).then(|| first.to_owned())
        })
}

/// The value of the Set-Cookie named `name`, unless it clears it.
fn set_cookie_value(headers: &HeaderMap, name: &str) -> Option<Secret> {
    let pair = set_cookie_pair(headers, |n| n == name)?;
    let (_, value) = pair.split_once('=')?;
    Some(Secret::new(value.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for cookie in cookies {
            map.append(SET_COOKIE, HeaderValue::from_str(cookie).unwrap());
        }
        map
    }

    #[test]
    fn the_session_cookie_is_read_and_a_clearing_one_is_not() {
        let set = headers(&[
            "next-auth.csrf-token=abc%7Cdef; Path=/; HttpOnly; SameSite=Lax",
            "next-auth.session-token=eyJ.x.y; Path=/; Expires=Sun, 06 Dec 2026 02:09:34 GMT; HttpOnly",
        ]);
        assert_eq!(
            set_cookie_value(&set, SESSION_COOKIE).map(|s| s.expose().to_owned()),
            Some("eyJ.x.y".to_owned())
        );
        assert_eq!(
            set_cookie_pair(&set, |n| n.ends_with(CSRF_COOKIE)).as_deref(),
            Some("next-auth.csrf-token=abc%7Cdef")
        );
        let cleared = headers(&["next-auth.session-token=; Max-Age=0; Path=/; HttpOnly"]);
        assert!(set_cookie_value(&cleared, SESSION_COOKIE).is_none());
    }

    #[test]
    fn the_cookie_name_follows_the_scheme_unless_the_profile_names_one() {
        let http = reqwest::Client::new();
        let mut profile =
            ServerProfile::preset("nextauth-socketio", "http://127.0.0.1:3000").expect("preset");
        assert_eq!(
            NextAuth {
                http: &http,
                profile: &profile
            }
            .session_cookie(),
            SESSION_COOKIE
        );
        profile.server = "https://app.example.com".into();
        assert_eq!(
            NextAuth {
                http: &http,
                profile: &profile
            }
            .session_cookie(),
            "__Secure-next-auth.session-token"
        );
        profile.auth.nextauth.session_cookie = "custom".into();
        assert_eq!(
            NextAuth {
                http: &http,
                profile: &profile
            }
            .session_cookie(),
            "custom"
        );
    }

    #[test]
    fn an_error_url_gives_its_error_cleaned() {
        assert_eq!(
            error_of("http://h/api/auth/error?error=CredentialsSignin&provider=credentials"),
            "CredentialsSignin"
        );
        assert_eq!(error_of("not a url"), "");
    }
}
