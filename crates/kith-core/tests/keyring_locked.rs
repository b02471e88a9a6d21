//! A real keyring that locks while Kith runs: gnome-keyring's login collection is
//! locked over D-Bus after sign-in, as a screen lock or the user would. Saving the
//! rotated refresh token then fails (there is no one to answer the unlock prompt), and
//! Kith must keep the session in memory, say so, and never hang on the keyring.
//!
//! It locks the session's keyring for good, so it runs alone in its own
//! `dbus-run-session` (`cargo xtask test` does that); the general run skips it.

mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use kith_core::token::KeyringStore;
use kith_core::{ConnectionState, Secret, Session, SessionEvent};

fn lock_login_collection() {
    let output = Command::new("gdbus")
        .args([
            "call",
            "--session",
            "--dest",
            "org.freedesktop.secrets",
            "--object-path",
            "/org/freedesktop/secrets",
            "--method",
            "org.freedesktop.Secret.Service.Lock",
            "['/org/freedesktop/secrets/collection/login']",
        ])
        .output()
        .expect("gdbus runs");
    assert!(
        output.status.success(),
        "locking the keyring failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "locks the session's keyring; run alone in its own D-Bus session by `cargo xtask test`"]
async fn locked_keyring_keeps_the_session_in_memory_and_never_hangs() {
    let (server, admin) = start_server(config_with_ttl(Duration::from_secs(2))).await;
    let store = Arc::new(KeyringStore::open_with_service("kith-test-locked").expect("keyring"));
    let mut session = Session::login(fast_profile(&server), store, USER, Secret::new(PASSWORD))
        .await
        .expect("login while the keyring is unlocked");
    let mut log = EventLog::new(session.take_events().expect("events"));
    log.wait_for_state("connected", Duration::from_secs(5))
        .await;
    lock_login_collection();
    let locked = std::time::Instant::now();
    let unsaved = log
        .wait_for("credentials unsaved", Duration::from_secs(20), |e| {
            matches!(e, SessionEvent::CredentialsUnsaved { .. })
        })
        .await;
    // A keyring that is there but locked is never told as "no keyring".
    let reason = log
        .seen
        .iter()
        .find_map(|(_, e)| match e {
            SessionEvent::CredentialsUnsaved { reason } => Some(reason.clone()),
            _ => None,
        })
        .expect("the event just seen");
    println!("locked keyring: {} ({})", reason.as_str(), reason.error());
    assert!(
        matches!(reason.as_str(), "locked" | "refused"),
        "{reason:?}"
    );
    assert!(!reason.to_string().contains("no keyring"), "{reason}");
    let refreshes_before = admin.counters().refreshes;
    log.drain_for(Duration::from_secs(6)).await;
    let refreshes_during = admin.counters().refreshes - refreshes_before;
    println!(
        "locked keyring: credentials_unsaved {} ms after the lock, {refreshes_during} refreshes in 6 s",
        unsaved.duration_since(locked).as_millis()
    );
    assert!(
        (2..=6).contains(&refreshes_during),
        "{refreshes_during} refreshes in 6 s with a locked keyring"
    );
    assert_eq!(session.state(), ConnectionState::Connected);
    assert!(!log
        .seen
        .iter()
        .any(|(_, e)| matches!(e, SessionEvent::SessionEnded { .. })));
    let counters = admin.counters();
    assert_eq!(counters.refresh_reuse, 0, "{counters:?}");
    session.stop().await;
    server.shutdown().await;
}
