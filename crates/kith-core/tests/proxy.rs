//! Kith through a real HTTP CONNECT proxy on 127.0.0.1 (tests/common/proxy.rs), set
//! with the profile's `proxy` field: the auth API and the socket both tunnel through
//! it, Basic proxy auth works, and a proxy that refuses (407, 403) or is gone is a
//! typed reason with backoff, never a sign-out. The proxy's credentials never show up
//! in Debug output or events.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::pki::{tempdir, Ca};
use common::proxy::TestProxy;
use common::*;
use kith_core::protocol::ServerProfile;
use kith_core::proxy::{ProxyProblem, ProxyUrl};
use kith_core::token::AuthError;
use kith_core::{
    CredentialStore, MemoryStore, Reason, Secret, Session, SessionError, SessionEvent, TokenError,
};
use kith_server::RunningServer;

const PROXY_PASSWORD: &str = "pr0xy-s3cret";

async fn tls_server(dir: &std::path::Path) -> (RunningServer, kith_server::AdminHandle, Ca) {
    let ca = Ca::new(dir, "proxy-tests");
    let mut config = config_with_ttl(Duration::from_secs(60));
    config.tls = Some(ca.good_cert(dir, "server"));
    let (server, admin) = start_server(config).await;
    (server, admin, ca)
}

fn proxied_profile(server: &RunningServer, ca: &Ca, proxy: &str) -> ServerProfile {
    let mut profile = fast_profile(server);
    profile.tls.ca_file = Some(ca.pem_file.clone());
    profile.proxy = Some(ProxyUrl::parse(proxy).expect("proxy url"));
    profile
}

fn authority(server: &RunningServer) -> String {
    format!("127.0.0.1:{}", server.addr().port())
}

async fn login_error(profile: ServerProfile) -> SessionError {
    Session::login(
        profile,
        Arc::new(MemoryStore::new()),
        USER,
        Secret::new(PASSWORD),
    )
    .await
    .err()
    .expect("login must fail")
}

/// Waits for a `reconnecting` change whose reason is `reason`, with a retry pending.
async fn wait_for_proxy_reason(log: &mut EventLog, reason: Reason) {
    let what = format!("reconnecting because {reason}");
    log.wait_for(&what, Duration::from_secs(10), |e| {
        matches!(e, SessionEvent::State(c)
            if c.to.name() == "reconnecting" && c.reason == reason && c.retry_at.is_some())
    })
    .await;
}

#[tokio::test]
async fn the_auth_api_and_the_socket_both_go_through_the_profile_proxy() {
    let dir = tempdir();
    let (server, admin, ca) = tls_server(dir.path()).await;
    let proxy = TestProxy::start(None).await;
    let profile = proxied_profile(&server, &ca, &proxy.url(None));
    let (session, mut log) = login(profile, &MemoryStore::new()).await;
    log.wait_for("the first snapshot", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::Resynced { .. })
    })
    .await;
    // One tunnel for the login request, one for the socket.
    assert!(
        proxy.connects_to(&authority(&server)) >= 2,
        "proxy log: {:?}",
        proxy.log()
    );
    admin.set_status("alice", "away").unwrap();
    log.wait_for("a live update through the tunnel", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::Presence(c) if c.username == "alice" && c.to.as_deref() == Some("away"))
    })
    .await;
    // The socket lives inside the proxy's tunnel: cutting the tunnels drops it.
    let before = proxy.connects_to(&authority(&server));
    proxy.cut_tunnels();
    log.wait_for_state("reconnecting", Duration::from_secs(5))
        .await;
    log.wait_for_state("connected", Duration::from_secs(10))
        .await;
    assert!(proxy.connects_to(&authority(&server)) > before);
    session.stop().await;
    proxy.stop();
    server.shutdown().await;
}

#[tokio::test]
async fn basic_proxy_auth_works_and_wrong_credentials_give_the_407_reason() {
    let dir = tempdir();
    let (server, _admin, ca) = tls_server(dir.path()).await;
    let credentials = format!("kith:{PROXY_PASSWORD}");
    let proxy = TestProxy::start(Some(&credentials)).await;

    // Wrong credentials: the auth API's tunnel is refused with 407, said so.
    let wrong = proxied_profile(&server, &ca, &proxy.url(Some("kith:wrong")));
    match login_error(wrong).await {
        SessionError::Token(TokenError::Auth(AuthError::Proxy(ProxyProblem::AuthRequired))) => {}
        other => panic!("unexpected {other:?}"),
    }
    assert!(proxy.log().iter().any(|line| line.ends_with(" 407")));

    // Right credentials: signed in and connected through the proxy.
    let profile = proxied_profile(&server, &ca, &proxy.url(Some(&credentials)));
    let shown = format!("{profile:?}");
    assert!(!shown.contains(PROXY_PASSWORD), "{shown}");
    let store = MemoryStore::new();
    let (session, mut log) = login(profile, &store).await;
    log.wait_for_state("connected", Duration::from_secs(5))
        .await;
    assert!(proxy.connects_to(&authority(&server)) >= 2);

    // The proxy now wants other credentials: the socket's reconnects get the 407
    // reason and back off; the session stays signed in.
    proxy.set_credentials(Some("kith:rotated"));
    proxy.cut_tunnels();
    wait_for_proxy_reason(&mut log, Reason::Proxy(ProxyProblem::AuthRequired)).await;
    log.drain_for(Duration::from_secs(2)).await;
    let refused = proxy.log().iter().filter(|l| l.ends_with(" 407")).count();
    // Backoff from 100 ms to a 1 s cap: a handful of attempts in 2 s, not a storm.
    assert!(refused <= 12, "{refused} refused CONNECTs in about 2 s");
    assert!(!log
        .seen
        .iter()
        .any(|(_, e)| matches!(e, SessionEvent::SessionEnded { .. })));
    assert!(store.load(session.tokens().account()).unwrap().is_some());
    let events = format!("{:?}", log.seen);
    assert!(!events.contains(PROXY_PASSWORD));
    let shown_reason = log
        .seen
        .iter()
        .find_map(|(_, e)| match e {
            SessionEvent::State(c) if matches!(c.reason, Reason::Proxy(_)) => {
                Some(c.reason.to_string())
            }
            _ => None,
        })
        .unwrap_or_default();
    assert!(
        shown_reason.contains("407"),
        "the reason names the 407: {shown_reason}"
    );

    proxy.set_credentials(Some(&credentials));
    log.wait_for_state("connected", Duration::from_secs(10))
        .await;
    session.stop().await;
    proxy.stop();
    server.shutdown().await;
}

#[tokio::test]
async fn a_proxy_that_refuses_or_is_gone_is_a_reason_with_backoff() {
    let dir = tempdir();
    let (server, _admin, ca) = tls_server(dir.path()).await;
    let proxy = TestProxy::start(None).await;
    let profile = proxied_profile(&server, &ca, &proxy.url(None));
    let store = MemoryStore::new();
    let (session, mut log) = login(profile.clone(), &store).await;
    log.wait_for_state("connected", Duration::from_secs(5))
        .await;

    proxy.set_refuse(Some(403));
    proxy.cut_tunnels();
    wait_for_proxy_reason(&mut log, Reason::Proxy(ProxyProblem::Refused(Some(403)))).await;
    // Signing in through the refusing proxy says so too (reqwest does not report the
    // status).
    match login_error(profile.clone()).await {
        SessionError::Token(TokenError::Auth(AuthError::Proxy(ProxyProblem::Refused(_)))) => {}
        other => panic!("unexpected {other:?}"),
    }
    proxy.set_refuse(None);
    log.wait_for_state("connected", Duration::from_secs(10))
        .await;

    let port = proxy.port;
    proxy.stop();
    wait_for_proxy_reason(
        &mut log,
        Reason::Proxy(ProxyProblem::Unreachable("connection refused".into())),
    )
    .await;
    assert!(!log
        .seen
        .iter()
        .any(|(_, e)| matches!(e, SessionEvent::SessionEnded { .. })));
    assert!(store.load(session.tokens().account()).unwrap().is_some());
    session.stop().await;

    // The auth API through a proxy that is not there.
    let mut gone = profile;
    gone.proxy = Some(ProxyUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap());
    match login_error(gone).await {
        SessionError::Token(TokenError::Auth(AuthError::Proxy(ProxyProblem::Unreachable(_)))) => {}
        other => panic!("unexpected {other:?}"),
    }
    server.shutdown().await;
}
