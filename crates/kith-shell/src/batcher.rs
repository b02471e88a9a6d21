//! Coalesces presence changes for the UI: live changes go out at most every
//! [`UI_FRAME`] (about 30 updates a second, however fast they arrive), and a snapshot,
//! however large, goes out as one `replace` once it has been applied. Sans-IO: time is
//! an argument, so the rules are unit-tested; the bridge only sleeps until
//! [`PresenceBatcher::deadline`] and emits what [`PresenceBatcher::take`] returns.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::view::FriendView;

/// Minimum spacing of presence events to the UI.
pub const UI_FRAME: Duration = Duration::from_millis(33);

/// What to send to the UI now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Batch {
    /// Send the whole friends list (after a snapshot).
    Replace,
    /// Send these changed friends (a `None` status means removed).
    Changes(Vec<FriendView>),
}

#[derive(Debug)]
pub struct PresenceBatcher {
    pending: HashMap<String, FriendView>,
    replace: bool,
    in_resync: bool,
    last_flush: Option<Instant>,
    flush_at: Option<Instant>,
}

impl Default for PresenceBatcher {
    fn default() -> Self {
        Self::new()
    }
}

impl PresenceBatcher {
    pub fn new() -> Self {
        PresenceBatcher {
            pending: HashMap::new(),
            replace: false,
            in_resync: false,
            last_flush: None,
            flush_at: None,
        }
    }

    /// A live change: sent with the next frame (the latest state of each friend only).
    pub fn live(&mut self, friend: FriendView, now: Instant) {
        self.pending.insert(friend.user_id.clone(), friend);
        if !self.in_resync {
            self.schedule(now);
        }
    }

    /// A change that is part of a snapshot being applied: held until it is complete.
    pub fn resync_change(&mut self) {
        self.in_resync = true;
    }

    /// The snapshot is applied: one `Replace` goes out with the next frame.
    pub fn resynced(&mut self, now: Instant) {
        self.in_resync = false;
        self.replace = true;
        self.pending.clear();
        self.schedule(now);
    }

    /// The connection changed state: a half-applied snapshot will not complete.
    pub fn connection_changed(&mut self, now: Instant) {
        if self.in_resync {
            self.in_resync = false;
            self.replace = true;
            self.schedule(now);
        }
    }

    /// When [`take`](Self::take) next has something to send.
    pub fn deadline(&self) -> Option<Instant> {
        self.flush_at
    }

    /// What to send now, if the frame is due.
    pub fn take(&mut self, now: Instant) -> Option<Batch> {
        if self.flush_at.is_none_or(|at| now < at) {
            return None;
        }
        self.flush_at = None;
        self.last_flush = Some(now);
        if std::mem::take(&mut self.replace) {
            self.pending.clear();
            return Some(Batch::Replace);
        }
        if self.pending.is_empty() {
            return None;
        }
        let mut friends: Vec<FriendView> = self.pending.drain().map(|(_, f)| f).collect();
        friends.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        Some(Batch::Changes(friends))
    }

    fn schedule(&mut self, now: Instant) {
        if self.flush_at.is_none() {
            let earliest = self.last_flush.map_or(now, |last| last + UI_FRAME);
            self.flush_at = Some(now.max(earliest));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn friend(id: u32, status: &str) -> FriendView {
        FriendView {
            user_id: id.to_string(),
            username: format!("f{id}"),
            name: format!("f{id}"),
            status: Some(status.into()),
            online: kith_core::presence::is_online(status),
            sort_key: kith_core::protocol::collation_key(&format!("f{id}")),
            last_seen_ms: None,
            stale: false,
            class: if status == "offline" {
                "offline"
            } else {
                "online"
            },
            since: None,
        }
    }

    #[test]
    fn a_burst_becomes_one_event_per_frame_with_the_latest_state() {
        let t0 = Instant::now();
        let mut batcher = PresenceBatcher::new();
        batcher.live(friend(1, "online"), t0);
        assert_eq!(
            batcher.take(t0),
            Some(Batch::Changes(vec![friend(1, "online")]))
        );
        // 1,000 changes within the next frame: one event, holding each friend once.
        for i in 0..1000u32 {
            let status = if i % 2 == 0 { "away" } else { "offline" };
            batcher.live(friend(i % 10, status), t0 + Duration::from_micros(i as u64));
        }
        assert_eq!(batcher.deadline(), Some(t0 + UI_FRAME));
        assert_eq!(batcher.take(t0 + Duration::from_millis(10)), None);
        let Some(Batch::Changes(friends)) = batcher.take(t0 + UI_FRAME) else {
            panic!("one batch at the frame")
        };
        assert_eq!(friends.len(), 10);
        assert!(friends.iter().all(|f| f.status.as_deref()
            == Some(if f.user_id.parse::<u32>().unwrap() % 2 == 0 {
                "away"
            } else {
                "offline"
            })));
        assert_eq!(batcher.take(t0 + UI_FRAME * 2), None);
    }

    #[test]
    fn at_most_one_event_per_frame_over_a_steady_stream() {
        let t0 = Instant::now();
        let mut batcher = PresenceBatcher::new();
        let mut sent = Vec::new();
        // A change every millisecond for one second.
        for ms in 0..1000u64 {
            let now = t0 + Duration::from_millis(ms);
            batcher.live(friend((ms % 50) as u32, "online"), now);
            if batcher.take(now).is_some() {
                sent.push(now);
            }
        }
        assert!(sent.len() <= 31, "{} events in a second", sent.len());
        assert!(sent.windows(2).all(|w| w[1] - w[0] >= UI_FRAME));
    }

    #[test]
    fn a_snapshot_is_one_replace_however_large() {
        let t0 = Instant::now();
        let mut batcher = PresenceBatcher::new();
        for _ in 0..5000 {
            batcher.resync_change();
        }
        assert_eq!(batcher.deadline(), None, "nothing goes out mid-snapshot");
        batcher.live(friend(1, "online"), t0);
        assert_eq!(
            batcher.deadline(),
            None,
            "live changes wait for the snapshot"
        );
        batcher.resynced(t0);
        assert_eq!(batcher.take(t0), Some(Batch::Replace));
        assert_eq!(batcher.take(t0 + UI_FRAME), None);
    }

    #[test]
    fn a_snapshot_cut_short_still_refreshes_the_list() {
        let t0 = Instant::now();
        let mut batcher = PresenceBatcher::new();
        batcher.resync_change();
        batcher.connection_changed(t0);
        assert_eq!(batcher.take(t0), Some(Batch::Replace));
    }
}
