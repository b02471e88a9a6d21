//! The faults real desktops and networks produce, each against a real kith-server (or a
//! real socket that misbehaves) on 127.0.0.1: two processes on one keyring entry, a
//! keyring that refuses saves, a logout from a process that holds no access token, an
//! auth API that never answers. Each test states the promise it tries to break.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use kith_core::token::{AuthClient, AuthError, StoredCredentials};
use kith_core::{
    ConnectionState, CredentialStore, MemoryStore, Secret, Session, SessionEvent, StoreError,
    TokenManager,
};

/// A store that refuses saves while `refuse_saves` is set, as a locked keyring does.
#[derive(Clone, Default)]
struct LockableStore {
    inner: MemoryStore,
    refuse_saves: Arc<AtomicBool>,
}

impl CredentialStore for LockableStore {
    fn load(&self, account: &str) -> Result<Option<StoredCredentials>, StoreError> {
        self.inner.load(account)
    }
    fn save(&self, account: &str, credentials: &StoredCredentials) -> Result<(), StoreError> {
        if self.refuse_saves.load(Ordering::SeqCst) {
            return Err(StoreError::Locked("the collection is locked".into()));
        }
        self.inner.save(account, credentials)
    }
    fn clear(&self, account: &str) -> Result<(), StoreError> {
        self.inner.clear(account)
    }
    fn describe(&self) -> String {
        "lockable test store".into()
    }
}

/// A store that remembers every refresh token it was asked to keep.
#[derive(Clone, Default)]
struct RecordingStore {
    inner: MemoryStore,
    saved: Arc<Mutex<Vec<Secret>>>,
}

impl CredentialStore for RecordingStore {
    fn load(&self, account: &str) -> Result<Option<StoredCredentials>, StoreError> {
        self.inner.load(account)
    }
    fn save(&self, account: &str, credentials: &StoredCredentials) -> Result<(), StoreError> {
        self.saved.lock().unwrap().push(credentials.refresh.clone());
        self.inner.save(account, credentials)
    }
    fn clear(&self, account: &str) -> Result<(), StoreError> {
        self.inner.clear(account)
    }
    fn describe(&self) -> String {
        "recording test store".into()
    }
}

fn ended(log: &EventLog) -> bool {
    log.seen
        .iter()
        .any(|(_, e)| matches!(e, SessionEvent::SessionEnded { .. }))
}

/// Promise: a refresh token is never sent twice, even by two processes sharing one
/// keyring entry (the app and the CLI). Two token managers on one store stand for the
/// two processes: they share nothing but the store and the refresh lock file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sessions_on_one_stored_session_never_reuse_a_refresh_token() {
    let (server, admin) = start_server(config_with_ttl(Duration::from_secs(2))).await;
    let store = MemoryStore::new();
    let (first, mut first_log) = login(fast_profile(&server), &store).await;
    let mut second = Session::resume(fast_profile(&server), Arc::new(store.clone()))
        .await
        .expect("the second process resumes the stored session");
    let mut second_log = EventLog::new(second.take_events().expect("events"));
    first_log
        .wait_for_state("connected", Duration::from_secs(5))
        .await;
    second_log
        .wait_for_state("connected", Duration::from_secs(5))
        .await;
    // Ten token lifetimes, with both sessions refreshing on their own schedules.
    tokio::join!(
        first_log.drain_for(Duration::from_secs(20)),
        second_log.drain_for(Duration::from_secs(20))
    );

    let counters = admin.counters();
    assert_eq!(counters.refresh_reuse, 0, "{counters:?}");
    assert_eq!(counters.refresh_rejected, 0, "{counters:?}");
    assert!(
        first.tokens().refresh_requests() >= 5 && second.tokens().refresh_requests() >= 5,
        "both kept refreshing: {} and {}",
        first.tokens().refresh_requests(),
        second.tokens().refresh_requests()
    );
    assert!(
        !ended(&first_log) && !ended(&second_log),
        "nobody signed out"
    );
    assert_eq!(first.state(), ConnectionState::Connected);
    assert_eq!(second.state(), ConnectionState::Connected);
    first.stop().await;
    second.stop().await;
    server.shutdown().await;
}

/// Promise: a keyring that refuses the rotated token neither loses the session nor
/// makes Kith refresh again and again; the save is retried until it succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyring_refusing_saves_keeps_the_session_and_saves_later() {
    let (server, admin) = start_server(config_with_ttl(Duration::from_secs(2))).await;
    let store = LockableStore::default();
    let mut session = Session::login(
        fast_profile(&server),
        Arc::new(store.clone()),
        USER,
        Secret::new(PASSWORD),
    )
    .await
    .expect("login");
    let mut log = EventLog::new(session.take_events().expect("events"));
    log.wait_for_state("connected", Duration::from_secs(5))
        .await;
    store.refuse_saves.store(true, Ordering::SeqCst);
    log.wait_for("credentials unsaved", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::CredentialsUnsaved { .. })
    })
    .await;
    let refreshes_before = admin.counters().refreshes;
    log.drain_for(Duration::from_secs(6)).await;
    let refreshes_during = admin.counters().refreshes - refreshes_before;
    // 2 s tokens refresh about every 1.5 s: a storm would be dozens in 6 s.
    assert!(
        (2..=6).contains(&refreshes_during),
        "{refreshes_during} refreshes in 6 s with a locked keyring"
    );
    assert_eq!(session.state(), ConnectionState::Connected);
    assert!(session.tokens().has_unsaved_credentials().await);

    store.refuse_saves.store(false, Ordering::SeqCst);
    log.wait_for("credentials saved", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::CredentialsSaved)
    })
    .await;
    assert!(!ended(&log));
    session.stop().await;
    // What the store holds now is the live refresh token: a new process can use it.
    let next = TokenManager::new(fast_profile(&server), Arc::new(store.clone())).unwrap();
    next.resume().await.expect("stored session");
    next.fresh_token().await.expect("the saved token refreshes");
    assert_eq!(admin.counters().refresh_reuse, 0);
    assert_eq!(admin.counters().refresh_rejected, 0);
    server.shutdown().await;
}

/// Promise: logout revokes the session on the server, even from a process that holds
/// no access token (kith-server, like stock SimpleJWT setups, authenticates logout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_from_a_fresh_process_revokes_every_refresh_token_on_the_server() {
    let (server, _admin) = start_server(config_with_ttl(Duration::from_secs(2))).await;
    let store = RecordingStore::default();
    let mut session = Session::login(
        fast_profile(&server),
        Arc::new(store.clone()),
        USER,
        Secret::new(PASSWORD),
    )
    .await
    .expect("login");
    let mut log = EventLog::new(session.take_events().expect("events"));
    log.wait_for("a refresh", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::TokenRefreshed { .. })
    })
    .await;
    session.stop().await;

    // `kith logout` in a new process: it resumes from the store and logs out.
    let fresh = TokenManager::new(fast_profile(&server), Arc::new(store.clone())).unwrap();
    fresh.resume().await.expect("stored session");
    fresh
        .logout()
        .await
        .expect("the server confirms the logout");
    assert_eq!(store.load(fresh.account()).unwrap(), None);

    // The server's side: no refresh token Kith ever held is accepted any more.
    let client = AuthClient::new(fast_profile(&server)).unwrap();
    let saved = store.saved.lock().unwrap().clone();
    assert!(
        saved.len() >= 3,
        "login, a refresh and the logout's refresh"
    );
    for (index, token) in saved.iter().enumerate() {
        let result = client.refresh(token).await;
        assert!(
            matches!(result, Err(AuthError::Rejected { status: 401, .. })),
            "refresh token #{index} still works after logout"
        );
    }
    server.shutdown().await;
}

/// Promise: nothing waits forever. An auth API that accepts the connection and never
/// answers turns into a retry within the refresh deadline, and the stored session is
/// kept (a silent server is not a rejection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auth_api_that_never_answers_becomes_a_retry_not_a_hang() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let black_hole = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut profile = kith_core::ServerProfile::simplejwt(&url);
    fast_timings(&mut profile);
    profile.auth.request_timeout = Duration::from_millis(500);
    profile.auth.refresh_timeout = Duration::from_secs(1);
    let store = MemoryStore::new();
    store
        .save(
            &profile.account_key(),
            &StoredCredentials {
                username: USER.into(),
                refresh: Secret::new("stored-refresh-token"),
            },
        )
        .unwrap();
    let mut session = Session::resume(profile, Arc::new(store.clone()))
        .await
        .expect("resume");
    let mut log = EventLog::new(session.take_events().expect("events"));
    log.wait_for_state("reconnecting", Duration::from_secs(5))
        .await;
    assert!(!ended(&log));
    assert!(
        store.load(session.tokens().account()).unwrap().is_some(),
        "the stored session is kept"
    );
    session.stop().await;
    black_hole.abort();
}
