//! The tray role as a process: `kith-tray`, headless (no session bus, so no tray host,
//! no keyring and no notification server: it must run on all the same), driven over
//! its IPC socket as the window role drives it, against kith-server on 127.0.0.1; and
//! the faults between the two roles, with this test binary playing the window role the
//! tray role starts (`KITH_WINDOW_EXE`):
//! - a second launch of `kith-tray` opens the window; another one only raises it;
//! - the window process killed: the tray role carries on, and the next request opens
//!   a fresh window;
//! - the tray role killed: the window role exits; the socket file it left is stale, and
//!   the next tray role replaces it;
//! - a hello of another IPC version is refused in words.
//!
//! Its own `main` (no libtest harness): started with `KITH_FAKE_WINDOW_LOG` set, this
//! binary is the fake window and takes the tray role's `--friend ID`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use kith_shell::ipc::client::{self, Inbound};
use kith_shell::ipc::socket::Endpoint;
use kith_shell::ipc::{Reply, Request, Role};
use kith_shell::session_control::SignInRequest;
use kith_shell::view::{EVENT_CONNECTION, EVENT_PRESENCE, EVENT_SESSION};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const TRAY: &str = env!("CARGO_BIN_EXE_kith-tray");
const WAIT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    if let Some(log) = std::env::var_os("KITH_FAKE_WINDOW_LOG") {
        return fake_window(PathBuf::from(log));
    }
    let tests: [(&str, fn()); 3] = [
        (
            "a_headless_tray_role_is_driven_through_its_ipc_as_the_window_does",
            a_headless_tray_role_is_driven_through_its_ipc_as_the_window_does,
        ),
        (
            "the_window_is_started_raised_and_restarted_and_follows_the_tray_role",
            the_window_is_started_raised_and_restarted_and_follows_the_tray_role,
        ),
        (
            "a_hello_of_another_version_is_refused_in_words",
            a_hello_of_another_version_is_refused_in_words,
        ),
    ];
    let mut failed = 0;
    for (name, test) in tests {
        println!("test {name} ...");
        match std::panic::catch_unwind(test) {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    println!("{} passed, {failed} failed", tests.len() - failed);
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The window role as the tray role starts it, minus the window: it connects, says
/// what it was asked, and exits when told to close (or toggled), or when the tray role
/// goes away. Each line of its log: `<pid> <what>`.
fn fake_window(log: PathBuf) -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let friend = args
        .iter()
        .position(|a| a == "--friend")
        .and_then(|at| args.get(at + 1))
        .cloned();
    let say = |what: &str| {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("the fake window's log");
        writeln!(file, "{} {what}", std::process::id()).expect("logged");
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (_client, mut inbound) =
            match client::connect(&Endpoint::for_user(), Role::Window).await {
                Ok(connected) => connected,
                Err(error) => {
                    say(&format!("refused {error}"));
                    return ExitCode::SUCCESS;
                }
            };
        say(&format!("open friend={}", friend.as_deref().unwrap_or("-")));
        while let Some(message) = inbound.recv().await {
            match message {
                Inbound::Raise { friend } => say(&format!(
                    "raise friend={}",
                    friend.as_deref().unwrap_or("-")
                )),
                Inbound::Toggle => {
                    say("toggled: closes");
                    return ExitCode::SUCCESS;
                }
                Inbound::Close => {
                    say("closes");
                    return ExitCode::SUCCESS;
                }
                Inbound::Event { .. } => {}
            }
        }
        say("tray gone: exits");
        ExitCode::SUCCESS
    })
}

/// A private desktop for one tray role: its runtime, config and data directories, and
/// no session bus.
struct Desktop {
    dir: tempfile::TempDir,
}

impl Desktop {
    fn new() -> Self {
        Desktop {
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn runtime_dir(&self) -> PathBuf {
        self.path("runtime")
    }

    fn window_log(&self) -> PathBuf {
        self.path("window.log")
    }

    /// `kith-tray` with `args` in this desktop; its window is this binary.
    fn tray(&self, args: &[&str]) -> Command {
        let runtime = self.runtime_dir();
        std::fs::create_dir_all(&runtime).expect("the runtime dir");
        let mut command = Command::new(TRAY);
        command
            .args(args)
            .env("HOME", self.path("home"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            // No session bus: no tray host, no keyring, no notification server.
            .env(
                "DBUS_SESSION_BUS_ADDRESS",
                format!("unix:path={}", self.path("no-bus").display()),
            )
            .env_remove("DISPLAY")
            .env("RUST_LOG", "info,kith_shell=debug,kith_tray=debug")
            .env(
                "KITH_WINDOW_EXE",
                std::env::current_exe().expect("this binary"),
            )
            .env("KITH_FAKE_WINDOW_LOG", self.window_log())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.path("tray.log"))
                    .expect("the tray's log"),
            ));
        command
    }

    fn start_tray(&self, args: &[&str]) -> Tray {
        let child = self.tray(args).spawn().expect("kith-tray starts");
        let tray = Tray(child);
        until("the tray role's socket", || {
            self.runtime_dir().join("kith/tray.sock").exists()
        });
        tray
    }

    /// A second launch: it asks the running tray role for the window and exits 0.
    fn launch_again(&self) {
        let status = self.tray(&[]).status().expect("a second kith-tray runs");
        assert!(status.success(), "{status}; {}", self.tray_log());
    }

    fn window_lines(&self) -> Vec<(u32, String)> {
        std::fs::read_to_string(self.window_log())
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let (pid, what) = line.split_once(' ')?;
                Some((pid.parse().ok()?, what.to_owned()))
            })
            .collect()
    }

    fn tray_log(&self) -> String {
        std::fs::read_to_string(self.path("tray.log")).unwrap_or_default()
    }

    /// The endpoint this desktop's tray role listens on.
    fn endpoint(&self) -> Endpoint {
        Endpoint::in_dir(self.runtime_dir().join("kith"))
    }
}

/// A tray role process, killed if a test ends early.
struct Tray(Child);

impl Drop for Tray {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a wait is for: a condition (`bool`) or a value (`Option`).
trait Ready {
    type Out;
    fn ready(self) -> Option<Self::Out>;
}

impl Ready for bool {
    type Out = ();
    fn ready(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Ready for Option<T> {
    type Out = T;
    fn ready(self) -> Option<T> {
        self
    }
}

fn until<R: Ready>(what: &str, mut check: impl FnMut() -> R) -> R::Out {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = check().ready() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn alive(pid: u32) -> bool {
    // A zombie is gone for this purpose; its parent reaps it.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| !stat.contains(") Z "))
        .unwrap_or(false)
}

fn kill(pid: u32, signal: i32) {
    let pid = i32::try_from(pid).expect("a pid");
    // SAFETY: kill sends a signal; the pid is one this test started.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

fn a_headless_tray_role_is_driven_through_its_ipc_as_the_window_does() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let server = kith_server::spawn(kith_server::ServerConfig::in_process())
            .await
            .expect("the server starts");
        let admin = server.admin();
        admin.create_user("me", "pw-1234").expect("me");
        for friend in ["alice", "bob"] {
            admin.create_user(friend, "pw").expect("a friend");
            admin.befriend("me", friend).expect("friends");
        }
        admin.set_status("alice", "online").expect("alice online");

        let desktop = Desktop::new();
        let _tray = desktop.start_tray(&["--hidden"]);
        let endpoint = desktop.endpoint();
        let (window, mut inbound) = client::connect(&endpoint, Role::Window)
            .await
            .expect("the window connects");
        let view = |reply: Result<Reply, String>| match reply {
            Ok(Reply::View(view)) => serde_json::from_str::<Value>(view.get()).expect("JSON"),
            other => panic!("{other:?}"),
        };
        let shown = view(window.request(Request::GetView).await);
        assert_eq!(shown["session"]["signed_in"], false, "{shown:#}");

        let sign_in = |password: &str| {
            let request: SignInRequest = serde_json::from_value(json!({
                "server": server.http_url(),
                "backend": "django-simplejwt",
                "username": "me",
                "password": password,
            }))
            .expect("a sign-in");
            Request::SignIn(request)
        };
        let refused = window.request(sign_in("wrong-7731")).await.unwrap_err();
        assert!(refused.contains("did not accept"), "{refused}");
        assert!(matches!(
            window.request(sign_in("pw-1234")).await,
            Ok(Reply::Done)
        ));

        // The events arrive as the page would get them, in order: the session, then
        // the connection, and alice online in the list.
        let mut heard = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut connected_with_alice = false;
        while !connected_with_alice {
            let message = tokio::time::timeout_at(deadline, inbound.recv())
                .await
                .unwrap_or_else(|_| panic!("heard only {heard:#?}"))
                .expect("the tray role is there");
            if let Inbound::Event { event, payload } = message {
                let payload: Value = serde_json::from_str(payload.get()).expect("JSON");
                heard.push((event, payload));
            }
            let session = heard
                .iter()
                .position(|(e, p)| e == EVENT_SESSION && p["signed_in"] == true);
            let connected = heard
                .iter()
                .position(|(e, p)| e == EVENT_CONNECTION && p["state"] == "connected");
            let alice = heard.iter().any(|(e, p)| {
                e == EVENT_PRESENCE
                    && p["friends"].as_array().is_some_and(|friends| {
                        friends
                            .iter()
                            .any(|f| f["username"] == "alice" && f["online"] == true)
                    })
            });
            if let (Some(session), Some(connected)) = (session, connected) {
                assert!(session < connected, "{heard:#?}");
                connected_with_alice = alice;
            }
        }
        // No keyring here: signed in for this run only, and the view says so.
        let shown = view(window.request(Request::GetView).await);
        assert_eq!(shown["session"]["username"], "me");
        assert_eq!(shown["connection"]["state"], "connected");

        assert!(matches!(
            window.request(Request::SignOut).await,
            Ok(Reply::Done)
        ));
        let shown = view(window.request(Request::GetView).await);
        assert_eq!(shown["session"]["signed_in"], false, "{shown:#}");
        assert_eq!(shown["friends"], json!([]));
        assert!(
            desktop.tray_log().contains("no tray"),
            "a tray role with no tray host says so and runs on: {}",
            desktop.tray_log()
        );
        server.shutdown().await;
    });
}

fn the_window_is_started_raised_and_restarted_and_follows_the_tray_role() {
    let desktop = Desktop::new();
    let tray = desktop.start_tray(&["--hidden"]);
    assert!(
        desktop.window_lines().is_empty(),
        "--hidden opens no window"
    );

    // A second launch opens the window...
    desktop.launch_again();
    let first = until("the window", || {
        desktop
            .window_lines()
            .iter()
            .find(|(_, what)| what == "open friend=-")
            .map(|(pid, _)| *pid)
    });
    // ...and another one raises it rather than opening a second.
    desktop.launch_again();
    until("the window raised", || {
        desktop
            .window_lines()
            .contains(&(first, "raise friend=-".to_string()))
    });
    let opened = |lines: &[(u32, String)]| {
        lines
            .iter()
            .filter(|(_, what)| what.starts_with("open"))
            .count()
    };
    assert_eq!(
        opened(&desktop.window_lines()),
        1,
        "{:?}",
        desktop.window_lines()
    );

    // The window process killed: the tray role carries on, and the next request opens
    // a fresh window.
    kill(first, libc::SIGKILL);
    until("the window gone", || !alive(first));
    assert!(alive(tray.0.id()), "the tray role carries on");
    std::thread::sleep(Duration::from_millis(300));
    desktop.launch_again();
    let second = until("a fresh window", || {
        desktop
            .window_lines()
            .iter()
            .find(|(pid, what)| *pid != first && what.starts_with("open"))
            .map(|(pid, _)| *pid)
    });
    assert!(alive(second));

    // The tray role killed: the window role exits, and the socket file stays behind.
    kill(tray.0.id(), libc::SIGKILL);
    drop(tray);
    until("the window gone with the tray role", || !alive(second));
    assert!(desktop
        .window_lines()
        .contains(&(second, "tray gone: exits".to_string())));
    let socket = desktop.runtime_dir().join("kith/tray.sock");
    assert!(socket.exists(), "a crash leaves its socket file");

    // The next tray role replaces the stale socket and works: started without
    // --hidden, it opens the window itself.
    let _tray = desktop.start_tray(&[]);
    until("the stale socket replaced", || {
        desktop.tray_log().contains("replaced a stale IPC socket")
    });
    until("a window from the new tray role", || {
        desktop
            .window_lines()
            .iter()
            .any(|(pid, what)| ![first, second].contains(pid) && what == "open friend=-")
    });
}

fn a_hello_of_another_version_is_refused_in_words() {
    let desktop = Desktop::new();
    let _tray = desktop.start_tray(&["--hidden"]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let stream = kith_shell::ipc::socket::connect(&desktop.endpoint())
            .await
            .expect("the socket answers");
        let (read, mut write) = tokio::io::split(stream);
        write
            .write_all(b"{\"hello\":{\"version\":99,\"role\":\"window\",\"pid\":1}}\n")
            .await
            .expect("written");
        let mut line = String::new();
        tokio::time::timeout(WAIT, BufReader::new(read).read_line(&mut line))
            .await
            .expect("an answer")
            .expect("read");
        let answer: Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(answer["refused"]["refusal"], "version", "{answer}");
        let detail = answer["refused"]["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("different IPC versions (99 and 1)"),
            "{detail}"
        );
    });
    assert!(
        !Path::new(&desktop.window_log()).exists(),
        "no window for a refused peer"
    );
}
