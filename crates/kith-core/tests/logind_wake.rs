//! Resume from sleep at once: on Linux, Kith hears logind's `PrepareForSleep(false)` on
//! the system bus and probes its socket right away, instead of waiting up to 15 s for
//! the clock check. A private `dbus-daemon` stands in for the system bus
//! (`DBUS_SYSTEM_BUS_ADDRESS`) and this process stands in for logind on it. Without a
//! system bus, or with one that never answers, the session works as before.
//!
//! The tests set a process-wide environment variable, so they take turns (`ENV`), and
//! each sets it before its runtime, its server or its session exists. They need
//! `dbus-daemon` (Debian package `dbus`).

#![cfg(target_os = "linux")]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use kith_core::{MemoryStore, Reason, SessionEvent};
use kith_server::ServerConfig;

/// Held by each test for its whole run: `DBUS_SYSTEM_BUS_ADDRESS` is the process's.
static ENV: Mutex<()> = Mutex::new(());

const LOGIN1: &str = "org.freedesktop.login1";
const LOGIN1_PATH: &str = "/org/freedesktop/login1";
const LOGIN1_MANAGER: &str = "org.freedesktop.login1.Manager";

/// The wake probe's deadline in these tests: how long a resumed Kith waits for the
/// silent server's pong before it reconnects.
const PROBE: Duration = Duration::from_millis(500);

/// A private message bus, stopped on drop.
struct Bus {
    child: Child,
    address: String,
}

impl Bus {
    fn start(dir: &Path) -> Bus {
        let config = dir.join("bus.conf");
        // Its complaints (running as root, it cannot raise its fd limit) go to a file,
        // shown if it fails to start.
        let log = dir.join("bus.log");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                dir.join("system_bus_socket").display()
            ),
        )
        .expect("write the bus config");
        let mut child = match Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--print-address", "--nofork", "--nopidfile"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(&log).expect("create the bus log"),
            ))
            .spawn()
        {
            Ok(child) => child,
            Err(error) => panic!("cannot start dbus-daemon ({error}): install the dbus package"),
        };
        // The address is printed once the bus listens.
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut bus = Bus {
            child,
            address: String::new(),
        };
        let line = rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
        bus.address = line.trim().to_owned();
        assert!(
            bus.address.starts_with("unix:"),
            "dbus-daemon printed no address within 5 s ({line:?}); its log: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        bus
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Sets `DBUS_SYSTEM_BUS_ADDRESS` while no other thread of this binary runs Kith code.
fn set_system_bus(address: &str) {
    std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", address);
}

async fn prepare_for_sleep(login1: &zbus::Connection, start: bool) {
    login1
        .emit_signal(
            None::<&str>,
            LOGIN1_PATH,
            LOGIN1_MANAGER,
            "PrepareForSleep",
            &start,
        )
        .await
        .expect("emit PrepareForSleep");
}

fn wake_probe_failed(event: &SessionEvent) -> bool {
    matches!(event, SessionEvent::State(change) if change.reason == Reason::WakeProbeFailed)
}

#[test]
fn a_resume_from_logind_probes_the_socket_at_once() {
    let _env = ENV.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = Bus::start(dir.path());
    set_system_bus(&bus.address);
    runtime().block_on(async {
        // The stand-in logind, on the bus before Kith starts, as on a real machine.
        let login1 = zbus::connection::Builder::address(bus.address.as_str())
            .expect("bus address")
            .name(LOGIN1)
            .expect("name")
            .build()
            .await
            .expect("the stand-in logind joins the private bus");

        let (server, admin) = start_server(config_with_ttl(Duration::from_secs(300))).await;
        let mut profile = fast_profile(&server);
        // Only a wake probe notices the silent server here: the keepalive would take
        // a minute and a half, the clock check sees no sleep at all.
        profile.socket.ping_interval = Duration::from_secs(60);
        profile.socket.dead_grace = Duration::from_secs(30);
        profile.socket.wake_probe_timeout = PROBE;
        let (session, mut log) = login(profile, &MemoryStore::new()).await;
        log.wait_for_state("connected", Duration::from_secs(5))
            .await;

        // Half-open, as a socket often is after a suspend. Kith subscribes on a task
        // of its own, so say "resumed" until it has heard once (usually the first time).
        admin.set_silent(true);
        let mut tries = 0;
        let heard = loop {
            tries += 1;
            let mark = log.seen.len();
            prepare_for_sleep(&login1, false).await;
            log.drain_for(PROBE * 3).await;
            if log.seen[mark..].iter().any(|(_, e)| wake_probe_failed(e)) {
                break true;
            }
            if tries == 5 {
                break false;
            }
        };
        assert!(
            heard,
            "no wake probe after {tries} PrepareForSleep(false) signals: {:#?}",
            log.seen
        );
        admin.set_silent(false);
        log.wait_for_state("connected", Duration::from_secs(10))
            .await;

        // Now that Kith listens: going to sleep changes nothing, resuming probes at once.
        admin.set_silent(true);
        let mark = log.seen.len();
        prepare_for_sleep(&login1, true).await;
        log.drain_for(PROBE * 3).await;
        let after_sleep: Vec<_> = log.seen[mark..]
            .iter()
            .filter(|(_, e)| matches!(e, SessionEvent::State(_)))
            .collect();
        assert!(
            after_sleep.is_empty(),
            "PrepareForSleep(true) changed the connection: {after_sleep:#?}"
        );
        let resumed = Instant::now();
        prepare_for_sleep(&login1, false).await;
        let detected = log
            .wait_for(
                "the wake probe to fail",
                Duration::from_secs(5),
                wake_probe_failed,
            )
            .await;
        let took = detected.duration_since(resumed);
        assert!(
            took < PROBE + Duration::from_secs(1),
            "the dead socket was noticed {took:?} after the resume (probe deadline {PROBE:?})"
        );
        eprintln!(
            "logind resume: heard after {tries} signal(s); dead socket noticed {} ms after \
             PrepareForSleep(false) (probe deadline {} ms)",
            took.as_millis(),
            PROBE.as_millis()
        );

        // And it recovers as from any other lost socket.
        admin.set_silent(false);
        log.wait_for_state("connected", Duration::from_secs(10))
            .await;
        session.stop().await;
        server.shutdown().await;
    });
}

#[test]
fn without_a_system_bus_or_with_a_mute_one_the_session_works() {
    let _env = ENV.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = tempfile::tempdir().expect("temp dir");

    // No socket at all: the connect fails at once.
    set_system_bus(&format!(
        "unix:path={}",
        dir.path().join("no_such_bus").display()
    ));
    runtime().block_on(signs_in_and_hears_a_change("no system bus", "away", false));

    // A socket that accepts and never speaks: the watcher gives up at its deadline,
    // and nothing waits for it meanwhile.
    let mute = dir.path().join("mute_bus");
    let _listener = std::os::unix::net::UnixListener::bind(&mute).expect("bind a mute socket");
    set_system_bus(&format!("unix:path={}", mute.display()));
    runtime().block_on(signs_in_and_hears_a_change(
        "a mute system bus",
        "busy",
        true,
    ));
}

/// Signs in, connects, and hears alice's change; with `outlast_deadline`, again after
/// the logind watcher's 2 s deadline has passed.
async fn signs_in_and_hears_a_change(case: &str, status: &str, outlast_deadline: bool) {
    let (server, admin) = start_server(ServerConfig::in_process()).await;
    let started = Instant::now();
    let (session, mut log) = login(fast_profile(&server), &MemoryStore::new()).await;
    let connected = log
        .wait_for_state("connected", Duration::from_secs(5))
        .await;
    let took = connected.duration_since(started);
    assert!(
        took < Duration::from_millis(1500),
        "{case}: connected only after {took:?}"
    );
    admin.set_status("alice", status).expect("set status");
    log.wait_for("alice's change", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::Presence(c) if c.username == "alice" && c.to.as_deref() == Some(status))
    })
    .await;
    if outlast_deadline {
        // Past the watcher's deadline, the socket still carries presence.
        tokio::time::sleep(Duration::from_millis(2200)).await;
        admin.set_status("alice", "online").expect("set status");
        log.wait_for("alice back online", Duration::from_secs(5), |e| {
            matches!(e, SessionEvent::Presence(c) if c.username == "alice" && c.to.as_deref() == Some("online"))
        })
        .await;
    }
    assert!(
        !log.seen
            .iter()
            .any(|(_, e)| matches!(e, SessionEvent::SessionEnded { .. })),
        "{case}: the session ended: {:#?}",
        log.seen
    );
    session.stop().await;
    server.shutdown().await;
}
