//! What can go wrong in a browser sign-in, a refresh or a revocation, in the auth
//! API's failure classes.
//!
//! Only [`OidcError::InvalidGrant`] from the token endpoint is a confirmed rejection,
//! the one answer that ends a session. Transport failures, 5xx, 408 and 429 are
//! transient, other statuses and web pages are not rejections, and a refresh whose
//! answer was lost after the provider may have rotated the refresh token is
//! [`AuthError::OutcomeUnknown`], as in [`crate::token::api`].
//!
//! `From<OidcError> for AuthError` maps every case for the token manager:
//!
//! | `OidcError`                                  | `AuthError`                         |
//! |----------------------------------------------|-------------------------------------|
//! | `InvalidGrant`                               | `Rejected` (the session is over)    |
//! | `TokenEndpoint` (another OAuth error code)   | `UnexpectedStatus` (not a rejection)|
//! | `Http(e)`                                    | `e`                                 |
//! | `Settings`, `Discovery`, `IssuerMismatch`, `RevocationUnsupported` | `Profile`     |
//! | `Denied`                                     | `Rejected { status: 403 }`          |
//! | `AuthorizationFailed`                        | `Transient` for `server_error` and `temporarily_unavailable`, else `Rejected { status: 400 }` |
//! | `StateMismatch`, `CallbackIssuer`, `BadCallback`, `IdToken` | `BadResponse`        |
//! | `BrowserTimeout`, `Cancelled`, `LocalSetup`  | `Transient`                         |
//!
//! The browser's answers carry no HTTP status of their own: 403 and 400 stand for
//! "the user or the provider said no" in the sign-in, the same classes a password
//! login's refusal has.
//!
//! No variant holds a code, a verifier, a state, a nonce or a token; the provider's
//! texts are cleaned and cut short.

use std::time::Duration;

use crate::token::AuthError;

/// A failed OpenID Connect step. Never contains a secret.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum OidcError {
    /// The settings cannot be used.
    #[error("invalid OpenID Connect settings: {0}")]
    Settings(String),
    /// The discovery document cannot be used (not JSON, a missing or plain-http
    /// endpoint, no PKCE S256).
    #[error("the OpenID provider's discovery document is unusable: {0}")]
    Discovery(String),
    /// The discovery document names another issuer than the configured one.
    #[error(
        "the OpenID provider says its issuer is {discovered:?}, not the configured {configured:?}"
    )]
    IssuerMismatch {
        /// The issuer in the settings.
        configured: String,
        /// The issuer in the discovery document.
        discovered: String,
    },
    /// This machine could not prepare the sign-in: no loopback listener, or no
    /// randomness from the OS.
    #[error("cannot prepare the browser sign-in on this computer: {0}")]
    LocalSetup(String),
    /// The user (or the provider's policy) refused in the browser: `access_denied`.
    #[error("the sign-in was denied in the browser{}", suffix(.description))]
    Denied {
        /// The provider's `error_description`; may be empty.
        description: String,
    },
    /// The provider redirected back with another error code.
    #[error("the OpenID provider refused the sign-in ({error}){}", suffix(.description))]
    AuthorizationFailed {
        /// The `error` code (`invalid_scope`, `login_required`, …).
        error: String,
        /// The `error_description`; may be empty.
        description: String,
    },
    /// A redirect reached the loopback listener without this sign-in's `state`; it
    /// was refused and the sign-in ended.
    #[error("a redirect without this sign-in's state reached Kith; it was refused and the sign-in stopped")]
    StateMismatch,
    /// The redirect's `iss` (RFC 9207) is not the provider's issuer, or is missing
    /// although the provider promises it.
    #[error("the redirect came from another issuer ({}) than the configured one", .got.as_deref().unwrap_or("none named"))]
    CallbackIssuer {
        /// The `iss` the redirect carried.
        got: Option<String>,
    },
    /// The redirect is malformed (no code, a repeated parameter).
    #[error("the browser's redirect is malformed: {0}")]
    BadCallback(String),
    /// The browser did not come back in time.
    #[error("the browser did not come back within {}", humantime_serde::re::humantime::format_duration(*.waited))]
    BrowserTimeout {
        /// How long Kith waited.
        waited: Duration,
    },
    /// The sign-in was cancelled in Kith.
    #[error("the sign-in was cancelled")]
    Cancelled,
    /// The ID token failed validation (issuer, audience, nonce, expiry, signature).
    #[error("the ID token is not acceptable: {0}")]
    IdToken(String),
    /// The token endpoint answered `invalid_grant`: the code or refresh token is
    /// invalid, expired, revoked or already used. For a refresh, the session is over.
    #[error("the OpenID provider refused the grant (HTTP {status}, invalid_grant){}", suffix(.description))]
    InvalidGrant {
        /// The HTTP status (400, or 401 from some providers).
        status: u16,
        /// The `error_description`; may be empty.
        description: String,
    },
    /// The token or revocation endpoint answered 400/401 with another OAuth error
    /// (`invalid_client`, `invalid_request`, `invalid_scope`, …): a configuration
    /// problem, not proof that the session is over.
    #[error("the OpenID provider answered HTTP {status} {error}{}", suffix(.description))]
    TokenEndpoint {
        /// The HTTP status.
        status: u16,
        /// The OAuth `error` code.
        error: String,
        /// The `error_description`; may be empty.
        description: String,
    },
    /// The provider has no `revocation_endpoint`.
    #[error("the OpenID provider offers no token revocation")]
    RevocationUnsupported,
    /// Any other HTTP outcome, classified as the auth API's: transport failures, 5xx,
    /// unexpected statuses, a web page, a lost answer, certificates and proxies.
    #[error("{0}")]
    Http(AuthError),
}

fn suffix(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

impl OidcError {
    /// Whether this is the confirmed rejection that ends a session: `invalid_grant`.
    pub fn is_confirmed_rejection(&self) -> bool {
        matches!(self, OidcError::InvalidGrant { .. })
    }

    /// Whether trying again later may succeed, in [`AuthError::is_transient`]'s terms.
    pub fn is_transient(&self) -> bool {
        AuthError::from(self.clone()).is_transient()
    }
}

impl From<AuthError> for OidcError {
    fn from(error: AuthError) -> Self {
        OidcError::Http(error)
    }
}

impl From<OidcError> for AuthError {
    fn from(error: OidcError) -> Self {
        let text = error.to_string();
        match error {
            OidcError::InvalidGrant {
                status,
                description,
            } => AuthError::Rejected {
                status,
                detail: if description.is_empty() {
                    "invalid_grant".into()
                } else {
                    format!("invalid_grant: {description}")
                },
            },
            OidcError::TokenEndpoint { status, .. } => AuthError::UnexpectedStatus {
                status,
                detail: text,
                retry_after: None,
            },
            OidcError::Http(inner) => inner,
            OidcError::Settings(_)
            | OidcError::Discovery(_)
            | OidcError::IssuerMismatch { .. }
            | OidcError::RevocationUnsupported => AuthError::Profile(text),
            OidcError::Denied { .. } => AuthError::Rejected {
                status: 403,
                detail: text,
            },
            OidcError::AuthorizationFailed { ref error, .. }
                if error == "server_error" || error == "temporarily_unavailable" =>
            {
                AuthError::Transient {
                    reason: text,
                    retry_after: None,
                }
            }
            OidcError::AuthorizationFailed { .. } => AuthError::Rejected {
                status: 400,
                detail: text,
            },
            OidcError::StateMismatch
            | OidcError::CallbackIssuer { .. }
            | OidcError::BadCallback(_)
            | OidcError::IdToken(_) => AuthError::BadResponse(text),
            OidcError::BrowserTimeout { .. } | OidcError::Cancelled | OidcError::LocalSetup(_) => {
                AuthError::Transient {
                    reason: text,
                    retry_after: None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_invalid_grant_is_a_confirmed_rejection() {
        let grant = OidcError::InvalidGrant {
            status: 400,
            description: "grant request is invalid".into(),
        };
        assert!(grant.is_confirmed_rejection());
        assert!(!grant.is_transient());
        assert!(matches!(
            AuthError::from(grant),
            AuthError::Rejected { status: 400, .. }
        ));

        let client = OidcError::TokenEndpoint {
            status: 401,
            error: "invalid_client".into(),
            description: String::new(),
        };
        assert!(!client.is_confirmed_rejection());
        assert!(matches!(
            AuthError::from(client),
            AuthError::UnexpectedStatus { status: 401, .. }
        ));

        for transient in [
            OidcError::Http(AuthError::Transient {
                reason: "HTTP 503".into(),
                retry_after: None,
            }),
            OidcError::Http(AuthError::OutcomeUnknown {
                reason: "request timed out".into(),
            }),
            OidcError::Http(AuthError::WebPage { status: 200 }),
            OidcError::BrowserTimeout {
                waited: Duration::from_secs(1),
            },
        ] {
            assert!(transient.is_transient(), "{transient:?}");
            assert!(!transient.is_confirmed_rejection());
        }
    }

    #[test]
    fn browser_answers_map_to_the_login_classes() {
        assert!(matches!(
            AuthError::from(OidcError::Denied {
                description: String::new()
            }),
            AuthError::Rejected { status: 403, .. }
        ));
        let unavailable = OidcError::AuthorizationFailed {
            error: "temporarily_unavailable".into(),
            description: String::new(),
        };
        assert!(unavailable.is_transient());
        assert!(matches!(
            AuthError::from(OidcError::StateMismatch),
            AuthError::BadResponse(_)
        ));
        assert_eq!(
            OidcError::BrowserTimeout {
                waited: Duration::from_secs(300)
            }
            .to_string(),
            "the browser did not come back within 5m"
        );
    }
}
