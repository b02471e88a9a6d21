//! The words the connection machine and its driver speak, apart from the machine.
//!
//! [`ConnectionMachine`](super::machine::ConnectionMachine) takes [`Input`]s and gives
//! back [`Action`]s (for the driver) and [`StateChange`]s (for the app and the user).
//! Those types, with the states, reasons and close codes they carry and the
//! [`MachineConfig`] the machine is built from, live here so that the vocabulary can
//! be read, and changed, without reading the machine's logic. [`socket`](super)
//! re-exports what its users need.

use std::fmt;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::presence::ChangeCause;
use crate::protocol::{ReconnectPolicy, ServerProfile};
use crate::proxy::ProxyProblem;
use crate::tls::CertProblem;
use crate::token::EndReason;

/// Identifies one socket for the lifetime of a machine.
pub type ConnId = u64;

/// Close codes that mean "your token is not accepted".
pub const AUTH_CLOSE_CODES: &[u16] = &[1008, 4001, 4401];
/// Close code that means "you are not allowed, do not come back".
pub const FORBIDDEN_CLOSE_CODE: u16 = 4403;
/// Normal closure.
pub const NORMAL_CLOSE: u16 = 1000;
/// A server disconnect this soon after the socket was accepted counts as "accepted,
/// then at once disconnected"; two in a row are treated as an auth rejection.
pub const QUICK_DISCONNECT_WINDOW: Duration = Duration::from_secs(2);

/// The connection's public state, as the UI shows it. `Offline`: no usable network
/// (no route to the server), so no socket and no retry timer until it comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Not started yet: waiting for [`Input::Start`].
    Idle,
    /// Fetching a token and opening a socket.
    Connecting {
        /// The attempt under way, counted from 1 since the last stable connection.
        attempt: u32,
    },
    /// The socket is open; waiting for the server to accept the auth message.
    Authenticating {
        /// The attempt under way, as in `Connecting`.
        attempt: u32,
    },
    /// An authenticated socket feeds presence.
    Connected,
    /// Waiting to retry after failed attempt `attempt`; the transition's
    /// [`StateChange::retry_at`] says until when.
    Reconnecting {
        /// The attempt that failed.
        attempt: u32,
    },
    /// No route to the server: no socket and no retry timer until the network is back.
    Offline,
    /// No more retries (attempts used up, a token refused even after a forced refresh,
    /// a refused certificate). The session and its credentials are kept: "Reconnect
    /// now", a sign-in or a restart tries again.
    GaveUp,
    /// The session is over and its credentials are gone; only [`Input::SignedIn`]
    /// starts again.
    SignedOut {
        /// Why the session ended.
        reason: EndReason,
    },
    /// Stopped for good ([`Input::Stop`]): every later input is ignored.
    Stopped,
}

impl ConnectionState {
    /// Whether [`Input::ReconnectNow`] starts an attempt in this state: the one rule
    /// the machine, the tray and the UI share for offering "Reconnect now".
    /// - waiting to retry, offline (the user may know better than the routing table),
    ///   or connecting (the attempt may be stuck on a token fetch or a socket that
    ///   never answers): start over now;
    /// - gave up, or idle: start with a fresh budget, including one forced refresh.
    ///
    /// Connected, authenticating, signed out and stopped ignore it.
    pub fn can_reconnect_now(&self) -> bool {
        matches!(
            self,
            ConnectionState::Reconnecting { .. }
                | ConnectionState::Connecting { .. }
                | ConnectionState::Offline
                | ConnectionState::GaveUp
                | ConnectionState::Idle
        )
    }

    /// A short, stable name for machine-readable output and logs (`gave_up`, …).
    pub fn name(&self) -> &'static str {
        match self {
            ConnectionState::Idle => "idle",
            ConnectionState::Connecting { .. } => "connecting",
            ConnectionState::Authenticating { .. } => "authenticating",
            ConnectionState::Connected => "connected",
            ConnectionState::Reconnecting { .. } => "reconnecting",
            ConnectionState::Offline => "offline",
            ConnectionState::GaveUp => "gave_up",
            ConnectionState::SignedOut { .. } => "signed_out",
            ConnectionState::Stopped => "stopped",
        }
    }
}

/// Where a web page answered instead of what Kith asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebPageAt {
    /// The auth API (sign-in or refresh).
    AuthApi,
    /// The presence socket's upgrade.
    Socket,
}

impl WebPageAt {
    fn what(self) -> &'static str {
        match self {
            WebPageAt::AuthApi => "the auth API",
            WebPageAt::Socket => "the presence socket",
        }
    }
}

/// Why a transition happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// [`Input::Start`] began an attempt.
    Started,
    /// The WebSocket upgrade succeeded.
    SocketOpened,
    /// The server accepted the socket's auth message.
    Authenticated,
    /// A replacement socket took over from the current one (make-before-break).
    Handover,
    /// TCP, TLS or protocol failure before the socket opened, with its description.
    ConnectFailed(String),
    /// The socket was not open and authenticated within
    /// [`MachineConfig::connect_timeout`].
    ConnectTimeout,
    /// The server answered the upgrade with this HTTP status.
    UpgradeRejected(u16),
    /// The socket closed or broke.
    ClosedByServer {
        /// The close code, if the server sent a close frame; `None` when the
        /// connection was simply lost.
        code: Option<u16>,
        /// The close frame's reason text, or what broke.
        reason: String,
    },
    /// The server ended the session itself (Socket.IO DISCONNECT, Engine.IO close).
    ServerDisconnect,
    /// The server answered the socket's authentication with an error (`auth_error`, a
    /// Socket.IO CONNECT_ERROR), with its message.
    AuthFailed(String),
    /// Nothing arrived on the live socket for longer than its dead-server limit.
    KeepaliveTimeout,
    /// The open socket did not answer a probe after a resume from sleep.
    WakeProbeFailed,
    /// The open socket did not answer a probe after the network changed.
    NetworkProbeFailed,
    /// The network went away: no route to the server.
    NetworkDown,
    /// The network came back.
    NetworkUp,
    /// The network changed (another route or source address to the server).
    NetworkChanged,
    /// The server closed the socket for an expired token before a handover finished:
    /// not a rejection, so a new attempt starts at once with a fresh token.
    TokenExpired,
    /// No token could be had for a connect, with the reason.
    TokenUnavailable(String),
    /// No token within [`MachineConfig::token_timeout`].
    TokenTimeout,
    /// The socket refused the token: one forced refresh and one immediate retry.
    AuthRetry,
    /// The socket refused a token the auth API had just issued.
    AuthRejected,
    /// The server's certificate (of the socket or the auth API) was refused. Not
    /// transient: the machine stops in `GaveUp` until the user retries.
    Certificate(CertProblem),
    /// The proxy would not open a tunnel; retried with backoff.
    Proxy(ProxyProblem),
    /// A web page answered where the auth API or the socket should be: a captive
    /// portal or a proxy's login page, most likely. Retried with backoff; the session
    /// is kept.
    WebPage(WebPageAt),
    /// The wait before the next attempt is over.
    RetryDue,
    /// The user asked to reconnect now, or the machine woke while waiting to retry.
    ReconnectNow,
    /// The auth API answered while the machine waited to reconnect: the server is
    /// back, so the wait is cut short.
    ServerBack,
    /// The profile's `max_attempts` failed attempts in a row: the machine gives up.
    MaxAttempts,
    /// The session ended, for this reason.
    SessionEnded(EndReason),
    /// The user signed in again.
    SignedIn,
    /// [`Input::Stop`].
    Stopped,
}

impl Reason {
    /// A short, stable code for machine-readable output.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Started => "started",
            Reason::SocketOpened => "socket_opened",
            Reason::Authenticated => "authenticated",
            Reason::Handover => "handover",
            Reason::ConnectFailed(_) => "connect_failed",
            Reason::ConnectTimeout => "connect_timeout",
            Reason::UpgradeRejected(_) => "upgrade_rejected",
            Reason::ClosedByServer { .. } => "closed_by_server",
            Reason::ServerDisconnect => "server_disconnect",
            Reason::AuthFailed(_) => "auth_failed",
            Reason::KeepaliveTimeout => "keepalive_timeout",
            Reason::WakeProbeFailed => "wake_probe_failed",
            Reason::NetworkProbeFailed => "network_probe_failed",
            Reason::NetworkDown => "network_down",
            Reason::NetworkUp => "network_up",
            Reason::NetworkChanged => "network_changed",
            Reason::TokenExpired => "token_expired",
            Reason::TokenUnavailable(_) => "token_unavailable",
            Reason::TokenTimeout => "token_timeout",
            Reason::AuthRetry => "auth_retry",
            Reason::AuthRejected => "auth_rejected",
            Reason::Certificate(problem) => problem.code(),
            Reason::Proxy(problem) => problem.code(),
            Reason::WebPage(_) => "web_page",
            Reason::RetryDue => "retry_due",
            Reason::ReconnectNow => "reconnect_now",
            Reason::ServerBack => "server_back",
            Reason::MaxAttempts => "max_attempts",
            Reason::SessionEnded(reason) => reason.as_str(),
            Reason::SignedIn => "signed_in",
            Reason::Stopped => "stopped",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::ConnectFailed(error) => write!(f, "connect failed: {error}"),
            Reason::UpgradeRejected(status) => write!(f, "upgrade rejected with HTTP {status}"),
            Reason::WebPage(at) => write!(
                f,
                "the server answered with a web page, not {}: perhaps a captive portal or a \
                 proxy's login page; Kith will keep trying",
                at.what()
            ),
            Reason::ClosedByServer {
                code: Some(code),
                reason,
            } if !reason.is_empty() => {
                write!(f, "closed by server ({code}: {reason})")
            }
            Reason::ClosedByServer {
                code: Some(code), ..
            } => write!(f, "closed by server ({code})"),
            Reason::ClosedByServer { code: None, .. } => f.write_str("connection lost"),
            Reason::ServerDisconnect => f.write_str("the server ended the session"),
            Reason::AuthFailed(message) if message.is_empty() => {
                f.write_str("the server refused the token")
            }
            Reason::AuthFailed(message) => write!(f, "the server refused the token: {message}"),
            Reason::NetworkDown => f.write_str("no network: no route to the server"),
            Reason::TokenUnavailable(error) => write!(f, "no fresh token: {error}"),
            Reason::TokenTimeout => f.write_str("no fresh token in time"),
            Reason::ServerBack => f.write_str("the server answered again"),
            Reason::Certificate(problem) => problem.fmt(f),
            Reason::Proxy(problem) => problem.fmt(f),
            Reason::AuthRejected => f.write_str(
                "the server refuses freshly issued tokens on the socket; retry, or sign in again",
            ),
            other => f.write_str(&other.code().replace('_', " ")),
        }
    }
}

/// One transition, with its reason and, when a retry is pending, its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// The state left.
    pub from: ConnectionState,
    /// The state entered.
    pub to: ConnectionState,
    /// Why.
    pub reason: Reason,
    /// When the next attempt starts, for `Reconnecting`: an absolute deadline, so a
    /// countdown shown later (a window opened mid-wait, a tray tick) stays right.
    pub retry_at: Option<Instant>,
}

/// What a connection state change means to a user, in one serializable shape: the CLI
/// prints it, the app sends it to its window, so both say the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionSummary {
    /// [`ConnectionState::name`].
    pub state: &'static str,
    /// [`Reason::code`].
    pub reason: &'static str,
    /// The reason in words ([`Reason`]'s `Display`).
    pub detail: String,
    /// The attempt under way or failed, while connecting or waiting to retry.
    pub attempt: Option<u32>,
    /// When the next attempt starts, for `reconnecting`: milliseconds since the Unix
    /// epoch, so a countdown shown later still counts from the real deadline.
    pub retry_at_ms: Option<u64>,
    /// Whether "Reconnect now" does anything in this state.
    pub can_reconnect_now: bool,
}

impl StateChange {
    /// This change as a user sees it.
    pub fn summary(&self) -> ConnectionSummary {
        let attempt = match self.to {
            ConnectionState::Connecting { attempt }
            | ConnectionState::Authenticating { attempt }
            | ConnectionState::Reconnecting { attempt } => Some(attempt),
            _ => None,
        };
        ConnectionSummary {
            state: self.to.name(),
            reason: self.reason.code(),
            detail: self.reason.to_string(),
            attempt,
            retry_at_ms: self.retry_at_unix_ms(),
            can_reconnect_now: self.to.can_reconnect_now(),
        }
    }

    /// How long until the retry, seen at `now`; zero once it is due.
    pub fn retry_in(&self, now: Instant) -> Option<Duration> {
        self.retry_at.map(|at| at.saturating_duration_since(now))
    }

    /// The retry's deadline on the wall clock, in milliseconds since the Unix epoch, for
    /// a UI that counts down with its own clock.
    pub fn retry_at_unix_ms(&self) -> Option<u64> {
        let left = self.retry_in(Instant::now())?;
        let at = std::time::SystemTime::now() + left;
        Some(
            at.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        )
    }
}

/// What a token is wanted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchPurpose {
    /// For a new connection (first connect or reconnect).
    Connect,
    /// For a second socket that will replace the current one (make-before-break).
    Handover,
    /// For in-band re-authentication on the current socket.
    InBand,
}

/// Inputs to the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Start connecting (from `Idle`, or again from `GaveUp`).
    Start,
    /// A token for `purpose` is ready (the driver keeps the token itself).
    TokenReady {
        /// What it was fetched for ([`Action::FetchToken`]).
        purpose: FetchPurpose,
        /// The token manager's generation of the token: higher is newer.
        generation: u64,
        /// When the token expires.
        expires_at: Instant,
    },
    /// No token could be had. `ended` is set when the session is over; `retry_after`
    /// is the auth API's `Retry-After`, if it sent one.
    TokenFailed {
        /// What it was fetched for.
        purpose: FetchPurpose,
        /// Why, in words.
        reason: String,
        /// Why the session is over, when it is.
        ended: Option<EndReason>,
        /// How long the auth API asked to wait.
        retry_after: Option<Duration>,
        /// A web page answered instead of the auth API.
        web_page: bool,
        /// Set when the auth API's certificate was refused.
        certificate: Option<CertProblem>,
    },
    /// The WebSocket upgrade succeeded.
    Opened {
        /// The socket that opened.
        conn: ConnId,
    },
    /// The server answered the upgrade with an HTTP error status.
    UpgradeRejected {
        /// The socket refused.
        conn: ConnId,
        /// The HTTP status.
        status: u16,
    },
    /// TCP, TLS or protocol failure before the socket opened.
    ConnectFailed {
        /// The socket that failed.
        conn: ConnId,
        /// What went wrong, with no URL in it.
        error: String,
    },
    /// The server's certificate was refused while the socket was opened.
    CertificateRejected {
        /// The socket that failed.
        conn: ConnId,
        /// What is wrong with the certificate.
        problem: CertProblem,
    },
    /// The proxy would not open a tunnel for the socket.
    ProxyFailed {
        /// The socket that failed.
        conn: ConnId,
        /// What the proxy did.
        problem: ProxyProblem,
    },
    /// The server accepted the socket's auth message (or an in-band re-auth).
    AuthSucceeded {
        /// The socket accepted.
        conn: ConnId,
    },
    /// The server refused the socket's auth message.
    AuthFailed {
        /// The socket refused.
        conn: ConnId,
        /// The server's words; cleaned and capped before any screen shows them.
        message: String,
    },
    /// The socket a handover replaced has delivered everything only it had: the new
    /// socket's messages have caught up with it (the driver's handover router says so).
    HandoverDrained {
        /// The retiring socket.
        conn: ConnId,
    },
    /// The socket's upgrade was answered with a web page (an HTTP status other than
    /// 101 and an HTML body): a captive portal or a proxy's login page.
    UpgradeAnsweredWithPage {
        /// The socket.
        conn: ConnId,
        /// The HTTP status of the page.
        status: u16,
    },
    /// A presence snapshot arrived on the socket.
    SnapshotReceived {
        /// The socket it arrived on.
        conn: ConnId,
    },
    /// The server announced its heartbeat (Engine.IO open packet): it pings every
    /// `interval` and considers the peer gone after `timeout` more. Used for dead-server
    /// detection when [`MachineConfig::server_heartbeat`] is set; zero values are ignored.
    Heartbeat {
        /// The socket whose server announced it.
        conn: ConnId,
        /// How often the server pings.
        interval: Duration,
        /// How long the server waits for the pong before it counts the peer gone.
        timeout: Duration,
    },
    /// The server ended the session on this socket (Socket.IO DISCONNECT `41`,
    /// Engine.IO close `1`); the socket is gone.
    ServerDisconnected {
        /// The socket that was ended.
        conn: ConnId,
    },
    /// Any frame arrived (data, pong, app PONG).
    Activity {
        /// The socket it arrived on.
        conn: ConnId,
    },
    /// The socket closed or broke; `code` is the close code if there was one.
    Closed {
        /// The socket that closed.
        conn: ConnId,
        /// The close frame's code, if one came.
        code: Option<u16>,
        /// The close frame's reason text, or what broke.
        reason: String,
    },
    /// The token manager has a new access token.
    TokenRefreshed {
        /// Its generation.
        generation: u64,
    },
    /// The user asked to reconnect now; acted on only where
    /// [`ConnectionState::can_reconnect_now`] says so.
    ReconnectNow,
    /// The machine resumed from sleep (wall clock jumped past the monotonic clock).
    Wake,
    /// The network went away: the kernel has no route to the server.
    NetworkDown,
    /// The network is usable again after [`Input::NetworkDown`].
    NetworkUp,
    /// The network is usable and changed (another route or source address).
    NetworkChanged,
    /// Close every socket and stop for good.
    Stop,
    /// The session ended elsewhere (refresh rejected, logout).
    SessionEnded {
        /// Why it ended.
        reason: EndReason,
    },
    /// The user signed in again.
    SignedIn,
    /// A deadline from
    /// [`ConnectionMachine::poll_timeout`](super::machine::ConnectionMachine::poll_timeout)
    /// passed.
    Tick,
}

/// Why the machine closes a socket; its text goes in the close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// A handover socket took over.
    Handover,
    /// The handover socket did not get ready in time.
    HandoverTimedOut,
    /// The server answered the socket's authentication with an error.
    AuthFailed,
    /// The server refuses freshly issued tokens: the machine gives up.
    AuthRejected,
    /// Closed to retry once with a forcibly refreshed token.
    AuthRetry,
    /// The server's certificate was refused: the machine gives up.
    CertificateRefused,
    /// No route to the server any more.
    NetworkDown,
    /// Closed on the way to a new attempt.
    Reconnecting,
    /// The socket was not open and authenticated in time.
    ConnectTimeout,
    /// The socket was silent past its dead-server limit.
    KeepaliveTimeout,
    /// The socket did not answer the probe sent after a resume from sleep.
    NoAnswerAfterWake,
    /// The socket did not answer the probe sent after the network changed.
    NoAnswerAfterNetworkChange,
    /// The session is over.
    SignedOut,
    /// The machine stopped.
    Stopped,
}

impl CloseReason {
    /// The close frame's reason text.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Handover => "handover",
            CloseReason::HandoverTimedOut => "handover timed out",
            CloseReason::AuthFailed => "auth failed",
            CloseReason::AuthRejected => "auth rejected",
            CloseReason::AuthRetry => "auth retry",
            CloseReason::CertificateRefused => "certificate refused",
            CloseReason::NetworkDown => "network down",
            CloseReason::Reconnecting => "reconnecting",
            CloseReason::ConnectTimeout => "connect timeout",
            CloseReason::KeepaliveTimeout => "keepalive timeout",
            CloseReason::NoAnswerAfterWake => "no answer after wake",
            CloseReason::NoAnswerAfterNetworkChange => "no answer after a network change",
            CloseReason::SignedOut => "signed out",
            CloseReason::Stopped => "stopped",
        }
    }
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Get an access token; `force` names a rejected generation to refresh past.
    FetchToken {
        /// What the token is for; the answer comes back with it.
        purpose: FetchPurpose,
        /// A generation the socket refused: refresh even if the token looks fresh.
        force: Option<u64>,
    },
    /// Open a socket with the latest token.
    Open {
        /// The new socket's id, which its events carry.
        conn: ConnId,
    },
    /// Send the in-band auth message with the latest token.
    SendAuth {
        /// The socket to send it on.
        conn: ConnId,
    },
    /// Send a WebSocket ping, plus an app-level PING when `app` is set.
    SendPing {
        /// The socket to ping.
        conn: ConnId,
        /// Also send the app-level `{"type":"PING"}`.
        app: bool,
    },
    /// Close a socket.
    Close {
        /// The socket to close.
        conn: ConnId,
        /// The close frame's code.
        code: u16,
        /// Why; its text is the close frame's reason.
        reason: CloseReason,
    },
    /// Feed this socket's messages (buffered so far, and from now on) to presence.
    Promote {
        /// The socket that feeds presence from now on.
        conn: ConnId,
        /// How its first snapshot's differences are marked: `Resync` after a gap,
        /// `Live` for a seamless handover (real changes that happened meanwhile).
        snapshot: ChangeCause,
    },
    /// End the session: clear credentials, for a reason only the socket could see.
    EndSession {
        /// Why the session ends.
        reason: EndReason,
    },
}

/// Timing and transport facts the machine needs from the profile.
#[derive(Debug, Clone)]
pub struct MachineConfig {
    /// The socket is authenticated by a message after opening; wait for its ack.
    pub auth_by_message: bool,
    /// A refreshed token is presented on the open socket instead of a handover.
    pub in_band_reauth: bool,
    /// Each keepalive ping also sends the app-level `{"type":"PING"}`.
    pub app_ping: bool,
    /// The server sends a snapshot after auth, so a handover socket waits for it
    /// (at most `snapshot_wait`) before it takes over.
    pub snapshot_on_connect: bool,
    /// How long a handover socket waits for its snapshot after authenticating before it
    /// is promoted without one.
    pub snapshot_wait: Duration,
    /// The longest the socket a handover replaced is still read; see
    /// [`SocketProfile::handover_drain`](crate::protocol::SocketProfile::handover_drain).
    pub handover_drain: Duration,
    /// Take dead-server detection from the server's announced heartbeat
    /// ([`Input::Heartbeat`]) instead of `ping_interval + dead_grace`.
    pub server_heartbeat: bool,
    /// How often the live socket is pinged.
    pub ping_interval: Duration,
    /// Silence beyond `ping_interval + dead_grace` means the socket is dead.
    pub dead_grace: Duration,
    /// Deadline for a socket to be open and authenticated.
    pub connect_timeout: Duration,
    /// How long a probe (after a wake or a network change) waits for an answer.
    pub wake_probe_timeout: Duration,
    /// How long a token fetch may take before it counts as failed.
    pub token_timeout: Duration,
    /// Backoff, stability and the attempt limit.
    pub reconnect: ReconnectPolicy,
}

/// The longest a server's `Retry-After` delays a reconnect: the token manager's cap.
pub use crate::token::manager::MAX_RETRY_AFTER;

impl MachineConfig {
    /// The machine's configuration for `profile`.
    pub fn from_profile(profile: &ServerProfile) -> Self {
        MachineConfig {
            auth_by_message: profile.authenticates_by_message(),
            in_band_reauth: profile.authenticates_in_band(),
            app_ping: profile.socket.app_ping,
            snapshot_on_connect: profile.socket.snapshot_on_connect,
            snapshot_wait: profile.socket.snapshot_wait,
            handover_drain: profile.socket.handover_drain,
            server_heartbeat: profile.socket.protocol == crate::protocol::WireProtocol::SocketIo
                && profile.socket.server_heartbeat,
            ping_interval: profile.socket.ping_interval,
            dead_grace: profile.socket.dead_grace,
            connect_timeout: profile.socket.connect_timeout,
            wake_probe_timeout: profile.socket.wake_probe_timeout,
            token_timeout: crate::token::token_fetch_deadline(profile),
            reconnect: profile.reconnect.clone(),
        }
    }

    /// Silence longer than this means the connection is dead.
    pub fn dead_after(&self) -> Duration {
        self.ping_interval + self.dead_grace
    }
}
