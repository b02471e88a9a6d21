//! Kith through Debian's tinyproxy, a proxy Kith's code had no hand in: the proxy's own
//! log shows the CONNECT of the auth API and of the socket, Basic proxy auth works, and
//! wrong credentials are a proxy refusal (tinyproxy answers them with 401). Ignored unless tinyproxy is installed;
//! `cargo xtask test` installs it (package tinyproxy-bin) and runs it.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::pki::{tempdir, Ca};
use common::*;
use kith_core::proxy::{ProxyProblem, ProxyUrl};
use kith_core::token::AuthError;
use kith_core::{MemoryStore, Secret, Session, SessionError, SessionEvent, TokenError};

struct Tinyproxy {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Tinyproxy {
    /// On `port`, or a free one when 0 (tinyproxy cannot pick one itself).
    async fn start(dir: &std::path::Path, port: u16, user: &str, password: &str) -> Tinyproxy {
        let port = if port != 0 {
            port
        } else {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port()
        };
        let log = dir.join("tinyproxy.log");
        let config = dir.join("tinyproxy.conf");
        std::fs::write(
            &config,
            format!(
                "Listen 127.0.0.1\nPort {port}\nTimeout 60\nMaxClients 50\nLogLevel Info\n\
                 LogFile \"{}\"\nBasicAuth {user} {password}\n",
                log.display()
            ),
        )
        .expect("write config");
        let child = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tinyproxy");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "tinyproxy did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Tinyproxy { child, port, log }
    }

    fn connects_to(&self, authority: &str) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches(&format!("CONNECT {authority} "))
            .count()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
#[ignore = "needs tinyproxy; run by `cargo xtask test`"]
async fn through_tinyproxy_with_basic_auth_and_a_refusal_for_wrong_credentials() {
    let dir = tempdir();
    let ca = Ca::new(dir.path(), "tinyproxy");
    let mut config = config_with_ttl(Duration::from_secs(60));
    config.tls = Some(ca.good_cert(dir.path(), "server"));
    let (server, admin) = start_server(config).await;
    let target = format!("127.0.0.1:{}", server.addr().port());
    let proxy = Tinyproxy::start(dir.path(), 0, "kith", "tiny-s3cret").await;
    let mut profile = fast_profile(&server);
    profile.tls.ca_file = Some(ca.pem_file.clone());

    profile.proxy =
        Some(ProxyUrl::parse(&format!("http://kith:wrong@127.0.0.1:{}", proxy.port)).unwrap());
    let error = Session::login(
        profile.clone(),
        Arc::new(MemoryStore::new()),
        USER,
        Secret::new(PASSWORD),
    )
    .await
    .err()
    .expect("wrong proxy credentials");
    // tinyproxy refuses with 401, not 407; reqwest reports any refusal but 407 without
    // its status, so the auth API sees a refusing proxy. (The socket's own tunnel reads
    // 401 as proxy_auth_required; the 407 path is tests/proxy.rs's.)
    assert!(
        matches!(
            error,
            SessionError::Token(TokenError::Auth(AuthError::Proxy(
                ProxyProblem::AuthRequired | ProxyProblem::Refused(None)
            )))
        ),
        "{error:?}"
    );

    profile.proxy = Some(
        ProxyUrl::parse(&format!("http://kith:tiny-s3cret@127.0.0.1:{}", proxy.port)).unwrap(),
    );
    let before = proxy.connects_to(&target);
    let (session, mut log) = login(profile, &MemoryStore::new()).await;
    log.wait_for(
        "the first snapshot through tinyproxy",
        Duration::from_secs(5),
        |e| matches!(e, SessionEvent::Resynced { .. }),
    )
    .await;
    admin.set_status("alice", "away").unwrap();
    log.wait_for("a live update", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::Presence(c) if c.username == "alice" && c.to.as_deref() == Some("away"))
    })
    .await;
    let after = proxy.connects_to(&target);
    assert!(
        after >= before + 2,
        "tinyproxy logged {after} CONNECTs (before: {before}): {}",
        std::fs::read_to_string(&proxy.log).unwrap_or_default()
    );

    // tinyproxy restarts wanting other credentials: the socket's tunnel is gone, and
    // its reconnects are refused with the auth reason and back off; still signed in.
    let port = proxy.port;
    drop(proxy);
    let _proxy = Tinyproxy::start(dir.path(), port, "kith", "rotated").await;
    log.wait_for(
        "the socket's proxy_auth_required",
        Duration::from_secs(10),
        |e| {
            matches!(e, SessionEvent::State(c)
            if c.to.name() == "reconnecting"
                && c.reason == kith_core::Reason::Proxy(ProxyProblem::AuthRequired)
                && c.retry_at.is_some())
        },
    )
    .await;
    assert!(!log
        .seen
        .iter()
        .any(|(_, e)| matches!(e, SessionEvent::SessionEnded { .. })));
    session.stop().await;
    server.shutdown().await;
}
