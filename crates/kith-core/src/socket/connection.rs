//! One WebSocket, run on its own task.
//!
//! The task connects, then reads frames, parses them (off the driver's task, so parsing
//! uses another core), and reports [`ConnEvent`]s to the driver; it writes what the
//! driver sends it. It makes no decisions: closing, retrying and routing are the
//! machine's and the driver's.

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::protocol::{parse_server_message, MessageError, ServerMessage};
use crate::socket::machine::ConnId;

/// What a socket reports to the driver.
#[derive(Debug)]
pub enum ConnEvent {
    Opened,
    Rejected {
        status: u16,
    },
    Failed {
        error: String,
    },
    Message(Result<ServerMessage, MessageError>),
    /// A frame that carries no message (pong, ping, binary).
    Activity,
    Closed {
        code: Option<u16>,
        reason: String,
    },
}

/// What the driver asks a socket to send.
#[derive(Debug)]
pub enum Outgoing {
    Text(String),
    Ping,
    Close { code: u16, reason: &'static str },
}

/// Connects with `request` and runs the socket until it closes.
pub async fn run_connection(
    conn: ConnId,
    request: Request,
    max_message_bytes: usize,
    events: mpsc::Sender<(ConnId, ConnEvent)>,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
) {
    let config = WebSocketConfig::default()
        .max_message_size(Some(max_message_bytes))
        .max_frame_size(Some(max_message_bytes));
    let connected = tokio_tungstenite::connect_async_with_config(request, Some(config), true).await;
    let mut socket = match connected {
        Ok((socket, _response)) => socket,
        Err(WsError::Http(response)) => {
            let _ = events
                .send((
                    conn,
                    ConnEvent::Rejected {
                        status: response.status().as_u16(),
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
    loop {
        tokio::select! {
            frame = socket.next() => {
                let event = match frame {
                    Some(Ok(Message::Text(text))) => {
                        ConnEvent::Message(parse_server_message(text.as_str(), max_message_bytes))
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
                    Some(Outgoing::Text(text)) => socket.send(Message::Text(text.into())).await,
                    Some(Outgoing::Ping) => socket.send(Message::Ping(Default::default())).await,
                    Some(Outgoing::Close { code, reason }) => {
                        close_politely(&mut socket, code, reason).await;
                        return;
                    }
                    None => {
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
