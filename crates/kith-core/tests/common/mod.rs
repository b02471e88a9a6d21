//! Shared by the session tests: a real kith-server on 127.0.0.1 with a small world,
//! a fast-timing profile for it, and an event log that waits for what a test expects.

#![allow(dead_code)]

pub mod peer_process;
pub mod pki;
pub mod proxy;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kith_core::protocol::ServerProfile;
use kith_core::{ChangeCause, ConnectionState, MemoryStore, Secret, Session, SessionEvent};
use kith_server::{AdminHandle, RunningServer, ServerConfig};
use tokio::sync::mpsc;

pub const USER: &str = "me";
pub const PASSWORD: &str = "correct horse";
pub const FRIENDS: &[&str] = &["alice", "bob", "carol"];

/// A server with user `me`, friends with alice, bob and carol.
pub async fn start_server(config: ServerConfig) -> (RunningServer, AdminHandle) {
    let server = kith_server::spawn(config).await.expect("server starts");
    let admin = server.admin();
    seed(&admin);
    (server, admin)
}

/// Waits until the server counts `accepted` sockets as live, that is joined to its
/// presence broadcast. Without a snapshot nothing tells the client when that is: a
/// socket is open before it is joined, and a change made in between reaches no socket.
pub async fn wait_until_server_accepted(admin: &AdminHandle, accepted: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while admin.counters().connects_accepted < accepted {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server never counted {accepted} sockets live"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn seed(admin: &AdminHandle) {
    admin.create_user(USER, PASSWORD).expect("create user");
    for friend in FRIENDS {
        admin.create_user(friend, "pw").expect("create friend");
        admin.befriend(USER, friend).expect("befriend");
    }
}

pub fn config_with_ttl(access_ttl: Duration) -> ServerConfig {
    let mut config = ServerConfig::in_process();
    config.access_ttl = access_ttl;
    config
}

/// The default profile pointed at `server`, with timings short enough for tests.
pub fn fast_profile(server: &RunningServer) -> ServerProfile {
    let mut profile = ServerProfile::simplejwt(server.http_url());
    fast_timings(&mut profile);
    profile
}

/// Backoff, keepalive and refresh-retry timings short enough for tests.
pub fn fast_timings(profile: &mut ServerProfile) {
    profile.reconnect.base = Duration::from_millis(100);
    profile.reconnect.cap = Duration::from_secs(1);
    profile.socket.ping_interval = Duration::from_secs(1);
    profile.socket.dead_grace = Duration::from_secs(1);
    profile.socket.connect_timeout = Duration::from_secs(3);
    profile.refresh.retry_base = Duration::from_millis(200);
    profile.refresh.retry_cap = Duration::from_secs(1);
}

pub async fn login(profile: ServerProfile, store: &MemoryStore) -> (Session, EventLog) {
    let mut session = Session::login(
        profile,
        Arc::new(store.clone()),
        USER,
        Secret::new(PASSWORD),
    )
    .await
    .expect("login");
    let log = EventLog::new(session.take_events().expect("events"));
    (session, log)
}

/// Every event of a session, in order, with the time it was seen.
pub struct EventLog {
    rx: mpsc::UnboundedReceiver<SessionEvent>,
    pub seen: Vec<(Instant, SessionEvent)>,
}

impl EventLog {
    pub fn new(rx: mpsc::UnboundedReceiver<SessionEvent>) -> Self {
        EventLog {
            rx,
            seen: Vec::new(),
        }
    }

    /// Waits until an event matching `pred` arrives (or was already seen after `from`).
    /// Panics with the log on timeout, so a failure says what happened instead.
    pub async fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&SessionEvent) -> bool,
    ) -> Instant {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(event)) => {
                    let at = Instant::now();
                    let hit = pred(&event);
                    self.seen.push((at, event));
                    if hit {
                        return at;
                    }
                }
                Ok(None) => panic!("session ended while waiting for {what}: {:#?}", self.tail()),
                Err(_) => panic!(
                    "timed out waiting for {what}; last events: {:#?}",
                    self.tail()
                ),
            }
        }
    }

    pub async fn wait_for_state(&mut self, name: &str, timeout: Duration) -> Instant {
        self.wait_for(
            &format!("state {name}"),
            timeout,
            |e| matches!(e, SessionEvent::State(change) if change.to.name() == name),
        )
        .await
    }

    /// Collects whatever arrives for `duration`.
    pub async fn drain_for(&mut self, duration: Duration) {
        let deadline = tokio::time::Instant::now() + duration;
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            self.seen.push((Instant::now(), event));
        }
    }

    pub fn states(&self) -> Vec<ConnectionState> {
        self.seen
            .iter()
            .filter_map(|(_, e)| match e {
                SessionEvent::State(change) => Some(change.to.clone()),
                _ => None,
            })
            .collect()
    }

    fn tail(&self) -> Vec<&SessionEvent> {
        let skip = self.seen.len().saturating_sub(15);
        self.seen.iter().skip(skip).map(|(_, e)| e).collect()
    }
}

/// Live status changes of `friend`, in arrival order.
pub fn live_statuses(log: &EventLog, friend: &str) -> Vec<String> {
    log.seen
        .iter()
        .filter_map(|(_, e)| match e {
            SessionEvent::Presence(change)
                if change.username == friend && change.cause == ChangeCause::Live =>
            {
                change.to.as_deref().map(str::to_owned)
            }
            _ => None,
        })
        .collect()
}

/// The case count of the structured fuzz tests: `KITH_FUZZ_CASES`, 256 by default.
pub fn fuzz_config() -> proptest::prelude::ProptestConfig {
    let cases = std::env::var("KITH_FUZZ_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(256);
    proptest::prelude::ProptestConfig {
        cases,
        ..proptest::prelude::ProptestConfig::default()
    }
}
