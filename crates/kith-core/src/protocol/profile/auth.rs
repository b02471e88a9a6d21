//! The HTTP auth API of a profile: how Kith signs in (`auth.kind`), the endpoints and
//! JSON field names of the password flow, Next-Auth's routes, where the refresh token
//! travels, and which refresh answers end the session.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ServerProfile;

/// How Kith signs in and renews the socket token: three ways of obtaining the same
/// two things, a socket token and a long-lived secret to renew it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// A username and password posted as JSON to `login_path`; a refresh token
    /// renews the access token at `refresh_path` (SimpleJWT, seeds 000–002, 004).
    #[default]
    Password,
    /// Next-Auth (seed 003): the credentials provider signs in, the session cookie is
    /// the long-lived secret, and `/api/auth/session` gives the socket token.
    Nextauth,
    /// The system browser (OAuth 2.0 for native apps, RFC 8252, with OpenID Connect):
    /// authorization code with PKCE through a loopback redirect; the refresh token is
    /// the long-lived secret. Settings in `auth.oidc`.
    Oidc,
}

/// Next-Auth's own paths and names, for `auth.kind = "nextauth"`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct NextAuthProfile {
    /// Where Next-Auth's routes live (`[...nextauth].js`): `/api/auth`.
    pub base_path: String,
    /// The credentials provider's id: `credentials`.
    pub provider: String,
    /// The session field that holds the backend token: `token` (seed 003's
    /// `session.token = token.accessToken`), or e.g. `accessToken`.
    pub token_field: String,
    /// The session cookie's name; empty means Next-Auth's own choice:
    /// `next-auth.session-token`, or `__Secure-next-auth.session-token` on https.
    pub session_cookie: String,
}

impl Default for NextAuthProfile {
    fn default() -> Self {
        NextAuthProfile {
            base_path: "/api/auth".into(),
            provider: "credentials".into(),
            token_field: "token".into(),
            session_cookie: String::new(),
        }
    }
}

/// The HTTP auth API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthApiProfile {
    /// How Kith signs in: `password` (the default), or `nextauth`.
    pub kind: AuthKind,
    /// Next-Auth's paths and names, used when `kind = "nextauth"`.
    pub nextauth: NextAuthProfile,
    /// The OpenID provider, required when `kind = "oidc"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc: Option<crate::token::oidc::OidcSettings>,
    /// Path of the login endpoint (username and password in, tokens out).
    pub login_path: String,
    /// Path of the refresh endpoint (refresh token in, a new access token out).
    pub refresh_path: String,
    /// Path of the logout endpoint, which revokes the refresh token.
    pub logout_path: String,
    /// Optional token verification endpoint (`{token}` → 200).
    pub verify_path: Option<String>,
    /// Field of the login request that holds the username.
    pub username_field: String,
    /// Field of the login request that holds the password.
    pub password_field: String,
    /// Field of the login/refresh response holding the access token ("access", or "token" in seed 004).
    pub access_field: String,
    /// Field holding the refresh token in bodies (request and response).
    pub refresh_field: String,
    /// Where the refresh token travels.
    pub refresh_transport: RefreshTransport,
    /// Name of the refresh cookie when `refresh_transport = "cookie"`.
    pub refresh_cookie: String,
    /// Timeout of each auth request (login, logout, verify).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Deadline of a refresh request; at least `request_timeout`. Longer than other
    /// requests on purpose: with rotating refresh tokens the server invalidates the old
    /// refresh token as soon as it issues the new one, so a refresh that times out
    /// after the server rotated loses the new token, and with it the session.
    #[serde(with = "humantime_serde")]
    pub refresh_timeout: Duration,
    /// Extra HTTP statuses of the refresh endpoint that mean the session is over (the
    /// refresh token is no longer accepted), on top of 400 and 401, which always do;
    /// e.g. `[403]`. Only 3xx and 4xx can be listed: 2xx is success, 5xx and 429 are
    /// transient failures that are retried, 1xx is no answer.
    pub session_end_statuses: Vec<u16>,
}

/// Where the refresh token travels between Kith and the auth API.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RefreshTransport {
    /// In the JSON body, as SimpleJWT does.
    Body,
    /// In an httpOnly cookie set by login and refresh, as in seed 004.
    Cookie,
}

impl Default for AuthApiProfile {
    fn default() -> Self {
        AuthApiProfile {
            kind: AuthKind::Password,
            nextauth: NextAuthProfile::default(),
            oidc: None,
            login_path: "/api/auth/login/".into(),
            refresh_path: "/api/auth/token/refresh/".into(),
            logout_path: "/api/auth/logout/".into(),
            verify_path: Some("/api/auth/token/verify/".into()),
            username_field: "username".into(),
            password_field: "password".into(),
            access_field: "access".into(),
            refresh_field: "refresh".into(),
            refresh_transport: RefreshTransport::Body,
            refresh_cookie: "refresh_token".into(),
            request_timeout: Duration::from_secs(10),
            refresh_timeout: Duration::from_secs(30),
            session_end_statuses: Vec::new(),
        }
    }
}

/// Refresh statuses that always end the session: the refresh token was refused.
pub const ALWAYS_SESSION_END_STATUSES: [u16; 2] = [400, 401];

impl ServerProfile {
    /// Whether an HTTP status from the refresh endpoint means the session is over:
    /// 400 and 401 always, and any status in `auth.session_end_statuses`.
    pub fn refresh_ends_session(&self, status: u16) -> bool {
        ALWAYS_SESSION_END_STATUSES.contains(&status)
            || self.auth.session_end_statuses.contains(&status)
    }
}

#[cfg(test)]
mod tests {
    use super::super::invalid_field;
    use super::*;

    #[test]
    fn refresh_timeout_and_session_end_statuses() {
        let profile = ServerProfile::default();
        assert_eq!(profile.auth.refresh_timeout, Duration::from_secs(30));
        assert!(profile.auth.session_end_statuses.is_empty());
        assert!(profile.refresh_ends_session(400));
        assert!(profile.refresh_ends_session(401));
        assert!(!profile.refresh_ends_session(403));
        let profile = ServerProfile::from_toml(
            "[auth]\nrefresh_timeout = \"1m\"\nsession_end_statuses = [403, 419, 302]",
        )
        .unwrap();
        assert_eq!(profile.auth.refresh_timeout, Duration::from_secs(60));
        assert!(profile.refresh_ends_session(403));
        assert!(profile.refresh_ends_session(401));
        assert!(!profile.refresh_ends_session(500));
        assert_eq!(
            ServerProfile::from_toml(&profile.to_toml()).unwrap(),
            profile
        );
        for status in [200, 204, 429, 500, 503, 100, 0, 99, 600, 65535] {
            assert_eq!(
                invalid_field(&format!("[auth]\nsession_end_statuses = [403, {status}]")),
                "auth.session_end_statuses",
                "{status}"
            );
        }
    }
}
