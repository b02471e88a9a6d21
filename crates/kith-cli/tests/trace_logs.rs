//! Secrets stay out of the most verbose logs. The real `kith` binary logs in and
//! watches at `RUST_LOG=trace` (with directives that try to turn tungstenite's raw
//! upgrade request back on) against a server whose access tokens last 2 s, so tokens
//! are refreshed and the socket handed over several times; then its stderr is searched
//! for the password, any JWT and the refresh token. Failures report only counts and
//! positions, never the secret or the surrounding log text.
//!
//! Like cli.rs it uses the real OS keyring, so it is `#[ignore]`d in a plain
//! `cargo test` and run by `cargo xtask test` inside `dbus-run-session`.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kith_core::{CredentialStore, KeyringStore};
use kith_server::ServerConfig;

/// Asks for everything, and in particular for the targets that log raw requests.
const RUST_LOG: &str = "trace,tungstenite=trace,tokio_tungstenite=trace,reqwest=trace";
/// Distinctive, so a hit is certainly the password.
const PASSWORD: &str = "Tr4ce-pw-5ecret-q8z";

fn kith(server: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kith"));
    command.args(["--server", server]).env("RUST_LOG", RUST_LOG);
    command
}

/// Byte offsets of every JWT-looking string: `eyJ` (base64url of `{"`), at least five
/// base64url characters, then a dot.
fn jwt_positions(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let is_b64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    text.match_indices("eyJ")
        .map(|(at, _)| at)
        .filter(|&at| {
            let run = bytes[at + 3..]
                .iter()
                .take_while(|&&b| is_b64url(b))
                .count();
            run >= 5 && bytes.get(at + 3 + run) == Some(&b'.')
        })
        .collect()
}

/// Line numbers (from 1) of the lines containing `needle`.
fn lines_with(text: &str, needle: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.contains(needle))
        .map(|(n, _)| n + 1)
        .collect()
}

/// `text` without ANSI colour sequences, in case the log is coloured.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters, then one final byte in @..=~.
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Lines at `level` ("TRACE", "DEBUG") from a target that starts with `target`: in
/// the fmt format, the target is the word ending in `:` after the level and any spans.
fn count_level_lines(text: &str, level: &str, target: &str) -> usize {
    text.lines()
        .filter(|line| {
            let mut words = line.split_whitespace().skip_while(|w| *w != level);
            words.next().is_some()
                && words.any(|w| w.starts_with(target) && w.ends_with(':') && !w.contains('{'))
        })
        .count()
}

#[test]
fn the_jwt_pattern_matches_tokens_only() {
    let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig";
    assert_eq!(jwt_positions(&format!("x {token} y")), [2, 23]);
    assert!(jwt_positions("eyJabc. eyJ eyJabcdef").is_empty());
    let log = "2025-01-01T00:00:00Z TRACE kith_core::socket::driver: sent\n\
               2025-01-01T00:00:00Z DEBUG tungstenite::handshake::client: done";
    assert_eq!(count_level_lines(log, "TRACE", "kith_core"), 1);
    assert_eq!(count_level_lines(log, "DEBUG", "tungstenite"), 1);
    assert_eq!(count_level_lines(log, "DEBUG", "kith_core"), 0);
    assert_eq!(
        strip_ansi("\x1b[2mTRACE\x1b[0m kith_core:"),
        "TRACE kith_core:"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a D-Bus session with an unlocked Secret Service; run by `cargo xtask test`"]
async fn trace_logs_carry_no_password_or_token() {
    let mut config = ServerConfig::in_process();
    config.access_ttl = Duration::from_secs(2);
    let server = kith_server::spawn(config).await.expect("server");
    let admin = server.admin();
    admin.create_user("tracer", PASSWORD).unwrap();
    admin.create_user("alice", "alice-pw").unwrap();
    admin.befriend("tracer", "alice").unwrap();
    let url = server.http_url();
    let mut logs = String::new();

    // login, with the password on stdin.
    let mut login = kith(&url)
        .args(["login", "--username", "tracer", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kith runs");
    login
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("write the password");
    let output = login.wait_with_output().expect("kith login finishes");
    logs.push_str(&String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "login failed ({} bytes of stderr)",
        output.stderr.len()
    );

    // watch until the access token has been refreshed a few times.
    let mut watch = kith(&url)
        .arg("watch")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kith watch runs");
    let mut stderr = watch.stderr.take().expect("stderr");
    let stderr_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let stdout = watch.stdout.take().expect("stdout");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<serde_json::Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let Ok(value) = serde_json::from_str(&line) else {
                continue;
            };
            if lines_tx.send(value).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut connected, mut refreshed) = (0, 0);
    let mut flips = 0u32;
    while refreshed < 3 || connected < 1 {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(event) = lines_rx.recv_timeout(left.min(Duration::from_millis(500))) else {
            assert!(
                Instant::now() < deadline,
                "watch saw {connected} connections and {refreshed} refreshes in 30 s"
            );
            // Live traffic on the socket while it is handed over.
            flips += 1;
            let status = if flips.is_multiple_of(2) {
                "online"
            } else {
                "away"
            };
            admin.set_status("alice", status).unwrap();
            continue;
        };
        match event["event"].as_str() {
            Some("token_refreshed") => refreshed += 1,
            Some("state") if event["state"] == "connected" => connected += 1,
            _ => {}
        }
    }
    unsafe {
        libc::kill(watch.id() as i32, libc::SIGTERM);
    }
    let exit = watch.wait().expect("kith watch exits");
    assert!(exit.success(), "watch exited with {exit:?}");
    logs.push_str(&String::from_utf8_lossy(
        &stderr_reader.join().expect("stderr reader"),
    ));

    // The refresh token the session ended with, from the keyring.
    let status = kith(&url).arg("status").output().expect("kith status");
    logs.push_str(&String::from_utf8_lossy(&status.stderr));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    let account = status["server"].as_str().expect("the account").to_string();
    let stored = KeyringStore::open()
        .expect("keyring")
        .load(&account)
        .expect("keyring read")
        .expect("a stored session");
    let refresh = stored.refresh.expose().to_string();
    assert!(
        refresh.len() > 20,
        "the refresh token looks too short to test with"
    );

    let logout = kith(&url).arg("logout").output().expect("kith logout");
    logs.push_str(&String::from_utf8_lossy(&logout.stderr));
    assert!(logout.status.success(), "logout failed");
    server.shutdown().await;
    let logs = strip_ansi(&logs);

    // Trace logging was really on: Kith's own trace output made it through.
    let core_trace = count_level_lines(&logs, "TRACE", "kith_core");
    let core_debug = count_level_lines(&logs, "DEBUG", "kith_core");
    assert!(
        core_trace + core_debug > 0,
        "no trace or debug lines from kith_core in {} lines: was RUST_LOG applied?",
        logs.lines().count()
    );
    // No secret, in any form.
    assert_eq!(
        lines_with(&logs, PASSWORD),
        Vec::<usize>::new(),
        "lines with the password"
    );
    assert_eq!(
        lines_with(&logs, &refresh),
        Vec::<usize>::new(),
        "lines with the refresh token"
    );
    assert_eq!(
        jwt_positions(&logs),
        Vec::<usize>::new(),
        "byte offsets of JWTs in {} bytes of logs",
        logs.len()
    );
    // And the targets that log raw requests and frames stayed quiet.
    for target in [
        "tungstenite",
        "tokio_tungstenite",
        "reqwest",
        "cookie_store",
    ] {
        for level in ["TRACE", "DEBUG"] {
            assert_eq!(
                count_level_lines(&logs, level, target),
                0,
                "{level} lines from {target}"
            );
        }
    }
}
