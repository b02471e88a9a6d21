//! Structured fuzzing of what arrives on the presence socket: valid frames, then the
//! same frames mutated (byte flips, truncation, splices, insertions), fed to
//! `parse_server_message` (and so the flat update reader in front of it) and to the
//! Socket.IO decoder. The properties: nothing panics, anything refused is a typed
//! `MessageError`, what is accepted respects the caps on names, statuses and
//! snapshots, and the flat reader agrees with serde_json on every frame it accepts.
//!
//! A coverage-guided fuzzer needs nightly or an LLVM toolchain this project's CI does
//! not have, so these run as ordinary tests with a bounded number of cases:
//! `KITH_FUZZ_CASES` (default 256) per property.

mod common;

use kith_core::protocol::messages::{MAX_FRIENDS, MAX_TEXT_CHARS};
use kith_core::protocol::socketio::{Inbound, SioSession};

/// Decodes one frame on a fresh session of the default namespace.
fn decode(text: &str, max: usize) -> Result<Inbound, MessageError> {
    SioSession::new("/", max).handle_text(text)
}
use kith_core::protocol::{parse_server_message, FriendRecord, MessageError, ServerMessage};
use proptest::prelude::*;

const MAX: usize = 1 << 20;

fn config() -> ProptestConfig {
    common::fuzz_config()
}

/// One way of damaging a frame.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR one byte (position as a fraction of the length) with a mask.
    Flip(f64, u8),
    /// Keep only a prefix.
    Truncate(f64),
    /// Insert bytes.
    Insert(f64, Vec<u8>),
    /// Remove a range.
    Remove(f64, f64),
    /// Copy a range of the frame over another place in it.
    Splice(f64, f64, f64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = 0.0..1.0f64;
    prop_oneof![
        (at.clone(), any::<u8>()).prop_map(|(a, m)| Mutation::Flip(a, m)),
        at.clone().prop_map(Mutation::Truncate),
        (
            at.clone(),
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 1..6),
                prop_oneof![
                    Just(b"\\".to_vec()),
                    Just(b"\"".to_vec()),
                    Just(b",".to_vec()),
                    Just(b"{".to_vec()),
                    Just(b"]".to_vec()),
                    Just(b"\\u0000".to_vec()),
                    Just(b"\\ud800".to_vec()),
                    Just("é".as_bytes().to_vec()),
                    Just(b"-1".to_vec()),
                    Just(b"1e400".to_vec()),
                    Just(b"18446744073709551616".to_vec()),
                ],
            ]
        )
            .prop_map(|(a, bytes)| Mutation::Insert(a, bytes)),
        (at.clone(), at.clone()).prop_map(|(a, b)| Mutation::Remove(a, b)),
        (at.clone(), at.clone(), at).prop_map(|(a, b, c)| Mutation::Splice(a, b, c)),
    ]
}

fn index(len: usize, at: f64) -> usize {
    ((len as f64 * at) as usize).min(len)
}

fn mutate(frame: &str, mutations: &[Mutation]) -> String {
    let mut bytes = frame.as_bytes().to_vec();
    for mutation in mutations {
        let len = bytes.len();
        match mutation {
            Mutation::Flip(at, mask) => {
                if len > 0 {
                    let i = index(len - 1, *at);
                    bytes[i] ^= mask;
                }
            }
            Mutation::Truncate(at) => bytes.truncate(index(len, *at)),
            Mutation::Insert(at, insert) => {
                let i = index(len, *at);
                bytes.splice(i..i, insert.iter().copied());
            }
            Mutation::Remove(a, b) => {
                let (a, b) = (index(len, *a), index(len, *b));
                bytes.drain(a.min(b)..a.max(b));
            }
            Mutation::Splice(from, to, dest) => {
                let (a, b) = (index(len, *from), index(len, *to));
                let piece: Vec<u8> = bytes[a.min(b)..a.max(b)].to_vec();
                let dest = index(len, *dest);
                let end = (dest + piece.len()).min(len);
                bytes.splice(dest..end, piece);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A JSON string of text near the caps and with characters JSON must escape.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 _.-]{0,24}",
        1 => "[\\PC\"\\\\\n\t]{0,16}",
        1 => (MAX_TEXT_CHARS - 2..MAX_TEXT_CHARS + 3, "[aé😀]").prop_map(|(n, c)| c.repeat(n)),
    ]
}

fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        text().prop_map(|t| json_string(&t)),
        Just("1.5".to_string()),
        Just("null".to_string()),
        Just("[]".to_string()),
    ]
}

/// The fields of a presence record, in some order, some missing.
fn record_fields() -> impl Strategy<Value = Vec<String>> {
    (
        proptest::option::weighted(0.95, id()),
        proptest::option::weighted(0.8, text()),
        proptest::option::weighted(0.95, text()),
        proptest::option::of(prop_oneof![
            "[0-9T:.Z-]{0,30}".prop_map(|t| json_string(&t)),
            any::<u64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| serde_json::json!(f).to_string()),
        ]),
        proptest::option::of(prop_oneof![
            any::<u64>().prop_map(|n| n.to_string()),
            Just("-1".to_string()),
            Just("null".to_string()),
        ]),
        proptest::option::of(Just(r#""mood":{"a":[1,2]}"#.to_string())),
    )
        .prop_map(|(id, name, status, seen, seq, extra)| {
            let mut fields = Vec::new();
            if let Some(id) = id {
                fields.push(format!(r#""user_id":{id}"#));
            }
            if let Some(name) = name {
                fields.push(format!(r#""username":{}"#, json_string(&name)));
            }
            if let Some(status) = status {
                fields.push(format!(r#""status":{}"#, json_string(&status)));
            }
            if let Some(seen) = seen {
                fields.push(format!(r#""last_seen":{seen}"#));
            }
            if let Some(seq) = seq {
                fields.push(format!(r#""seq":{seq}"#));
            }
            fields.extend(extra);
            fields
        })
        .prop_shuffle()
}

fn object(fields: &[String]) -> String {
    format!("{{{}}}", fields.join(","))
}

/// A server frame of the JSON protocol, usually well formed.
fn frame() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => record_fields().prop_map(|mut fields| {
            fields.insert(0, r#""type":"status_update""#.to_string());
            object(&fields)
        }),
        2 => (proptest::collection::vec(record_fields(), 0..6), any::<u32>()).prop_map(
            |(records, seq)| {
                let friends: Vec<String> = records.iter().map(|r| object(r)).collect();
                format!(
                    r#"{{"type":"presence_snapshot","seq":{seq},"friends":[{}]}}"#,
                    friends.join(",")
                )
            }
        ),
        1 => text().prop_map(|m| format!(r#"{{"type":"auth_error","message":{}}}"#, json_string(&m))),
        1 => text().prop_map(|m| format!(r#"{{"type":"error","code":"x","message":{}}}"#, json_string(&m))),
        1 => prop_oneof![
            Just(r#"{"type":"auth_success"}"#.to_string()),
            Just(r#"{"type":"PONG"}"#.to_string()),
            Just(r#"{"type":"chat","text":"hi"}"#.to_string()),
        ],
    ]
}

/// Checks what `parse_server_message` or `decode` accepted against the caps.
fn check_accepted(message: &ServerMessage) -> Result<(), TestCaseError> {
    let check_record = |record: &FriendRecord| -> Result<(), TestCaseError> {
        prop_assert!(record.username.chars().count() <= MAX_TEXT_CHARS);
        prop_assert!(record.status.chars().count() <= MAX_TEXT_CHARS);
        Ok(())
    };
    match message {
        ServerMessage::StatusUpdate(record) => check_record(record)?,
        ServerMessage::Snapshot { friends, .. } => {
            prop_assert!(friends.len() <= MAX_FRIENDS);
            for record in friends {
                check_record(record)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A refusal must be one of the typed kinds, and say something.
fn check_refused(error: &MessageError) -> Result<(), TestCaseError> {
    match error {
        MessageError::Oversized { .. }
        | MessageError::Malformed(_)
        | MessageError::UnknownType(_)
        | MessageError::MissingField { .. }
        | MessageError::TooLong { .. }
        | MessageError::TooManyFriends { .. }
        | MessageError::UnmappedStatus { .. }
        | MessageError::BinaryRefused { .. } => {}
    }
    prop_assert!(!error.to_string().is_empty());
    Ok(())
}

/// The same frame with `"type"` written with an escape, which the flat reader never
/// takes: serde_json then reads it, and must read it the same.
fn escaped_type(frame: &str) -> Option<String> {
    frame
        .contains(r#""type""#)
        .then(|| frame.replacen(r#""type""#, r#""typ\u0065""#, 1))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn valid_frames_parse_or_are_refused_with_a_type(frame in frame()) {
        match parse_server_message(&frame, MAX) {
            Ok(message) => {
                check_accepted(&message)?;
                if let Some(escaped) = escaped_type(&frame) {
                    prop_assert_eq!(parse_server_message(&escaped, MAX), Ok(message));
                }
            }
            Err(error) => check_refused(&error)?,
        }
    }

    #[test]
    fn mutated_frames_never_panic(
        frame in frame(),
        mutations in proptest::collection::vec(mutation(), 1..4),
        max in prop_oneof![Just(MAX), 0usize..64],
    ) {
        let text = mutate(&frame, &mutations);
        match parse_server_message(&text, max) {
            Ok(message) => {
                check_accepted(&message)?;
                // Whichever reader took the frame, serde_json reads it the same.
                if let Some(escaped) = escaped_type(&text) {
                    prop_assert_eq!(parse_server_message(&escaped, usize::MAX), Ok(message));
                }
            }
            Err(error) => check_refused(&error)?,
        }
    }
}

/// An Engine.IO / Socket.IO text frame, usually well formed.
fn packet() -> impl Strategy<Value = String> {
    let prefix = prop_oneof![
        Just("0"),
        Just("1"),
        Just("2"),
        Just("3"),
        Just("4"),
        Just("5"),
        Just("6"),
        Just("7"),
        Just("40"),
        Just("41"),
        Just("42"),
        Just("43"),
        Just("44"),
        Just("45"),
        Just("46"),
        Just("49"),
        Just("4é"),
        Just(""),
    ];
    let namespace = prop_oneof![4 => Just(""), 1 => Just("/admin,")];
    let ack = prop_oneof![3 => Just(String::new()), 1 => any::<u32>().prop_map(|n| n.to_string())];
    let payload = prop_oneof![
        3 => record_fields().prop_map(|fields| format!(r#"["status_update",{}]"#, object(&fields))),
        2 => proptest::collection::vec(record_fields(), 0..5).prop_map(|records| {
            let friends: Vec<String> = records.iter().map(|r| object(r)).collect();
            format!(r#"["presence_snapshot",{{"seq":3,"friends":[{}]}}]"#, friends.join(","))
        }),
        1 => text().prop_map(|m| format!(r#"{{"message":{}}}"#, json_string(&m))),
        1 => prop_oneof![
            Just(r#"{"sid":"abc","pingInterval":25000}"#.to_string()),
            Just("[]".to_string()),
            Just(r#"["chat",{}]"#.to_string()),
            Just(r#"[1,2]"#.to_string()),
            Just(r#"["presence_snapshot"]"#.to_string()),
            Just(String::new()),
        ],
    ];
    (prefix, namespace, ack, payload)
        .prop_map(|(prefix, namespace, ack, payload)| format!("{prefix}{namespace}{ack}{payload}"))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn socketio_packets_decode_or_are_refused_with_a_type(
        packet in packet(),
        mutations in proptest::collection::vec(mutation(), 0..3),
        max in prop_oneof![Just(MAX), 0usize..32],
    ) {
        let text = mutate(&packet, &mutations);
        match decode(&text, max) {
            Ok(Inbound::Message(message)) => check_accepted(&message)?,
            Ok(Inbound::Open { .. } | Inbound::Alive | Inbound::Disconnected) => {}
            Err(error) => check_refused(&error)?,
        }
    }

    /// A status update reads the same as a JSON message and as a Socket.IO event.
    #[test]
    fn socketio_events_agree_with_json_messages(fields in record_fields()) {
        let json = {
            let mut fields = fields.clone();
            fields.insert(0, r#""type":"status_update""#.to_string());
            object(&fields)
        };
        let event = format!(r#"42["status_update",{}]"#, object(&fields));
        let from_json = parse_server_message(&json, MAX);
        let from_event = decode(&event, MAX);
        match (from_json, from_event) {
            (Ok(message), Ok(Inbound::Message(event))) => prop_assert_eq!(message, event),
            (Err(MessageError::TooLong { field, .. }), Err(MessageError::TooLong { field: event_field, .. })) => {
                prop_assert_eq!(field, event_field)
            }
            (Err(_), Err(_)) => {}
            (json, event) => prop_assert!(false, "json {:?} but event {:?}", json, event),
        }
    }
}
