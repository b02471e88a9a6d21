//! Secret-looking text removed from what the server or the network said.
//!
//! Kith's own words never carry a secret ([`crate::secret`]), but a connection
//! [`Reason`](crate::socket::Reason) can quote others: the close frame's reason text,
//! the server's `auth_error` message, a failed connect's description, a token fetch's
//! error. A careless backend may echo the token it refused. The connection timeline
//! keeps such text and offers it for the clipboard, so it passes through
//! [`redact_secrets`] first, which replaces with `[redacted]`:
//! - anything that looks like a JWT or JWE (`eyJ…` with dots);
//! - long opaque tokens (32 or more URL-safe characters with letters and digits mixed,
//!   and no dot, so host names stay readable);
//! - the word after `Bearer`, `Basic`, `token:`, `password=`, `cookie:` and the like,
//!   and the value of such a `key=value`;
//! - a URL's userinfo and token-like query values ([`crate::secret::redact_url`]).
//!
//! It is a safety net under a rule (reasons are meant to hold no secret), not the rule.

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Words whose value is secret when they label one (`token=…`, `password: …`).
const SECRET_LABELS: &[&str] = &[
    "token",
    "secret",
    "passw",
    "pwd",
    "session",
    "cookie",
    "jwt",
    "auth",
    "bearer",
    "basic",
    "apikey",
    "api_key",
    "api-key",
    "refresh",
    "credential",
];

/// `text` with secret-looking parts replaced by [`REDACTED`].
pub fn redact_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut next_is_secret = Label::None;
    for (is_space, piece) in split_spaces(text) {
        if is_space {
            out.push_str(piece);
            continue;
        }
        let secret = match next_is_secret {
            Label::Always => true,
            Label::IfTokenLike => is_token_like(piece),
            Label::None => false,
        };
        if secret {
            out.push_str(REDACTED);
            next_is_secret = Label::None;
            continue;
        }
        next_is_secret = label(piece);
        out.push_str(&redact_word(piece));
    }
    out
}

/// Runs of whitespace and of the rest, in order, each marked with whether it is space.
fn split_spaces(text: &str) -> impl Iterator<Item = (bool, &str)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let first = rest.chars().next()?;
        let space = first.is_whitespace();
        let end = rest
            .char_indices()
            .find(|(_, c)| c.is_whitespace() != space)
            .map_or(rest.len(), |(i, _)| i);
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some((space, piece))
    })
}

/// Whether a word labels a secret that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    /// It does not.
    None,
    /// "Bearer", "Basic", "token=": the next word is the secret.
    Always,
    /// "token:", "password:": prose may go on ("the server refused the token: token
    /// expired"), so the next word is taken for a secret only if it looks like one.
    IfTokenLike,
}

fn label(word: &str) -> Label {
    let trimmed = word
        .trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-')
        .to_ascii_lowercase();
    if trimmed == "bearer" || trimmed == "basic" {
        Label::Always
    } else if !is_secret_name(&trimmed) {
        Label::None
    } else if word.ends_with('=') {
        Label::Always
    } else if word.ends_with(':') {
        Label::IfTokenLike
    } else {
        Label::None
    }
}

/// A word (without the quotes and punctuation around it) of token characters only,
/// with a digit in it or at least 16 long: "hunter2" but not "expired".
fn is_token_like(word: &str) -> bool {
    let core =
        word.trim_matches(|c: char| matches!(c, '"' | '\'' | ',' | ';' | ')' | '(' | '[' | ']'));
    !core.is_empty()
        && core.chars().all(is_token_char)
        && (core.chars().any(|c| c.is_ascii_digit()) || core.len() >= 16)
}

fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_LABELS.iter().any(|label| lower.contains(label))
}

fn redact_word(word: &str) -> String {
    if let Some(scheme_at) = word.find("://") {
        let start = word[..scheme_at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let (before, url) = word.split_at(start);
        return format!("{}{}", redact_runs(before), crate::secret::redact_url(url));
    }
    for separator in ['=', ':'] {
        if let Some((key, value)) = word.split_once(separator) {
            let key_name = key.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
            if !value.is_empty() && is_secret_name(key_name) {
                return format!("{}{separator}{REDACTED}", redact_runs(key));
            }
        }
    }
    redact_runs(word)
}

/// A character that can be part of a token: base64, base64url and JWT dots.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '/' | '=')
}

/// `word` with each token-looking run replaced.
fn redact_runs(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut run_start = None;
    for (i, c) in word.char_indices().chain([(word.len(), ' ')]) {
        match (is_token_char(c) && i < word.len(), run_start) {
            (true, None) => run_start = Some(i),
            (true, Some(_)) => {}
            (false, start) => {
                if let Some(start) = start {
                    let run = &word[start..i];
                    out.push_str(if looks_secret(run) { REDACTED } else { run });
                    run_start = None;
                }
                if i < word.len() {
                    out.push(c);
                }
            }
        }
    }
    out
}

fn looks_secret(run: &str) -> bool {
    let jwt = run.contains("eyJ") && run.matches('.').count() >= 2;
    let opaque = run.len() >= 32
        && !run.contains('.')
        && run.chars().any(|c| c.is_ascii_digit())
        && run.chars().any(|c| c.is_ascii_alphabetic());
    jwt || opaque
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl";

    #[test]
    fn tokens_are_removed_wherever_they_sit() {
        for text in [
            format!("invalid token {JWT}"),
            format!("Authorization: Bearer {JWT}"),
            format!("{{\"detail\":\"bad\",\"token\":\"{JWT}\"}}"),
            format!("rejected ({JWT})"),
            format!("token={JWT}"),
            format!("wss://h.example.com/ws?token={JWT}&room=1"),
            format!("failed: url=wss://h.example.com/ws?access_token={JWT}"),
        ] {
            let redacted = redact_secrets(&text);
            assert!(!redacted.contains("eyJ"), "{text} → {redacted}");
            assert!(!redacted.contains("c2lnbmF0dXJl"), "{text} → {redacted}");
            assert!(redacted.contains(REDACTED), "{text} → {redacted}");
        }
    }

    #[test]
    fn labelled_and_opaque_secrets_are_removed() {
        let opaque = "Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4OTA";
        assert_eq!(
            redact_secrets(&format!("refresh {opaque} refused")),
            "refresh [redacted] refused"
        );
        assert_eq!(
            redact_secrets("password: hunter2 wrong"),
            "password: [redacted] wrong"
        );
        assert_eq!(
            redact_secrets("cookie=abc; path=/"),
            "cookie=[redacted] path=/"
        );
        assert_eq!(redact_secrets("Basic dXNlcjpwYXNz"), "Basic [redacted]");
        assert!(!redact_secrets("wss://user:pw-secret@h.example.com/ws").contains("pw-secret"));
    }

    #[test]
    fn ordinary_reasons_are_left_alone() {
        for text in [
            "closed by server (1011: internal error)",
            "connect failed: tcp connect error: Connection refused (os error 111)",
            "connect failed: dns error: failed to lookup address presence.internal.example.com",
            "the server refused the token: token expired",
            "the server refused the token: invalid signature",
            "upgrade rejected with HTTP 502",
            "Zoë 🌙 left\tthe\nroom",
        ] {
            assert_eq!(redact_secrets(text), text);
        }
    }
}
