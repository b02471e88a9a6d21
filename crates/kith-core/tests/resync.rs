//! No silent gaps with a backend whose socket sends no snapshot, against the reference
//! server on 127.0.0.1 with its snapshots turned off: a resync endpoint brings what
//! was missed while disconnected, an older listing never overwrites a newer live update,
//! a failing endpoint is reported once per connect and never ends the session, and
//! without any way to resync the friends are marked stale since the disconnect.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use kith_core::protocol::ServerProfile;
use kith_core::{ChangeCause, MemoryStore, SessionEvent};
use kith_server::{RunningServer, ServerConfig};

/// A profile for a server that sends no snapshot, with `resync_path` as its resync
/// endpoint.
fn no_snapshot_profile(server: &RunningServer, resync_path: Option<&str>) -> ServerProfile {
    let mut profile = fast_profile(server);
    profile.socket.snapshot_on_connect = false;
    profile.resync.http_path = resync_path.map(str::to_owned);
    profile
}

fn count(log: &EventLog, pred: impl Fn(&SessionEvent) -> bool) -> usize {
    log.seen.iter().filter(|(_, e)| pred(e)).count()
}

fn last_change(log: &EventLog, friend: &str) -> kith_core::PresenceChange {
    log.seen
        .iter()
        .rev()
        .find_map(|(_, e)| match e {
            SessionEvent::Presence(c) if c.username == friend => Some(c.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no change of {friend}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_missed_while_disconnected_arrives_through_the_resync_endpoint() {
    let (server, admin) = start_server(ServerConfig::in_process()).await;
    admin.set_snapshots(false);
    admin.set_status("alice", "online").unwrap();
    let profile = no_snapshot_profile(&server, Some("/api/friends/"));
    let (session, mut log) = login(profile, &MemoryStore::new()).await;
    // The first connect learns the friends from the endpoint.
    log.wait_for("the first resync", Duration::from_secs(5), |e| {
        matches!(
            e,
            SessionEvent::Resynced {
                friends: 3,
                online: 1
            }
        )
    })
    .await;
    assert_eq!(session.friends_reader().len(), FRIENDS.len());

    // Silence the server: the change is made while Kith is disconnected, and the new
    // socket sends no snapshot, so only the endpoint can tell.
    admin.set_silent(true);
    admin.set_status("carol", "away").unwrap();
    log.wait_for_state("reconnecting", Duration::from_secs(10))
        .await;
    admin.set_silent(false);
    session.reconnect_now();
    log.wait_for("carol via the resync endpoint", Duration::from_secs(10), |e| {
        matches!(e, SessionEvent::Presence(c) if c.username == "carol" && c.to.as_deref() == Some("away"))
    })
    .await;
    let carol = last_change(&log, "carol");
    assert_eq!(carol.cause, ChangeCause::Resync);
    assert_eq!(carol.from.as_deref(), Some("offline"));
    log.drain_for(Duration::from_millis(300)).await;
    assert_eq!(
        count(&log, |e| matches!(e, SessionEvent::PresenceStale { .. })),
        0,
        "a resync leaves nothing stale"
    );
    assert_eq!(session.friends_reader().stale_since(), None);
    // Live updates still flow, as live.
    admin.set_status("bob", "online").unwrap();
    log.wait_for("bob live", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::Presence(c) if c.username == "bob" && c.cause == ChangeCause::Live)
    })
    .await;
    session.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_resync_listing_never_overwrites_a_newer_live_update() {
    let (server, admin) = start_server(ServerConfig::in_process()).await;
    admin.set_snapshots(false);
    // The endpoint reads the list (bob offline), then takes a second to answer.
    admin.set_friends_delay(Duration::from_secs(1));
    let profile = no_snapshot_profile(&server, Some("/api/friends/"));
    let (session, mut log) = login(profile, &MemoryStore::new()).await;
    log.wait_for_state("connected", Duration::from_secs(5))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_until_server_accepted(&admin, 1).await;
    admin.set_status("bob", "online").unwrap();
    log.wait_for("bob live", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::Presence(c) if c.username == "bob" && c.cause == ChangeCause::Live)
    })
    .await;
    log.wait_for("the late resync", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::Resynced { .. })
    })
    .await;
    let bob = session
        .friends()
        .into_iter()
        .find(|f| f.username == "bob")
        .expect("bob");
    assert_eq!(bob.status, "online", "the live update stands");
    assert_eq!(last_change(&log, "bob").cause, ChangeCause::Live);
    assert_eq!(session.friends_reader().len(), FRIENDS.len());
    session.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_resync_endpoint_is_reported_once_per_connect_and_the_session_goes_on() {
    let (server, admin) = start_server(ServerConfig::in_process()).await;
    admin.set_snapshots(false);
    let profile = no_snapshot_profile(&server, Some("/api/no-such-list/"));
    let (session, mut log) = login(profile, &MemoryStore::new()).await;
    log.wait_for(
        "the failed resync",
        Duration::from_secs(5),
        |e| matches!(e, SessionEvent::ResyncFailed { reason } if reason.contains("404")),
    )
    .await;
    wait_until_server_accepted(&admin, 1).await;
    admin.set_status("alice", "online").unwrap();
    log.wait_for(
        "alice live",
        Duration::from_secs(5),
        |e| matches!(e, SessionEvent::Presence(c) if c.username == "alice"),
    )
    .await;
    let dropped_at = SystemTime::now();
    admin.drop_all(1012, "restarting").unwrap();
    log.wait_for(
        "stale after the failed resync",
        Duration::from_secs(10),
        |e| matches!(e, SessionEvent::PresenceStale { .. }),
    )
    .await;
    log.drain_for(Duration::from_secs(1)).await;
    assert_eq!(
        count(&log, |e| matches!(e, SessionEvent::ResyncFailed { .. })),
        2,
        "one attempt per connect, no loop"
    );
    assert!(session.friends_reader().stale_since() >= Some(dropped_at));
    assert_eq!(session.state().name(), "connected");
    assert_eq!(
        count(&log, |e| matches!(e, SessionEvent::SessionEnded { .. })),
        0
    );
    session.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_snapshot_or_resync_a_gap_marks_presence_stale_since_the_disconnect() {
    let (server, admin) = start_server(ServerConfig::in_process()).await;
    admin.set_snapshots(false);
    let profile = no_snapshot_profile(&server, None);
    let (session, mut log) = login(profile, &MemoryStore::new()).await;
    log.wait_for_state("connected", Duration::from_secs(5))
        .await;
    // Nothing lists the friends: Kith learns them from live updates.
    wait_until_server_accepted(&admin, 1).await;
    admin.set_status("alice", "online").unwrap();
    admin.set_status("bob", "online").unwrap();
    log.wait_for(
        "bob live",
        Duration::from_secs(5),
        |e| matches!(e, SessionEvent::Presence(c) if c.username == "bob"),
    )
    .await;
    // The first connect is no gap: nothing is stale.
    assert_eq!(
        count(&log, |e| matches!(e, SessionEvent::PresenceStale { .. })),
        0
    );

    let before_drop = SystemTime::now();
    admin.drop_all(1012, "restarting").unwrap();
    log.wait_for_state("reconnecting", Duration::from_secs(5))
        .await;
    let noticed = SystemTime::now();
    // Marked as the new socket is promoted, just before it reports connected.
    log.wait_for("the stale marker", Duration::from_secs(10), |e| {
        matches!(e, SessionEvent::PresenceStale { .. })
    })
    .await;
    log.wait_for_state("connected", Duration::from_secs(5))
        .await;
    let since = log
        .seen
        .iter()
        .find_map(|(_, e)| match e {
            SessionEvent::PresenceStale { since } => Some(*since),
            _ => None,
        })
        .expect("a stale event");
    assert!(
        since >= before_drop && since <= noticed,
        "stale since the disconnect: {since:?} not within {before_drop:?}..{noticed:?}"
    );
    let reader = session.friends_reader();
    assert_eq!(reader.stale_since(), Some(since));
    let friends = session.friends();
    assert_eq!(friends.len(), 2);
    assert!(friends.iter().all(|f| f.is_stale()), "{friends:?}");

    // A live update clears the mark for that friend only.
    admin.set_status("alice", "away").unwrap();
    log.wait_for("alice live", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::Presence(c) if c.username == "alice" && c.to.as_deref() == Some("away"))
    })
    .await;
    let friends = session.friends();
    let stale: Vec<&str> = friends
        .iter()
        .filter(|f| f.is_stale())
        .map(|f| f.username.as_str())
        .collect();
    assert_eq!(stale, ["bob"]);
    assert_eq!(reader.stale_since(), Some(since));
    assert_eq!(count(&log, |e| matches!(e, SessionEvent::PresenceFresh)), 0);
    // Bob's update ends it.
    admin.set_status("bob", "away").unwrap();
    log.wait_for("fresh again", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::PresenceFresh)
    })
    .await;
    assert_eq!(reader.stale_since(), None);
    assert!(session.friends().iter().all(|f| !f.is_stale()));
    session.stop().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_that_sends_snapshots_marks_nothing_stale() {
    let (server, admin) = start_server(ServerConfig::in_process()).await;
    let (session, mut log) = login(fast_profile(&server), &MemoryStore::new()).await;
    log.wait_for("the first snapshot", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::Resynced { .. })
    })
    .await;
    admin.drop_all(1012, "restarting").unwrap();
    log.wait_for_state("reconnecting", Duration::from_secs(5))
        .await;
    log.wait_for(
        "the snapshot after the reconnect",
        Duration::from_secs(10),
        |e| matches!(e, SessionEvent::Resynced { .. }),
    )
    .await;
    log.drain_for(Duration::from_millis(300)).await;
    assert_eq!(
        count(&log, |e| matches!(
            e,
            SessionEvent::PresenceStale { .. } | SessionEvent::ResyncFailed { .. }
        )),
        0
    );
    assert_eq!(session.friends_reader().stale_since(), None);
    session.stop().await;
    server.shutdown().await;
}
