//! Engine.IO v4 and Socket.IO v5 framing over a WebSocket, for Socket.IO backends
//! (seed 003).
//!
//! Kith speaks the protocol itself instead of embedding a Socket.IO client, because a
//! client library would bring its own reconnection, backoff and auth retry, and those
//! must stay Kith's (one state machine, one token manager). Only what a presence feed
//! needs is here: the open packet, heartbeats, CONNECT with `auth: {token}`,
//! CONNECT_ERROR, DISCONNECT and EVENT packets on the default namespace.

use serde_json::Value;

use crate::protocol::messages::{FriendList, FriendRecord, MessageError, ServerMessage};

/// What one Engine.IO text frame means to Kith.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// Engine.IO open (`0{…}`): the session is up; CONNECT may be sent.
    Open,
    /// Engine.IO ping (`2`): answer with [`PONG`].
    Ping,
    /// Anything else that only shows the peer is alive (pong, noop, other namespaces, acks).
    Alive,
    /// Engine.IO close (`1`) or Socket.IO DISCONNECT (`41`): the server ends the session.
    Closed,
    /// A Socket.IO packet that maps onto Kith's own messages: CONNECT (`40`) is
    /// `AuthSuccess`, CONNECT_ERROR (`44`) is `AuthError`, and EVENT (`42`)
    /// `status_update` / `presence_snapshot` are presence.
    Message(ServerMessage),
}

/// Engine.IO pong, the answer to a server ping.
pub const PONG: &str = "3";

/// The Socket.IO CONNECT packet for the default namespace, carrying `auth: {token}`.
/// The result holds the token: send it, never log it.
pub fn connect_packet(token: &str) -> String {
    format!("40{}", serde_json::json!({ "token": token }))
}

/// Decodes one text frame. Frames longer than `max_bytes` are refused before parsing.
pub fn decode(text: &str, max_bytes: usize) -> Result<Inbound, MessageError> {
    if text.len() > max_bytes {
        return Err(MessageError::Oversized {
            len: text.len(),
            max: max_bytes,
        });
    }
    let mut chars = text.chars();
    match chars.next() {
        Some('0') => Ok(Inbound::Open),
        Some('1') => Ok(Inbound::Closed),
        Some('2') => Ok(Inbound::Ping),
        Some('3') | Some('5') | Some('6') => Ok(Inbound::Alive),
        Some('4') => decode_socketio(&text[1..]),
        _ => Err(MessageError::Malformed(format!(
            "not an Engine.IO packet: {:?}",
            text.chars().take(16).collect::<String>()
        ))),
    }
}

fn decode_socketio(packet: &str) -> Result<Inbound, MessageError> {
    let kind = packet
        .chars()
        .next()
        .ok_or_else(|| MessageError::Malformed("empty Socket.IO packet".into()))?;
    let mut rest = &packet[kind.len_utf8()..];
    // A namespace other than "/" is written "/name,"; Kith only uses the default one.
    if rest.starts_with('/') {
        return Ok(Inbound::Alive);
    }
    // An ack id may precede the payload.
    rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    match kind {
        '0' => Ok(Inbound::Message(ServerMessage::AuthSuccess)),
        '1' => Ok(Inbound::Closed),
        '2' => decode_event(rest).map(Inbound::Message),
        '4' => {
            let message = serde_json::from_str::<Value>(rest)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| "connection refused".into());
            Ok(Inbound::Message(ServerMessage::AuthError { message }))
        }
        '3' | '5' | '6' => Ok(Inbound::Alive),
        other => Err(MessageError::Malformed(format!(
            "unknown Socket.IO packet type {other:?}"
        ))),
    }
}

fn decode_event(payload: &str) -> Result<ServerMessage, MessageError> {
    let value: Value = serde_json::from_str(payload)
        .map_err(|error| MessageError::Malformed(error.to_string()))?;
    let Value::Array(mut items) = value else {
        return Err(MessageError::Malformed(
            "an EVENT payload must be an array".into(),
        ));
    };
    if items.is_empty() {
        return Err(MessageError::Malformed("an EVENT without a name".into()));
    }
    let data = if items.len() > 1 {
        items.swap_remove(1)
    } else {
        Value::Null
    };
    let name = items
        .first()
        .and_then(Value::as_str)
        .ok_or_else(|| MessageError::Malformed("an EVENT name must be a string".into()))?;
    match name {
        "status_update" => {
            let record = serde_json::from_value::<FriendRecord>(data)
                .map_err(|error| MessageError::Malformed(error.to_string()))?;
            // The same caps as the JSON protocol's (see `messages`).
            record.check()?;
            Ok(ServerMessage::StatusUpdate(record))
        }
        "presence_snapshot" => {
            let seq = data.get("seq").and_then(Value::as_u64);
            let friends = data
                .get("friends")
                .cloned()
                .ok_or(MessageError::MissingField {
                    kind: "presence_snapshot",
                    field: "friends",
                })?;
            let friends = serde_json::from_value::<FriendList>(friends)
                .map_err(|error| MessageError::Malformed(error.to_string()))?
                .into_friends()?;
            Ok(ServerMessage::Snapshot { friends, seq })
        }
        other => Err(MessageError::UnknownType(other.chars().take(64).collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 1 << 20;

    #[test]
    fn engine_io_control_packets() {
        assert_eq!(
            decode(
                r#"0{"sid":"x","pingInterval":25000,"pingTimeout":20000}"#,
                MAX
            ),
            Ok(Inbound::Open)
        );
        assert_eq!(decode("2", MAX), Ok(Inbound::Ping));
        assert_eq!(decode("3", MAX), Ok(Inbound::Alive));
        assert_eq!(decode("1", MAX), Ok(Inbound::Closed));
        assert_eq!(decode("41", MAX), Ok(Inbound::Closed));
    }

    #[test]
    fn connect_and_connect_error() {
        assert_eq!(
            decode(r#"40{"sid":"abc"}"#, MAX),
            Ok(Inbound::Message(ServerMessage::AuthSuccess))
        );
        assert_eq!(
            decode(r#"44{"message":"token expired"}"#, MAX),
            Ok(Inbound::Message(ServerMessage::AuthError {
                message: "token expired".into()
            }))
        );
        let packet = connect_packet("t\"k");
        assert!(packet.starts_with("40{"));
        let value: Value = serde_json::from_str(&packet[2..]).unwrap();
        assert_eq!(value["token"], "t\"k");
    }

    #[test]
    fn events_become_presence_messages() {
        let update = decode(
            r#"42["status_update",{"type":"status_update","user_id":3,"username":"bob","status":"online","last_seen":"2026-11-22T09:00:00.000Z"}]"#,
            MAX,
        )
        .unwrap();
        let Inbound::Message(ServerMessage::StatusUpdate(record)) = update else {
            panic!("{update:?}")
        };
        assert_eq!(record.username, "bob");
        let snapshot = decode(
            r#"4212["presence_snapshot",{"friends":[{"user_id":1,"status":"offline"}]}]"#,
            MAX,
        )
        .unwrap();
        assert!(matches!(
            snapshot,
            Inbound::Message(ServerMessage::Snapshot { ref friends, .. }) if friends.len() == 1
        ));
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        assert!(matches!(decode("", MAX), Err(MessageError::Malformed(_))));
        assert!(matches!(decode("x", MAX), Err(MessageError::Malformed(_))));
        assert!(matches!(
            decode("42{not json", MAX),
            Err(MessageError::Malformed(_))
        ));
        assert!(matches!(
            decode("42[]", MAX),
            Err(MessageError::Malformed(_))
        ));
        assert_eq!(
            decode(r#"42["chat",{}]"#, MAX),
            Err(MessageError::UnknownType("chat".into()))
        );
        assert!(matches!(
            decode("2", 0),
            Err(MessageError::Oversized { .. })
        ));
        assert_eq!(decode("42/admin,[\"x\"]", MAX), Ok(Inbound::Alive));
        // A multi-byte character where the packet type should be.
        assert!(matches!(decode("4Ⱥ", MAX), Err(MessageError::Malformed(_))));
    }

    #[test]
    fn events_have_the_same_caps_as_json_messages() {
        use crate::protocol::messages::{MAX_FRIENDS, MAX_TEXT_CHARS};
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        let update =
            format!(r#"42["status_update",{{"user_id":3,"username":"{long}","status":"online"}}]"#);
        assert!(matches!(
            decode(&update, MAX),
            Err(MessageError::TooLong {
                field: "username",
                ..
            })
        ));
        let snapshot =
            format!(r#"42["presence_snapshot",{{"friends":[{{"user_id":1,"status":"{long}"}}]}}]"#);
        assert!(matches!(
            decode(&snapshot, MAX),
            Err(MessageError::TooLong {
                field: "status",
                ..
            })
        ));
        let many = vec![r#"{"user_id":1,"status":"a"}"#; MAX_FRIENDS + 1].join(",");
        let snapshot = format!(r#"42["presence_snapshot",{{"friends":[{many}]}}]"#);
        assert!(matches!(
            decode(&snapshot, snapshot.len()),
            Err(MessageError::TooManyFriends { .. })
        ));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_frames_never_panic(text in ".{0,64}") {
            let _ = decode(&text, MAX);
        }
    }
}
