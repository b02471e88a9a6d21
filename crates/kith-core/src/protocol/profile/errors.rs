//! What a profile that cannot be used says: [`ProfileError`], and the helpers that keep
//! a profile file's text out of it (a parse error gives the line and column and the
//! parser's words, with anything it quoted left out; URLs lose userinfo and queries).

use url::Url;

/// A profile that cannot be used, with what is wrong in words. No variant quotes a
/// profile file's text beyond the URLs it names, and those without any userinfo,
/// query or fragment.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file is not TOML or does not fit the profile's shape. `reason` is the
    /// parser's message with anything it quoted from the file left out. `line` and
    /// `column` are 1-based (characters), or 0 when the parser gave no position.
    #[error("profile is not valid TOML at line {line}, column {column}: {reason}")]
    Toml {
        /// The line of the error.
        line: usize,
        /// The column of the error.
        column: usize,
        /// What the parser said.
        reason: String,
    },
    /// The profile file could not be read.
    #[error("cannot read profile {path}: {source}")]
    Read {
        /// The file's path.
        path: String,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// A URL that cannot be used: it does not parse, names no host, or has the wrong
    /// scheme.
    #[error("server URL {url:?} is not valid: {reason}")]
    BadUrl {
        /// The URL as it may be shown: without userinfo, query or fragment.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `ws://` or `http://` URL to a host that is not loopback, without the user's
    /// opt-in.
    #[error("{url} is unencrypted and not on this machine; to use it anyway, opt in with the CLI's --allow-insecure or the app's \"Allow unencrypted connection\" (a profile file's allow_insecure_remote does not count)")]
    InsecureRemote {
        /// The URL.
        url: String,
    },
    /// The server is `https` but this URL would travel in plaintext.
    #[error("{url} is unencrypted but the server {server} uses https; use https:// or wss://")]
    Downgrade {
        /// The plaintext URL.
        url: String,
        /// The `https` server.
        server: String,
    },
    /// An auth API URL that leaves the server's origin (an absolute or `//host` path).
    #[error("auth API URL {url} is not on the server's origin {origin}; use a path on the server")]
    CrossOrigin {
        /// The URL.
        url: String,
        /// The server's origin.
        origin: String,
    },
    /// A field out of its bounds ([`ServerProfile::validate`]), or an unknown preset.
    #[error("profile field {field} is invalid: {reason}")]
    Invalid {
        /// The field, as `section.name`, or `preset`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl ProfileError {
    /// A TOML error as line, column and a message that quotes nothing from `text`.
    pub(super) fn toml(error: &toml::de::Error, text: &str) -> Self {
        let (line, column) = match error.span() {
            Some(span) => line_and_column(text, span.start),
            None => (0, 0),
        };
        ProfileError::Toml {
            line,
            column,
            reason: unquoted(error.message()),
        }
    }
}

/// The 1-based line and column (in characters) of byte `offset` in `text`.
pub(super) fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Words a parser message may quote without quoting the file: the profile's own field
/// names and enum values (serde lists them as what it expected).
const SCHEMA_WORDS: &[&str] = &[
    "name",
    "server",
    "ws_url",
    "ws_path",
    "allow_insecure_remote",
    "auth",
    "socket",
    "refresh",
    "reconnect",
    "login_path",
    "refresh_path",
    "logout_path",
    "verify_path",
    "username_field",
    "password_field",
    "access_field",
    "refresh_field",
    "refresh_transport",
    "refresh_cookie",
    "request_timeout",
    "refresh_timeout",
    "session_end_statuses",
    "protocol",
    "ping_interval",
    "dead_grace",
    "app_ping",
    "snapshot_on_connect",
    "snapshot_wait",
    "server_heartbeat",
    "namespace",
    "connect_timeout",
    "wake_probe_timeout",
    "max_message_bytes",
    "lead_max",
    "lead_fraction",
    "retry_base",
    "retry_cap",
    "base",
    "cap",
    "stable_after",
    "max_attempts",
    "resync",
    "http_path",
    "kind",
    "param",
    "body",
    "cookie",
    "query",
    "bearer",
    "subprotocol",
    "message",
    "json",
    "socket_io",
    "messages",
    "discriminator",
    "update",
    "snapshot",
    "members",
    "diff",
    "ignore",
    "status",
    "match",
    "list",
    "joins",
    "leaves",
    "scope",
    "user_id",
    "username",
    "last_seen",
    "last_seen_format",
    "seq",
    "online",
    "away",
    "offline",
    "rfc3339",
    "epoch_seconds",
    "epoch_millis",
    "all_friends",
    "room",
];

/// A parser message with everything between quotes or backticks (which serde and toml
/// use to cite the input: keys, values, characters) replaced by `…`, on one line.
/// Kept are the profile's own words ([`SCHEMA_WORDS`]) and a few punctuation marks
/// (toml names the characters it expected), which cannot carry a file's secret.
fn unquoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut open: Option<char> = None;
    let mut quoted = String::new();
    for c in message.chars() {
        match open {
            Some(close) if c == close => {
                let harmless = SCHEMA_WORDS.contains(&quoted.as_str())
                    || (quoted.chars().count() <= 2
                        && quoted.chars().all(|c| c.is_ascii_punctuation()));
                out.push_str(if harmless { &quoted } else { "…" });
                out.push(c);
                quoted.clear();
                open = None;
            }
            Some(_) => quoted.push(c),
            None if matches!(c, '`' | '"' | '\'') => {
                out.push(c);
                open = Some(c);
            }
            None if c == '\n' || c == '\r' => out.push_str("; "),
            None if c.is_control() => {}
            None => out.push(c),
        }
    }
    if open.is_some() {
        out.push('…');
    }
    out.truncate(out.trim_end().len());
    out
}

/// A URL as it may appear in an error: without userinfo, query or fragment.
pub(super) fn shown(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// URL text that did not parse, as it may appear in an error: anything up to an `@`
/// (possible userinfo) and from a `?` or `#` on is left out.
pub(super) fn shown_text(text: &str) -> String {
    let text = text.split(['?', '#']).next().unwrap_or_default();
    let text = match text.rfind('@') {
        Some(at) => match text.find("://") {
            Some(scheme_end) if scheme_end < at => {
                format!("{}://…@{}", &text[..scheme_end], &text[at + 1..])
            }
            _ => format!("…@{}", &text[at + 1..]),
        },
        None => text.to_string(),
    };
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_leave_out_what_they_quote() {
        assert_eq!(
            unquoted("unknown field `sk-123`, expected one of `name`, `auth`"),
            "unknown field `…`, expected one of `name`, `auth`"
        );
        assert_eq!(unquoted("expected `\"`, `'`"), "expected `\"`, `'`");
        assert_eq!(unquoted("unknown field `server_`"), "unknown field `…`");
        assert_eq!(unquoted("found `$$$`"), "found `…`");
        assert_eq!(
            unquoted("invalid type: string \"pw\", expected"),
            "invalid type: string \"…\", expected"
        );
        assert_eq!(unquoted("dangling `quote"), "dangling `…");
        assert_eq!(
            shown_text("https://user:pw@host/x?token=1"),
            "https://…@host/x"
        );
    }
}
