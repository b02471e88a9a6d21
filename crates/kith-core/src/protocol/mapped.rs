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

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

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
        let value: Json<'_> = serde_json::from_str(text)
            .map_err(|error| MessageError::Malformed(error.to_string()))?;
        let tag = value.at(&self.mapping.discriminator).and_then(Json::as_str);
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
        Some(self.read_kind(kind, name, &Json::borrowing(data)))
    }

    /// Reads `value` as a message of `kind`, which `tag` named.
    fn read_kind(
        &mut self,
        kind: MessageKind,
        tag: &str,
        value: &Json<'_>,
    ) -> Result<ServerMessage, MessageError> {
        let mapping = &*self.mapping;
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
                let list = value.at(&snapshot.list).filter(|v| !v.is_null());
                let list = list.ok_or(MessageError::MissingField {
                    kind: "snapshot",
                    field: "list",
                })?;
                let friends = entries(list, "snapshot")?
                    .into_iter()
                    .map(|(key, entry)| {
                        read_record(entry, key, snapshot.record(), status_map, "snapshot")
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(ServerMessage::Snapshot { friends, seq: None })
            }
            MessageKind::Members => {
                let members = mapping.members.as_ref().ok_or_else(unknown)?;
                let list = value.at(&members.list).filter(|v| !v.is_null());
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
                let side = |pointer: &JsonPointer, status: &str| match value
                    .at(pointer)
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

/// A message's JSON as the reader holds it: parsed by serde_json itself (the same
/// syntax, number range and nesting limit as `serde_json::Value`), into a tree that
/// borrows the frame's text. Text without escapes is not copied, and an object is a
/// `Vec` of its members rather than a map of owned keys, so reading a frame costs
/// about one allocation per object and array instead of one per key and string, and
/// only the values the mapping reads become records.
///
/// Hand-written rather than `serde_json_borrow::Value` (a crate that builds the same
/// kind of tree) because that crate's object lookup takes the first of duplicate
/// keys where `serde_json::Value` keeps the last, its conversion from a
/// `serde_json::Value` (for Socket.IO events) turns positive integers into its
/// negative-integer variant (so `as_u64` fails on them), and its floats print unlike
/// serde_json's (`3.0` as `3`): each would change what a mapping reads or shows.
#[derive(Debug, Clone, PartialEq)]
enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    /// Borrowed from the frame unless it held escapes.
    Text(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    /// The members as written, duplicate keys and all: a lookup takes the last of
    /// duplicates, and [`entries`] orders and dedups them, both as `serde_json::Value`
    /// (whose objects are `BTreeMap`s) did.
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// `value` as the reader's tree, borrowing its text (a Socket.IO event's argument,
    /// already parsed by the Socket.IO layer).
    fn borrowing(value: &'a Value) -> Self {
        match value {
            Value::Null => Json::Null,
            Value::Bool(flag) => Json::Bool(*flag),
            Value::Number(number) => Json::Number(number.clone()),
            Value::String(text) => Json::Text(Cow::Borrowed(text)),
            Value::Array(items) => Json::Array(items.iter().map(Json::borrowing).collect()),
            Value::Object(map) => Json::Object(
                map.iter()
                    .map(|(key, value)| (Cow::Borrowed(key.as_str()), Json::borrowing(value)))
                    .collect(),
            ),
        }
    }

    /// The value `pointer` names in this one, if there is one: an object's member by
    /// key (the last, when a key is written twice), an array's element by index.
    fn at(&self, pointer: &JsonPointer) -> Option<&Json<'a>> {
        pointer
            .tokens()
            .iter()
            .try_fold(self, |value, token| match value {
                Json::Object(members) => members
                    .iter()
                    .rev()
                    .find(|(key, _)| key.as_ref() == token.key())
                    .map(|(_, member)| member),
                Json::Array(items) => items.get(token.index()?),
                _ => None,
            })
    }

    fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Json::Text(text) => Some(text),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

/// Builds a [`Json`] from what serde_json's parser reports, as `serde_json::Value`'s
/// own visitor does.
struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, flag: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(flag))
    }

    fn visit_i64<E>(self, number: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(number.into()))
    }

    fn visit_u64<E>(self, number: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(number.into()))
    }

    fn visit_f64<E>(self, number: f64) -> Result<Json<'de>, E> {
        // As serde_json's Value: a float that is not finite (the parser gives none) is null.
        Ok(Number::from_f64(number).map_or(Json::Null, Json::Number))
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::Text(Cow::Borrowed(text)))
    }

    fn visit_str<E>(self, text: &str) -> Result<Json<'de>, E> {
        Ok(Json::Text(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E>(self, text: String) -> Result<Json<'de>, E> {
        Ok(Json::Text(Cow::Owned(text)))
    }

    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Json<'de>, D::Error> {
        Json::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        // No room reserved ahead: an empty object, however many a frame holds, costs
        // no allocation (as in a `serde_json::Value`).
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(Key(key)) = map.next_key()? {
            members.push((key, map.next_value()?));
        }
        Ok(Json::Object(members))
    }
}

/// An object's key, borrowed from the frame unless it held escapes. (Serde's own
/// `Cow<str>` always copies.)
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("an object key")
            }

            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }

            fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }

            fn visit_string<E>(self, key: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
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
type Entries<'v, 'a> = Vec<(Option<&'v str>, &'v Json<'a>)>;

/// A list's entries: an array's elements (no key), or an object's values with their
/// keys (the ids), in key order, the last of a key written twice; at most
/// [`MAX_FRIENDS`].
fn entries<'v, 'a>(
    list: &'v Json<'a>,
    kind: &'static str,
) -> Result<Entries<'v, 'a>, MessageError> {
    let entries: Entries<'v, 'a> = match list {
        Json::Array(items) => items.iter().map(|item| (None, item)).collect(),
        Json::Object(members) => {
            // Reversed, so that a stable sort puts the last of equal keys first and
            // the dedup keeps it: the order and the winner of a `BTreeMap`, which is
            // how such a list was read before.
            let mut entries: Entries<'v, 'a> = members
                .iter()
                .rev()
                .map(|(key, item)| (Some(key.as_ref()), item))
                .collect();
            entries.sort_by_key(|(key, _)| *key);
            entries.dedup_by(|(a, _), (b, _)| a == b);
            entries
        }
        _ => {
            return Err(MessageError::Malformed(format!(
                "the {kind} list is neither an array nor an object"
            )))
        }
    };
    if entries.len() > MAX_FRIENDS {
        return Err(MessageError::TooManyFriends {
            count: entries.len(),
            max: MAX_FRIENDS,
        });
    }
    Ok(entries)
}

/// Members of a list, each with `status`.
fn read_members(
    list: &Json<'_>,
    user_id: &JsonPointer,
    username: Option<&JsonPointer>,
    status: &str,
    kind: &'static str,
) -> Result<Vec<FriendRecord>, MessageError> {
    let status = Status::new(status);
    entries(list, kind)?
        .into_iter()
        .map(|(key, entry)| {
            let record = FriendRecord {
                user_id: read_id(key, entry.at(user_id), kind)?,
                username: read_name(username.and_then(|p| entry.at(p)))?,
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
    value: &Json<'_>,
    key: Option<&str>,
    at: RecordPointers<'_>,
    status_map: Option<&StatusMap>,
    kind: &'static str,
) -> Result<FriendRecord, MessageError> {
    let record = FriendRecord {
        user_id: read_id(key, value.at(at.user_id), kind)?,
        username: read_name(at.username.and_then(|p| value.at(p)))?,
        status: read_status(value.at(at.status), status_map, kind)?,
        last_seen: read_last_seen(at.last_seen.and_then(|p| value.at(p)), at.last_seen_format)?,
        seq: read_seq(at.seq.and_then(|p| value.at(p)))?,
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
    value: Option<&Json<'_>>,
    kind: &'static str,
) -> Result<FriendId, MessageError> {
    let id = match (key, value) {
        (Some(key), _) => FriendId::from(key),
        (None, Some(Json::Text(text))) => FriendId::from(text.as_ref()),
        (None, Some(Json::Number(n))) => match (n.as_u64(), n.as_i64()) {
            (Some(n), _) => FriendId::from(n),
            (None, Some(n)) => FriendId::from(n.to_string()),
            _ => return Err(malformed("a user id is a fraction")),
        },
        (None, None | Some(Json::Null)) => {
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

fn read_name(value: Option<&Json<'_>>) -> Result<smol_str::SmolStr, MessageError> {
    match value {
        None | Some(Json::Null) => Ok(Default::default()),
        Some(Json::Text(name)) => Ok(smol_str::SmolStr::from(name.as_ref())),
        Some(_) => Err(malformed("a username is not text")),
    }
}

/// A status through the map; without a map, text as written.
fn read_status(
    value: Option<&Json<'_>>,
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
        value: shown(value),
    };
    match (map, value) {
        (Some(map), Json::Text(text)) => map.lookup_text(text),
        (Some(map), Json::Bool(flag)) => map.lookup_flag(*flag),
        (Some(_), _) => None,
        (None, Json::Text(text)) => return Ok(Status::new(text)),
        (None, _) => None,
    }
    .map(Status::new)
    .ok_or_else(unmapped)
}

/// A raw value as it may appear in an error and a log line: JSON text (a string keeps
/// its quotes, so `"true"` and `true` differ), without control characters or bidi
/// overrides, at most [`MAX_SHOWN_VALUE_CHARS`].
pub fn shown_value(value: &Value) -> String {
    match value {
        // Shown by their kind alone, so not converted.
        Value::Array(_) => shown(&Json::Array(Vec::new())),
        Value::Object(_) => shown(&Json::Object(Vec::new())),
        scalar => shown(&Json::borrowing(scalar)),
    }
}

/// [`shown_value`], for the reader's tree.
fn shown(value: &Json<'_>) -> String {
    let raw = match value {
        Json::Text(text) => {
            let head: String = text.chars().take(MAX_SHOWN_VALUE_CHARS).collect();
            format!("\"{head}\"")
        }
        Json::Array(_) => "[…]".to_string(),
        Json::Object(_) => "{…}".to_string(),
        Json::Null => "null".to_string(),
        Json::Bool(flag) => flag.to_string(),
        Json::Number(number) => number.to_string(),
    };
    plain_text(&raw, MAX_SHOWN_VALUE_CHARS)
}

/// The last moment a `last_seen` may name: 9999-12-31T23:59:59.999Z, in milliseconds.
const LAST_MS: f64 = 253_402_300_799_999.0;

fn read_last_seen(
    value: Option<&Json<'_>>,
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
        Json::Number(n) => n.as_f64(),
        Json::Text(text) if text.len() <= 32 => text.trim().parse::<f64>().ok(),
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

fn read_seq(value: Option<&Json<'_>>) -> Result<Option<u64>, MessageError> {
    match value {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
        Some(_) => Err(malformed("seq is not a whole number")),
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

    /// The reader's tree as the `serde_json::Value` it stands for: members inserted in
    /// order, so the last of a key written twice wins, and objects in key order.
    fn to_value(json: &Json<'_>) -> Value {
        match json {
            Json::Null => Value::Null,
            Json::Bool(flag) => Value::Bool(*flag),
            Json::Number(number) => Value::Number(number.clone()),
            Json::Text(text) => Value::String(text.to_string()),
            Json::Array(items) => Value::Array(items.iter().map(to_value).collect()),
            Json::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(key, member)| (key.to_string(), to_value(member)))
                    .collect(),
            ),
        }
    }

    fn parsed(text: &str) -> Json<'_> {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn pointer(text: &str) -> JsonPointer {
        JsonPointer::new(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// Every lookup in a frame gives what `serde_json::Value::pointer` gives, escapes,
    /// duplicates, indexes and the empty key included.
    #[test]
    fn lookups_in_a_frame_agree_with_serde_json() {
        let text = r#"{
            "": {"": "empty in empty", "x": 1},
            "a/b": "slash", "a~b": "tilde", "~1": "tilde one",
            "\u0061\/c": "escaped key a/c", "q\"": "quote key",
            "dup": 1, "dup": {"inner": true}, "dup": [10, 11, 12],
            "list": [{"id": 7}, null, "two"],
            "obj": {"0": "zero key", "01": "leading zero key", "-": "dash key"},
            "text": "caf\u00e9 \"quoted\"",
            "big": 18446744073709551615, "neg": -9223372036854775808, "float": 3.0
        }"#;
        let value: Value = serde_json::from_str(text).unwrap();
        let json = parsed(text);
        assert_eq!(to_value(&json), value);
        for at in [
            "",
            "/",
            "//",
            "//x",
            "/a~1b",
            "/a~0b",
            "/~01",
            "/a~1c",
            "/q\"",
            "/dup",
            "/dup/0",
            "/dup/2",
            "/dup/inner",
            "/list/0/id",
            "/list/1",
            "/list/2",
            "/list/3",
            "/list/00",
            "/list/01",
            "/list/-",
            "/list/+1",
            "/obj/0",
            "/obj/01",
            "/obj/-",
            "/obj/00",
            "/text",
            "/text/0",
            "/big",
            "/neg",
            "/float",
            "/missing",
            "/list/0/id/x",
        ] {
            assert_eq!(
                json.at(&pointer(at)).map(to_value),
                value.pointer(at).cloned(),
                "{at}"
            );
            // A Socket.IO event's argument is read through the same tree.
            assert_eq!(
                Json::borrowing(&value).at(&pointer(at)).map(to_value),
                value.pointer(at).cloned(),
                "{at}, borrowed"
            );
        }
        // Text without escapes is borrowed from the frame; with them it is unescaped.
        assert!(matches!(
            json.at(&pointer("/a~1b")),
            Some(Json::Text(Cow::Borrowed("slash")))
        ));
        assert_eq!(
            json.at(&pointer("/text")).and_then(Json::as_str),
            Some("café \"quoted\"")
        );
        assert_eq!(
            json.at(&pointer("/a~1c")).and_then(Json::as_str),
            Some("escaped key a/c")
        );
        // What serde_json refuses, the reader refuses: bad syntax, a number past f64.
        for bad in [
            r#"{"a":1e400}"#,
            r#"{"a":}"#,
            r#"{"a":"\x"}"#,
            "[1,]",
            "{} x",
        ] {
            assert!(serde_json::from_str::<Json<'_>>(bad).is_err(), "{bad}");
            assert!(serde_json::from_str::<Value>(bad).is_err(), "{bad}");
        }
    }

    /// A keyed list reads in key order with the last of a key written twice, as it did
    /// when it was a `serde_json::Map`.
    #[test]
    fn keyed_lists_keep_serde_json_s_order_and_last_duplicate() {
        let text = r#"{"b":1,"a":2,"c":3,"a":4,"\u0061":5,"":6}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        let json = parsed(text);
        let read: Vec<(String, Value)> = entries(&json, "snapshot")
            .unwrap()
            .into_iter()
            .map(|(key, entry)| (key.unwrap().to_string(), to_value(entry)))
            .collect();
        let expected: Vec<(String, Value)> = value
            .as_object()
            .unwrap()
            .iter()
            .map(|(key, entry)| (key.clone(), entry.clone()))
            .collect();
        assert_eq!(read, expected);
        assert_eq!(read.len(), 4);
        assert!(matches!(
            entries(&parsed("\"not a list\""), "snapshot"),
            Err(MessageError::Malformed(_))
        ));
    }

    #[test]
    fn a_refused_value_shows_as_serde_json_would_write_it() {
        for text in [
            "null",
            "true",
            "false",
            "0",
            "-7",
            "3.0",
            "1e20",
            "-0.5",
            "1.5e-7",
            "18446744073709551615",
            r#""x""#,
            r#""\u001b[2Jevil\u202e""#,
            "[1]",
            r#"{"a":1}"#,
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(shown(&parsed(text)), shown_value(&value), "{text}");
        }
        assert_eq!(shown(&parsed("3.0")), "3.0");
    }

    /// A mapping reads keys and values written with escapes, the key "" (`/`), array
    /// elements by index (never `01` or `-`), and the last of a key written twice.
    #[test]
    fn pointers_read_escaped_empty_indexed_and_repeated_keys() {
        let mut reader = reader(
            r#"
[messages]
discriminator = "/kind"
[messages.update]
match = ["upd"]
user_id = "/us~1er/i~0d"
username = "//0/name"
status = "/st"
[messages.status]
online = ["on"]
away = ["away"]
"#,
        );
        let read = |reader: &mut MappedReader, text: &str| match reader.read_text(text, MAX) {
            Ok(ServerMessage::StatusUpdate(record)) => Ok((
                record.user_id.to_string(),
                record.username.to_string(),
                record.status.to_string(),
            )),
            Ok(other) => panic!("{text}: {other:?}"),
            Err(error) => Err(error),
        };
        let ok = |id: &str, name: &str, status: &str| {
            Ok((id.to_string(), name.to_string(), status.to_string()))
        };
        assert_eq!(
            read(
                &mut reader,
                r#"{"kind":"upd","us/er":{"i~d":"\u0041da"},"":[{"name":"Z\u00fcri"}],"st":"\u006fn"}"#
            ),
            ok("Ada", "Züri", "online")
        );
        // The last of a key written twice, the discriminator too.
        assert_eq!(
            read(
                &mut reader,
                r#"{"kind":"chat","kind":"upd","us/er":{"i~d":1,"i~d":2},"st":"away","st":"on"}"#
            ),
            ok("2", "", "online")
        );
        // "us/er" is not "us" then "er"; "i~d" is not "i/d".
        assert_eq!(
            read(
                &mut reader,
                r#"{"kind":"upd","us":{"er":{"i~d":1}},"st":"on"}"#
            ),
            Err(MessageError::MissingField {
                kind: "update",
                field: "user_id"
            })
        );
        assert_eq!(
            read(&mut reader, r#"{"kind":"upd","us/er":{"i/d":1},"st":"on"}"#),
            Err(MessageError::MissingField {
                kind: "update",
                field: "user_id"
            })
        );
        // An object's "0" is a key like any other; an array has no element "00" or "-".
        assert_eq!(
            read(
                &mut reader,
                r#"{"kind":"upd","us/er":{"i~d":3},"":{"0":{"name":"keyed"}},"st":"on"}"#
            ),
            ok("3", "keyed", "online")
        );
        let mut strict = super::tests::reader(
            "[messages.update]\nmatch = [\"u\"]\nuser_id = \"/ids/01\"\nstatus = \"/ids/-\"\n",
        );
        assert_eq!(
            strict.read_text(r#"{"type":"u","ids":[1,2,3]}"#, MAX),
            Err(MessageError::MissingField {
                kind: "update",
                field: "user_id"
            })
        );
        assert_eq!(
            strict.read_text(r#"{"type":"u","ids":{"01":5,"-":"dash"}}"#, MAX),
            reader_update("5", "dash")
        );
    }

    fn reader_update(id: &str, status: &str) -> Result<ServerMessage, MessageError> {
        Ok(ServerMessage::StatusUpdate(FriendRecord {
            user_id: FriendId::from(id),
            username: Default::default(),
            status: Status::new(status),
            last_seen: None,
            seq: None,
        }))
    }

    /// A Socket.IO event reads as the same frame would.
    #[test]
    fn an_event_reads_as_its_frame_would() {
        for text in [
            changed(json!(true)),
            changed(json!("idle")),
            changed(json!(3.0)),
            r#"{"event":"presence.changed","data":{"user":{"id":-4,"id":18446744073709551615},"state":false,"at":"1733450000"}}"#.to_string(),
            r#"{"event":"presence.changed","data":{"user":{"id":"\u0041"},"state":"active","at":null}}"#.to_string(),
            r#"{"event":"presence.changed","data":{"user":{},"state":true}}"#.to_string(),
            r#"{"event":"typing"}"#.to_string(),
        ] {
            let value: Value = serde_json::from_str(&text).unwrap();
            let name = value["event"].as_str().unwrap();
            assert_eq!(
                reader(CUSTOM).read_event(name, &value),
                Some(reader(CUSTOM).read_text(&text, MAX)),
                "{text}"
            );
        }
    }

    /// JSON text for the property below: objects may repeat keys and write them with
    /// escapes, which a `serde_json::Value` cannot hold.
    #[derive(Debug, Clone)]
    enum Frame {
        Leaf(&'static str),
        Array(Vec<Frame>),
        Object(Vec<(&'static str, bool, Frame)>),
    }

    const FRAME_KEYS: &[&str] = &["", "a", "a/b", "a~b", "~1", "0", "1", "01", "-", "ü", "q\""];

    fn frame() -> impl proptest::strategy::Strategy<Value = Frame> {
        use proptest::prelude::*;
        let leaf = proptest::sample::select(
            &[
                "null",
                "true",
                "1",
                "-2",
                "2.5",
                "3.0",
                "\"x\"",
                "\"\\u0041\\n\"",
                "1e3",
                "18446744073709551615",
                "-9223372036854775808",
            ][..],
        )
        .prop_map(Frame::Leaf);
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Frame::Array),
                proptest::collection::vec(
                    (proptest::sample::select(FRAME_KEYS), any::<bool>(), inner),
                    0..6
                )
                .prop_map(Frame::Object),
            ]
        })
    }

    fn write_frame(frame: &Frame, out: &mut String) {
        match frame {
            Frame::Leaf(text) => out.push_str(text),
            Frame::Array(items) => {
                out.push('[');
                for (at, item) in items.iter().enumerate() {
                    if at > 0 {
                        out.push(',');
                    }
                    write_frame(item, out);
                }
                out.push(']');
            }
            Frame::Object(members) => {
                out.push('{');
                for (at, (key, escaped, member)) in members.iter().enumerate() {
                    if at > 0 {
                        out.push(',');
                    }
                    if *escaped {
                        out.push('"');
                        for c in key.chars() {
                            out.push_str(&format!("\\u{:04x}", u32::from(c)));
                        }
                        out.push('"');
                    } else {
                        out.push_str(&serde_json::to_string(key).unwrap());
                    }
                    out.push(':');
                    write_frame(member, out);
                }
                out.push('}');
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_lookup_agrees_with_serde_json(
            frame in frame(),
            pointers in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::sample::select(
                        [FRAME_KEYS, &["00", "2", "+1", "x"][..]].concat()
                    ),
                    0..4,
                ),
                1..8,
            ),
        ) {
            let mut text = String::new();
            write_frame(&frame, &mut text);
            let value: Value = serde_json::from_str(&text).unwrap();
            let json = parsed(&text);
            proptest::prop_assert_eq!(to_value(&json), value.clone());
            proptest::prop_assert_eq!(to_value(&Json::borrowing(&value)), value.clone());
            for tokens in pointers {
                let at: String = tokens
                    .iter()
                    .map(|t| format!("/{}", t.replace('~', "~0").replace('/', "~1")))
                    .collect();
                let expected = value.pointer(&at).cloned();
                proptest::prop_assert_eq!(json.at(&pointer(&at)).map(to_value), expected.clone(), "{}", at);
                proptest::prop_assert_eq!(pointer(&at).resolve(&value).cloned(), expected, "{}", at);
            }
            if let (Value::Object(map), Ok(read)) = (&value, entries(&json, "snapshot")) {
                let read: Vec<(String, Value)> = read
                    .into_iter()
                    .map(|(key, entry)| (key.unwrap_or_default().to_string(), to_value(entry)))
                    .collect();
                let expected: Vec<(String, Value)> =
                    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                proptest::prop_assert_eq!(read, expected);
            }
        }
    }
}
