//! The state every handler and socket shares: storage, keys, counters, fault switches and
//! the channels that fan presence changes and admin commands out to open sockets.
//!
//! Presence changes are written and broadcast under the database lock, and a socket
//! subscribes under the same lock while it reads its snapshot. That is the whole ordering
//! argument: a subscriber sees exactly the changes with `seq` above its snapshot's, in order.

use crate::clock::{now_unix, rfc3339};
use crate::db::{Db, UserId, UserRow};
use crate::error::ServerError;
use crate::grace::GraceMap;
use crate::jwt::{Claims, Keys, TokenError, TokenType};
use crate::password::{Hasher, Verdict};
use crate::throttle::LoginThrottle;
use crate::ServerConfig;
use axum::extract::ws::Utf8Bytes;
use axum::http::HeaderValue;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

/// Room for this many presence changes per socket before a slow socket is closed (1011).
const EVENT_CAPACITY: usize = 65_536;

/// How the refresh endpoint answers, switchable at run time to test client failure paths.
///
/// Over the HTTP admin API the unit modes are strings (`"normal"`, `"reject"`,
/// `"fail500"`) and `Status` is `{"status": 403}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefreshMode {
    /// Rotate as usual.
    #[default]
    Normal,
    /// Answer every refresh with 401 `token_not_valid`.
    Reject,
    /// Answer every refresh with 500.
    Fail500,
    /// Answer every refresh with this HTTP status and a short `text/plain` body, without
    /// rotating. A 3xx carries `Location: /api/auth/moved/`; 204, 205 and 304 have no
    /// body. A status outside 200–599 is answered as 500.
    Status(u16),
}

/// What the server has seen since it started (in-memory, not persisted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Successful logins.
    pub logins: u64,
    /// Failed logins (bad credentials).
    pub logins_rejected: u64,
    /// Logins answered 429 because of earlier failures for that user or address.
    pub logins_throttled: u64,
    /// Requests to the refresh endpoint, whatever their outcome.
    pub refreshes: u64,
    /// Refresh requests answered 401 (including reuse and `RefreshMode::Reject`).
    pub refresh_rejected: u64,
    /// Refresh requests that presented an already blacklisted refresh token (outside the
    /// reuse interval, or with the interval off).
    pub refresh_reuse: u64,
    /// Refresh requests that presented a just-rotated refresh token within the reuse
    /// interval and got its successor again.
    pub refresh_reuse_within_grace: u64,
    /// WebSocket connections that authenticated and got a snapshot.
    pub connects_accepted: u64,
    /// WebSocket connections refused: 401 on the upgrade, or auth_error/timeout on the
    /// first message.
    pub connects_rejected: u64,
    /// Successful in-band re-authentications on open sockets.
    pub inband_reauths: u64,
    /// WebSocket connections open right now.
    pub open_sockets: u64,
    /// WebSocket connections refused because their user already had
    /// `max_sockets_per_user` open: 429 on the upgrade, or close 1013 after an `auth`
    /// message.
    pub connects_over_cap: u64,
}

#[derive(Default)]
pub(crate) struct CounterCells {
    pub logins: AtomicU64,
    pub logins_rejected: AtomicU64,
    pub logins_throttled: AtomicU64,
    pub refreshes: AtomicU64,
    pub refresh_rejected: AtomicU64,
    pub refresh_reuse: AtomicU64,
    pub refresh_reuse_within_grace: AtomicU64,
    pub connects_accepted: AtomicU64,
    pub connects_rejected: AtomicU64,
    pub inband_reauths: AtomicU64,
    pub open_sockets: AtomicU64,
    pub connects_over_cap: AtomicU64,
}

impl CounterCells {
    pub(crate) fn bump(cell: &AtomicU64) {
        cell.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> Counters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counters {
            logins: get(&self.logins),
            logins_rejected: get(&self.logins_rejected),
            logins_throttled: get(&self.logins_throttled),
            refreshes: get(&self.refreshes),
            refresh_rejected: get(&self.refresh_rejected),
            refresh_reuse: get(&self.refresh_reuse),
            refresh_reuse_within_grace: get(&self.refresh_reuse_within_grace),
            connects_accepted: get(&self.connects_accepted),
            connects_rejected: get(&self.connects_rejected),
            inband_reauths: get(&self.inband_reauths),
            open_sockets: get(&self.open_sockets),
            connects_over_cap: get(&self.connects_over_cap),
        }
    }
}

/// Counts one open socket for as long as it lives.
pub(crate) struct OpenSocket(Arc<Shared>);

impl OpenSocket {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        CounterCells::bump(&shared.counters.open_sockets);
        Self(shared)
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.0.counters.open_sockets.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One of a user's authenticated sockets, counted against
/// `ServerConfig::max_sockets_per_user` for as long as it lives.
pub(crate) struct UserSlot {
    shared: Arc<Shared>,
    user: UserId,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut open = lock(&self.shared.sockets_per_user);
        if let Some(n) = open.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.user);
            }
        }
    }
}

/// Takes one of `user`'s socket slots, or `None` if they all are in use.
pub(crate) fn claim_socket(shared: &Arc<Shared>, user: UserId) -> Option<UserSlot> {
    let mut open = lock(&shared.sockets_per_user);
    let n = open.entry(user).or_insert(0);
    if shared.max_sockets_per_user != 0 && *n >= shared.max_sockets_per_user {
        return None;
    }
    *n += 1;
    drop(open);
    Some(UserSlot {
        shared: shared.clone(),
        user,
    })
}

/// One user's presence as sent on the wire (snapshot entry and `status_update` body).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Presence {
    pub user_id: UserId,
    pub username: String,
    pub status: String,
    pub last_seen: String,
    pub seq: u64,
}

impl From<UserRow> for Presence {
    fn from(row: UserRow) -> Self {
        Self {
            user_id: row.id,
            username: row.username,
            status: row.status,
            last_seen: rfc3339(row.last_seen),
            seq: row.seq,
        }
    }
}

/// What open sockets hear about the world.
#[derive(Debug, Clone)]
pub(crate) enum Event {
    /// A status change; `text` is the ready-made `status_update` message.
    Status { user_id: UserId, text: Utf8Bytes },
    /// `a` and `b` became friends.
    Friendship { a: UserId, b: UserId },
}

/// Admin commands addressed to every open socket.
#[derive(Debug, Clone)]
pub(crate) enum Control {
    DropAll { code: u16, reason: String },
}

/// A socket's starting point: the snapshot and the subscription that continues it.
pub(crate) struct Subscription {
    pub seq: u64,
    pub friends: Vec<Presence>,
    pub friend_ids: HashSet<UserId>,
    pub events: broadcast::Receiver<Event>,
}

pub(crate) struct Shared {
    pub db: Db,
    pub keys: Keys,
    /// Shared with the blocking tasks that hash and verify passwords.
    pub hasher: Arc<Hasher>,
    pub login_throttle: LoginThrottle,
    /// Authenticated sockets open per user, and the most one user may have (0: any).
    sockets_per_user: Mutex<HashMap<UserId, usize>>,
    max_sockets_per_user: usize,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub admin_token: Option<String>,
    pub counters: CounterCells,
    refresh_mode: Mutex<RefreshMode>,
    refresh_delay_ms: AtomicU64,
    auth_redirect: Mutex<Option<HeaderValue>>,
    /// Successors of recently rotated refresh tokens. Its lock is held across a whole
    /// rotation (blacklist, sign, remember) and taken before the database's.
    pub grace: Mutex<GraceMap>,
    ws_reject_all: AtomicBool,
    /// Whether a socket that goes live gets a `presence_snapshot` (on by default).
    snapshots: AtomicBool,
    /// How long `GET /api/friends/` waits between reading the list and answering.
    friends_delay_ms: AtomicU64,
    pub silent: watch::Sender<bool>,
    pub shutdown: watch::Sender<bool>,
    pub control: broadcast::Sender<Control>,
    events: broadcast::Sender<Event>,
    /// Every socket task holds a clone; shutdown drops this one and waits for the rest.
    tasks: Mutex<Option<mpsc::Sender<()>>>,
}

impl Shared {
    pub(crate) fn new(
        db: Db,
        keys: Keys,
        hasher: Hasher,
        config: &ServerConfig,
    ) -> (Self, mpsc::Receiver<()>) {
        let (tasks_tx, tasks_rx) = mpsc::channel(1);
        let shared = Self {
            db,
            keys,
            hasher: Arc::new(hasher),
            login_throttle: LoginThrottle::new(config.login_limits),
            sockets_per_user: Mutex::new(HashMap::new()),
            max_sockets_per_user: config.max_sockets_per_user,
            access_ttl: config.access_ttl,
            refresh_ttl: config.refresh_ttl,
            admin_token: config.admin_token.clone(),
            counters: CounterCells::default(),
            refresh_mode: Mutex::new(RefreshMode::Normal),
            refresh_delay_ms: AtomicU64::new(0),
            auth_redirect: Mutex::new(None),
            grace: Mutex::new(GraceMap::new(config.reuse_interval)),
            ws_reject_all: AtomicBool::new(false),
            snapshots: AtomicBool::new(true),
            friends_delay_ms: AtomicU64::new(0),
            silent: watch::Sender::new(false),
            shutdown: watch::Sender::new(false),
            control: broadcast::Sender::new(16),
            events: broadcast::Sender::new(EVENT_CAPACITY),
            tasks: Mutex::new(Some(tasks_tx)),
        };
        (shared, tasks_rx)
    }

    pub(crate) fn counters(&self) -> Counters {
        self.counters.snapshot()
    }

    pub(crate) fn refresh_mode(&self) -> RefreshMode {
        *lock(&self.refresh_mode)
    }

    pub(crate) fn set_refresh_mode(&self, mode: RefreshMode) {
        *lock(&self.refresh_mode) = mode;
    }

    /// How long a successful refresh waits, after rotating, before it answers.
    pub(crate) fn refresh_delay(&self) -> Duration {
        Duration::from_millis(self.refresh_delay_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn set_refresh_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.refresh_delay_ms.store(ms, Ordering::Relaxed);
    }

    /// Where login and refresh redirect to (307) instead of answering, if anywhere.
    pub(crate) fn auth_redirect(&self) -> Option<HeaderValue> {
        lock(&self.auth_redirect).clone()
    }

    pub(crate) fn set_auth_redirect(&self, location: Option<&str>) -> Result<(), ServerError> {
        let value = location
            .map(|l| {
                HeaderValue::from_str(l).map_err(|_| {
                    ServerError::InvalidInput("redirect location is not a valid header".into())
                })
            })
            .transpose()?;
        *lock(&self.auth_redirect) = value;
        Ok(())
    }

    /// Whether the refresh endpoint would accept this refresh token now (signature,
    /// expiry, type, not blacklisted). Does not consume it.
    pub(crate) fn refresh_token_is_valid(&self, token: &str) -> bool {
        let Ok(claims) = self.keys.verify(token, TokenType::Refresh) else {
            return false;
        };
        let mut db = self.db.lock();
        match (
            db.is_blacklisted(&claims.jti),
            db.user_by_id(claims.user_id),
        ) {
            (Ok(false), Ok(Some(_))) => true,
            (Ok(_), Ok(_)) => false,
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "refresh token check failed");
                false
            }
        }
    }

    pub(crate) fn ws_rejects_all(&self) -> bool {
        self.ws_reject_all.load(Ordering::Relaxed)
    }

    pub(crate) fn set_ws_rejects_all(&self, on: bool) {
        self.ws_reject_all.store(on, Ordering::Relaxed);
    }

    pub(crate) fn sends_snapshots(&self) -> bool {
        self.snapshots.load(Ordering::Relaxed)
    }

    pub(crate) fn set_sends_snapshots(&self, on: bool) {
        self.snapshots.store(on, Ordering::Relaxed);
    }

    pub(crate) fn friends_delay(&self) -> Duration {
        Duration::from_millis(self.friends_delay_ms.load(Ordering::Relaxed))
    }

    pub(crate) fn set_friends_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.friends_delay_ms.store(ms, Ordering::Relaxed);
    }

    /// The friends of `user` with their presence, as a snapshot lists them.
    pub(crate) fn friends_presence(&self, user: UserId) -> Result<Vec<Presence>, ServerError> {
        let rows = self.db.lock().friends_of(user)?;
        Ok(rows.into_iter().map(Presence::from).collect())
    }

    /// A token a socket task holds while it runs, or `None` once shutdown has begun.
    pub(crate) fn task_token(&self) -> Option<mpsc::Sender<()>> {
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .cloned()
    }

    /// Stops handing out task tokens.
    pub(crate) fn close_tasks(&self) {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Checks an access token for a WebSocket: signature, expiry, type, the
    /// `ws_auth_rejects_all` switch, and that the user still exists.
    pub(crate) fn authenticate_ws(&self, token: &str) -> Result<Claims, TokenError> {
        if self.ws_rejects_all() {
            return Err(TokenError::Invalid);
        }
        let claims = self.keys.verify(token, TokenType::Access)?;
        match self.db.lock().user_by_id(claims.user_id) {
            Ok(Some(_)) => Ok(claims),
            Ok(None) => Err(TokenError::Invalid),
            Err(e) => {
                tracing::error!(error = %e, "user lookup failed during WebSocket auth");
                Err(TokenError::Invalid)
            }
        }
    }

    /// Creates a user (status "offline", last seen now). Hashes the password on the
    /// calling thread, outside the database lock; async callers should run this with
    /// `spawn_blocking`.
    pub(crate) fn create_user(
        &self,
        username: &str,
        password: &str,
    ) -> Result<UserId, ServerError> {
        validate_name(username)?;
        if password.is_empty() {
            return Err(ServerError::InvalidInput("password is empty".into()));
        }
        // Fail fast for a taken name before paying for a hash; the insert checks again.
        if self.db.lock().user_by_name(username)?.is_some() {
            return Err(ServerError::UserExists(username.to_owned()));
        }
        let hash = self.hasher.hash(password)?;
        self.db.lock().create_user(username, &hash, now_unix())
    }

    /// The user if the password is theirs, `None` for a wrong password or an unknown
    /// user (which costs the same hash check). Verifies on a blocking thread.
    pub(crate) async fn check_password(
        &self,
        username: &str,
        password: String,
    ) -> Result<Option<UserRow>, ServerError> {
        let record = self.db.lock().password_record(username)?;
        let hasher = self.hasher.clone();
        let (id, verdict) = tokio::task::spawn_blocking(move || {
            let stored = record.as_ref().map(|(_, s, h)| (s.as_str(), h.as_str()));
            (
                record.as_ref().map(|r| r.0),
                hasher.verify(&password, stored),
            )
        })
        .await
        .map_err(|e| ServerError::Hash(format!("verification task failed: {e}")))?;
        let Some(id) = id else {
            return Ok(None);
        };
        match verdict {
            Verdict::Mismatch => return Ok(None),
            Verdict::Match => {}
            Verdict::MatchRehash(hash) => self.db.lock().set_password_hash(id, &hash)?,
        }
        self.db.lock().user_by_id(id)
    }

    /// Makes two users (by name) friends of each other.
    pub(crate) fn befriend(&self, a: &str, b: &str) -> Result<(), ServerError> {
        if a == b {
            return Err(ServerError::InvalidInput(
                "a user cannot befriend themselves".into(),
            ));
        }
        let mut db = self.db.lock();
        let a_id = db
            .user_by_name(a)?
            .ok_or_else(|| ServerError::UnknownUser(a.to_owned()))?
            .id;
        let b_id = db
            .user_by_name(b)?
            .ok_or_else(|| ServerError::UnknownUser(b.to_owned()))?
            .id;
        if db.befriend(a_id, b_id)? {
            // Sent under the lock, like status changes, so it is ordered with them.
            let _ = self.events.send(Event::Friendship { a: a_id, b: b_id });
        }
        Ok(())
    }

    /// Sets a user's status (by name) and tells their friends. Returns the change's `seq`.
    pub(crate) fn set_status(&self, username: &str, status: &str) -> Result<u64, ServerError> {
        if status.is_empty() || status.len() > 64 {
            return Err(ServerError::InvalidInput(
                "status must be 1 to 64 bytes".into(),
            ));
        }
        let mut db = self.db.lock();
        let id = db
            .user_by_name(username)?
            .ok_or_else(|| ServerError::UnknownUser(username.to_owned()))?
            .id;
        let row = db.set_status(id, status, now_unix())?;
        let seq = row.seq;
        let presence = Presence::from(row);
        let text = status_update_text(&presence);
        // No receivers is fine: nobody is connected.
        let _ = self.events.send(Event::Status { user_id: id, text });
        drop(db);
        tracing::debug!(user = username, status, seq, "status changed");
        Ok(seq)
    }

    /// Subscribes to presence changes and reads the snapshot they continue from.
    pub(crate) fn subscribe(&self, user: UserId) -> Result<Subscription, ServerError> {
        let mut db = self.db.lock();
        let events = self.events.subscribe();
        let seq = db.current_seq()?;
        let rows = db.friends_of(user)?;
        drop(db);
        let friend_ids = rows.iter().map(|r| r.id).collect();
        Ok(Subscription {
            seq,
            friends: rows.into_iter().map(Presence::from).collect(),
            friend_ids,
            events,
        })
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked (plain values).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn status_update_text(p: &Presence) -> Utf8Bytes {
    #[derive(Serialize)]
    struct StatusUpdate<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        #[serde(flatten)]
        presence: &'a Presence,
    }
    let msg = StatusUpdate {
        kind: "status_update",
        presence: p,
    };
    // Serialising plain strings and integers cannot fail; fall back to an empty object
    // rather than panic if it ever did.
    serde_json::to_string(&msg)
        .unwrap_or_else(|_| "{}".to_owned())
        .into()
}

fn validate_name(username: &str) -> Result<(), ServerError> {
    if username.is_empty() || username.len() > 150 || username.chars().any(char::is_control) {
        return Err(ServerError::InvalidInput(
            "username must be 1 to 150 bytes without control characters".into(),
        ));
    }
    Ok(())
}
