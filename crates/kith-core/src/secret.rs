//! Secrets that can't leak by accident.
//!
//! Access and refresh tokens and passwords travel as [`Secret`], whose `Debug` and
//! `Display` print `[redacted]`. Reading the value takes an explicit
//! [`Secret::expose`], so every place that touches a token is easy to find.
//! [`redact_url`] hides tokens carried in a URL's query string before it is logged.

use std::fmt;

/// A string that must never appear in logs, Debug output or UI events.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value, for the one place that has to send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

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

/// Query parameters whose values are always hidden in logs.
const SENSITIVE_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "access",
    "refresh",
    "refresh_token",
    "jwt",
    "auth",
];

/// Returns `url` with the values of token-like query parameters replaced by `[redacted]`.
/// Input that does not parse as a URL is redacted whole rather than echoed.
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "[unparseable url redacted]".to_string();
    };
    if parsed.query().is_none() {
        return parsed.to_string();
    }
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(key, value)| {
            let hidden = SENSITIVE_PARAMS
                .iter()
                .any(|name| key.eq_ignore_ascii_case(name));
            let value = if hidden {
                "[redacted]".to_string()
            } else {
                value.into_owned()
            };
            (key.into_owned(), value)
        })
        .collect();
    parsed.query_pairs_mut().clear().extend_pairs(pairs);
    // Keep the brackets readable in logs instead of percent-encoded.
    parsed.to_string().replace("%5Bredacted%5D", "[redacted]")
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
    }

    #[test]
    fn unparseable_urls_are_not_echoed() {
        let redacted = redact_url("not a url ?token=abc");
        assert!(!redacted.contains("abc"));
    }
}
