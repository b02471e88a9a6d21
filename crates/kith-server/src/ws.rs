//! The friends presence WebSocket, `GET /ws/friends/status/`.
//!
//! One task per socket owns it and waits on everything that can happen to it at once:
//! a frame from the client, a presence change, the token's expiry timer, an admin command
//! (drop all, go silent) and server shutdown. Authentication is accepted on the upgrade
//! (bearer header, `access_token` subprotocol, cookie or `?token=`) or as the first
//! message, and can be renewed in-band without reconnecting.
//!
//! Each user may have `max_sockets_per_user` authenticated sockets open; past that, an
//! upgrade carrying a token is refused with 429 (`Retry-After`), and a socket that
//! authenticates with its first message is closed with 1013 (try again later).
//! Malformed frames are answered with 1007 (invalid UTF-8) or 1002 (protocol error).

use crate::auth_api::{bearer, cookie};
use crate::clock::until_unix;
use crate::error::ApiError;
use crate::jwt::Claims;
use crate::state::{
    claim_socket, Control, CounterCells, Event, OpenSocket, Presence, Shared, UserSlot,
};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use tokio::time::{sleep, timeout, Instant, Sleep};

/// Where the presence socket lives.
pub(crate) const WS_PATH: &str = "/ws/friends/status/";
/// The subprotocol that carries a token as the protocol after it.
const TOKEN_PROTOCOL: &str = "access_token";
/// Largest frame and message accepted; more closes the socket with 1009.
const MAX_MESSAGE: usize = 64 * 1024;
/// `Retry-After` on an upgrade refused for the per-user socket cap.
const OVER_CAP_RETRY_SECS: u64 = 5;
/// How long an unauthenticated socket may wait before its `auth` message.
const AUTH_WAIT: Duration = Duration::from_secs(5);
/// A client that does not take a message within this time is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the client's answer to our close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// After a read error the stream cannot be drained; give the peer this long to read our
/// close frame before the TCP connection goes.
const ERROR_CLOSE_GRACE: Duration = Duration::from_millis(250);

mod code {
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL: u16 = 1002;
    pub const UNSUPPORTED: u16 = 1003;
    pub const INVALID_PAYLOAD: u16 = 1007;
    pub const TOO_BIG: u16 = 1009;
    pub const INTERNAL: u16 = 1011;
    pub const TRY_AGAIN_LATER: u16 = 1013;
    pub const AUTH: u16 = 4001;
}

#[derive(Deserialize)]
pub(crate) struct WsQuery {
    token: Option<String>,
}

/// Handles the upgrade request: checks a token if one came with it, then hands the
/// socket to its own task.
pub(crate) async fn upgrade(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    query: Result<Query<WsQuery>, axum::extract::rejection::QueryRejection>,
    ws: WebSocketUpgrade,
) -> Response {
    if !wait_while_silent(&shared).await {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let query_token = query.ok().and_then(|Query(q)| q.token);
    let pre_auth = match find_token(&headers, query_token) {
        Some(token) => match shared.authenticate_ws(&token) {
            Ok(claims) => match claim_socket(&shared, claims.user_id) {
                Some(slot) => Some((claims, slot)),
                None => {
                    CounterCells::bump(&shared.counters.connects_over_cap);
                    tracing::info!(user = %claims.username, "WebSocket upgrade refused: too many sockets");
                    return too_many_sockets();
                }
            },
            Err(e) => {
                CounterCells::bump(&shared.counters.connects_rejected);
                tracing::info!(reason = %e, "WebSocket upgrade refused");
                return ApiError::token_not_valid().into_response();
            }
        },
        None => None,
    };
    let Some(task_token) = shared.task_token() else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    ws.protocols([TOKEN_PROTOCOL])
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "WebSocket upgrade failed"))
        .on_upgrade(move |socket| async move {
            run(shared, socket, pre_auth).await;
            drop(task_token);
        })
}

/// 429 for an upgrade whose user has every socket slot in use.
fn too_many_sockets() -> Response {
    let body = serde_json::json!({ "detail": "Too many open connections for this user." });
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    resp.headers_mut().insert(
        header::RETRY_AFTER,
        axum::http::HeaderValue::from(OVER_CAP_RETRY_SECS),
    );
    resp
}

/// While the server plays dead, new upgrades hang. Returns false if shutdown came first.
async fn wait_while_silent(shared: &Shared) -> bool {
    let mut silent = shared.silent.subscribe();
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        if *shutdown.borrow_and_update() {
            return false;
        }
        if !*silent.borrow_and_update() {
            return true;
        }
        tokio::select! {
            r = silent.changed() => if r.is_err() { return false },
            r = shutdown.changed() => if r.is_err() { return false },
        }
    }
}

/// The token on an upgrade request; the first transport that has one wins.
fn find_token(headers: &HeaderMap, query_token: Option<String>) -> Option<String> {
    bearer(headers)
        .or_else(|| protocol_token(headers))
        .or_else(|| cookie(headers, "access_token"))
        .or_else(|| query_token.filter(|t| !t.is_empty()))
}

/// `Sec-WebSocket-Protocol: access_token, <token>`: the protocol after `access_token`.
fn protocol_token(headers: &HeaderMap) -> Option<String> {
    let protocols: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let at = protocols.iter().position(|p| *p == TOKEN_PROTOCOL)?;
    protocols.get(at + 1).map(|t| (*t).to_owned())
}

/// Messages the server sends (besides the pre-serialised `status_update`).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Outgoing<'a> {
    AuthSuccess,
    AuthError {
        message: &'a str,
    },
    PresenceSnapshot {
        seq: u64,
        friends: &'a [Presence],
    },
    Error {
        code: &'a str,
        message: &'a str,
    },
    #[serde(rename = "PONG")]
    Pong,
    #[serde(rename = "pong")]
    PongLower,
}

/// An authenticated socket's view of the world.
struct Live {
    user_id: u64,
    username: String,
    friends: HashSet<u64>,
    events: broadcast::Receiver<Event>,
    /// This socket's place in its user's socket cap.
    _slot: UserSlot,
}

enum Phase {
    AwaitingAuth,
    Live(Live),
}

/// Whether the socket task goes on after handling something.
#[derive(PartialEq, Eq)]
enum Step {
    Continue,
    End,
}

struct Conn {
    shared: Arc<Shared>,
    socket: WebSocket,
}

async fn run(shared: Arc<Shared>, socket: WebSocket, pre_auth: Option<(Claims, UserSlot)>) {
    let _open = OpenSocket::new(shared.clone());
    let mut shutdown = shared.shutdown.subscribe();
    let mut silent = shared.silent.subscribe();
    let mut control = shared.control.subscribe();
    let mut conn = Conn { shared, socket };
    let deadline = sleep(AUTH_WAIT);
    tokio::pin!(deadline);
    let mut phase = Phase::AwaitingAuth;
    if let Some((claims, slot)) = pre_auth {
        match conn.go_live(&claims, slot).await {
            Some(live) => {
                deadline.as_mut().reset(expiry(claims.exp));
                phase = Phase::Live(live);
            }
            None => return,
        }
    }
    loop {
        if *shutdown.borrow_and_update() {
            conn.close(code::GOING_AWAY, "server shutting down").await;
            return;
        }
        if *silent.borrow_and_update() {
            if frozen(&mut silent, &mut shutdown, &mut control).await {
                continue;
            }
            // Dropped while silent: the TCP connection goes without a close frame.
            return;
        }
        // Biased: admin switches and expiry win over traffic, and a busy presence stream
        // cannot starve the client's frames (pings, re-auth).
        let step = tokio::select! {
            biased;
            r = shutdown.changed() => if r.is_err() { Step::End } else { Step::Continue },
            r = silent.changed() => if r.is_err() { Step::End } else { Step::Continue },
            c = control.recv() => conn.on_control(c).await,
            () = &mut deadline => conn.on_deadline(&phase).await,
            m = conn.socket.recv() => conn.on_frame(&mut phase, m, deadline.as_mut()).await,
            e = next_event(&mut phase) => conn.on_event(&mut phase, e).await,
        };
        if step == Step::End {
            return;
        }
    }
}

/// Silent mode: neither read nor write until silence ends (true) or the socket is to
/// be dropped by shutdown or `drop_all` (false).
async fn frozen(
    silent: &mut watch::Receiver<bool>,
    shutdown: &mut watch::Receiver<bool>,
    control: &mut broadcast::Receiver<Control>,
) -> bool {
    loop {
        tokio::select! {
            r = silent.changed() => {
                if r.is_err() {
                    return false;
                }
                if !*silent.borrow_and_update() {
                    return true;
                }
            }
            _ = shutdown.changed() => return false,
            c = control.recv() => {
                if !matches!(c, Err(RecvError::Lagged(_))) {
                    return false;
                }
            }
        }
    }
}

async fn next_event(phase: &mut Phase) -> Result<Event, RecvError> {
    match phase {
        Phase::Live(live) => live.events.recv().await,
        Phase::AwaitingAuth => std::future::pending().await,
    }
}

/// When a token with this `exp` stops being valid, as a timer deadline.
fn expiry(exp: u64) -> Instant {
    Instant::now() + until_unix(exp)
}

impl Conn {
    /// Subscribes and sends the snapshot. `None` if the socket had to be closed.
    async fn go_live(&mut self, claims: &Claims, slot: UserSlot) -> Option<Live> {
        let sub = match self.shared.subscribe(claims.user_id) {
            Ok(sub) => sub,
            Err(e) => {
                tracing::error!(error = %e, "cannot read presence snapshot");
                self.close(code::INTERNAL, "internal error").await;
                return None;
            }
        };
        if self.shared.sends_snapshots() {
            let snapshot = Outgoing::PresenceSnapshot {
                seq: sub.seq,
                friends: &sub.friends,
            };
            if !self.send_json(&snapshot).await {
                return None;
            }
        }
        CounterCells::bump(&self.shared.counters.connects_accepted);
        tracing::debug!(user = %claims.username, seq = sub.seq, "presence socket live");
        Some(Live {
            user_id: claims.user_id,
            username: claims.username.clone(),
            friends: sub.friend_ids,
            events: sub.events,
            _slot: slot,
        })
    }

    async fn on_control(&mut self, c: Result<Control, RecvError>) -> Step {
        match c {
            Ok(Control::DropAll { code, reason }) => {
                self.close(code, &reason).await;
                Step::End
            }
            Err(RecvError::Lagged(_)) => Step::Continue,
            Err(RecvError::Closed) => Step::End,
        }
    }

    async fn on_deadline(&mut self, phase: &Phase) -> Step {
        match phase {
            Phase::AwaitingAuth => {
                CounterCells::bump(&self.shared.counters.connects_rejected);
                self.auth_failed("authentication timeout").await;
            }
            Phase::Live(live) => {
                tracing::debug!(user = %live.username, "access token expired, closing socket");
                self.close(code::AUTH, "token expired").await;
            }
        }
        Step::End
    }

    async fn on_event(&mut self, phase: &mut Phase, e: Result<Event, RecvError>) -> Step {
        let Phase::Live(live) = phase else {
            return Step::Continue;
        };
        match e {
            Ok(Event::Status { user_id, text }) => {
                if live.friends.contains(&user_id) && !self.send_text(text).await {
                    return Step::End;
                }
                Step::Continue
            }
            Ok(Event::Friendship { a, b }) => {
                if a == live.user_id {
                    live.friends.insert(b);
                } else if b == live.user_id {
                    live.friends.insert(a);
                }
                Step::Continue
            }
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(user = %live.username, missed = n, "socket fell behind, closing");
                self.close(code::INTERNAL, "presence stream overflow").await;
                Step::End
            }
            Err(RecvError::Closed) => {
                self.close(code::GOING_AWAY, "server shutting down").await;
                Step::End
            }
        }
    }

    async fn on_frame(
        &mut self,
        phase: &mut Phase,
        frame: Option<Result<Message, axum::Error>>,
        deadline: Pin<&mut Sleep>,
    ) -> Step {
        match frame {
            None => Step::End,
            Some(Err(e)) => {
                match read_error_close(&e) {
                    Some((code, reason)) => {
                        tracing::info!(error = %e, code, "malformed WebSocket input, closing");
                        self.close_after_read_error(code, reason).await;
                    }
                    None => tracing::debug!(error = %e, "WebSocket read failed"),
                }
                Step::End
            }
            Some(Ok(Message::Text(text))) => self.on_text(phase, text.as_str(), deadline).await,
            Some(Ok(Message::Binary(_))) => {
                self.close(code::UNSUPPORTED, "binary messages are not supported")
                    .await;
                Step::End
            }
            // Pings are answered by tungstenite as we keep reading; a close is answered
            // too, and the next read then ends the stream.
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_))) => Step::Continue,
        }
    }

    async fn on_text(&mut self, phase: &mut Phase, text: &str, deadline: Pin<&mut Sleep>) -> Step {
        let parsed: Option<Value> = serde_json::from_str(text).ok();
        let kind = parsed
            .as_ref()
            .and_then(|v| v.get("type"))
            .and_then(Value::as_str);
        match phase {
            Phase::AwaitingAuth => {
                let token = match (kind, parsed.as_ref()) {
                    (Some("auth"), Some(v)) => auth_token(v),
                    _ => None,
                };
                let Some(token) = token else {
                    CounterCells::bump(&self.shared.counters.connects_rejected);
                    self.auth_failed("authentication required").await;
                    return Step::End;
                };
                let claims = match self.shared.authenticate_ws(token) {
                    Ok(claims) => claims,
                    Err(e) => {
                        CounterCells::bump(&self.shared.counters.connects_rejected);
                        self.auth_failed(&e.to_string()).await;
                        return Step::End;
                    }
                };
                let Some(slot) = claim_socket(&self.shared, claims.user_id) else {
                    CounterCells::bump(&self.shared.counters.connects_over_cap);
                    tracing::info!(user = %claims.username, "WebSocket auth refused: too many sockets");
                    self.close(code::TRY_AGAIN_LATER, "too many connections for this user")
                        .await;
                    return Step::End;
                };
                if !self.send_json(&Outgoing::AuthSuccess).await {
                    return Step::End;
                }
                match self.go_live(&claims, slot).await {
                    Some(live) => {
                        deadline.reset(expiry(claims.exp));
                        *phase = Phase::Live(live);
                        Step::Continue
                    }
                    None => Step::End,
                }
            }
            Phase::Live(live) => {
                let Some(v) = parsed.as_ref() else {
                    return self
                        .send_error("malformed", "message is not valid JSON")
                        .await;
                };
                let Some(kind) = kind else {
                    return self
                        .send_error("malformed", "message has no string \"type\"")
                        .await;
                };
                match kind {
                    "PING" => self.reply(&Outgoing::Pong).await,
                    "ping" => self.reply(&Outgoing::PongLower).await,
                    "auth" => self.reauth(live, v, deadline).await,
                    other => {
                        let shown: String = other.chars().take(64).collect();
                        self.send_error("unknown_type", &format!("unknown message type {shown:?}"))
                            .await
                    }
                }
            }
        }
    }

    /// In-band re-authentication: same user, fresh token, the expiry timer moves.
    async fn reauth(&mut self, live: &Live, msg: &Value, deadline: Pin<&mut Sleep>) -> Step {
        let Some(token) = auth_token(msg) else {
            self.auth_failed("auth message has no token").await;
            return Step::End;
        };
        let claims = match self.shared.authenticate_ws(token) {
            Ok(claims) => claims,
            Err(e) => {
                tracing::info!(user = %live.username, reason = %e, "in-band re-auth refused");
                self.auth_failed(&e.to_string()).await;
                return Step::End;
            }
        };
        if claims.user_id != live.user_id {
            self.auth_failed("token belongs to another user").await;
            return Step::End;
        }
        deadline.reset(expiry(claims.exp));
        CounterCells::bump(&self.shared.counters.inband_reauths);
        tracing::debug!(user = %live.username, "in-band re-auth");
        self.reply(&Outgoing::AuthSuccess).await
    }

    async fn auth_failed(&mut self, message: &str) {
        if self.send_json(&Outgoing::AuthError { message }).await {
            self.close(code::AUTH, message).await;
        }
    }

    async fn send_error(&mut self, code: &str, message: &str) -> Step {
        self.reply(&Outgoing::Error { code, message }).await
    }

    async fn reply(&mut self, msg: &Outgoing<'_>) -> Step {
        if self.send_json(msg).await {
            Step::Continue
        } else {
            Step::End
        }
    }

    async fn send_json(&mut self, msg: &Outgoing<'_>) -> bool {
        match serde_json::to_string(msg) {
            Ok(text) => self.send_text(text.into()).await,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialise a message");
                false
            }
        }
    }

    /// Sends a text frame; false if the client is gone or too slow to take it.
    async fn send_text(&mut self, text: Utf8Bytes) -> bool {
        match timeout(SEND_TIMEOUT, self.socket.send(Message::Text(text))).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "WebSocket send failed");
                false
            }
            Err(_) => {
                tracing::info!("client did not take a message in time, dropping it");
                false
            }
        }
    }

    /// Sends a close frame and waits briefly for the client's answer, so the frame is
    /// not lost to a reset.
    async fn close(&mut self, code: u16, reason: &str) {
        if self.send_close(code, reason).await {
            let drain = async { while let Some(Ok(_)) = self.socket.recv().await {} };
            let _ = timeout(CLOSE_GRACE, drain).await;
        }
    }

    /// Close after a failed read: the stream cannot be read any more, so just give the
    /// peer a moment to take the close frame before the connection is dropped.
    async fn close_after_read_error(&mut self, code: u16, reason: &str) {
        if self.send_close(code, reason).await {
            sleep(ERROR_CLOSE_GRACE).await;
        }
    }

    async fn send_close(&mut self, code: u16, reason: &str) -> bool {
        let frame = CloseFrame {
            code,
            reason: truncate(reason, 123).into(),
        };
        matches!(
            timeout(CLOSE_GRACE, self.socket.send(Message::Close(Some(frame)))).await,
            Ok(Ok(()))
        )
    }
}

/// `{"type":"auth","payload":{"token":"…"}}`, or a top-level `token` for lenient clients.
fn auth_token(msg: &Value) -> Option<&str> {
    msg.get("payload")
        .and_then(|p| p.get("token"))
        .or_else(|| msg.get("token"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
}

/// The close code and reason that answer a failed read, or `None` when the connection
/// is simply gone. tungstenite reports what RFC 6455 says must fail the connection
/// (reserved opcodes or RSV bits, oversized or fragmented control frames, unmasked
/// client frames, bad close payloads, …) as `Error::Protocol`, invalid UTF-8 in a text
/// message or close reason as `Error::Utf8`, and an over-long frame or message as
/// `Error::Capacity`; it leaves sending the close frame to us.
fn read_error_close(e: &axum::Error) -> Option<(u16, &'static str)> {
    use tungstenite::error::ProtocolError;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(t) = err.downcast_ref::<tungstenite::Error>() {
            return match t {
                tungstenite::Error::Capacity(_) => Some((code::TOO_BIG, "message too big")),
                tungstenite::Error::Utf8(_) => Some((code::INVALID_PAYLOAD, "invalid UTF-8")),
                tungstenite::Error::Protocol(
                    ProtocolError::ResetWithoutClosingHandshake
                    | ProtocolError::ReceivedAfterClosing
                    | ProtocolError::SendAfterClosing,
                ) => None,
                tungstenite::Error::Protocol(_) => Some((code::PROTOCOL, "protocol error")),
                _ => None,
            };
        }
        source = err.source();
    }
    None
}

/// At most `max` bytes of `s`, cut on a character boundary (close reasons max 123 bytes).
fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn token_transport_order() {
        let mut h = HeaderMap::new();
        assert_eq!(find_token(&h, Some("q".into())).as_deref(), Some("q"));
        h.insert(header::COOKIE, HeaderValue::from_static("access_token=c"));
        assert_eq!(find_token(&h, Some("q".into())).as_deref(), Some("c"));
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("access_token, p.p.p"),
        );
        assert_eq!(find_token(&h, None).as_deref(), Some("p.p.p"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        assert_eq!(find_token(&h, None).as_deref(), Some("b"));
    }

    #[test]
    fn protocol_without_token_is_none() {
        let mut h = HeaderMap::new();
        h.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("access_token"),
        );
        assert_eq!(protocol_token(&h), None);
    }

    #[test]
    fn truncates_on_char_boundary() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }

    #[test]
    fn outgoing_shapes() {
        let s = |m: &Outgoing<'_>| serde_json::to_string(m).unwrap_or_default();
        assert_eq!(s(&Outgoing::AuthSuccess), r#"{"type":"auth_success"}"#);
        assert_eq!(s(&Outgoing::Pong), r#"{"type":"PONG"}"#);
        assert_eq!(
            s(&Outgoing::AuthError { message: "x" }),
            r#"{"type":"auth_error","message":"x"}"#
        );
    }
}
