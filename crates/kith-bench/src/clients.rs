//! The clients that read the blaster: two baselines and Kith itself, plus an event
//! recorder for the benchmarks that watch a session's states over time.
//!
//! - Baseline (a), [`raw_client`]: a tokio-tungstenite read loop that counts text
//!   frames and parses nothing; the ceiling of the transport.
//! - Baseline (b), [`serde_client`]: tokio-tungstenite + serde_json into one flat
//!   struct + a `HashMap`, applying an update only when its `seq` is newer; what a
//!   minimal hand-written client does.
//! - Kith, [`kith_client`]: a real `kith_core::Session` (driver, machine, presence
//!   store, diffs, event channel) whose consumer drains `take_events()`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use kith_core::{
    ChangeCause, MemoryStore, PresenceChange, Secret, ServerProfile, Session, SessionEvent,
};
use kith_server::AdminHandle;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

use crate::blaster::Blast;

/// The account every benchmark signs in as.
pub const USER: &str = "me";
pub const PASSWORD: &str = "bench password";

/// Creates `me` and `friends` friends of theirs (`friend0`, `friend1`, …).
pub fn seed_world(admin: &AdminHandle, friends: usize) -> Result<()> {
    admin.create_user(USER, PASSWORD)?;
    for i in 0..friends {
        let name = format!("friend{i}");
        admin.create_user(&name, "pw")?;
        admin.befriend(USER, &name)?;
    }
    Ok(())
}

/// Baseline (a): counts `n` text frames after the snapshot. Returns the time from the
/// go signal to the last frame.
pub async fn raw_client(blast: &mut Blast, n: u64) -> Result<Duration> {
    let (mut ws, _) = connect_async(blast.url.as_str()).await?;
    match ws.next().await {
        Some(Ok(Message::Text(_))) => {}
        other => bail!("expected the snapshot, got {other:?}"),
    }
    let started = Instant::now();
    blast.go();
    let mut count = 0;
    while count < n {
        match ws.next().await {
            Some(Ok(Message::Text(_))) => count += 1,
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error.into()),
            None => bail!("the blaster closed after {count} frames"),
        }
    }
    Ok(started.elapsed())
}

/// One friend in a snapshot, flat, as baseline (b) reads it.
#[derive(Deserialize)]
pub struct FlatFriend {
    pub user_id: u64,
    /// Kept, as a client would for its UI; the benchmark never reads it back.
    #[allow(dead_code)]
    pub username: String,
    pub status: String,
    pub last_seen: String,
    pub seq: u64,
}

#[derive(Deserialize)]
pub struct FlatSnapshot<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: &'a str,
    pub friends: Vec<FlatFriend>,
}

/// One `status_update`, flat.
#[derive(Deserialize)]
struct FlatUpdate<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    user_id: u64,
    username: String,
    status: String,
    last_seen: String,
    seq: u64,
}

/// Baseline (b)'s state: friends by id.
#[derive(Default)]
pub struct FlatStore {
    pub friends: HashMap<u64, FlatFriend>,
}

impl FlatStore {
    /// Replaces the map with a snapshot; returns how many statuses changed (new,
    /// changed or gone), keeping a held entry whose `seq` is newer.
    pub fn apply_snapshot(&mut self, friends: Vec<FlatFriend>) -> usize {
        let mut previous = std::mem::take(&mut self.friends);
        self.friends.reserve(friends.len());
        let mut changes = 0;
        for friend in friends {
            match previous.remove(&friend.user_id) {
                Some(held) if held.seq >= friend.seq => {
                    self.friends.insert(held.user_id, held);
                }
                Some(held) => {
                    changes += usize::from(held.status != friend.status);
                    self.friends.insert(friend.user_id, friend);
                }
                None => {
                    changes += 1;
                    self.friends.insert(friend.user_id, friend);
                }
            }
        }
        changes + previous.len()
    }

    /// Parses one frame and applies it if it is a newer `status_update`; gives the
    /// change's `last_seen` when the status changed.
    pub fn apply_text(&mut self, text: &str) -> Result<Option<&str>> {
        let update: FlatUpdate<'_> = serde_json::from_str(text)?;
        if update.kind != "status_update" {
            return Ok(None);
        }
        let Some(held) = self.friends.get_mut(&update.user_id) else {
            return Ok(None);
        };
        if update.seq <= held.seq {
            return Ok(None);
        }
        let changed = held.status != update.status;
        held.status = update.status;
        held.username = update.username;
        held.last_seen = update.last_seen;
        held.seq = update.seq;
        Ok(changed.then_some(held.last_seen.as_str()))
    }
}

/// Baseline (b): parses and applies `n` updates after the snapshot; `observe` sees the
/// `last_seen` of every applied change. Returns the time from go to the last frame.
pub async fn serde_client(
    blast: &mut Blast,
    n: u64,
    mut observe: impl FnMut(&str),
) -> Result<Duration> {
    let (mut ws, _) = connect_async(blast.url.as_str()).await?;
    let mut store = FlatStore::default();
    match ws.next().await {
        Some(Ok(Message::Text(text))) => {
            let snapshot: FlatSnapshot<'_> = serde_json::from_str(text.as_str())?;
            if snapshot.kind != "presence_snapshot" {
                bail!("expected a snapshot, got {}", snapshot.kind);
            }
            store.apply_snapshot(snapshot.friends);
        }
        other => bail!("expected the snapshot, got {other:?}"),
    }
    let started = Instant::now();
    blast.go();
    let (mut count, mut changes) = (0u64, 0u64);
    while count < n {
        let text = match ws.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            Some(Err(error)) => return Err(error.into()),
            None => bail!("the blaster closed after {count} frames"),
        };
        count += 1;
        if let Some(last_seen) = store.apply_text(text.as_str())? {
            changes += 1;
            observe(last_seen);
        }
    }
    let took = started.elapsed();
    if changes != n {
        bail!("baseline (b) saw {changes} changes in {n} frames");
    }
    Ok(took)
}

/// A profile for the reference server at `http_url`, its socket pointed elsewhere if
/// `ws_url` is given.
pub fn profile(http_url: &str, ws_url: Option<&str>) -> ServerProfile {
    let mut profile = ServerProfile::simplejwt(http_url);
    if let Some(ws_url) = ws_url {
        profile.ws_url = ws_url.to_owned();
    }
    profile
}

/// Logs `me` in with a memory credential store and takes the event stream.
pub async fn login(
    profile: ServerProfile,
) -> Result<(Session, mpsc::UnboundedReceiver<SessionEvent>)> {
    let mut session = Session::login(
        profile,
        Arc::new(MemoryStore::new()),
        USER,
        Secret::new(PASSWORD),
    )
    .await
    .context("login")?;
    let events = session.take_events().context("events are taken once")?;
    Ok((session, events))
}

/// The most events the Kith consumer takes from the session at a time.
const EVENT_BURST: usize = 1024;

/// Kith: a session whose socket is the blaster's. Waits for the snapshot of `friends`,
/// says go, and counts `n` live changes; `observe` sees each. Returns the time from go
/// to the last change the consumer saw.
pub async fn kith_client(
    http_url: &str,
    blast: &mut Blast,
    friends: usize,
    n: u64,
    mut observe: impl FnMut(&PresenceChange),
) -> Result<Duration> {
    let (session, mut events) = login(profile(http_url, Some(&blast.url))).await?;
    loop {
        match events.recv().await {
            Some(SessionEvent::Resynced { friends: got, .. }) if got == friends => break,
            Some(SessionEvent::Resynced { friends: got, .. }) => {
                bail!("snapshot of {got} friends, expected {friends}")
            }
            Some(_) => {}
            None => bail!("the session ended before its snapshot"),
        }
    }
    let started = Instant::now();
    blast.go();
    let mut seen = 0;
    // The consumer takes what has arrived in one go, as the desktop app's bridge does.
    let mut burst = Vec::with_capacity(EVENT_BURST);
    while seen < n {
        if events.recv_many(&mut burst, EVENT_BURST).await == 0 {
            bail!("the session ended after {seen} changes");
        }
        for event in burst.drain(..) {
            if let SessionEvent::Presence(change) = event {
                if change.cause == ChangeCause::Live {
                    seen += 1;
                    observe(&change);
                }
            }
        }
    }
    let took = started.elapsed();
    // Stop sends a close frame and waits for the peer; the blaster hangs up instead.
    let stopping = tokio::spawn(session.stop());
    blast.hang_up();
    let _ = tokio::time::timeout(Duration::from_secs(5), stopping).await;
    Ok(took)
}

/// Every event of a session with the instant it was received, recorded by a task of
/// its own so that timestamps do not depend on when the benchmark looks.
#[derive(Clone)]
pub struct Recorder {
    log: Arc<Mutex<Vec<(Instant, SessionEvent)>>>,
}

impl Recorder {
    /// Starts recording; `resynced` counts `Resynced` events (shared by many sessions).
    pub fn start(
        mut events: mpsc::UnboundedReceiver<SessionEvent>,
        resynced: Arc<AtomicU64>,
    ) -> Recorder {
        let log = Arc::new(Mutex::new(Vec::new()));
        let writer = log.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let at = Instant::now();
                if matches!(event, SessionEvent::Resynced { .. }) {
                    resynced.fetch_add(1, Ordering::SeqCst);
                }
                if let Ok(mut log) = writer.lock() {
                    log.push((at, event));
                }
            }
        });
        Recorder { log }
    }

    /// A copy of what was recorded so far.
    pub fn events(&self) -> Vec<(Instant, SessionEvent)> {
        self.log.lock().map(|log| log.clone()).unwrap_or_default()
    }

    /// The first event after `after` that matches, if any.
    pub fn find_after(
        &self,
        after: Instant,
        pred: impl Fn(&SessionEvent) -> bool,
    ) -> Option<Instant> {
        let log = self.log.lock().ok()?;
        log.iter()
            .find(|(at, event)| *at >= after && pred(event))
            .map(|(at, _)| *at)
    }

    /// Waits (polling) for an event after `after` that matches.
    pub async fn wait_for(
        &self,
        what: &str,
        after: Instant,
        timeout: Duration,
        pred: impl Fn(&SessionEvent) -> bool,
    ) -> Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(at) = self.find_after(after, &pred) {
                return Ok(at);
            }
            if Instant::now() > deadline {
                bail!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// Waits until `counter` reaches `target`.
pub async fn wait_count(
    counter: &AtomicU64,
    target: u64,
    timeout: Duration,
    what: &str,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while counter.load(Ordering::SeqCst) < target {
        if Instant::now() > deadline {
            bail!(
                "timed out waiting for {what}: {} of {target}",
                counter.load(Ordering::SeqCst)
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}
