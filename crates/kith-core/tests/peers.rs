//! Kith against the backends people already run, each a real peer built with its own
//! ecosystem's libraries, started on 127.0.0.1 with an ephemeral port:
//!
//! | profile            | peer                                                       |
//! |--------------------|------------------------------------------------------------|
//! | `django-simplejwt` | Django + Channels (daphne) + DRF + SimpleJWT, rotation and blacklist |
//! | `bearer-cookie`    | Node `ws` + `jsonwebtoken`, Bearer/cookie upgrade, refresh cookie |
//! | `auth-message`     | Node `ws`, first-message auth, PING/PONG, in-band re-auth   |
//! | `socketio`         | Node `socket.io` v4, `auth: {token}`, `connect_error`       |
//!
//! For each: login, live updates, access-token expiry during an open connection with
//! no missed update, no reused refresh token, recovery after a peer restart, bad
//! credentials (a clear error, no retry loop), and a half-open peer (SIGSTOP) detected
//! and reconnected. The peers need their packages (`cargo xtask test` installs them:
//! a venv for Django, `npm ci` for Node), so these tests are `#[ignore]`d in a plain
//! `cargo test`; a peer that cannot start fails its test and says why.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{live_statuses, EventLog};
use kith_core::token::{AuthClient, AuthError, TokenError};
use kith_core::{
    MemoryStore, Reason, Secret, ServerProfile, Session, SessionError, SessionEvent, TokenManager,
};

/// Access tokens live this long (peers round `exp` up to the next second).
const ACCESS_TTL_SECONDS: u64 = 3;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the crate sits in crates/ of the workspace")
        .to_path_buf()
}

enum PeerKind {
    Django,
    Node(&'static str),
}

/// A peer process, restartable on the same port and data directory.
struct Peer {
    kind: PeerKind,
    port: u16,
    data_dir: PathBuf,
    child: Option<Child>,
    http: reqwest::Client,
}

impl Peer {
    async fn start(kind: PeerKind) -> Peer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let data_dir = std::env::temp_dir().join(format!(
            "kith-peer-{}-{port}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&data_dir).expect("peer data dir");
        let mut peer = Peer {
            kind,
            port,
            data_dir,
            child: None,
            http: reqwest::Client::new(),
        };
        peer.spawn().await;
        peer
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) {
        let root = repo_root();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data_dir.join("peer.log"))
            .expect("peer log");
        let mut command = match self.kind {
            PeerKind::Django => {
                let mut command = Command::new("bash");
                command.arg(root.join("tests/peers/django/run.sh"));
                let python = std::env::var("KITH_PEER_PYTHON").unwrap_or_else(|_| "python3".into());
                command.env("PYTHON", python);
                command
            }
            PeerKind::Node(script) => {
                let dir = root.join("tests/peers/node");
                assert!(
                    dir.join("node_modules").exists(),
                    "the Node peers' packages are missing: run `npm ci --prefix tests/peers/node` (cargo xtask test does)"
                );
                let mut command = Command::new("node");
                command.arg(script).current_dir(dir);
                command
                    .env("PING_INTERVAL_MS", "2000")
                    .env("PING_TIMEOUT_MS", "3000");
                command
            }
        };
        command
            .env("PORT", self.port.to_string())
            .env("DATA_DIR", &self.data_dir)
            .env("ACCESS_TTL_SECONDS", ACCESS_TTL_SECONDS.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start the peer: {error}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "the peer exited with {status} before listening:\n{}",
                        self.log_tail()
                    );
                }
            }
            if Instant::now() > deadline {
                panic!("the peer did not listen within 60 s:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.data_dir.join("peer.log")).unwrap_or_default();
        text.lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn signal(&self, signal: i32) {
        if let Some(child) = &self.child {
            // SAFETY: sending a signal to our own child process.
            unsafe {
                libc::kill(child.id() as i32, signal);
            }
        }
    }

    async fn set_status(&self, username: &str, status: &str) {
        let response = self
            .http
            .post(format!("{}/__test__/status", self.url()))
            .header("X-Test-Control", "kith")
            .json(&serde_json::json!({"username": username, "status": status}))
            .send()
            .await
            .expect("the peer's control API answers");
        assert!(
            response.status().is_success(),
            "set_status: {}",
            response.status()
        );
    }

    async fn counters(&self) -> serde_json::Value {
        self.http
            .get(format!("{}/__test__/counters", self.url()))
            .header("X-Test-Control", "kith")
            .send()
            .await
            .expect("the peer's control API answers")
            .json()
            .await
            .expect("counters are JSON")
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        self.kill();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn profile_for(preset: &str, peer: &Peer) -> ServerProfile {
    let mut profile = ServerProfile::preset(preset, peer.url()).expect("known preset");
    common::fast_timings(&mut profile);
    // Peers in Python and Node answer a little slower than the in-process server.
    profile.socket.dead_grace = Duration::from_secs(2);
    profile.socket.connect_timeout = Duration::from_secs(5);
    profile
}

async fn wait_status(log: &mut EventLog, friend: &str, status: &str) {
    let what = format!("{friend} {status}");
    log.wait_for(&what, Duration::from_secs(15), |e| {
        matches!(e, SessionEvent::Presence(c) if c.username == friend && c.to.as_deref() == Some(status))
    })
    .await;
}

/// Every scenario, in order, against one peer.
async fn check_backend(preset: &str, kind: PeerKind) {
    let mut peer = Peer::start(kind).await;
    let profile = profile_for(preset, &peer);

    // Bad credentials: a clear, typed rejection, and nothing retried.
    let before = peer.counters().await;
    let started = Instant::now();
    let rejected = Session::login(
        profile.clone(),
        Arc::new(MemoryStore::new()),
        "me",
        Secret::new("wrong password"),
    )
    .await;
    match rejected {
        Err(SessionError::Token(TokenError::Auth(AuthError::Rejected { status, .. }))) => {
            assert!(status == 400 || status == 401, "{preset}: status {status}")
        }
        Err(other) => panic!("{preset}: expected a rejection, got {other}"),
        Ok(_) => panic!("{preset}: a wrong password was accepted"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{preset}: no retry loop"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = peer.counters().await;
    assert_eq!(
        before["refreshes"], after["refreshes"],
        "{preset}: nothing else was tried"
    );
    assert_eq!(before["connects"], after["connects"]);

    // Login and live updates.
    let store = MemoryStore::new();
    let mut session = Session::login(
        profile.clone(),
        Arc::new(store.clone()),
        "me",
        Secret::new("pw"),
    )
    .await
    .unwrap_or_else(|error| panic!("{preset}: login failed: {error}"));
    let mut log = EventLog::new(session.take_events().expect("events"));
    log.wait_for_state("connected", Duration::from_secs(10))
        .await;
    peer.set_status("bob", "online").await;
    wait_status(&mut log, "bob", "online").await;

    // Token expiry during an open connection: updates every 150 ms across several
    // refreshes; every one arrives once, in order.
    let churn_started = Instant::now();
    let mut sent = Vec::new();
    let mut i = 0;
    while churn_started.elapsed() < Duration::from_secs(4 * ACCESS_TTL_SECONDS) {
        i += 1;
        let status = format!("s{i}");
        peer.set_status("alice", &status).await;
        sent.push(status);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let last = sent.last().cloned().unwrap_or_default();
    wait_status(&mut log, "alice", &last).await;
    assert_eq!(
        live_statuses(&log, "alice"),
        sent,
        "{preset}: every update exactly once, in order"
    );
    let refreshes = session.tokens().refresh_requests();
    assert!(
        refreshes >= 2,
        "{preset}: tokens were refreshed during the run ({refreshes})"
    );
    assert!(
        !log.states().iter().any(|s| s.name() == "reconnecting"),
        "{preset}: refreshes never dropped the connection: {:?}",
        log.states()
    );
    let counters = peer.counters().await;
    assert_eq!(
        counters["refresh_reuse"], 0,
        "{preset}: no refresh token reused: {counters}"
    );

    // Recovery after a peer restart: same port, same data; the session survives.
    peer.kill();
    log.wait_for_state("reconnecting", Duration::from_secs(10))
        .await;
    peer.spawn().await;
    log.wait_for_state("connected", Duration::from_secs(30))
        .await;
    peer.set_status("carol", "away").await;
    wait_status(&mut log, "carol", "away").await;

    // A half-open peer: frozen, so the TCP connection stays up and nothing answers.
    let bound = profile.socket.ping_interval + profile.socket.dead_grace;
    peer.signal(libc::SIGSTOP);
    let frozen = Instant::now();
    let detected = log
        .wait_for(
            "keepalive timeout",
            Duration::from_secs(15),
            |e| matches!(e, SessionEvent::State(c) if c.reason == Reason::KeepaliveTimeout),
        )
        .await;
    let took = detected.duration_since(frozen);
    assert!(
        took <= bound + Duration::from_secs(1),
        "{preset}: half-open detected after {took:?} (bound {bound:?})"
    );
    peer.signal(libc::SIGCONT);
    log.wait_for_state("connected", Duration::from_secs(30))
        .await;
    // (A restarted peer forgot statuses, so pick one no friend has.)
    peer.set_status("bob", "back").await;
    wait_status(&mut log, "bob", "back").await;

    let counters = peer.counters().await;
    assert_eq!(counters["refresh_reuse"], 0, "{preset}: {counters}");
    assert!(
        !log.seen
            .iter()
            .any(|(_, e)| matches!(e, SessionEvent::SessionEnded { .. })),
        "{preset}: the session never ended"
    );
    session.stop().await;

    // Logout from a fresh process, which holds no access token: every peer, like the
    // stock backends, authenticates its logout view. The server's side is checked: the
    // refresh token is refused afterwards.
    let fresh = TokenManager::new(profile.clone(), Arc::new(store.clone())).unwrap();
    fresh.resume().await.expect("stored session");
    fresh
        .logout()
        .await
        .unwrap_or_else(|error| panic!("{preset}: logout not confirmed: {error}"));
    let revoked = store.saved_tokens().last().cloned().expect("a saved token");
    let refused = AuthClient::new(profile.clone())
        .unwrap()
        .refresh(&revoked)
        .await;
    assert!(
        matches!(refused, Err(AuthError::Rejected { status, .. }) if status == 400 || status == 401),
        "{preset}: the refresh token still works after logout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the peers' packages; run by `cargo xtask test`"]
async fn django_channels_simplejwt() {
    check_backend("django-simplejwt", PeerKind::Django).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the peers' packages; run by `cargo xtask test`"]
async fn bearer_cookie_go_style() {
    check_backend("bearer-cookie", PeerKind::Node("bearer_cookie.js")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the peers' packages; run by `cargo xtask test`"]
async fn auth_message_with_ping_pong() {
    check_backend("auth-message", PeerKind::Node("auth_message.js")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the peers' packages; run by `cargo xtask test`"]
async fn socketio_v4() {
    check_backend("socketio", PeerKind::Node("socketio.js")).await;
}
