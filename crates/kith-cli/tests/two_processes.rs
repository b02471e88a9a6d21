//! Two `kith watch` processes on one account share one keyring entry, as the desktop
//! app and the CLI do. With 2-second access tokens for 30 s, both keep refreshing;
//! the refresh lock and the reload of the stored token must keep every refresh token
//! from being sent twice (the server's reuse counter stays 0) and neither process may
//! be signed out. Needs a D-Bus session with an unlocked Secret Service, so it is
//! `#[ignore]`d in a plain `cargo test` and run by `cargo xtask test`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kith_server::ServerConfig;

fn kith(server: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kith"));
    command.args(["--server", server]);
    command
}

/// A running `kith watch` whose stdout lines are collected as they come.
struct Watcher {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Watcher {
    fn start(url: &str) -> Watcher {
        let mut child = kith(url)
            .arg("watch")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kith watch runs");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Watcher { child, lines }
    }

    fn count(&self, event: &str) -> usize {
        let needle = format!("\"event\":\"{event}\"");
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains(&needle))
            .count()
    }

    /// SIGTERM, then the exit status: 0 for a clean stop, 2 if the session had ended.
    fn stop(mut self) -> Option<i32> {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().ok().and_then(|status| status.code())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a D-Bus session with an unlocked Secret Service; run by `cargo xtask test`"]
async fn two_watch_processes_on_one_keyring_entry_never_reuse_a_refresh_token() {
    let mut config = ServerConfig::in_process();
    config.access_ttl = Duration::from_secs(2);
    let server = kith_server::spawn(config).await.expect("server");
    let admin = server.admin();
    admin.create_user("me", "pw").unwrap();
    admin.create_user("alice", "pw").unwrap();
    admin.befriend("me", "alice").unwrap();
    let url = server.http_url();

    let mut login = kith(&url)
        .args(["login", "--username", "me", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    login.stdin.take().unwrap().write_all(b"pw\n").unwrap();
    assert!(login.wait().unwrap().success(), "login");

    let first = Watcher::start(&url);
    let second = Watcher::start(&url);
    tokio::time::sleep(Duration::from_secs(30)).await;
    let refreshed = (
        first.count("token_refreshed"),
        second.count("token_refreshed"),
    );
    let ended = first.count("session_ended") + second.count("session_ended");
    let exits = (first.stop(), second.stop());

    let counters = admin.counters();
    assert_eq!(counters.refresh_reuse, 0, "{counters:?}");
    assert_eq!(counters.refresh_rejected, 0, "{counters:?}");
    assert_eq!(ended, 0, "a process was signed out");
    assert_eq!(exits, (Some(0), Some(0)), "both stopped cleanly");
    assert!(
        refreshed.0 >= 10 && refreshed.1 >= 10,
        "both kept refreshing for 30 s: {refreshed:?}"
    );
    println!(
        "two processes, 30 s of 2 s tokens: {} refreshes ({} and {} seen), reuse {}",
        counters.refreshes, refreshed.0, refreshed.1, counters.refresh_reuse
    );
    let logout = kith(&url).arg("logout").output().unwrap();
    assert!(logout.status.success(), "logout revoked the session");
    server.shutdown().await;
}
