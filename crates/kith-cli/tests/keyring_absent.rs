//! `kith` on a desktop with no keyring: it signs in for this run only, says so, streams
//! presence, remembers nothing, writes no secret anywhere, and saves the session if a
//! keyring appears later in the run.
//!
//! Every case runs the real `kith` binary against the reference server, with HOME, the
//! XDG directories and TMPDIR in a temporary directory and nothing else in its
//! environment. Between them sits a byte relay (not a mock: it forwards everything
//! unchanged) that reads the tokens the server hands out, so the test can look for
//! them on disk afterwards.
//!
//! - no D-Bus at all (no `DBUS_SESSION_BUS_ADDRESS`, no `$XDG_RUNTIME_DIR/bus`): runs in
//!   a plain `cargo test`;
//! - a D-Bus session with no Secret Service on it (a `dbus-daemon` of the test's own,
//!   with no service files, so nothing is started on demand), and one where D-Bus
//!   activation starts gnome-keyring but it has no keyring to save into (the usual
//!   `dbus-run-session` without an unlocked gnome-keyring); and a keyring that appears
//!   on that bus while `kith watch` runs (`gnome-keyring-daemon --unlock` fed an empty
//!   line). These need dbus-daemon and gnome-keyring, so they are `#[ignore]`d and run
//!   by `cargo xtask test`; they start their own bus, whatever bus that run has.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use kith_core::NO_KEYRING_MESSAGE;
use kith_server::{AdminHandle, RunningServer, ServerConfig};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const USER: &str = "me";
/// Distinctive, so finding it anywhere is finding the password.
const PASSWORD: &str = "Abs3nt-keyring-pw-7q";

/// A desktop session's directories, all in one temporary directory.
struct Desktop {
    root: tempfile::TempDir,
    /// A D-Bus session bus address, when the session has one.
    bus: Option<String>,
}

impl Desktop {
    fn new() -> Desktop {
        let root = tempfile::Builder::new()
            .prefix("kith-nokeyring-")
            .tempdir()
            .expect("a temporary directory");
        for dir in ["home", "config", "data", "cache", "state", "runtime", "tmp"] {
            std::fs::create_dir_all(root.path().join(dir)).expect("a directory");
        }
        Desktop { root, bus: None }
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// Only what a session sets: no D-Bus address unless this desktop has a bus.
    fn env(&self, command: &mut Command) {
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir("home"))
            .env("XDG_CONFIG_HOME", self.dir("config"))
            .env("XDG_DATA_HOME", self.dir("data"))
            .env("XDG_CACHE_HOME", self.dir("cache"))
            .env("XDG_STATE_HOME", self.dir("state"))
            .env("XDG_RUNTIME_DIR", self.dir("runtime"))
            .env("TMPDIR", self.dir("tmp"));
        if let Some(bus) = &self.bus {
            command.env("DBUS_SESSION_BUS_ADDRESS", bus);
        }
    }

    fn kith(&self, url: &str) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kith"));
        self.env(&mut command);
        command.args(["--server", url]);
        command
    }

    /// Runs `kith` to the end with `stdin`: exit code, stdout, stderr.
    fn run(&self, url: &str, args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
        let mut child = self
            .kith(url)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kith runs");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).expect("stdin written");
        drop(input);
        let output = child.wait_with_output().expect("kith finishes");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

/// A session bus of the test's own: `dbus-daemon` with either no service files (nothing
/// can be started on demand: no Secret Service) or the standard ones (D-Bus activation
/// starts gnome-keyring, as a desktop's bus would). Killed and reaped when dropped.
struct Bus {
    daemon: Child,
    address: String,
}

impl Bus {
    fn start(desktop: &Desktop, activation: bool) -> Bus {
        let services = desktop.dir("services");
        std::fs::create_dir_all(&services).expect("service dir");
        let service_dirs = if activation {
            "<standard_session_servicedirs/>".to_string()
        } else {
            format!("<servicedir>{}</servicedir>", services.display())
        };
        let config = desktop.dir("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={}</listen>
  {service_dirs}
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                desktop.dir("runtime").display()
            ),
        )
        .expect("bus config");
        let mut command = Command::new("dbus-daemon");
        desktop.env(&mut command);
        let mut daemon = command
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon runs (package dbus-daemon)");
        let mut address = String::new();
        BufReader::new(daemon.stdout.take().expect("stdout"))
            .read_line(&mut address)
            .expect("the bus address");
        let address = address.trim().to_string();
        assert!(address.starts_with("unix:"), "bus address {address:?}");
        Bus { daemon, address }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// What the server sent on one connection.
type Received = Arc<Mutex<Vec<u8>>>;

/// A TCP relay in front of the server that forwards every byte unchanged and keeps what
/// the server sent on each connection, to read the tokens it issued.
struct Relay {
    url: String,
    from_server: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(server: SocketAddr) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("relay port");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let from_server: Arc<Mutex<Vec<Received>>> = Arc::default();
        let connections = from_server.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let seen = Arc::new(Mutex::new(Vec::new()));
                connections.lock().unwrap().push(seen.clone());
                tokio::spawn(async move {
                    let Ok(upstream) = tokio::net::TcpStream::connect(server).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut upstream_read, mut upstream_write) = upstream.into_split();
                    let up = async {
                        let _ = tokio::io::copy(&mut client_read, &mut upstream_write).await;
                        let _ = upstream_write.shutdown().await;
                    };
                    let down = async {
                        let mut buffer = vec![0u8; 16 * 1024];
                        loop {
                            match upstream_read.read(&mut buffer).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    seen.lock().unwrap().extend_from_slice(&buffer[..n]);
                                    if client_write.write_all(&buffer[..n]).await.is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                        let _ = client_write.shutdown().await;
                    };
                    tokio::join!(up, down);
                });
            }
        });
        Relay {
            url,
            from_server,
            task,
        }
    }

    /// Every value of `"field":"…"` the server sent (SimpleJWT's `access`, `refresh`).
    fn issued(&self, field: &str) -> Vec<String> {
        let needle = format!("\"{field}\":\"");
        let mut found = Vec::new();
        for connection in self.from_server.lock().unwrap().iter() {
            let bytes = connection.lock().unwrap();
            let text = String::from_utf8_lossy(&bytes);
            for (at, _) in text.match_indices(&needle) {
                let value = &text[at + needle.len()..];
                if let Some(end) = value.find('"') {
                    found.push(value[..end].to_string());
                }
            }
        }
        found.sort();
        found.dedup();
        found
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A running `kith watch`, its stdout lines parsed as they come, its stderr kept.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<Value>,
    seen: Vec<Value>,
    stderr: Arc<Mutex<String>>,
}

impl Watch {
    fn start(desktop: &Desktop, url: &str, args: &[&str], stdin: &str) -> Watch {
        let mut child = desktop
            .kith(url)
            .arg("watch")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kith watch runs");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).expect("stdin written");
        drop(input);
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| Value::String(format!("not JSON: {line}")));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut pipe = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });
        Watch {
            child,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    /// The first line from now on that `pred` accepts; panics with what came instead.
    fn wait_for(&mut self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(error) => panic!(
                    "no {what} ({}); stdout: {:#?}\nstderr: {}",
                    match error {
                        mpsc::RecvTimeoutError::Timeout => format!("not within {timeout:?}"),
                        mpsc::RecvTimeoutError::Disconnected => "kith watch ended".into(),
                    },
                    self.seen,
                    self.stderr.lock().unwrap()
                ),
            }
        }
    }

    fn count(&self, event: &str) -> usize {
        self.seen.iter().filter(|l| l["event"] == event).count()
    }

    /// SIGTERM, then the exit code and the whole stderr.
    fn stop(mut self) -> (Option<i32>, String) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let code = self.child.wait().ok().and_then(|status| status.code());
        // The stderr thread ends with the pipe; give it a moment to take the last bytes.
        std::thread::sleep(Duration::from_millis(100));
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        let stderr = self.stderr.lock().unwrap().clone();
        (code, stderr)
    }
}

fn lines_equal(text: &str, wanted: &str) -> usize {
    text.lines()
        .filter(|line| line.trim_end() == wanted)
        .count()
}

/// 2-second access tokens, so a run of a few seconds rotates the refresh token.
async fn server() -> (RunningServer, AdminHandle) {
    let mut config = ServerConfig::in_process();
    config.access_ttl = Duration::from_secs(2);
    let server = kith_server::spawn(config).await.expect("server");
    let admin = server.admin();
    admin.create_user(USER, PASSWORD).unwrap();
    admin.create_user("alice", "alice-pw").unwrap();
    admin.befriend(USER, "alice").unwrap();
    (server, admin)
}

/// Files under `dir` (not following links) that contain any of `secrets`: which file
/// and which secret (by index), never the secret itself. Only files changed since
/// `since` when `recent_only`.
fn files_holding(
    dir: &Path,
    secrets: &[String],
    since: SystemTime,
    recent_only: bool,
) -> Vec<(PathBuf, usize)> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(entry.path());
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            let changed = meta.modified().map(|m| m >= since).unwrap_or(true);
            if meta.len() > 64 * 1024 * 1024 || (recent_only && !changed) {
                continue;
            }
            let Ok(bytes) = std::fs::read(entry.path()) else {
                continue;
            };
            for (index, secret) in secrets.iter().enumerate() {
                let needle = secret.as_bytes();
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    hits.push((entry.path(), index));
                }
            }
        }
    }
    hits
}

/// What is missing for there to be a keyring, and what that means for `kith login`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Missing {
    /// No session bus: `login` finds out before it sends the password.
    Bus,
    /// A bus, nothing providing the Secret Service: the same.
    SecretService,
    /// gnome-keyring started by D-Bus activation, with no keyring to save into: `login`
    /// finds out only when it saves, and then revokes the session it made.
    DefaultKeyring,
}

/// The whole story on a desktop without a keyring.
async fn signs_in_for_this_run_only(desktop: &Desktop, missing: Missing) {
    let started = SystemTime::now() - Duration::from_secs(1);
    let (server, admin) = server().await;
    let relay = Relay::start(server.addr()).await;
    let url = relay.url.clone();

    // `kith login` only stores sessions: it refuses, and leaves no session behind.
    let args = ["login", "--username", USER, "--password-stdin"];
    let (code, _, stderr) = desktop.run(&url, &args, &format!("{PASSWORD}\n"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("nothing was signed in"), "{stderr}");
    assert!(stderr.contains("no keyring is running"), "{stderr}");
    assert!(stderr.contains("kith watch --username"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    if missing == Missing::DefaultKeyring {
        for token in relay.issued("refresh") {
            assert!(
                !admin.refresh_token_is_valid(&token),
                "`kith login` left a valid session behind"
            );
        }
    } else {
        assert_eq!(admin.counters().logins, 0, "the password was sent");
    }

    // `kith watch --username`: signed in for this run, said plainly, presence streams.
    let args = ["--username", USER, "--password-stdin"];
    let mut watch = Watch::start(desktop, &url, &args, &format!("{PASSWORD}\n"));
    let unsaved = watch.wait_for("credentials_unsaved", Duration::from_secs(30), |l| {
        l["event"] == "credentials_unsaved"
    });
    assert_eq!(unsaved["reason"], "no_keyring", "{unsaved}");
    assert_eq!(unsaved["detail"], NO_KEYRING_MESSAGE, "{unsaved}");
    println!("{missing:?}: {}", unsaved["error"]);
    watch.wait_for("connected", Duration::from_secs(10), |l| {
        l["event"] == "state" && l["state"] == "connected"
    });
    watch.wait_for("alice's snapshot", Duration::from_secs(10), |l| {
        l["event"] == "presence" && l["username"] == "alice" && l["cause"] == "resync"
    });
    admin.set_status("alice", "online").unwrap();
    watch.wait_for("alice online", Duration::from_secs(10), |l| {
        l["event"] == "presence"
            && l["username"] == "alice"
            && l["status"] == "online"
            && l["cause"] == "live"
    });
    // Two refreshes: the refresh token rotates in memory, and the session goes on.
    for n in 1..=2 {
        watch.wait_for(&format!("refresh {n}"), Duration::from_secs(10), |l| {
            l["event"] == "token_refreshed"
        });
    }
    assert_eq!(watch.count("credentials_unsaved"), 1, "{:#?}", watch.seen);
    assert_eq!(watch.count("session_ended"), 0, "{:#?}", watch.seen);
    let (code, stderr) = watch.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        lines_equal(&stderr, NO_KEYRING_MESSAGE),
        1,
        "the message, once, on stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(admin.counters().refresh_reuse, 0);

    // The next start remembers nothing and asks for the password.
    let (code, _, stderr) = desktop.run(&url, &["watch"], "");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("no stored session"), "{stderr}");
    assert!(stderr.contains("--password-stdin"), "{stderr}");
    let (code, stdout, stderr) = desktop.run(&url, &["status"], "");
    assert_eq!(code, Some(0), "{stderr}");
    let status: Value = serde_json::from_str(&stdout).expect("status JSON");
    assert_eq!(status["signed_in"], false, "{status}");

    // No secret reached a file: not the password, not a refresh or access token,
    // in the session's directories or in the system's temporary ones.
    let refresh = relay.issued("refresh");
    let access = relay.issued("access");
    assert!(
        refresh.len() >= 3,
        "login and two rotations: {}",
        refresh.len()
    );
    let secrets: Vec<String> = [PASSWORD.to_string()]
        .into_iter()
        .chain(refresh)
        .chain(access)
        .collect();
    let mut hits = files_holding(desktop.root.path(), &secrets, started, false);
    for shared in ["/tmp", "/var/tmp", "/dev/shm"] {
        hits.extend(files_holding(Path::new(shared), &secrets, started, true));
    }
    assert!(
        hits.is_empty(),
        "secrets on disk (file, secret index; 0 is the password): {hits:?}"
    );
    println!(
        "{missing:?}: {} secrets looked for, none on disk",
        secrets.len()
    );
    drop(relay);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_dbus_at_all_signs_in_for_this_run_only() {
    let desktop = Desktop::new();
    signs_in_for_this_run_only(&desktop, Missing::Bus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "starts dbus-daemon; run by `cargo xtask test`"]
async fn a_bus_with_no_secret_service_signs_in_for_this_run_only() {
    let mut desktop = Desktop::new();
    let bus = Bus::start(&desktop, false);
    desktop.bus = Some(bus.address.clone());
    signs_in_for_this_run_only(&desktop, Missing::SecretService).await;
    drop(bus);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "starts dbus-daemon and, through it, gnome-keyring; run by `cargo xtask test`"]
async fn gnome_keyring_with_no_keyring_signs_in_for_this_run_only() {
    let mut desktop = Desktop::new();
    let bus = Bus::start(&desktop, true);
    desktop.bus = Some(bus.address.clone());
    signs_in_for_this_run_only(&desktop, Missing::DefaultKeyring).await;
    // gnome-keyring was started by the bus; it leaves with it.
    drop(bus);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "starts dbus-daemon and gnome-keyring; run by `cargo xtask test`"]
async fn a_keyring_that_appears_later_gets_the_session() {
    let mut desktop = Desktop::new();
    let bus = Bus::start(&desktop, false);
    desktop.bus = Some(bus.address.clone());
    let (server, admin) = server().await;
    let url = server.http_url();

    let args = ["--username", USER, "--password-stdin"];
    let mut watch = Watch::start(&desktop, &url, &args, &format!("{PASSWORD}\n"));
    let unsaved = watch.wait_for("credentials_unsaved", Duration::from_secs(30), |l| {
        l["event"] == "credentials_unsaved"
    });
    assert_eq!(unsaved["reason"], "no_keyring", "{unsaved}");
    watch.wait_for("connected", Duration::from_secs(10), |l| {
        l["event"] == "state" && l["state"] == "connected"
    });
    watch.wait_for("a refresh", Duration::from_secs(10), |l| {
        l["event"] == "token_refreshed"
    });

    // A keyring comes up on this bus: gnome-keyring, its login keyring unlocked with
    // the empty line on stdin (zero bytes would not unlock it).
    let mut command = Command::new("gnome-keyring-daemon");
    desktop.env(&mut command);
    let mut keyring = command
        .args(["--foreground", "--unlock", "--components=secrets"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gnome-keyring-daemon runs");
    let mut input = keyring.stdin.take().expect("stdin");
    input.write_all(b"\n").expect("the empty password");
    drop(input);
    let appeared = Instant::now();
    let refreshes_before = watch.count("token_refreshed");
    watch.wait_for("credentials_saved", Duration::from_secs(20), |l| {
        l["event"] == "credentials_saved"
    });
    let saved_after = appeared.elapsed();
    let refreshes_between = watch.count("token_refreshed") - refreshes_before;
    watch.wait_for("a refresh after the save", Duration::from_secs(10), |l| {
        l["event"] == "token_refreshed"
    });
    let (code, stderr) = watch.stop();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(lines_equal(&stderr, NO_KEYRING_MESSAGE), 1, "{stderr}");
    assert!(stderr.contains("saved in the keyring now"), "{stderr}");
    println!(
        "keyring appeared: saved {} ms later, after {refreshes_between} refresh(es)",
        saved_after.as_millis()
    );
    // 2 s tokens refresh about every 1.5 s: saved at the next refresh, or the one after
    // if gnome-keyring was still coming up.
    assert!(
        refreshes_between <= 2,
        "{refreshes_between} refreshes before the save"
    );

    // Remembered now: the next start resumes without a password.
    let (code, stdout, stderr) = desktop.run(&url, &["status"], "");
    assert_eq!(code, Some(0), "{stderr}");
    let status: Value = serde_json::from_str(&stdout).expect("status JSON");
    assert_eq!(status["signed_in"], true, "{status}");
    let mut resumed = Watch::start(&desktop, &url, &[], "");
    resumed.wait_for("connected after a restart", Duration::from_secs(10), |l| {
        l["event"] == "state" && l["state"] == "connected"
    });
    let (code, stderr) = resumed.stop();
    assert_eq!(code, Some(0), "{stderr}");
    let (code, stdout, stderr) = desktop.run(&url, &["logout"], "");
    assert_eq!(code, Some(0), "{stdout} {stderr}");
    assert_eq!(admin.counters().refresh_reuse, 0);

    let _ = keyring.kill();
    let _ = keyring.wait();
    drop(bus);
    server.shutdown().await;
}
