//! The faults real desktops and networks produce, each against a real kith-server (or a
//! real socket that misbehaves) on 127.0.0.1: two processes on one keyring entry, a
//! keyring that refuses saves, a logout from a process that holds no access token, an
//! auth API that never answers. Each test states the promise it tries to break.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use kith_core::token::{AuthClient, AuthError, StoredCredentials};
use kith_core::{
    ConnectionState, CredentialStore, MemoryStore, Secret, Session, SessionEvent, StoreError,
    TokenManager,
};
use kith_server::ServerConfig;

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

/// What a new process does with the stored session: resume it and refresh once.
async fn refresh_in_a_new_process(
    server: &kith_server::RunningServer,
    store: Arc<dyn CredentialStore>,
) {
    let next = TokenManager::new(fast_profile(server), store).unwrap();
    next.resume().await.expect("a stored session");
    next.fresh_token().await.expect("the saved token refreshes");
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
    let (mut second, username) = Session::resume(fast_profile(&server), Arc::new(store.clone()))
        .await
        .expect("the second process resumes the stored session");
    assert_eq!(username, USER, "the stored session names its user");
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
    println!(
        "fault two-sessions: refreshes {} + {}, reuse {}, signed out 0",
        first.tokens().refresh_requests(),
        second.tokens().refresh_requests(),
        counters.refresh_reuse
    );
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
    let unlocked = std::time::Instant::now();
    let saved_at = log
        .wait_for("credentials saved", Duration::from_secs(5), |e| {
            matches!(e, SessionEvent::CredentialsSaved)
        })
        .await;
    println!(
        "fault locked-keyring: {refreshes_during} refreshes in 6 s locked, saved {} ms after unlock",
        saved_at.duration_since(unlocked).as_millis()
    );
    assert!(!ended(&log));
    session.stop().await;
    // What the store holds now is the live refresh token: a new process can use it.
    refresh_in_a_new_process(&server, Arc::new(store.clone())).await;
    assert_eq!(admin.counters().refresh_reuse, 0);
    assert_eq!(admin.counters().refresh_rejected, 0);
    server.shutdown().await;
}

/// Promise: logout revokes the session on the server, even from a process that holds
/// no access token (kith-server, like stock SimpleJWT setups, authenticates logout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_from_a_fresh_process_revokes_every_refresh_token_on_the_server() {
    let (server, _admin) = start_server(config_with_ttl(Duration::from_secs(2))).await;
    let store = MemoryStore::new();
    let (session, mut log) = login(fast_profile(&server), &store).await;
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
    let saved = store.saved_tokens();
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
    let (mut session, _) = Session::resume(profile, Arc::new(store.clone()))
        .await
        .expect("resume");
    let mut log = EventLog::new(session.take_events().expect("events"));
    let started = std::time::Instant::now();
    log.wait_for_state("reconnecting", Duration::from_secs(5))
        .await;
    println!(
        "fault silent-auth-api: reconnecting after {} ms (refresh deadline 1 s)",
        started.elapsed().as_millis()
    );
    assert!(!ended(&log));
    assert!(
        store.load(session.tokens().account()).unwrap().is_some(),
        "the stored session is kept"
    );
    session.stop().await;
    black_hole.abort();
}

/// Promise: a refresh token the server rotated is never lost, even when the future
/// that asked for the refresh is dropped after the server acted (Quit, Ctrl-C).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_cancelled_after_the_server_rotated_keeps_the_new_token() {
    let (server, admin) = start_server(config_with_ttl(Duration::from_secs(60))).await;
    let store = MemoryStore::new();
    let tokens = TokenManager::new(fast_profile(&server), Arc::new(store.clone())).unwrap();
    tokens.login(USER, Secret::new(PASSWORD)).await.unwrap();
    let before = store.load(tokens.account()).unwrap().unwrap().refresh;
    admin.set_refresh_delay(Duration::from_millis(800));
    // The caller gives up while the server is answering: it has rotated already.
    let cancelled = tokio::time::timeout(Duration::from_millis(200), tokens.force_refresh(1)).await;
    assert!(cancelled.is_err(), "the caller was cut off");
    // The refresh goes on without its caller: wait (bounded) for the rotated token.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let after = loop {
        let stored = store.load(tokens.account()).unwrap().unwrap().refresh;
        if stored != before || std::time::Instant::now() > deadline {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    admin.set_refresh_delay(Duration::ZERO);
    assert_ne!(after, before, "the rotated token was saved");
    assert!(admin.refresh_token_is_valid(after.expose()));
    // A new process starts from what was saved, and nothing is reused.
    refresh_in_a_new_process(&server, Arc::new(store.clone())).await;
    let counters = admin.counters();
    assert_eq!(counters.refresh_reuse, 0, "{counters:?}");
    assert_eq!(counters.refresh_rejected, 0, "{counters:?}");
    server.shutdown().await;
}

/// Promise: stopping a session while a refresh is in flight waits for it, so the next
/// start resumes with the rotated token instead of a blacklisted one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_during_a_refresh_then_restarting_resumes_the_session() {
    let (server, admin) = start_server(config_with_ttl(Duration::from_secs(2))).await;
    let store = MemoryStore::new();
    let (session, mut log) = login(fast_profile(&server), &store).await;
    log.wait_for_state("connected", Duration::from_secs(5))
        .await;
    // The refresh is due about 1.5 s after login; make it last 1.5 s, and stop meanwhile.
    admin.set_refresh_delay(Duration::from_millis(1_500));
    let refreshes = admin.counters().refreshes;
    while admin.counters().refreshes == refreshes {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopping = std::time::Instant::now();
    session.stop().await;
    println!(
        "fault stop-during-refresh: stop waited {} ms for the refresh",
        stopping.elapsed().as_millis()
    );
    admin.set_refresh_delay(Duration::ZERO);

    let stored = store
        .load(&fast_profile(&server).account_key())
        .unwrap()
        .unwrap();
    assert!(
        admin.refresh_token_is_valid(stored.refresh.expose()),
        "the stored refresh token is the rotated one"
    );
    let (mut restarted, _) = Session::resume(fast_profile(&server), Arc::new(store.clone()))
        .await
        .expect("resume");
    let mut log = EventLog::new(restarted.take_events().expect("events"));
    log.wait_for_state("connected", Duration::from_secs(5))
        .await;
    let counters = admin.counters();
    assert_eq!(counters.refresh_reuse, 0, "{counters:?}");
    assert_eq!(counters.refresh_rejected, 0, "{counters:?}");
    assert!(!ended(&log));
    restarted.stop().await;
    server.shutdown().await;
}

/// A profile whose refresh requests give up after 500 ms.
fn impatient_profile(server: &kith_server::RunningServer) -> kith_core::ServerProfile {
    let mut profile = fast_profile(server);
    profile.auth.request_timeout = Duration::from_millis(500);
    profile.auth.refresh_timeout = Duration::from_millis(500);
    profile
}

/// A session whose refresh timed out after the server rotated (the server answers
/// after 1.5 s, Kith gives up after 500 ms); the server answers at once again after it.
async fn lose_a_refresh_answer(
    reuse_interval: Duration,
) -> (
    kith_server::RunningServer,
    kith_server::AdminHandle,
    Session,
    EventLog,
) {
    let mut config = config_with_ttl(Duration::from_secs(2));
    config.reuse_interval = reuse_interval;
    let (server, admin) = start_server(config).await;
    let (session, mut log) = login(impatient_profile(&server), &MemoryStore::new()).await;
    log.wait_for_state("connected", Duration::from_secs(5))
        .await;
    admin.set_refresh_delay(Duration::from_millis(1_500));
    log.wait_for("a deferred refresh", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::RefreshDeferred { .. })
    })
    .await;
    admin.set_refresh_delay(Duration::ZERO);
    (server, admin, session, log)
}

/// Promise: a refresh that timed out after the server rotated does not sign the user
/// out when the server has a reuse interval: the retry gets the same successor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_after_rotation_recovers_within_the_servers_reuse_interval() {
    let (server, admin, session, mut log) = lose_a_refresh_answer(Duration::from_secs(30)).await;
    let answering = std::time::Instant::now();
    let recovered = log
        .wait_for("a refresh", Duration::from_secs(5), |e| {
            matches!(e, SessionEvent::TokenRefreshed { .. })
        })
        .await;
    println!(
        "fault timeout-after-rotation (reuse interval): refreshed {} ms after the server answered again",
        recovered.duration_since(answering).as_millis()
    );
    log.drain_for(Duration::from_secs(3)).await;
    let counters = admin.counters();
    assert_eq!(counters.refresh_reuse, 0, "{counters:?}");
    assert!(counters.refresh_reuse_within_grace >= 1, "{counters:?}");
    assert!(!ended(&log));
    assert_eq!(session.state(), ConnectionState::Connected);
    session.stop().await;
    server.shutdown().await;
}

/// Promise: without a reuse interval, the same fault ends the session once, with its
/// own reason (`refresh_lost`) and a message that says what happened; nothing loops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_after_rotation_without_a_reuse_interval_ends_as_refresh_lost() {
    let (server, admin, session, mut log) = lose_a_refresh_answer(Duration::ZERO).await;
    log.wait_for("the end of the session", Duration::from_secs(5), |e| {
        matches!(
            e,
            SessionEvent::SessionEnded {
                reason: kith_core::EndReason::RefreshLost
            }
        )
    })
    .await;
    log.drain_for(Duration::from_secs(2)).await;
    assert_eq!(
        session.state(),
        ConnectionState::SignedOut {
            reason: kith_core::EndReason::RefreshLost
        }
    );
    assert!(kith_core::EndReason::RefreshLost
        .message()
        .contains("no answer in time"));
    let counters = admin.counters();
    assert_eq!(counters.refresh_reuse, 1, "exactly one reuse: {counters:?}");
    assert!(counters.refreshes <= 3, "no loop: {counters:?}");
    println!(
        "fault timeout-after-rotation (no interval): {} refreshes, reuse {}, ended refresh_lost",
        counters.refreshes, counters.refresh_reuse
    );
    session.stop().await;
    server.shutdown().await;
}

/// Promise: only the auth API's 400/401 ends a session. A proxy's 404 or 407, a WAF's
/// 403, a redirect or a 405 during a deploy is retried with backoff, and the stored
/// credentials stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_answers_that_are_not_a_rejection_keep_the_session() {
    let (server, admin) = start_server(config_with_ttl(Duration::from_secs(2))).await;
    let store = MemoryStore::new();
    let (session, mut log) = login(fast_profile(&server), &store).await;
    log.wait_for_state("connected", Duration::from_secs(5))
        .await;
    for status in [403u16, 404, 405, 407, 302] {
        admin.set_refresh_mode(kith_server::RefreshMode::Status(status));
        let wanted = format!("HTTP {status}");
        log.wait_for(&wanted, Duration::from_secs(5), |e| {
            matches!(e, SessionEvent::RefreshDeferred { reason, .. } if reason.contains(&wanted))
        })
        .await;
        assert!(!ended(&log), "HTTP {status} ended the session");
        assert!(
            store.load(session.tokens().account()).unwrap().is_some(),
            "HTTP {status} cleared the credentials"
        );
    }
    admin.set_refresh_mode(kith_server::RefreshMode::Normal);
    log.wait_for("a refresh", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::TokenRefreshed { .. })
    })
    .await;
    let counters = admin.counters();
    assert_eq!(counters.refresh_reuse, 0, "{counters:?}");
    assert!(!ended(&log));
    session.stop().await;
    server.shutdown().await;
}

/// Promise: the password never leaves for another origin. A login answered with a
/// redirect is not followed (reqwest would resend the body to the new address).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_redirects_to_another_origin_are_not_followed() {
    let (server, admin) = start_server(ServerConfig::in_process()).await;
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/collect", elsewhere.local_addr().unwrap());
    admin.set_auth_redirect(Some(&target)).unwrap();
    let contacted = Arc::new(AtomicBool::new(false));
    let watcher = {
        let contacted = contacted.clone();
        tokio::spawn(async move {
            if elsewhere.accept().await.is_ok() {
                contacted.store(true, Ordering::SeqCst);
            }
        })
    };
    let result = Session::login(
        fast_profile(&server),
        Arc::new(MemoryStore::new()),
        USER,
        Secret::new(PASSWORD),
    )
    .await;
    match result {
        Err(kith_core::SessionError::Token(kith_core::TokenError::Auth(
            AuthError::UnexpectedStatus { status: 307, .. },
        ))) => {}
        Err(other) => panic!("expected an unexpected-status error, got {other}"),
        Ok(_) => panic!("a redirected login succeeded"),
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !contacted.load(Ordering::SeqCst),
        "the redirect was followed"
    );
    watcher.abort();
    server.shutdown().await;
}

/// An auth API on a real socket that answers every request with this access token.
async fn serve_access_token(access: String) -> (String, tokio::task::JoinHandle<()>) {
    serve_body(serde_json::json!({"access": access, "refresh": "r"}).to_string()).await
}

/// An auth API on a real socket that answers every request 200 with this body.
async fn serve_body(body: String) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = vec![0u8; 16 * 1024];
                let _ = socket.read(&mut request).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (url, task)
}

/// Promise: hostile input never panics. A server handing out `exp`/`iat` near
/// `u64::MAX`, as huge floats, or decades away, gets a typed error at login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_token_claims_from_the_server_are_refused_without_a_panic() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let hostile = [
        serde_json::json!({"exp": u64::MAX, "iat": 0}),
        serde_json::json!({"exp": u64::MAX, "iat": u64::MAX - 5}),
        serde_json::json!({"exp": 1.0e300, "iat": now}),
        serde_json::json!({"exp": now + 20 * 365 * 86_400, "iat": now}),
        serde_json::json!({"exp": 1, "iat": 0}),
    ];
    for claims in hostile {
        let access = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"server-only"),
        )
        .unwrap();
        let (url, server) = serve_access_token(access).await;
        let store = MemoryStore::new();
        let result = Session::login(
            kith_core::ServerProfile::simplejwt(&url),
            Arc::new(store.clone()),
            USER,
            Secret::new(PASSWORD),
        )
        .await;
        assert!(
            matches!(
                result,
                Err(kith_core::SessionError::Token(
                    kith_core::TokenError::Claims(_)
                ))
            ),
            "claims {claims} were not refused with a typed error"
        );
        assert_eq!(store.save_count(), 0, "nothing was stored for {claims}");
        server.abort();
    }
}

/// Promise: a response too large to be tokens is refused with a typed error, not read
/// into memory whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_auth_response_is_refused_with_a_typed_error() {
    let body = format!("{{\"access\": \"{}\"}}", "x".repeat(4 * 1024 * 1024));
    let (url, server) = serve_body(body).await;
    let result = Session::login(
        kith_core::ServerProfile::simplejwt(&url),
        Arc::new(MemoryStore::new()),
        USER,
        Secret::new(PASSWORD),
    )
    .await;
    assert!(
        matches!(
            result,
            Err(kith_core::SessionError::Token(kith_core::TokenError::Auth(
                AuthError::ResponseTooLarge { .. }
            )))
        ),
        "not refused as too large"
    );
    server.abort();
}

/// A captive portal on 127.0.0.1: every request, whatever it asks, gets `200` and a
/// Wi-Fi login page.
async fn captive_portal() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let page = "<!DOCTYPE html><html><body>Sign in to Airport Wi-Fi</body></html>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

/// A web page where the auth API should be is said to be one, as a typed, transient
/// reason, not "expected a JSON object, got 140 bytes of something else".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captive_portal_at_the_auth_api_is_named_as_a_web_page() {
    let portal = captive_portal().await;
    let mut profile = kith_core::ServerProfile::simplejwt(format!("http://{portal}"));
    fast_timings(&mut profile);
    let client = AuthClient::new(profile).unwrap();
    let error = client
        .login("me", &Secret::new("pw"))
        .await
        .expect_err("a portal grants nothing");
    assert_eq!(error, AuthError::WebPage { status: 200 });
    assert!(error.is_transient(), "Kith keeps trying");
    let shown = error.to_string();
    assert!(
        shown.contains("web page") && shown.contains("captive portal"),
        "{shown}"
    );
}

/// The same for the socket: an upgrade answered with a login page is a typed
/// `web_page` reason, retried, and the session is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captive_portal_at_the_socket_is_named_as_a_web_page_and_the_session_kept() {
    let (server, _admin) = start_server(ServerConfig::in_process()).await;
    let portal = captive_portal().await;
    let mut profile = fast_profile(&server);
    profile.ws_url = format!("ws://{portal}/ws/friends/status/");
    let store = MemoryStore::new();
    let (session, mut log) = login(profile, &store).await;
    log.wait_for(
        "a web-page reason",
        Duration::from_secs(10),
        |e| matches!(e, SessionEvent::State(c) if c.reason == kith_core::Reason::WebPage(kith_core::socket::WebPageAt::Socket)),
    )
    .await;
    log.drain_for(Duration::from_secs(1)).await;
    assert!(!ended(&log), "a portal never ends the session");
    assert!(matches!(
        session.state(),
        ConnectionState::Reconnecting { .. } | ConnectionState::Connecting { .. }
    ));
    let summary = log
        .seen
        .iter()
        .rev()
        .find_map(|(_, e)| match e {
            SessionEvent::State(c) if c.reason.code() == "web_page" => Some(c.summary()),
            _ => None,
        })
        .expect("a web_page state change");
    assert!(summary.detail.contains("web page"), "{}", summary.detail);
    session.stop().await;
    server.shutdown().await;
}
