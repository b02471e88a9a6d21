//! Secrets that can't leak by accident.
//!
//! Access and refresh tokens and passwords travel as [`Secret`], whose `Debug` and
//! `Display` print `[redacted]`. Reading the value takes an explicit
//! [`Secret::expose`], so every place that touches a token is easy to find.
//! [`redact_url`] hides tokens carried in a URL's query string before it is logged.
//! [`SECRET_BEARING_LOG_TARGETS`] and [`log_allowed`] keep dependencies that log raw
//! requests, frames or cookies at debug and trace out of every log, whatever
//! `RUST_LOG` asks for.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A string that must never appear in logs, Debug output or UI events.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value, for the one place that has to send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

/// Deserializes from a plain string. A value of another type is refused with a
/// message that does not repeat it.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)
            .map(Secret)
            .map_err(|_| serde::de::Error::custom("expected a string for a secret value"))
    }
}

/// Log targets (and everything under them) that carry secrets at debug or trace:
/// - `tungstenite`: the raw upgrade request at trace ("Request: ...", with the query
///   token, `Authorization`, `Cookie` and `Sec-WebSocket-Protocol`), and every frame
///   sent and received (an in-band auth message carries the access token);
/// - `tokio_tungstenite`: the same connection's IO, at trace;
/// - `reqwest`: a verbose connection dumps every byte read and written at trace
///   (`reqwest::connect::verbose`), headers and bodies included;
/// - `cookie_store`: logs each `Set-Cookie` received, value included, at debug (the
///   bearer-cookie profile's tokens are cookies);
/// - `rustls`: handshake messages at trace, session tickets included;
/// - `axum::rejection`: the text of a rejected request, which can quote its body
///   (the in-process demo server).
///
/// hyper and hyper-util log sizes and states, not header values, and only when built
/// with `--cfg hyper_unstable_tracing`; h2 is not in the build. They are not listed.
/// Events from the `log` crate (bridged by tracing-log) carry the record's target, a
/// module path such as `tungstenite::handshake::client`, so a target matches its
/// entry's whole path segments: `tungstenite` covers `tungstenite::protocol` but not
/// `tungstenite_extra`.
pub const SECRET_BEARING_LOG_TARGETS: &[&str] = &[
    "tungstenite",
    "tokio_tungstenite",
    "reqwest",
    "cookie_store",
    "rustls",
    "axum::rejection",
];

/// The most detailed level logged for [`SECRET_BEARING_LOG_TARGETS`].
pub const SECRET_BEARING_LOG_CAP: tracing::Level = tracing::Level::INFO;

/// Whether `target` is, or is under, one of [`SECRET_BEARING_LOG_TARGETS`].
pub fn is_secret_bearing_target(target: &str) -> bool {
    SECRET_BEARING_LOG_TARGETS.iter().any(|listed| {
        target
            .strip_prefix(listed)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

/// Whether an event or span at `level` from `target` may be logged at all: anything
/// from Kith and other crates, and the secret-bearing targets only up to
/// [`SECRET_BEARING_LOG_CAP`]. Every log output applies it as a per-layer filter on
/// top of `RUST_LOG`, so no directive can turn those targets back on.
pub fn log_allowed(target: &str, level: &tracing::Level) -> bool {
    *level <= SECRET_BEARING_LOG_CAP || !is_secret_bearing_target(target)
}

/// Returns `url` with userinfo and the values of token-like query parameters
/// (`token`, `accessToken`, `access-token`, `t`, …) replaced by `[redacted]`. Input that
/// does not parse as a URL is redacted whole rather than echoed. The socket's own logs
/// also hide the query parameter the profile puts the token in, whatever its name.
pub fn redact_url(url: &str) -> String {
    crate::socket::transport::redact_socket_url(url, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let secret = Secret::new("eyJhbGciOi.secret.value");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(secret.expose(), "eyJhbGciOi.secret.value");
    }

    #[test]
    fn token_query_values_are_redacted() {
        let redacted =
            redact_url("ws://127.0.0.1:8000/ws/friends/status/?token=abc.def.ghi&room=1");
        assert!(!redacted.contains("abc.def.ghi"), "{redacted}");
        assert!(redacted.contains("token=[redacted]"), "{redacted}");
        assert!(redacted.contains("room=1"), "{redacted}");
        for leaky in [
            "wss://u:pw-secret@h/ws?x=1",
            "wss://h/ws?accessToken=pw-secret",
            "wss://h/ws?t=pw-secret",
            "wss://h/ws?access-token=pw-secret",
        ] {
            assert!(!redact_url(leaky).contains("pw-secret"), "{leaky}");
        }
    }

    #[test]
    fn a_secret_deserializes_from_a_string_and_stays_hidden() {
        let secret: Secret = serde_json::from_str(r#""hunter2-pass""#).unwrap();
        assert_eq!(secret.expose(), "hunter2-pass");
        assert!(!format!("{secret:?}").contains("hunter2"));
        let error = serde_json::from_str::<Secret>("987654321").unwrap_err();
        assert!(
            !error.to_string().contains("987654321"),
            "the value is echoed"
        );
    }

    #[test]
    fn secret_bearing_targets_match_whole_path_segments() {
        for target in [
            "tungstenite",
            "tungstenite::handshake::client",
            "tokio_tungstenite::compat",
            "reqwest::connect::verbose",
            "cookie_store::cookie_store",
            "rustls::client::hs",
            "axum::rejection",
        ] {
            assert!(is_secret_bearing_target(target), "{target}");
        }
        for target in [
            "kith_core::socket::driver",
            "tungstenite_extra",
            "axum::serve",
            "hyper::proto",
            "",
        ] {
            assert!(!is_secret_bearing_target(target), "{target}");
        }
    }

    #[test]
    fn secret_bearing_targets_are_capped_at_info() {
        use tracing::Level;
        let handshake = "tungstenite::handshake::client";
        assert!(!log_allowed(handshake, &Level::TRACE));
        assert!(!log_allowed(handshake, &Level::DEBUG));
        assert!(log_allowed(handshake, &Level::INFO));
        assert!(log_allowed(handshake, &Level::ERROR));
        assert!(log_allowed("kith_core::socket", &Level::TRACE));
    }

    #[test]
    fn unparseable_urls_are_not_echoed() {
        let redacted = redact_url("not a url ?token=abc");
        assert!(!redacted.contains("abc"));
    }
}
