//! A real session against the reference server on 127.0.0.1: token churn with
//! make-before-break handovers, restarts, half-open peers, rejected tokens, failing
//! refreshes, logout. Nothing is mocked: HTTP and WebSocket go over real sockets.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use kith_core::token::{AuthClient, AuthError, CredentialStore};
use kith_core::{
    ChangeCause, ConnectionState, EndReason, MemoryStore, Reason, SessionEvent, TokenManager,
};
use kith_server::{RefreshMode, ServerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_second_tokens_for_thirty_seconds_lose_and_duplicate_nothing() {
    let (server, admin) = start_server(config_with_ttl(Duration::from_secs(2))).await;
    let store = MemoryStore::new();
    let logged_in = Instant::now();
    let (session, mut log) = login(fast_profile(&server), &store).await;
    log.wait_for("the first snapshot", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::Resynced { .. })
    })
    .await;

    // Every status is unique, so a lost update shows as a gap and a duplicate as a repeat.
    let started = Instant::now();
    let mut sent = Vec::new();
    let mut i = 0u32;
    while started.elapsed() < Duration::from_secs(30) {
        i += 1;
        let status = format!("s{i}");
        admin.set_status("alice", &status).expect("set status");
        sent.push(status);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let last = sent.last().cloned().unwrap_or_default();
    log.wait_for(
        "the last update",
        Duration::from_secs(5),
        |e| matches!(e, SessionEvent::Presence(c) if c.to.as_deref() == Some(last.as_str())),
    )
    .await;
    let received = live_statuses(&log, "alice");
    assert_eq!(received.len(), sent.len(), "every update exactly once");
    assert_eq!(received, sent, "in order, none missing, none repeated");

    let counters = admin.counters();
    assert_eq!(counters.refresh_reuse, 0, "no refresh token was sent twice");
    // The server issues `exp` in whole seconds, rounded up, so a 2 s token lives 2–3 s
    // and is refreshed a quarter of its lifetime ahead: every 1.25–2.25 s.
    let elapsed = logged_in.elapsed().as_secs_f64();
    let refreshes = session.tokens().refresh_requests();
    let fewest = (elapsed / 2.25).floor() as u64 - 1;
    let most = (elapsed / 1.25).ceil() as u64 + 1;
    assert!(
        (fewest..=most).contains(&refreshes),
        "expected {fewest}..={most} refreshes in {elapsed:.1} s, got {refreshes}"
    );
    assert_eq!(counters.refreshes, refreshes);
    // Each refresh was a handover, never a reconnect.
    let states = log.states();
    assert!(
        !states
            .iter()
            .any(|s| matches!(s, ConnectionState::Reconnecting { .. })),
        "no reconnects: {states:?}"
    );
    let handovers = log
        .seen
        .iter()
        .filter(|(_, e)| matches!(e, SessionEvent::State(c) if c.reason == Reason::Handover))
        .count() as u64;
    assert!(
        handovers + 2 >= refreshes,
        "{handovers} handovers for {refreshes} refreshes"
    );
    // Rotated refresh tokens were persisted every time.
    assert_eq!(store.save_count() as u64, refreshes + 1);
    session.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_fresh_token_calls_share_one_refresh() {
    let (server, admin) = start_server(ServerConfig::in_process()).await;
    let store = MemoryStore::new();
    let tokens = TokenManager::new(fast_profile(&server), Arc::new(store.clone())).unwrap();
    tokens
        .login(USER, kith_core::Secret::new(PASSWORD))
        .await
        .unwrap();
    // A second manager resumes from the store: it holds a refresh token and no access token.
    let resumed = TokenManager::new(fast_profile(&server), Arc::new(store.clone())).unwrap();
    resumed.resume().await.unwrap();
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let tokens = resumed.clone();
            tokio::spawn(async move { tokens.fresh_token().await })
        })
        .collect();
    let mut generations = HashSet::new();
    for call in calls {
        let token = call.await.unwrap().expect("fresh token");
        generations.insert(token.generation);
    }
    assert_eq!(generations.len(), 1, "everyone got the same token");
    assert_eq!(resumed.refresh_requests(), 1);
    assert_eq!(admin.counters().refreshes, 1);
    assert_eq!(admin.counters().refresh_reuse, 0);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_reconnects_within_the_backoff_bound_and_keeps_the_session() {
    let dir = tempdir();
    let mut config = ServerConfig::in_process();
    config.db_path = Some(dir.join("kith.sqlite"));
    let (server, _admin) = start_server(config.clone()).await;
    let profile = fast_profile(&server);
    let store = MemoryStore::new();
    let (session, mut log) = login(profile.clone(), &store).await;
    log.wait_for_state("connected", Duration::from_secs(5))
        .await;

    let addr = server.addr();
    server.shutdown().await;
    log.wait_for_state("reconnecting", Duration::from_secs(5))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    config.bind = addr;
    let restarted = kith_server::spawn(config)
        .await
        .expect("restart on the same port");
    let accepting_again = Instant::now();
    let connected = log
        .wait_for_state("connected", Duration::from_secs(10))
        .await;
    let took = connected.duration_since(accepting_again);
    // The retry delay never exceeds the cap, plus the connect itself.
    assert!(
        took <= profile.reconnect.cap + Duration::from_secs(1),
        "reconnected {took:?} after the server came back"
    );
    // Same session: a live update flows without signing in again.
    restarted.admin().set_status("bob", "busy").unwrap();
    log.wait_for("bob's update", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::Presence(c) if c.username == "bob" && c.to.as_deref() == Some("busy"))
    })
    .await;
    assert!(!log
        .seen
        .iter()
        .any(|(_, e)| matches!(e, SessionEvent::SessionEnded { .. })));
    session.stop().await;
    restarted.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_server_is_detected_within_the_bound_then_reconnected() {
    let (server, admin) = start_server(ServerConfig::in_process()).await;
    let profile = fast_profile(&server);
    let bound = profile.socket.ping_interval + profile.socket.dead_grace;
    let (session, mut log) = login(profile, &MemoryStore::new()).await;
    log.wait_for_state("connected", Duration::from_secs(5))
        .await;

    admin.set_silent(true);
    let silent_since = Instant::now();
    let detected = log
        .wait_for(
            "keepalive timeout",
            Duration::from_secs(10),
            |e| matches!(e, SessionEvent::State(c) if c.reason == Reason::KeepaliveTimeout),
        )
        .await;
    let took = detected.duration_since(silent_since);
    assert!(
        took <= bound + Duration::from_millis(500),
        "detected after {took:?}, bound {bound:?}"
    );
    admin.set_silent(false);
    log.wait_for_state("connected", Duration::from_secs(10))
        .await;
    session.stop().await;
    server.shutdown().await;
}

/// Given up means quiet: with 2 s tokens, a connection that has given up makes no
/// refresh on schedule (it made 10 in 25 s before), and Reconnect now refreshes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_has_given_up_makes_no_scheduled_refresh() {
    let (server, admin) = start_server(config_with_ttl(Duration::from_secs(2))).await;
    admin.set_ws_auth_rejects_all(true);
    let store = MemoryStore::new();
    let (session, mut log) = login(fast_profile(&server), &store).await;
    log.wait_for_state("gave_up", Duration::from_secs(10)).await;
    let at_give_up = session.tokens().refresh_requests();
    // Four token lifetimes: a scheduled refresh would have run three times or more.
    log.drain_for(Duration::from_secs(8)).await;
    assert_eq!(
        session.tokens().refresh_requests(),
        at_give_up,
        "no refresh while given up"
    );
    assert_eq!(session.state(), ConnectionState::GaveUp);

    // Asked for: the socket is tried again with a fresh token.
    admin.set_ws_auth_rejects_all(false);
    session.reconnect_now();
    log.wait_for_state("connected", Duration::from_secs(10))
        .await;
    assert!(session.tokens().refresh_requests() > at_give_up);
    // And connected, the schedule runs again.
    let connected_at = session.tokens().refresh_requests();
    log.drain_for(Duration::from_secs(4)).await;
    assert!(session.tokens().refresh_requests() > connected_at);
    session.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_rejecting_every_fresh_token_gives_up_and_keeps_the_session() {
    let (server, admin) = start_server(ServerConfig::in_process()).await;
    admin.set_ws_auth_rejects_all(true);
    let store = MemoryStore::new();
    let (session, mut log) = login(fast_profile(&server), &store).await;
    log.wait_for_state("gave_up", Duration::from_secs(10)).await;
    log.drain_for(Duration::from_secs(2)).await;

    let counters = admin.counters();
    assert!(counters.connects_rejected <= 2, "{counters:?}");
    assert_eq!(counters.connects_accepted, 0);
    assert_eq!(session.tokens().refresh_requests(), 1, "one forced refresh");
    assert_eq!(session.state(), ConnectionState::GaveUp);
    assert!(log.seen.iter().any(|(_, e)| matches!(
        e,
        SessionEvent::State(change) if change.reason == kith_core::Reason::AuthRejected
    )));
    assert!(
        !log.seen
            .iter()
            .any(|(_, e)| matches!(e, SessionEvent::SessionEnded { .. })),
        "the session is not ended by a socket"
    );
    assert!(
        store.load(session.tokens().account()).unwrap().is_some(),
        "credentials are kept"
    );
    // The user retries once the server accepts tokens again.
    admin.set_ws_auth_rejects_all(false);
    session.reconnect_now();
    log.wait_for_state("connected", Duration::from_secs(10))
        .await;
    session.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_failing_with_500_keeps_the_session_and_resumes_after_recovery() {
    let (server, admin) = start_server(config_with_ttl(Duration::from_secs(2))).await;
    let store = MemoryStore::new();
    let (session, mut log) = login(fast_profile(&server), &store).await;
    log.wait_for_state("connected", Duration::from_secs(5))
        .await;

    admin.set_refresh_mode(RefreshMode::Fail500);
    log.wait_for("a deferred refresh", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::RefreshDeferred { .. })
    })
    .await;
    // The token runs out; the server closes the socket; Kith keeps trying without logging out.
    log.wait_for_state("reconnecting", Duration::from_secs(10))
        .await;
    log.drain_for(Duration::from_secs(3)).await;
    assert!(store.load(session.tokens().account()).unwrap().is_some());

    admin.set_refresh_mode(RefreshMode::Normal);
    log.wait_for_state("connected", Duration::from_secs(10))
        .await;
    assert!(!log
        .seen
        .iter()
        .any(|(_, e)| matches!(e, SessionEvent::SessionEnded { .. })));
    assert_eq!(admin.counters().refresh_reuse, 0);
    session.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_refresh_ends_the_session_once() {
    let (server, admin) = start_server(config_with_ttl(Duration::from_secs(2))).await;
    let store = MemoryStore::new();
    let (session, mut log) = login(fast_profile(&server), &store).await;
    log.wait_for_state("connected", Duration::from_secs(5))
        .await;
    admin.set_refresh_mode(RefreshMode::Reject);
    log.wait_for("session end", Duration::from_secs(10), |e| {
        matches!(
            e,
            SessionEvent::SessionEnded {
                reason: EndReason::SessionExpired
            }
        )
    })
    .await;
    log.drain_for(Duration::from_secs(3)).await;
    assert_eq!(
        admin.counters().refreshes,
        1,
        "no retry of a rejected refresh"
    );
    assert_eq!(
        session.state(),
        ConnectionState::SignedOut {
            reason: EndReason::SessionExpired
        }
    );
    assert_eq!(store.load(session.tokens().account()).unwrap(), None);
    session.stop().await;
    server.shutdown().await;
}

/// The terminal events of a log: `SessionEnded`, and any state change to signed out.
fn terminal_events(log: &EventLog) -> Vec<&SessionEvent> {
    log.seen
        .iter()
        .map(|(_, e)| e)
        .filter(|e| {
            matches!(e, SessionEvent::SessionEnded { .. })
                || matches!(e, SessionEvent::State(c) if matches!(c.to, ConnectionState::SignedOut { .. }))
        })
        .collect()
}

/// However a session ends, whether the token manager decides (a refused refresh) or
/// the socket does (close 4403), apps hear of it once: one `SessionEnded`, sent after
/// the stored credentials are gone, and the state is signed out by then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_end_is_one_event_whatever_ended_it() {
    for cause in ["refused refresh", "close 4403"] {
        // A refusal needs a refresh soon, so a short token. The close needs a socket for
        // the drop to reach: a long token keeps handovers, which open a socket the server
        // has not yet counted when the drop goes out, away from it.
        let ttl = if cause == "close 4403" { 60 } else { 2 };
        let (server, admin) = start_server(config_with_ttl(Duration::from_secs(ttl))).await;
        let store = MemoryStore::new();
        let (session, mut log) = login(fast_profile(&server), &store).await;
        log.wait_for_state("connected", Duration::from_secs(5))
            .await;
        let expected = if cause == "close 4403" {
            admin.drop_all(4403, "forbidden").unwrap();
            EndReason::Forbidden
        } else {
            admin.set_refresh_mode(RefreshMode::Reject);
            EndReason::SessionExpired
        };
        log.wait_for("the end of the session", Duration::from_secs(10), |e| {
            matches!(e, SessionEvent::SessionEnded { .. })
        })
        .await;
        assert_eq!(
            session.state(),
            ConnectionState::SignedOut { reason: expected },
            "{cause}"
        );
        assert_eq!(
            store.load(session.tokens().account()).unwrap(),
            None,
            "{cause}: cleared before the event"
        );
        log.drain_for(Duration::from_secs(1)).await;
        assert_eq!(
            terminal_events(&log),
            vec![&SessionEvent::SessionEnded { reason: expected }],
            "{cause}"
        );
        session.stop().await;
        server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_after_a_drop_resyncs_and_marks_changes_as_resync() {
    let (server, admin) = start_server(ServerConfig::in_process()).await;
    let (session, mut log) = login(fast_profile(&server), &MemoryStore::new()).await;
    log.wait_for("the first snapshot", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::Resynced { .. })
    })
    .await;
    // Silence the server so the change made meanwhile is only learned from the resync.
    admin.set_silent(true);
    admin.set_status("carol", "online").unwrap();
    log.wait_for_state("reconnecting", Duration::from_secs(10))
        .await;
    admin.set_silent(false);
    session.reconnect_now();
    log.wait_for("carol via resync", Duration::from_secs(10), |e| {
        matches!(e, SessionEvent::Presence(c) if c.username == "carol" && c.to.as_deref() == Some("online"))
    })
    .await;
    let carol = log
        .seen
        .iter()
        .rev()
        .find_map(|(_, e)| match e {
            SessionEvent::Presence(c) if c.username == "carol" => Some(c.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(carol.cause, ChangeCause::Resync);
    assert_eq!(carol.from.as_deref(), Some("offline"));
    // The app reads the same map the events describe.
    let reader = session.friends_reader();
    assert_eq!(reader.len(), FRIENDS.len());
    assert!(reader.online_names().iter().any(|name| name == "carol"));
    let friends = session.friends();
    let online = friends.iter().take_while(|f| f.is_online()).count();
    assert!(
        friends[online..].iter().all(|f| !f.is_online()),
        "online friends come first: {friends:?}"
    );
    session.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_closes_cleanly_and_never_reconnects() {
    let (server, admin) = start_server(ServerConfig::in_process()).await;
    let (session, mut log) = login(fast_profile(&server), &MemoryStore::new()).await;
    log.wait_for("the first snapshot", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::Resynced { .. })
    })
    .await;
    // The server's count follows its own bookkeeping; give it a moment either way.
    let open_sockets_settles_at = |expected: u64| {
        let admin = admin.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(2);
            while admin.counters().open_sockets != expected && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            admin.counters().open_sockets
        }
    };
    assert_eq!(open_sockets_settles_at(1).await, 1);
    session.stop().await;
    assert_eq!(open_sockets_settles_at(0).await, 0);
    let accepted = admin.counters().connects_accepted;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(admin.counters().connects_accepted, accepted);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_blacklists_the_refresh_token_and_clears_the_store() {
    let (server, admin) = start_server(ServerConfig::in_process()).await;
    let store = MemoryStore::new();
    let (session, mut log) = login(fast_profile(&server), &store).await;
    log.wait_for_state("connected", Duration::from_secs(5))
        .await;
    let account = session.tokens().account().to_string();
    let stored = store.load(&account).unwrap().expect("stored after login");
    session.logout().await.unwrap();
    assert_eq!(store.load(&account).unwrap(), None);
    let client = AuthClient::new(fast_profile(&server)).unwrap();
    let reuse = client.refresh(&stored.refresh).await;
    assert!(
        matches!(reuse, Err(AuthError::Rejected { .. })),
        "{reuse:?}"
    );
    assert_eq!(admin.counters().refresh_reuse, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_are_a_clear_error_with_no_retry() {
    let (server, admin) = start_server(ServerConfig::in_process()).await;
    let result = kith_core::Session::login(
        fast_profile(&server),
        Arc::new(MemoryStore::new()),
        USER,
        kith_core::Secret::new("wrong"),
    )
    .await;
    let Err(error) = result else {
        panic!("login with a wrong password succeeded")
    };
    let text = error.to_string();
    assert!(text.contains("401"), "{text}");
    assert!(
        !text.contains("wrong"),
        "the password is not echoed: {text}"
    );
    assert_eq!(admin.counters().logins_rejected, 1);
    server.shutdown().await;
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "kith-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
