//! The `kith` binary end to end: login into the real OS keyring, status, watch as JSON
//! lines with a live update, a clean stop on SIGTERM (close 1000), logout.
//! The server is the reference server on 127.0.0.1. Needs a D-Bus session with an
//! unlocked Secret Service, so it is `#[ignore]`d in a plain `cargo test` and run by
//! `cargo xtask test` inside `dbus-run-session`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kith_server::ServerConfig;

fn kith(server: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kith"));
    command.args(["--server", server]);
    command
}

fn run_with_stdin(mut command: Command, stdin: &str) -> (bool, String, String) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kith runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write password");
    let output = child.wait_with_output().expect("kith finishes");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a D-Bus session with an unlocked Secret Service; run by `cargo xtask test`"]
async fn login_status_watch_logout_through_the_keyring() {
    let server = kith_server::spawn(ServerConfig::in_process())
        .await
        .expect("server");
    let admin = server.admin();
    admin.create_user("me", "pw").unwrap();
    admin.create_user("alice", "pw").unwrap();
    admin.befriend("me", "alice").unwrap();
    let url = server.http_url();

    // A wrong password: clear error, nothing stored.
    let mut login = kith(&url);
    login.args(["login", "--username", "me", "--password-stdin"]);
    let (ok, _, stderr) = run_with_stdin(login, "nope\n");
    assert!(!ok);
    assert!(stderr.contains("401"), "{stderr}");

    let mut login = kith(&url);
    login.args(["login", "--username", "me", "--password-stdin"]);
    let (ok, stdout, stderr) = run_with_stdin(login, "pw\n");
    assert!(ok, "login failed: {stderr}");
    assert!(stdout.contains("logged_in"), "{stdout}");

    let status = kith(&url).arg("status").output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["signed_in"], true);
    assert_eq!(status["username"], "me");

    // watch resumes the stored session.
    let mut watch = kith(&url)
        .arg("watch")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let mut wait_line = |what: &str, pred: &dyn Fn(&serde_json::Value) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines_rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {what} line; got {lines:#?}"));
            let value: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
            lines.push(line);
            if pred(&value) {
                return;
            }
        }
    };
    wait_line("connected", &|v| {
        v["event"] == "state" && v["state"] == "connected"
    });
    wait_line("alice's snapshot", &|v| {
        v["event"] == "presence" && v["username"] == "alice" && v["cause"] == "resync"
    });
    admin.set_status("alice", "online").unwrap();
    wait_line("alice online", &|v| {
        v["event"] == "presence"
            && v["username"] == "alice"
            && v["status"] == "online"
            && v["previous"] == "offline"
            && v["cause"] == "live"
    });
    assert_eq!(admin.counters().open_sockets, 1);

    // SIGTERM: a clean stop with close 1000.
    unsafe {
        libc::kill(watch.id() as i32, libc::SIGTERM);
    }
    let exit = watch.wait().unwrap();
    assert!(exit.success(), "watch exited with {exit:?}");
    // The server sees the close a moment later: wait for it, bounded.
    let deadline = Instant::now() + Duration::from_secs(5);
    while admin.counters().open_sockets != 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(admin.counters().open_sockets, 0);
    for line in &lines {
        assert!(!line.contains("eyJ"), "a token was printed: {line}");
    }

    let logout = kith(&url).arg("logout").output().unwrap();
    assert!(logout.status.success());
    let logged_out: serde_json::Value = serde_json::from_slice(&logout.stdout).unwrap();
    assert_eq!(logged_out["revoked"], true, "{logged_out}");
    let status = kith(&url).arg("status").output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["signed_in"], false);

    // With a keyring but no stored session, watch says what to do.
    let watch = kith(&url).arg("watch").output().unwrap();
    assert!(!watch.status.success());
    let stderr = String::from_utf8_lossy(&watch.stderr);
    assert!(stderr.contains("no stored session"), "{stderr}");
    assert!(stderr.contains("kith login"), "{stderr}");
    server.shutdown().await;
}

#[test]
fn watch_without_a_keyring_says_so() {
    // No Secret Service on the bus: a clear error and a non-zero exit, never a panic.
    // (With a keyring but no stored session, the keyring test above checks the
    // message that says to log in.)
    let output = Command::new(env!("CARGO_BIN_EXE_kith"))
        .args(["--server", "http://127.0.0.1:9", "watch"])
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/kith-no-bus",
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("keyring"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn plaintext_to_a_remote_server_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_kith"))
        .args(["--server", "http://presence.example.com", "status"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("allow_insecure_remote"), "{stderr}");
}

#[test]
fn a_profile_file_cannot_opt_into_plaintext_without_the_users_flag() {
    let dir = std::env::temp_dir().join(format!("kith-cli-insecure-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("profile.toml");
    std::fs::write(
        &profile,
        "server = \"http://presence.example.com\"\nallow_insecure_remote = true\n",
    )
    .unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_kith"))
        .arg("--config")
        .arg(&profile)
        .arg("status")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--allow-insecure"), "{stderr}");
    // With the user's own opt-in, the profile is accepted (what follows may still fail
    // for want of a keyring, but not for the plaintext URL).
    let allowed = Command::new(env!("CARGO_BIN_EXE_kith"))
        .arg("--config")
        .arg(&profile)
        .args(["--allow-insecure", "status"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&allowed.stderr);
    assert!(!stderr.contains("allow_insecure_remote"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `kith watch` ends with exit code 4 when the connection gives up (here: the socket
/// refuses every freshly refreshed token), so a script or a service manager can tell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_exits_4_when_the_connection_gives_up() {
    let server = kith_server::spawn(ServerConfig::in_process())
        .await
        .expect("server");
    let admin = server.admin();
    admin.create_user("me", "pw").unwrap();
    admin.set_ws_auth_rejects_all(true);
    let mut watch = kith(&server.http_url());
    watch.args([
        "watch",
        "--username",
        "me",
        "--password-stdin",
        "--ephemeral",
    ]);
    let started = Instant::now();
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || run_with_output(watch, "pw\n"))
        .await
        .expect("kith runs");
    assert!(!ok);
    assert_eq!(stdout.0, Some(4), "stderr: {stderr}");
    assert!(stdout.1.contains("gave_up"), "{}", stdout.1);
    assert!(started.elapsed() < Duration::from_secs(60));
    server.shutdown().await;
}

/// Like `run_with_stdin`, with the exit code.
fn run_with_output(mut command: Command, stdin: &str) -> (bool, (Option<i32>, String), String) {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kith runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write password");
    let output = child.wait_with_output().expect("kith finishes");
    (
        output.status.success(),
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        ),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
