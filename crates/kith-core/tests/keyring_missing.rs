//! With no D-Bus session bus at all, the OS keyring is a clear `NoKeyring` (never a
//! panic, never a silent fallback to a file), and a sign-in through it still works:
//! for this run only, with the refresh token in memory, told as the session's first
//! event, and never re-announced at each refresh. Its own test binary, because it
//! points this process's D-Bus address at nothing; it needs no desktop session, so it
//! runs in a plain `cargo test`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use kith_core::token::{CredentialStore, KeyringStore, StoreError, StoredCredentials};
use kith_core::{
    ConnectionState, Secret, Session, SessionError, SessionEvent, TokenError, TokenManager,
    NO_KEYRING_MESSAGE,
};

fn no_keyring_detail(result: Result<impl std::fmt::Debug, StoreError>) -> String {
    match result {
        Err(StoreError::NoKeyring(detail)) => detail,
        other => panic!("expected NoKeyring, got {other:?}"),
    }
}

#[test]
fn no_session_bus_signs_in_for_this_run_only_and_says_so() {
    // Before any thread exists: this process has no session bus from here on.
    std::env::set_var(
        "DBUS_SESSION_BUS_ADDRESS",
        "unix:path=/nonexistent/kith-no-bus",
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // The store opens (it looks again at each use), and every call says why it cannot.
    let store = KeyringStore::open_with_service("kith-test-missing").expect("opens lazily");
    let detail = no_keyring_detail(store.load("http://127.0.0.1:1"));
    assert!(detail.contains("D-Bus session bus"), "{detail}");
    let credentials = StoredCredentials {
        username: "me".into(),
        refresh: Secret::new("not.a.real.token"),
    };
    no_keyring_detail(store.save("http://127.0.0.1:1", &credentials));
    no_keyring_detail(store.clear("http://127.0.0.1:1"));
    assert_eq!(
        store.load("x").unwrap_err().to_string(),
        format!("no keyring is running: {detail}")
    );

    runtime.block_on(async {
        let (server, admin) = start_server(config_with_ttl(Duration::from_secs(2))).await;
        let store = Arc::new(store);
        let mut session = Session::login(
            fast_profile(&server),
            store.clone(),
            USER,
            Secret::new(PASSWORD),
        )
        .await
        .expect("a sign-in works without a keyring");
        let mut log = EventLog::new(session.take_events().expect("events"));
        log.wait_for_state("connected", Duration::from_secs(5))
            .await;
        // The sign-in's own report is the first event, typed, with the one message.
        match &log.seen[0].1 {
            SessionEvent::CredentialsUnsaved { reason } => {
                assert!(reason.is_no_keyring(), "{reason:?}");
                assert_eq!(reason.as_str(), "no_keyring");
                assert_eq!(reason.to_string(), NO_KEYRING_MESSAGE);
            }
            other => panic!("the first event is {other:?}"),
        }
        assert!(session.tokens().has_unsaved_credentials().await);
        // 2 s tokens: refreshes go on in memory; the session is told once, not each time.
        let refreshes_before = admin.counters().refreshes;
        log.drain_for(Duration::from_secs(5)).await;
        assert!(admin.counters().refreshes >= refreshes_before + 2);
        let told = log
            .seen
            .iter()
            .filter(|(_, e)| matches!(e, SessionEvent::CredentialsUnsaved { .. }))
            .count();
        assert_eq!(told, 1, "{:#?}", log.seen);
        assert!(!log
            .seen
            .iter()
            .any(|(_, e)| matches!(e, SessionEvent::SessionEnded { .. })));
        assert_eq!(session.state(), ConnectionState::Connected);
        assert_eq!(admin.counters().refresh_reuse, 0);

        // Nothing was remembered: a new start finds no session to resume.
        match Session::resume(fast_profile(&server), store.clone()).await {
            Err(SessionError::Token(TokenError::Store(StoreError::NoKeyring(_)))) => {}
            Err(other) => panic!("expected NoKeyring, got {other:?}"),
            Ok(_) => panic!("resumed a session that was never stored"),
        }
        let fresh = TokenManager::new(fast_profile(&server), store.clone()).unwrap();
        assert!(matches!(
            fresh.resume().await,
            Err(TokenError::Store(StoreError::NoKeyring(_)))
        ));
        session.stop().await;
        server.shutdown().await;
    });
}
