//! Reading a backend's own presence messages through the profile's `[messages]`
//! mapping ([`MessageMapping`]), pure: text or a Socket.IO event in, a
//! [`ServerMessage`] or a typed [`MessageError`] out, never a panic and never a guess.
//!
//! One [`MappedReader`] per socket, because a member list of the whole set of friends
//! is told relative to the socket's previous list: the first becomes
//! [`ServerMessage::Members`] (applied like a snapshot: the listed online, every other
//! known friend offline), and each later one [`ServerMessage::Updates`] with only what
//! changed (leaves offline, then joins online). So a handover socket's first list
//! stands in for a snapshot, and a live join is told as a live change, not a resync.
//!
//! A message the mapping does not claim (its discriminator names no kind) is read as
//! Kith's own vocabulary (`status_update`, `auth_success`, `PONG`, …), so a mapping
//! only adds words. The default path does not come here at all: a profile without
//! `[messages]` has no reader, and its frames go straight to the fast flat reader.

use std::sync::Arc;

use serde_json::Value;

use crate::protocol::messages::{
    is_too_long, parse_server_message, FriendRecord, MessageError, ServerMessage, MAX_FRIENDS,
};
use crate::protocol::profile::{
    JsonPointer, MemberScope, MessageKind, MessageMapping, RecordPointers, StatusMap, TimeFormat,
};
use crate::protocol::values::{FriendId, LastSeen, Status};
use crate::text::plain_text;

/// The most characters of a refused status value kept for the error and the log.
pub const MAX_SHOWN_VALUE_CHARS: usize = 64;

/// Reads one socket's messages through a mapping. See the module docs.
#[derive(Debug)]
pub struct MappedReader {
    mapping: Arc<MessageMapping>,
    /// Every `match` value and its kind.
    kinds: Vec<(Box<str>, MessageKind)>,
    /// The ids of the last whole-set member list on this socket (kept current by
    /// diffs), once there was one.
    members: Option<Vec<FriendId>>,
}

impl MappedReader {
    /// A reader for one socket.
    pub fn new(mapping: Arc<MessageMapping>) -> Self {
        let kinds = mapping
            .kinds()
            .map(|(value, kind)| (Box::from(value), kind))
            .collect();
        MappedReader {
            mapping,
            kinds,
            members: None,
        }
    }

    /// The mapping it reads with.
    pub fn mapping(&self) -> &MessageMapping {
        &self.mapping
    }

    fn kind_of(&self, value: &str) -> Option<MessageKind> {
        self.kinds
            .iter()
            .find(|(v, _)| v.as_ref() == value)
            .map(|(_, kind)| *kind)
    }

    /// Reads one text frame of the JSON protocol. Frames longer than `max_bytes` are
    /// refused before parsing. A frame whose discriminator names no kind is read as
    /// Kith's own vocabulary; one that is neither is [`MessageError::UnknownType`]
    /// (counted, not warned about) when it has a discriminator.
    pub fn read_text(
        &mut self,
        text: &str,
        max_bytes: usize,
    ) -> Result<ServerMessage, MessageError> {
        if text.len() > max_bytes {
            return Err(MessageError::Oversized {
                len: text.len(),
                max: max_bytes,
            });
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|error| MessageError::Malformed(error.to_string()))?;
        let tag = self
            .mapping
            .discriminator
            .resolve(&value)
            .and_then(Value::as_str);
        if let Some((tag, kind)) = tag.and_then(|tag| Some((tag, self.kind_of(tag)?))) {
            return self.read_kind(kind, tag, &value);
        }
        match parse_server_message(text, max_bytes) {
            Err(MessageError::Malformed(_)) if tag.is_some() => {
                Err(MessageError::UnknownType(truncate(tag.unwrap_or_default())))
            }
            other => other,
        }
    }

    /// Reads one Socket.IO event, by its name and first argument; `None` when the
    /// mapping does not claim the event (it is then read as Kith's own vocabulary).
    pub fn read_event(
        &mut self,
        name: &str,
        data: &Value,
    ) -> Option<Result<ServerMessage, MessageError>> {
        let kind = self.kind_of(name)?;
        Some(self.read_kind(kind, name, data))
    }

    /// Reads `value` as a message of `kind`, which `tag` named.
    fn read_kind(
        &mut self,
        kind: MessageKind,
        tag: &str,
        value: &Value,
    ) -> Result<ServerMessage, MessageError> {
        let mapping = Arc::clone(&self.mapping);
        let status_map = mapping.status.as_ref();
        let unknown = || MessageError::UnknownType(truncate(tag));
        match kind {
            MessageKind::Ignore => Err(unknown()),
            MessageKind::Update => {
                let update = mapping.update.as_ref().ok_or_else(unknown)?;
                let record = read_record(value, None, update.record(), status_map, "update")?;
                Ok(ServerMessage::StatusUpdate(record))
            }
            MessageKind::Snapshot => {
                let snapshot = mapping.snapshot.as_ref().ok_or_else(unknown)?;
                let list = snapshot.list.resolve(value).filter(|v| !v.is_null());
                let list = list.ok_or(MessageError::MissingField {
                    kind: "snapshot",
                    field: "list",
                })?;
                let friends = entries(list, "snapshot")?
                    .map(|(key, entry)| {
                        read_record(entry, key, snapshot.record(), status_map, "snapshot")
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ServerMessage::Snapshot { friends, seq: None })
            }
            MessageKind::Members => {
                let members = mapping.members.as_ref().ok_or_else(unknown)?;
                let list = members.list.resolve(value).filter(|v| !v.is_null());
                let list = list.ok_or(MessageError::MissingField {
                    kind: "members",
                    field: "list",
                })?;
                let online = read_members(
                    list,
                    &members.user_id,
                    members.username.as_ref(),
                    "online",
                    "members",
                )?;
                match members.scope {
                    MemberScope::Room => Ok(ServerMessage::Updates(online)),
                    MemberScope::AllFriends => {
                        let ids = online.iter().map(|r| r.user_id.clone()).collect();
                        Ok(match self.members.replace(ids) {
                            None => ServerMessage::Members(online),
                            Some(previous) => ServerMessage::Updates(changes(&previous, online)),
                        })
                    }
                }
            }
            MessageKind::Diff => {
                let diff = mapping.diff.as_ref().ok_or_else(unknown)?;
                let side = |pointer: &JsonPointer, status: &str| match pointer
                    .resolve(value)
                    .filter(|v| !v.is_null())
                {
                    None => Ok(Vec::new()),
                    Some(list) => {
                        read_members(list, &diff.user_id, diff.username.as_ref(), status, "diff")
                    }
                };
                let leaves = side(&diff.leaves, "offline")?;
                let joins = side(&diff.joins, "online")?;
                if leaves.len() + joins.len() > MAX_FRIENDS {
                    return Err(MessageError::TooManyFriends {
                        count: leaves.len() + joins.len(),
                        max: MAX_FRIENDS,
                    });
                }
                if let Some(tracked) = self.members.as_mut() {
                    tracked.retain(|id| !leaves.iter().any(|r| &r.user_id == id));
                    for join in &joins {
                        if !tracked.contains(&join.user_id) {
                            tracked.push(join.user_id.clone());
                        }
                    }
                }
                let mut updates = leaves;
                updates.extend(joins);
                Ok(ServerMessage::Updates(updates))
            }
        }
    }
}

/// What changed between a socket's previous whole-set list and this one: who left
/// (offline), then who joined (online), each in list order.
fn changes(previous: &[FriendId], now: Vec<FriendRecord>) -> Vec<FriendRecord> {
    let listed: foldhash::HashSet<FriendId> = now.iter().map(|r| r.user_id.clone()).collect();
    let before: foldhash::HashSet<&FriendId> = previous.iter().collect();
    let mut updates: Vec<FriendRecord> = previous
        .iter()
        .filter(|id| !listed.contains(*id))
        .map(|id| presence_of(id.clone(), "offline"))
        .collect();
    updates.extend(now.into_iter().filter(|r| !before.contains(&r.user_id)));
    updates
}

fn presence_of(user_id: FriendId, status: &str) -> FriendRecord {
    FriendRecord {
        user_id,
        username: Default::default(),
        status: Status::new(status),
        last_seen: None,
        seq: None,
    }
}

/// A list's entries, each with its key when the list is an object.
type Entries<'v> = Box<dyn Iterator<Item = (Option<&'v str>, &'v Value)> + 'v>;

/// A list's entries: an array's elements (no key), or an object's values with their
/// keys (the ids); at most [`MAX_FRIENDS`].
fn entries<'v>(list: &'v Value, kind: &'static str) -> Result<Entries<'v>, MessageError> {
    let count = match list {
        Value::Array(items) => items.len(),
        Value::Object(map) => map.len(),
        _ => {
            return Err(MessageError::Malformed(format!(
                "the {kind} list is neither an array nor an object"
            )))
        }
    };
    if count > MAX_FRIENDS {
        return Err(MessageError::TooManyFriends {
            count,
            max: MAX_FRIENDS,
        });
    }
    Ok(match list {
        Value::Array(items) => Box::new(items.iter().map(|item| (None, item))),
        Value::Object(map) => Box::new(map.iter().map(|(key, item)| (Some(key.as_str()), item))),
        _ => Box::new(std::iter::empty()),
    })
}

/// Members of a list, each with `status`.
fn read_members(
    list: &Value,
    user_id: &JsonPointer,
    username: Option<&JsonPointer>,
    status: &str,
    kind: &'static str,
) -> Result<Vec<FriendRecord>, MessageError> {
    let status = Status::new(status);
    entries(list, kind)?
        .map(|(key, entry)| {
            let record = FriendRecord {
                user_id: read_id(key, user_id.resolve(entry), kind)?,
                username: read_name(username.and_then(|p| p.resolve(entry)))?,
                status: status.clone(),
                last_seen: None,
                seq: None,
            };
            record.check()?;
            Ok(record)
        })
        .collect()
}

/// One friend's record from `value` (a message, or a list's entry with its key).
fn read_record(
    value: &Value,
    key: Option<&str>,
    at: RecordPointers<'_>,
    status_map: Option<&StatusMap>,
    kind: &'static str,
) -> Result<FriendRecord, MessageError> {
    let record = FriendRecord {
        user_id: read_id(key, at.user_id.resolve(value), kind)?,
        username: read_name(at.username.and_then(|p| p.resolve(value)))?,
        status: read_status(at.status.resolve(value), status_map, kind)?,
        last_seen: read_last_seen(
            at.last_seen.and_then(|p| p.resolve(value)),
            at.last_seen_format,
        )?,
        seq: read_seq(at.seq.and_then(|p| p.resolve(value)))?,
    };
    record.check()?;
    Ok(record)
}

fn malformed(what: &str) -> MessageError {
    MessageError::Malformed(what.to_string())
}

/// An id: an object entry's key, or text or a whole number.
fn read_id(
    key: Option<&str>,
    value: Option<&Value>,
    kind: &'static str,
) -> Result<FriendId, MessageError> {
    let id = match (key, value) {
        (Some(key), _) => FriendId::from(key),
        (None, Some(Value::String(text))) => FriendId::from(text.as_str()),
        (None, Some(Value::Number(n))) => match (n.as_u64(), n.as_i64()) {
            (Some(n), _) => FriendId::from(n),
            (None, Some(n)) => FriendId::from(n.to_string()),
            _ => return Err(malformed("a user id is a fraction")),
        },
        (None, None | Some(Value::Null)) => {
            return Err(MessageError::MissingField {
                kind,
                field: "user_id",
            })
        }
        (None, Some(_)) => return Err(malformed("a user id is neither text nor a number")),
    };
    if id.as_str().is_empty() {
        return Err(malformed("a user id is empty"));
    }
    if is_too_long(id.as_str()) {
        return Err(MessageError::TooLong {
            field: "user_id",
            len: id.as_str().chars().count(),
            max: crate::protocol::messages::MAX_TEXT_CHARS,
        });
    }
    Ok(id)
}

fn read_name(value: Option<&Value>) -> Result<smol_str::SmolStr, MessageError> {
    match value {
        None | Some(Value::Null) => Ok(Default::default()),
        Some(Value::String(name)) => Ok(smol_str::SmolStr::from(name.as_str())),
        Some(_) => Err(malformed("a username is not text")),
    }
}

/// A status through the map; without a map, text as written.
fn read_status(
    value: Option<&Value>,
    map: Option<&StatusMap>,
    kind: &'static str,
) -> Result<Status, MessageError> {
    let value = value
        .filter(|v| !v.is_null())
        .ok_or(MessageError::MissingField {
            kind,
            field: "status",
        })?;
    let unmapped = || MessageError::UnmappedStatus {
        value: shown_value(value),
    };
    match (map, value) {
        (Some(map), value) => map.lookup(value).map(Status::new).ok_or_else(unmapped),
        (None, Value::String(text)) => Ok(Status::new(text)),
        (None, _) => Err(unmapped()),
    }
}

/// A raw value as it may appear in an error and a log line: JSON text (a string keeps
/// its quotes, so `"true"` and `true` differ), without control characters or bidi
/// overrides, at most [`MAX_SHOWN_VALUE_CHARS`].
pub fn shown_value(value: &Value) -> String {
    let raw = match value {
        Value::String(text) => {
            let head: String = text.chars().take(MAX_SHOWN_VALUE_CHARS).collect();
            format!("\"{head}\"")
        }
        Value::Array(_) => "[…]".to_string(),
        Value::Object(_) => "{…}".to_string(),
        other => other.to_string(),
    };
    plain_text(&raw, MAX_SHOWN_VALUE_CHARS)
}

/// The last moment a `last_seen` may name: 9999-12-31T23:59:59.999Z, in milliseconds.
const LAST_MS: f64 = 253_402_300_799_999.0;

fn read_last_seen(
    value: Option<&Value>,
    format: TimeFormat,
) -> Result<Option<LastSeen>, MessageError> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let scale = match format {
        TimeFormat::Rfc3339 => {
            let text = value
                .as_str()
                .filter(|text| !is_too_long(text))
                .ok_or_else(|| malformed("last_seen is not RFC 3339 text"))?;
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map_err(|_| malformed("last_seen is not RFC 3339 text"))?;
            return Ok(Some(LastSeen::from(text)));
        }
        TimeFormat::EpochSeconds => 1000.0,
        TimeFormat::EpochMillis => 1.0,
    };
    let number = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(text) if text.len() <= 32 => text.trim().parse::<f64>().ok(),
        _ => None,
    };
    let ms = number
        .map(|n| n * scale)
        .filter(|ms| ms.is_finite() && (0.0..=LAST_MS).contains(ms))
        .ok_or_else(|| malformed("last_seen is not a time since the epoch from 1970 to 9999"))?;
    Ok(Some(LastSeen::from(rfc3339_ms(ms as i64).as_str())))
}

/// `ms` since the epoch as RFC 3339 UTC text with milliseconds, so that mapped times
/// all have one length and compare as text (see `values::compare_timestamps`).
fn rfc3339_ms(ms: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

fn read_seq(value: Option<&Value>) -> Result<Option<u64>, MessageError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .map(Some)
            .ok_or_else(|| malformed("seq is not a whole number")),
    }
}

fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ServerProfile;
    use serde_json::json;

    const MAX: usize = 1 << 20;

    fn reader(toml: &str) -> MappedReader {
        let profile = ServerProfile::from_toml(toml).unwrap_or_else(|e| panic!("{e}"));
        MappedReader::new(Arc::new(profile.messages.expect("a mapping")))
    }

    fn ids_and_statuses(records: &[FriendRecord]) -> Vec<(String, String)> {
        records
            .iter()
            .map(|r| (r.user_id.to_string(), r.status.to_string()))
            .collect()
    }

    const DJANGO: &str = r#"
[messages.members]
match = ["presence"]
list = "/payload/members"
scope = "all_friends"
user_id = "/id"
username = "/username"
"#;

    fn presence(members: &[(u64, &str)]) -> String {
        json!({
            "type": "presence",
            "payload": {
                "channel_name": "friends",
                "members": members.iter().map(|(id, name)| json!({"id": id, "username": name})).collect::<Vec<_>>(),
                "lurkers": 0,
            }
        })
        .to_string()
    }

    #[test]
    fn a_whole_set_member_list_is_a_snapshot_first_and_then_what_changed() {
        let mut reader = reader(DJANGO);
        let Ok(ServerMessage::Members(first)) =
            reader.read_text(&presence(&[(1, "me"), (2, "alice")]), MAX)
        else {
            panic!("the first list stands in for a snapshot");
        };
        assert_eq!(
            ids_and_statuses(&first),
            [("1", "online"), ("2", "online")].map(|(a, b)| (a.into(), b.into()))
        );
        assert_eq!(first[1].username, "alice");
        let Ok(ServerMessage::Updates(next)) =
            reader.read_text(&presence(&[(1, "me"), (3, "bob")]), MAX)
        else {
            panic!("later lists are what changed");
        };
        assert_eq!(
            ids_and_statuses(&next),
            [("2", "offline"), ("3", "online")].map(|(a, b)| (a.into(), b.into()))
        );
        assert_eq!(
            reader.read_text(&presence(&[(1, "me"), (3, "bob")]), MAX),
            Ok(ServerMessage::Updates(Vec::new()))
        );
        // A room's list turns nobody offline and is never a snapshot.
        let mut room = super::tests::reader(&DJANGO.replace("all_friends", "room"));
        for members in [&[(2, "alice")][..], &[(3, "bob")][..]] {
            let Ok(ServerMessage::Updates(records)) = room.read_text(&presence(members), MAX)
            else {
                panic!("a room list is a run of updates");
            };
            assert!(records.iter().all(|r| r.status == "online"));
        }
    }

    #[test]
    fn kith_s_own_vocabulary_still_reads_and_ignored_messages_are_unconsumed() {
        let mut reader = reader(&format!(
            "{DJANGO}\n[messages.ignore]\nmatch = [\"typing\"]\n"
        ));
        assert_eq!(
            reader.read_text(r#"{"type":"auth_success"}"#, MAX),
            Ok(ServerMessage::AuthSuccess)
        );
        assert!(matches!(
            reader.read_text(
                r#"{"type":"status_update","user_id":1,"status":"away"}"#,
                MAX
            ),
            Ok(ServerMessage::StatusUpdate(_))
        ));
        assert_eq!(
            reader.read_text(r#"{"type":"typing","user":2}"#, MAX),
            Err(MessageError::UnknownType("typing".into()))
        );
        assert_eq!(
            reader.read_text(r#"{"type":"chat"}"#, MAX),
            Err(MessageError::UnknownType("chat".into()))
        );
        assert!(matches!(
            reader.read_text("{not json", MAX),
            Err(MessageError::Malformed(_))
        ));
        assert!(matches!(
            reader.read_text(&presence(&[]), 8),
            Err(MessageError::Oversized { .. })
        ));
    }

    const CUSTOM: &str = r#"
[messages]
discriminator = "/event"
[messages.update]
match = ["presence.changed"]
user_id = "/data/user/id"
username = "/data/user/name"
status = "/data/state"
last_seen = "/data/at"
last_seen_format = "epoch_seconds"
[messages.ignore]
match = ["typing"]
[messages.status]
online = [true, "active"]
away = ["idle"]
offline = [false]
"#;

    fn changed(state: Value) -> String {
        json!({"event":"presence.changed","data":{"user":{"id":"u_12","name":"Ada"},"state":state,"at":1733450000}}).to_string()
    }

    #[test]
    fn an_update_in_other_words_with_a_status_map() {
        let mut reader = reader(CUSTOM);
        let Ok(ServerMessage::StatusUpdate(record)) = reader.read_text(&changed(json!(true)), MAX)
        else {
            panic!("an update");
        };
        assert_eq!(record.user_id, "u_12");
        assert_eq!(record.username, "Ada");
        assert_eq!(record.status, "online");
        let last_seen = record.last_seen.unwrap();
        assert_eq!(last_seen.as_str(), "2024-12-06T01:53:20.000Z");
        assert_eq!(last_seen.unix_ms(), Some(1_733_450_000_000));
        for (state, status) in [
            (json!(false), "offline"),
            (json!("idle"), "away"),
            (json!("active"), "online"),
        ] {
            let Ok(ServerMessage::StatusUpdate(record)) = reader.read_text(&changed(state), MAX)
            else {
                panic!("an update");
            };
            assert_eq!(record.status, status);
        }
        // Not in the map: refused, with the raw value cleaned and capped; never guessed.
        for (state, shown) in [
            (json!("dnd"), "\"dnd\""),
            (json!("true"), "\"true\""),
            (json!(1), "1"),
            (json!({"x": 1}), "{…}"),
            (json!("\u{1b}[2Jevil\u{202e}"), "\"[2Jevil\""),
        ] {
            assert_eq!(
                reader.read_text(&changed(state.clone()), MAX),
                Err(MessageError::UnmappedStatus {
                    value: shown.into()
                }),
                "{state}"
            );
        }
        let long = "x".repeat(1000);
        let Err(MessageError::UnmappedStatus { value }) =
            reader.read_text(&changed(json!(long)), MAX)
        else {
            panic!("refused");
        };
        assert_eq!(value.chars().count(), MAX_SHOWN_VALUE_CHARS);
        // Missing fields and wrong types are typed errors.
        assert_eq!(
            reader.read_text(r#"{"event":"presence.changed","data":{"state":true}}"#, MAX),
            Err(MessageError::MissingField {
                kind: "update",
                field: "user_id"
            })
        );
        assert!(matches!(
            reader.read_text(
                r#"{"event":"presence.changed","data":{"user":{"id":1.5},"state":true}}"#,
                MAX
            ),
            Err(MessageError::Malformed(_))
        ));
        assert!(matches!(
            reader.read_text(
                r#"{"event":"presence.changed","data":{"user":{"id":1},"state":true,"at":"yesterday"}}"#,
                MAX
            ),
            Err(MessageError::Malformed(_))
        ));
        assert_eq!(
            reader.read_text(r#"{"event":"typing","data":{}}"#, MAX),
            Err(MessageError::UnknownType("typing".into()))
        );
        // Socket.IO: the event name is the discriminator, the first argument the data.
        let data = json!({"data":{"user":{"id":7,"name":"Bo"},"state":"idle","at":"1733450000"}});
        let Some(Ok(ServerMessage::StatusUpdate(record))) =
            reader.read_event("presence.changed", &data)
        else {
            panic!("an event");
        };
        assert_eq!(
            (record.user_id.as_str(), record.status.as_str()),
            ("7", "away")
        );
        assert_eq!(reader.read_event("status_update", &data), None);
    }

    #[test]
    fn without_a_status_map_text_is_taken_as_written_and_anything_else_refused() {
        let mut reader = reader(
            "[messages.update]\nmatch = [\"u\"]\nuser_id = \"/id\"\nstatus = \"/s\"\nlast_seen = \"/t\"\nlast_seen_format = \"epoch_millis\"\n",
        );
        let Ok(ServerMessage::StatusUpdate(record)) =
            reader.read_text(r#"{"type":"u","id":-3,"s":"busy","t":1733450000123}"#, MAX)
        else {
            panic!("an update");
        };
        assert_eq!(record.user_id, "-3");
        assert_eq!(record.status, "busy");
        assert_eq!(
            record.last_seen.unwrap().as_str(),
            "2024-12-06T01:53:20.123Z"
        );
        assert_eq!(
            reader.read_text(r#"{"type":"u","id":1,"s":true}"#, MAX),
            Err(MessageError::UnmappedStatus {
                value: "true".into()
            })
        );
        assert!(matches!(
            reader.read_text(r#"{"type":"u","id":1,"s":"x","t":-5}"#, MAX),
            Err(MessageError::Malformed(_))
        ));
        assert!(matches!(
            reader.read_text(r#"{"type":"u","id":1,"s":"x","t":1e300}"#, MAX),
            Err(MessageError::Malformed(_))
        ));
    }

    #[test]
    fn a_join_leave_diff_and_a_keyed_snapshot() {
        let mut reader = reader(
            r#"
[messages]
discriminator = "/event"
[messages.snapshot]
match = ["presence_state"]
list = "/payload"
username = "/metas/0/name"
status = "/metas/0/status"
[messages.diff]
match = ["presence_diff"]
joins = "/payload/joins"
leaves = "/payload/leaves"
username = "/metas/0/name"
"#,
        );
        let state = json!({"event":"presence_state","payload":{
            "u1":{"metas":[{"name":"Ada","status":"online"}]},
            "u2":{"metas":[{"name":"Bo","status":"away"}]}}});
        let Ok(ServerMessage::Snapshot { friends, .. }) = reader.read_text(&state.to_string(), MAX)
        else {
            panic!("a snapshot");
        };
        assert_eq!(
            ids_and_statuses(&friends),
            [("u1", "online"), ("u2", "away")].map(|(a, b)| (a.into(), b.into()))
        );
        let diff = json!({"event":"presence_diff","payload":{
            "joins":{"u3":{"metas":[{"name":"Cy"}]},"u1":{"metas":[{}]}},
            "leaves":{"u1":{"metas":[{}]},"u2":{"metas":[]}}}});
        let Ok(ServerMessage::Updates(updates)) = reader.read_text(&diff.to_string(), MAX) else {
            panic!("a run of updates");
        };
        // Leaves first, then joins: u1 swapped a device and stays online.
        assert_eq!(
            ids_and_statuses(&updates),
            [
                ("u1", "offline"),
                ("u2", "offline"),
                ("u1", "online"),
                ("u3", "online")
            ]
            .map(|(a, b)| (a.into(), b.into()))
        );
        assert_eq!(updates[3].username, "Cy");
        // Missing sides are empty; a side of the wrong shape is refused.
        assert_eq!(
            reader.read_text(r#"{"event":"presence_diff","payload":{"joins":[]}}"#, MAX),
            Ok(ServerMessage::Updates(Vec::new()))
        );
        assert!(matches!(
            reader.read_text(r#"{"event":"presence_diff","payload":{"joins":"u1"}}"#, MAX),
            Err(MessageError::Malformed(_))
        ));
        assert_eq!(
            reader.read_text(r#"{"event":"presence_state"}"#, MAX),
            Err(MessageError::MissingField {
                kind: "snapshot",
                field: "list"
            })
        );
    }

    #[test]
    fn diffs_keep_a_whole_set_list_current() {
        let mut reader = reader(&format!(
            "{DJANGO}\n[messages.diff]\nmatch = [\"diff\"]\njoins = \"/joins\"\nleaves = \"/leaves\"\n"
        ));
        reader
            .read_text(&presence(&[(1, "me"), (2, "alice")]), MAX)
            .unwrap();
        reader
            .read_text(r#"{"type":"diff","joins":[3],"leaves":[2]}"#, MAX)
            .unwrap();
        // The next list is told against 1 and 3: 2 left already, so only 4 joins.
        let Ok(ServerMessage::Updates(updates)) =
            reader.read_text(&presence(&[(1, "me"), (3, "bob"), (4, "carol")]), MAX)
        else {
            panic!("updates");
        };
        assert_eq!(
            ids_and_statuses(&updates),
            [("4", "online")].map(|(a, b)| (a.into(), b.into()))
        );
    }
}
