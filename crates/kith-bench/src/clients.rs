//! The clients that read the blaster: three baselines and Kith itself, plus an event
//! recorder for the benchmarks that watch a session's states over time.
//!
//! - Baseline (a), [`raw_client`]: a tokio-tungstenite read loop that counts text
//!   frames and parses nothing; the ceiling of the transport.
//! - Baseline (b), [`baseline_client`] with [`FlatFrames`]: tokio-tungstenite +
//!   serde_json into one flat struct + a `HashMap`, applying an update only when its
//!   `seq` is newer; what a minimal hand-written client does.
//! - Baseline (c), [`baseline_client`] with [`TaggedFrames`]: the same, but serde_json
//!   into a `#[serde(tag = "type")]` enum, the usual way to model a protocol whose
//!   messages carry a `type` field.
//! - Kith, [`kith_client`]: a real `kith_core::Session` (driver, machine, presence
//!   store, diffs, event channel) whose consumer drains `take_events()`; with
//!   [`profile`], frames go through Kith's fast reader, with [`mapped_profile`] through
//!   a `[messages]` mapping of the same vocabulary.

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

/// One friend in a snapshot, flat, as baselines (b) and (c) read it; also one update,
/// once read.
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

/// Every message as baseline (c) reads it: serde's internally tagged enum, the way a
/// hand-written client usually models a protocol with a `type` field.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum TaggedMessage {
    StatusUpdate(FlatFriend),
    PresenceSnapshot {
        friends: Vec<FlatFriend>,
    },
    #[serde(other)]
    Other,
}

/// How a hand-written baseline turns a frame's text into friends: (b) [`FlatFrames`]
/// or (c) [`TaggedFrames`]. Both apply what they read to the same [`FlatStore`].
pub trait FrameReader {
    /// The baseline's name in error messages.
    const NAME: &'static str;
    /// The friends of a `presence_snapshot`; an error for any other message.
    fn snapshot(text: &str) -> Result<Vec<FlatFriend>>;
    /// The update a `status_update` carries; `None` for any other message.
    fn update(text: &str) -> Result<Option<FlatFriend>>;
}

/// Baseline (b): serde_json into one flat struct, the `type` field compared by hand.
pub struct FlatFrames;

impl FrameReader for FlatFrames {
    const NAME: &'static str = "baseline (b)";

    fn snapshot(text: &str) -> Result<Vec<FlatFriend>> {
        let snapshot: FlatSnapshot<'_> = serde_json::from_str(text)?;
        if snapshot.kind != "presence_snapshot" {
            bail!("expected a snapshot, got {}", snapshot.kind);
        }
        Ok(snapshot.friends)
    }

    fn update(text: &str) -> Result<Option<FlatFriend>> {
        let update: FlatUpdate<'_> = serde_json::from_str(text)?;
        Ok((update.kind == "status_update").then_some(FlatFriend {
            user_id: update.user_id,
            username: update.username,
            status: update.status,
            last_seen: update.last_seen,
            seq: update.seq,
        }))
    }
}

/// Baseline (c): serde_json into a `#[serde(tag = "type")]` enum.
pub struct TaggedFrames;

impl FrameReader for TaggedFrames {
    const NAME: &'static str = "baseline (c)";

    fn snapshot(text: &str) -> Result<Vec<FlatFriend>> {
        match serde_json::from_str(text)? {
            TaggedMessage::PresenceSnapshot { friends } => Ok(friends),
            _ => bail!("expected a snapshot, got another message"),
        }
    }

    fn update(text: &str) -> Result<Option<FlatFriend>> {
        Ok(match serde_json::from_str(text)? {
            TaggedMessage::StatusUpdate(update) => Some(update),
            _ => None,
        })
    }
}

/// Baselines (b) and (c)'s state: friends by id.
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

    /// Applies an update to a known friend if its `seq` is newer; gives the change's
    /// `last_seen` when the status changed.
    pub fn apply_update(&mut self, update: FlatFriend) -> Option<&str> {
        let held = self.friends.get_mut(&update.user_id)?;
        if update.seq <= held.seq {
            return None;
        }
        let changed = held.status != update.status;
        *held = update;
        changed.then_some(held.last_seen.as_str())
    }

    /// Reads one frame with `R` and applies it if it is a newer `status_update`; gives
    /// the change's `last_seen` when the status changed.
    pub fn apply_text<R: FrameReader>(&mut self, text: &str) -> Result<Option<&str>> {
        Ok(match R::update(text)? {
            Some(update) => self.apply_update(update),
            None => None,
        })
    }
}

/// Baselines (b) and (c): reads the snapshot, then parses and applies `n` updates with
/// `R`; `observe` sees the `last_seen` of every applied change. Returns the time from
/// go to the last frame.
pub async fn baseline_client<R: FrameReader>(
    blast: &mut Blast,
    n: u64,
    mut observe: impl FnMut(&str),
) -> Result<Duration> {
    let (mut ws, _) = connect_async(blast.url.as_str()).await?;
    let mut store = FlatStore::default();
    match ws.next().await {
        Some(Ok(Message::Text(text))) => {
            store.apply_snapshot(R::snapshot(text.as_str())?);
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
        if let Some(last_seen) = store.apply_text::<R>(text.as_str())? {
            changes += 1;
            observe(last_seen);
        }
    }
    let took = started.elapsed();
    if changes != n {
        bail!("{} saw {changes} changes in {n} frames", R::NAME);
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

/// A `[messages]` mapping that says in the mapping's words what Kith's own vocabulary
/// already is: `status_update` and `presence_snapshot` told apart by `/type`, every
/// field where kith-server writes it, statuses mapped to themselves.
pub const OWN_VOCABULARY_MAPPING: &str = r#"
[messages]
discriminator = "/type"

[messages.update]
match = ["status_update"]
user_id = "/user_id"
username = "/username"
status = "/status"
last_seen = "/last_seen"
last_seen_format = "rfc3339"
seq = "/seq"

[messages.snapshot]
match = ["presence_snapshot"]
list = "/friends"
user_id = "/user_id"
username = "/username"
status = "/status"
last_seen = "/last_seen"
last_seen_format = "rfc3339"
seq = "/seq"

[messages.status]
online = ["online"]
away = ["away"]
offline = ["offline"]
"#;

/// [`profile`] with [`OWN_VOCABULARY_MAPPING`] as its `[messages]`, the mapping read
/// as a profile file is: a session with it reads every frame through the mapping's
/// reader instead of the fast one, and nothing else about it differs.
pub fn mapped_profile(http_url: &str) -> Result<ServerProfile> {
    let text = format!(
        "server = {}\n{OWN_VOCABULARY_MAPPING}",
        serde_json::to_string(http_url)?
    );
    let read = ServerProfile::from_toml(&text).context("the benchmark's [messages] mapping")?;
    let mut profile = profile(http_url, None);
    profile.messages = Some(
        read.messages
            .context("the mapping text has no [messages]")?,
    );
    profile.validate()?;
    Ok(profile)
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

/// Kith: a session with `profile` (its socket pointed at the blaster's). Waits for the
/// snapshot of `friends`, says go, and counts `n` live changes; `observe` sees each.
/// Returns the time from go to the last change the consumer saw.
pub async fn kith_client(
    mut profile: ServerProfile,
    blast: &mut Blast,
    friends: usize,
    n: u64,
    mut observe: impl FnMut(&PresenceChange),
) -> Result<Duration> {
    profile.ws_url = blast.url.clone();
    let (session, mut events) = login(profile).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::{self, LAST_SEEN};
    use crate::rig::{long_lived_config, spawn_server, stop_server};
    use kith_core::protocol::{parse_server_message, MappedReader, ServerMessage, WireProtocol};

    /// An update whose status the benchmark mapping's status map does not name: the
    /// fast reader takes it as written, the mapping refuses it.
    const UNMAPPED_STATUS: &str = r#"{"type":"status_update","user_id":0,"username":"user0","status":"dnd","last_seen":"2026-11-22T10:00:00Z","seq":1}"#;

    /// Applies the snapshot and `count` updates with `R`; the `last_seen` of each change.
    fn changes_through<R: FrameReader>(users: u64, count: u64) -> Vec<Option<String>> {
        let mut store = FlatStore::default();
        let snapshot = R::snapshot(&frames::start_snapshot(users)).unwrap();
        assert_eq!(store.apply_snapshot(snapshot), users as usize);
        (0..count)
            .map(|i| {
                let text = frames::status_update(i, users, LAST_SEEN);
                store.apply_text::<R>(&text).unwrap().map(str::to_owned)
            })
            .collect()
    }

    #[test]
    fn flat_and_tagged_baselines_read_and_apply_alike() {
        let flat = changes_through::<FlatFrames>(3, 10);
        assert_eq!(flat, changes_through::<TaggedFrames>(3, 10));
        assert!(flat.iter().all(|c| c.as_deref() == Some(LAST_SEEN)));
        for other in [r#"{"type":"PONG"}"#, r#"{"type":"auth_success","x":1}"#] {
            assert!(TaggedFrames::update(other).unwrap().is_none());
        }
        assert!(TaggedFrames::snapshot(r#"{"type":"PONG"}"#).is_err());
        // An update that is not newer than what is held changes nothing.
        let mut store = FlatStore::default();
        store.apply_snapshot(TaggedFrames::snapshot(&frames::start_snapshot(1)).unwrap());
        let update = frames::status_update(0, 1, LAST_SEEN);
        assert!(store.apply_text::<TaggedFrames>(&update).unwrap().is_some());
        assert!(store.apply_text::<TaggedFrames>(&update).unwrap().is_none());
    }

    #[test]
    fn the_mapping_reads_the_benchmark_frames_as_the_fast_reader_does() {
        let profile = mapped_profile("http://127.0.0.1:8000").unwrap();
        assert_eq!(profile.socket.protocol, WireProtocol::Json);
        let mut expected = super::profile("http://127.0.0.1:8000", None);
        expected.messages = profile.messages.clone();
        assert_eq!(profile, expected, "only the mapping differs");
        let mapping = Arc::new(profile.messages.unwrap());
        let mut reader = MappedReader::new(mapping);
        let snapshot = frames::start_snapshot(5);
        let (
            Ok(ServerMessage::Snapshot {
                friends: mapped, ..
            }),
            Ok(ServerMessage::Snapshot { friends: fast, .. }),
        ) = (
            reader.read_text(&snapshot, 1 << 20),
            parse_server_message(&snapshot, 1 << 20),
        )
        else {
            panic!("the snapshot is not read as one");
        };
        assert_eq!(mapped, fast);
        for i in 0..12 {
            let text = frames::status_update(i, 5, LAST_SEEN);
            let mapped = reader.read_text(&text, 1 << 20).unwrap();
            assert!(
                matches!(mapped, ServerMessage::StatusUpdate(_)),
                "{mapped:?}"
            );
            assert_eq!(mapped, parse_server_message(&text, 1 << 20).unwrap());
        }
        assert!(reader.read_text(UNMAPPED_STATUS, 1 << 20).is_err());
        assert!(parse_server_message(UNMAPPED_STATUS, 1 << 20).is_ok());
    }

    /// The first live change a session with `profile` tells when the blaster sends an
    /// update with an unmapped status, then an ordinary one.
    async fn first_live_change(profile: ServerProfile) -> PresenceChange {
        let bg = tokio::runtime::Handle::current();
        let users = 2;
        let snapshot = Arc::new(frames::text_frame(&frames::start_snapshot(users)));
        let mut burst = Vec::new();
        frames::push_text_frame(&mut burst, UNMAPPED_STATUS.as_bytes());
        let ordinary = frames::status_update(1, users, LAST_SEEN);
        frames::push_text_frame(&mut burst, ordinary.as_bytes());
        let body = crate::blaster::Body::Burst(Arc::new(burst));
        let mut blast = Blast::start(&bg, snapshot, body).await.unwrap();
        let mut first = None;
        let read = kith_client(profile, &mut blast, users as usize, 1, |change| {
            first.get_or_insert_with(|| change.clone());
        });
        tokio::time::timeout(Duration::from_secs(60), read)
            .await
            .expect("the session saw its change")
            .unwrap();
        let _ = blast.finish().await;
        first.expect("a live change")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_session_with_the_mapped_profile_reads_through_the_mapping() {
        let bg = tokio::runtime::Handle::current();
        let server = spawn_server(&bg, long_lived_config()).await.unwrap();
        seed_world(&server.admin(), 0).unwrap();
        let http = server.http_url();
        // The fast reader takes any status as written: user 0 goes "dnd".
        let fast = first_live_change(profile(&http, None)).await;
        assert_eq!(
            (fast.user_id.as_str(), fast.to.as_deref()),
            ("0", Some("dnd"))
        );
        // Through the mapping, "dnd" is refused: the first change is user 1's.
        let mapped = first_live_change(mapped_profile(&http).unwrap()).await;
        assert_eq!(
            (mapped.user_id.as_str(), mapped.to.as_deref()),
            ("1", Some("away"))
        );
        stop_server(&bg, server).await;
    }
}
