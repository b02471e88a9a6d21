//! Kith against the backends people already run, each a real peer built with its own
//! ecosystem's libraries, started on 127.0.0.1 with an ephemeral port:
//!
//! | profile            | peer                                                       |
//! |--------------------|------------------------------------------------------------|
//! | `django-simplejwt` | Django + Channels (daphne) + DRF + SimpleJWT, rotation and blacklist |
//! | `bearer-cookie`    | Node `ws` + `jsonwebtoken`, Bearer/cookie upgrade, refresh cookie |
//! | `auth-message`     | Node `ws`, first-message auth, PING/PONG, in-band re-auth   |
//! | `socketio`         | Node `socket.io` v4, `auth: {token}`, `connect_error`       |
//! | `socketio`         | python-socketio 5 + aiohttp, the same, independently built  |
//!
//! For each: login, live updates, access-token expiry during an open connection with
//! no missed update, no reused refresh token, recovery after a peer restart, bad
//! credentials (a clear error, no retry loop), and a half-open peer (SIGSTOP) detected
//! and reconnected. The peers need their packages (`cargo xtask test` installs them:
//! a venv for Django, `npm ci` for Node), so these tests are `#[ignore]`d in a plain
//! `cargo test`; a peer that cannot start fails its test and says why.
//!
//! Both Socket.IO peers also run the protocol's edges (`socketio_scenarios`): a server
//! that sends no snapshot (the handover goes ahead after `snapshot_wait`), the open
//! packet's heartbeat, binary events, acks, an unrelated event at 100/s, a server-side
//! disconnect, accept-then-disconnect, and a non-default namespace.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{live_statuses, peer_process, EventLog};
use kith_core::token::{AuthClient, AuthError, TokenError};
use kith_core::{
    ConnectionState, CredentialStore, MemoryStore, Reason, Secret, ServerProfile, Session,
    SessionError, SessionEvent, TokenManager,
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

#[derive(Clone, Copy)]
enum PeerKind {
    Django,
    Node(&'static str),
    /// A Python script under tests/peers, run with `KITH_PEER_PYTHON`.
    Python(&'static str),
    /// The Next.js + Next-Auth + Socket.IO app of tests/peers/nextauth (seed 003),
    /// built once by `cargo xtask test`.
    NextAuth,
}

/// The heartbeat the Socket.IO peers announce in their open packet.
const PEER_PING_INTERVAL: Duration = Duration::from_secs(2);
const PEER_PING_TIMEOUT: Duration = Duration::from_secs(3);

/// A peer process, restartable on the same port and data directory.
struct Peer {
    kind: PeerKind,
    port: u16,
    data_dir: PathBuf,
    child: Option<Child>,
    http: reqwest::Client,
    env: Vec<(&'static str, String)>,
}

impl Peer {
    async fn start(kind: PeerKind) -> Peer {
        Peer::start_with(kind, &[]).await
    }

    /// A peer with extra environment (the Socket.IO scenarios' switches).
    async fn start_with(kind: PeerKind, env: &[(&'static str, &str)]) -> Peer {
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
            env: env.iter().map(|(k, v)| (*k, v.to_string())).collect(),
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
            }
            PeerKind::NextAuth => {
                let dir = root.join("tests/peers/nextauth");
                assert!(
                    dir.join(".next/BUILD_ID").exists(),
                    "the Next-Auth peer is not built: run `npm ci && npm run build` in tests/peers/nextauth (cargo xtask test does)"
                );
                let mut command = Command::new("node");
                command.arg("server.js").current_dir(dir);
                command
            }
            PeerKind::Python(script) => {
                let python = std::env::var("KITH_PEER_PYTHON").unwrap_or_else(|_| "python3".into());
                let mut command = Command::new(python);
                command.arg(root.join("tests/peers").join(script));
                command
            }
        };
        command
            .env("ACCESS_TTL_SECONDS", ACCESS_TTL_SECONDS.to_string())
            .env(
                "PING_INTERVAL_MS",
                PEER_PING_INTERVAL.as_millis().to_string(),
            )
            .env("PING_TIMEOUT_MS", PEER_PING_TIMEOUT.as_millis().to_string())
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
            .env("PORT", self.port.to_string())
            .env("DATA_DIR", &self.data_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start the peer: {error}"));
        self.child = Some(child);
        let url = self.url();
        let child = self.child.as_mut().expect("just started");
        if let Err(why) = peer_process::wait_until_answering(&self.http, &url, child).await {
            panic!("the peer {why}:\n{}", self.log_tail());
        }
    }

    fn log_tail(&self) -> String {
        peer_process::log_tail(&self.data_dir.join("peer.log"))
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

    /// One of the Socket.IO peers' scenario actions (`POST /__test__/sio`).
    async fn sio(&self, body: serde_json::Value) {
        let response = self
            .http
            .post(format!("{}/__test__/sio", self.url()))
            .header("X-Test-Control", "kith")
            .json(&body)
            .send()
            .await
            .expect("the peer's control API answers");
        assert!(
            response.status().is_success(),
            "sio {body}: {}",
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
    if preset.ends_with("socketio") {
        // Far longer than the peers' heartbeat, which must be the one that counts.
        profile.socket.ping_interval = Duration::from_secs(10);
        profile.socket.dead_grace = Duration::from_secs(10);
    }
    profile
}

/// How long a silent peer goes unnoticed: for Socket.IO, the heartbeat of its open
/// packet; otherwise the profile's.
fn dead_bound(preset: &str, profile: &ServerProfile) -> Duration {
    if preset.ends_with("socketio") {
        PEER_PING_INTERVAL + PEER_PING_TIMEOUT
    } else {
        profile.socket.ping_interval + profile.socket.dead_grace
    }
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
    let bound = dead_bound(preset, &profile);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the peers' packages; run by `cargo xtask test`"]
async fn socketio_python() {
    check_backend("socketio", PeerKind::Python("python-socketio/server.py")).await;
}

// ---- the Socket.IO protocol's edges, against both Socket.IO peers --------------------

/// Kith's log lines at debug and above, for checks on what is (not) logged.
mod captured {
    use std::io::Write;
    use std::sync::{Mutex, OnceLock};

    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    static LINES: Mutex<Vec<u8>> = Mutex::new(Vec::new());
    static INSTALLED: OnceLock<()> = OnceLock::new();

    struct Writer;

    impl Write for Writer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut lines) = LINES.lock() {
                lines.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    pub fn install() {
        INSTALLED.get_or_init(|| {
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(|| Writer);
            let _ = tracing_subscriber::registry()
                .with(layer)
                .with(Targets::new().with_target("kith_core", LevelFilter::DEBUG))
                .try_init();
        });
    }

    /// Forgets what was logged so far.
    pub fn clear() {
        if let Ok(mut lines) = LINES.lock() {
            lines.clear();
        }
    }

    /// The lines logged so far that contain every one of `words`.
    pub fn lines_with(words: &[&str]) -> Vec<String> {
        let text = LINES
            .lock()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .unwrap_or_default();
        text.lines()
            .filter(|line| words.iter().all(|w| line.contains(w)))
            .map(str::to_owned)
            .collect()
    }
}

fn client_disconnects(counters: &serde_json::Value) -> u64 {
    // Node socket.io says "client namespace disconnect", python-socketio "client disconnect".
    counters["disconnect_reasons"]
        .as_object()
        .map(|reasons| {
            reasons
                .iter()
                .filter(|(reason, _)| reason.starts_with("client"))
                .filter_map(|(_, n)| n.as_u64())
                .sum()
        })
        .unwrap_or(0)
}

fn transport_closes(counters: &serde_json::Value) -> u64 {
    counters["disconnect_reasons"]["transport close"]
        .as_u64()
        .unwrap_or(0)
}

async fn sio_login(profile: ServerProfile) -> (Session, EventLog) {
    let mut session = Session::login(
        profile,
        Arc::new(MemoryStore::new()),
        "me",
        Secret::new("pw"),
    )
    .await
    .expect("login");
    let log = EventLog::new(session.take_events().expect("events"));
    (session, log)
}

fn has_reason(log: &EventLog, reason: &Reason) -> usize {
    log.seen
        .iter()
        .filter(|(_, e)| matches!(e, SessionEvent::State(c) if &c.reason == reason))
        .count()
}

/// Every scenario of issue 12 against one Socket.IO peer.
/// The log capture is shared: one test that reads it at a time.
static CAPTURE_SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn socketio_scenarios(name: &str, kind: PeerKind) {
    let _serial = CAPTURE_SERIAL.lock().await;
    captured::install();
    captured::clear();

    // No snapshot, and no disconnect at expiry: the handover must still happen, after
    // the snapshot wait, and the replaced socket is closed with a namespace DISCONNECT.
    {
        let peer = Peer::start_with(
            kind,
            &[("SIO_SNAPSHOT", "0"), ("SIO_EXPIRY_DISCONNECT", "0")],
        )
        .await;
        let profile = profile_for("socketio", &peer);
        assert!(profile.socket.snapshot_on_connect, "the preset's default");
        let (session, mut log) = sio_login(profile).await;
        log.wait_for_state("connected", Duration::from_secs(10))
            .await;
        log.wait_for(
            "a handover without a snapshot",
            Duration::from_secs(4 * ACCESS_TTL_SECONDS),
            |e| matches!(e, SessionEvent::State(c) if c.reason == Reason::Handover),
        )
        .await;
        peer.set_status("bob", "after-handover").await;
        wait_status(&mut log, "bob", "after-handover").await;
        assert!(
            !log.states().iter().any(|s| s.name() == "reconnecting"),
            "{name}: {:?}",
            log.states()
        );
        assert!(
            !captured::lines_with(&["no snapshot after authentication"]).is_empty(),
            "{name}: the promotion without a snapshot is logged"
        );
        // Let the closing handshake of the replaced socket finish.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let handovers = has_reason(&log, &Reason::Handover) as u64;
        let counters = peer.counters().await;
        assert!(
            client_disconnects(&counters) >= handovers,
            "{name}: every replaced socket said goodbye: {counters}"
        );
        session.stop().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let counters = peer.counters().await;
        assert!(
            client_disconnects(&counters) > handovers,
            "{name}: stop sends 41 too: {counters}"
        );
        assert_eq!(transport_closes(&counters), 0, "{name}: {counters}");
    }

    // Binary events, acks, 100 unrelated events a second, and a server-side disconnect.
    // Long tokens: with a handover under way the server may end only the old socket
    // (the new one not yet in its room), which is a handover finishing early and
    // rightly not a `server_disconnect`. Handovers have their own block above.
    {
        let peer = Peer::start_with(kind, &[("ACCESS_TTL_SECONDS", "600")]).await;
        let (session, mut log) = sio_login(profile_for("socketio", &peer)).await;
        log.wait_for_state("connected", Duration::from_secs(10))
            .await;

        peer.sio(serde_json::json!({"action": "binary_status", "username": "alice", "status": "binary-1"}))
            .await;
        wait_status(&mut log, "alice", "binary-1").await;
        for _ in 0..3 {
            peer.sio(serde_json::json!({"action": "binary_other"}))
                .await;
        }
        peer.sio(
            serde_json::json!({"action": "ack_status", "username": "carol", "status": "acked-1"}),
        )
        .await;
        wait_status(&mut log, "carol", "acked-1").await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while peer.counters().await["acks"].as_u64() < Some(1) {
            assert!(
                Instant::now() < deadline,
                "{name}: the ack was never answered"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let refused = captured::lines_with(&["refusing a binary event", "file"]);
        assert_eq!(
            refused.len(),
            1,
            "{name}: refused once, logged once: {refused:?}"
        );

        peer.sio(serde_json::json!({"action": "chat", "count": 200, "per_second": 100}))
            .await;
        peer.set_status("bob", "after-chat").await;
        wait_status(&mut log, "bob", "after-chat").await;
        assert_eq!(
            session.unconsumed().count("chat"),
            200,
            "{name}: every chat counted"
        );
        let chat_lines = captured::lines_with(&["chat"]);
        assert!(
            !chat_lines.iter().any(|l| l.contains("WARN")),
            "{name}: no warning for chat: {:?}",
            &chat_lines[..chat_lines.len().min(3)]
        );
        assert_eq!(
            captured::lines_with(&["DEBUG", "does not consume", "kind=\"chat\""]).len(),
            1,
            "{name}: the first chat logged at debug, once"
        );

        // The server disconnects the namespace: its own reason, then a reconnect.
        peer.sio(serde_json::json!({"action": "disconnect"})).await;
        log.wait_for(
            "server_disconnect",
            Duration::from_secs(5),
            |e| matches!(e, SessionEvent::State(c) if c.reason == Reason::ServerDisconnect),
        )
        .await;
        log.wait_for_state("connected", Duration::from_secs(10))
            .await;
        peer.set_status("bob", "after-disconnect").await;
        wait_status(&mut log, "bob", "after-disconnect").await;
        assert!(log.seen.iter().all(|(_, e)| !matches!(
            e,
            SessionEvent::State(c) if matches!(c.reason, Reason::ClosedByServer { code: None, .. })
        )), "{name}: never 'connection lost'");
        session.stop().await;
    }

    // Accept, then disconnect at once, every time: one forced refresh, then gave_up.
    {
        let peer = Peer::start_with(kind, &[("SIO_ACCEPT_THEN_DISCONNECT", "1")]).await;
        let (session, mut log) = sio_login(profile_for("socketio", &peer)).await;
        log.wait_for_state("gave_up", Duration::from_secs(15)).await;
        let last = log
            .seen
            .iter()
            .rev()
            .find_map(|(_, e)| match e {
                SessionEvent::State(c) => Some(c.clone()),
                _ => None,
            })
            .expect("a state change");
        assert_eq!(last.reason, Reason::AuthRejected, "{name}");
        assert_eq!(
            has_reason(&log, &Reason::AuthRetry),
            1,
            "{name}: one forced refresh"
        );
        let connects = peer.counters().await["connects"].clone();
        assert_eq!(connects, 3, "{name}: three accepted connects, then none");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(
            peer.counters().await["connects"],
            connects,
            "{name}: no loop"
        );
        assert_eq!(session.state(), ConnectionState::GaveUp);
        assert!(
            !log.seen
                .iter()
                .any(|(_, e)| matches!(e, SessionEvent::SessionEnded { .. })),
            "{name}: the credentials stay"
        );
        session.stop().await;
    }

    // A non-default namespace, for CONNECT, events, acks and the goodbye.
    {
        let peer = Peer::start_with(kind, &[("SIO_NAMESPACE", "/presence")]).await;
        let mut profile = profile_for("socketio", &peer);
        profile.socket.namespace = "/presence".into();
        let (session, mut log) = sio_login(profile).await;
        log.wait_for_state("connected", Duration::from_secs(10))
            .await;
        peer.set_status("alice", "namespaced").await;
        wait_status(&mut log, "alice", "namespaced").await;
        peer.sio(
            serde_json::json!({"action": "ack_status", "username": "bob", "status": "ns-acked"}),
        )
        .await;
        wait_status(&mut log, "bob", "ns-acked").await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while peer.counters().await["acks"].as_u64() < Some(1) {
            assert!(
                Instant::now() < deadline,
                "{name}: the namespaced ack was never answered"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        session.stop().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let counters = peer.counters().await;
        assert!(client_disconnects(&counters) >= 1, "{name}: {counters}");
        assert_eq!(counters["rejected_connects"], 0, "{name}: {counters}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the peers' packages; run by `cargo xtask test`"]
async fn socketio_scenarios_node() {
    socketio_scenarios("node socket.io", PeerKind::Node("socketio.js")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the peers' packages; run by `cargo xtask test`"]
async fn socketio_scenarios_python() {
    socketio_scenarios(
        "python-socketio",
        PeerKind::Python("python-socketio/server.py"),
    )
    .await;
}

/// The JSON protocol's message types that Kith does not consume are as normal as
/// Socket.IO's other events: counted, the first logged at debug, never a warning each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the peers' packages; run by `cargo xtask test`"]
async fn json_types_kith_does_not_consume_are_counted_not_warned() {
    let _serial = CAPTURE_SERIAL.lock().await;
    captured::install();
    captured::clear();
    let peer = Peer::start(PeerKind::Node("auth_message.js")).await;
    let (session, mut log) = sio_login(profile_for("auth-message", &peer)).await;
    log.wait_for_state("connected", Duration::from_secs(10))
        .await;
    let response = peer
        .http
        .post(format!("{}/__test__/frame", peer.url()))
        .header("X-Test-Control", "kith")
        .json(&serde_json::json!({
            "username": "me",
            "count": 200,
            "frame": {"type": "chat", "text": "hi"}
        }))
        .send()
        .await
        .expect("the peer's control API answers");
    assert!(response.status().is_success(), "{}", response.status());
    peer.set_status("bob", "after-chat").await;
    wait_status(&mut log, "bob", "after-chat").await;
    assert_eq!(session.unconsumed().count("chat"), 200);
    assert_eq!(session.unconsumed().total(), 200);
    let chat_lines = captured::lines_with(&["chat"]);
    assert!(
        !chat_lines.iter().any(|l| l.contains("WARN")),
        "no warning for chat: {:?}",
        &chat_lines[..chat_lines.len().min(3)]
    );
    assert_eq!(
        captured::lines_with(&["DEBUG", "does not consume", "kind=\"chat\""]).len(),
        1
    );
    session.stop().await;
}

/// The JSON protocol too: a backend that sends no snapshot and never closes a socket
/// at expiry still gets its handover, `snapshot_wait` after the new socket opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the peers' packages; run by `cargo xtask test`"]
async fn json_handover_without_a_snapshot() {
    let _serial = CAPTURE_SERIAL.lock().await;
    captured::install();
    captured::clear();
    let peer = Peer::start_with(
        PeerKind::Node("bearer_cookie.js"),
        &[("WS_SNAPSHOT", "0"), ("WS_EXPIRY_CLOSE", "0")],
    )
    .await;
    let profile = profile_for("bearer-cookie", &peer);
    assert!(profile.socket.snapshot_on_connect);
    let (session, mut log) = sio_login(profile).await;
    log.wait_for_state("connected", Duration::from_secs(10))
        .await;
    for round in 1..=2 {
        log.wait_for(
            "a handover without a snapshot",
            Duration::from_secs(4 * ACCESS_TTL_SECONDS),
            |e| matches!(e, SessionEvent::State(c) if c.reason == Reason::Handover),
        )
        .await;
        let status = format!("after-handover-{round}");
        peer.set_status("bob", &status).await;
        wait_status(&mut log, "bob", &status).await;
    }
    assert!(
        !log.states().iter().any(|s| s.name() == "reconnecting"),
        "{:?}",
        log.states()
    );
    assert!(
        captured::lines_with(&["INFO", "no snapshot after authentication"]).len() >= 2,
        "logged at info, once per socket"
    );
    session.stop().await;
}

/// Django with its socket's snapshot turned off and a DRF friend-list view as the
/// profile's `resync.http_path`: the list is the only way Kith can learn of a change
/// made while it was disconnected, and it does, marked as resync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the peers' packages; run by `cargo xtask test`"]
async fn django_resync_endpoint_brings_what_changed_while_disconnected() {
    let mut peer = Peer::start_with(PeerKind::Django, &[("KITH_PEER_SNAPSHOTS", "off")]).await;
    let mut profile = profile_for("django-simplejwt", &peer);
    profile.socket.snapshot_on_connect = false;
    profile.resync.http_path = Some("/api/friends/".into());
    let (session, mut log) = sio_login(profile).await;
    log.wait_for("the first resync", Duration::from_secs(10), |e| {
        matches!(e, SessionEvent::Resynced { friends: 3, .. })
    })
    .await;
    peer.set_status("alice", "online").await;
    wait_status(&mut log, "alice", "online").await;

    // Down, and while Kith is disconnected carol goes away; the restarted peer forgot
    // alice's status too (statuses live in its memory).
    peer.kill();
    log.wait_for_state("reconnecting", Duration::from_secs(10))
        .await;
    peer.env.push(("KITH_PEER_STATUSES", "carol=away".into()));
    peer.spawn().await;
    log.wait_for("carol from the friend list", Duration::from_secs(30), |e| {
        matches!(e, SessionEvent::Presence(c) if c.username == "carol" && c.to.as_deref() == Some("away"))
    })
    .await;
    log.wait_for(
        "the resync after the restart",
        Duration::from_secs(5),
        |e| matches!(e, SessionEvent::Resynced { friends: 3, .. }),
    )
    .await;
    let change_of = |friend: &str| {
        log.seen
            .iter()
            .rev()
            .find_map(|(_, e)| match e {
                SessionEvent::Presence(c) if c.username == friend => Some(c.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no change of {friend}"))
    };
    let carol = change_of("carol");
    assert_eq!(carol.cause, kith_core::ChangeCause::Resync);
    assert_eq!(carol.from.as_deref(), Some("offline"));
    let alice = change_of("alice");
    assert_eq!(
        (alice.from.as_deref(), alice.to.as_deref(), alice.cause),
        (
            Some("online"),
            Some("offline"),
            kith_core::ChangeCause::Resync
        )
    );
    assert!(
        !log.seen.iter().any(|(_, e)| matches!(
            e,
            SessionEvent::PresenceStale { .. } | SessionEvent::ResyncFailed { .. }
        )),
        "the friend list left nothing stale"
    );
    let counters = peer.counters().await;
    assert_eq!(
        counters["friend_lists"], 1,
        "one list per start: {counters}"
    );
    // Live updates still arrive as live.
    peer.set_status("bob", "back").await;
    wait_status(&mut log, "bob", "back").await;
    session.stop().await;
}

// ---- handover churn: nothing lost, duplicated or reordered at a handover --------------

/// How long each peer's churn runs: `KITH_CHURN_SECONDS`, two minutes by default.
fn churn_seconds() -> u64 {
    std::env::var("KITH_CHURN_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120)
}

/// The friends whose statuses churn.
const CHURN_FRIENDS: [&str; 3] = ["alice", "bob", "carol"];
/// Changes per second, across the friends.
const CHURN_RATE: u64 = 10;

/// What one peer's churn saw.
#[derive(Debug, Default)]
struct Churn {
    name: &'static str,
    sent: usize,
    missed: usize,
    duplicated: usize,
    out_of_order: usize,
    handovers: usize,
    reconnects: usize,
    /// The changes missed, and how each friend's change was told around them.
    missed_detail: Vec<String>,
}

/// Sends `CHURN_RATE` changes a second, each a status never used before, round-robin
/// over the friends, through the peer's control API, while Kith's 4 s tokens hand the
/// socket over every few seconds; then compares, per friend, what Kith told as live
/// changes with what was sent.
async fn churn_one(
    name: &'static str,
    preset: &str,
    kind: PeerKind,
    env: &[(&'static str, &str)],
    snapshot_on_connect: bool,
) -> Churn {
    let mut env = env.to_vec();
    env.push(("ACCESS_TTL_SECONDS", "4"));
    let peer = Peer::start_with(kind, &env).await;
    let mut profile = profile_for(preset, &peer);
    profile.socket.snapshot_on_connect = snapshot_on_connect;
    let (session, mut log) = sio_login(profile).await;
    log.wait_for_state("connected", Duration::from_secs(15))
        .await;
    // The first snapshot (a peer may send it a little after accepting) is in before
    // the first change, which would otherwise count as resync, not live.
    log.drain_for(Duration::from_secs(1)).await;
    let mut sent: Vec<Vec<String>> = vec![Vec::new(); CHURN_FRIENDS.len()];
    let started = tokio::time::Instant::now();
    let count = churn_seconds() * CHURN_RATE;
    for n in 0..count {
        let friend = (n as usize) % CHURN_FRIENDS.len();
        let status = format!("churn-{n}");
        peer.set_status(CHURN_FRIENDS[friend], &status).await;
        sent[friend].push(status);
        log.drain_for(Duration::ZERO).await;
        let next = started + Duration::from_millis((n + 1) * 1000 / CHURN_RATE);
        tokio::time::sleep_until(next).await;
    }
    log.drain_for(Duration::from_secs(3)).await;
    let mut churn = Churn {
        name,
        sent: sent.iter().map(Vec::len).sum(),
        handovers: has_reason(&log, &Reason::Handover),
        reconnects: log
            .states()
            .iter()
            .filter(|s| s.name() == "reconnecting")
            .count(),
        ..Churn::default()
    };
    for (friend, sent) in CHURN_FRIENDS.iter().zip(&sent) {
        let seen: Vec<String> = live_statuses(&log, friend)
            .into_iter()
            .filter(|s| s.starts_with("churn-"))
            .collect();
        let unique: std::collections::HashSet<&String> = seen.iter().collect();
        churn.duplicated += seen.len() - unique.len();
        for missed in sent.iter().filter(|s| !unique.contains(s)) {
            churn.missed += 1;
            let told: Vec<String> = log
                .seen
                .iter()
                .filter_map(|(_, e)| match e {
                    SessionEvent::Presence(c) if c.username == *friend => {
                        Some(format!("{:?}:{:?}", c.cause, c.to))
                    }
                    SessionEvent::State(c) => Some(format!("state {}", c.reason)),
                    _ => None,
                })
                .collect();
            let before = sent
                .iter()
                .take_while(|s| *s != missed)
                .last()
                .map(|s| format!("\"{s}\""))
                .unwrap_or_default();
            let at = told
                .iter()
                .position(|t| !before.is_empty() && t.contains(&before))
                .unwrap_or(0);
            churn.missed_detail.push(format!(
                "{friend} {missed}: {:?}",
                &told[at.saturating_sub(6)..(at + 6).min(told.len())]
            ));
        }
        // In order: the changes seen, each first time, appear as they were sent.
        let mut first_seen = std::collections::HashSet::new();
        let ordered: Vec<&String> = seen.iter().filter(|s| first_seen.insert(*s)).collect();
        let expected: Vec<&String> = sent.iter().filter(|s| unique.contains(s)).collect();
        churn.out_of_order += ordered
            .iter()
            .zip(&expected)
            .filter(|(a, b)| a != b)
            .count();
    }
    session.stop().await;
    churn
}

/// Issue 17's race: a backend that joins the new socket to its broadcast only at some
/// point after Kith opened it, and drops what it queued for the old one when Kith
/// closes it. Every peer at once, at 10 changes a second for two minutes of 4 s tokens:
/// nothing missed, nothing twice, nothing out of order, and no reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the peers' packages; run by `cargo xtask test`"]
async fn handover_churn_loses_nothing_on_any_peer() {
    let runs = futures_util::future::join_all([
        Box::pin(churn_one(
            "Django Channels, no snapshot, sockets open past expiry",
            "django-simplejwt",
            PeerKind::Django,
            &[("KITH_PEER_SNAPSHOTS", "off")],
            false,
        )) as std::pin::Pin<Box<dyn std::future::Future<Output = Churn> + Send>>,
        Box::pin(churn_one(
            "Django Channels, snapshot on connect",
            "django-simplejwt",
            PeerKind::Django,
            &[],
            true,
        )),
        Box::pin(churn_one(
            "bearer + cookie (Go style)",
            "bearer-cookie",
            PeerKind::Node("bearer_cookie.js"),
            &[],
            true,
        )),
        Box::pin(churn_one(
            "bearer + cookie, no snapshot, sockets open past expiry",
            "bearer-cookie",
            PeerKind::Node("bearer_cookie.js"),
            &[("WS_SNAPSHOT", "0"), ("WS_EXPIRY_CLOSE", "0")],
            false,
        )),
        Box::pin(churn_one(
            "auth message (in-band re-auth)",
            "auth-message",
            PeerKind::Node("auth_message.js"),
            &[],
            true,
        )),
        Box::pin(churn_one(
            "Socket.IO (Node)",
            "socketio",
            PeerKind::Node("socketio.js"),
            &[],
            true,
        )),
        Box::pin(churn_one(
            "Next-Auth + Socket.IO (Next.js), token renewed through the session",
            "nextauth-socketio",
            PeerKind::NextAuth,
            &[],
            true,
        )),
        Box::pin(churn_one(
            "Socket.IO (Python)",
            "socketio",
            PeerKind::Python("python-socketio/server.py"),
            &[],
            true,
        )),
    ])
    .await;
    println!(
        "| peer | changes sent | missed | duplicated | out of order | handovers | reconnects |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for churn in &runs {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            churn.name,
            churn.sent,
            churn.missed,
            churn.duplicated,
            churn.out_of_order,
            churn.handovers,
            churn.reconnects
        );
    }
    // For BENCHMARKS.md (`kith-bench report` reads it next to the app's footprint).
    let figures = serde_json::json!({
        "seconds": churn_seconds(),
        "peers": runs.iter().map(|c| serde_json::json!({
            "name": c.name,
            "sent": c.sent,
            "missed": c.missed,
            "duplicated": c.duplicated,
            "out_of_order": c.out_of_order,
            "handovers": c.handovers,
            "reconnects": c.reconnects,
        })).collect::<Vec<_>>(),
    });
    let out = repo_root().join("target/e2e");
    if std::fs::create_dir_all(&out).is_ok() {
        let _ = std::fs::write(out.join("peer-churn.json"), figures.to_string());
    }
    for churn in &runs {
        assert_eq!(
            (
                churn.missed,
                churn.duplicated,
                churn.out_of_order,
                churn.reconnects
            ),
            (0, 0, 0, 0),
            "{churn:?}"
        );
        assert!(churn.sent as u64 >= churn_seconds() * CHURN_RATE);
    }
}

// ---- Next-Auth (seed 003): the session cookie is the long-lived secret ---------------

/// GET `/api/auth/session` with `cookie` as the session cookie: what the server says
/// about it, seen from outside Kith.
async fn nextauth_session(peer: &Peer, cookie: &Secret) -> serde_json::Value {
    peer.http
        .get(format!("{}/api/auth/session", peer.url()))
        .header(
            "Cookie",
            format!("next-auth.session-token={}", cookie.expose()),
        )
        .send()
        .await
        .expect("the session route answers")
        .json()
        .await
        .expect("JSON")
}

/// The session cookie Kith keeps in `store`.
fn stored_cookie(store: &MemoryStore, profile: &ServerProfile) -> Secret {
    store
        .load(&profile.account_key())
        .expect("the store answers")
        .expect("a stored session")
        .refresh
}

/// Seed 003's system, against a real Next.js app with next-auth 4 and Socket.IO 4 in
/// one process: a wrong password, sign-in, live presence, the token renewed through
/// `/api/auth/session` (the cookie re-set each time, the newest saved), a restart that
/// resumes from the stored cookie, sign-out checked on the server, and a session the
/// server expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the peers' packages; run by `cargo xtask test`"]
async fn nextauth_socketio_scenarios() {
    let peer = Peer::start_with(PeerKind::NextAuth, &[("ACCESS_TTL_SECONDS", "4")]).await;
    let profile = profile_for("nextauth-socketio", &peer);

    // A wrong password: Next-Auth's CredentialsSignin, said plainly, nothing stored.
    let store = Arc::new(MemoryStore::new());
    let refused = Session::login(profile.clone(), store.clone(), "me", Secret::new("nope"))
        .await
        .err()
        .expect("a wrong password is refused");
    let shown = refused.to_string();
    assert!(shown.contains("wrong username or password"), "{shown}");
    assert!(store.load(&profile.account_key()).unwrap().is_none());

    // Sign-in: the session cookie is what is stored, never the password.
    let mut session = Session::login(profile.clone(), store.clone(), "me", Secret::new("pw"))
        .await
        .expect("sign-in through Next-Auth");
    let mut log = EventLog::new(session.take_events().expect("events"));
    log.wait_for_state("connected", Duration::from_secs(15))
        .await;
    let first_cookie = stored_cookie(&store, &profile);
    assert_ne!(first_cookie.expose(), "pw");
    assert!(nextauth_session(&peer, &first_cookie).await["token"].is_string());

    // Live presence through Socket.IO.
    peer.set_status("alice", "online").await;
    wait_status(&mut log, "alice", "online").await;

    // Two renewals through the session route: a new socket token each time, handed
    // over, and the re-set cookie saved.
    for round in 0..2 {
        log.wait_for(
            "a renewal through /api/auth/session",
            Duration::from_secs(15),
            |e| matches!(e, SessionEvent::TokenRefreshed { .. }),
        )
        .await;
        let status = format!("renewed-{round}");
        peer.set_status("bob", &status).await;
        wait_status(&mut log, "bob", &status).await;
    }
    let renewed_cookie = stored_cookie(&store, &profile);
    assert_ne!(renewed_cookie, first_cookie, "the sliding cookie is saved");
    let counters = peer.counters().await;
    assert_eq!(counters["sign_ins"], 1, "{counters}");
    assert!(counters["session_mints"].as_u64() >= Some(2), "{counters}");
    session.stop().await;

    // A restart resumes from the stored cookie, with no new sign-in.
    let (mut session, _user) = Session::resume(profile.clone(), store.clone())
        .await
        .expect("resumes from the stored session");
    let mut log = EventLog::new(session.take_events().expect("events"));
    log.wait_for_state("connected", Duration::from_secs(15))
        .await;
    peer.set_status("carol", "away").await;
    wait_status(&mut log, "carol", "away").await;
    assert_eq!(peer.counters().await["sign_ins"], 1);

    // Sign-out: the cookie Kith held yields no token any more, on the server.
    let held = stored_cookie(&store, &profile);
    session.logout().await.expect("signed out");
    assert!(store.load(&profile.account_key()).unwrap().is_none());
    let after = nextauth_session(&peer, &held).await;
    assert!(
        after.get("token").is_none(),
        "the server still vouches: {after}"
    );
    assert_eq!(peer.counters().await["sign_outs"], 1);

    // The server ends every session: Kith's next renewal learns it, and only then is
    // the session over.
    let store = Arc::new(MemoryStore::new());
    let mut session = Session::login(profile.clone(), store.clone(), "me", Secret::new("pw"))
        .await
        .expect("sign-in");
    let mut log = EventLog::new(session.take_events().expect("events"));
    log.wait_for_state("connected", Duration::from_secs(15))
        .await;
    let control = peer
        .http
        .post(format!("{}/__test__/expire-sessions", peer.url()))
        .header("X-Test-Control", "kith")
        .send()
        .await
        .expect("control API");
    assert!(control.status().is_success());
    log.wait_for("the session ended", Duration::from_secs(15), |e| {
        matches!(e, SessionEvent::SessionEnded { .. })
    })
    .await;
    assert!(store.load(&profile.account_key()).unwrap().is_none());
    session.stop().await;
}
