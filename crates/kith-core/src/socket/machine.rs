//! The connection state machine, with no IO.
//!
//! [`ConnectionMachine`] decides; the driver does. It has three kinds of methods, as in
//! quinn-proto's `Connection`:
//! - getters: [`state`](ConnectionMachine::state), [`live_sockets`](ConnectionMachine::live_sockets), …
//! - [`handle`](ConnectionMachine::handle) feeds one [`Input`] at a given time;
//! - `poll_*` drain what it wants done ([`Action`]s), what happened ([`StateChange`]s)
//!   and when it next needs a [`Input::Tick`] ([`poll_timeout`](ConnectionMachine::poll_timeout)).
//!
//! What it takes and gives (inputs, actions, states, reasons, its configuration) is
//! defined in [`events`](super::events); this file is the logic alone.
//!
//! Time is an argument and randomness comes from a seeded generator, so every
//! transition is reproducible in tests without sleeping. The machine never sees a
//! token: it asks for one ([`Action::FetchToken`]) and learns only its generation and
//! expiry.
//!
//! Failure classes (design principle 2):
//! - transient (connect error, server close, dead keepalive) → backoff, full jitter;
//! - auth (HTTP 401/403 on the upgrade, close 1008/4001/4401, `auth_error`) → one
//!   forced refresh and one immediate retry, then `GaveUp` with reason `auth_rejected`.
//!   The refresh itself succeeded, so the server still vouches for the session: the
//!   credentials are kept and the user can retry. A socket's refusal is never proof
//!   that a session is over;
//! - fatal (close 4403, a refresh the server rejected) → `SignedOut` at once;
//! - a refused certificate (socket or auth API: unknown issuer, expired, wrong host) →
//!   `GaveUp` at once with a [`Reason::Certificate`] that says what to fix. Retrying
//!   cannot help until the trust, the clock or the server changes, so there is no
//!   retry loop, and the session is kept. A proxy that refuses (407, 403, unreachable)
//!   is transient: [`Reason::Proxy`] with backoff.
//!
//! Nothing waits without a deadline: a token fetch that does not answer within
//! [`MachineConfig::token_timeout`] counts as failed, and a handover socket waits for
//! its snapshot at most [`MachineConfig::snapshot_wait`] after authenticating, then is
//! promoted without one (a backend may never send one).
//!
//! The network going away is not a failure: with no route to the server
//! ([`Input::NetworkDown`], from [`network_watch`](super::network_watch)) the machine
//! closes its sockets and waits in `Offline`, counting no attempt and arming no retry
//! timer. When the network comes back or changes ([`Input::NetworkUp`],
//! [`Input::NetworkChanged`]) it reconnects at once, or probes the open socket as after
//! a wake.
//!
//! A server that ends the session itself (Socket.IO DISCONNECT, Engine.IO close) is
//! `server_disconnect`, not a lost connection. One that does so within
//! [`QUICK_DISCONNECT_WINDOW`] of accepting, twice in a row, is refusing the token in
//! all but name: it takes the auth path (one forced refresh, then `gave_up`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::presence::ChangeCause;
use crate::socket::backoff::backoff_delay;
use crate::socket::events::{
    Action, CloseReason, ConnId, ConnectionState, FetchPurpose, Input, MachineConfig, Reason,
    StateChange, WebPageAt, AUTH_CLOSE_CODES, FORBIDDEN_CLOSE_CODE, MAX_RETRY_AFTER, NORMAL_CLOSE,
    QUICK_DISCONNECT_WINDOW,
};
use crate::tls::CertProblem;
use crate::token::EndReason;

/// An auth close this close to the token's expiry is the server enforcing expiry
/// (clocks and JWT timestamps are only good to the second), not a rejection.
const EXPIRY_TOLERANCE: Duration = Duration::from_secs(1);
/// The longest heartbeat a server's Engine.IO open packet may set (interval or timeout).
const MAX_SERVER_HEARTBEAT: Duration = Duration::from_secs(24 * 60 * 60);

/// Why the open socket was probed: the reason given when it does not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    AfterWake,
    AfterNetworkChange,
}

impl Probe {
    fn close_reason(self) -> CloseReason {
        match self {
            Probe::AfterWake => CloseReason::NoAnswerAfterWake,
            Probe::AfterNetworkChange => CloseReason::NoAnswerAfterNetworkChange,
        }
    }

    fn failure(self) -> Reason {
        match self {
            Probe::AfterWake => Reason::WakeProbeFailed,
            Probe::AfterNetworkChange => Reason::NetworkProbeFailed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// TCP + upgrade in progress.
    Opening,
    /// Open, waiting for `auth_success`.
    AwaitingAuth,
    /// Authenticated.
    Live,
}

#[derive(Debug, Clone)]
struct Conn {
    id: ConnId,
    phase: Phase,
    generation: u64,
    token_expires_at: Instant,
    /// Deadline for reaching Live.
    deadline: Option<Instant>,
    /// A live handover socket without its snapshot is promoted at this instant.
    snapshot_deadline: Option<Instant>,
    /// When the socket became Live.
    live_since: Option<Instant>,
    /// Silence longer than this means this socket is dead.
    dead_after: Duration,
    last_rx: Instant,
    /// Generation sent in an in-band re-auth not yet acknowledged.
    reauth_generation: Option<(u64, Instant)>,
}

/// The machine's deadlines, one slot per kind: what [`ConnectionMachine::poll_timeout`]
/// reports the earliest of, and what [`Input::Tick`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// The token request in flight counts as failed.
    TokenFetch,
    /// The next attempt starts (reconnecting).
    Retry,
    /// The next keepalive ping.
    Ping,
    /// Silence past this means the live socket is dead.
    DeadCheck,
    /// A probe (after a wake or a network change) got no answer.
    Probe,
    /// The connection counts as stable: the failure count resets.
    Stable,
    /// The socket a handover replaced is closed, drained or not.
    Drain,
}

#[derive(Debug, Clone, Default)]
struct Timers([Option<Instant>; 7]);

impl Timers {
    fn get(&self, timer: Timer) -> Option<Instant> {
        self.0[timer as usize]
    }

    fn set(&mut self, timer: Timer, at: Instant) {
        self.0[timer as usize] = Some(at);
    }

    fn clear(&mut self, timer: Timer) {
        self.0[timer as usize] = None;
    }

    fn is_due(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|at| now >= at)
    }

    /// The earliest deadline set, if any.
    fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }
}

/// The connection state machine. See the module docs.
///
/// # Calling contract
/// The driver (`socket/driver.rs`) is its only caller, on one task, and keeps to this:
/// 1. Feed one [`Input`] with [`handle`](Self::handle), at the current `now`. `handle`
///    only queues what it decides and never calls out, so it cannot be re-entered.
/// 2. Then drain both queues: [`poll_action`](Self::poll_action) until `None`, doing
///    each action, and [`poll_event`](Self::poll_event) until `None`, telling each
///    change. An action's result comes back as a later input (a token, a socket
///    event), never as a return value. Doing an action may feed an input at once (an
///    `Open` with no token to open with is a `ConnectFailed`): that is allowed between
///    two `poll_action` calls, and is why the driver drains until both queues stay
///    empty.
/// 3. Re-read [`poll_timeout`](Self::poll_timeout) and feed [`Input::Tick`] when that
///    instant passes. A deadline may move or vanish after any input.
///
/// In `Stopped` every input is ignored, for good. In `SignedOut` only
/// [`Input::SignedIn`] (a new attempt with a fresh budget) and [`Input::Stop`] do
/// anything. Every other state accepts every input; one that does not apply (a late
/// event of a closed socket, a token for a purpose no longer pending) is dropped.
pub struct ConnectionMachine {
    config: MachineConfig,
    state: ConnectionState,
    /// The socket being connected, or the live one.
    primary: Option<Conn>,
    /// The replacement socket during a make-before-break handover.
    candidate: Option<Conn>,
    /// The socket a handover replaced, still read until the driver says it has
    /// delivered what only it had ([`Input::HandoverDrained`]) or
    /// [`MachineConfig::handover_drain`] has passed ([`Timer::Drain`]).
    retiring: Option<ConnId>,
    /// Failed attempts in a row.
    failures: u32,
    auth_retry_used: bool,
    /// Server disconnects in a row that came within [`QUICK_DISCONNECT_WINDOW`] of
    /// the socket being accepted.
    quick_disconnects: u32,
    /// The token request in flight, if any.
    pending_fetch: Option<FetchPurpose>,
    /// The machine's own deadlines, one per kind.
    timers: Timers,
    /// What the pending probe was sent for.
    probe: Probe,
    /// Since when the machine has had no stable connection: set by the first failure
    /// after one, cleared where the failure count resets. Bounds the backoff.
    unstable_since: Option<Instant>,
    /// The last word on the network: false after [`Input::NetworkDown`], until the
    /// network comes back or a socket goes live.
    network_usable: bool,
    next_conn: ConnId,
    rng: SmallRng,
    actions: VecDeque<Action>,
    events: VecDeque<StateChange>,
}

impl ConnectionMachine {
    /// A machine in `Idle`. `seed` drives backoff jitter.
    pub fn new(config: MachineConfig, seed: u64) -> Self {
        ConnectionMachine {
            config,
            state: ConnectionState::Idle,
            primary: None,
            candidate: None,
            retiring: None,
            failures: 0,
            auth_retry_used: false,
            quick_disconnects: 0,
            pending_fetch: None,
            timers: Timers::default(),
            probe: Probe::AfterWake,
            unstable_since: None,
            network_usable: true,
            next_conn: 1,
            rng: SmallRng::seed_from_u64(seed),
            actions: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    // ---- getters -------------------------------------------------------------

    /// The state now.
    pub fn state(&self) -> &ConnectionState {
        &self.state
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &MachineConfig {
        &self.config
    }

    /// Sockets that are open or opening.
    pub fn live_sockets(&self) -> usize {
        usize::from(self.primary.is_some()) + usize::from(self.candidate.is_some())
    }

    /// Whether a make-before-break handover is under way.
    pub fn in_handover(&self) -> bool {
        self.candidate.is_some()
    }

    /// The socket a handover replaced that is still being read, if any.
    pub fn retiring(&self) -> Option<ConnId> {
        self.retiring
    }

    /// The socket whose messages feed presence, once live.
    pub fn primary(&self) -> Option<ConnId> {
        self.primary.as_ref().map(|c| c.id)
    }

    /// Failed attempts in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Whether the primary socket is open and authenticated.
    pub fn primary_is_live(&self) -> bool {
        self.primary
            .as_ref()
            .is_some_and(|c| c.phase == Phase::Live)
    }

    /// Whether a token fetch is awaited.
    pub fn awaits_token(&self) -> bool {
        self.pending_fetch.is_some()
    }

    // ---- outputs ---------------------------------------------------------------

    /// The next thing the driver must do, in order; `None` when there is nothing.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next state change to tell the app, in order; `None` when there is nothing.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<StateChange> {
        self.events.pop_front()
    }

    /// The next instant at which the machine wants an [`Input::Tick`]; `None` when it
    /// waits for an input only (idle, offline, gave up, signed out, stopped).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let conn_deadlines = [&self.primary, &self.candidate]
            .into_iter()
            .flatten()
            .flat_map(|c| [c.deadline, c.snapshot_deadline])
            .flatten();
        self.timers.next().into_iter().chain(conn_deadlines).min()
    }

    // ---- inputs ----------------------------------------------------------------

    /// Feeds one input, seen at `now` (which never goes backwards between calls). What
    /// the machine decides is queued: drain [`poll_action`](Self::poll_action) and
    /// [`poll_event`](Self::poll_event), then re-read
    /// [`poll_timeout`](Self::poll_timeout), as the calling contract says.
    pub fn handle(&mut self, input: Input, now: Instant) {
        if self.state == ConnectionState::Stopped {
            return;
        }
        // Remembered in every state, so an attempt started later (a sign-in, Reconnect
        // now) knows whether a failure is the network's.
        match input {
            Input::NetworkDown => self.network_usable = false,
            Input::NetworkUp | Input::NetworkChanged => self.network_usable = true,
            _ => {}
        }
        if let ConnectionState::SignedOut { .. } = self.state {
            if input == Input::SignedIn {
                self.reset_failures();
                self.begin_attempt(Reason::SignedIn, now);
            } else if input == Input::Stop {
                self.stop();
            }
            return;
        }
        match input {
            Input::Start | Input::SignedIn => {
                if matches!(self.state, ConnectionState::Idle | ConnectionState::GaveUp) {
                    self.reset_failures();
                    let reason = if input == Input::Start {
                        Reason::Started
                    } else {
                        Reason::SignedIn
                    };
                    self.begin_attempt(reason, now);
                }
            }
            Input::TokenReady {
                purpose,
                generation,
                expires_at,
            } => self.on_token_ready(purpose, generation, expires_at, now),
            Input::TokenFailed {
                purpose,
                reason,
                ended,
                retry_after,
                certificate,
                web_page,
            } => match certificate {
                Some(problem) if purpose == FetchPurpose::Connect => {
                    if self.pending_fetch == Some(purpose) {
                        self.pending_fetch = None;
                        self.give_up_on_certificate(problem);
                    }
                }
                _ => {
                    let reason = if web_page {
                        Reason::WebPage(WebPageAt::AuthApi)
                    } else {
                        Reason::TokenUnavailable(reason)
                    };
                    self.on_token_failed(purpose, reason, ended, retry_after, now)
                }
            },
            Input::Opened { conn } => self.on_opened(conn, now),
            Input::UpgradeRejected { conn, status } => {
                if status == 401 || status == 403 {
                    self.on_auth_failure(conn, Reason::UpgradeRejected(status), now);
                } else {
                    self.on_transient_failure(conn, Reason::UpgradeRejected(status), now);
                }
            }
            Input::UpgradeAnsweredWithPage { conn, status } => {
                tracing::info!(conn, status, "a web page answered the socket's upgrade");
                self.on_transient_failure(conn, Reason::WebPage(WebPageAt::Socket), now)
            }
            Input::ConnectFailed { conn, error } => {
                self.on_transient_failure(conn, Reason::ConnectFailed(error), now)
            }
            Input::CertificateRejected { conn, problem } => {
                if self.candidate.as_ref().is_some_and(|c| c.id == conn) {
                    // The current socket keeps working; the handover is dropped.
                    self.candidate = None;
                } else if self.primary() == Some(conn) {
                    self.primary = None;
                    self.give_up_on_certificate(problem);
                }
            }
            Input::ProxyFailed { conn, problem } => {
                self.on_transient_failure(conn, Reason::Proxy(problem), now)
            }
            Input::AuthSucceeded { conn } => self.on_auth_succeeded(conn, now),
            Input::AuthFailed { conn, message } => {
                // Server text: cleaned and capped before it reaches any screen.
                let message = crate::text::plain_text(&message, 200);
                self.on_auth_failure(conn, Reason::AuthFailed(message), now)
            }
            Input::SnapshotReceived { conn } => {
                if self
                    .candidate
                    .as_ref()
                    .is_some_and(|c| c.id == conn && c.phase == Phase::Live)
                {
                    self.complete_handover(now);
                }
            }
            Input::Activity { conn } => {
                for slot in [&mut self.primary, &mut self.candidate] {
                    if let Some(c) = slot.as_mut().filter(|c| c.id == conn) {
                        c.last_rx = now;
                    }
                }
                if self.primary.as_ref().is_some_and(|c| c.id == conn) {
                    self.timers.clear(Timer::Probe);
                }
            }
            Input::HandoverDrained { conn } => {
                if self.retiring == Some(conn) {
                    self.close_retiring();
                }
            }
            Input::Closed { conn, code, reason } => self.on_closed(conn, code, reason, now),
            Input::ServerDisconnected { conn } => self.on_server_disconnected(conn, now),
            Input::Heartbeat {
                conn,
                interval,
                timeout,
            } => self.on_heartbeat(conn, interval, timeout),
            Input::TokenRefreshed { generation } => self.on_token_refreshed(generation, now),
            Input::ReconnectNow if self.state.can_reconnect_now() => {
                if matches!(self.state, ConnectionState::GaveUp | ConnectionState::Idle) {
                    // The user asked: a fresh budget, including one forced refresh.
                    self.reset_failures();
                }
                self.begin_attempt(Reason::ReconnectNow, now);
            }
            Input::ReconnectNow => {}
            Input::Wake => match self.state {
                ConnectionState::Connected => self.probe(Probe::AfterWake, now),
                ConnectionState::Reconnecting { .. } => {
                    self.begin_attempt(Reason::ReconnectNow, now)
                }
                _ => {}
            },
            Input::NetworkDown => self.on_network_down(),
            Input::NetworkUp => self.on_network_usable(Reason::NetworkUp, now),
            Input::NetworkChanged => self.on_network_usable(Reason::NetworkChanged, now),
            Input::Stop => self.stop(),
            Input::SessionEnded { reason } => self.sign_out(reason, false),
            Input::Tick => self.on_tick(now),
        }
    }

    // ---- transitions -------------------------------------------------------------

    fn transition(&mut self, to: ConnectionState, reason: Reason, retry_at: Option<Instant>) {
        let from = std::mem::replace(&mut self.state, to.clone());
        // A repeated state is news only for a handover, an attempt the user restarted,
        // or a new deadline.
        if from == to
            && !matches!(reason, Reason::Handover | Reason::ReconnectNow)
            && retry_at.is_none()
        {
            return;
        }
        self.events.push_back(StateChange {
            from,
            to,
            reason,
            retry_at,
        });
    }

    /// Pings the open socket; no answer within `wake_probe_timeout` means it is dead.
    fn probe(&mut self, probe: Probe, now: Instant) {
        if let Some(primary) = &self.primary {
            self.actions.push_back(Action::SendPing {
                conn: primary.id,
                app: self.config.app_ping,
            });
            self.timers
                .set(Timer::Probe, now + self.config.wake_probe_timeout);
            self.probe = probe;
        }
    }

    fn on_network_down(&mut self) {
        if matches!(
            self.state,
            ConnectionState::Connecting { .. }
                | ConnectionState::Authenticating { .. }
                | ConnectionState::Connected
                | ConnectionState::Reconnecting { .. }
        ) {
            self.go_offline();
        }
    }

    /// No route to the server: close every socket and wait for the network, with no
    /// timer and no attempt counted. Retrying could not reach the server anyway.
    fn go_offline(&mut self) {
        self.close_all(CloseReason::NetworkDown);
        self.clear_timers();
        self.pending_fetch = None;
        self.transition(ConnectionState::Offline, Reason::NetworkDown, None);
    }

    /// The network is usable (again, or differently): whatever was waiting on the old
    /// one goes now. An open socket may have died with the old route, so it is probed.
    fn on_network_usable(&mut self, reason: Reason, now: Instant) {
        match self.state {
            ConnectionState::Connected => self.probe(Probe::AfterNetworkChange, now),
            // An attempt under way went out on the old network: start it again.
            ConnectionState::Offline
            | ConnectionState::Reconnecting { .. }
            | ConnectionState::Connecting { .. }
            | ConnectionState::Authenticating { .. } => self.begin_attempt(reason, now),
            _ => {}
        }
    }

    fn clear_timers(&mut self) {
        self.timers = Timers::default();
    }

    /// A fresh budget: no failures counted, the forced refresh available again, and no
    /// outage under way.
    fn reset_failures(&mut self) {
        self.failures = 0;
        self.auth_retry_used = false;
        self.quick_disconnects = 0;
        self.unstable_since = None;
    }

    /// Starts attempt `failures + 1`: fetch a fresh token, then open.
    fn begin_attempt(&mut self, reason: Reason, now: Instant) {
        self.close_all(CloseReason::Reconnecting);
        self.clear_timers();
        let _ = now;
        let attempt = self.failures + 1;
        self.transition(ConnectionState::Connecting { attempt }, reason, None);
        self.request_token(FetchPurpose::Connect, None, now);
    }

    fn request_token(&mut self, purpose: FetchPurpose, force: Option<u64>, now: Instant) {
        self.pending_fetch = Some(purpose);
        self.timers
            .set(Timer::TokenFetch, now + self.config.token_timeout);
        self.actions
            .push_back(Action::FetchToken { purpose, force });
    }

    fn new_conn(&mut self, generation: u64, expires_at: Instant, now: Instant) -> Conn {
        let id = self.next_conn;
        self.next_conn += 1;
        self.actions.push_back(Action::Open { conn: id });
        Conn {
            id,
            phase: Phase::Opening,
            generation,
            token_expires_at: expires_at,
            deadline: Some(now + self.config.connect_timeout),
            snapshot_deadline: None,
            live_since: None,
            dead_after: self.config.dead_after(),
            last_rx: now,
            reauth_generation: None,
        }
    }

    fn on_token_ready(
        &mut self,
        purpose: FetchPurpose,
        generation: u64,
        expires_at: Instant,
        now: Instant,
    ) {
        if self.pending_fetch != Some(purpose) {
            return;
        }
        self.pending_fetch = None;
        self.timers.clear(Timer::TokenFetch);
        match purpose {
            FetchPurpose::Connect => {
                if !matches!(self.state, ConnectionState::Connecting { .. })
                    || self.primary.is_some()
                {
                    return;
                }
                let conn = self.new_conn(generation, expires_at, now);
                self.primary = Some(conn);
            }
            FetchPurpose::Handover => {
                let primary_generation = self.primary.as_ref().map(|c| c.generation);
                if self.state != ConnectionState::Connected
                    || self.candidate.is_some()
                    || primary_generation >= Some(generation)
                {
                    return;
                }
                let conn = self.new_conn(generation, expires_at, now);
                self.candidate = Some(conn);
            }
            FetchPurpose::InBand => {
                if self.state != ConnectionState::Connected {
                    return;
                }
                if let Some(primary) = self.primary.as_mut() {
                    if primary.generation < generation {
                        primary.reauth_generation = Some((generation, expires_at));
                        self.actions
                            .push_back(Action::SendAuth { conn: primary.id });
                    }
                }
            }
        }
    }

    fn on_token_failed(
        &mut self,
        purpose: FetchPurpose,
        reason: Reason,
        ended: Option<EndReason>,
        retry_after: Option<Duration>,
        now: Instant,
    ) {
        if self.pending_fetch != Some(purpose) {
            return;
        }
        self.pending_fetch = None;
        self.timers.clear(Timer::TokenFetch);
        if let Some(reason) = ended {
            self.sign_out(reason, false);
            return;
        }
        if purpose == FetchPurpose::Connect {
            self.back_off(reason, retry_after, now);
        }
        // A failed handover or re-auth token leaves the current socket as it is; the
        // token manager retries the refresh on its own schedule.
    }

    fn on_opened(&mut self, conn: ConnId, now: Instant) {
        let in_band = self.config.auth_by_message;
        let is_primary = self.primary.as_ref().is_some_and(|c| c.id == conn);
        let Some(c) = self.conn_mut(conn) else { return };
        if c.phase != Phase::Opening {
            return;
        }
        c.last_rx = now;
        if in_band {
            c.phase = Phase::AwaitingAuth;
            self.actions.push_back(Action::SendAuth { conn });
            if is_primary {
                let attempt = self.failures + 1;
                self.transition(
                    ConnectionState::Authenticating { attempt },
                    Reason::SocketOpened,
                    None,
                );
            }
        } else {
            self.on_live(conn, Reason::SocketOpened, now);
        }
    }

    fn on_auth_succeeded(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.conn_mut(conn) else { return };
        match c.phase {
            Phase::AwaitingAuth => self.on_live(conn, Reason::Authenticated, now),
            Phase::Live => {
                // Acknowledgement of an in-band re-auth: the socket now runs on the new token.
                if let Some((generation, expires_at)) = c.reauth_generation.take() {
                    c.generation = generation;
                    c.token_expires_at = expires_at;
                }
            }
            Phase::Opening => {}
        }
    }

    fn on_live(&mut self, conn: ConnId, reason: Reason, now: Instant) {
        let snapshot_on_connect = self.config.snapshot_on_connect;
        let snapshot_wait = self.config.snapshot_wait;
        let is_candidate = self.candidate.as_ref().is_some_and(|c| c.id == conn);
        let Some(c) = self.conn_mut(conn) else { return };
        c.phase = Phase::Live;
        c.last_rx = now;
        c.live_since = Some(now);
        let dead_after = c.dead_after;
        if is_candidate {
            if snapshot_on_connect {
                // Wait a short while for the snapshot, never past the connect deadline,
                // which the candidate keeps: the server may never send one.
                let wait_until = now + snapshot_wait;
                c.snapshot_deadline = Some(c.deadline.map_or(wait_until, |d| d.min(wait_until)));
                return;
            }
            c.deadline = None;
            self.complete_handover(now);
            return;
        }
        c.deadline = None;
        // A socket that works is better evidence than the routing table.
        self.network_usable = true;
        self.actions.push_back(Action::Promote {
            conn,
            snapshot: ChangeCause::Resync,
        });
        self.timers
            .set(Timer::Ping, now + self.config.ping_interval);
        self.timers.set(Timer::DeadCheck, now + dead_after);
        self.timers
            .set(Timer::Stable, now + self.config.reconnect.stable_after);
        self.timers.clear(Timer::Retry);
        self.transition(ConnectionState::Connected, reason, None);
    }

    fn complete_handover(&mut self, now: Instant) {
        let Some(mut candidate) = self.candidate.take() else {
            return;
        };
        candidate.deadline = None;
        candidate.snapshot_deadline = None;
        candidate.last_rx = now;
        let new_id = candidate.id;
        let dead_after = candidate.dead_after;
        // A socket still retiring from an earlier handover is closed first, so at most
        // one ever is.
        self.close_retiring();
        let old = self.primary.replace(candidate);
        self.actions.push_back(Action::Promote {
            conn: new_id,
            snapshot: ChangeCause::Live,
        });
        if let Some(old) = old {
            // Not closed yet: what the server queued for it before the new socket
            // joined would be dropped with it. It is read until it has delivered that
            // (the driver's router says so) or the drain time is over.
            self.retiring = Some(old.id);
            self.timers
                .set(Timer::Drain, now + self.config.handover_drain);
        }
        self.timers.set(Timer::DeadCheck, now + dead_after);
        self.timers.clear(Timer::Probe);
        self.transition(ConnectionState::Connected, Reason::Handover, None);
    }

    /// Closes the socket a handover replaced, if one is still being read.
    fn close_retiring(&mut self) {
        self.timers.clear(Timer::Drain);
        if let Some(conn) = self.retiring.take() {
            self.actions.push_back(Action::Close {
                conn,
                code: NORMAL_CLOSE,
                reason: CloseReason::Handover,
            });
        }
    }

    /// The retiring socket closed on its own: nothing is left to close.
    fn forget_retiring(&mut self, conn: ConnId) -> bool {
        if self.retiring == Some(conn) {
            self.retiring = None;
            self.timers.clear(Timer::Drain);
            return true;
        }
        false
    }

    fn on_token_refreshed(&mut self, generation: u64, now: Instant) {
        // A refresh that succeeded while waiting to reconnect is proof that the server
        // is back: retry now rather than at the end of the backoff.
        if matches!(self.state, ConnectionState::Reconnecting { .. }) {
            self.begin_attempt(Reason::ServerBack, now);
            return;
        }
        if self.state != ConnectionState::Connected
            || self.candidate.is_some()
            || self.pending_fetch.is_some()
        {
            return;
        }
        let Some(primary) = &self.primary else { return };
        if primary.phase != Phase::Live
            || primary.generation >= generation
            || primary
                .reauth_generation
                .is_some_and(|(g, _)| g >= generation)
        {
            return;
        }
        let purpose = if self.config.in_band_reauth {
            FetchPurpose::InBand
        } else {
            FetchPurpose::Handover
        };
        self.request_token(purpose, None, now);
    }

    fn on_closed(&mut self, conn: ConnId, code: Option<u16>, reason: String, now: Instant) {
        if self.forget_retiring(conn) {
            return;
        }
        if self.candidate.as_ref().is_some_and(|c| c.id == conn) {
            self.candidate = None;
            if code == Some(FORBIDDEN_CLOSE_CODE) {
                // The server refused the account, whichever socket it said so on: carrying
                // on with the old socket would only hear it again at every handover.
                self.sign_out(EndReason::Forbidden, true);
            }
            // Otherwise the replacement failed; the current socket carries on.
            return;
        }
        let Some(primary) = self.primary.as_ref().filter(|c| c.id == conn) else {
            return;
        };
        let closed = Reason::ClosedByServer { code, reason };
        match code {
            Some(FORBIDDEN_CLOSE_CODE) => {
                self.primary = None;
                self.sign_out(EndReason::Forbidden, true);
            }
            Some(code) if AUTH_CLOSE_CODES.contains(&code) => {
                let was_live = primary.phase == Phase::Live;
                let token_expired = now + EXPIRY_TOLERANCE >= primary.token_expires_at;
                if was_live && token_expired {
                    // The server enforced expiry on a socket whose token ran out before a
                    // handover could finish. Not a rejection: reconnect now with a fresh token.
                    self.primary = None;
                    if self
                        .candidate
                        .as_ref()
                        .is_some_and(|c| c.phase == Phase::Live)
                    {
                        // The replacement is open and authenticated: it takes over now,
                        // its snapshot (when it comes) counting as live changes.
                        self.complete_handover(now);
                        return;
                    }
                    if let Some(candidate) = self.candidate.take() {
                        self.primary = Some(candidate);
                    }
                    if self.primary.is_some() {
                        self.transition(
                            ConnectionState::Connecting {
                                attempt: self.failures + 1,
                            },
                            Reason::TokenExpired,
                            None,
                        );
                    } else {
                        self.begin_attempt(Reason::TokenExpired, now);
                    }
                } else {
                    self.on_auth_failure(conn, closed, now);
                }
            }
            _ => {
                if self
                    .candidate
                    .as_ref()
                    .is_some_and(|c| c.phase == Phase::Live)
                {
                    // The old socket went away mid-handover; the new one is ready.
                    self.primary = None;
                    self.complete_handover(now);
                } else {
                    self.on_transient_failure(conn, closed, now);
                }
            }
        }
    }

    fn on_heartbeat(&mut self, conn: ConnId, interval: Duration, timeout: Duration) {
        if !self.config.server_heartbeat || interval.is_zero() || timeout.is_zero() {
            return;
        }
        let dead_after = interval.min(MAX_SERVER_HEARTBEAT) + timeout.min(MAX_SERVER_HEARTBEAT);
        let is_live_primary = self
            .primary
            .as_ref()
            .is_some_and(|c| c.id == conn && c.phase == Phase::Live);
        let Some(c) = self.conn_mut(conn) else { return };
        c.dead_after = dead_after;
        let silent_until = c.last_rx + dead_after;
        if is_live_primary {
            self.timers.set(Timer::DeadCheck, silent_until);
        }
    }

    fn on_server_disconnected(&mut self, conn: ConnId, now: Instant) {
        if self.forget_retiring(conn) {
            return;
        }
        if self.candidate.as_ref().is_some_and(|c| c.id == conn) {
            // The replacement was turned away; the current socket carries on.
            self.candidate = None;
            return;
        }
        let Some(primary) = self.primary.as_ref().filter(|c| c.id == conn) else {
            return;
        };
        let quick = primary.phase == Phase::Live
            && primary
                .live_since
                .is_some_and(|t| now < t + QUICK_DISCONNECT_WINDOW);
        if self
            .candidate
            .as_ref()
            .is_some_and(|c| c.phase == Phase::Live)
        {
            // The old socket was ended mid-handover; the new one is ready.
            self.primary = None;
            self.complete_handover(now);
            return;
        }
        if quick {
            self.quick_disconnects = self.quick_disconnects.saturating_add(1);
        } else {
            self.quick_disconnects = 0;
        }
        if self.quick_disconnects >= 2 {
            tracing::info!(
                conn,
                "the server accepted the socket and disconnected it at once, twice in a row: treated as a refused token"
            );
            self.on_auth_failure(conn, Reason::ServerDisconnect, now);
        } else {
            self.on_transient_failure(conn, Reason::ServerDisconnect, now);
        }
    }

    fn on_auth_failure(&mut self, conn: ConnId, reason: Reason, now: Instant) {
        if self.candidate.as_ref().is_some_and(|c| c.id == conn) {
            self.candidate = None;
            self.actions.push_back(Action::Close {
                conn,
                code: NORMAL_CLOSE,
                reason: CloseReason::AuthFailed,
            });
            return;
        }
        if self.primary() != Some(conn) {
            return;
        }
        let Some(primary) = self.primary.take() else {
            return;
        };
        if primary.phase != Phase::Opening {
            self.actions.push_back(Action::Close {
                conn,
                code: NORMAL_CLOSE,
                reason: CloseReason::AuthFailed,
            });
        }
        if self.auth_retry_used {
            // The forced refresh succeeded, so the auth API still vouches for the
            // session: stop retrying, keep the credentials, let the user decide.
            self.close_all(CloseReason::AuthRejected);
            self.clear_timers();
            self.pending_fetch = None;
            self.transition(ConnectionState::GaveUp, Reason::AuthRejected, None);
            return;
        }
        tracing::debug!(%reason, "socket rejected the token; one forced refresh");
        self.auth_retry_used = true;
        self.close_all(CloseReason::AuthRetry);
        self.clear_timers();
        let _ = now;
        self.transition(
            ConnectionState::Connecting {
                attempt: self.failures + 1,
            },
            Reason::AuthRetry,
            None,
        );
        self.request_token(FetchPurpose::Connect, Some(primary.generation), now);
    }

    fn on_transient_failure(&mut self, conn: ConnId, reason: Reason, now: Instant) {
        if self.candidate.as_ref().is_some_and(|c| c.id == conn) {
            self.candidate = None;
            return;
        }
        if self.primary() != Some(conn) {
            return;
        }
        self.primary = None;
        self.schedule_retry(reason, now);
    }

    /// The machine itself decided a socket is dead (no answer in time): close it, so
    /// nothing it still delivers can count, then back off as for any transient failure.
    fn give_up_on(&mut self, conn: ConnId, why: CloseReason, reason: Reason, now: Instant) {
        self.actions.push_back(Action::Close {
            conn,
            code: NORMAL_CLOSE,
            reason: why,
        });
        self.on_transient_failure(conn, reason, now);
    }

    /// A refused certificate does not get better by retrying, and a retry loop would
    /// only hide it: stop in `GaveUp` with the reason, keep the session (nothing here
    /// says the credentials are bad). Reconnect now, a sign-in or a restart tries again.
    fn give_up_on_certificate(&mut self, problem: CertProblem) {
        self.close_all(CloseReason::CertificateRefused);
        self.clear_timers();
        self.pending_fetch = None;
        self.transition(ConnectionState::GaveUp, Reason::Certificate(problem), None);
    }

    fn schedule_retry(&mut self, reason: Reason, now: Instant) {
        self.back_off(reason, None, now);
    }

    /// Backs off after a transient failure, unless the network is down: then there is
    /// nothing to retry against, and the machine waits `Offline` for it instead.
    fn back_off(&mut self, reason: Reason, retry_after: Option<Duration>, now: Instant) {
        if !self.network_usable {
            tracing::debug!(%reason, "failed with no network: offline, no retry");
            self.go_offline();
            return;
        }
        self.schedule_retry_after(reason, retry_after, now);
    }

    /// Backs off; no sooner than `retry_after` (capped at [`MAX_RETRY_AFTER`]) when the
    /// server asked for that.
    fn schedule_retry_after(
        &mut self,
        reason: Reason,
        retry_after: Option<Duration>,
        now: Instant,
    ) {
        self.close_all(CloseReason::Reconnecting);
        self.clear_timers();
        self.failures = self.failures.saturating_add(1);
        if let Some(max) = self.config.reconnect.max_attempts {
            if self.failures >= max {
                self.transition(ConnectionState::GaveUp, Reason::MaxAttempts, None);
                return;
            }
        }
        let outage = now.saturating_duration_since(*self.unstable_since.get_or_insert(now));
        let delay = backoff_delay(&self.config.reconnect, self.failures, outage, &mut self.rng)
            .max(retry_after.unwrap_or(Duration::ZERO).min(MAX_RETRY_AFTER));
        self.timers.set(Timer::Retry, now + delay);
        self.transition(
            ConnectionState::Reconnecting {
                attempt: self.failures,
            },
            reason,
            self.timers.get(Timer::Retry),
        );
    }

    fn on_tick(&mut self, now: Instant) {
        if self.timers.is_due(Timer::Drain, now) {
            self.close_retiring();
        }
        if self.timers.is_due(Timer::TokenFetch, now) {
            self.timers.clear(Timer::TokenFetch);
            if let Some(purpose) = self.pending_fetch.take() {
                tracing::warn!(?purpose, "no token within the deadline");
                if purpose == FetchPurpose::Connect {
                    self.schedule_retry(Reason::TokenTimeout, now);
                    return;
                }
            }
        }
        if self.timers.is_due(Timer::Retry, now) {
            self.timers.clear(Timer::Retry);
            if matches!(self.state, ConnectionState::Reconnecting { .. }) {
                self.begin_attempt(Reason::RetryDue, now);
                return;
            }
        }
        // A live handover socket that has waited long enough for its snapshot is
        // promoted without one.
        if let Some(c) = self
            .candidate
            .as_ref()
            .filter(|c| c.phase == Phase::Live && c.snapshot_deadline.is_some_and(|d| now >= d))
        {
            tracing::info!(
                conn = c.id,
                wait_ms = self.config.snapshot_wait.as_millis() as u64,
                "no snapshot after authentication within the wait: the handover goes ahead without one"
            );
            self.complete_handover(now);
        }
        // Connect (and handover) deadlines.
        if let Some(c) = self
            .candidate
            .as_ref()
            .filter(|c| c.deadline.is_some_and(|d| now >= d))
        {
            let id = c.id;
            self.candidate = None;
            self.actions.push_back(Action::Close {
                conn: id,
                code: NORMAL_CLOSE,
                reason: CloseReason::HandoverTimedOut,
            });
        }
        if let Some(c) = self
            .primary
            .as_ref()
            .filter(|c| c.deadline.is_some_and(|d| now >= d))
        {
            let id = c.id;
            self.give_up_on(id, CloseReason::ConnectTimeout, Reason::ConnectTimeout, now);
            return;
        }
        if self.state != ConnectionState::Connected {
            return;
        }
        let Some(primary) = self.primary.clone() else {
            return;
        };
        if self.timers.is_due(Timer::Stable, now) {
            self.timers.clear(Timer::Stable);
            self.reset_failures();
        }
        if self.timers.is_due(Timer::Probe, now) {
            self.timers.clear(Timer::Probe);
            let probe = self.probe;
            self.give_up_on(primary.id, probe.close_reason(), probe.failure(), now);
            return;
        }
        if self.timers.is_due(Timer::DeadCheck, now) {
            let silent_until = primary.last_rx + primary.dead_after;
            if now >= silent_until {
                self.give_up_on(
                    primary.id,
                    CloseReason::KeepaliveTimeout,
                    Reason::KeepaliveTimeout,
                    now,
                );
                return;
            }
            self.timers.set(Timer::DeadCheck, silent_until);
        }
        if self.timers.is_due(Timer::Ping, now) {
            self.actions.push_back(Action::SendPing {
                conn: primary.id,
                app: self.config.app_ping,
            });
            self.timers
                .set(Timer::Ping, now + self.config.ping_interval);
        }
    }

    fn sign_out(&mut self, reason: EndReason, tell_driver: bool) {
        self.close_all(CloseReason::SignedOut);
        self.clear_timers();
        self.pending_fetch = None;
        if tell_driver {
            self.actions.push_back(Action::EndSession { reason });
        }
        self.transition(
            ConnectionState::SignedOut { reason },
            Reason::SessionEnded(reason),
            None,
        );
    }

    fn stop(&mut self) {
        self.close_all(CloseReason::Stopped);
        self.clear_timers();
        self.pending_fetch = None;
        self.transition(ConnectionState::Stopped, Reason::Stopped, None);
    }

    fn close_all(&mut self, reason: CloseReason) {
        self.timers.clear(Timer::Drain);
        let sockets = [self.primary.take(), self.candidate.take()]
            .into_iter()
            .flatten()
            .map(|c| c.id)
            .chain(self.retiring.take());
        for conn in sockets {
            self.actions.push_back(Action::Close {
                conn,
                code: NORMAL_CLOSE,
                reason,
            });
        }
    }

    fn conn_mut(&mut self, conn: ConnId) -> Option<&mut Conn> {
        if self.primary.as_ref().is_some_and(|c| c.id == conn) {
            return self.primary.as_mut();
        }
        if self.candidate.as_ref().is_some_and(|c| c.id == conn) {
            return self.candidate.as_mut();
        }
        None
    }
}
