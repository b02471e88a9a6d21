//! Wire messages of the presence socket.
//!
//! Server → Kith: `status_update` (seed 000), `presence_snapshot`, `auth_success` /
//! `auth_error` (seed 002), `PONG`, and `error`. Kith → server: the `auth` message and
//! the app-level `PING`. Parsing is tolerant of unknown fields and missing optional
//! ones, and strict about the rest: bad input comes back as a [`MessageError`], never
//! a panic.
//!
//! Server-provided text is capped, not cut: a message with a name or status longer
//! than [`MAX_TEXT_CHARS`] characters, or a snapshot of more than [`MAX_FRIENDS`]
//! friends, is refused whole ([`MessageError::TooLong`], [`MessageError::TooManyFriends`]),
//! so that no half-applied or silently changed record reaches the friends map.
//! Nothing is stripped here; making text safe to display happens where it is shown.

use std::borrow::Cow;

use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use smol_str::SmolStr;

use crate::protocol::flat_update::read_flat_update;
use crate::protocol::values::{FriendId, LastSeen, Status, Text};

/// The most characters a friend's name or status may have.
pub const MAX_TEXT_CHARS: usize = 256;

/// The most friends one snapshot may list.
pub const MAX_FRIENDS: usize = 100_000;

/// Whether `text` has more than [`MAX_TEXT_CHARS`] characters; cheap for short text.
pub(crate) fn is_too_long(text: &str) -> bool {
    text.len() > MAX_TEXT_CHARS && text.chars().count() > MAX_TEXT_CHARS
}

/// One friend's presence as a backend reports it. Short text is held inline (see
/// [`crate::protocol::values`]), so a parsed record usually owns no heap memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FriendRecord {
    /// The friend's id.
    pub user_id: FriendId,
    /// Empty when the backend sent no name.
    pub username: SmolStr,
    /// Their status.
    pub status: Status,
    /// When they were last seen, if the backend said.
    pub last_seen: Option<LastSeen>,
    /// Server sequence number of this change, when the backend sends one.
    pub seq: Option<u64>,
}

impl<'de> Deserialize<'de> for FriendRecord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RecordVisitor)
    }
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = FriendRecord;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a friend's presence record")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FriendRecord, A::Error> {
        let mut fields = RecordFields::default();
        while let Some(field) = map.next_key::<Field>()? {
            if !fields.read(field, &mut map)? {
                map.next_value::<IgnoredAny>()?;
            }
        }
        fields.into_record()
    }
}

/// The fields of a presence record as they are read, in any order.
#[derive(Default)]
struct RecordFields {
    user_id: Option<FriendId>,
    username: Option<SmolStr>,
    status: Option<Status>,
    last_seen: Option<LastSeen>,
    seq: Option<u64>,
}

impl RecordFields {
    /// Reads the value of `field` if it is a record field; `false` when it is not.
    fn read<'de, A: MapAccess<'de>>(
        &mut self,
        field: Field,
        map: &mut A,
    ) -> Result<bool, A::Error> {
        match field {
            Field::UserId => self.user_id = Some(map.next_value()?),
            Field::Username => {
                self.username = map.next_value::<Option<Text<'de>>>()?.map(Text::into_smol)
            }
            Field::Status => self.status = Some(map.next_value()?),
            Field::LastSeen => self.last_seen = map.next_value()?,
            Field::Seq => self.seq = map.next_value()?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn into_record<E: de::Error>(self) -> Result<FriendRecord, E> {
        Ok(FriendRecord {
            user_id: self.user_id.ok_or_else(|| E::missing_field("user_id"))?,
            username: self.username.unwrap_or_default(),
            status: self.status.ok_or_else(|| E::missing_field("status"))?,
            last_seen: self.last_seen,
            seq: self.seq,
        })
    }
}

/// The keys Kith reads; any other is skipped.
enum Field {
    Type,
    UserId,
    Username,
    Status,
    LastSeen,
    Seq,
    Friends,
    Message,
    Code,
    Other,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(FieldVisitor)
    }
}

struct FieldVisitor;

impl Visitor<'_> for FieldVisitor {
    type Value = Field;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Field, E> {
        Ok(match key {
            "type" => Field::Type,
            "user_id" => Field::UserId,
            "username" => Field::Username,
            "status" => Field::Status,
            "last_seen" => Field::LastSeen,
            "seq" => Field::Seq,
            "friends" => Field::Friends,
            "message" => Field::Message,
            "code" => Field::Code,
            _ => Field::Other,
        })
    }
}

/// A message from the server, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    /// `status_update`: one friend's presence changed.
    StatusUpdate(FriendRecord),
    /// `presence_snapshot`: every friend's presence at once.
    Snapshot {
        /// The friends listed.
        friends: Vec<FriendRecord>,
        /// The snapshot's sequence number, when the backend sends one.
        seq: Option<u64>,
    },
    /// Several friends' presence changed at once, to apply in order as live updates: a
    /// room's member list, a join/leave diff, or a later member list of the whole set
    /// told as what changed since the socket's previous one (profile `[messages]`).
    Updates(Vec<FriendRecord>),
    /// A member list of the whole set of friends, the first on its socket (profile
    /// `[messages.members]` with `scope = "all_friends"`): everyone listed is online,
    /// and every other friend Kith knows is offline. Applied like a snapshot, except
    /// that friends not listed are kept, offline, not forgotten.
    Members(Vec<FriendRecord>),
    /// `auth_success`: the server accepted the auth message.
    AuthSuccess,
    /// `auth_error`: the server refused the auth message.
    AuthError {
        /// The server's words.
        message: String,
    },
    /// `PONG`: the answer to the app-level `PING`.
    Pong,
    /// The server's report of something it did not like in what Kith sent.
    ServerError {
        /// The error's code, when the server sent one.
        code: Option<String>,
        /// The server's words.
        message: String,
    },
}

/// Why a frame could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The frame is larger than the profile's `max_message_bytes`.
    #[error("message of {len} bytes exceeds the {max}-byte limit")]
    Oversized {
        /// The frame's size in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not a message Kith can read (not JSON, the wrong shape, a bad Socket.IO
    /// packet), with what is wrong.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A message of a type (or a Socket.IO event) Kith does not consume, by name.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// A message without a field it needs.
    #[error("{kind} message lacks field {field}")]
    MissingField {
        /// The message's type.
        kind: &'static str,
        /// The field missing.
        field: &'static str,
    },
    /// A friend's `username` or `status` is longer than [`MAX_TEXT_CHARS`].
    #[error("{field} of {len} characters exceeds the {max}-character limit")]
    TooLong {
        /// `username` or `status`.
        field: &'static str,
        /// Its length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A snapshot lists more than [`MAX_FRIENDS`] friends.
    #[error("snapshot of {count} friends exceeds the {max}-friend limit")]
    TooManyFriends {
        /// How many it lists.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A status value the profile's status map (`[messages.status]`) does not name, or,
    /// without a map, one that is not text: the message is refused whole, never
    /// guessed. `value` is the raw JSON value, cleaned and at most 64 characters.
    #[error("status {value} is not in the profile's status map")]
    UnmappedStatus {
        /// The value as the backend sent it (JSON text: a string keeps its quotes).
        value: String,
    },
    /// A Socket.IO event with binary attachments that Kith cannot use.
    #[error("binary event {event:?} refused: {reason}")]
    BinaryRefused {
        /// The event's name.
        event: String,
        /// Why it was refused.
        reason: &'static str,
    },
}

impl FriendRecord {
    /// Refuses a record whose name or status is over [`MAX_TEXT_CHARS`].
    pub(crate) fn check(&self) -> Result<(), MessageError> {
        for (field, text) in [
            ("username", self.username.as_str()),
            ("status", self.status.as_str()),
        ] {
            if is_too_long(text) {
                return Err(MessageError::TooLong {
                    field,
                    len: text.chars().count(),
                    max: MAX_TEXT_CHARS,
                });
            }
        }
        Ok(())
    }
}

/// A snapshot's friends, read up to [`MAX_FRIENDS`] and checked record by record as
/// they are read; past the first refused record the rest is skipped, not kept.
pub(crate) struct FriendList(pub(crate) Result<Vec<FriendRecord>, MessageError>);

impl FriendList {
    pub(crate) fn into_friends(self) -> Result<Vec<FriendRecord>, MessageError> {
        self.0
    }
}

impl<'de> Deserialize<'de> for FriendList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(FriendListVisitor)
    }
}

struct FriendListVisitor;

impl<'de> Visitor<'de> for FriendListVisitor {
    type Value = FriendList;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of presence records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FriendList, A::Error> {
        let hint = seq.size_hint().unwrap_or(0).min(1024);
        let mut friends = Vec::with_capacity(hint);
        while let Some(record) = seq.next_element::<FriendRecord>()? {
            if let Err(error) = record.check() {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(FriendList(Err(error)));
            }
            if friends.len() == MAX_FRIENDS {
                let mut count = friends.len() + 1;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    count += 1;
                }
                return Ok(FriendList(Err(MessageError::TooManyFriends {
                    count,
                    max: MAX_FRIENDS,
                })));
            }
            friends.push(record);
        }
        Ok(FriendList(Ok(friends)))
    }
}

/// A whole message as read in one pass; unknown fields are skipped.
///
/// The visitor is written out rather than derived: every live update goes through it,
/// and the derived form (one `Option` per field of every message kind) took half again
/// as long per update, measured with `cargo xtask bench`.
struct Envelope<'a> {
    kind: Cow<'a, str>,
    record: RecordFields,
    friends: Option<FriendList>,
    message: Option<String>,
    code: Option<String>,
}

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> Visitor<'de> for EnvelopeVisitor {
    type Value = Envelope<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a message object with a \"type\"")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Envelope<'de>, A::Error> {
        let mut kind = None;
        let mut record = RecordFields::default();
        let (mut friends, mut message, mut code) = (None, None, None);
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Type => kind = Some(map.next_value::<Text<'de>>()?.0),
                Field::Friends => friends = map.next_value()?,
                Field::Message => message = map.next_value()?,
                Field::Code => code = map.next_value()?,
                field => {
                    if !record.read(field, &mut map)? {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
        }
        Ok(Envelope {
            kind: kind.ok_or_else(|| de::Error::missing_field("type"))?,
            record,
            friends,
            message,
            code,
        })
    }
}

/// Parses one text frame. Frames longer than `max_bytes` are refused before parsing.
/// A plainly written `status_update` is read directly (see `flat_update`); anything
/// else goes to serde_json.
pub fn parse_server_message(text: &str, max_bytes: usize) -> Result<ServerMessage, MessageError> {
    if text.len() > max_bytes {
        return Err(MessageError::Oversized {
            len: text.len(),
            max: max_bytes,
        });
    }
    if let Some(record) = read_flat_update(text) {
        return Ok(ServerMessage::StatusUpdate(record));
    }
    parse_with_serde(text)
}

/// Parses one text frame with serde_json, whatever its shape.
pub(crate) fn parse_with_serde(text: &str) -> Result<ServerMessage, MessageError> {
    let envelope: Envelope<'_> =
        serde_json::from_str(text).map_err(|error| MessageError::Malformed(error.to_string()))?;
    match envelope.kind.as_ref() {
        "status_update" => {
            let record = envelope.record;
            let user_id = record.user_id.ok_or(MessageError::MissingField {
                kind: "status_update",
                field: "user_id",
            })?;
            let status = record.status.ok_or(MessageError::MissingField {
                kind: "status_update",
                field: "status",
            })?;
            let record = FriendRecord {
                user_id,
                username: record.username.unwrap_or_default(),
                status,
                last_seen: record.last_seen,
                seq: record.seq,
            };
            record.check()?;
            Ok(ServerMessage::StatusUpdate(record))
        }
        "presence_snapshot" => Ok(ServerMessage::Snapshot {
            friends: envelope
                .friends
                .ok_or(MessageError::MissingField {
                    kind: "presence_snapshot",
                    field: "friends",
                })?
                .into_friends()?,
            seq: envelope.record.seq,
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

/// Parses the body of a resync endpoint: a JSON array of friend records, or an object
/// whose `friends` field is one (other fields are skipped). Records are read and capped
/// as a snapshot's are.
pub fn parse_friend_list(text: &str) -> Result<Vec<FriendRecord>, MessageError> {
    let body: ListBody =
        serde_json::from_str(text).map_err(|error| MessageError::Malformed(error.to_string()))?;
    match body.0 {
        Some(list) => list.into_friends(),
        None => Err(MessageError::MissingField {
            kind: "friend list",
            field: "friends",
        }),
    }
}

/// A friend list as a bare array or under `friends`.
struct ListBody(Option<FriendList>);

impl<'de> Deserialize<'de> for ListBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ListBodyVisitor)
    }
}

struct ListBodyVisitor;

impl<'de> Visitor<'de> for ListBodyVisitor {
    type Value = ListBody;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of presence records, or an object with one in \"friends\"")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ListBody, A::Error> {
        FriendListVisitor
            .visit_seq(seq)
            .map(|list| ListBody(Some(list)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ListBody, A::Error> {
        let mut friends = None;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Friends => friends = Some(map.next_value::<FriendList>()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(ListBody(friends))
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
                user_id: FriendId::from(7),
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
        assert_eq!(friends[0].user_id, "u1");
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
    fn a_parsed_update_keeps_short_text_inline() {
        let text = r#"{"type":"status_update","user_id":7,"username":"a\"b","status":"away","last_seen":"2026-11-22T10:00:00Z","seq":3}"#;
        let Ok(ServerMessage::StatusUpdate(record)) = parse_server_message(text, MAX) else {
            panic!("not an update");
        };
        assert_eq!(record.username, "a\"b");
        assert_eq!(record.user_id, "7");
        assert!(!record.status.as_str().is_empty());
        for text in [record.username.clone(), record.last_seen.unwrap().0] {
            assert!(!text.is_heap_allocated(), "{text} should be inline");
        }
    }

    #[test]
    fn long_names_and_statuses_are_refused_whole() {
        let ok = "é".repeat(MAX_TEXT_CHARS);
        let long = "é".repeat(MAX_TEXT_CHARS + 1);
        let update = |name: &str, status: &str| {
            format!(
                r#"{{"type":"status_update","user_id":1,"username":"{name}","status":"{status}"}}"#
            )
        };
        assert!(parse_server_message(&update(&ok, &ok), MAX).is_ok());
        assert!(matches!(
            parse_server_message(&update(&long, "away"), MAX),
            Err(MessageError::TooLong { field: "username", len, .. }) if len == MAX_TEXT_CHARS + 1
        ));
        assert!(matches!(
            parse_server_message(&update("bob", &long), MAX),
            Err(MessageError::TooLong {
                field: "status",
                ..
            })
        ));
        // Escaped text goes the serde way and is capped the same.
        let escaped = format!(r#"{{"type":"status_update","user_id":1,"status":"\n{long}"}}"#);
        assert!(matches!(
            parse_server_message(&escaped, MAX),
            Err(MessageError::TooLong {
                field: "status",
                ..
            })
        ));
        let snapshot = format!(
            r#"{{"type":"presence_snapshot","friends":[{{"user_id":1,"status":"a"}},{{"user_id":2,"username":"{long}","status":"a"}},{{"user_id":3,"status":"a"}}]}}"#
        );
        assert!(matches!(
            parse_server_message(&snapshot, MAX),
            Err(MessageError::TooLong {
                field: "username",
                ..
            })
        ));
    }

    #[test]
    fn a_snapshot_of_too_many_friends_is_refused() {
        let record = r#"{"user_id":1,"status":"a"}"#;
        let list = |n: usize| vec![record; n].join(",");
        let at_cap = format!(
            r#"{{"type":"presence_snapshot","friends":[{}]}}"#,
            list(MAX_FRIENDS)
        );
        let Ok(ServerMessage::Snapshot { friends, .. }) =
            parse_server_message(&at_cap, at_cap.len())
        else {
            panic!("the cap itself is allowed");
        };
        assert_eq!(friends.len(), MAX_FRIENDS);
        let over = format!(
            r#"{{"type":"presence_snapshot","seq":1,"friends":[{}]}}"#,
            list(MAX_FRIENDS + 2)
        );
        assert_eq!(
            parse_server_message(&over, over.len()),
            Err(MessageError::TooManyFriends {
                count: MAX_FRIENDS + 2,
                max: MAX_FRIENDS
            })
        );
    }

    #[test]
    fn a_friend_list_is_an_array_or_an_object_with_friends() {
        let array = r#"[{"user_id":7,"username":"alice","status":"away","seq":4,"extra":1},{"user_id":"u2","status":"online"}]"#;
        let friends = parse_friend_list(array).unwrap();
        assert_eq!(friends.len(), 2);
        assert_eq!(friends[0].user_id, FriendId::from(7));
        assert_eq!(friends[0].status, "away");
        assert_eq!(friends[0].seq, Some(4));
        assert_eq!(friends[1].user_id, "u2");
        let object = format!(r#"{{"count":2,"friends":{array}}}"#);
        assert_eq!(parse_friend_list(&object).unwrap(), friends);
        assert_eq!(parse_friend_list("[]").unwrap(), vec![]);
        assert_eq!(
            parse_friend_list(r#"{"results":[]}"#),
            Err(MessageError::MissingField {
                kind: "friend list",
                field: "friends"
            })
        );
        for bad in [
            "",
            "{",
            "42",
            "\"friends\"",
            r#"[{"user_id":1}]"#,
            r#"{"friends":{}}"#,
        ] {
            assert!(
                matches!(parse_friend_list(bad), Err(MessageError::Malformed(_))),
                "{bad}"
            );
        }
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        assert!(matches!(
            parse_friend_list(&format!(r#"[{{"user_id":1,"status":"{long}"}}]"#)),
            Err(MessageError::TooLong {
                field: "status",
                ..
            })
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,200}") {
            let _ = parse_server_message(&text, MAX);
            let _ = parse_friend_list(&text);
        }
    }
}
