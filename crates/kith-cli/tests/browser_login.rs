//! `kith login --browser` end to end: the real OpenID provider of tests/peers/oidc on
//! 127.0.0.1, its scripted browser run as `$BROWSER` (a browser opened by Kith, as a
//! desktop's would be), the real OS keyring, then `status` and `logout`, whose
//! revocation is checked at the provider. Needs a D-Bus session with an unlocked
//! Secret Service and the peer's packages, so it is `#[ignore]`d in a plain
//! `cargo test` and run by `cargo xtask test` inside `dbus-run-session`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the crate sits in crates/ of the workspace")
        .to_path_buf()
}

/// The provider, killed when dropped.
struct Provider(Child, u16);

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_provider() -> Provider {
    let dir = repo_root().join("tests/peers/oidc");
    assert!(
        dir.join("node_modules").exists(),
        "run `npm ci --prefix tests/peers/oidc` (cargo xtask test does)"
    );
    let mut child = Command::new("node")
        .arg("server.js")
        .current_dir(&dir)
        .env("PORT", "0")
        .env_remove("DATA_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("READY line");
    let port = line
        .trim()
        .strip_prefix("READY ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("not a READY line: {line:?}"));
    Provider(child, port)
}

fn kith(config: &std::path::Path, browser: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kith"));
    command
        .arg("--config")
        .arg(config)
        .env("BROWSER", browser)
        .stdin(Stdio::null());
    command
}

#[test]
#[ignore = "needs the OIDC peer and a D-Bus session with an unlocked Secret Service; run by `cargo xtask test`"]
fn login_through_the_browser_then_status_and_logout_with_revocation() {
    let provider = start_provider();
    let issuer = format!("http://127.0.0.1:{}", provider.1);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("oidc.toml");
    std::fs::write(
        &config,
        format!(
            "name = \"oidc-test\"\nserver = \"{issuer}\"\n\n[auth]\nkind = \"oidc\"\n\n[auth.oidc]\nissuer = \"{issuer}\"\nclient_id = \"kith-desktop\"\nbrowser_timeout = \"60s\"\n\n[socket]\nauth = [{{ kind = \"bearer\" }}]\n"
        ),
    )
    .expect("profile written");
    // $BROWSER is one command; the scripted browser needs node and its path.
    let browser = dir.path().join("browser");
    std::fs::write(
        &browser,
        format!(
            "#!/bin/sh\nexec node '{}' \"$1\" >'{}' 2>&1\n",
            repo_root().join("tests/peers/oidc/browser.js").display(),
            dir.path().join("browser.log").display()
        ),
    )
    .expect("browser script");
    let mut permissions = std::fs::metadata(&browser).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&browser, permissions).unwrap();

    let output = kith(&config, &browser)
        .args(["login", "--browser"])
        .output()
        .expect("kith runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {stderr}\nbrowser: {}",
        std::fs::read_to_string(dir.path().join("browser.log")).unwrap_or_default()
    );
    assert!(
        stdout.contains("\"logged_in\"") && stdout.contains("\"me\""),
        "{stdout}"
    );
    // The address is printed for a machine with no browser; no code or token is.
    assert!(stderr.contains(&format!("{issuer}/auth?")), "{stderr}");
    assert!(!stderr.contains("code="), "{stderr}");

    let output = kith(&config, &browser).arg("status").output().unwrap();
    let status = String::from_utf8_lossy(&output.stdout);
    assert!(status.contains("\"signed_in\":true"), "{status}");

    let output = kith(&config, &browser).arg("logout").output().unwrap();
    let logout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{logout}");
    assert!(logout.contains("\"revoked\":true"), "{logout}");
    // The provider counts the revocation.
    let counters = http_get(provider.1, "/__test__/counters");
    assert!(
        counters.contains("\"revocations\":1"),
        "the provider saw no revocation: {counters}"
    );
}

/// A plain HTTP/1.1 GET to the provider's control API on 127.0.0.1.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Test-Control: kith\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}
