//! Wire messages of the presence socket.
//!
//! Server → Kith: `status_update` (seed 000), `presence_snapshot`, `auth_success` /
//! `auth_error` (seed 002), `PONG`, and `error`. Kith → server: the `auth` message and
//! the app-level `PING`. Parsing is tolerant of unknown fields and missing optional
//! ones, and strict about the rest: bad input comes back as a [`MessageError`], never
//! a panic.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// A friend's user id. Backends send numbers or strings; both become text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct FriendId(pub String);

impl fmt::Display for FriendId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for FriendId {
    fn from(value: &str) -> Self {
        FriendId(value.to_string())
    }
}

impl From<u64> for FriendId {
    fn from(value: u64) -> Self {
        FriendId(value.to_string())
    }
}

impl<'de> Deserialize<'de> for FriendId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(FriendId(deserializer.deserialize_any(TextOrNumber)?))
    }
}

/// When a friend was last seen, as the backend wrote it (RFC 3339 text or epoch number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct LastSeen(pub String);

impl<'de> Deserialize<'de> for LastSeen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(LastSeen(deserializer.deserialize_any(TextOrNumber)?))
    }
}

impl LastSeen {
    /// Orders two timestamps when that can be done reliably: both numeric (epoch), or
    /// both RFC 3339 text of the same shape (which sorts lexicographically).
    pub fn compare(&self, other: &LastSeen) -> Option<Ordering> {
        if let (Ok(a), Ok(b)) = (self.0.parse::<f64>(), other.0.parse::<f64>()) {
            return a.partial_cmp(&b);
        }
        let looks_rfc3339 = |s: &str| s.len() >= 20 && s.as_bytes().get(10) == Some(&b'T');
        if self.0.len() == other.0.len() && looks_rfc3339(&self.0) && looks_rfc3339(&other.0) {
            return Some(self.0.cmp(&other.0));
        }
        None
    }
}

struct TextOrNumber;

impl serde::de::Visitor<'_> for TextOrNumber {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or a number")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
        Ok(decimal(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

/// The decimal text of `value`, without the formatting machinery: numeric ids arrive
/// with every update.
fn decimal(value: u64) -> String {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = value;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    digits[at..].iter().copied().map(char::from).collect()
}

/// One friend's presence as a backend reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct FriendRecord {
    pub user_id: FriendId,
    #[serde(default)]
    pub username: String,
    pub status: String,
    #[serde(default)]
    pub last_seen: Option<LastSeen>,
    /// Server sequence number of this change, when the backend sends one.
    #[serde(default)]
    pub seq: Option<u64>,
}

/// A message from the server, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    StatusUpdate(FriendRecord),
    Snapshot {
        friends: Vec<FriendRecord>,
        seq: Option<u64>,
    },
    AuthSuccess,
    AuthError {
        message: String,
    },
    Pong,
    /// The server's report of something it did not like in what Kith sent.
    ServerError {
        code: Option<String>,
        message: String,
    },
}

/// Why a frame could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("message of {len} bytes exceeds the {max}-byte limit")]
    Oversized { len: usize, max: usize },
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    #[error("{kind} message lacks field {field}")]
    MissingField {
        kind: &'static str,
        field: &'static str,
    },
}

/// All fields any known message may carry, read in one pass; unknown fields are ignored.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    user_id: Option<FriendId>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    last_seen: Option<LastSeen>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    friends: Option<Vec<FriendRecord>>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

/// Parses one text frame. Frames longer than `max_bytes` are refused before parsing.
pub fn parse_server_message(text: &str, max_bytes: usize) -> Result<ServerMessage, MessageError> {
    if text.len() > max_bytes {
        return Err(MessageError::Oversized {
            len: text.len(),
            max: max_bytes,
        });
    }
    let envelope: Envelope<'_> =
        serde_json::from_str(text).map_err(|error| MessageError::Malformed(error.to_string()))?;
    match envelope.kind.as_ref() {
        "status_update" => {
            let user_id = envelope.user_id.ok_or(MessageError::MissingField {
                kind: "status_update",
                field: "user_id",
            })?;
            let status = envelope.status.ok_or(MessageError::MissingField {
                kind: "status_update",
                field: "status",
            })?;
            Ok(ServerMessage::StatusUpdate(FriendRecord {
                user_id,
                username: envelope.username.unwrap_or_default(),
                status,
                last_seen: envelope.last_seen,
                seq: envelope.seq,
            }))
        }
        "presence_snapshot" => Ok(ServerMessage::Snapshot {
            friends: envelope.friends.ok_or(MessageError::MissingField {
                kind: "presence_snapshot",
                field: "friends",
            })?,
            seq: envelope.seq,
        }),
        "auth_success" => Ok(ServerMessage::AuthSuccess),
        "auth_error" => Ok(ServerMessage::AuthError {
            message: envelope
                .message
                .unwrap_or_else(|| "authentication failed".into()),
        }),
        "PONG" | "pong" => Ok(ServerMessage::Pong),
        "error" => Ok(ServerMessage::ServerError {
            code: envelope.code,
            message: envelope.message.unwrap_or_default(),
        }),
        other => Err(MessageError::UnknownType(truncate(other, 64))),
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// The in-band auth message `{"type":"auth","payload":{"token":…}}` (seed 002).
/// The result holds the token: send it, never log it.
pub fn auth_message(token: &str) -> String {
    serde_json::json!({"type": "auth", "payload": {"token": token}}).to_string()
}

/// The app-level keepalive `{"type":"PING"}` (seed 002).
pub const APP_PING: &str = r#"{"type":"PING"}"#;

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 64 * 1024;

    #[test]
    fn status_update_with_extra_and_missing_optional_fields() {
        let parsed = parse_server_message(
            r#"{"type":"status_update","user_id":7,"username":"alice","status":"online","mood":"happy"}"#,
            MAX,
        )
        .unwrap();
        assert_eq!(
            parsed,
            ServerMessage::StatusUpdate(FriendRecord {
                user_id: FriendId("7".into()),
                username: "alice".into(),
                status: "online".into(),
                last_seen: None,
                seq: None,
            })
        );
    }

    #[test]
    fn snapshot_with_string_ids() {
        let parsed = parse_server_message(
            r#"{"type":"presence_snapshot","seq":9,"friends":[{"user_id":"u1","status":"away","last_seen":"2026-11-22T09:00:00Z","seq":3}]}"#,
            MAX,
        )
        .unwrap();
        let ServerMessage::Snapshot { friends, seq } = parsed else {
            panic!("expected a snapshot, got {parsed:?}");
        };
        assert_eq!(seq, Some(9));
        assert_eq!(friends[0].user_id.0, "u1");
        assert_eq!(friends[0].seq, Some(3));
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert!(matches!(
            parse_server_message("{not json", MAX),
            Err(MessageError::Malformed(_))
        ));
        assert!(matches!(
            parse_server_message(r#"{"user_id":1}"#, MAX),
            Err(MessageError::Malformed(_))
        ));
        assert_eq!(
            parse_server_message(r#"{"type":"chat","text":"hi"}"#, MAX),
            Err(MessageError::UnknownType("chat".into()))
        );
        assert_eq!(
            parse_server_message(r#"{"type":"status_update","user_id":1}"#, MAX),
            Err(MessageError::MissingField {
                kind: "status_update",
                field: "status"
            })
        );
        let big = format!(r#"{{"type":"PONG","pad":"{}"}}"#, "x".repeat(MAX));
        assert!(matches!(
            parse_server_message(&big, MAX),
            Err(MessageError::Oversized { .. })
        ));
    }

    #[test]
    fn auth_message_escapes_the_token() {
        let message = auth_message("a\"b");
        let value: serde_json::Value = serde_json::from_str(&message).unwrap();
        assert_eq!(value["payload"]["token"], "a\"b");
        assert_eq!(value["type"], "auth");
    }

    #[test]
    fn numeric_ids_become_their_decimal_text() {
        for n in [0, 7, 10, 4999, 1_000_000, u64::MAX] {
            assert_eq!(decimal(n), n.to_string());
        }
    }

    #[test]
    fn last_seen_orders_only_comparable_values() {
        let a = LastSeen("2026-11-22T09:00:00Z".into());
        let b = LastSeen("2026-11-22T09:00:05Z".into());
        assert_eq!(a.compare(&b), Some(Ordering::Less));
        assert_eq!(
            LastSeen("100".into()).compare(&LastSeen("99.5".into())),
            Some(Ordering::Greater)
        );
        assert_eq!(a.compare(&LastSeen("yesterday".into())), None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,200}") {
            let _ = parse_server_message(&text, MAX);
        }
    }
}
