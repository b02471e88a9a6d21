//! One WebSocket, run on its own task.
//!
//! The task connects, then reads frames, parses them (off the driver's task, so parsing
//! uses another core), and reports [`ConnEvent`]s to the driver; it writes what the
//! driver sends it. It makes no decisions: closing and retrying are the machine's,
//! routing is the [`HandoverRouter`](super::handover::HandoverRouter)'s. A socket the
//! driver closes ends with [`ConnEvent::ClosedOnRequest`], after every message it
//! delivered, so the router knows when a retiring socket's messages stop coming.
//!
//! Frames that have already arrived when one is read travel to the driver together
//! ([`ConnEvent::Messages`]): one hand-off, and at most one wake-up of the driver, per
//! burst instead of per frame. An idle socket still sends each message on its own.
//!
//! For Socket.IO, the protocol's state lives in the pure [`SioSession`]; this task
//! feeds it frames and writes what it queues (pongs, CONNECT, ack answers, and the
//! namespace DISCONNECT before a close).

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::network::Network;
use crate::protocol::messages::{auth_message, APP_PING};
use crate::protocol::socketio::{Inbound, SioSession};
use crate::protocol::{
    parse_server_message, MappedReader, MessageError, MessageMapping, ServerMessage, WireProtocol,
};
use crate::secret::Secret;
use crate::socket::events::ConnId;
use crate::socket::tunnel::{self, OpenError};

/// What a socket reports to the driver.
#[derive(Debug)]
pub(crate) enum ConnEvent {
    Opened,
    Rejected {
        status: u16,
        /// The answer was a web page (HTML), not a server refusing the upgrade.
        web_page: bool,
    },
    Failed {
        error: String,
    },
    /// No stream could be opened (TCP, proxy or TLS), with the typed reason.
    CannotOpen(OpenError),
    Message(Result<ServerMessage, MessageError>),
    /// Several messages that arrived together, in order (at most [`MAX_BATCH`]).
    Messages(Vec<Result<ServerMessage, MessageError>>),
    /// A frame that carries no message (pong, ping, binary).
    Activity,
    /// The Engine.IO open packet announced the server's heartbeat.
    Heartbeat {
        interval: std::time::Duration,
        timeout: std::time::Duration,
    },
    /// The server ended the Socket.IO session (DISCONNECT or Engine.IO close); the
    /// socket has been closed.
    ServerDisconnected,
    Closed {
        code: Option<u16>,
        reason: String,
    },
    /// The socket the driver asked to close ([`Outgoing::Close`]) has closed: the last
    /// event of this socket, after every message it delivered.
    ClosedOnRequest,
}

/// What the driver asks a socket to send; the socket frames it for its protocol.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// Present this access token (auth message, or Socket.IO CONNECT).
    Auth(Secret),
    /// A WebSocket ping frame.
    Ping,
    /// The app-level keepalive (`{"type":"PING"}`); Engine.IO has its own heartbeat.
    AppPing,
    Close {
        code: u16,
        reason: &'static str,
    },
}

/// The most messages one [`ConnEvent::Messages`] carries.
pub(crate) const MAX_BATCH: usize = 1024;

/// How a socket speaks, from the profile's `socket` section.
#[derive(Debug, Clone)]
pub(crate) struct Framing {
    pub(crate) protocol: WireProtocol,
    /// The Socket.IO namespace (unused for JSON).
    pub(crate) namespace: String,
    pub(crate) max_message_bytes: usize,
    /// The profile's `[messages]` mapping; `None` reads Kith's own vocabulary.
    pub(crate) mapping: Option<std::sync::Arc<MessageMapping>>,
}

/// Connects with `request` (through [`tunnel::open`]) and runs the socket until it
/// closes.
pub(crate) async fn run_connection(
    conn: ConnId,
    request: Request,
    network: Network,
    framing: Framing,
    events: mpsc::Sender<(ConnId, ConnEvent)>,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
) {
    let Framing {
        protocol,
        namespace,
        max_message_bytes,
        mapping,
    } = framing;
    let config = WebSocketConfig::default()
        .max_message_size(Some(max_message_bytes))
        .max_frame_size(Some(max_message_bytes));
    let stream = match tunnel::open(request.uri(), &network).await {
        Ok(stream) => stream,
        Err(error) => {
            let _ = events.send((conn, ConnEvent::CannotOpen(error))).await;
            return;
        }
    };
    let connected =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await;
    let mut socket = match connected {
        Ok((socket, _response)) => socket,
        Err(WsError::Http(response)) => {
            let _ = events
                .send((
                    conn,
                    ConnEvent::Rejected {
                        status: response.status().as_u16(),
                        web_page: is_web_page(response.headers(), response.body().as_deref()),
                    },
                ))
                .await;
            return;
        }
        Err(error) => {
            let _ = events
                .send((
                    conn,
                    ConnEvent::Failed {
                        error: describe(&error),
                    },
                ))
                .await;
            return;
        }
    };
    if events.send((conn, ConnEvent::Opened)).await.is_err() {
        return;
    }
    let mut close_code: Option<u16> = None;
    let mut close_reason = String::new();
    let mut sio = (protocol == WireProtocol::SocketIo)
        .then(|| SioSession::with_mapping(&namespace, max_message_bytes, mapping.clone()));
    // JSON frames through the mapping, when the profile has one (Socket.IO's session
    // holds its own).
    let mut mapped = mapping.filter(|_| sio.is_none()).map(MappedReader::new);
    // A frame read ahead while batching that was not a text frame: handled next.
    let mut read_ahead: Option<Option<Result<Message, WsError>>> = None;
    loop {
        tokio::select! {
            frame = async {
                match read_ahead.take() {
                    Some(frame) => frame,
                    None => socket.next().await,
                }
            } => {
                let event = match frame {
                    Some(Ok(Message::Text(text))) if sio.is_none() => {
                        let mut first = Some(read_frame(&mut mapped, text.as_str(), max_message_bytes));
                        // Take what is already buffered, without waiting for more.
                        let mut batch = Vec::new();
                        while batch.len() < MAX_BATCH {
                            match socket.next().now_or_never() {
                                Some(Some(Ok(Message::Text(text)))) => {
                                    if let Some(first) = first.take() {
                                        batch.reserve(64);
                                        batch.push(first);
                                    }
                                    batch.push(read_frame(&mut mapped, text.as_str(), max_message_bytes));
                                }
                                Some(other) => {
                                    read_ahead = Some(other);
                                    break;
                                }
                                None => break,
                            }
                        }
                        match first {
                            Some(only) => ConnEvent::Message(only),
                            None => ConnEvent::Messages(batch),
                        }
                    }
                    Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) if sio.is_some() => {
                        let Some(session) = sio.as_mut() else { continue };
                        let read = match &message {
                            Message::Text(text) => session.handle_text(text.as_str()),
                            Message::Binary(bytes) => session.handle_binary(bytes),
                            _ => continue,
                        };
                        if let Some(refused) = session.take_refusal() {
                            if events.send((conn, ConnEvent::Message(Err(refused)))).await.is_err() {
                                return;
                            }
                        }
                        match sio_event(&mut socket, session, read).await {
                            Ok(Some(event)) => event,
                            Ok(None) => {
                                let _ = events.send((conn, ConnEvent::ServerDisconnected)).await;
                                return;
                            }
                            Err(error) => {
                                let _ = events
                                    .send((conn, ConnEvent::Closed { code: close_code, reason: describe(&error) }))
                                    .await;
                                return;
                            }
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        if let Some(frame) = frame {
                            close_code = Some(u16::from(frame.code));
                            close_reason = frame.reason.as_str().chars().take(120).collect();
                        }
                        continue;
                    }
                    Some(Ok(_)) => ConnEvent::Activity,
                    Some(Err(WsError::ConnectionClosed)) | None => {
                        let _ = events
                            .send((conn, ConnEvent::Closed { code: close_code, reason: close_reason }))
                            .await;
                        return;
                    }
                    Some(Err(error)) => {
                        let reason = if close_code.is_some() { close_reason } else { describe(&error) };
                        let _ = events
                            .send((conn, ConnEvent::Closed { code: close_code, reason }))
                            .await;
                        return;
                    }
                };
                if events.send((conn, event)).await.is_err() {
                    return;
                }
            }
            command = outgoing.recv() => {
                let result = match command {
                    Some(Outgoing::Auth(token)) => match sio.as_mut() {
                        None => socket.send(Message::Text(auth_message(token.expose()).into())).await,
                        Some(session) => {
                            session.authenticate(token.expose());
                            transmit(&mut socket, session).await
                        }
                    },
                    Some(Outgoing::AppPing) => match sio {
                        None => socket.send(Message::Text(APP_PING.into())).await,
                        Some(_) => Ok(()),
                    },
                    Some(Outgoing::Ping) => socket.send(Message::Ping(Default::default())).await,
                    Some(Outgoing::Close { code, reason }) => {
                        say_goodbye(&mut socket, sio.as_mut()).await;
                        close_politely(&mut socket, code, reason).await;
                        let _ = events.send((conn, ConnEvent::ClosedOnRequest)).await;
                        return;
                    }
                    None => {
                        say_goodbye(&mut socket, sio.as_mut()).await;
                        close_politely(&mut socket, 1000, "client gone").await;
                        return;
                    }
                };
                if let Err(error) = result {
                    let _ = events
                        .send((conn, ConnEvent::Closed { code: close_code, reason: describe(&error) }))
                        .await;
                    return;
                }
            }
        }
    }
}

/// One JSON text frame: Kith's own vocabulary through its fast reader, or, when the
/// profile has a `[messages]` mapping, the mapping's reader. One predictable branch per
/// frame; the default path does nothing else.
#[inline]
fn read_frame(
    mapped: &mut Option<MappedReader>,
    text: &str,
    max_bytes: usize,
) -> Result<ServerMessage, MessageError> {
    match mapped {
        None => parse_server_message(text, max_bytes),
        Some(reader) => reader.read_text(text, max_bytes),
    }
}

/// Writes what the Socket.IO session queued (pongs, CONNECT, ack answers).
async fn transmit<S>(socket: &mut S, session: &mut SioSession) -> Result<(), WsError>
where
    S: SinkExt<Message, Error = WsError> + Unpin,
{
    while let Some(frame) = session.poll_transmit() {
        socket.send(Message::Text(frame.into())).await?;
    }
    Ok(())
}

/// What a Socket.IO frame the session has read means for the driver, after writing
/// what it queued. `None`: the server ended the session, and the socket was closed.
async fn sio_event<S>(
    socket: &mut S,
    session: &mut SioSession,
    read: Result<Inbound, MessageError>,
) -> Result<Option<ConnEvent>, WsError>
where
    S: SinkExt<Message, Error = WsError> + StreamExt + Unpin,
{
    transmit(socket, session).await?;
    Ok(Some(match read {
        Ok(Inbound::Open {
            heartbeat: Some(heartbeat),
        }) => ConnEvent::Heartbeat {
            interval: heartbeat.interval,
            timeout: heartbeat.timeout,
        },
        Ok(Inbound::Open { heartbeat: None }) | Ok(Inbound::Alive) => ConnEvent::Activity,
        Ok(Inbound::Disconnected) => {
            close_politely(socket, 1000, "server disconnected").await;
            return Ok(None);
        }
        Ok(Inbound::Message(message)) => ConnEvent::Message(Ok(message)),
        Err(error) => ConnEvent::Message(Err(error)),
    }))
}

/// Socket.IO: the namespace DISCONNECT (`41`) before Kith closes the socket, so the
/// server records a client disconnect, not a lost transport.
async fn say_goodbye<S>(socket: &mut S, session: Option<&mut SioSession>)
where
    S: SinkExt<Message, Error = WsError> + Unpin,
{
    if let Some(packet) = session.and_then(SioSession::disconnect) {
        let _ = socket.send(Message::Text(packet.into())).await;
    }
}

/// Sends a close frame and waits briefly for the server's reply, so the server sees a
/// clean close with our code rather than a dropped connection.
async fn close_politely<S>(socket: &mut S, code: u16, reason: &'static str)
where
    S: SinkExt<Message> + StreamExt + Unpin,
{
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
    let drain = async { while socket.next().await.is_some() {} };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), drain).await;
}

/// Error text without any URL (which may carry a token).
fn describe(error: &WsError) -> String {
    match error {
        WsError::Io(io) => format!("I/O error: {}", io.kind()),
        WsError::Tls(_) => "TLS error".into(),
        WsError::Url(_) => "invalid socket URL".into(),
        WsError::Capacity(inner) => format!("message too large: {inner}"),
        WsError::Protocol(inner) => format!("protocol error: {inner}"),
        WsError::Http(response) => format!("HTTP {}", response.status()),
        other => other.to_string(),
    }
}

/// Whether an HTTP answer is a web page: HTML by its content type, or by its first
/// bytes when it has none (a captive portal's or a proxy's login page).
pub(crate) fn is_web_page(headers: &http::HeaderMap, body: Option<&[u8]>) -> bool {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.is_empty() {
        return content_type.to_ascii_lowercase().contains("html");
    }
    body.is_some_and(crate::token::api::looks_like_html)
}
