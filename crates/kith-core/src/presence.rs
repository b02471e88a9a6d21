//! The friends map: who is online, kept current from snapshots and live updates.
//!
//! The store turns raw records into [`PresenceChange`]s, emitted only for real status
//! changes. Stale or duplicate updates (an older `seq` or `last_seen`) are dropped, so
//! overlapping sockets during a handover never produce a duplicate. Changes that come
//! from a snapshot after a reconnect are marked [`ChangeCause::Resync`], so the app can
//! stay quiet about them.
//!
//! Two more rules keep the map honest across a gap:
//! - A resync fetched over HTTP is slower than the socket: a friend the socket updated
//!   after the fetch began keeps that live state ([`PresenceStore::begin_resync`],
//!   [`PresenceStore::apply_resync`]), whatever sequence numbers the backend sends.
//! - When nothing can tell Kith what it missed (no snapshot, no resync endpoint), the
//!   friends are marked possibly stale since the disconnect ([`PresenceStore::mark_stale`]).
//!   A friend's live update clears their mark; a snapshot or resync clears all marks.

use std::cmp::Ordering;
use std::time::SystemTime;

use serde::Serialize;
use smol_str::SmolStr;

use crate::protocol::values::compare_timestamps;
use crate::protocol::{FriendId, FriendRecord, LastSeen, Status};

pub use crate::protocol::values::is_online;

/// One friend as Kith currently knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Friend {
    /// The backend's id for this friend.
    pub user_id: FriendId,
    /// Their username; empty when the backend sent none.
    pub username: SmolStr,
    /// Their status, as the backend spells it.
    pub status: Status,
    /// When they were last seen, if the backend said.
    pub last_seen: Option<LastSeen>,
    #[serde(skip)]
    seq: Option<u64>,
    /// Kith may have missed a change of this friend's status (see
    /// [`PresenceStore::mark_stale`]).
    stale: bool,
}

impl Friend {
    /// Whether their status counts as online ([`Status::is_online`]).
    pub fn is_online(&self) -> bool {
        self.status.is_online()
    }

    /// Whether this friend's status may be out of date: Kith was disconnected and has
    /// not heard from them since.
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// The name to show: the username, or the id when the backend sent no name.
    pub fn display_name(&self) -> &str {
        display_name(&self.username, &self.user_id)
    }

    /// Where this friend sorts among the others (by the name shown).
    pub fn collation_key(&self) -> String {
        crate::protocol::collation_key(self.display_name())
    }
}

fn display_name<'a>(username: &'a str, user_id: &'a FriendId) -> &'a str {
    if username.is_empty() {
        user_id.as_str()
    } else {
        username
    }
}

/// Why a change was emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeCause {
    /// A live update: the change happened while Kith was listening.
    Live,
    /// Learned from a snapshot after a gap (first connect or reconnect).
    Resync,
}

/// A friend's status changed. `from` is `None` for a friend Kith did not know;
/// `to` is `None` for a friend a snapshot no longer lists. Its text fields copy
/// cheaply (see [`crate::protocol::values`]), so a change is cheap to make and pass on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresenceChange {
    /// The friend's id.
    pub user_id: FriendId,
    /// The friend's username, as last known.
    pub username: SmolStr,
    /// The status before; `None` for a friend Kith did not know.
    pub from: Option<Status>,
    /// The status now; `None` for a friend a snapshot no longer lists.
    pub to: Option<Status>,
    /// When the friend was last seen, if the backend said.
    pub last_seen: Option<LastSeen>,
    /// Whether it happened while Kith listened, or was learned after a gap.
    pub cause: ChangeCause,
}

impl PresenceChange {
    /// The name to show for this friend: their username, or their id when the backend
    /// sent no name.
    pub fn display_name(&self) -> &str {
        display_name(&self.username, &self.user_id)
    }

    /// Where this friend sorts among the others (by the name shown).
    pub fn collation_key(&self) -> String {
        crate::protocol::collation_key(self.display_name())
    }

    /// A change for `friend` as it now stands.
    fn to_current(friend: &Friend, from: Option<Status>, cause: ChangeCause) -> Self {
        PresenceChange {
            user_id: friend.user_id.clone(),
            username: friend.username.clone(),
            from,
            to: Some(friend.status.clone()),
            last_seen: friend.last_seen.clone(),
            cause,
        }
    }
}

/// The friends map. foldhash instead of the default SipHash: ids come from the
/// signed-in backend, and every live update hashes one.
type FriendMap = foldhash::HashMap<FriendId, Friend>;

/// Identifies one resync begun with [`PresenceStore::begin_resync`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResyncTicket(u64);

/// A resync in flight: which friends the socket updated since it began.
#[derive(Debug, Clone)]
struct PendingResync {
    ticket: ResyncTicket,
    updated_live: foldhash::HashSet<FriendId>,
}

/// Friends keyed by user id, with the newest state seen for each.
#[derive(Debug, Default, Clone)]
pub struct PresenceStore {
    friends: FriendMap,
    /// Since when some friends may be out of date; `None` when none are.
    stale_since: Option<SystemTime>,
    /// How many friends are marked stale.
    stale_count: usize,
    pending_resync: Option<PendingResync>,
    resyncs_begun: u64,
}

impl PresenceStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many friends it knows.
    pub fn len(&self) -> usize {
        self.friends.len()
    }

    /// Whether it knows no friend.
    pub fn is_empty(&self) -> bool {
        self.friends.is_empty()
    }

    /// The friend with this id (a [`FriendId`] or its text).
    pub fn get<Q>(&self, id: &Q) -> Option<&Friend>
    where
        FriendId: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.friends.get(id)
    }

    /// Every friend, in no particular order.
    pub fn friends(&self) -> impl Iterator<Item = &Friend> {
        self.friends.values()
    }

    /// How many friends are online.
    pub fn online_count(&self) -> usize {
        self.friends.values().filter(|f| f.is_online()).count()
    }

    /// Since when some friends' status may be out of date, while any is.
    pub fn stale_since(&self) -> Option<SystemTime> {
        self.stale_since
    }

    /// Marks every friend as possibly out of date since `since` (the disconnect): Kith
    /// reconnected and nothing will tell it what it missed. Returns whether any friend
    /// was marked (none are when the map is empty). An earlier mark's time is kept.
    pub fn mark_stale(&mut self, since: SystemTime) -> bool {
        if self.friends.is_empty() {
            return false;
        }
        for friend in self.friends.values_mut() {
            friend.stale = true;
        }
        self.stale_count = self.friends.len();
        self.stale_since = Some(self.stale_since.map_or(since, |held| held.min(since)));
        true
    }

    fn clear_stale(&mut self) {
        if self.stale_count > 0 {
            for friend in self.friends.values_mut() {
                friend.stale = false;
            }
        }
        self.stale_count = 0;
        self.stale_since = None;
    }

    /// Starts a resync that will be fetched out of band (over HTTP). Live updates from
    /// now on are remembered, so [`apply_resync`](Self::apply_resync) cannot overwrite
    /// them with the older listing. A resync begun later, or a snapshot, supersedes it.
    pub fn begin_resync(&mut self) -> ResyncTicket {
        self.resyncs_begun += 1;
        let ticket = ResyncTicket(self.resyncs_begun);
        self.pending_resync = Some(PendingResync {
            ticket,
            updated_live: foldhash::HashSet::default(),
        });
        ticket
    }

    /// Gives up a resync that failed, so live updates are no longer remembered for it.
    /// Returns whether it was the resync in flight (and not superseded).
    pub fn abandon_resync(&mut self, ticket: ResyncTicket) -> bool {
        self.pending_resync
            .take_if(|p| p.ticket == ticket)
            .is_some()
    }

    /// Applies the listing of the resync `ticket` as a snapshot tagged
    /// [`ChangeCause::Resync`], except for friends the socket updated since the resync
    /// began: they keep their live state. `None` when the resync was superseded (by a
    /// later resync or a snapshot) and nothing was applied.
    pub fn apply_resync(
        &mut self,
        ticket: ResyncTicket,
        records: Vec<FriendRecord>,
    ) -> Option<Vec<PresenceChange>> {
        let pending = self.pending_resync.take_if(|p| p.ticket == ticket)?;
        Some(self.replace_all(records, ChangeCause::Resync, &pending.updated_live))
    }

    /// Applies one live update. Returns the change, or `None` when the update is stale,
    /// a duplicate, or does not change the status.
    pub fn apply_update(&mut self, record: FriendRecord) -> Option<PresenceChange> {
        match self.friends.get_mut(&record.user_id) {
            Some(known) => {
                if is_stale(known, &record) {
                    return None;
                }
                if let Some(pending) = &mut self.pending_resync {
                    pending.updated_live.insert(record.user_id.clone());
                }
                if std::mem::take(&mut known.stale) {
                    self.stale_count -= 1;
                    if self.stale_count == 0 {
                        self.stale_since = None;
                    }
                }
                let from = update_known(known, record)?;
                Some(PresenceChange::to_current(
                    known,
                    Some(from),
                    ChangeCause::Live,
                ))
            }
            None => {
                if let Some(pending) = &mut self.pending_resync {
                    pending.updated_live.insert(record.user_id.clone());
                }
                let friend = Friend::from(record);
                let change = PresenceChange::to_current(&friend, None, ChangeCause::Live);
                self.friends.insert(friend.user_id.clone(), friend);
                Some(change)
            }
        }
    }

    /// A member list of the whole set of friends, as the snapshot to apply: the members
    /// as listed, then every other friend Kith knows, offline (with no timestamp or
    /// sequence number, so nothing held counts as newer). Applied with
    /// [`apply_snapshot`](Self::apply_snapshot), it turns absent friends offline
    /// instead of forgetting them.
    pub fn with_absent_offline(&self, mut members: Vec<FriendRecord>) -> Vec<FriendRecord> {
        let listed: foldhash::HashSet<FriendId> =
            members.iter().map(|m| m.user_id.clone()).collect();
        let offline = Status::new("offline");
        members.extend(
            self.friends
                .values()
                .filter(|friend| !listed.contains(&friend.user_id))
                .map(|friend| FriendRecord {
                    user_id: friend.user_id.clone(),
                    username: friend.username.clone(),
                    status: offline.clone(),
                    last_seen: None,
                    seq: None,
                }),
        );
        members
    }

    /// Replaces the map with a snapshot and returns what changed, tagged with `cause`.
    /// A snapshot entry older than what Kith already holds keeps the newer state. A
    /// snapshot clears every stale mark and supersedes a resync in flight.
    pub fn apply_snapshot(
        &mut self,
        records: Vec<FriendRecord>,
        cause: ChangeCause,
    ) -> Vec<PresenceChange> {
        self.pending_resync = None;
        self.replace_all(records, cause, &foldhash::HashSet::default())
    }

    /// Replaces the map with `records`, except that friends in `keep` keep what is held
    /// (and are kept when `records` leaves them out); clears every stale mark.
    fn replace_all(
        &mut self,
        records: Vec<FriendRecord>,
        cause: ChangeCause,
        keep: &foldhash::HashSet<FriendId>,
    ) -> Vec<PresenceChange> {
        self.clear_stale();
        let mut previous = std::mem::take(&mut self.friends);
        self.friends.reserve(records.len());
        let mut changes = Vec::new();
        for record in records {
            match previous.remove(&record.user_id) {
                Some(mut known) => {
                    if !keep.contains(&known.user_id) && !is_stale(&known, &record) {
                        if let Some(from) = update_known(&mut known, record) {
                            changes.push(PresenceChange::to_current(&known, Some(from), cause));
                        }
                    }
                    self.friends.insert(known.user_id.clone(), known);
                }
                None => {
                    let friend = Friend::from(record);
                    changes.push(PresenceChange::to_current(&friend, None, cause));
                    self.friends.insert(friend.user_id.clone(), friend);
                }
            }
        }
        for (id, gone) in previous {
            if keep.contains(&id) {
                self.friends.insert(id, gone);
                continue;
            }
            changes.push(PresenceChange {
                user_id: gone.user_id,
                username: gone.username,
                from: Some(gone.status),
                to: None,
                last_seen: gone.last_seen,
                cause,
            });
        }
        changes
    }
}

impl From<FriendRecord> for Friend {
    fn from(record: FriendRecord) -> Self {
        Friend {
            user_id: record.user_id,
            username: record.username,
            status: record.status,
            last_seen: record.last_seen,
            seq: record.seq,
            stale: false,
        }
    }
}

/// Takes a newer record into `known`; a name or timestamp the record leaves out keeps
/// the stored one. Returns the previous status when the status changed.
fn update_known(known: &mut Friend, record: FriendRecord) -> Option<Status> {
    if !record.username.is_empty() {
        known.username = record.username;
    }
    if record.last_seen.is_some() {
        known.last_seen = record.last_seen;
    }
    if record.seq.is_some() {
        known.seq = record.seq;
    }
    if known.status == record.status {
        return None;
    }
    Some(std::mem::replace(&mut known.status, record.status))
}

/// An update is stale when its `seq` is not newer than what is held, or, without
/// sequence numbers on both sides, when its timestamp is older.
fn is_stale(known: &Friend, record: &FriendRecord) -> bool {
    if let (Some(held), Some(incoming)) = (known.seq, record.seq) {
        return incoming <= held;
    }
    if let (Some(held), Some(incoming)) = (&known.last_seen, &record.last_seen) {
        return compare_timestamps(incoming.as_str(), held.as_str()) == Some(Ordering::Less);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u64, status: &str, seq: Option<u64>) -> FriendRecord {
        FriendRecord {
            user_id: FriendId::from(id),
            username: format!("user{id}").into(),
            status: status.into(),
            last_seen: None,
            seq,
        }
    }

    #[test]
    fn a_whole_set_member_list_turns_absent_friends_offline_and_keeps_them() {
        let mut store = PresenceStore::new();
        store.apply_update(record(1, "online", Some(5)));
        let mut seen = record(2, "away", None);
        seen.last_seen = Some(LastSeen::from("2026-11-22T10:00:00Z"));
        store.apply_update(seen);
        store.apply_update(record(3, "offline", None));
        let mut member = record(4, "online", None);
        member.username = "dee".into();
        let snapshot = store.with_absent_offline(vec![member]);
        assert_eq!(snapshot.len(), 4);
        let changes = store.apply_snapshot(snapshot, ChangeCause::Live);
        assert_eq!(store.len(), 4, "nobody is forgotten");
        let mut changed: Vec<(String, Option<String>)> = changes
            .iter()
            .map(|c| (c.user_id.to_string(), c.to.as_deref().map(str::to_owned)))
            .collect();
        changed.sort();
        assert_eq!(
            changed,
            vec![
                ("1".into(), Some("offline".into())),
                ("2".into(), Some("offline".into())),
                ("4".into(), Some("online".into())),
            ]
        );
        assert_eq!(store.get("2").unwrap().username, "user2");
    }

    #[test]
    fn only_real_changes_are_emitted() {
        let mut store = PresenceStore::new();
        let first = store.apply_update(record(1, "online", Some(1))).unwrap();
        assert_eq!(first.from, None);
        assert_eq!(store.apply_update(record(1, "online", Some(2))), None);
        let change = store.apply_update(record(1, "away", Some(3))).unwrap();
        assert_eq!(change.from.as_deref(), Some("online"));
        assert_eq!(change.to.as_deref(), Some("away"));
        assert_eq!(change.cause, ChangeCause::Live);
    }

    #[test]
    fn stale_and_duplicate_seq_are_dropped() {
        let mut store = PresenceStore::new();
        store.apply_update(record(1, "online", Some(5)));
        assert_eq!(store.apply_update(record(1, "offline", Some(4))), None);
        assert_eq!(store.apply_update(record(1, "offline", Some(5))), None);
        assert_eq!(store.get(&FriendId::from(1)).unwrap().status, "online");
    }

    #[test]
    fn older_timestamps_are_dropped_without_seq() {
        let mut store = PresenceStore::new();
        let mut newer = record(1, "online", None);
        newer.last_seen = Some(LastSeen::from("2026-11-22T10:00:00Z"));
        store.apply_update(newer);
        let mut older = record(1, "offline", None);
        older.last_seen = Some(LastSeen::from("2026-11-22T09:00:00Z"));
        assert_eq!(store.apply_update(older), None);
    }

    #[test]
    fn a_live_change_carries_the_stored_name_and_timestamp() {
        let seen = |t: &str| Some(LastSeen::from(format!("2026-11-22T10:00:0{t}Z").as_str()));
        let mut store = PresenceStore::new();
        let mut first = record(1, "online", Some(1));
        first.last_seen = seen("0");
        store.apply_update(first);
        let mut next = record(1, "away", Some(2));
        next.last_seen = seen("5");
        let change = store.apply_update(next).unwrap();
        assert_eq!(
            (change.username.as_str(), change.last_seen),
            ("user1", seen("5"))
        );
        assert_eq!(change.user_id, FriendId::from(1));
        // Without a name or a timestamp, the change carries the stored ones.
        let mut bare = record(1, "offline", Some(3));
        bare.username = SmolStr::default();
        let change = store.apply_update(bare).unwrap();
        assert_eq!(
            (change.username.as_str(), change.last_seen),
            ("user1", seen("5"))
        );
        // A new name is taken.
        let mut renamed = record(1, "online", Some(4));
        renamed.username = "alice".into();
        assert_eq!(&*store.apply_update(renamed).unwrap().username, "alice");
        assert_eq!(&*store.get("1").unwrap().username, "alice");
        assert_eq!(store.get(&FriendId::from(1)).unwrap().last_seen, seen("5"));
    }

    #[test]
    fn snapshot_replaces_the_map_and_tags_the_cause() {
        let mut store = PresenceStore::new();
        store.apply_update(record(1, "online", Some(1)));
        store.apply_update(record(2, "online", Some(2)));
        let changes = store.apply_snapshot(
            vec![record(1, "online", Some(1)), record(3, "away", Some(3))],
            ChangeCause::Resync,
        );
        assert_eq!(store.len(), 2);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(changes.iter().all(|c| c.cause == ChangeCause::Resync));
        assert!(changes.iter().any(|c| c.user_id == "2" && c.to.is_none()));
        assert!(changes.iter().any(|c| c.user_id == "3" && c.from.is_none()));
    }

    #[test]
    fn snapshot_with_one_percent_changed_emits_exactly_those() {
        let mut store = PresenceStore::new();
        let all: Vec<_> = (0..1000).map(|i| record(i, "online", Some(i))).collect();
        store.apply_snapshot(all.clone(), ChangeCause::Resync);
        let mut next = all;
        for (i, friend) in next.iter_mut().enumerate() {
            if i % 100 == 0 {
                friend.status = "offline".into();
                friend.seq = Some(5000 + i as u64);
            }
        }
        let changes = store.apply_snapshot(next, ChangeCause::Resync);
        assert_eq!(changes.len(), 10);
        assert_eq!(store.online_count(), 990);
    }

    #[test]
    fn a_resync_never_overwrites_a_live_update_that_arrived_meanwhile() {
        let mut store = PresenceStore::new();
        store.apply_snapshot(
            vec![record(1, "online", None), record(2, "online", None)],
            ChangeCause::Resync,
        );
        let ticket = store.begin_resync();
        // While the listing is in flight, the socket says 1 went away and 3 appeared.
        store.apply_update(record(1, "away", None)).unwrap();
        store.apply_update(record(3, "online", None)).unwrap();
        // The listing was made before that: 1 online, 2 offline, 3 unknown.
        let changes = store
            .apply_resync(
                ticket,
                vec![record(1, "online", None), record(2, "offline", None)],
            )
            .unwrap();
        assert_eq!(
            store.get("1").unwrap().status,
            "away",
            "the live update stands"
        );
        assert_eq!(store.get("3").unwrap().status, "online", "3 is kept");
        assert_eq!(store.get("2").unwrap().status, "offline");
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].user_id, "2");
        assert_eq!(changes[0].cause, ChangeCause::Resync);
        // A ticket is used once.
        assert_eq!(store.apply_resync(ticket, vec![]), None);
        assert_eq!(store.len(), 3);
    }

    #[test]
    fn a_resync_is_superseded_by_a_later_one_or_a_snapshot() {
        let mut store = PresenceStore::new();
        let first = store.begin_resync();
        let second = store.begin_resync();
        assert_eq!(
            store.apply_resync(first, vec![record(1, "online", None)]),
            None
        );
        assert!(store.is_empty());
        store.apply_snapshot(vec![record(1, "away", None)], ChangeCause::Resync);
        assert_eq!(
            store.apply_resync(second, vec![record(1, "online", None)]),
            None
        );
        assert_eq!(store.get("1").unwrap().status, "away");
        let third = store.begin_resync();
        assert!(store.abandon_resync(third));
        assert!(!store.abandon_resync(third));
        assert_eq!(store.apply_resync(third, vec![]), None);
        assert_eq!(store.len(), 1);
        // A resync begun afresh applies.
        let fourth = store.begin_resync();
        let changes = store
            .apply_resync(fourth, vec![record(1, "online", None)])
            .unwrap();
        assert_eq!(changes.len(), 1);
    }

    #[test]
    fn stale_marks_clear_per_friend_on_live_updates_and_all_at_once_on_a_resync() {
        let mut store = PresenceStore::new();
        let since = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000);
        assert!(!store.mark_stale(since), "nothing to mark in an empty map");
        assert_eq!(store.stale_since(), None);
        store.apply_snapshot(
            vec![record(1, "online", Some(1)), record(2, "online", Some(2))],
            ChangeCause::Resync,
        );
        assert!(store.mark_stale(since));
        assert!(store.friends().all(Friend::is_stale));
        assert_eq!(store.stale_since(), Some(since));
        // A later gap keeps the earlier time.
        assert!(store.mark_stale(since + std::time::Duration::from_secs(5)));
        assert_eq!(store.stale_since(), Some(since));
        // A duplicate proves nothing; a newer update clears that friend only, even
        // without a status change.
        assert_eq!(store.apply_update(record(1, "online", Some(1))), None);
        assert!(store.get("1").unwrap().is_stale());
        assert_eq!(store.apply_update(record(1, "online", Some(3))), None);
        assert!(!store.get("1").unwrap().is_stale());
        assert!(store.get("2").unwrap().is_stale());
        assert_eq!(store.stale_since(), Some(since));
        // The last stale friend's update ends it.
        store.apply_update(record(2, "away", Some(4))).unwrap();
        assert_eq!(store.stale_since(), None);
        // A snapshot or resync clears every mark.
        store.mark_stale(since);
        store.apply_snapshot(vec![record(1, "online", Some(5))], ChangeCause::Resync);
        assert_eq!(store.stale_since(), None);
        assert!(!store.get("1").unwrap().is_stale());
        store.mark_stale(since);
        let ticket = store.begin_resync();
        store.apply_resync(ticket, vec![record(1, "online", Some(6))]);
        assert_eq!(store.stale_since(), None);
        assert!(store.friends().all(|f| !f.is_stale()));
    }
}
