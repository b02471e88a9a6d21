//! Structured fuzzing of the presence mapping (`[messages]`): random mappings, built in
//! code and round-tripped through TOML, read random messages, as JSON frames, as
//! Socket.IO events, and as text that is not JSON at all. The properties: nothing
//! panics; a mapping is accepted by `check()` exactly when its TOML is accepted, and
//! then reads back equal; every message gives a typed result; what is accepted
//! respects the caps and speaks Kith's statuses when a status map is set; a refused
//! status value is cleaned and bounded.
//!
//! Bounded case count for CI: `KITH_FUZZ_CASES` (default 256) per property.

mod common;

use std::sync::Arc;

use kith_core::protocol::mapped::MAX_SHOWN_VALUE_CHARS;
use kith_core::protocol::messages::MAX_TEXT_CHARS;
use kith_core::protocol::profile::{
    DiffMapping, IgnoreMapping, MembersMapping, SnapshotMapping, UpdateMapping,
};
use kith_core::protocol::socketio::{Inbound, SioSession};
use kith_core::protocol::{
    FriendRecord, JsonPointer, MappedReader, MemberScope, MessageError, MessageMapping,
    ProfileError, ServerMessage, ServerProfile, StatusMap, StatusValue, TimeFormat,
};
use proptest::prelude::*;
use serde_json::Value;

const MAX: usize = 1 << 20;

fn config() -> ProptestConfig {
    common::fuzz_config()
}

/// The keys messages and pointers are made of, so that they meet often.
const KEYS: &[&str] = &[
    "type", "event", "data", "user", "id", "name", "state", "at", "seq", "payload", "members",
    "joins", "leaves", "0", "1", "a~b", "a/b",
];

/// The values `match` lists and discriminators are made of.
const WORDS: &[&str] = &[
    "presence",
    "presence.changed",
    "typing",
    "status_update",
    "presence_snapshot",
    "auth_success",
    "PONG",
    "active",
    "idle",
    "online",
    "",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(WORDS).prop_map(str::to_owned),
        1 => "[a-z.\\u{1b}\\u{202e}]{0,6}",
        1 => Just("x".repeat(MAX_TEXT_CHARS + 1)),
    ]
}

/// A pointer's text: mostly valid, built from KEYS (escaped), sometimes not one.
fn pointer_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => proptest::collection::vec(proptest::sample::select(KEYS), 0..4).prop_map(|keys| {
            keys.iter()
                .map(|k| format!("/{}", k.replace('~', "~0").replace('/', "~1")))
                .collect::<String>()
        }),
        1 => "[a-z/~0-9]{0,8}",
        1 => Just("/".repeat(300)),
    ]
}

fn pointer() -> impl Strategy<Value = JsonPointer> {
    pointer_text().prop_map(|text| JsonPointer::new(&text).unwrap_or_default())
}

fn status_value() -> impl Strategy<Value = StatusValue> {
    prop_oneof![
        any::<bool>().prop_map(StatusValue::Flag),
        word().prop_map(StatusValue::Text),
    ]
}

fn status_map() -> impl Strategy<Value = StatusMap> {
    let values = || proptest::collection::vec(status_value(), 0..3);
    (values(), values(), values()).prop_map(|(online, away, offline)| StatusMap {
        online,
        away,
        offline,
    })
}

fn format() -> impl Strategy<Value = TimeFormat> {
    prop_oneof![
        Just(TimeFormat::Rfc3339),
        Just(TimeFormat::EpochSeconds),
        Just(TimeFormat::EpochMillis),
    ]
}

fn values() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(word(), 0..3)
}

fn mapping() -> impl Strategy<Value = MessageMapping> {
    let update = (
        values(),
        pointer(),
        proptest::option::of(pointer()),
        pointer(),
        proptest::option::of(pointer()),
        format(),
        proptest::option::of(pointer()),
    )
        .prop_map(
            |(values, user_id, username, status, last_seen, last_seen_format, seq)| UpdateMapping {
                values,
                user_id,
                username,
                status,
                last_seen,
                last_seen_format,
                seq,
            },
        );
    let snapshot = (
        values(),
        pointer(),
        pointer(),
        proptest::option::of(pointer()),
        pointer(),
        format(),
    )
        .prop_map(
            |(values, list, user_id, username, status, last_seen_format)| SnapshotMapping {
                values,
                list,
                user_id,
                username,
                status,
                last_seen: None,
                last_seen_format,
                seq: None,
            },
        );
    let members = (
        values(),
        pointer(),
        any::<bool>(),
        pointer(),
        proptest::option::of(pointer()),
    )
        .prop_map(|(values, list, all, user_id, username)| MembersMapping {
            values,
            list,
            scope: if all {
                MemberScope::AllFriends
            } else {
                MemberScope::Room
            },
            user_id,
            username,
        });
    let diff = (
        values(),
        pointer(),
        pointer(),
        pointer(),
        proptest::option::of(pointer()),
    )
        .prop_map(|(values, joins, leaves, user_id, username)| DiffMapping {
            values,
            joins,
            leaves,
            user_id,
            username,
        });
    (
        pointer(),
        proptest::option::of(update),
        proptest::option::of(snapshot),
        proptest::option::of(members),
        proptest::option::of(diff),
        proptest::option::of(values().prop_map(|values| IgnoreMapping { values })),
        proptest::option::of(status_map()),
    )
        .prop_map(
            |(discriminator, update, snapshot, members, diff, ignore, status)| MessageMapping {
                discriminator,
                update,
                snapshot,
                members,
                diff,
                ignore,
                status,
            },
        )
}

/// `mapping` made valid: each `match` value kept under its first kind only (and the
/// kind dropped when it has none left), a presence kind added when there is none, and
/// the status map without repeats and with a way to online.
fn repaired(mut mapping: MessageMapping) -> MessageMapping {
    let mut taken: Vec<String> = Vec::new();
    let mut keep = |values: &mut Vec<String>| {
        values.retain(|v| {
            let fine = !v.is_empty() && v.chars().count() <= 128 && !taken.contains(v);
            if fine {
                taken.push(v.clone());
            }
            fine
        });
        !values.is_empty()
    };
    if mapping
        .update
        .as_mut()
        .is_some_and(|k| !keep(&mut k.values))
    {
        mapping.update = None;
    }
    if mapping
        .snapshot
        .as_mut()
        .is_some_and(|k| !keep(&mut k.values))
    {
        mapping.snapshot = None;
    }
    if mapping
        .members
        .as_mut()
        .is_some_and(|k| !keep(&mut k.values))
    {
        mapping.members = None;
    }
    if mapping.diff.as_mut().is_some_and(|k| !keep(&mut k.values)) {
        mapping.diff = None;
    }
    if mapping
        .ignore
        .as_mut()
        .is_some_and(|k| !keep(&mut k.values))
    {
        mapping.ignore = None;
    }
    if mapping.update.is_none()
        && mapping.snapshot.is_none()
        && mapping.members.is_none()
        && mapping.diff.is_none()
    {
        let value = (0..)
            .map(|n| format!("kind{n}"))
            .find(|v| !taken.contains(v))
            .unwrap_or_default();
        mapping.diff = Some(DiffMapping {
            values: vec![value],
            joins: JsonPointer::new("/joins").unwrap(),
            leaves: JsonPointer::new("/leaves").unwrap(),
            user_id: JsonPointer::default(),
            username: None,
        });
    }
    if let Some(status) = mapping.status.as_mut() {
        let mut seen: Vec<StatusValue> = Vec::new();
        for values in [&mut status.online, &mut status.away, &mut status.offline] {
            values.retain(|v| {
                let fine = !matches!(v, StatusValue::Text(t) if t.is_empty() || t.chars().count() > MAX_TEXT_CHARS)
                    && !seen.contains(v);
                if fine {
                    seen.push(v.clone());
                }
                fine
            });
        }
        if status.online.is_empty() {
            status.online.push(
                [StatusValue::Flag(true), StatusValue::Text("on".into())]
                    .into_iter()
                    .find(|v| !seen.contains(v))
                    .unwrap_or(StatusValue::Text("online-value".into())),
            );
        }
    }
    mapping
}

/// JSON made of the same keys and words, with hostile leaves.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e20f64..1e20).prop_map(Value::from),
        Just(Value::from(1_733_450_000u64)),
        Just(Value::from(1_733_450_000_123u64)),
        Just(Value::from("2026-11-22T09:00:00Z")),
        word().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((proptest::sample::select(KEYS), inner), 0..6).prop_map(
                |entries| Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect()
                )
            ),
        ]
    })
}

/// A message: a JSON object whose discriminator-ish fields often hold a mapped word.
fn message() -> impl Strategy<Value = Value> {
    (json(), word(), word()).prop_map(|(body, kind, event)| {
        let mut object = match body {
            Value::Object(map) => map,
            other => {
                let mut map = serde_json::Map::new();
                map.insert("data".into(), other);
                map
            }
        };
        object.insert("type".into(), Value::String(kind));
        object.insert("event".into(), Value::String(event));
        Value::Object(object)
    })
}

fn check_record(record: &FriendRecord, mapped_statuses: bool) -> Result<(), TestCaseError> {
    prop_assert!(!record.user_id.as_str().is_empty());
    prop_assert!(record.username.chars().count() <= MAX_TEXT_CHARS);
    prop_assert!(record.status.chars().count() <= MAX_TEXT_CHARS);
    if mapped_statuses {
        prop_assert!(
            ["online", "away", "offline"].contains(&record.status.as_str()),
            "{:?}",
            record.status
        );
    }
    Ok(())
}

fn check_result(
    result: &Result<ServerMessage, MessageError>,
    mapped_statuses: bool,
) -> Result<(), TestCaseError> {
    match result {
        Ok(ServerMessage::StatusUpdate(record)) => check_record(record, mapped_statuses)?,
        Ok(ServerMessage::Snapshot { friends, .. }) => {
            for record in friends {
                check_record(record, mapped_statuses)?;
            }
        }
        Ok(ServerMessage::Updates(records) | ServerMessage::Members(records)) => {
            for record in records {
                check_record(record, false)?;
                prop_assert!(["online", "offline"].contains(&record.status.as_str()));
            }
        }
        Ok(_) => {}
        Err(MessageError::UnmappedStatus { value }) => {
            prop_assert!(value.chars().count() <= MAX_SHOWN_VALUE_CHARS);
            prop_assert!(!value.chars().any(char::is_control), "{value:?}");
            prop_assert!(!value.contains('\u{202e}'), "{value:?}");
        }
        Err(MessageError::UnknownType(kind)) => prop_assert!(kind.chars().count() <= 64),
        Err(_) => {}
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// A mapping is accepted by `check()` exactly when its TOML is, and reads back equal.
    #[test]
    fn a_mapping_is_valid_in_code_exactly_when_its_toml_is(mapping in mapping()) {
        let valid = mapping.check();
        let profile = ServerProfile { messages: Some(mapping), ..ServerProfile::default() };
        let validated = profile.validate();
        prop_assert_eq!(valid.is_ok(), validated.is_ok());
        if let Err(ProfileError::Invalid { field, .. }) = &validated {
            prop_assert!(field.starts_with("messages"), "{}", field);
        }
        let read = ServerProfile::from_toml(&profile.to_toml());
        match (&valid, read) {
            (Ok(()), Ok(back)) => prop_assert_eq!(back, profile),
            (Ok(()), Err(error)) => prop_assert!(false, "valid but its TOML is refused: {}", error),
            (Err(_), Ok(_)) => prop_assert!(false, "invalid but its TOML is accepted"),
            (Err(_), Err(error)) => {
                let line = matches!(error, ProfileError::Toml { line, .. } if line > 0);
                prop_assert!(line || matches!(error, ProfileError::Invalid { .. }), "{:?}", error);
            }
        }
    }

    /// Random messages through a random valid mapping: typed results, never a panic,
    /// over a socket's sequence of messages (member lists keep state).
    #[test]
    fn random_messages_through_a_random_mapping_give_typed_results(
        mapping in mapping(),
        messages in proptest::collection::vec(message(), 1..8),
        garbage in ".{0,64}",
    ) {
        let mapping = repaired(mapping);
        prop_assert!(mapping.check().is_ok(), "{:?}", mapping.check());
        let mapped_statuses = mapping.status.is_some();
        let mapping = Arc::new(mapping);
        let mut reader = MappedReader::new(Arc::clone(&mapping));
        let mut session = SioSession::with_mapping("/", MAX, Some(Arc::clone(&mapping)));
        for message in &messages {
            let text = message.to_string();
            check_result(&reader.read_text(&text, MAX), mapped_statuses)?;
            // A frame over the limit is refused before it is read.
            prop_assert!(
                matches!(reader.read_text(&text, text.len() - 1), Err(MessageError::Oversized { .. })),
                "oversized"
            );
            for name in [message["type"].as_str().unwrap_or_default(), message["event"].as_str().unwrap_or_default()] {
                if let Some(read) = reader.read_event(name, message) {
                    check_result(&read, mapped_statuses)?;
                }
                let frame = format!("42{}", serde_json::json!([name, message]));
                match session.handle_text(&frame) {
                    Ok(Inbound::Message(read)) => check_result(&Ok(read), mapped_statuses)?,
                    Ok(_) => {}
                    Err(error) => check_result(&Err(error), mapped_statuses)?,
                }
            }
        }
        let _ = reader.read_text(&garbage, MAX);
        let _ = session.handle_text(&garbage);
    }

    /// Arbitrary `[messages]` text: never a panic, always a typed answer, and a parse
    /// error has a place.
    #[test]
    fn arbitrary_messages_tables_never_panic(
        keys in proptest::collection::vec(
            (
                proptest::sample::select(&[
                    "discriminator", "match", "list", "joins", "leaves", "scope", "user_id",
                    "username", "status", "last_seen", "last_seen_format", "seq", "online",
                    "away", "offline",
                ][..]),
                prop_oneof![
                    pointer_text().prop_map(|p| format!("\"{p}\"")),
                    word().prop_map(|w| format!("[\"{}\"]", w.replace(['\\', '"'], ""))),
                    Just("[true, \"active\"]".to_string()),
                    Just("\"all_friends\"".to_string()),
                    Just("\"epoch_seconds\"".to_string()),
                    Just("[]".to_string()),
                    Just("1".to_string()),
                ],
            ),
            0..10,
        ),
        tables in proptest::collection::vec(
            proptest::sample::select(&["", ".update", ".snapshot", ".members", ".diff", ".ignore", ".status", ".other"][..]),
            1..4,
        ),
    ) {
        let mut text = String::new();
        for (at, table) in tables.iter().enumerate() {
            text.push_str(&format!("[messages{table}]\n"));
            for (key, value) in keys.iter().skip(at * 3).take(4) {
                text.push_str(&format!("{key} = {value}\n"));
            }
        }
        match ServerProfile::from_toml(&text) {
            Ok(profile) => {
                let mapping = profile.messages.expect("a [messages] table");
                prop_assert!(mapping.check().is_ok());
            }
            Err(ProfileError::Toml { line, .. }) => prop_assert!(line > 0, "{}", text),
            Err(ProfileError::Invalid { field, .. }) => prop_assert!(field.starts_with("messages")),
            Err(other) => prop_assert!(false, "{:?}", other),
        }
    }
}
