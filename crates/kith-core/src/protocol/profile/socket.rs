//! The presence socket of a profile: framing (JSON or Socket.IO), how the access token
//! is presented, keepalive, handover and size limits.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ProfileError, ServerProfile};

/// One way of presenting the access token to the WebSocket server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum WsAuthTransport {
    /// `?<param>=<token>` on the URL (seeds 000, 002).
    Query {
        /// The query parameter's name.
        param: String,
    },
    /// `Authorization: Bearer <token>` on the upgrade request (seed 004).
    Bearer,
    /// `Sec-WebSocket-Protocol: <protocol>, <token>` (seed 001).
    Subprotocol {
        /// The subprotocol named before the token.
        protocol: String,
    },
    /// A cookie on the upgrade request.
    Cookie {
        /// The cookie's name.
        name: String,
    },
    /// A first message `{"type":"auth","payload":{"token":…}}`, answered by
    /// `auth_success` or `auth_error` (seed 002). Also enables in-band re-authentication.
    Message,
}

/// How messages are framed on the socket.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum WireProtocol {
    /// One JSON object per text frame (seeds 000–002, 004).
    #[default]
    Json,
    /// Engine.IO v4 / Socket.IO v5 over WebSocket (seed 003); the token travels in
    /// the CONNECT packet's `auth`.
    SocketIo,
}

/// The presence socket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SocketProfile {
    /// Message framing: `json` or `socket_io`.
    pub protocol: WireProtocol,
    /// Auth transports, combined on every connect.
    pub auth: Vec<WsAuthTransport>,
    /// Interval of WebSocket ping frames.
    #[serde(with = "humantime_serde")]
    pub ping_interval: Duration,
    /// Silence beyond `ping_interval + dead_grace` means the connection is dead.
    #[serde(with = "humantime_serde")]
    pub dead_grace: Duration,
    /// Also send app-level `{"type":"PING"}` and expect `{"type":"PONG"}` (seed 002).
    pub app_ping: bool,
    /// The server sends a `presence_snapshot` after auth; a handover waits for it, at
    /// most `snapshot_wait`.
    pub snapshot_on_connect: bool,
    /// How long a handover socket waits for its snapshot after authenticating; past it,
    /// the socket is promoted without one (logged once, at info).
    #[serde(with = "humantime_serde")]
    pub snapshot_wait: Duration,
    /// The longest a socket a handover replaced is still read after the new one takes
    /// over. It is closed sooner, as soon as the new socket's messages show it has
    /// caught up: a backend such as Django Channels drops what it had queued for a
    /// socket once its client closes it, and a change sent just before the new socket
    /// joined exists only there.
    #[serde(with = "humantime_serde")]
    pub handover_drain: Duration,
    /// Socket.IO: dead-server detection follows the `pingInterval + pingTimeout` of the
    /// server's Engine.IO open packet; `false` uses `ping_interval + dead_grace`.
    pub server_heartbeat: bool,
    /// Socket.IO namespace of CONNECT, events, acks and DISCONNECT, e.g. `/presence`.
    pub namespace: String,
    /// Deadline for the TCP connect, the upgrade and in-band auth together.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Deadline of the liveness probe sent after a resume from sleep.
    #[serde(with = "humantime_serde")]
    pub wake_probe_timeout: Duration,
    /// Largest accepted message; larger ones are dropped with a typed error.
    pub max_message_bytes: usize,
}

impl Default for SocketProfile {
    fn default() -> Self {
        SocketProfile {
            protocol: WireProtocol::Json,
            auth: vec![WsAuthTransport::Query {
                param: "token".into(),
            }],
            ping_interval: Duration::from_secs(20),
            dead_grace: Duration::from_secs(10),
            app_ping: false,
            snapshot_on_connect: true,
            snapshot_wait: Duration::from_secs(1),
            handover_drain: Duration::from_secs(1),
            server_heartbeat: true,
            namespace: "/".into(),
            connect_timeout: Duration::from_secs(10),
            wake_probe_timeout: Duration::from_secs(3),
            max_message_bytes: 16 * 1024 * 1024,
        }
    }
}

/// The accepted range of `socket.max_message_bytes`: 1 KiB to 256 MiB.
pub const MESSAGE_BYTES_RANGE: std::ops::RangeInclusive<usize> = 1024..=256 * 1024 * 1024;

/// The longest accepted `socket.namespace`, in bytes.
pub const MAX_NAMESPACE_BYTES: usize = 128;

/// A Socket.IO namespace: `/` or `/name`, printable ASCII without `,` (which ends the
/// namespace in a packet), spaces or a `?`, at most [`MAX_NAMESPACE_BYTES`].
pub(super) fn check_namespace(namespace: &str) -> Result<(), ProfileError> {
    let reason = if !namespace.starts_with('/') {
        Some("must start with /".to_string())
    } else if namespace.len() > MAX_NAMESPACE_BYTES {
        Some(format!("is longer than {MAX_NAMESPACE_BYTES} bytes"))
    } else if !namespace
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b',' && b != b'?')
    {
        Some("may hold only printable ASCII, without spaces, commas or ?".to_string())
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ProfileError::Invalid {
            field: "socket.namespace",
            reason,
        }),
        None => Ok(()),
    }
}

impl ServerProfile {
    /// Whether the socket is authenticated by a message after opening (an `auth`
    /// message, or Socket.IO's CONNECT), so that Kith waits for its acknowledgement.
    pub fn authenticates_by_message(&self) -> bool {
        self.socket.protocol == WireProtocol::SocketIo
            || self.socket.auth.contains(&WsAuthTransport::Message)
    }

    /// Whether a refreshed token is presented on the open socket (`auth` message) rather
    /// than by a make-before-break handover. Socket.IO has no in-band re-auth.
    pub fn authenticates_in_band(&self) -> bool {
        self.socket.protocol == WireProtocol::Json
            && self.socket.auth.contains(&WsAuthTransport::Message)
    }
}

#[cfg(test)]
mod tests {
    use super::super::invalid_field;
    use super::*;

    #[test]
    fn a_namespace_is_a_path_without_separators() {
        assert_eq!(ServerProfile::default().socket.namespace, "/");
        assert_eq!(
            ServerProfile::default().socket.snapshot_wait,
            Duration::from_secs(1)
        );
        for bad in ["", "presence", "/a,b", "/a b", "/a\\u0007", "/ä"] {
            assert_eq!(
                invalid_field(&format!("[socket]\nnamespace = \"{bad}\"")),
                "socket.namespace",
                "{bad}"
            );
        }
        let long = format!("/{}", "a".repeat(MAX_NAMESPACE_BYTES));
        assert_eq!(
            invalid_field(&format!("[socket]\nnamespace = \"{long}\"")),
            "socket.namespace"
        );
        let profile = ServerProfile::from_toml("[socket]\nnamespace = \"/presence-v2\"").unwrap();
        assert_eq!(profile.socket.namespace, "/presence-v2");
    }
}
