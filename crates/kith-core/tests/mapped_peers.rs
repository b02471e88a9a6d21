//! Kith reading presence in a backend's own words, through a profile's `[messages]`
//! mapping, against two real peers started on 127.0.0.1 with an ephemeral port:
//!
//! | profile                                     | peer                                        |
//! |---------------------------------------------|---------------------------------------------|
//! | `profiles/samples/django-channels-presence` | Django + Channels + django-channels-presence (rooms, `presence_changed` broadcasting the member list), SimpleJWT (`tests/peers/channels_presence/`) |
//! | `profiles/samples/custom-shape`             | Node `ws`: `presence.changed` with string ids, epoch seconds, boolean states, and `typing` events on the same socket (`tests/peers/node/custom_shape.js`) |
//!
//! For each: a wrong password refused, sign-in, live changes (joins and leaves, or
//! states), and a churn of 10 changes a second (in a seeded random order of friends
//! for the member lists, round-robin for the custom shape) over 4 s tokens whose renewals hand the
//! socket over (`KITH_MAPPED_CHURN_SECONDS`, 60 by default) with nothing missed,
//! duplicated or reordered, no reconnect and no refresh token reused. The custom shape
//! also shows that ignored events are counted, never warned about, and that a state the
//! status map does not name is refused, logged once however often it comes.
//!
//! The peers need their packages (`cargo xtask test` installs them: the venv with the
//! Django peers' requirements, `npm ci` for Node), so these tests are `#[ignore]`d in a
//! plain `cargo test`.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{live_statuses, peer_process, EventLog};
use kith_core::token::{AuthError, TokenError};
use kith_core::{MemoryStore, Reason, Secret, ServerProfile, Session, SessionError, SessionEvent};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the crate sits in crates/ of the workspace")
        .to_path_buf()
}

#[derive(Clone, Copy)]
enum PeerKind {
    /// tests/peers/channels_presence, run with `KITH_PEER_PYTHON`.
    ChannelsPresence,
    /// A script of tests/peers/node.
    Node(&'static str),
}

/// A peer process on an ephemeral port, as in peers.rs.
struct Peer {
    port: u16,
    data_dir: PathBuf,
    child: Option<Child>,
    http: reqwest::Client,
}

impl Peer {
    async fn start(kind: PeerKind, access_ttl_seconds: u64) -> Peer {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let data_dir = std::env::temp_dir().join(format!(
            "kith-mapped-peer-{}-{port}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&data_dir).expect("peer data dir");
        let log = std::fs::File::create(data_dir.join("peer.log")).expect("peer log");
        let root = repo_root();
        let mut command = match kind {
            PeerKind::ChannelsPresence => {
                let mut command = Command::new("bash");
                command.arg(root.join("tests/peers/channels_presence/run.sh"));
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
        };
        command
            .env("ACCESS_TTL_SECONDS", access_ttl_seconds.to_string())
            .env("PORT", port.to_string())
            .env("DATA_DIR", &data_dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start the peer: {error}"));
        let mut peer = Peer {
            port,
            data_dir,
            child: Some(child),
            http: reqwest::Client::new(),
        };
        let url = peer.url();
        let child = peer.child.as_mut().expect("just started");
        if let Err(why) = peer_process::wait_until_answering(&peer.http, &url, child).await {
            panic!("the peer {why}:\n{}", peer.log_tail());
        }
        peer
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log_tail(&self) -> String {
        peer_process::log_tail(&self.data_dir.join("peer.log"))
    }

    async fn control(&self, path: &str, body: serde_json::Value) {
        let response = self
            .http
            .post(format!("{}/__test__/{path}", self.url()))
            .header("X-Test-Control", "kith")
            .json(&body)
            .send()
            .await
            .expect("the peer's control API answers");
        assert!(
            response.status().is_success(),
            "{path} {body}: {}",
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
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

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

/// A sample profile of profiles/samples pointed at `peer`, with test timings.
fn sample_profile(name: &str, peer: &Peer) -> ServerProfile {
    let path = repo_root().join(format!("profiles/samples/{name}.toml"));
    let mut profile = ServerProfile::from_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    profile.server = peer.url();
    common::fast_timings(&mut profile);
    profile.socket.dead_grace = Duration::from_secs(2);
    profile.socket.connect_timeout = Duration::from_secs(5);
    profile.validate().expect("the sample is valid");
    profile
}

/// A wrong password is a clear, typed rejection, tried once; then the real sign-in.
async fn sign_in(profile: &ServerProfile) -> (Session, EventLog) {
    let started = Instant::now();
    match Session::login(
        profile.clone(),
        Arc::new(MemoryStore::new()),
        "me",
        Secret::new("wrong password"),
    )
    .await
    {
        Err(SessionError::Token(TokenError::Auth(AuthError::Rejected { status, .. }))) => {
            assert!(status == 400 || status == 401, "status {status}")
        }
        Err(other) => panic!("expected a rejection, got {other}"),
        Ok(_) => panic!("a wrong password was accepted"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "no retry loop");
    let mut session = Session::login(
        profile.clone(),
        Arc::new(MemoryStore::new()),
        "me",
        Secret::new("pw"),
    )
    .await
    .expect("login");
    let mut log = EventLog::new(session.take_events().expect("events"));
    log.wait_for_state("connected", Duration::from_secs(15))
        .await;
    (session, log)
}

async fn wait_status(log: &mut EventLog, friend: &str, status: &str) {
    let what = format!("{friend} {status}");
    log.wait_for(&what, Duration::from_secs(15), |e| {
        matches!(e, SessionEvent::Presence(c) if c.username == friend && c.to.as_deref() == Some(status))
    })
    .await;
}

/// How long each churn runs: `KITH_MAPPED_CHURN_SECONDS`, a minute by default.
fn churn_seconds() -> u64 {
    std::env::var("KITH_MAPPED_CHURN_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

/// The friends whose presence churns.
const FRIENDS: [&str; 3] = ["alice", "bob", "carol"];
/// Changes per second, across the friends.
const CHURN_RATE: u64 = 10;
/// The access tokens' lifetime during a churn: a handover every few seconds.
const CHURN_TTL_SECONDS: u64 = 4;

/// Makes `CHURN_RATE` changes a second, the `n`th to the friend `pick(n)`, each one a
/// real change of that friend (`change(friend, n)` makes it and returns the status Kith
/// should tell), while 4 s tokens hand the socket over; then compares, per friend, the
/// live changes Kith told with those made: nothing missed, twice or out of order.
async fn churn<P, F, Fut>(session: &Session, log: &mut EventLog, pick: P, mut change: F)
where
    P: Fn(u64) -> usize,
    F: FnMut(usize, u64) -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let told_before: Vec<usize> = FRIENDS
        .iter()
        .map(|f| live_statuses(log, f).len())
        .collect();
    let mut sent: Vec<Vec<String>> = vec![Vec::new(); FRIENDS.len()];
    let started = tokio::time::Instant::now();
    let handovers_before = log
        .seen
        .iter()
        .filter(|(_, e)| matches!(e, SessionEvent::State(c) if c.reason == Reason::Handover))
        .count();
    let refreshes_before = session.tokens().refresh_requests();
    for n in 0..churn_seconds() * CHURN_RATE {
        let friend = pick(n);
        let status = change(friend, n).await;
        sent[friend].push(status);
        log.drain_for(Duration::ZERO).await;
        let next = started + Duration::from_millis((n + 1) * 1000 / CHURN_RATE);
        tokio::time::sleep_until(next).await;
    }
    log.drain_for(Duration::from_secs(3)).await;
    for (at, friend) in FRIENDS.iter().enumerate() {
        let told: Vec<String> = live_statuses(log, friend)
            .into_iter()
            .skip(told_before[at])
            .collect();
        assert_eq!(
            told,
            sent[at],
            "{friend}: every change told once, in order ({} made)",
            sent[at].len()
        );
    }
    let handovers = log
        .seen
        .iter()
        .filter(|(_, e)| matches!(e, SessionEvent::State(c) if c.reason == Reason::Handover))
        .count()
        - handovers_before;
    let refreshes = session.tokens().refresh_requests() - refreshes_before;
    let expected = (churn_seconds() / CHURN_TTL_SECONDS / 2).max(1) as usize;
    assert!(
        handovers >= expected,
        "the socket was handed over during the churn: {handovers} handovers, {refreshes} refreshes"
    );
    assert!(
        !log.states().iter().any(|s| s.name() == "reconnecting"),
        "no reconnect: {:?}",
        log.states()
    );
}

/// django-channels-presence: the room's member list is the feed. Joins and leaves come
/// as live changes (a leave keeps the friend, offline), and a minute of 4 s tokens
/// loses none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the peers' packages; run by cargo xtask test"]
async fn django_channels_presence_members_through_the_mapping() {
    let peer = Peer::start(PeerKind::ChannelsPresence, CHURN_TTL_SECONDS).await;
    let profile = sample_profile("django-channels-presence", &peer);
    let (session, mut log) = sign_in(&profile).await;
    // The member list the socket's own join broadcast stands in for the snapshot.
    log.wait_for("the first member list", Duration::from_secs(10), |e| {
        matches!(
            e,
            SessionEvent::Resynced {
                friends: 1,
                online: 1
            }
        )
    })
    .await;

    // Live joins and leaves.
    peer.control("join", serde_json::json!({"username": "alice"}))
        .await;
    wait_status(&mut log, "alice", "online").await;
    peer.control("join", serde_json::json!({"username": "bob"}))
        .await;
    wait_status(&mut log, "bob", "online").await;
    peer.control("leave", serde_json::json!({"username": "alice"}))
        .await;
    wait_status(&mut log, "alice", "offline").await;
    let friends = session.friends();
    let alice = friends
        .iter()
        .find(|f| f.username == "alice")
        .expect("a friend who left is kept");
    assert_eq!(alice.status, "offline");
    assert_eq!(alice.user_id, "2", "ids as the backend numbers them");
    assert_eq!(live_statuses(&log, "alice"), ["online", "offline"]);
    peer.control("leave", serde_json::json!({"username": "bob"}))
        .await;
    wait_status(&mut log, "bob", "offline").await;

    // Churn: each friend alternately joins and leaves, the friends in a seeded random
    // order. Every message is the whole member list, so a round-robin order would make
    // the feed repeat every six messages: the one feed a handover cannot align by
    // content when a socket lags a period behind (docs/how-it-works.md).
    let mut rng = SmallRng::seed_from_u64(19);
    let order: Vec<usize> = (0..churn_seconds() * CHURN_RATE)
        .map(|_| rng.gen_range(0..FRIENDS.len()))
        .collect();
    let mut present = [false; FRIENDS.len()];
    let peer_ref = &peer;
    churn(
        &session,
        &mut log,
        |n| order[n as usize],
        |friend, _| {
            present[friend] = !present[friend];
            let (path, status) = if present[friend] {
                ("join", "online")
            } else {
                ("leave", "offline")
            };
            async move {
                peer_ref
                    .control(path, serde_json::json!({"username": FRIENDS[friend]}))
                    .await;
                status.to_string()
            }
        },
    )
    .await;
    let counters = peer.counters().await;
    assert_eq!(counters["refresh_reuse"], 0, "{counters}");
    assert!(
        counters["connects"].as_u64().unwrap_or(0) >= 5,
        "handovers opened new sockets: {counters}"
    );
    session.stop().await;
}

/// The log capture is shared: one test that reads it at a time.
static CAPTURE_SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A custom shape: string ids, epoch seconds, boolean states and a word for away,
/// mapped; `typing` on the same socket ignored quietly; a state the map does not name
/// refused and logged once; a minute of 4 s tokens with nothing missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the peers' packages; run by cargo xtask test"]
async fn custom_shape_through_the_mapping() {
    let _serial = CAPTURE_SERIAL.lock().await;
    captured::install();
    let peer = Peer::start(PeerKind::Node("custom_shape.js"), CHURN_TTL_SECONDS).await;
    let profile = sample_profile("custom-shape", &peer);
    let (session, mut log) = sign_in(&profile).await;
    let state = |name: &str, state: serde_json::Value| {
        peer.control(
            "state",
            serde_json::json!({"username": name, "state": state}),
        )
    };

    // Live changes in the backend's words.
    state("alice", serde_json::json!(true)).await;
    wait_status(&mut log, "alice", "online").await;
    state("alice", serde_json::json!("idle")).await;
    wait_status(&mut log, "alice", "away").await;
    state("alice", serde_json::json!(false)).await;
    wait_status(&mut log, "alice", "offline").await;
    let alice = session
        .friends()
        .into_iter()
        .find(|f| f.username == "alice")
        .expect("alice");
    assert_eq!(alice.user_id, "u_2", "string ids kept as sent");
    let seen_ms = alice
        .last_seen
        .as_ref()
        .and_then(|s| s.unix_ms())
        .expect("epoch seconds read as a time");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    assert!(
        now_ms.abs_diff(seen_ms) < 60_000,
        "last_seen {seen_ms} is about now ({now_ms})"
    );

    // A state the status map does not name: refused each time, logged once, and the
    // next named state still applies.
    for _ in 0..3 {
        state("bob", serde_json::json!("dnd")).await;
    }
    state("bob", serde_json::json!(true)).await;
    wait_status(&mut log, "bob", "online").await;
    assert_eq!(
        live_statuses(&log, "bob"),
        ["online"],
        "dnd was never applied"
    );
    let refused = captured::lines_with(&["WARN", "dnd", "does not name"]);
    assert_eq!(refused.len(), 1, "logged once: {refused:?}");
    assert!(refused[0].contains("value=\"dnd\""), "{}", refused[0]);

    // Typing events arrive all along and are only counted.
    let counted = Instant::now() + Duration::from_secs(10);
    while session.unconsumed().count("typing") <= 10 && Instant::now() < counted {
        log.drain_for(Duration::from_millis(100)).await;
    }
    let typing = session.unconsumed().count("typing");
    assert!(typing > 10, "typing events were counted: {typing}");
    let typing_lines = captured::lines_with(&["typing"]);
    assert!(
        !typing_lines.iter().any(|l| l.contains("WARN")),
        "no warning for typing: {:?}",
        &typing_lines[..typing_lines.len().min(3)]
    );
    assert!(
        captured::lines_with(&["DEBUG", "does not consume", "kind=\"typing\""]).len() <= 1,
        "the first typing event at most is logged"
    );

    // Churn: each friend cycles online, away, offline (true, "idle", false).
    const CYCLE: [(&str, &str); 3] = [
        ("true", "online"),
        ("\"idle\"", "away"),
        ("false", "offline"),
    ];
    let mut step = [0usize; FRIENDS.len()];
    // alice ended offline and bob online: start each friend after their current state.
    step[1] = 1;
    let state = &state;
    let round_robin = |n: u64| n as usize % FRIENDS.len();
    churn(&session, &mut log, round_robin, |friend, _| {
        let (raw, status) = CYCLE[step[friend] % CYCLE.len()];
        step[friend] += 1;
        let raw: serde_json::Value = serde_json::from_str(raw).expect("JSON");
        async move {
            state(FRIENDS[friend], raw).await;
            status.to_string()
        }
    })
    .await;
    let counters = peer.counters().await;
    assert_eq!(counters["refresh_reuse"], 0, "{counters}");
    assert!(
        counters["typing_sent"].as_u64().unwrap_or(0) > 100,
        "{counters}"
    );
    assert!(
        captured::lines_with(&["WARN", "typing"]).is_empty(),
        "no warning for typing over the churn"
    );
    assert_eq!(
        captured::lines_with(&["WARN", "dnd", "does not name"]).len(),
        1,
        "still logged once"
    );
    session.stop().await;
}
