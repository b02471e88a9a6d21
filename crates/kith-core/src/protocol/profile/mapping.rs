//! The presence mapping of a profile (`[messages]`): a backend's own message shapes,
//! described as data, so that Kith reads presence in the backend's words without a
//! code path per backend.
//!
//! Without a `[messages]` table nothing changes: Kith reads its own vocabulary
//! (`status_update`, `presence_snapshot`) with its fast reader. With one, the table
//! says
//! - how a message is told apart: `discriminator`, a JSON pointer (RFC 6901) to a text
//!   field, and per kind the values (`match`) that mean it; for Socket.IO the `match`
//!   values are event names;
//! - per kind where its fields are: an `update` (one friend), a `snapshot` (every
//!   friend, replacing what Kith knows), a `members` list (who is present: online), a
//!   join/leave `diff`, or something to `ignore`;
//! - a `status` map from the backend's status values (text or booleans) to `online`,
//!   `away` and `offline`.
//!
//! Everything is checked when the profile is read: a bad pointer, a `match` value
//! listed twice, a status map that cannot reach `online` are refused with the line and
//! column of the table (a TOML file) or the field's name (a profile built in code).
//! Reading messages with a mapping is [`crate::protocol::MappedReader`]'s.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use super::pointer::JsonPointer;
use crate::protocol::messages::MAX_TEXT_CHARS;

/// The longest accepted `match` value, in characters.
pub const MAX_MATCH_CHARS: usize = 128;

/// The most `match` values one kind may list.
pub const MAX_MATCH_VALUES: usize = 64;

/// The most values one status may list in the status map.
pub const MAX_STATUS_VALUES: usize = 64;

/// A mapping that cannot be used: the field (`messages.…`) and what is wrong, in words
/// that quote nothing from the profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct MappingError {
    /// The field, as `messages.kind.name`.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl MappingError {
    pub(super) fn new(field: &'static str, reason: impl Into<String>) -> Self {
        MappingError {
            field,
            reason: reason.into(),
        }
    }
}

/// How a mapped `last_seen` is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    /// RFC 3339 text, e.g. `2026-11-22T09:00:00Z` (kept as written).
    #[default]
    Rfc3339,
    /// Seconds since the Unix epoch, a number (or text holding one).
    EpochSeconds,
    /// Milliseconds since the Unix epoch, a number (or text holding one).
    EpochMillis,
}

/// Whose presence a member list gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberScope {
    /// The whole set of friends: everyone listed is online, and every friend Kith knows
    /// who is not listed is offline.
    AllFriends,
    /// One room's members: everyone listed is online; a list turns nobody offline.
    Room,
}

/// A value a backend uses for a status: text (`"active"`) or a boolean (`true`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatusValue {
    /// A boolean.
    Flag(bool),
    /// Text, matched exactly (case and all).
    Text(String),
}

impl StatusValue {
    /// Whether `value` (from a message) is this value: text to text, boolean to
    /// boolean; a boolean never matches the text `"true"`.
    pub fn matches(&self, value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::Bool(flag) => self.matches_flag(*flag),
            serde_json::Value::String(text) => self.matches_text(text),
            _ => false,
        }
    }

    /// Whether the boolean `flag` (from a message) is this value.
    pub fn matches_flag(&self, flag: bool) -> bool {
        matches!(self, StatusValue::Flag(own) if *own == flag)
    }

    /// Whether the text `text` (from a message) is this value; never a boolean.
    pub fn matches_text(&self, text: &str) -> bool {
        matches!(self, StatusValue::Text(own) if own == text)
    }
}

/// The backend's status values for each of Kith's three statuses. A value in no list
/// is refused when it arrives ([`MessageError::UnmappedStatus`]), never guessed.
///
/// [`MessageError::UnmappedStatus`]: crate::protocol::MessageError::UnmappedStatus
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "StatusMapFields")]
pub struct StatusMap {
    /// Values that mean online; at least one.
    pub online: Vec<StatusValue>,
    /// Values that mean away.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub away: Vec<StatusValue>,
    /// Values that mean offline.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub offline: Vec<StatusValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusMapFields {
    #[serde(default)]
    online: Vec<StatusValue>,
    #[serde(default)]
    away: Vec<StatusValue>,
    #[serde(default)]
    offline: Vec<StatusValue>,
}

impl TryFrom<StatusMapFields> for StatusMap {
    type Error = String;
    fn try_from(fields: StatusMapFields) -> Result<Self, String> {
        let map = StatusMap {
            online: fields.online,
            away: fields.away,
            offline: fields.offline,
        };
        map.check().map_err(|error| error.reason)?;
        Ok(map)
    }
}

impl StatusMap {
    /// Kith's status for `value` (`online`, `away` or `offline`), if the map names it.
    pub fn lookup(&self, value: &serde_json::Value) -> Option<&'static str> {
        self.find(|v| v.matches(value))
    }

    /// Kith's status for the boolean `flag`, if the map names it.
    pub fn lookup_flag(&self, flag: bool) -> Option<&'static str> {
        self.find(|v| v.matches_flag(flag))
    }

    /// Kith's status for the text `text`, if the map names it.
    pub fn lookup_text(&self, text: &str) -> Option<&'static str> {
        self.find(|v| v.matches_text(text))
    }

    /// The first of `online`, `away` and `offline` that lists a value `is` accepts.
    fn find(&self, is: impl Fn(&StatusValue) -> bool) -> Option<&'static str> {
        [
            ("online", &self.online),
            ("away", &self.away),
            ("offline", &self.offline),
        ]
        .into_iter()
        .find(|(_, values)| values.iter().any(&is))
        .map(|(status, _)| status)
    }

    /// Checks that `online` can be reached, and that no value is listed twice, empty or
    /// too long.
    pub fn check(&self) -> Result<(), MappingError> {
        const FIELD: &str = "messages.status";
        if self.online.is_empty() {
            return Err(MappingError::new(
                FIELD,
                "the status map cannot reach online: list at least one value under online",
            ));
        }
        let mut seen: Vec<&StatusValue> = Vec::new();
        for (status, values) in [
            ("online", &self.online),
            ("away", &self.away),
            ("offline", &self.offline),
        ] {
            if values.len() > MAX_STATUS_VALUES {
                return Err(MappingError::new(
                    FIELD,
                    format!("{status} lists more than {MAX_STATUS_VALUES} values"),
                ));
            }
            for value in values {
                if let StatusValue::Text(text) = value {
                    if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
                        return Err(MappingError::new(
                            FIELD,
                            format!(
                                "a value under {status} is empty or longer than {MAX_TEXT_CHARS} characters"
                            ),
                        ));
                    }
                }
                if seen.contains(&value) {
                    return Err(MappingError::new(
                        FIELD,
                        format!("a value under {status} is listed twice"),
                    ));
                }
                seen.push(value);
            }
        }
        Ok(())
    }
}

/// Where one friend's fields are in a message (an update) or in a list's entry (a
/// snapshot): pointers relative to that value.
#[derive(Debug, Clone, Copy)]
pub struct RecordPointers<'a> {
    /// The friend's id: text, or a whole number.
    pub user_id: &'a JsonPointer,
    /// Their display name, text; optional.
    pub username: Option<&'a JsonPointer>,
    /// Their status, through the status map.
    pub status: &'a JsonPointer,
    /// When they were last seen, in `last_seen_format`; optional.
    pub last_seen: Option<&'a JsonPointer>,
    /// How `last_seen` is written.
    pub last_seen_format: TimeFormat,
    /// The change's sequence number, a whole number; optional.
    pub seq: Option<&'a JsonPointer>,
}

/// `[messages.update]`: one friend's presence changed. Pointers start at the message
/// (for Socket.IO, at the event's first argument).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateMapping {
    /// The discriminator values (Socket.IO: event names) that mean an update.
    #[serde(rename = "match", deserialize_with = "match_values")]
    pub values: Vec<String>,
    /// The friend's id.
    pub user_id: JsonPointer,
    /// The friend's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<JsonPointer>,
    /// The friend's status.
    pub status: JsonPointer,
    /// When the friend was last seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<JsonPointer>,
    /// How `last_seen` is written.
    #[serde(default)]
    pub last_seen_format: TimeFormat,
    /// The change's sequence number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<JsonPointer>,
}

impl UpdateMapping {
    /// Where the record's fields are.
    pub fn record(&self) -> RecordPointers<'_> {
        RecordPointers {
            user_id: &self.user_id,
            username: self.username.as_ref(),
            status: &self.status,
            last_seen: self.last_seen.as_ref(),
            last_seen_format: self.last_seen_format,
            seq: self.seq.as_ref(),
        }
    }
}

/// `[messages.snapshot]`: every friend's presence, replacing what Kith knows (friends
/// not listed are forgotten), like Kith's own `presence_snapshot`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotMapping {
    /// The values that mean a snapshot.
    #[serde(rename = "match", deserialize_with = "match_values")]
    pub values: Vec<String>,
    /// Where the list is in the message: an array of records, or an object whose keys
    /// are the friends' ids and whose values are their records.
    pub list: JsonPointer,
    /// The id, in each record (not read for an object's entries, whose key is the id).
    #[serde(default)]
    pub user_id: JsonPointer,
    /// The display name, in each record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<JsonPointer>,
    /// The status, in each record.
    pub status: JsonPointer,
    /// When last seen, in each record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<JsonPointer>,
    /// How `last_seen` is written.
    #[serde(default)]
    pub last_seen_format: TimeFormat,
    /// A sequence number, in each record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<JsonPointer>,
}

impl SnapshotMapping {
    /// Where each record's fields are.
    pub fn record(&self) -> RecordPointers<'_> {
        RecordPointers {
            user_id: &self.user_id,
            username: self.username.as_ref(),
            status: &self.status,
            last_seen: self.last_seen.as_ref(),
            last_seen_format: self.last_seen_format,
            seq: self.seq.as_ref(),
        }
    }
}

/// `[messages.members]`: who is present. Everyone listed is online; with
/// `scope = "all_friends"` every other friend Kith knows is offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembersMapping {
    /// The values that mean a member list.
    #[serde(rename = "match", deserialize_with = "match_values")]
    pub values: Vec<String>,
    /// Where the list is: an array of members, or an object keyed by their ids.
    pub list: JsonPointer,
    /// Whether the list is the whole set of friends or one room's members.
    pub scope: MemberScope,
    /// The id, in each member (`""`: the member is the id itself).
    #[serde(default)]
    pub user_id: JsonPointer,
    /// The display name, in each member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<JsonPointer>,
}

/// `[messages.diff]`: who joined and who left. Leaves are applied first (offline),
/// then joins (online), each in the order listed, so that a friend in both (a device
/// swapped) ends online.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffMapping {
    /// The values that mean a diff.
    #[serde(rename = "match", deserialize_with = "match_values")]
    pub values: Vec<String>,
    /// Where the joins are: an array of members, or an object keyed by their ids.
    /// Missing or `null` means none.
    pub joins: JsonPointer,
    /// Where the leaves are, in the same shapes.
    pub leaves: JsonPointer,
    /// The id, in each member (`""`: the member is the id itself).
    #[serde(default)]
    pub user_id: JsonPointer,
    /// The display name, in each member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<JsonPointer>,
}

/// `[messages.ignore]`: messages that are expected and are not presence (`typing`,
/// `chat`): counted like any message Kith does not consume, never warned about, and
/// never tried as Kith's own vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreMapping {
    /// The values to ignore.
    #[serde(rename = "match", deserialize_with = "match_values")]
    pub values: Vec<String>,
}

/// The kinds of message a mapping tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// `[messages.update]`.
    Update,
    /// `[messages.snapshot]`.
    Snapshot,
    /// `[messages.members]`.
    Members,
    /// `[messages.diff]`.
    Diff,
    /// `[messages.ignore]`.
    Ignore,
}

impl MessageKind {
    /// The kind's name in a profile.
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Update => "update",
            MessageKind::Snapshot => "snapshot",
            MessageKind::Members => "members",
            MessageKind::Diff => "diff",
            MessageKind::Ignore => "ignore",
        }
    }
}

/// The discriminator when a `[messages]` table names none: `/type`, as Kith's own
/// vocabulary has it.
pub const DEFAULT_DISCRIMINATOR: &str = "/type";

/// `[messages]`: a backend's presence messages in its own words. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "MessageMappingFields")]
pub struct MessageMapping {
    /// Where the text that tells messages apart is (JSON protocol; Socket.IO events
    /// are told apart by name). Default `/type`.
    pub discriminator: JsonPointer,
    /// One friend's presence changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update: Option<UpdateMapping>,
    /// Every friend's presence, replacing what Kith knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotMapping>,
    /// Who is present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<MembersMapping>,
    /// Who joined and who left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<DiffMapping>,
    /// Messages to ignore quietly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore: Option<IgnoreMapping>,
    /// The backend's status values; without it, text statuses are taken as written
    /// and any other status is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusMap>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageMappingFields {
    #[serde(default = "default_discriminator")]
    discriminator: JsonPointer,
    #[serde(default)]
    update: Option<UpdateMapping>,
    #[serde(default)]
    snapshot: Option<SnapshotMapping>,
    #[serde(default)]
    members: Option<MembersMapping>,
    #[serde(default)]
    diff: Option<DiffMapping>,
    #[serde(default)]
    ignore: Option<IgnoreMapping>,
    #[serde(default)]
    status: Option<StatusMap>,
}

fn default_discriminator() -> JsonPointer {
    JsonPointer::checked(DEFAULT_DISCRIMINATOR)
}

impl TryFrom<MessageMappingFields> for MessageMapping {
    type Error = String;
    fn try_from(fields: MessageMappingFields) -> Result<Self, String> {
        let mapping = MessageMapping {
            discriminator: fields.discriminator,
            update: fields.update,
            snapshot: fields.snapshot,
            members: fields.members,
            diff: fields.diff,
            ignore: fields.ignore,
            status: fields.status,
        };
        mapping.check().map_err(|error| error.to_string())?;
        Ok(mapping)
    }
}

impl Default for MessageMapping {
    /// A mapping with no kind yet (not valid until it has one), discriminator `/type`.
    fn default() -> Self {
        MessageMapping {
            discriminator: default_discriminator(),
            update: None,
            snapshot: None,
            members: None,
            diff: None,
            ignore: None,
            status: None,
        }
    }
}

/// A kind's `match` list as read: bounded, non-empty, no value twice.
fn match_values<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let values = Vec::<String>::deserialize(deserializer)?;
    check_values(&values).map_err(|error| de::Error::custom(error.reason))?;
    Ok(values)
}

fn check_values(values: &[String]) -> Result<(), MappingError> {
    const FIELD: &str = "messages.match";
    if values.is_empty() {
        return Err(MappingError::new(FIELD, "match lists no value"));
    }
    if values.len() > MAX_MATCH_VALUES {
        return Err(MappingError::new(
            FIELD,
            format!("match lists more than {MAX_MATCH_VALUES} values"),
        ));
    }
    for (at, value) in values.iter().enumerate() {
        if value.is_empty() || value.chars().count() > MAX_MATCH_CHARS {
            return Err(MappingError::new(
                FIELD,
                format!("a match value is empty or longer than {MAX_MATCH_CHARS} characters"),
            ));
        }
        if values[..at].contains(value) {
            return Err(MappingError::new(FIELD, "match lists a value twice"));
        }
    }
    Ok(())
}

impl MessageMapping {
    /// Every `match` value with its kind, in the order kinds are listed here.
    pub fn kinds(&self) -> impl Iterator<Item = (&str, MessageKind)> {
        let lists: [(Option<&Vec<String>>, MessageKind); 5] = [
            (self.update.as_ref().map(|k| &k.values), MessageKind::Update),
            (
                self.snapshot.as_ref().map(|k| &k.values),
                MessageKind::Snapshot,
            ),
            (
                self.members.as_ref().map(|k| &k.values),
                MessageKind::Members,
            ),
            (self.diff.as_ref().map(|k| &k.values), MessageKind::Diff),
            (self.ignore.as_ref().map(|k| &k.values), MessageKind::Ignore),
        ];
        lists.into_iter().flat_map(|(values, kind)| {
            values
                .into_iter()
                .flatten()
                .map(move |value| (value.as_str(), kind))
        })
    }

    /// Checks the whole mapping: at least one presence kind, each kind's `match` list,
    /// no value meaning two kinds, and the status map. (Pointers are checked when they
    /// are made.)
    pub fn check(&self) -> Result<(), MappingError> {
        if self.update.is_none()
            && self.snapshot.is_none()
            && self.members.is_none()
            && self.diff.is_none()
        {
            return Err(MappingError::new(
                "messages",
                "maps no presence message: add update, snapshot, members or diff",
            ));
        }
        for (values, field) in [
            (
                self.update.as_ref().map(|k| &k.values),
                "messages.update.match",
            ),
            (
                self.snapshot.as_ref().map(|k| &k.values),
                "messages.snapshot.match",
            ),
            (
                self.members.as_ref().map(|k| &k.values),
                "messages.members.match",
            ),
            (self.diff.as_ref().map(|k| &k.values), "messages.diff.match"),
            (
                self.ignore.as_ref().map(|k| &k.values),
                "messages.ignore.match",
            ),
        ] {
            if let Some(values) = values {
                check_values(values).map_err(|error| MappingError::new(field, error.reason))?;
            }
        }
        let mut seen: Vec<(&str, MessageKind)> = Vec::new();
        for (value, kind) in self.kinds() {
            if let Some((_, first)) = seen.iter().find(|(v, _)| *v == value) {
                return Err(MappingError::new(
                    "messages",
                    format!(
                        "a match value is listed under both {} and {}: one value, one kind",
                        first.name(),
                        kind.name()
                    ),
                ));
            }
            seen.push((value, kind));
        }
        if let Some(status) = &self.status {
            status.check()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::profile::MAX_POINTER_BYTES;
    use crate::protocol::{ProfileError, ServerProfile};

    fn toml_error(text: &str) -> (usize, usize, String) {
        match ServerProfile::from_toml(text) {
            Err(ProfileError::Toml {
                line,
                column,
                reason,
            }) => (line, column, reason),
            other => panic!("{text}: expected a TOML error, got {other:?}"),
        }
    }

    const DJANGO: &str = r#"
[messages]
discriminator = "/type"

[messages.members]
match = ["presence"]
list = "/payload/members"
scope = "all_friends"
user_id = "/id"
username = "/username"
"#;

    #[test]
    fn a_mapping_reads_and_round_trips() {
        let profile = ServerProfile::from_toml(DJANGO).unwrap();
        let mapping = profile.messages.as_ref().unwrap();
        let members = mapping.members.as_ref().unwrap();
        assert_eq!(members.scope, MemberScope::AllFriends);
        assert_eq!(members.list.as_str(), "/payload/members");
        assert_eq!(
            mapping.kinds().collect::<Vec<_>>(),
            vec![("presence", MessageKind::Members)]
        );
        assert_eq!(
            ServerProfile::from_toml(&profile.to_toml()).unwrap(),
            profile
        );
        // Without the table, nothing is mapped.
        assert_eq!(ServerProfile::default().messages, None);
        // The discriminator defaults to /type.
        let profile = ServerProfile::from_toml(
            "[messages.update]\nmatch = [\"p\"]\nuser_id = \"/id\"\nstatus = \"/s\"",
        )
        .unwrap();
        assert_eq!(
            profile.messages.unwrap().discriminator.as_str(),
            DEFAULT_DISCRIMINATOR
        );
    }

    #[test]
    fn bad_pointers_are_refused_with_their_line_and_column() {
        for (pointer, words) in [
            ("payload/members", "starts with /"),
            ("/a~2b", "~0 or ~1"),
            ("/a~", "~0 or ~1"),
        ] {
            let text = DJANGO.replace("/payload/members", pointer);
            let (line, column, reason) = toml_error(&text);
            assert_eq!(line, 7, "{pointer}: {reason}");
            assert!(column > 1, "{pointer}: {column}");
            assert!(reason.contains(words), "{pointer}: {reason}");
        }
        let long = format!("/{}", "a".repeat(MAX_POINTER_BYTES));
        let (_, _, reason) = toml_error(&DJANGO.replace("/payload/members", &long));
        assert!(reason.contains("at most"), "{reason}");
        for good in ["", "/", "/a~0b/~1c/0", "/payload/members/0"] {
            JsonPointer::new(good).unwrap();
        }
    }

    #[test]
    fn a_status_map_must_reach_online_and_list_each_value_once() {
        let base = "[messages.update]\nmatch = [\"p\"]\nuser_id = \"/id\"\nstatus = \"/s\"\n[messages.status]\n";
        let (line, _, reason) = toml_error(&format!("{base}away = [\"idle\"]\noffline = [false]"));
        assert_eq!(line, 5, "{reason}");
        assert!(reason.contains("cannot reach online"), "{reason}");
        let (line, _, reason) = toml_error(&format!(
            "{base}online = [true, \"active\"]\noffline = [true]"
        ));
        assert_eq!(line, 5, "{reason}");
        assert!(reason.contains("twice"), "{reason}");
        let profile = ServerProfile::from_toml(&format!(
            "{base}online = [true, \"active\", \"true\"]\naway = [\"idle\"]\noffline = [false]"
        ))
        .unwrap();
        let status = profile.messages.unwrap().status.unwrap();
        use serde_json::json;
        assert_eq!(status.lookup(&json!(true)), Some("online"));
        assert_eq!(status.lookup(&json!("true")), Some("online"));
        assert_eq!(status.lookup(&json!(false)), Some("offline"));
        assert_eq!(status.lookup(&json!("idle")), Some("away"));
        assert_eq!(status.lookup(&json!("Idle")), None);
        assert_eq!(status.lookup(&json!(1)), None);
        // The same, for a value the reader holds as a boolean or as text.
        assert_eq!(status.lookup_flag(true), Some("online"));
        assert_eq!(status.lookup_flag(false), Some("offline"));
        assert_eq!(status.lookup_text("true"), Some("online"));
        assert_eq!(status.lookup_text("idle"), Some("away"));
        assert_eq!(status.lookup_text("Idle"), None);
        assert_eq!(status.lookup_text("false"), None);
        // A status value that is neither text nor a boolean is refused at load.
        let (line, _, _) = toml_error(&format!("{base}online = [1]"));
        assert!(line >= 5);
    }

    #[test]
    fn duplicate_values_and_kinds_are_refused() {
        // The same value under two kinds.
        let text = format!(
            "{DJANGO}\n[messages.update]\nmatch = [\"presence\"]\nuser_id = \"/id\"\nstatus = \"/s\"\n"
        );
        let (line, _, reason) = toml_error(&text);
        assert!(reason.contains("both update and members"), "{reason}");
        assert!(line >= 1);
        // The same value twice in one list, with the list's line.
        let (line, _, reason) = toml_error(&DJANGO.replace(
            "match = [\"presence\"]",
            "match = [\"presence\", \"presence\"]",
        ));
        assert_eq!(line, 6, "{reason}");
        assert!(reason.contains("twice"), "{reason}");
        // The same kind twice is a TOML error of its own.
        let (line, _, _) = toml_error(&format!("{DJANGO}\n[messages.members]\nmatch = [\"x\"]\n"));
        assert!(line >= 12, "{line}");
        // A kind without values, or a mapping with no presence kind.
        let (_, _, reason) = toml_error(&DJANGO.replace("[\"presence\"]", "[]"));
        assert!(reason.contains("no value"), "{reason}");
        let (_, _, reason) = toml_error("[messages.ignore]\nmatch = [\"typing\"]\n");
        assert!(reason.contains("no presence message"), "{reason}");
        // Unknown fields and kinds are named, and the error quotes nothing of the file.
        let (_, _, reason) = toml_error(&format!("{DJANGO}\nsecret_field_xyz = 1\n"));
        assert!(!reason.contains("secret_field_xyz"), "{reason}");
        let (_, _, reason) = toml_error("[messages.presence_xyz]\nmatch = [\"p\"]\n");
        assert!(reason.contains("members"), "{reason}");
        assert!(!reason.contains("presence_xyz"), "{reason}");
    }

    /// profiles/samples/: each sample loads, maps, is no preset, and reads a message of
    /// the backend it stands for.
    #[test]
    fn sample_profiles_load_and_read_their_backends_messages() {
        use crate::protocol::{MappedReader, ServerMessage, PRESETS};
        use std::sync::Arc;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../profiles/samples");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|entry| {
                let name = entry.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(".toml").map(str::to_owned)
            })
            .collect();
        names.sort();
        assert_eq!(names, ["custom-shape", "django-channels-presence"]);
        let message = |name: &str| match name {
            "django-channels-presence" => {
                r#"{"type":"presence","payload":{"channel_name":"friends","members":[{"id":1,"username":"me"},{"id":2,"username":"alice"}],"lurkers":0}}"#
            }
            _ => {
                r#"{"event":"presence.changed","data":{"user":{"id":"u_12","name":"Ada"},"state":true,"at":1733450000}}"#
            }
        };
        for name in &names {
            let profile = ServerProfile::from_file(&dir.join(format!("{name}.toml")))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&profile.name, name);
            assert!(
                !PRESETS.iter().any(|p| p.name == name),
                "{name} is a sample, not a preset"
            );
            assert!(ServerProfile::preset(name, profile.server.clone()).is_err());
            let mut reader =
                MappedReader::new(Arc::new(profile.messages.clone().expect("a mapping")));
            let read = reader.read_text(message(name), 1 << 16);
            let friends = match read {
                Ok(ServerMessage::Members(friends)) => friends,
                Ok(ServerMessage::StatusUpdate(record)) => vec![record],
                other => panic!("{name}: {other:?}"),
            };
            assert!(
                friends.iter().all(|f| f.status == "online"),
                "{name}: {friends:?}"
            );
            assert_eq!(
                ServerProfile::from_toml(&profile.to_toml()).unwrap(),
                profile,
                "{name} round-trips"
            );
        }
    }

    #[test]
    fn a_mapping_built_in_code_is_checked_by_validate() {
        let mut profile = ServerProfile {
            messages: Some(MessageMapping::default()),
            ..ServerProfile::default()
        };
        assert!(matches!(
            profile.validate(),
            Err(ProfileError::Invalid {
                field: "messages",
                ..
            })
        ));
        let mut mapping = ServerProfile::from_toml(DJANGO).unwrap().messages.unwrap();
        mapping.status = Some(StatusMap {
            online: Vec::new(),
            away: vec![StatusValue::Text("idle".into())],
            offline: Vec::new(),
        });
        profile.messages = Some(mapping);
        assert!(matches!(
            profile.validate(),
            Err(ProfileError::Invalid {
                field: "messages.status",
                ..
            })
        ));
    }
}
