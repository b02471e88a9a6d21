//! Engine.IO v4 and Socket.IO v5 over a WebSocket, for Socket.IO backends (seed 003):
//! the packet codec and the session state of one socket, both pure.
//!
//! Kith speaks the protocol itself instead of embedding a Socket.IO client, because a
//! client library would bring its own reconnection, backoff and auth retry, and those
//! must stay Kith's (one state machine, one token manager). What a presence feed needs
//! is here:
//! - [`Packet`] / [`SioPacket`] with [`decode_packet`] and [`encode_packet`]: every
//!   Engine.IO packet type and every Socket.IO packet shape (namespace, ack id, binary
//!   attachment count), so that what is decoded can be written back unchanged;
//! - [`SioSession`]: one socket's protocol state, quinn-proto style. Frames go in
//!   ([`handle_text`](SioSession::handle_text), [`handle_binary`](SioSession::handle_binary)),
//!   what they mean to Kith comes out as an [`Inbound`], and what must be written back
//!   (pongs, the held CONNECT, ack answers) waits in
//!   [`poll_transmit`](SioSession::poll_transmit). The IO task only moves frames.
//!
//! The session holds the open packet's heartbeat, the namespace (`socket.namespace`),
//! a CONNECT held until Engine.IO is open, whether the namespace is connected (so that
//! a close is preceded by DISCONNECT `41`), and a binary event being reassembled from
//! its attachments.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::protocol::mapped::MappedReader;
use crate::protocol::messages::{FriendList, FriendRecord, MessageError, ServerMessage};
use crate::protocol::profile::MessageMapping;

/// The most binary attachments one event may announce.
pub const MAX_ATTACHMENTS: usize = 16;

/// Engine.IO packet types (the first character of a frame).
#[derive(Debug, Clone, PartialEq)]
pub enum Packet {
    /// `0{…}`: the handshake, with `sid`, `pingInterval`, `pingTimeout`, ….
    Open(Value),
    /// `1`: the server closes the Engine.IO session.
    Close,
    /// `2<data>`: a heartbeat ping (answered with a pong of the same data).
    Ping(String),
    /// `3<data>`: the answer to a ping.
    Pong(String),
    /// `4…`: a Socket.IO packet.
    Message(SioPacket),
    /// `5`: completes a transport upgrade; only liveness on a WebSocket.
    Upgrade,
    /// `6`: no operation.
    Noop,
}

/// Socket.IO packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SioKind {
    /// `0`: connect to a namespace (with the token), or the server's acceptance.
    Connect,
    /// `1`: leave a namespace, or the server ending the session on it.
    Disconnect,
    /// `2`: an event, `["name", …arguments]`.
    Event,
    /// `3`: the answer to an event that asked for one.
    Ack,
    /// `4`: the server refused the CONNECT.
    ConnectError,
    /// `5`: an event with binary attachments.
    BinaryEvent,
    /// `6`: an ack with binary attachments.
    BinaryAck,
}

impl SioKind {
    fn digit(self) -> char {
        match self {
            SioKind::Connect => '0',
            SioKind::Disconnect => '1',
            SioKind::Event => '2',
            SioKind::Ack => '3',
            SioKind::ConnectError => '4',
            SioKind::BinaryEvent => '5',
            SioKind::BinaryAck => '6',
        }
    }

    fn from_digit(c: char) -> Option<SioKind> {
        Some(match c {
            '0' => SioKind::Connect,
            '1' => SioKind::Disconnect,
            '2' => SioKind::Event,
            '3' => SioKind::Ack,
            '4' => SioKind::ConnectError,
            '5' => SioKind::BinaryEvent,
            '6' => SioKind::BinaryAck,
            _ => return None,
        })
    }

    fn is_binary(self) -> bool {
        matches!(self, SioKind::BinaryEvent | SioKind::BinaryAck)
    }
}

/// One Socket.IO packet: `<type>[<attachments>-][<namespace>,][<ack id>][<json>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SioPacket {
    /// The packet's type.
    pub kind: SioKind,
    /// `/` unless the packet names another.
    pub namespace: String,
    /// Binary attachments that follow as binary frames (binary types only).
    pub attachments: usize,
    /// The ack id: the sender wants an answer with this id.
    pub ack: Option<u64>,
    /// The JSON payload, if any.
    pub data: Option<Value>,
}

impl SioPacket {
    fn new(kind: SioKind, namespace: &str) -> Self {
        SioPacket {
            kind,
            namespace: namespace.to_string(),
            attachments: 0,
            ack: None,
            data: None,
        }
    }
}

fn malformed(what: impl Into<String>) -> MessageError {
    MessageError::Malformed(what.into())
}

/// Decodes one Engine.IO text frame into a packet. Frames longer than `max_bytes` are
/// refused before parsing.
pub fn decode_packet(text: &str, max_bytes: usize) -> Result<Packet, MessageError> {
    if text.len() > max_bytes {
        return Err(MessageError::Oversized {
            len: text.len(),
            max: max_bytes,
        });
    }
    let mut chars = text.chars();
    let Some(kind) = chars.next() else {
        return Err(malformed("an empty Engine.IO frame"));
    };
    let rest = chars.as_str();
    match kind {
        '0' => {
            let value = serde_json::from_str::<Value>(rest)
                .map_err(|error| malformed(format!("Engine.IO open packet: {error}")))?;
            if !value.is_object() {
                return Err(malformed("the Engine.IO open packet is not an object"));
            }
            Ok(Packet::Open(value))
        }
        '1' => Ok(Packet::Close),
        '2' => Ok(Packet::Ping(rest.to_string())),
        '3' => Ok(Packet::Pong(rest.to_string())),
        '4' => decode_sio(rest).map(Packet::Message),
        '5' => Ok(Packet::Upgrade),
        '6' => Ok(Packet::Noop),
        _ => Err(malformed(format!(
            "not an Engine.IO packet: {:?}",
            text.chars().take(16).collect::<String>()
        ))),
    }
}

fn decode_sio(packet: &str) -> Result<SioPacket, MessageError> {
    let mut chars = packet.chars();
    let kind = chars
        .next()
        .ok_or_else(|| malformed("an empty Socket.IO packet"))?;
    let kind = SioKind::from_digit(kind)
        .ok_or_else(|| malformed(format!("unknown Socket.IO packet type {kind:?}")))?;
    let mut rest = chars.as_str();
    let mut attachments = 0;
    if kind.is_binary() {
        let (count, after) = rest
            .split_once('-')
            .ok_or_else(|| malformed("a binary packet without its attachment count"))?;
        if count.is_empty() || count.len() > 4 || !count.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed("a bad attachment count"));
        }
        attachments = count
            .parse::<usize>()
            .map_err(|_| malformed("a bad attachment count"))?;
        rest = after;
    }
    let mut namespace = "/";
    if rest.starts_with('/') {
        let (name, after) = rest.split_once(',').unwrap_or((rest, ""));
        namespace = name;
        rest = after;
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let ack = if digits > 0 {
        let id = rest[..digits]
            .parse::<u64>()
            .map_err(|_| malformed("an ack id out of range"))?;
        rest = &rest[digits..];
        Some(id)
    } else {
        None
    };
    let data = if rest.is_empty() {
        None
    } else {
        Some(serde_json::from_str::<Value>(rest).map_err(|error| malformed(error.to_string()))?)
    };
    Ok(SioPacket {
        kind,
        namespace: namespace.to_string(),
        attachments,
        ack,
        data,
    })
}

/// Writes a packet as an Engine.IO text frame; [`decode_packet`] reads it back unchanged.
pub fn encode_packet(packet: &Packet) -> String {
    match packet {
        Packet::Open(value) => format!("0{value}"),
        Packet::Close => "1".into(),
        Packet::Ping(data) => format!("2{data}"),
        Packet::Pong(data) => format!("3{data}"),
        Packet::Message(sio) => {
            let mut out = String::from("4");
            out.push(sio.kind.digit());
            if sio.kind.is_binary() {
                out.push_str(&format!("{}-", sio.attachments));
            }
            if sio.namespace != "/" {
                out.push_str(&sio.namespace);
                out.push(',');
            }
            if let Some(ack) = sio.ack {
                out.push_str(&ack.to_string());
            }
            if let Some(data) = &sio.data {
                out.push_str(&data.to_string());
            }
            out
        }
        Packet::Upgrade => "5".into(),
        Packet::Noop => "6".into(),
    }
}

/// What one frame means to Kith.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// Engine.IO is open; the server's heartbeat, when its open packet gave one.
    Open {
        /// The heartbeat announced, if any.
        heartbeat: Option<Heartbeat>,
    },
    /// A packet that only shows the server is alive (ping, pong, noop, another
    /// namespace, an ack, an attachment still awaited).
    Alive,
    /// The server ended the session: Engine.IO close (`1`) or Socket.IO DISCONNECT
    /// (`41`) on Kith's namespace.
    Disconnected,
    /// A packet that maps onto Kith's own messages: CONNECT is `AuthSuccess`,
    /// CONNECT_ERROR is `AuthError`, and EVENT / BINARY_EVENT `status_update` and
    /// `presence_snapshot` are presence. An ack the server asked for has been queued.
    Message(ServerMessage),
}

/// The heartbeat of an Engine.IO open packet: the server pings every `interval` and
/// waits `timeout` for the pong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// `pingInterval`: how often the server pings.
    pub interval: Duration,
    /// `pingTimeout`: how long it waits for the pong.
    pub timeout: Duration,
}

/// A binary event whose attachments are still arriving.
struct Reassembly {
    packet: SioPacket,
    attachments: Vec<Vec<u8>>,
    bytes: usize,
}

/// One socket's Socket.IO session. See the module docs.
pub struct SioSession {
    namespace: String,
    max_bytes: usize,
    engine_open: bool,
    /// CONNECT written before Engine.IO opened: it carries the token, so it is never
    /// shown in Debug output.
    held_connect: Option<String>,
    /// The namespace is connected (CONNECT answered), so a close sends DISCONNECT.
    connected: bool,
    reassembly: Option<Reassembly>,
    /// A binary event whose attachments never came, not yet reported.
    refusal: Option<MessageError>,
    transmit: VecDeque<String>,
    /// The profile's `[messages]` mapping, read by event name; `None`: Kith's own events.
    mapped: Option<MappedReader>,
}

impl fmt::Debug for SioSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SioSession")
            .field("namespace", &self.namespace)
            .field("engine_open", &self.engine_open)
            .field("connected", &self.connected)
            .field("queued", &self.transmit.len())
            .finish_non_exhaustive()
    }
}

impl SioSession {
    /// A session on `namespace` (as validated by the profile: `/` or `/name`), refusing
    /// frames and reassembled events over `max_bytes`.
    pub fn new(namespace: &str, max_bytes: usize) -> Self {
        Self::with_mapping(namespace, max_bytes, None)
    }

    /// A session that reads events through the profile's `[messages]` mapping (event
    /// names as its `match` values, the first argument as the message), and Kith's
    /// own events (`status_update`, `presence_snapshot`) where the mapping claims none.
    pub fn with_mapping(
        namespace: &str,
        max_bytes: usize,
        mapping: Option<Arc<MessageMapping>>,
    ) -> Self {
        SioSession {
            namespace: namespace.to_string(),
            max_bytes,
            engine_open: false,
            held_connect: None,
            connected: false,
            reassembly: None,
            refusal: None,
            transmit: VecDeque::new(),
            mapped: mapping.map(MappedReader::new),
        }
    }

    /// The namespace this session connects to.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Whether the namespace is connected.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The next frame to write, if any. It may hold the token (CONNECT): send it, never
    /// log it.
    pub fn poll_transmit(&mut self) -> Option<String> {
        self.transmit.pop_front()
    }

    /// Presents `token` in a CONNECT packet (`auth: {token}`), now or once Engine.IO is
    /// open.
    pub fn authenticate(&mut self, token: &str) {
        let mut connect = SioPacket::new(SioKind::Connect, &self.namespace);
        connect.data = Some(serde_json::json!({ "token": token }));
        let frame = encode_packet(&Packet::Message(connect));
        if self.engine_open {
            self.transmit.push_back(frame);
        } else {
            self.held_connect = Some(frame);
        }
    }

    /// The DISCONNECT packet to send before closing the socket, when the namespace is
    /// connected; the session counts as disconnected afterwards.
    pub fn disconnect(&mut self) -> Option<String> {
        if !std::mem::take(&mut self.connected) {
            return None;
        }
        Some(encode_packet(&Packet::Message(SioPacket::new(
            SioKind::Disconnect,
            &self.namespace,
        ))))
    }

    /// Reads one text frame.
    pub fn handle_text(&mut self, text: &str) -> Result<Inbound, MessageError> {
        let packet = decode_packet(text, self.max_bytes);
        // Heartbeats may come between an event and its attachments; anything else
        // means the attachments are not coming: that event is refused (see
        // [`take_refusal`](Self::take_refusal)) and this frame read as usual.
        if !matches!(packet, Ok(Packet::Ping(_) | Packet::Pong(_) | Packet::Noop)) {
            if let Some(lost) = self.reassembly.take() {
                self.refusal = Some(MessageError::BinaryRefused {
                    event: event_name(&lost.packet),
                    reason: "its attachments did not follow it",
                });
            }
        }
        self.on_packet(packet?)
    }

    /// A binary event given up on while reading the last frame, whose own meaning
    /// came back from [`handle_text`](Self::handle_text).
    pub fn take_refusal(&mut self) -> Option<MessageError> {
        self.refusal.take()
    }

    /// Reads one binary frame: an attachment of the binary event being reassembled.
    pub fn handle_binary(&mut self, bytes: &[u8]) -> Result<Inbound, MessageError> {
        let Some(mut reassembly) = self.reassembly.take() else {
            return Err(MessageError::BinaryRefused {
                event: String::new(),
                reason: "a binary frame that no event announced",
            });
        };
        reassembly.bytes = reassembly.bytes.saturating_add(bytes.len());
        if reassembly.bytes > self.max_bytes {
            return Err(MessageError::Oversized {
                len: reassembly.bytes,
                max: self.max_bytes,
            });
        }
        reassembly.attachments.push(bytes.to_vec());
        if reassembly.attachments.len() < reassembly.packet.attachments {
            self.reassembly = Some(reassembly);
            return Ok(Inbound::Alive);
        }
        let Reassembly {
            mut packet,
            attachments,
            ..
        } = reassembly;
        if let Some(data) = packet.data.as_mut() {
            fill_placeholders(data, &attachments)?;
        }
        packet.kind = match packet.kind {
            SioKind::BinaryAck => SioKind::Ack,
            _ => SioKind::Event,
        };
        packet.attachments = 0;
        self.on_event(packet, true)
    }

    fn on_packet(&mut self, packet: Packet) -> Result<Inbound, MessageError> {
        match packet {
            Packet::Open(value) => {
                self.engine_open = true;
                if let Some(frame) = self.held_connect.take() {
                    self.transmit.push_back(frame);
                }
                Ok(Inbound::Open {
                    heartbeat: heartbeat_of(&value),
                })
            }
            Packet::Close => {
                self.connected = false;
                Ok(Inbound::Disconnected)
            }
            Packet::Ping(data) => {
                self.transmit.push_back(encode_packet(&Packet::Pong(data)));
                Ok(Inbound::Alive)
            }
            Packet::Pong(_) | Packet::Upgrade | Packet::Noop => Ok(Inbound::Alive),
            Packet::Message(sio) => self.on_sio(sio),
        }
    }

    fn on_sio(&mut self, packet: SioPacket) -> Result<Inbound, MessageError> {
        if packet.namespace != self.namespace {
            // Another namespace multiplexed on this connection: not Kith's.
            return Ok(Inbound::Alive);
        }
        match packet.kind {
            SioKind::Connect => {
                self.connected = true;
                Ok(Inbound::Message(ServerMessage::AuthSuccess))
            }
            SioKind::ConnectError => {
                let message = packet
                    .data
                    .as_ref()
                    .and_then(|v| v.get("message").and_then(Value::as_str))
                    .map(|m| m.chars().take(256).collect())
                    .unwrap_or_else(|| "connection refused".into());
                Ok(Inbound::Message(ServerMessage::AuthError { message }))
            }
            SioKind::Disconnect => {
                self.connected = false;
                Ok(Inbound::Disconnected)
            }
            SioKind::Ack => Ok(Inbound::Alive),
            SioKind::Event => self.on_event(packet, false),
            SioKind::BinaryEvent | SioKind::BinaryAck => {
                if packet.attachments > MAX_ATTACHMENTS {
                    return Err(MessageError::BinaryRefused {
                        event: event_name(&packet),
                        reason: "more attachments than Kith accepts",
                    });
                }
                if packet.attachments == 0 {
                    let mut packet = packet;
                    packet.kind = match packet.kind {
                        SioKind::BinaryAck => SioKind::Ack,
                        _ => SioKind::Event,
                    };
                    return self.on_event(packet, true);
                }
                self.reassembly = Some(Reassembly {
                    packet,
                    attachments: Vec::new(),
                    bytes: 0,
                });
                Ok(Inbound::Alive)
            }
        }
    }

    /// An event, complete. Presence events are read (and their ack queued); others are
    /// [`MessageError::UnknownType`], or [`MessageError::BinaryRefused`] when they came
    /// with attachments, and get no ack: Kith does not consume them.
    fn on_event(&mut self, packet: SioPacket, binary: bool) -> Result<Inbound, MessageError> {
        if packet.kind == SioKind::Ack {
            return Ok(Inbound::Alive);
        }
        let message = match self.decode_event(packet.data) {
            Err(MessageError::UnknownType(event)) if binary => {
                return Err(MessageError::BinaryRefused {
                    event,
                    reason: "Kith applies binary events only when they are presence events",
                })
            }
            other => other?,
        };
        if let Some(id) = packet.ack {
            let mut ack = SioPacket::new(SioKind::Ack, &self.namespace);
            ack.ack = Some(id);
            ack.data = Some(Value::Array(Vec::new()));
            self.transmit
                .push_back(encode_packet(&Packet::Message(ack)));
        }
        Ok(Inbound::Message(message))
    }

    /// An event's meaning: through the mapping when it claims the event, else as one
    /// of Kith's own events.
    fn decode_event(&mut self, data: Option<Value>) -> Result<ServerMessage, MessageError> {
        let (name, data) = split_event(data)?;
        if let Some(read) = self
            .mapped
            .as_mut()
            .and_then(|mapped| mapped.read_event(&name, &data))
        {
            return read;
        }
        decode_named(&name, data)
    }
}

/// The event name of a packet, for error messages (at most 64 characters).
fn event_name(packet: &SioPacket) -> String {
    packet
        .data
        .as_ref()
        .and_then(|d| d.get(0))
        .and_then(Value::as_str)
        .map(|name| name.chars().take(64).collect())
        .unwrap_or_default()
}

/// `pingInterval` and `pingTimeout` (milliseconds) of an open packet, when both are
/// whole numbers above zero.
fn heartbeat_of(open: &Value) -> Option<Heartbeat> {
    let ms = |field: &str| {
        open.get(field)
            .and_then(Value::as_u64)
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis)
    };
    Some(Heartbeat {
        interval: ms("pingInterval")?,
        timeout: ms("pingTimeout")?,
    })
}

/// Replaces each `{"_placeholder":true,"num":n}` with attachment `n`: its text when it
/// is UTF-8, else its bytes in lowercase hex.
fn fill_placeholders(value: &mut Value, attachments: &[Vec<u8>]) -> Result<(), MessageError> {
    match value {
        Value::Object(map)
            if map.get("_placeholder") == Some(&Value::Bool(true)) && map.len() == 2 =>
        {
            let num = map
                .get("num")
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n < attachments.len())
                .ok_or_else(|| malformed("a placeholder without a matching attachment"))?;
            let bytes = &attachments[num];
            *value = Value::String(match std::str::from_utf8(bytes) {
                Ok(text) => text.to_string(),
                Err(_) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
            });
            Ok(())
        }
        Value::Object(map) => map
            .values_mut()
            .try_for_each(|v| fill_placeholders(v, attachments)),
        Value::Array(items) => items
            .iter_mut()
            .try_for_each(|v| fill_placeholders(v, attachments)),
        _ => Ok(()),
    }
}

/// An EVENT payload's name and first argument (`null` when it has none).
fn split_event(data: Option<Value>) -> Result<(String, Value), MessageError> {
    let Some(Value::Array(mut items)) = data else {
        return Err(malformed("an EVENT payload must be an array"));
    };
    if items.is_empty() {
        return Err(malformed("an EVENT without a name"));
    }
    let data = if items.len() > 1 {
        items.swap_remove(1)
    } else {
        Value::Null
    };
    match items.swap_remove(0) {
        Value::String(name) => Ok((name, data)),
        _ => Err(malformed("an EVENT name must be a string")),
    }
}

/// Kith's own events: `status_update` and `presence_snapshot`.
fn decode_named(name: &str, data: Value) -> Result<ServerMessage, MessageError> {
    match name {
        "status_update" => {
            let record = serde_json::from_value::<FriendRecord>(data)
                .map_err(|error| malformed(error.to_string()))?;
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
                .map_err(|error| malformed(error.to_string()))?
                .into_friends()?;
            Ok(ServerMessage::Snapshot { friends, seq })
        }
        other => Err(MessageError::UnknownType(other.chars().take(64).collect())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAX: usize = 1 << 20;

    fn session() -> SioSession {
        SioSession::new("/", MAX)
    }

    fn drain(session: &mut SioSession) -> Vec<String> {
        std::iter::from_fn(|| session.poll_transmit()).collect()
    }

    const UPDATE: &str = r#"{"user_id":3,"username":"bob","status":"online","last_seen":"2026-11-22T09:00:00.000Z"}"#;

    #[test]
    fn engine_io_packets_of_every_type() {
        assert_eq!(
            decode_packet(
                r#"0{"sid":"x","pingInterval":25000,"pingTimeout":20000}"#,
                MAX
            ),
            Ok(Packet::Open(
                serde_json::json!({"sid":"x","pingInterval":25000,"pingTimeout":20000})
            ))
        );
        assert_eq!(decode_packet("1", MAX), Ok(Packet::Close));
        assert_eq!(decode_packet("2", MAX), Ok(Packet::Ping(String::new())));
        assert_eq!(
            decode_packet("2probe", MAX),
            Ok(Packet::Ping("probe".into()))
        );
        assert_eq!(decode_packet("3", MAX), Ok(Packet::Pong(String::new())));
        assert_eq!(decode_packet("5", MAX), Ok(Packet::Upgrade));
        assert_eq!(decode_packet("6", MAX), Ok(Packet::Noop));
        assert!(matches!(
            decode_packet("0[]", MAX),
            Err(MessageError::Malformed(_))
        ));
        assert!(matches!(
            decode_packet("7", MAX),
            Err(MessageError::Malformed(_))
        ));
        assert!(matches!(
            decode_packet("", MAX),
            Err(MessageError::Malformed(_))
        ));
        assert!(matches!(
            decode_packet("2", 0),
            Err(MessageError::Oversized { .. })
        ));
    }

    #[test]
    fn socketio_packets_of_every_shape() {
        let sio = |text: &str| match decode_packet(text, MAX) {
            Ok(Packet::Message(packet)) => packet,
            other => panic!("{text}: {other:?}"),
        };
        let connect = sio(r#"40{"sid":"abc"}"#);
        assert_eq!(connect.kind, SioKind::Connect);
        assert_eq!(connect.namespace, "/");
        assert_eq!(connect.data, Some(serde_json::json!({"sid":"abc"})));
        let connect = sio(r#"40/presence,{"sid":"abc"}"#);
        assert_eq!(connect.namespace, "/presence");
        let disconnect = sio("41/presence,");
        assert_eq!(disconnect.kind, SioKind::Disconnect);
        assert_eq!(disconnect.namespace, "/presence");
        assert_eq!(disconnect.data, None);
        assert_eq!(sio("41").namespace, "/");
        let event = sio(r#"42/chat,17["hi",1]"#);
        assert_eq!(
            (event.kind, event.namespace.as_str(), event.ack),
            (SioKind::Event, "/chat", Some(17))
        );
        let ack = sio("4312[]");
        assert_eq!((ack.kind, ack.ack), (SioKind::Ack, Some(12)));
        let error = sio(r#"44{"message":"invalid token"}"#);
        assert_eq!(error.kind, SioKind::ConnectError);
        let binary = sio(r#"452-/x,9["file",{"_placeholder":true,"num":0}]"#);
        assert_eq!(
            (
                binary.kind,
                binary.attachments,
                binary.namespace.as_str(),
                binary.ack
            ),
            (SioKind::BinaryEvent, 2, "/x", Some(9))
        );
        let binary_ack = sio(r#"461-3[{"_placeholder":true,"num":0}]"#);
        assert_eq!(
            (binary_ack.kind, binary_ack.attachments),
            (SioKind::BinaryAck, 1)
        );
        for bad in [
            "4",
            "47",
            "45[]",
            "45x-[]",
            "4512345-[]",
            "42[",
            "4299999999999999999999[]",
        ] {
            assert!(
                matches!(decode_packet(bad, MAX), Err(MessageError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_open_packet_gives_the_heartbeat_and_releases_the_held_connect() {
        let mut s = session();
        s.authenticate("t\"k");
        assert!(
            drain(&mut s).is_empty(),
            "CONNECT waits for Engine.IO's open"
        );
        assert_eq!(
            s.handle_text(r#"0{"sid":"x","pingInterval":25000,"pingTimeout":20000}"#),
            Ok(Inbound::Open {
                heartbeat: Some(Heartbeat {
                    interval: Duration::from_secs(25),
                    timeout: Duration::from_secs(20)
                })
            })
        );
        let sent = drain(&mut s);
        assert_eq!(sent.len(), 1);
        assert!(sent[0].starts_with("40{"));
        let value: Value = serde_json::from_str(&sent[0][2..]).unwrap();
        assert_eq!(value["token"], "t\"k");
        // Later CONNECTs (none are needed, but) go out at once.
        s.authenticate("again");
        assert_eq!(drain(&mut s).len(), 1);
        // No heartbeat, or a nonsensical one: none.
        for open in [
            r#"0{"sid":"x"}"#,
            r#"0{"pingInterval":0,"pingTimeout":5}"#,
            r#"0{"pingInterval":-1,"pingTimeout":5}"#,
        ] {
            assert_eq!(
                session().handle_text(open),
                Ok(Inbound::Open { heartbeat: None })
            );
        }
        // Debug output never shows the held token.
        let mut s = session();
        s.authenticate("sekrit-token");
        assert!(!format!("{s:?}").contains("sekrit"));
    }

    #[test]
    fn pings_are_answered_with_the_same_data() {
        let mut s = session();
        assert_eq!(s.handle_text("2"), Ok(Inbound::Alive));
        assert_eq!(s.handle_text("2probe"), Ok(Inbound::Alive));
        assert_eq!(drain(&mut s), ["3", "3probe"]);
    }

    #[test]
    fn pongs_noops_and_upgrades_only_show_the_server_is_alive() {
        let mut s = session();
        for frame in ["3", "3probe", "5", "6"] {
            assert_eq!(s.handle_text(frame), Ok(Inbound::Alive), "{frame}");
        }
        assert!(drain(&mut s).is_empty(), "nothing is answered");
        assert!(!s.is_connected());
    }

    #[test]
    fn connect_connect_error_and_disconnect() {
        let mut s = session();
        assert!(!s.is_connected());
        assert_eq!(s.disconnect(), None, "nothing to disconnect yet");
        assert_eq!(
            s.handle_text(r#"40{"sid":"abc"}"#),
            Ok(Inbound::Message(ServerMessage::AuthSuccess))
        );
        assert!(s.is_connected());
        assert_eq!(s.disconnect().as_deref(), Some("41"));
        assert_eq!(s.disconnect(), None, "once");
        assert_eq!(
            session().handle_text(r#"44{"message":"token expired"}"#),
            Ok(Inbound::Message(ServerMessage::AuthError {
                message: "token expired".into()
            }))
        );
        assert_eq!(
            session().handle_text("44"),
            Ok(Inbound::Message(ServerMessage::AuthError {
                message: "connection refused".into()
            }))
        );
        let mut s = session();
        s.handle_text("40").unwrap();
        assert_eq!(s.handle_text("41"), Ok(Inbound::Disconnected));
        assert_eq!(s.disconnect(), None, "the server already ended it");
        assert_eq!(session().handle_text("1"), Ok(Inbound::Disconnected));
    }

    #[test]
    fn a_namespace_is_used_for_connect_events_acks_and_disconnect() {
        let mut s = SioSession::new("/presence", MAX);
        s.handle_text(r#"0{"sid":"x"}"#).unwrap();
        s.authenticate("tok");
        let connect = drain(&mut s).remove(0);
        assert!(connect.starts_with("40/presence,{"), "{connect}");
        // The default namespace's packets are not Kith's here.
        assert_eq!(s.handle_text(r#"40{"sid":"a"}"#), Ok(Inbound::Alive));
        assert_eq!(s.handle_text("41"), Ok(Inbound::Alive));
        assert_eq!(
            s.handle_text(r#"40/presence,{"sid":"a"}"#),
            Ok(Inbound::Message(ServerMessage::AuthSuccess))
        );
        let event = format!(r#"42/presence,7["status_update",{UPDATE}]"#);
        assert!(matches!(
            s.handle_text(&event),
            Ok(Inbound::Message(ServerMessage::StatusUpdate(_)))
        ));
        assert_eq!(drain(&mut s), ["43/presence,7[]"]);
        assert_eq!(
            s.handle_text(&format!(r#"42["status_update",{UPDATE}]"#)),
            Ok(Inbound::Alive)
        );
        assert_eq!(s.disconnect().as_deref(), Some("41/presence,"));
        let mut s = SioSession::new("/presence", MAX);
        s.handle_text("40/presence,").unwrap();
        assert_eq!(s.handle_text("41/presence,"), Ok(Inbound::Disconnected));
    }

    #[test]
    fn events_become_presence_messages_and_acks_are_answered() {
        let mut s = session();
        let update = s
            .handle_text(&format!(r#"42["status_update",{UPDATE}]"#))
            .unwrap();
        let Inbound::Message(ServerMessage::StatusUpdate(record)) = update else {
            panic!("{update:?}")
        };
        assert_eq!(record.username, "bob");
        assert!(drain(&mut s).is_empty(), "no ack was asked for");
        let snapshot = s
            .handle_text(
                r#"4212["presence_snapshot",{"friends":[{"user_id":1,"status":"offline"}]}]"#,
            )
            .unwrap();
        assert!(matches!(
            snapshot,
            Inbound::Message(ServerMessage::Snapshot { ref friends, .. }) if friends.len() == 1
        ));
        assert_eq!(drain(&mut s), ["4312[]"]);
        // An event Kith does not consume gets no ack.
        assert_eq!(
            s.handle_text(r#"429["chat",{"text":"hi"}]"#),
            Err(MessageError::UnknownType("chat".into()))
        );
        assert!(drain(&mut s).is_empty());
        // Acks from the server are only liveness.
        assert_eq!(s.handle_text("433[]"), Ok(Inbound::Alive));
    }

    #[test]
    fn binary_events_are_reassembled_from_their_attachments() {
        let mut s = session();
        let header = r#"451-4["status_update",{"user_id":3,"username":"bob","status":"online","avatar":{"_placeholder":true,"num":0}}]"#;
        assert_eq!(s.handle_text(header), Ok(Inbound::Alive));
        let done = s.handle_binary(&[0xff, 0x00, 0x10]).unwrap();
        let Inbound::Message(ServerMessage::StatusUpdate(record)) = done else {
            panic!("{done:?}")
        };
        assert_eq!(record.username, "bob");
        assert_eq!(drain(&mut s), ["434[]"], "its ack is answered");
        // A placeholder in a field Kith reads takes the attachment's text.
        let header = r#"452-["status_update",{"user_id":3,"username":{"_placeholder":true,"num":1},"status":{"_placeholder":true,"num":0}}]"#;
        assert_eq!(s.handle_text(header), Ok(Inbound::Alive));
        assert_eq!(s.handle_binary(b"away"), Ok(Inbound::Alive));
        let Ok(Inbound::Message(ServerMessage::StatusUpdate(record))) = s.handle_binary(b"robert")
        else {
            panic!("not reassembled")
        };
        assert_eq!(
            (record.username.as_str(), record.status.as_str()),
            ("robert", "away")
        );
    }

    #[test]
    fn binary_events_kith_cannot_use_are_refused_with_a_typed_error() {
        let mut s = session();
        s.handle_text(r#"451-["file",{"_placeholder":true,"num":0}]"#)
            .unwrap();
        assert_eq!(
            s.handle_binary(b"data"),
            Err(MessageError::BinaryRefused {
                event: "file".into(),
                reason: "Kith applies binary events only when they are presence events"
            })
        );
        // An attachment nobody announced.
        assert!(matches!(
            s.handle_binary(b"stray"),
            Err(MessageError::BinaryRefused { .. })
        ));
        // Too many attachments.
        assert!(matches!(
            s.handle_text(r#"4599-["status_update",{}]"#),
            Err(MessageError::BinaryRefused { .. })
        ));
        // A placeholder pointing past the attachments.
        s.handle_text(
            r#"451-["status_update",{"user_id":1,"status":{"_placeholder":true,"num":3}}]"#,
        )
        .unwrap();
        assert!(matches!(
            s.handle_binary(b"x"),
            Err(MessageError::Malformed(_))
        ));
        // Attachments larger than the message limit.
        let mut small = SioSession::new("/", 64);
        small.handle_text(r#"452-["status_update",{}]"#).unwrap();
        assert_eq!(small.handle_binary(&[0; 40]), Ok(Inbound::Alive));
        assert!(matches!(
            small.handle_binary(&[0; 40]),
            Err(MessageError::Oversized { .. })
        ));
        // A heartbeat between an event and its attachment is fine.
        let mut s = session();
        s.handle_text(
            r#"451-["status_update",{"user_id":1,"status":{"_placeholder":true,"num":0}}]"#,
        )
        .unwrap();
        assert_eq!(s.handle_text("2"), Ok(Inbound::Alive));
        assert_eq!(drain(&mut s), ["3"]);
        assert!(matches!(
            s.handle_binary(b"away"),
            Ok(Inbound::Message(ServerMessage::StatusUpdate(_)))
        ));
        assert_eq!(s.take_refusal(), None);
        // Another packet where an attachment was due: that event is refused, the packet
        // read as usual.
        s.handle_text(r#"451-["status_update",{}]"#).unwrap();
        assert!(matches!(
            s.handle_text(&format!(r#"42["status_update",{UPDATE}]"#)),
            Ok(Inbound::Message(ServerMessage::StatusUpdate(_)))
        ));
        assert!(matches!(
            s.take_refusal(),
            Some(MessageError::BinaryRefused {
                reason: "its attachments did not follow it",
                ..
            })
        ));
        assert_eq!(s.take_refusal(), None);
        assert!(matches!(
            s.handle_binary(b"late"),
            Err(MessageError::BinaryRefused { .. })
        ));
    }

    #[test]
    fn bad_events_are_typed_errors() {
        let mut s = session();
        assert!(matches!(
            s.handle_text("42{not json"),
            Err(MessageError::Malformed(_))
        ));
        assert!(matches!(
            s.handle_text("42[]"),
            Err(MessageError::Malformed(_))
        ));
        assert!(matches!(
            s.handle_text("42[1]"),
            Err(MessageError::Malformed(_))
        ));
        assert!(matches!(
            s.handle_text("42"),
            Err(MessageError::Malformed(_))
        ));
        // A multi-byte character where the packet type should be.
        assert!(matches!(
            s.handle_text("4Ⱥ"),
            Err(MessageError::Malformed(_))
        ));
    }

    #[test]
    fn events_have_the_same_caps_as_json_messages() {
        use crate::protocol::messages::{MAX_FRIENDS, MAX_TEXT_CHARS};
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        let update =
            format!(r#"42["status_update",{{"user_id":3,"username":"{long}","status":"online"}}]"#);
        assert!(matches!(
            session().handle_text(&update),
            Err(MessageError::TooLong {
                field: "username",
                ..
            })
        ));
        let snapshot =
            format!(r#"42["presence_snapshot",{{"friends":[{{"user_id":1,"status":"{long}"}}]}}]"#);
        assert!(matches!(
            session().handle_text(&snapshot),
            Err(MessageError::TooLong {
                field: "status",
                ..
            })
        ));
        let many = vec![r#"{"user_id":1,"status":"a"}"#; MAX_FRIENDS + 1].join(",");
        let snapshot = format!(r#"42["presence_snapshot",{{"friends":[{many}]}}]"#);
        assert!(matches!(
            SioSession::new("/", snapshot.len()).handle_text(&snapshot),
            Err(MessageError::TooManyFriends { .. })
        ));
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn sio_packet() -> impl Strategy<Value = SioPacket> {
        let kind = prop_oneof![
            Just(SioKind::Connect),
            Just(SioKind::Disconnect),
            Just(SioKind::Event),
            Just(SioKind::Ack),
            Just(SioKind::ConnectError),
            Just(SioKind::BinaryEvent),
            Just(SioKind::BinaryAck),
        ];
        let namespace = prop_oneof![Just("/".to_string()), "/[a-zA-Z0-9_-]{1,10}"];
        // The payload of a packet is an object or an array, so it never starts with a digit.
        let data = prop_oneof![
            Just(None),
            prop::collection::vec(json_value(), 0..4).prop_map(|v| Some(Value::Array(v))),
            prop::collection::btree_map("[a-z]{1,6}", json_value(), 0..4)
                .prop_map(|m| Some(Value::Object(m.into_iter().collect()))),
        ];
        (
            kind,
            namespace,
            0usize..=MAX_ATTACHMENTS,
            prop::option::of(any::<u64>()),
            data,
        )
            .prop_map(|(kind, namespace, attachments, ack, data)| SioPacket {
                kind,
                namespace,
                attachments: if kind.is_binary() { attachments } else { 0 },
                ack,
                data,
            })
    }

    fn packet() -> impl Strategy<Value = Packet> {
        prop_oneof![
            prop::collection::btree_map("[a-zA-Z]{1,12}", json_value(), 0..4)
                .prop_map(|m| Packet::Open(Value::Object(m.into_iter().collect()))),
            Just(Packet::Close),
            ".{0,8}".prop_map(Packet::Ping),
            ".{0,8}".prop_map(Packet::Pong),
            Just(Packet::Upgrade),
            Just(Packet::Noop),
            sio_packet().prop_map(Packet::Message),
        ]
    }

    proptest! {
        #[test]
        fn the_decoder_never_panics(text in ".{0,96}", binary in prop::collection::vec(any::<u8>(), 0..32)) {
            let _ = decode_packet(&text, MAX);
            let mut s = session();
            let _ = s.handle_text(&text);
            let _ = s.handle_binary(&binary);
            let _ = s.handle_text(&format!("4{text}"));
            let _ = s.handle_text(&format!("45{text}"));
            let _ = s.handle_binary(&binary);
        }

        #[test]
        fn a_valid_packet_reencoded_decodes_to_the_same_value(packet in packet()) {
            let text = encode_packet(&packet);
            prop_assert_eq!(decode_packet(&text, usize::MAX), Ok(packet));
        }
    }
}
