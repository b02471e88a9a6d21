//! Kith over HTTPS and WSS against the reference server with a CA made at test time:
//! the whole session works when the CA is trusted through `tls.ca_file`, and each kind
//! of bad certificate (unknown issuer, expired, wrong host) is a typed reason in the
//! state change, for the socket and for the auth API, with no sign-out and no retries.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::pki::{tempdir, Ca};
use common::*;
use kith_core::protocol::ServerProfile;
use kith_core::token::AuthError;
use kith_core::{
    CertProblem, CredentialStore, MemoryStore, Reason, Secret, Session, SessionError, SessionEvent,
    TokenError,
};
use kith_server::{RunningServer, ServerConfig, ServerTls};

fn tls_config(tls: ServerTls, access_ttl: Duration) -> ServerConfig {
    let mut config = config_with_ttl(access_ttl);
    config.tls = Some(tls);
    config
}

fn profile_for(server: &RunningServer, ca: Option<&Ca>) -> ServerProfile {
    let mut profile = fast_profile(server);
    profile.tls.ca_file = ca.map(|ca| ca.pem_file.clone());
    profile
}

#[tokio::test]
async fn login_live_updates_a_refresh_handover_and_a_restart_all_over_tls() {
    let dir = tempdir();
    let ca = Ca::new(dir.path(), "private");
    let tls = ca.good_cert(dir.path(), "server");
    let mut config = tls_config(tls, Duration::from_secs(2));
    config.db_path = Some(dir.path().join("kith.sqlite"));
    let (server, admin) = start_server(config.clone()).await;
    assert!(server.http_url().starts_with("https://"));
    assert!(server.ws_url().starts_with("wss://"));
    let profile = profile_for(&server, Some(&ca));
    let store = MemoryStore::new();
    let (session, mut log) = login(profile, &store).await;
    log.wait_for("the first snapshot", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::Resynced { .. })
    })
    .await;

    admin.set_status("alice", "away").expect("set status");
    log.wait_for("alice's live update", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::Presence(c) if c.username == "alice" && c.to.as_deref() == Some("away"))
    })
    .await;

    // 2 s tokens: a refresh within a few seconds, and a make-before-break handover.
    log.wait_for(
        "a handover after a refresh",
        Duration::from_secs(8),
        |e| matches!(e, SessionEvent::State(c) if c.reason == Reason::Handover),
    )
    .await;
    admin.set_status("alice", "online").expect("set status");
    log.wait_for("an update on the new socket", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::Presence(c) if c.username == "alice" && c.to.as_deref() == Some("online"))
    })
    .await;

    let addr = server.addr();
    server.shutdown().await;
    log.wait_for_state("reconnecting", Duration::from_secs(5))
        .await;
    config.bind = addr;
    let restarted = kith_server::spawn(config)
        .await
        .expect("restart on the same port");
    log.wait_for_state("connected", Duration::from_secs(10))
        .await;
    restarted.admin().set_status("bob", "busy").unwrap();
    log.wait_for("bob's update after the restart", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::Presence(c) if c.username == "bob" && c.to.as_deref() == Some("busy"))
    })
    .await;
    assert_eq!(restarted.admin().counters().refresh_reuse, 0);
    assert!(!log
        .seen
        .iter()
        .any(|(_, e)| matches!(e, SessionEvent::SessionEnded { .. })));
    session.stop().await;
    restarted.shutdown().await;
}

/// A server certificate with the given problem, made from the trusted CA, an untrusted CA
/// and the temp dir.
fn bad_cert(kind: &CertProblem, trusted: &Ca, untrusted: &Ca, dir: &std::path::Path) -> ServerTls {
    let now = time::OffsetDateTime::now_utc();
    match kind {
        CertProblem::UnknownIssuer => untrusted.good_cert(dir, "untrusted"),
        CertProblem::Expired => trusted.server_cert(
            dir,
            "expired",
            &["localhost", "127.0.0.1"],
            now - time::Duration::days(30),
            now - time::Duration::days(1),
        ),
        CertProblem::WrongHost => trusted.server_cert(
            dir,
            "wrong-host",
            &["chat.example.com"],
            now - time::Duration::days(1),
            now + time::Duration::days(30),
        ),
        other => panic!("no case for {other:?}"),
    }
}

const CASES: [CertProblem; 3] = [
    CertProblem::UnknownIssuer,
    CertProblem::Expired,
    CertProblem::WrongHost,
];

/// The auth API is fine; the socket's server presents a bad certificate. The session
/// stops in gave_up with the typed reason at once, stays signed in, and tries nothing
/// more on its own.
async fn socket_certificate_case(kind: CertProblem) {
    let dir = tempdir();
    let trusted = Ca::new(dir.path(), "trusted");
    let untrusted = Ca::new(dir.path(), "untrusted");
    let (server, _admin) = start_server(tls_config(
        trusted.good_cert(dir.path(), "good"),
        Duration::from_secs(60),
    ))
    .await;
    let bad = kith_server::spawn(tls_config(
        bad_cert(&kind, &trusted, &untrusted, dir.path()),
        Duration::from_secs(60),
    ))
    .await
    .expect("bad server");
    let mut profile = profile_for(&server, Some(&trusted));
    profile.ws_url = bad.ws_url();
    let store = MemoryStore::new();
    let (session, mut log) = login(profile, &store).await;
    let at = log
        .wait_for(
            "gave_up with the certificate reason",
            Duration::from_secs(5),
            |e| matches!(e, SessionEvent::State(c) if c.to.name() == "gave_up"),
        )
        .await;
    let change = log
        .seen
        .iter()
        .rev()
        .find_map(|(_, e)| match e {
            SessionEvent::State(c) => Some(c.clone()),
            _ => None,
        })
        .expect("a state change");
    assert_eq!(
        change.reason,
        Reason::Certificate(kind.clone()),
        "{change:?}"
    );
    assert_eq!(change.reason.code(), kind.code());
    assert_eq!(change.retry_at, None);
    if kind == CertProblem::UnknownIssuer {
        assert!(
            change.reason.to_string().contains("tls.ca_file"),
            "{}",
            change.reason
        );
    }
    // No retry storm: nothing more happens on its own (backoff here starts at 100 ms).
    log.drain_for(Duration::from_secs(2)).await;
    let later = log.seen.iter().filter(|(t, _)| *t > at).count();
    assert_eq!(later, 0, "events after gave_up: {:#?}", log.seen);
    assert_eq!(bad.admin().counters().connects_accepted, 0);
    // Still signed in: the credentials are kept.
    assert!(store.load(session.tokens().account()).unwrap().is_some());
    session.stop().await;
    bad.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_socket_with_an_unknown_issuer_stops_in_gave_up_naming_tls_ca_file() {
    socket_certificate_case(CertProblem::UnknownIssuer).await;
}

#[tokio::test]
async fn a_socket_with_an_expired_certificate_stops_in_gave_up() {
    socket_certificate_case(CertProblem::Expired).await;
}

#[tokio::test]
async fn a_socket_with_a_certificate_for_another_host_stops_in_gave_up() {
    socket_certificate_case(CertProblem::WrongHost).await;
}

/// The auth API's certificate is bad: signing in says why, and a resumed session
/// (whose first refresh hits it) stops in gave_up with the reason, still signed in.
#[tokio::test]
async fn an_auth_api_with_a_bad_certificate_gives_the_typed_reason() {
    let dir = tempdir();
    let trusted = Ca::new(dir.path(), "trusted");
    let untrusted = Ca::new(dir.path(), "untrusted");
    for kind in CASES {
        let config = tls_config(
            bad_cert(&kind, &trusted, &untrusted, dir.path()),
            Duration::from_secs(60),
        );
        let (server, admin) = start_server(config).await;
        let profile = profile_for(&server, Some(&trusted));
        let store = MemoryStore::new();
        let error = Session::login(
            profile.clone(),
            Arc::new(store.clone()),
            USER,
            Secret::new(PASSWORD),
        )
        .await
        .err()
        .expect("login must fail");
        match &error {
            SessionError::Token(TokenError::Auth(AuthError::Certificate(problem))) => {
                assert_eq!(problem, &kind)
            }
            other => panic!("{kind:?}: unexpected {other:?}"),
        }
        assert_eq!(admin.counters().logins_rejected, 0);

        // A stored session whose refresh meets the bad certificate.
        store
            .save(
                &profile.account_key(),
                &kith_core::token::StoredCredentials {
                    username: USER.into(),
                    refresh: Secret::new("stored-refresh-token"),
                },
            )
            .expect("save");
        let (mut session, username) = Session::resume(profile, Arc::new(store.clone()))
            .await
            .expect("resume");
        assert_eq!(username, USER);
        let mut log = EventLog::new(session.take_events().expect("events"));
        log.wait_for("gave_up", Duration::from_secs(5), |e| {
            matches!(e, SessionEvent::State(c) if c.to.name() == "gave_up" && c.reason == Reason::Certificate(kind.clone()))
        })
        .await;
        log.drain_for(Duration::from_millis(500)).await;
        assert!(!log
            .seen
            .iter()
            .any(|(_, e)| matches!(e, SessionEvent::SessionEnded { .. })));
        session.stop().await;
        server.shutdown().await;
    }
}

/// Without `tls.ca_file` a private CA is unknown; the message says how to fix it.
#[tokio::test]
async fn without_ca_file_a_private_ca_is_an_unknown_issuer() {
    let dir = tempdir();
    let ca = Ca::new(dir.path(), "private");
    let (server, _admin) = start_server(tls_config(
        ca.good_cert(dir.path(), "server"),
        Duration::from_secs(60),
    ))
    .await;
    let error = Session::login(
        profile_for(&server, None),
        Arc::new(MemoryStore::new()),
        USER,
        Secret::new(PASSWORD),
    )
    .await
    .err()
    .expect("login must fail");
    assert!(
        error.to_string().contains("add its CA with tls.ca_file"),
        "{error}"
    );
    server.shutdown().await;
}
