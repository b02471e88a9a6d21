//! The auth API over HTTP: login, refresh, logout and verify, shaped by the profile.
//!
//! [`AuthClient`] is the one seam between the token manager and a backend's way of
//! signing in (`auth.kind`): a password posted as JSON with refresh tokens, or
//! Next-Auth's routes with its session cookie as the long-lived secret
//! ([`nextauth`](super::nextauth)), or the system browser with OpenID Connect
//! ([`oidc`](super::oidc)). Each gives the manager the same [`TokenGrant`] and
//! the same error classes, so single flight, rotation saved before use, deadlines and
//! the confirmed-rejection rule hold for every method without being written twice.
//!
//! Every failure is classified here, once:
//! - [`AuthError::Rejected`]: the server said no. For a refresh that is 400 or 401 only
//!   (plus the profile's `session_end_statuses`): the session cannot go on.
//! - [`AuthError::Transient`]: try again later (connection refused, 5xx, 429, 408).
//! - [`AuthError::UnexpectedStatus`]: any other status (403, 404, 405, 407, 3xx), which
//!   is what a proxy, a WAF or a deploy answers; never proof that a session is over.
//! - [`AuthError::OutcomeUnknown`]: the request was sent and its answer was lost (a
//!   timeout, a reset, a garbled 2xx body). The server may have rotated the refresh
//!   token; the token manager remembers that.
//!
//! Auth requests never follow redirects: reqwest would resend a 307/308 body, password
//! included, to whatever origin the `Location` names. Response bodies are read up to
//! [`MAX_RESPONSE_BYTES`]. Nothing in this module retries; callers do.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, AUTHORIZATION, COOKIE, DATE, RETRY_AFTER, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::Value;

use crate::network::Network;
use crate::protocol::{AuthKind, ProfileError, RefreshTransport, ServerProfile};
use crate::proxy::ProxyProblem;
use crate::secret::Secret;
use crate::tls::{cert_problem, CertProblem};
use crate::token::nextauth::NextAuth;
use crate::token::oidc::{OidcClient, OidcGrant, PendingSignIn};

/// Tokens handed out by login or refresh.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// The new access token.
    pub access: Secret,
    /// The new refresh token, when the server issued (rotated) one.
    pub refresh: Option<Secret>,
    /// The response's HTTP `Date`, used to estimate clock skew.
    pub server_date: Option<SystemTime>,
}

/// A classified auth failure. Never contains a token.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// The server refused: bad credentials, or a refresh token that is invalid,
    /// blacklisted or expired.
    #[error("the server rejected the request ({status}): {detail}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The explanation in the response body.
        detail: String,
    },
    /// Worth retrying later: connection error, timeout, 5xx or 429.
    #[error("temporary failure: {reason}")]
    Transient {
        /// What failed, in words.
        reason: String,
        /// The server's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// A status that neither grants nor refuses (a proxy's 404 or 407, a WAF's 403, a
    /// redirect): retried later, never taken as the end of a session.
    #[error("the auth API answered HTTP {status} where tokens were expected{}", detail_suffix(.detail))]
    UnexpectedStatus {
        /// The HTTP status.
        status: u16,
        /// The explanation in the response body; may be empty.
        detail: String,
        /// The server's `Retry-After`, if it sent one.
        retry_after: Option<Duration>,
    },
    /// The request was sent but its answer was lost: the server may have acted on it.
    #[error("no answer from the auth API ({reason}); the server may have acted on the request")]
    OutcomeUnknown {
        /// What happened to the answer.
        reason: String,
    },
    /// The server answered 2xx but not with what the profile describes.
    #[error("unexpected response from the auth API: {0}")]
    BadResponse(String),
    /// The response body is larger than [`MAX_RESPONSE_BYTES`]; it was not read.
    #[error("the auth API's response is larger than {} KiB", .limit / 1024)]
    ResponseTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The profile (or the HTTP client built from it) cannot be used.
    #[error("invalid server profile: {0}")]
    Profile(String),
    /// The auth API's certificate was refused; see [`CertProblem`].
    #[error("{0}")]
    Certificate(CertProblem),
    /// The proxy would not open a tunnel to the auth API. Transient.
    #[error("{0}")]
    Proxy(ProxyProblem),
    /// A web page answered with a success status where tokens were expected: a captive
    /// portal or a proxy's login page, most likely. Transient: the session is kept.
    #[error("the server answered with a web page (HTTP {status}), not the auth API: perhaps a captive portal or a proxy's login page; Kith will keep trying")]
    WebPage {
        /// The HTTP status of the page.
        status: u16,
    },
}

impl From<ProfileError> for AuthError {
    fn from(error: ProfileError) -> Self {
        AuthError::Profile(error.to_string())
    }
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

impl AuthError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            AuthError::Transient { .. }
                | AuthError::UnexpectedStatus { .. }
                | AuthError::OutcomeUnknown { .. }
                | AuthError::Proxy(_)
                | AuthError::WebPage { .. }
        )
    }

    /// The server's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AuthError::Transient { retry_after, .. }
            | AuthError::UnexpectedStatus { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Whether `body` starts like an HTML document (after whitespace and a BOM).
pub(crate) fn looks_like_html(body: &[u8]) -> bool {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let head: Vec<u8> = body[start..]
        .iter()
        .take(15)
        .map(u8::to_ascii_lowercase)
        .collect();
    head.starts_with(b"<!doctype html") || head.starts_with(b"<html") || head.starts_with(b"<head")
}

/// The most of an auth response body Kith reads; tokens and error details are small.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// HTTP client for one backend's auth API.
#[derive(Clone)]
pub struct AuthClient {
    http: reqwest::Client,
    network: Network,
    profile: ServerProfile,
    /// The OpenID provider, discovered on first use (`auth.kind = "oidc"`).
    oidc: Arc<tokio::sync::OnceCell<OidcClient>>,
}

impl AuthClient {
    /// A client for `profile`'s auth API, which is validated first.
    pub fn new(profile: ServerProfile) -> Result<Self, AuthError> {
        profile.validate()?;
        let network = Network::for_profile(&profile)
            .map_err(|error| AuthError::Profile(error.to_string()))?;
        let http = network
            .http_client_builder()
            .timeout(profile.auth.request_timeout)
            .connect_timeout(profile.auth.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("kith/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| AuthError::Profile(format!("cannot build HTTP client: {error}")))?;
        Ok(AuthClient {
            http,
            network,
            profile,
            oidc: Arc::default(),
        })
    }

    /// The TLS configuration and proxy rules this client uses.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The HTTP client itself (timeouts of `auth.request_timeout`, no redirects), for
    /// other requests to the same backend.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The profile it was built for.
    pub fn profile(&self) -> &ServerProfile {
        &self.profile
    }

    /// The Next-Auth routes, when the profile signs in through Next-Auth.
    fn nextauth(&self) -> Option<NextAuth<'_>> {
        (self.profile.auth.kind == AuthKind::Nextauth).then_some(NextAuth {
            http: &self.http,
            profile: &self.profile,
        })
    }

    /// The OpenID provider, when the profile signs in through the browser: discovered
    /// once, on first use.
    async fn oidc(&self) -> Result<Option<&OidcClient>, AuthError> {
        let Some(settings) = self
            .profile
            .auth
            .oidc
            .as_ref()
            .filter(|_| self.profile.auth.kind == AuthKind::Oidc)
        else {
            return Ok(None);
        };
        self.oidc
            .get_or_try_init(|| OidcClient::discover(settings.clone(), self.http.clone()))
            .await
            .map(Some)
            .map_err(AuthError::from)
    }

    /// Whether this backend signs in through the system browser (`auth.kind = "oidc"`)
    /// rather than with a username and password.
    pub fn signs_in_with_browser(&self) -> bool {
        self.profile.auth.kind == AuthKind::Oidc
    }

    /// Starts a sign-in through the system browser: the authorization URL to open, and
    /// the loopback redirect that waits for the browser to come back
    /// ([`PendingSignIn::finish`]). Only for `auth.kind = "oidc"`.
    pub async fn begin_browser_sign_in(&self) -> Result<PendingSignIn, AuthError> {
        let oidc = self.oidc().await?.ok_or_else(|| {
            AuthError::Profile("this backend signs in with a username and password".into())
        })?;
        oidc.begin_browser_sign_in().await.map_err(AuthError::from)
    }

    /// Logs in with a username and password.
    pub async fn login(&self, username: &str, password: &Secret) -> Result<TokenGrant, AuthError> {
        if let Some(nextauth) = self.nextauth() {
            return nextauth.login(username, password).await;
        }
        if self.signs_in_with_browser() {
            return Err(AuthError::Profile(
                "this backend signs in through the browser (kith login --browser)".into(),
            ));
        }
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
        self.read_grant(response, Exchange::Login).await
    }

    /// Exchanges a refresh token for a new access token (and, with rotation, a new
    /// refresh token).
    pub async fn refresh(&self, refresh: &Secret) -> Result<TokenGrant, AuthError> {
        if let Some(nextauth) = self.nextauth() {
            return nextauth.refresh(refresh).await;
        }
        if let Some(oidc) = self.oidc().await? {
            return oidc
                .refresh(refresh)
                .await
                .map(OidcGrant::into_token_grant)
                .map_err(AuthError::from);
        }
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
        let response = request
            .timeout(auth.refresh_timeout)
            .send()
            .await
            .map_err(sent_request_error)?;
        self.read_grant(response, Exchange::Refresh).await
    }

    /// Logs out: the server blacklists the refresh token.
    pub async fn logout(&self, access: Option<&Secret>, refresh: &Secret) -> Result<(), AuthError> {
        if let Some(nextauth) = self.nextauth() {
            return nextauth.logout(refresh).await;
        }
        if let Some(oidc) = self.oidc().await? {
            // RFC 7009 at the provider's revocation endpoint, when discovery lists one.
            return oidc.revoke(refresh).await.map_err(AuthError::from);
        }
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

    async fn read_grant(
        &self,
        response: reqwest::Response,
        exchange: Exchange,
    ) -> Result<TokenGrant, AuthError> {
        let status = response.status();
        let headers = response.headers().clone();
        if !status.is_success() {
            let detail = error_detail(response).await;
            let retry_after = retry_after(&headers);
            return Err(match exchange {
                Exchange::Login => classify_status(status, detail, retry_after),
                Exchange::Refresh => classify_refresh_status(
                    status,
                    detail,
                    retry_after,
                    self.profile.refresh_ends_session(status.as_u16()),
                ),
            });
        }
        // From here on the server has granted: for a refresh, a lost or garbled body
        // means the rotation happened and its result is gone.
        let bad = |reason: String| match exchange {
            Exchange::Login => AuthError::BadResponse(reason),
            Exchange::Refresh => AuthError::OutcomeUnknown { reason },
        };
        let body = read_limited(response)
            .await
            .map_err(|error| match (error, exchange) {
                (BodyError::TooLarge { .. }, Exchange::Login) => AuthError::ResponseTooLarge {
                    limit: MAX_RESPONSE_BYTES,
                },
                (error, _) => bad(error.to_string()),
            })?;
        // A page, not an answer of the auth API: whoever served it never saw the
        // request, so nothing was rotated.
        let html = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("html"));
        if html || looks_like_html(&body) {
            return Err(AuthError::WebPage {
                status: status.as_u16(),
            });
        }
        let value: Value = serde_json::from_slice(&body).map_err(|_| {
            bad(format!(
                "expected a JSON object, got {} bytes of something else",
                body.len()
            ))
        })?;
        let auth = &self.profile.auth;
        let access = value
            .get(&auth.access_field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad(format!("the response has no {:?} field", auth.access_field)))?;
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
            server_date: server_date(&headers),
        })
    }
}

/// The response's HTTP `Date`, for the clock-skew estimate.
pub(crate) fn server_date(headers: &HeaderMap) -> Option<SystemTime> {
    headers
        .get(DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
}

/// Which exchange a grant answers: a login's failure is shown to the user, a
/// refresh's decides whether the session goes on.
#[derive(Clone, Copy)]
enum Exchange {
    Login,
    Refresh,
}

/// Login and logout: 400/401/403 are the server saying no; 408, 429 and 5xx are worth a
/// retry; anything else (404, 405, 407, 3xx) is unexpected.
pub fn classify_status(
    status: StatusCode,
    detail: String,
    retry_after: Option<Duration>,
) -> AuthError {
    match status.as_u16() {
        400 | 401 | 403 => AuthError::Rejected {
            status: status.as_u16(),
            detail,
        },
        _ => not_a_rejection(status, detail, retry_after),
    }
}

/// The refresh endpoint: only a status that `ends_session` (400 and 401, and the
/// profile's `session_end_statuses`: [`ServerProfile::refresh_ends_session`]) means the
/// session is over. A proxy answering 404 during a deploy, or a WAF's 403, must not
/// sign out a fleet.
pub fn classify_refresh_status(
    status: StatusCode,
    detail: String,
    retry_after: Option<Duration>,
    ends_session: bool,
) -> AuthError {
    let code = status.as_u16();
    if ends_session {
        AuthError::Rejected {
            status: code,
            detail,
        }
    } else {
        not_a_rejection(status, detail, retry_after)
    }
}

fn not_a_rejection(status: StatusCode, detail: String, retry_after: Option<Duration>) -> AuthError {
    if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
        AuthError::Transient {
            reason: format!("HTTP {}", status.as_u16()),
            retry_after,
        }
    } else {
        AuthError::UnexpectedStatus {
            status: status.as_u16(),
            detail,
            retry_after,
        }
    }
}

/// A response body, refused past [`MAX_RESPONSE_BYTES`].
pub(crate) async fn read_limited(response: reqwest::Response) -> Result<Vec<u8>, BodyError> {
    read_limited_to(response, MAX_RESPONSE_BYTES).await
}

/// A response body, refused past `limit` bytes (before reading, when the length is
/// announced; otherwise as soon as it is passed).
pub(crate) async fn read_limited_to(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|error| {
        BodyError::Read(if error.is_timeout() {
            "the response timed out".into()
        } else {
            error.without_url().to_string()
        })
    })? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("the response is larger than {} KiB", .limit / 1024)]
    TooLarge { limit: usize },
    #[error("the response broke off: {0}")]
    Read(String),
}

/// A failure of a request that may have reached the server (a refresh): only a failed
/// connect proves it did not.
pub(crate) fn sent_request_error(error: reqwest::Error) -> AuthError {
    if let Some(typed) = connection_problem(&error) {
        return typed;
    }
    if error.is_connect() {
        return transport_error(error);
    }
    let reason = if error.is_timeout() {
        "request timed out".to_string()
    } else {
        error.without_url().to_string()
    };
    AuthError::OutcomeUnknown { reason }
}

pub(crate) fn transport_error(error: reqwest::Error) -> AuthError {
    if let Some(typed) = connection_problem(&error) {
        return typed;
    }
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

/// A refused certificate or a proxy that would not tunnel, found in the error's source
/// chain. hyper-util's tunnel error type is not public, so a proxy's refusal is
/// recognised by its message ("tunnel error: proxy authorization required", "...:
/// unsuccessful", "...: failed to create underlying connection"); the proxy tests pin
/// each of them.
fn connection_problem(error: &reqwest::Error) -> Option<AuthError> {
    if let Some(problem) = cert_problem(error) {
        return Some(AuthError::Certificate(problem));
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        let text = current.to_string();
        if let Some(what) = text.strip_prefix("tunnel error: ") {
            let problem = match what {
                "proxy authorization required" => ProxyProblem::AuthRequired,
                "unsuccessful" => ProxyProblem::Refused(None),
                "failed to create underlying connection" => {
                    ProxyProblem::Unreachable("cannot connect to the proxy".into())
                }
                other => ProxyProblem::Unreachable(other.chars().take(80).collect()),
            };
            return Some(AuthError::Proxy(problem));
        }
        source = current.source();
    }
    None
}

pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    when.duration_since(SystemTime::now()).ok()
}

/// The server's explanation, from `{"detail": …}` or the first line of a text body.
async fn error_detail(response: reqwest::Response) -> String {
    let body = read_limited(response).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    if let Ok(value) = serde_json::from_str::<Value>(&text) {
        if let Some(detail) = value
            .get("detail")
            .or_else(|| value.get("message"))
            .or_else(|| value.get("error"))
            .and_then(Value::as_str)
        {
            return printable(detail);
        }
    }
    printable(text.lines().next().unwrap_or(""))
}

/// Server text for a message: cleaned, at most 200 characters.
fn printable(text: &str) -> String {
    crate::text::plain_text(text, 200)
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
    fn only_400_and_401_from_the_refresh_endpoint_end_a_session() {
        let profile = ServerProfile::default();
        let classify = |code: u16| {
            let status = StatusCode::from_u16(code).unwrap();
            classify_refresh_status(
                status,
                String::new(),
                None,
                profile.refresh_ends_session(code),
            )
        };
        for code in [400, 401] {
            assert!(
                matches!(classify(code), AuthError::Rejected { .. }),
                "{code}"
            );
        }
        for code in [301, 302, 307, 308, 403, 404, 405, 407, 410, 418] {
            let error = classify(code);
            assert!(
                matches!(error, AuthError::UnexpectedStatus { status, .. } if status == code),
                "{code}: {error:?}"
            );
            assert!(error.is_transient());
        }
        for code in [408, 429, 500, 502, 503] {
            assert!(
                matches!(classify(code), AuthError::Transient { .. }),
                "{code}"
            );
        }
        let mut strict = ServerProfile::default();
        strict.auth.session_end_statuses = vec![403];
        assert!(matches!(
            classify_refresh_status(
                StatusCode::FORBIDDEN,
                String::new(),
                None,
                strict.refresh_ends_session(403)
            ),
            AuthError::Rejected { status: 403, .. }
        ));
    }

    #[test]
    fn retry_after_is_kept_on_unexpected_statuses() {
        let error = not_a_rejection(
            StatusCode::NOT_FOUND,
            String::new(),
            Some(Duration::from_secs(7)),
        );
        assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    }

    #[test]
    fn server_text_in_errors_is_printable_and_short() {
        let text = printable(&format!("\u{1b}[2Jbad{}", "x".repeat(500)));
        assert!(!text.contains('\u{1b}'));
        assert_eq!(text.chars().count(), 200);
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
