//! The driver: carries out the machine's actions with tokio-tungstenite and timers.
//!
//! It owns the sockets (one task each, see [`connection`](super::connection)), the
//! presence store and the event stream to the app. It feeds every socket event, token
//! event and deadline into the [`ConnectionMachine`] and does what comes out. Which
//! socket's presence messages count is the [`HandoverRouter`]'s to say: it holds a
//! handover socket's messages until the machine promotes it, so presence sees one
//! ordered stream with no gap (the store drops the duplicates), and the driver applies
//! what it lets through.
//!
//! After every connect that follows a gap (the first one, or a reconnect), the driver
//! makes sure the gap cannot go unnoticed: it fetches the profile's resync endpoint, if
//! there is one, and applies it as a resync; when the backend sends no snapshot either,
//! it marks the friends possibly stale since the disconnect
//! ([`SessionEvent::PresenceStale`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::presence::{ChangeCause, PresenceChange, PresenceStore, ResyncTicket};
use crate::protocol::{FriendRecord, MessageError, ServerMessage, ServerProfile, Unconsumed};
use crate::resync::{ResyncClient, ResyncError};
use crate::socket::connection::{run_connection, ConnEvent, Framing, Outgoing};
use crate::socket::events::{
    Action, ConnId, ConnectionState, FetchPurpose, Input, MachineConfig, StateChange,
};
use crate::socket::handover::{Delivery, HandoverRouter, PresenceMessage};
use crate::socket::machine::ConnectionMachine;
use crate::socket::network_watch::{self, NetworkEvent, NetworkTarget};
use crate::socket::transport::{log_url, upgrade_request};
use crate::socket::tunnel::OpenError;
use crate::socket::wake::SleepDetector;
use crate::token::{
    token_fetch_deadline, AccessToken, EndReason, TokenError, TokenEvent, TokenManager,
    UnsavedReason,
};

/// Everything a session tells the app. Never carries a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// A change of connection state. Never a change to `SignedOut`: the end of a
    /// session is [`SessionEvent::SessionEnded`], and only that.
    State(StateChange),
    /// A friend's presence changed.
    Presence(PresenceChange),
    /// A snapshot or a resync listing was applied: how many friends, how many online.
    Resynced {
        /// Friends in the map now.
        friends: usize,
        /// Of those, how many are online.
        online: usize,
    },
    /// Kith reconnected after losing the socket at `since`, and the backend offers no
    /// way to learn what changed meanwhile (no snapshot, no resync endpoint, or the
    /// resync fetch failed): every friend's status may be out of date since then.
    PresenceStale {
        /// When the socket was lost.
        since: SystemTime,
    },
    /// No friend is marked stale any more: a snapshot or resync came, or every stale
    /// friend was heard from live.
    PresenceFresh,
    /// The resync endpoint could not be read after a connect. The session goes on; the
    /// fetch is tried again after the next reconnect.
    ResyncFailed {
        /// Why, in words.
        reason: String,
    },
    /// The access token was refreshed.
    TokenRefreshed {
        /// How long the new token is valid.
        expires_in: Duration,
    },
    /// A refresh failed transiently and will be retried; the session goes on.
    RefreshDeferred {
        /// Why it failed, in words.
        reason: String,
        /// How long until it is tried again.
        retry_in: Duration,
    },
    /// The credential store refused the refresh token: there is no keyring (from the
    /// sign-in on), or it refused a rotated one. The session goes on in memory, but
    /// will not survive a restart until a save succeeds (it is retried). Sent when the
    /// session stops being saved, not at every failed save.
    CredentialsUnsaved {
        /// Why, as the user is told: its `Display` is the text to show.
        reason: UnsavedReason,
    },
    /// The credentials are saved again after a failure.
    CredentialsSaved,
    /// The one terminal event: the session is over (refresh rejected, refresh lost,
    /// access refused by the socket, logged out) and its credentials are gone from
    /// the store. Sent once, whatever ended it, after the store was cleared; the
    /// session's state is then `SignedOut { reason }`.
    SessionEnded {
        /// Why it ended.
        reason: EndReason,
    },
}

/// Commands from the session handle.
#[derive(Debug)]
pub(crate) enum Command {
    /// The user asked to reconnect now ([`Input::ReconnectNow`]).
    ReconnectNow,
    /// Stop the connection; the sender is answered once every socket has closed.
    Stop(oneshot::Sender<()>),
}

struct ConnHandle {
    outgoing: mpsc::UnboundedSender<Outgoing>,
    task: JoinHandle<()>,
    opened: bool,
}

/// How often the wall clock is compared with the monotonic clock.
const WAKE_CHECK_INTERVAL: Duration = Duration::from_secs(15);
/// A wall-clock lead over the monotonic clock beyond this is a resume from sleep.
const WAKE_THRESHOLD: Duration = Duration::from_secs(5);

pub(crate) struct Driver {
    machine: ConnectionMachine,
    profile: ServerProfile,
    tokens: TokenManager,
    presence: Arc<RwLock<PresenceStore>>,
    state: watch::Sender<ConnectionState>,
    events: mpsc::UnboundedSender<SessionEvent>,
    conns: HashMap<ConnId, ConnHandle>,
    /// Sockets told to close, finishing their closing handshake.
    closing: Vec<JoinHandle<()>>,
    latest_token: Option<AccessToken>,
    router: HandoverRouter,
    conn_events_tx: mpsc::Sender<(ConnId, ConnEvent)>,
    /// Messages received and not consumed (other events, unknown JSON types).
    unconsumed: Arc<Mutex<Unconsumed>>,
    /// A refused binary event was logged; later ones are not.
    binary_refusal_logged: bool,
    /// Status values the profile's `[messages.status]` map does not name, each logged
    /// once (capped like the unconsumed kinds).
    unmapped_statuses: Unconsumed,
    fetch_tx: mpsc::UnboundedSender<(FetchPurpose, Result<AccessToken, TokenError>)>,
    /// The resync endpoint, when the profile names one.
    resync: Option<ResyncClient>,
    resync_tx: mpsc::UnboundedSender<ResyncResult>,
    /// When the socket last stopped being connected, until a connect consumes it.
    disconnected_at: Option<SystemTime>,
}

/// A resync fetch's outcome, for the resync it was begun as.
struct ResyncResult {
    ticket: ResyncTicket,
    after_gap_since: Option<SystemTime>,
    result: Result<Vec<FriendRecord>, ResyncError>,
}

pub(crate) struct DriverChannels {
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    pub(crate) state: watch::Sender<ConnectionState>,
    pub(crate) events: mpsc::UnboundedSender<SessionEvent>,
    pub(crate) presence: Arc<RwLock<PresenceStore>>,
    pub(crate) unconsumed: Arc<Mutex<Unconsumed>>,
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl Driver {
    /// Runs the connection until stopped.
    pub(crate) async fn run(
        profile: ServerProfile,
        tokens: TokenManager,
        channels: DriverChannels,
        seed: u64,
    ) {
        let DriverChannels {
            mut commands,
            state,
            events,
            presence,
            unconsumed,
        } = channels;
        let (conn_events_tx, mut conn_events) = mpsc::channel(1024);
        let (fetch_tx, mut fetch_results) = mpsc::unbounded_channel();
        let (resync_tx, mut resync_results) = mpsc::unbounded_channel();
        // The token manager's wake re-check waits for its lock, which a refresh holds
        // across HTTP and the keyring: it runs on a task, and reports here.
        let (woke_tx, mut woke) = mpsc::unbounded_channel::<()>();
        let rebase_then_wake = |tokens: &TokenManager| {
            let tokens = tokens.clone();
            let woke_tx = woke_tx.clone();
            tokio::spawn(async move {
                tokens.on_wake().await;
                let _ = woke_tx.send(());
            });
        };
        let mut token_events = tokens.subscribe();
        // The watcher ends when this receiver is dropped, with the driver.
        let (network_tx, mut network_events) = mpsc::unbounded_channel();
        match NetworkTarget::for_profile(&profile, tokens.network()) {
            Some(target) => {
                tokio::spawn(network_watch::watch(target, network_tx));
            }
            None => drop(network_tx),
        }
        // logind's word that the machine resumed (Linux); the clock check below is the
        // fallback everywhere. The watcher ends when this receiver is dropped.
        let (resumed_tx, mut resumed) = mpsc::unbounded_channel::<()>();
        #[cfg(target_os = "linux")]
        tokio::spawn(crate::socket::logind::watch(resumed_tx));
        #[cfg(not(target_os = "linux"))]
        drop(resumed_tx);
        let profile_for_resync = profile.clone();
        let tokens_http = tokens.http().clone();
        let mut driver = Driver {
            machine: ConnectionMachine::new(MachineConfig::from_profile(&profile), seed),
            profile,
            tokens,
            presence,
            state,
            events,
            conns: HashMap::new(),
            closing: Vec::new(),
            latest_token: None,
            router: HandoverRouter::new(),
            conn_events_tx,
            unconsumed,
            binary_refusal_logged: false,
            unmapped_statuses: Unconsumed::new(),
            fetch_tx,
            resync: ResyncClient::for_profile(&profile_for_resync, tokens_http),
            resync_tx,
            disconnected_at: None,
        };
        let mut detector = SleepDetector::new(SystemTime::now(), now(), WAKE_THRESHOLD);
        let mut wake_check = tokio::time::interval(WAKE_CHECK_INTERVAL);
        wake_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let far_future = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
        let deadline = tokio::time::sleep_until(far_future);
        tokio::pin!(deadline);
        let mut armed: Option<Instant> = None;
        let mut stop_ack: Option<oneshot::Sender<()>> = None;

        driver.machine.handle(Input::Start, now());
        driver.flush();
        loop {
            let next = driver.machine.poll_timeout();
            if next != armed {
                armed = next;
                let at = next
                    .map(tokio::time::Instant::from_std)
                    .unwrap_or(far_future);
                deadline.as_mut().reset(at);
            }
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::ReconnectNow) => driver.machine.handle(Input::ReconnectNow, now()),
                    Some(Command::Stop(ack)) => {
                        stop_ack = Some(ack);
                        driver.machine.handle(Input::Stop, now());
                    }
                    None => driver.machine.handle(Input::Stop, now()),
                },
                Some((conn, event)) = conn_events.recv() => driver.on_conn_event(conn, event),
                Some((purpose, result)) = fetch_results.recv() => driver.on_fetched(purpose, result),
                Some(result) = resync_results.recv() => driver.on_resync_fetched(result),
                Some(()) = woke.recv() => driver.machine.handle(Input::Wake, now()),
                Some(event) = network_events.recv() => {
                    let input = match event {
                        NetworkEvent::Down => Input::NetworkDown,
                        NetworkEvent::Up => Input::NetworkUp,
                        NetworkEvent::Changed => Input::NetworkChanged,
                    };
                    driver.machine.handle(input, now());
                }
                event = token_events.recv() => match event {
                    Ok(TokenEvent::Refreshed { expires_in, generation }) => {
                        driver.emit(SessionEvent::TokenRefreshed { expires_in });
                        driver.machine.handle(Input::TokenRefreshed { generation }, now());
                    }
                    Ok(TokenEvent::RefreshDeferred { reason, retry_in }) => {
                        driver.emit(SessionEvent::RefreshDeferred { reason, retry_in });
                    }
                    Ok(TokenEvent::CredentialsUnsaved { reason, .. }) => {
                        driver.emit(SessionEvent::CredentialsUnsaved { reason });
                    }
                    Ok(TokenEvent::CredentialsSaved) => driver.emit(SessionEvent::CredentialsSaved),
                    // The one place a session's end is told: the token manager says so
                    // once, after clearing the store, whether it decided (a refused
                    // refresh) or the machine did (`Action::EndSession`).
                    Ok(TokenEvent::SessionEnded { reason }) => {
                        driver.machine.handle(Input::SessionEnded { reason }, now());
                        driver.flush();
                        driver.emit(SessionEvent::SessionEnded { reason });
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {}
                },
                _ = &mut deadline => {
                    armed = None;
                    deadline.as_mut().reset(far_future);
                    driver.machine.handle(Input::Tick, now());
                }
                Some(()) = resumed.recv() => {
                    tracing::info!("resumed from sleep (logind); probing the connection");
                    // The clock check need not report the same sleep again.
                    let _ = detector.observe(SystemTime::now(), now());
                    rebase_then_wake(&driver.tokens);
                }
                _ = wake_check.tick() => {
                    if let Some(slept) = detector.observe(SystemTime::now(), now()) {
                        tracing::info!(slept_s = slept.as_secs(), "resumed from sleep; probing the connection");
                        rebase_then_wake(&driver.tokens);
                    }
                }
            }
            driver.flush();
            if *driver.machine.state() == ConnectionState::Stopped {
                driver.finish().await;
                if let Some(ack) = stop_ack.take() {
                    let _ = ack.send(());
                }
                return;
            }
        }
    }

    fn emit(&self, event: SessionEvent) {
        let _ = self.events.send(event);
    }

    /// Executes pending actions and publishes state changes until the machine is quiet.
    fn flush(&mut self) {
        loop {
            let mut progressed = false;
            // What a handover's drain released goes first, in order; a socket it
            // drained is the machine's to close.
            while let Some(delivery) = self.router.poll_released() {
                self.deliver(delivery);
            }
            if let Some(conn) = self.router.take_drained() {
                progressed = true;
                self.machine.handle(Input::HandoverDrained { conn }, now());
            }
            while let Some(action) = self.machine.poll_action() {
                progressed = true;
                self.execute(action);
            }
            while let Some(change) = self.machine.poll_event() {
                progressed = true;
                match &change.to {
                    ConnectionState::Reconnecting { .. }
                    | ConnectionState::Offline
                    | ConnectionState::GaveUp => {
                        tracing::info!(state = change.to.name(), reason = %change.reason, "connection state")
                    }
                    _ => {
                        tracing::debug!(state = change.to.name(), reason = %change.reason, "connection state")
                    }
                }
                if change.from == ConnectionState::Connected
                    && change.to != ConnectionState::Connected
                    && self.disconnected_at.is_none()
                {
                    self.disconnected_at = Some(SystemTime::now());
                }
                // Given up, nothing will use a fresh token until someone asks for one:
                // no refresh on schedule until the connection tries again.
                match (&change.from, &change.to) {
                    (_, ConnectionState::GaveUp) => self.tokens.pause_scheduled_refresh(true),
                    (ConnectionState::GaveUp, _) => self.tokens.pause_scheduled_refresh(false),
                    _ => {}
                }
                let _ = self.state.send(change.to.clone());
                // Signed out is told once, as `SessionEnded`, when the token manager
                // has ended the session (see the token events).
                if !matches!(change.to, ConnectionState::SignedOut { .. }) {
                    self.emit(SessionEvent::State(change));
                }
            }
            if !progressed {
                return;
            }
        }
    }

    fn execute(&mut self, action: Action) {
        match action {
            Action::FetchToken { purpose, force } => {
                let tokens = self.tokens.clone();
                let reply = self.fetch_tx.clone();
                tokio::spawn(async move {
                    let result = match force {
                        Some(generation) => tokens.force_refresh(generation).await,
                        None => tokens.fresh_token().await,
                    };
                    let _ = reply.send((purpose, result));
                });
            }
            Action::Open { conn } => self.open(conn),
            Action::SendAuth { conn } => {
                if let (Some(handle), Some(token)) = (self.conns.get(&conn), &self.latest_token) {
                    let _ = handle.outgoing.send(Outgoing::Auth(token.token.clone()));
                }
            }
            Action::SendPing { conn, app } => {
                if let Some(handle) = self.conns.get(&conn) {
                    let _ = handle.outgoing.send(Outgoing::Ping);
                    if app {
                        let _ = handle.outgoing.send(Outgoing::AppPing);
                    }
                }
            }
            Action::Close { conn, code, reason } => {
                self.router.closing(conn);
                if let Some(handle) = self.conns.remove(&conn) {
                    if handle.opened {
                        let _ = handle.outgoing.send(Outgoing::Close {
                            code,
                            reason: reason.as_str(),
                        });
                        // The task finishes the closing handshake on its own, and
                        // says so (`ClosedOnRequest`) after its last message.
                        self.closing.retain(|task| !task.is_finished());
                        self.closing.push(handle.task);
                    } else {
                        handle.task.abort();
                        self.router.closed(conn);
                    }
                }
            }
            Action::Promote { conn, snapshot } => self.promote(conn, snapshot),
            Action::EndSession { reason } => {
                let tokens = self.tokens.clone();
                tokio::spawn(async move { tokens.end_session(reason).await });
            }
        }
    }

    fn open(&mut self, conn: ConnId) {
        let Some(token) = &self.latest_token else {
            self.machine.handle(
                Input::ConnectFailed {
                    conn,
                    error: "no token".into(),
                },
                now(),
            );
            return;
        };
        let request = match upgrade_request(&self.profile, &token.token) {
            Ok(request) => request,
            Err(error) => {
                self.machine.handle(
                    Input::ConnectFailed {
                        conn,
                        error: error.to_string(),
                    },
                    now(),
                );
                return;
            }
        };
        tracing::debug!(conn, url = %log_url(&request, &self.profile), "opening socket");
        let (outgoing, outgoing_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run_connection(
            conn,
            request,
            self.tokens.network().clone(),
            Framing {
                protocol: self.profile.socket.protocol,
                namespace: self.profile.socket.namespace.clone(),
                max_message_bytes: self.profile.socket.max_message_bytes,
                mapping: self.profile.messages.clone().map(Arc::new),
            },
            self.conn_events_tx.clone(),
            outgoing_rx,
        ));
        self.conns.insert(
            conn,
            ConnHandle {
                outgoing,
                task,
                opened: false,
            },
        );
        self.router.opened(conn);
    }

    fn promote(&mut self, conn: ConnId, cause: ChangeCause) {
        let Some(released) = self.router.promote(conn, cause) else {
            return;
        };
        if cause == ChangeCause::Resync {
            // Begun before the held updates are applied, so they count as newer.
            self.after_gap();
        }
        for delivery in released {
            self.deliver(delivery);
        }
    }

    /// A socket is connected after a gap (the first connect, or a reconnect): start
    /// the resync fetch, or, when nothing will say what was missed, mark the friends
    /// stale since the disconnect.
    fn after_gap(&mut self) {
        let gap_since = self.disconnected_at.take();
        if let Some(client) = self.resync.clone() {
            let Ok(mut presence) = self.presence.write() else {
                tracing::error!("presence store lock poisoned");
                return;
            };
            let ticket = presence.begin_resync();
            drop(presence);
            let tokens = self.tokens.clone();
            let reply = self.resync_tx.clone();
            let deadline = token_fetch_deadline(tokens.profile());
            tokio::spawn(async move {
                let result = match tokio::time::timeout(deadline, tokens.fresh_token()).await {
                    Ok(Ok(token)) => client.fetch(&token.token).await,
                    Ok(Err(error)) => Err(ResyncError::NoToken(error.to_string())),
                    Err(_) => Err(ResyncError::NoToken("no token in time".into())),
                };
                let _ = reply.send(ResyncResult {
                    ticket,
                    after_gap_since: gap_since,
                    result,
                });
            });
        } else if !self.profile.socket.snapshot_on_connect {
            if let Some(since) = gap_since {
                self.mark_stale(since);
            }
        }
    }

    fn mark_stale(&mut self, since: SystemTime) {
        let Ok(mut presence) = self.presence.write() else {
            tracing::error!("presence store lock poisoned");
            return;
        };
        if presence.mark_stale(since) {
            let since = presence.stale_since().unwrap_or(since);
            drop(presence);
            tracing::info!(
                "reconnected with no snapshot and no resync: presence may be out of date since the disconnect"
            );
            self.emit(SessionEvent::PresenceStale { since });
        }
    }

    fn on_resync_fetched(&mut self, done: ResyncResult) {
        match done.result {
            Ok(friends) => {
                let Ok(mut presence) = self.presence.write() else {
                    tracing::error!("presence store lock poisoned");
                    return;
                };
                let was_stale = presence.stale_since().is_some();
                let Some(changes) = presence.apply_resync(done.ticket, friends) else {
                    tracing::debug!("a superseded resync listing was dropped");
                    return;
                };
                let (friends, online) = (presence.len(), presence.online_count());
                drop(presence);
                tracing::debug!(friends, changes = changes.len(), "resync applied");
                for change in changes {
                    self.emit(SessionEvent::Presence(change));
                }
                self.emit(SessionEvent::Resynced { friends, online });
                if was_stale {
                    self.emit(SessionEvent::PresenceFresh);
                }
            }
            Err(error) => {
                let current = match self.presence.write() {
                    Ok(mut presence) => presence.abandon_resync(done.ticket),
                    Err(_) => false,
                };
                if !current {
                    return;
                }
                tracing::warn!(%error, "the resync endpoint could not be read; it is tried again after the next reconnect");
                self.emit(SessionEvent::ResyncFailed {
                    reason: error.to_string(),
                });
                if let Some(since) = done.after_gap_since {
                    self.mark_stale(since);
                }
            }
        }
    }

    fn on_fetched(&mut self, purpose: FetchPurpose, result: Result<AccessToken, TokenError>) {
        match result {
            Ok(token) => {
                let input = Input::TokenReady {
                    purpose,
                    generation: token.generation,
                    expires_at: token.expires_at,
                };
                self.latest_token = Some(token);
                self.machine.handle(input, now());
            }
            Err(error) => {
                self.machine.handle(
                    Input::TokenFailed {
                        purpose,
                        reason: error.to_string(),
                        ended: error.end_reason(),
                        retry_after: error.retry_after(),
                        certificate: error.certificate_problem(),
                        web_page: error.is_web_page(),
                    },
                    now(),
                );
            }
        }
    }

    fn on_conn_event(&mut self, conn: ConnId, event: ConnEvent) {
        let at = now();
        match event {
            ConnEvent::Opened => {
                if let Some(handle) = self.conns.get_mut(&conn) {
                    handle.opened = true;
                }
                self.machine.handle(Input::Opened { conn }, at);
            }
            ConnEvent::Rejected { status, web_page } => {
                self.conns.remove(&conn);
                self.router.closed(conn);
                let input = if web_page && status != 401 && status != 403 {
                    Input::UpgradeAnsweredWithPage { conn, status }
                } else {
                    Input::UpgradeRejected { conn, status }
                };
                self.machine.handle(input, at);
            }
            ConnEvent::Failed { error } => {
                self.conns.remove(&conn);
                self.router.closed(conn);
                self.machine
                    .handle(Input::ConnectFailed { conn, error }, at);
            }
            ConnEvent::CannotOpen(error) => {
                self.conns.remove(&conn);
                self.router.closed(conn);
                tracing::debug!(conn, %error, "socket could not be opened");
                let input = match error {
                    OpenError::Certificate(problem) => Input::CertificateRejected { conn, problem },
                    OpenError::Proxy(problem) => Input::ProxyFailed { conn, problem },
                    other => Input::ConnectFailed {
                        conn,
                        error: other.to_string(),
                    },
                };
                self.machine.handle(input, at);
            }
            ConnEvent::Activity => self.machine.handle(Input::Activity { conn }, at),
            ConnEvent::Heartbeat { interval, timeout } => {
                tracing::debug!(
                    conn,
                    interval_ms = interval.as_millis() as u64,
                    timeout_ms = timeout.as_millis() as u64,
                    "the server's heartbeat"
                );
                self.machine.handle(Input::Activity { conn }, at);
                self.machine.handle(
                    Input::Heartbeat {
                        conn,
                        interval,
                        timeout,
                    },
                    at,
                );
            }
            ConnEvent::ServerDisconnected => {
                self.conns.remove(&conn);
                self.router.closed(conn);
                self.machine.handle(Input::ServerDisconnected { conn }, at);
            }
            ConnEvent::Closed { code, reason } => {
                self.conns.remove(&conn);
                self.router.closed(conn);
                self.machine
                    .handle(Input::Closed { conn, code, reason }, at);
            }
            // A socket the machine closed: nothing for it to decide, but a retiring
            // socket's messages stop counting here, after the last of them.
            ConnEvent::ClosedOnRequest => self.router.closed(conn),
            ConnEvent::Message(Err(error)) => {
                self.machine.handle(Input::Activity { conn }, at);
                self.on_unusable(conn, error);
            }
            ConnEvent::Message(Ok(message)) => {
                self.machine.handle(Input::Activity { conn }, at);
                self.on_message(conn, message, at);
            }
            ConnEvent::Messages(messages) => {
                // They arrived together: one activity mark, then one at a time as if
                // each had come on its own, the machine's actions for one carried out
                // before the next is routed.
                self.machine.handle(Input::Activity { conn }, at);
                let mut messages = messages.into_iter().peekable();
                while let Some(message) = messages.next() {
                    match message {
                        // Live updates for the socket that feeds presence never involve
                        // the machine: a run of them is applied under one lock.
                        Ok(ServerMessage::StatusUpdate(first))
                            if self.router.applies_directly(conn) =>
                        {
                            let rest = std::iter::from_fn(|| {
                                match messages
                                    .next_if(|m| matches!(m, Ok(ServerMessage::StatusUpdate(_))))
                                {
                                    Some(Ok(ServerMessage::StatusUpdate(record))) => Some(record),
                                    _ => None,
                                }
                            });
                            self.apply_updates(std::iter::once(first).chain(rest));
                        }
                        Ok(message) => self.on_message(conn, message, at),
                        Err(error) => self.on_unusable(conn, error),
                    }
                    self.flush();
                }
            }
        }
    }

    /// A frame Kith does not use. Messages of kinds Kith does not consume are normal on
    /// a shared socket: counted, the first of each kind logged at debug. A refused
    /// binary event is logged once per session. Anything else is a bad message.
    fn on_unusable(&mut self, conn: ConnId, error: MessageError) {
        match error {
            MessageError::UnknownType(kind) => {
                let first = match self.unconsumed.lock() {
                    Ok(mut counts) => counts.record(&kind),
                    Err(_) => false,
                };
                if first {
                    tracing::debug!(conn, ?kind, "a message Kith does not consume; more of this kind are counted, not logged");
                }
            }
            MessageError::UnmappedStatus { value } => {
                if self.unmapped_statuses.record(&value) {
                    tracing::warn!(
                        conn,
                        %value,
                        "refusing a status the profile's [messages.status] map does not name; logged once per value"
                    );
                }
            }
            error @ MessageError::BinaryRefused { .. } => {
                if !std::mem::replace(&mut self.binary_refusal_logged, true) {
                    tracing::warn!(conn, %error, "refusing a binary event (logged once)");
                }
            }
            error => tracing::warn!(conn, %error, "ignoring a bad message from the server"),
        }
    }

    fn on_message(&mut self, conn: ConnId, message: ServerMessage, at: Instant) {
        match message {
            ServerMessage::AuthSuccess => self.machine.handle(Input::AuthSucceeded { conn }, at),
            ServerMessage::AuthError { message } => {
                self.machine.handle(Input::AuthFailed { conn, message }, at)
            }
            ServerMessage::Pong => {}
            ServerMessage::ServerError { code, message } => {
                tracing::warn!(conn, ?code, %message, "the server reported an error");
            }
            ServerMessage::Snapshot { friends, .. } => {
                self.route(conn, PresenceMessage::Snapshot(friends));
                self.machine.handle(Input::SnapshotReceived { conn }, at);
            }
            ServerMessage::StatusUpdate(record) => {
                self.route(conn, PresenceMessage::Update(record))
            }
            // A mapped member list or diff: live updates, in order.
            ServerMessage::Updates(records) => {
                for record in records {
                    self.route(conn, PresenceMessage::Update(record));
                }
            }
            // The first whole-set member list of a socket: a snapshot in which every
            // known friend it does not list is offline, not forgotten. On a handover
            // socket (another socket's messages still count) it is left out: the other
            // socket got the same broadcast, and a list carries nothing to order it
            // against what that socket told since; the lists after it, told as
            // changes, are aligned with the other socket's by the router.
            ServerMessage::Members(members) => {
                if self.router.feeding().is_some_and(|f| f != conn)
                    || self.router.retiring().is_some_and(|r| r != conn)
                {
                    return;
                }
                let friends = match self.presence.read() {
                    Ok(presence) => presence.with_absent_offline(members),
                    Err(_) => members,
                };
                self.on_message(conn, ServerMessage::Snapshot { friends, seq: None }, at);
            }
        }
    }

    /// Applies live updates in order under one lock of the store.
    fn apply_updates(&mut self, records: impl Iterator<Item = FriendRecord>) {
        let Ok(mut presence) = self.presence.write() else {
            tracing::error!("presence store lock poisoned");
            return;
        };
        let was_stale = presence.stale_since().is_some();
        for record in records {
            if let Some(change) = presence.apply_update(record) {
                let _ = self.events.send(SessionEvent::Presence(change));
            }
        }
        if was_stale && presence.stale_since().is_none() {
            let _ = self.events.send(SessionEvent::PresenceFresh);
        }
    }

    /// Applies what the router lets through of a presence message from `conn`.
    fn route(&mut self, conn: ConnId, message: PresenceMessage) {
        if let Some(delivery) = self.router.route(conn, message) {
            self.deliver(delivery);
        }
    }

    fn deliver(&mut self, delivery: Delivery) {
        match delivery {
            Delivery::Update(record) => self.apply_updates(std::iter::once(record)),
            Delivery::Snapshot { friends, cause } => {
                let Ok(mut presence) = self.presence.write() else {
                    tracing::error!("presence store lock poisoned");
                    return;
                };
                let was_stale = presence.stale_since().is_some();
                let changes = presence.apply_snapshot(friends, cause);
                let (friends, online) = (presence.len(), presence.online_count());
                drop(presence);
                for change in changes {
                    self.emit(SessionEvent::Presence(change));
                }
                self.emit(SessionEvent::Resynced { friends, online });
                if was_stale {
                    self.emit(SessionEvent::PresenceFresh);
                }
            }
        }
    }

    /// Waits for every socket to finish its closing handshake (bounded).
    async fn finish(&mut self) {
        let handles: Vec<_> = self.conns.drain().map(|(_, h)| h).collect();
        for handle in handles {
            if handle.opened {
                let _ = handle.outgoing.send(Outgoing::Close {
                    code: 1000,
                    reason: "stopped",
                });
                let _ = tokio::time::timeout(Duration::from_secs(3), handle.task).await;
            } else {
                handle.task.abort();
            }
        }
        for task in self.closing.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
        }
    }
}
