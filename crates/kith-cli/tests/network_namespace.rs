//! A real network that goes away and comes back. The test makes two network
//! namespaces joined by a veth pair on 10.213.7.0/30, a subnet that exists only inside
//! them; the reference server runs in one (on a thread of this process that joined it,
//! so the test drives it through its admin handle), the real `kith watch` in the other
//! (`ip netns exec`). Taking the client's link down must show `offline` with no
//! attempt against the server; bringing it up must reconnect within a second; a status
//! change made meanwhile must arrive with the snapshot after the reconnect.
//!
//! Needs root for `ip netns`, so it is `#[ignore]`d in a plain `cargo test`; `cargo
//! xtask test` runs it. `kith watch --ephemeral` keeps the session in memory, so no
//! keyring is needed (a D-Bus session bus is not reachable from another namespace).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kith_server::{AdminHandle, ServerConfig};

const SERVER_IP: &str = "10.213.7.1";
const CLIENT_IP: &str = "10.213.7.2";

/// Runs `ip ARGS`, panicking with its stderr when it fails.
fn ip(args: &[&str]) {
    let output = Command::new("ip")
        .args(args)
        .output()
        .expect("the ip command (iproute2) runs");
    assert!(
        output.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The two namespaces; deleting them (on drop, also when the test fails) removes the
/// veth pair and everything configured inside.
struct Namespaces {
    server: String,
    client: String,
    client_link: String,
}

impl Namespaces {
    fn create() -> Namespaces {
        let pid = std::process::id();
        let namespaces = Namespaces {
            server: format!("kith-srv-{pid}"),
            client: format!("kith-cli-{pid}"),
            client_link: format!("kc{pid}"),
        };
        let server_link = format!("ks{pid}");
        ip(&["netns", "add", &namespaces.server]);
        ip(&["netns", "add", &namespaces.client]);
        ip(&[
            "link",
            "add",
            &server_link,
            "type",
            "veth",
            "peer",
            "name",
            &namespaces.client_link,
        ]);
        ip(&["link", "set", &server_link, "netns", &namespaces.server]);
        ip(&[
            "link",
            "set",
            &namespaces.client_link,
            "netns",
            &namespaces.client,
        ]);
        let server_cidr = format!("{SERVER_IP}/30");
        let client_cidr = format!("{CLIENT_IP}/30");
        for (ns, link, cidr) in [
            (&namespaces.server, &server_link, &server_cidr),
            (&namespaces.client, &namespaces.client_link, &client_cidr),
        ] {
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "addr", "add", cidr, "dev", link]);
            ip(&["-n", ns, "link", "set", link, "up"]);
        }
        namespaces
    }

    fn set_client_link(&self, state: &str) {
        ip(&["-n", &self.client, "link", "set", &self.client_link, state]);
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in [&self.client, &self.server] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// The reference server, listening inside a namespace: a thread joins the namespace
/// (setns affects only the calling thread) and runs the server's runtime, so every
/// socket it opens lives there. Shut down on drop.
struct ServerInNamespace {
    url: String,
    admin: AdminHandle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerInNamespace {
    fn start(namespace: &str) -> ServerInNamespace {
        let path = format!("/run/netns/{namespace}");
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("the namespace file");
            let joined =
                unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
            assert_eq!(joined, 0, "setns: {}", std::io::Error::last_os_error());
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let mut config = ServerConfig::in_process();
                config.bind = format!("{SERVER_IP}:0").parse().unwrap();
                let server = kith_server::spawn(config).await.expect("server");
                let _ = ready_tx.send((server.http_url(), server.admin()));
                let _ = stopped.await;
                server.shutdown().await;
            });
        });
        let (url, admin) = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the server started in its namespace");
        ServerInNamespace {
            url,
            admin,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for ServerInNamespace {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `kith watch` in the client namespace; its stdout lines arrive with the instant each
/// was read. Killed on drop.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<(Instant, serde_json::Value)>,
    seen: Vec<serde_json::Value>,
}

impl Watch {
    fn start(namespace: &str, url: &str) -> Watch {
        let mut child = Command::new("ip")
            .args(["netns", "exec", namespace])
            .arg(env!("CARGO_BIN_EXE_kith"))
            .args(["--server", url, "--allow-insecure", "watch"])
            .args(["--username", "me", "--password-stdin", "--ephemeral"])
            .env("RUST_LOG", "kith_core=info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("ip netns exec kith watch");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"pw\n")
            .expect("the password");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| panic!("not a JSON line: {line}"));
                if tx.send((Instant::now(), value)).is_err() {
                    break;
                }
            }
        });
        Watch {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The next line matching `what`, and when it was read; panics after `within`.
    fn wait_for(
        &mut self,
        description: &str,
        within: Duration,
        what: impl Fn(&serde_json::Value) -> bool,
    ) -> (Instant, serde_json::Value) {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) => {
                    self.seen.push(line.clone());
                    if what(&line) {
                        return (at, line);
                    }
                }
                Err(_) => panic!(
                    "no {description} within {within:?}; lines so far: {:#?}",
                    self.seen
                ),
            }
        }
    }

    /// Every line that arrives within `period`.
    fn lines_during(&mut self, period: Duration) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + period;
        let mut lines = Vec::new();
        while let Ok((_, line)) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line.clone());
            lines.push(line);
        }
        lines
    }

    /// SIGTERM (`ip netns exec` runs kith in its own process), then its exit code.
    fn stop(mut self) -> Option<i32> {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server's count of accepted sockets once it reaches `expected` (it is counted
/// just after the snapshot is sent, so a moment after the client saw it), or as it
/// stands after 5 s.
fn connects_accepted(admin: &AdminHandle, expected: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let count = admin.counters().connects_accepted;
        if count >= expected || Instant::now() >= deadline {
            return count;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn state_is(line: &serde_json::Value, state: &str) -> bool {
    line["event"] == "state" && line["state"] == state
}

#[test]
#[ignore = "needs root: creates network namespaces"]
fn a_link_that_goes_down_shows_offline_and_reconnects_within_a_second_of_coming_back() {
    let namespaces = Namespaces::create();
    let server = ServerInNamespace::start(&namespaces.server);
    let admin = &server.admin;
    admin.create_user("me", "pw").unwrap();
    admin.create_user("alice", "pw").unwrap();
    admin.befriend("me", "alice").unwrap();

    let mut watch = Watch::start(&namespaces.client, &server.url);
    watch.wait_for("connected", Duration::from_secs(15), |l| {
        state_is(l, "connected")
    });
    watch.wait_for("alice's snapshot", Duration::from_secs(5), |l| {
        l["event"] == "presence" && l["username"] == "alice" && l["status"] == "offline"
    });
    assert_eq!(connects_accepted(admin, 1), 1);

    // The link goes down: offline, with no socket and no retry scheduled.
    let down_at = Instant::now();
    namespaces.set_client_link("down");
    let (offline_at, offline) = watch.wait_for("offline", Duration::from_secs(5), |l| {
        l["event"] == "state" && l["state"] != "connected"
    });
    assert_eq!(offline["state"], "offline", "{offline}");
    assert_eq!(offline["reason"], "network_down", "{offline}");
    assert_eq!(offline["retry_in_ms"], serde_json::Value::Null, "{offline}");
    // Meanwhile alice changes her status; the socket that would carry it is gone.
    admin.set_status("alice", "away").unwrap();
    // While the link is down, nothing is attempted: no state change at all.
    let while_down = watch.lines_during(Duration::from_secs(3));
    assert!(
        while_down.iter().all(|l| l["event"] != "state"),
        "state changes while the link was down: {while_down:#?}"
    );
    assert_eq!(
        admin.counters().connects_accepted,
        1,
        "no connect while the link was down"
    );

    // The link comes back: connected again at once.
    let up_at = Instant::now();
    namespaces.set_client_link("up");
    let (connected_at, connected) =
        watch.wait_for("connected again", Duration::from_secs(10), |l| {
            state_is(l, "connected")
        });
    let reconnect = connected_at.duration_since(up_at);
    println!(
        "link down → offline in {} ms; link up → connected in {} ms",
        offline_at.duration_since(down_at).as_millis(),
        reconnect.as_millis()
    );
    assert!(
        reconnect < Duration::from_secs(1),
        "reconnected {reconnect:?} after the link came back; {connected}"
    );
    // Nothing lost: the snapshot of the new socket brings alice's change.
    watch.wait_for("alice away", Duration::from_secs(5), |l| {
        l["event"] == "presence"
            && l["username"] == "alice"
            && l["status"] == "away"
            && l["previous"] == "offline"
    });
    assert_eq!(connects_accepted(admin, 2), 2);
    // And live updates flow on the new socket.
    admin.set_status("alice", "online").unwrap();
    watch.wait_for("alice online", Duration::from_secs(5), |l| {
        l["event"] == "presence"
            && l["username"] == "alice"
            && l["status"] == "online"
            && l["cause"] == "live"
    });
    for line in &watch.seen {
        assert!(
            !line.to_string().contains("eyJ"),
            "a token was printed: {line}"
        );
    }
    assert_eq!(watch.stop(), Some(0), "kith watch stopped cleanly");
}
