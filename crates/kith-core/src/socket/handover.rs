//! Which socket's presence messages count: the routing half of a handover, pure.
//!
//! The machine decides when a socket is promoted ([`Action::Promote`]) and when one is
//! closed; what that means for the messages already on their way is kept here, apart
//! from the driver's IO, so that it can be tested on its own:
//! - the socket that feeds presence, whose messages are applied as they come;
//! - what a socket not yet promoted has received, held and released in order when it
//!   is, and dropped if it closes first;
//! - how the first snapshot of a promoted socket is marked: [`ChangeCause::Resync`]
//!   after a gap, [`ChangeCause::Live`] for a seamless handover; every later one is a
//!   resync.
//!
//! # The drain: nothing lost between the old socket and the new
//! A server adds the new socket to its broadcast at some instant after Kith opened it.
//! Whatever it broadcast before that instant exists only on the old socket, possibly
//! still queued there, and a backend such as Django Channels drops that queue when the
//! client closes the socket. So the old socket's stream is `P + S` and the new one's is
//! `S`, where `P` is what was sent before the join.
//! - When the new socket brought a snapshot, the snapshot covers `P`: it takes over at
//!   once, and the old socket *retires*: its late messages count until it has closed.
//! - Otherwise the old socket keeps feeding presence after the promotion (it *drains*)
//!   while the new socket's messages are held. As soon as what the new socket holds is
//!   exactly what the old one delivered last (`S` has arrived on both), the old socket
//!   has nothing left that only it had: the new socket takes over with nothing to
//!   release, and [`take_drained`](HandoverRouter::take_drained) tells the driver to
//!   close the old one now. The machine bounds the wait
//!   ([`MachineConfig::handover_drain`](crate::socket::events::MachineConfig::handover_drain)).
//! - A drain cut short (its time is up, the old socket closed, a snapshot arrived on the
//!   new one) aligns the two streams by content: the longest run the old socket
//!   delivered last that starts what the new one holds is skipped, the rest released in
//!   order; when the old socket was ahead, the new socket's next messages that repeat
//!   what it already delivered are skipped as they come. Nothing is applied twice out
//!   of order. A stream that repeats itself exactly can make an aligned copy count
//!   once where it was sent twice; the state it leaves is the same.
//!
//! [`Action::Promote`]: crate::socket::events::Action::Promote

use std::collections::VecDeque;

use crate::presence::ChangeCause;
use crate::protocol::FriendRecord;
use crate::socket::events::ConnId;

/// The most messages kept on either side of a handover for aligning them; a drain that
/// would need more ends there, aligned on what it has.
pub const DRAIN_LOG_LIMIT: usize = 1024;

/// A presence message one socket received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceMessage {
    /// A `status_update`.
    Update(FriendRecord),
    /// A `presence_snapshot`'s friends.
    Snapshot(Vec<FriendRecord>),
}

/// A presence message to apply now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A live update.
    Update(FriendRecord),
    /// A snapshot, its differences marked with `cause`.
    Snapshot {
        /// The friends listed.
        friends: Vec<FriendRecord>,
        /// How its differences are marked.
        cause: ChangeCause,
    },
}

/// The socket that feeds presence.
#[derive(Debug)]
struct Feeding {
    conn: ConnId,
    /// How its next snapshot is marked.
    next_snapshot: ChangeCause,
}

/// A socket not promoted yet, with what it has received so far, and what the feeding
/// socket delivered meanwhile (for aligning the two when it takes over).
#[derive(Debug)]
struct Held {
    conn: ConnId,
    messages: Vec<PresenceMessage>,
    feeder_log: VecDeque<PresenceMessage>,
}

/// A handover whose old socket is still read. See the module docs.
#[derive(Debug)]
struct Drain {
    old: ConnId,
    /// What the old socket delivered since the new one was opened, newest last.
    old_log: VecDeque<PresenceMessage>,
    /// What the new (feeding) socket received and is not applied yet.
    new_held: VecDeque<PresenceMessage>,
}

/// Routes each socket's presence messages. See the module docs.
#[derive(Debug, Default)]
pub struct HandoverRouter {
    feeding: Option<Feeding>,
    retiring: Option<ConnId>,
    drain: Option<Drain>,
    /// The feeding socket's next messages that the drained socket already delivered:
    /// skipped while they match, in order.
    expected: VecDeque<PresenceMessage>,
    /// At most a socket or two: a handover has one candidate at a time.
    held: Vec<Held>,
    /// Released by a drain's end, to apply in order before anything else.
    released: VecDeque<Delivery>,
    /// A drained socket the driver is to close now.
    drained: Option<ConnId>,
}

impl HandoverRouter {
    /// A router with no socket yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A socket was opened: its messages are held until it is promoted.
    pub fn opened(&mut self, conn: ConnId) {
        if self.held_index(conn).is_none() {
            self.held.push(Held {
                conn,
                messages: Vec::new(),
                feeder_log: VecDeque::new(),
            });
        }
    }

    /// Whether `conn`'s messages are applied as they come: it feeds presence, a drain
    /// is still reading it, or a handover is retiring it.
    pub fn feeds_presence(&self, conn: ConnId) -> bool {
        self.feeding.as_ref().is_some_and(|f| f.conn == conn) && self.drain.is_none()
            || self.retiring == Some(conn)
            || self.drain.as_ref().is_some_and(|d| d.old == conn)
    }

    /// Whether `conn`'s live updates may be applied directly, without [`route`]:
    /// it feeds presence and nothing else is being aligned with it (no drain, no socket
    /// held, nothing expected).
    ///
    /// [`route`]: Self::route
    pub fn applies_directly(&self, conn: ConnId) -> bool {
        self.drain.is_none()
            && self.held.is_empty()
            && self.expected.is_empty()
            && (self.feeding.as_ref().is_some_and(|f| f.conn == conn)
                || self.retiring == Some(conn))
    }

    /// The socket that feeds presence, if any.
    pub fn feeding(&self) -> Option<ConnId> {
        self.feeding.as_ref().map(|f| f.conn)
    }

    /// The socket a handover replaced whose messages still count, if any: retiring, or
    /// being drained.
    pub fn retiring(&self) -> Option<ConnId> {
        self.retiring.or(self.drain.as_ref().map(|d| d.old))
    }

    /// Whether a drain is under way. See the module docs.
    pub fn is_draining(&self) -> bool {
        self.drain.is_some()
    }

    /// What to apply now of `message` from `conn`: it, when `conn` feeds presence;
    /// nothing when it is held for a socket not yet promoted or being aligned, or
    /// dropped for a socket that no longer counts. A drain that ends here leaves what
    /// it releases in [`poll_released`](Self::poll_released).
    pub fn route(&mut self, conn: ConnId, message: PresenceMessage) -> Option<Delivery> {
        if let Some(drain) = self.drain.as_mut() {
            if drain.old == conn {
                push_capped(&mut drain.old_log, message.clone());
                let delivery = into_delivery(message, ChangeCause::Resync);
                self.end_drain_if_caught_up();
                return Some(delivery);
            }
            if self.feeding.as_ref().is_some_and(|f| f.conn == conn) {
                if matches!(message, PresenceMessage::Snapshot(_)) {
                    // It covers everything before it: align what was held, then it.
                    self.finish_drain();
                    let delivery = self.deliver_from_feeding(conn, message);
                    self.released.extend(delivery);
                    return None;
                }
                drain.new_held.push_back(message);
                if drain.new_held.len() > DRAIN_LOG_LIMIT {
                    self.finish_drain();
                } else {
                    self.end_drain_if_caught_up();
                }
                return None;
            }
        }
        if !self.feeds_presence(conn) {
            if let Some(index) = self.held_index(conn) {
                self.held[index].messages.push(message);
            }
            return None;
        }
        if self.feeding.as_ref().is_some_and(|f| f.conn == conn) {
            return self.deliver_from_feeding(conn, message);
        }
        Some(into_delivery(message, ChangeCause::Resync))
    }

    /// A message of the feeding socket, unless it repeats what a drained socket
    /// already delivered; logged for every socket held meanwhile.
    fn deliver_from_feeding(&mut self, conn: ConnId, message: PresenceMessage) -> Option<Delivery> {
        if let Some(next) = self.expected.pop_front() {
            if next == message {
                return None;
            }
            // The streams parted: nothing more is expected.
            self.expected.clear();
        }
        for held in &mut self.held {
            push_capped(&mut held.feeder_log, message.clone());
        }
        Some(match message {
            PresenceMessage::Update(record) => Delivery::Update(record),
            PresenceMessage::Snapshot(friends) => Delivery::Snapshot {
                friends,
                cause: self.take_snapshot_cause(conn),
            },
        })
    }

    /// The next message a drain's end released, in order.
    pub fn poll_released(&mut self) -> Option<Delivery> {
        self.released.pop_front()
    }

    /// A socket a handover replaced that has nothing left to deliver, to close now.
    /// Each is returned once.
    pub fn take_drained(&mut self) -> Option<ConnId> {
        self.drained.take()
    }

    /// Ends the drain when the new socket holds exactly what the old one delivered
    /// last: the old one has nothing left that only it had.
    fn end_drain_if_caught_up(&mut self) {
        let Some(drain) = self.drain.as_ref() else {
            return;
        };
        let (old, new) = (&drain.old_log, &drain.new_held);
        if new.is_empty() || old.len() < new.len() || old.back() != new.back() {
            return;
        }
        if old.iter().skip(old.len() - new.len()).eq(new.iter()) {
            let old = drain.old;
            self.drain = None;
            self.drained = Some(old);
        }
    }

    /// Ends the drain now: the new socket's held messages are aligned with what the old
    /// one delivered (see the module docs) and the rest released in order.
    fn finish_drain(&mut self) {
        let Some(Drain {
            old,
            old_log,
            mut new_held,
        }) = self.drain.take()
        else {
            return;
        };
        self.drained = Some(old);
        let (delivered, expected) = align(&old_log, &new_held);
        self.expected = expected;
        let Some(conn) = self.feeding() else {
            return;
        };
        for message in new_held.drain(delivered..) {
            let delivery = match message {
                PresenceMessage::Update(record) => Delivery::Update(record),
                PresenceMessage::Snapshot(friends) => Delivery::Snapshot {
                    friends,
                    cause: self.take_snapshot_cause(conn),
                },
            };
            self.released.push_back(delivery);
        }
    }

    /// How a snapshot `conn` delivers now is marked: as its promotion said for the
    /// feeding socket's first, as a resync otherwise.
    fn take_snapshot_cause(&mut self, conn: ConnId) -> ChangeCause {
        match &mut self.feeding {
            Some(feeding) if feeding.conn == conn => {
                std::mem::replace(&mut feeding.next_snapshot, ChangeCause::Resync)
            }
            _ => ChangeCause::Resync,
        }
    }

    /// `conn` feeds presence from now on, its first snapshot marked `first_snapshot`.
    /// Returns what `conn` received while held, in order, to apply before anything it
    /// receives next; `None` when `conn` is neither held nor feeding (it has closed).
    ///
    /// The socket it replaces retires when `conn` brought a snapshot, and is drained
    /// otherwise: then nothing is released yet, and `conn`'s messages are held until
    /// the drain ends (see the module docs).
    pub fn promote(&mut self, conn: ConnId, first_snapshot: ChangeCause) -> Option<Released> {
        let held = self.held_index(conn).map(|i| self.held.swap_remove(i));
        let already_feeding = self.feeding.as_ref().is_some_and(|f| f.conn == conn);
        if held.is_none() && !already_feeding {
            self.replace_feeding(conn, ChangeCause::Resync);
            return None;
        }
        let (messages, feeder_log) = held.map(|h| (h.messages, h.feeder_log)).unwrap_or_default();
        let holds_snapshot = messages
            .iter()
            .any(|m| matches!(m, PresenceMessage::Snapshot(_)));
        let replaced = self
            .feeding
            .as_ref()
            .map(|f| f.conn)
            .filter(|old| *old != conn);
        if let (Some(old), false) = (replaced, holds_snapshot) {
            // An earlier drain still under way ends first.
            self.finish_drain();
            if self.retiring == Some(conn) {
                self.retiring = None;
            }
            self.feeding = Some(Feeding {
                conn,
                next_snapshot: first_snapshot,
            });
            self.expected.clear();
            self.drain = Some(Drain {
                old,
                old_log: feeder_log,
                new_held: messages.into(),
            });
            self.end_drain_if_caught_up();
            return Some(Released {
                messages: Vec::new().into_iter(),
                first_snapshot: None,
            });
        }
        let next_snapshot = if holds_snapshot {
            ChangeCause::Resync
        } else {
            first_snapshot
        };
        self.finish_drain();
        self.replace_feeding(conn, next_snapshot);
        self.drained = replaced.or(self.drained);
        Some(Released {
            messages: messages.into_iter(),
            first_snapshot: Some(first_snapshot),
        })
    }

    fn replace_feeding(&mut self, conn: ConnId, next_snapshot: ChangeCause) {
        if self.retiring == Some(conn) {
            self.retiring = None;
        }
        self.expected.clear();
        let previous = self.feeding.replace(Feeding {
            conn,
            next_snapshot,
        });
        if let Some(previous) = previous.filter(|p| p.conn != conn) {
            self.retiring = Some(previous.conn);
        }
    }

    /// Kith is closing `conn`. If it feeds presence, it stops now; if it is retiring,
    /// its messages count until [`closed`](Self::closed); if it is being drained, the
    /// drain ends now (see the module docs). What it held is dropped.
    pub fn closing(&mut self, conn: ConnId) {
        if self.drain.as_ref().is_some_and(|d| d.old == conn) {
            self.finish_drain();
            if self.drained == Some(conn) {
                self.drained = None;
            }
        }
        if self.feeding.as_ref().is_some_and(|f| f.conn == conn) {
            self.feeding = None;
            // What the old socket of a drain still delivers no longer joins anything.
            if let Some(drain) = self.drain.take() {
                self.drained = Some(drain.old);
            }
            self.expected.clear();
        }
        self.drop_held(conn);
    }

    /// Nothing more comes from `conn`: it is forgotten.
    pub fn closed(&mut self, conn: ConnId) {
        self.closing(conn);
        if self.retiring == Some(conn) {
            self.retiring = None;
        }
        if self.drained == Some(conn) {
            self.drained = None;
        }
    }

    fn drop_held(&mut self, conn: ConnId) {
        if let Some(index) = self.held_index(conn) {
            self.held.swap_remove(index);
        }
    }

    fn held_index(&self, conn: ConnId) -> Option<usize> {
        self.held.iter().position(|h| h.conn == conn)
    }
}

/// `message` as delivered by a socket that is not the feeding one: a snapshot is a
/// resync.
fn into_delivery(message: PresenceMessage, cause: ChangeCause) -> Delivery {
    match message {
        PresenceMessage::Update(record) => Delivery::Update(record),
        PresenceMessage::Snapshot(friends) => Delivery::Snapshot { friends, cause },
    }
}

fn push_capped(log: &mut VecDeque<PresenceMessage>, message: PresenceMessage) {
    if log.len() == DRAIN_LOG_LIMIT {
        log.pop_front();
    }
    log.push_back(message);
}

/// Aligns what a new socket holds with what the old one delivered last: returns how
/// many of `new`'s first messages the old socket already delivered, and the old
/// socket's messages that `new` has not reached yet (when the old one was ahead).
fn align(
    old: &VecDeque<PresenceMessage>,
    new: &VecDeque<PresenceMessage>,
) -> (usize, VecDeque<PresenceMessage>) {
    if new.is_empty() || old.is_empty() {
        return (0, VecDeque::new());
    }
    // The longest run that ends the old stream and starts the new one.
    for overlap in (1..=old.len().min(new.len())).rev() {
        if old
            .iter()
            .skip(old.len() - overlap)
            .eq(new.iter().take(overlap))
        {
            return (overlap, VecDeque::new());
        }
    }
    // The old socket was ahead: all of `new` lies inside what it delivered.
    if new.len() < old.len() {
        for start in (0..old.len() - new.len()).rev() {
            if old.iter().skip(start).take(new.len()).eq(new.iter()) {
                let ahead = old.iter().skip(start + new.len()).cloned().collect();
                return (new.len(), ahead);
            }
        }
    }
    (0, VecDeque::new())
}

/// The messages a socket received while held, released by its promotion: each one as
/// it is to be applied, the first snapshot marked as the promotion said, later ones as
/// a resync.
#[derive(Debug)]
pub struct Released {
    messages: std::vec::IntoIter<PresenceMessage>,
    first_snapshot: Option<ChangeCause>,
}

impl Iterator for Released {
    type Item = Delivery;

    fn next(&mut self) -> Option<Delivery> {
        Some(match self.messages.next()? {
            PresenceMessage::Update(record) => Delivery::Update(record),
            PresenceMessage::Snapshot(friends) => Delivery::Snapshot {
                friends,
                cause: self.first_snapshot.take().unwrap_or(ChangeCause::Resync),
            },
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.messages.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::FriendId;

    fn update(id: u64, status: &str) -> PresenceMessage {
        PresenceMessage::Update(record(id, status))
    }

    fn record(id: u64, status: &str) -> FriendRecord {
        FriendRecord {
            user_id: FriendId::from(id),
            username: format!("friend{id}").into(),
            status: status.into(),
            last_seen: None,
            seq: None,
        }
    }

    fn snapshot(ids: &[u64]) -> PresenceMessage {
        PresenceMessage::Snapshot(ids.iter().map(|id| record(*id, "online")).collect())
    }

    fn delivered(router: &mut HandoverRouter, conn: ConnId, message: PresenceMessage) -> bool {
        router.route(conn, message).is_some()
    }

    fn snapshot_cause(delivery: Option<Delivery>) -> ChangeCause {
        match delivery {
            Some(Delivery::Snapshot { cause, .. }) => cause,
            other => panic!("not a snapshot delivered: {other:?}"),
        }
    }

    #[test]
    fn an_unpromoted_sockets_messages_are_held_and_released_in_order_on_promotion() {
        let mut router = HandoverRouter::new();
        router.opened(1);
        assert_eq!(router.route(1, update(7, "away")), None);
        assert_eq!(router.route(1, snapshot(&[7, 8])), None);
        assert_eq!(router.route(1, update(8, "offline")), None);
        assert!(!router.feeds_presence(1));

        let released: Vec<Delivery> = router
            .promote(1, ChangeCause::Resync)
            .expect("socket 1 is held")
            .collect();
        assert_eq!(
            released,
            vec![
                Delivery::Update(record(7, "away")),
                Delivery::Snapshot {
                    friends: vec![record(7, "online"), record(8, "online")],
                    cause: ChangeCause::Resync,
                },
                Delivery::Update(record(8, "offline")),
            ]
        );
        assert_eq!(router.feeding(), Some(1));
        assert_eq!(
            router.route(1, update(9, "online")),
            Some(Delivery::Update(record(9, "online")))
        );
        // Released once: a second promotion has nothing left to release.
        assert_eq!(
            router.promote(1, ChangeCause::Resync).map(Iterator::count),
            Some(0)
        );
    }

    #[test]
    fn a_held_snapshot_is_marked_as_the_promotion_says_and_later_ones_as_resync() {
        for first in [ChangeCause::Live, ChangeCause::Resync] {
            let mut router = HandoverRouter::new();
            router.opened(2);
            router.route(2, snapshot(&[1]));
            router.route(2, snapshot(&[1, 2]));
            let causes: Vec<ChangeCause> = router
                .promote(2, first)
                .expect("socket 2 is held")
                .map(|d| snapshot_cause(Some(d)))
                .collect();
            assert_eq!(causes, vec![first, ChangeCause::Resync]);
            assert_eq!(
                snapshot_cause(router.route(2, snapshot(&[2]))),
                ChangeCause::Resync
            );
        }
    }

    #[test]
    fn the_first_snapshot_after_promotion_is_marked_as_the_promotion_says() {
        for first in [ChangeCause::Live, ChangeCause::Resync] {
            let mut router = HandoverRouter::new();
            router.opened(1);
            router.route(1, update(1, "online"));
            assert_eq!(router.promote(1, first).map(Iterator::count), Some(1));
            // Updates before it leave the mark for the snapshot.
            assert!(delivered(&mut router, 1, update(2, "away")));
            assert_eq!(snapshot_cause(router.route(1, snapshot(&[1]))), first);
            assert_eq!(
                snapshot_cause(router.route(1, snapshot(&[1]))),
                ChangeCause::Resync
            );
        }
    }

    #[test]
    fn a_handover_retires_the_old_socket_whose_messages_count_until_it_has_closed() {
        let mut router = HandoverRouter::new();
        router.opened(1);
        router.promote(1, ChangeCause::Resync);
        router.opened(2);
        assert!(!delivered(&mut router, 2, snapshot(&[1])));
        router.promote(2, ChangeCause::Live);
        assert_eq!(router.feeding(), Some(2));
        assert_eq!(router.retiring(), Some(1));

        router.closing(1);
        // Sent before its close, arriving after: still counts, its snapshot a resync.
        assert!(delivered(&mut router, 1, update(3, "away")));
        assert_eq!(
            snapshot_cause(router.route(1, snapshot(&[3]))),
            ChangeCause::Resync
        );

        router.closed(1);
        assert_eq!(router.retiring(), None);
        assert!(!router.feeds_presence(1));
        assert!(!delivered(&mut router, 1, update(3, "offline")));
        assert!(delivered(&mut router, 2, update(3, "offline")));
    }

    #[test]
    fn a_second_handover_stops_the_first_retired_socket_counting() {
        let mut router = HandoverRouter::new();
        for conn in 1..=3 {
            router.opened(conn);
            router.route(conn, snapshot(&[1]));
            router.promote(conn, ChangeCause::Live);
        }
        assert_eq!(router.feeding(), Some(3));
        assert_eq!(router.retiring(), Some(2));
        assert!(!delivered(&mut router, 1, update(1, "away")));
        assert!(delivered(&mut router, 2, update(1, "away")));
    }

    /// Everything the router applies, in order: what `route` returns, then what a
    /// drain's end released.
    fn applied(
        router: &mut HandoverRouter,
        conn: ConnId,
        message: PresenceMessage,
    ) -> Vec<Delivery> {
        let mut out: Vec<Delivery> = router.route(conn, message).into_iter().collect();
        out.extend(std::iter::from_fn(|| router.poll_released()));
        out
    }

    fn updates(deliveries: &[Delivery]) -> Vec<(u64, String)> {
        deliveries
            .iter()
            .map(|d| match d {
                Delivery::Update(r) => (
                    r.user_id.as_str().parse().unwrap_or(0),
                    r.status.to_string(),
                ),
                Delivery::Snapshot { .. } => (0, "snapshot".into()),
            })
            .collect()
    }

    /// Socket 1 feeds; socket 2 is opened and promoted without a snapshot.
    fn draining_from_1_to_2() -> HandoverRouter {
        let mut router = HandoverRouter::new();
        router.opened(1);
        router.promote(1, ChangeCause::Resync);
        router.opened(2);
        router
    }

    #[test]
    fn without_a_snapshot_the_old_socket_is_read_until_the_new_one_has_caught_up() {
        let mut router = draining_from_1_to_2();
        let mut seen = Vec::new();
        // Sent before socket 2 joined: only socket 1 has it, and it comes late.
        assert_eq!(
            router.promote(2, ChangeCause::Live).map(Iterator::count),
            Some(0)
        );
        assert!(router.is_draining());
        assert_eq!(
            router.take_drained(),
            None,
            "not drained before it delivered anything"
        );
        // Socket 2 is quicker with the first change sent after the join.
        seen.extend(applied(&mut router, 2, update(7, "online")));
        assert!(seen.is_empty(), "held while the old socket drains");
        seen.extend(applied(&mut router, 1, update(8, "away")));
        seen.extend(applied(&mut router, 1, update(7, "online")));
        // Both sockets have delivered the same last message: socket 1 is drained.
        assert_eq!(router.take_drained(), Some(1));
        assert!(!router.is_draining());
        seen.extend(applied(&mut router, 2, update(8, "online")));
        assert_eq!(
            updates(&seen),
            vec![
                (8, "away".into()),
                (7, "online".into()),
                (8, "online".into())
            ]
        );
        // The old socket's stragglers no longer count.
        assert!(applied(&mut router, 1, update(8, "online")).is_empty());
    }

    #[test]
    fn a_drain_cut_short_releases_only_what_the_old_socket_did_not_deliver() {
        let mut router = draining_from_1_to_2();
        router.promote(2, ChangeCause::Live);
        let mut seen = applied(&mut router, 1, update(9, "offline"));
        seen.extend(applied(&mut router, 2, update(1, "away")));
        seen.extend(applied(&mut router, 2, update(2, "away")));
        seen.extend(applied(&mut router, 1, update(1, "away")));
        assert!(router.is_draining(), "socket 2 is ahead");
        // The drain time is up: the machine closes socket 1.
        router.closing(1);
        seen.extend(std::iter::from_fn(|| router.poll_released()));
        assert_eq!(
            updates(&seen),
            vec![
                (9, "offline".into()),
                (1, "away".into()),
                (2, "away".into())
            ]
        );
        assert_eq!(router.take_drained(), None, "already closing");
        assert!(applied(&mut router, 1, update(2, "away")).is_empty());
    }

    #[test]
    fn when_the_old_socket_was_ahead_the_new_ones_repeats_are_skipped() {
        let mut router = draining_from_1_to_2();
        router.promote(2, ChangeCause::Live);
        let mut seen = Vec::new();
        for status in ["away", "online", "offline"] {
            seen.extend(applied(&mut router, 1, update(1, status)));
        }
        seen.extend(applied(&mut router, 2, update(1, "away")));
        router.closing(1);
        // Socket 2 now brings what socket 1 already delivered, then something new.
        for status in ["online", "offline", "away"] {
            seen.extend(applied(&mut router, 2, update(1, status)));
        }
        assert_eq!(
            updates(&seen),
            vec![
                (1, "away".into()),
                (1, "online".into()),
                (1, "offline".into()),
                (1, "away".into())
            ]
        );
    }

    #[test]
    fn a_snapshot_on_the_new_socket_ends_the_drain_after_what_it_held() {
        let mut router = draining_from_1_to_2();
        router.promote(2, ChangeCause::Live);
        let mut seen = applied(&mut router, 2, update(5, "away"));
        seen.extend(applied(&mut router, 2, snapshot(&[5])));
        assert_eq!(router.take_drained(), Some(1));
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0], Delivery::Update(record(5, "away")));
        assert_eq!(snapshot_cause(seen.pop()), ChangeCause::Live);
    }

    #[test]
    fn a_held_snapshot_lets_the_new_socket_take_over_at_once() {
        let mut router = draining_from_1_to_2();
        router.route(2, snapshot(&[1]));
        assert_eq!(
            router.promote(2, ChangeCause::Live).map(Iterator::count),
            Some(1)
        );
        assert!(!router.is_draining());
        assert_eq!(router.take_drained(), Some(1));
        assert_eq!(router.retiring(), Some(1));
    }

    #[test]
    fn the_feeding_sockets_messages_are_aligned_from_when_the_new_one_opened() {
        let mut router = draining_from_1_to_2();
        // Socket 2 is open but not promoted; socket 1 carries on.
        assert!(!router.applies_directly(1), "logged for the alignment");
        let mut seen = applied(&mut router, 1, update(1, "away"));
        router.route(2, update(1, "away"));
        router.promote(2, ChangeCause::Live);
        assert_eq!(router.take_drained(), Some(1), "caught up already");
        seen.extend(applied(&mut router, 2, update(1, "online")));
        assert_eq!(
            updates(&seen),
            vec![(1, "away".into()), (1, "online".into())]
        );
        assert!(router.applies_directly(2));
    }

    #[test]
    fn a_drain_is_bounded_in_memory() {
        let mut router = draining_from_1_to_2();
        router.promote(2, ChangeCause::Live);
        let mut released = 0;
        for n in 0..=DRAIN_LOG_LIMIT as u64 {
            released += applied(&mut router, 2, update(n, "away")).len();
        }
        assert!(!router.is_draining());
        assert_eq!(router.take_drained(), Some(1));
        assert_eq!(
            released,
            DRAIN_LOG_LIMIT + 1,
            "everything held is released in order"
        );
    }

    #[test]
    fn a_feeding_socket_being_closed_stops_counting_at_once() {
        let mut router = HandoverRouter::new();
        router.opened(1);
        router.promote(1, ChangeCause::Resync);
        router.closing(1);
        assert_eq!(router.feeding(), None);
        assert_eq!(router.retiring(), None);
        assert!(!delivered(&mut router, 1, update(1, "away")));
    }

    #[test]
    fn a_closed_sockets_held_messages_are_dropped() {
        for close in [HandoverRouter::closing, HandoverRouter::closed] {
            let mut router = HandoverRouter::new();
            router.opened(4);
            router.route(4, update(1, "away"));
            router.route(4, snapshot(&[1]));
            close(&mut router, 4);
            // Nothing of it is held any more, nor what it still sends.
            assert_eq!(router.route(4, update(1, "online")), None);
            assert!(router.promote(4, ChangeCause::Live).is_none());
        }
    }

    #[test]
    fn messages_of_an_unknown_socket_are_dropped_not_held() {
        let mut router = HandoverRouter::new();
        assert_eq!(router.route(9, update(1, "away")), None);
        router.opened(9);
        assert_eq!(
            router.promote(9, ChangeCause::Resync).map(Iterator::count),
            Some(0)
        );
    }

    #[test]
    fn each_held_socket_keeps_its_own_messages() {
        let mut router = HandoverRouter::new();
        router.opened(1);
        router.opened(2);
        router.route(1, update(1, "away"));
        router.route(2, update(2, "away"));
        router.route(1, update(1, "offline"));
        let one: Vec<Delivery> = router
            .promote(1, ChangeCause::Resync)
            .expect("held")
            .collect();
        assert_eq!(
            one,
            vec![
                Delivery::Update(record(1, "away")),
                Delivery::Update(record(1, "offline"))
            ]
        );
        router.closed(1);
        let two: Vec<Delivery> = router
            .promote(2, ChangeCause::Live)
            .expect("held")
            .collect();
        assert_eq!(two, vec![Delivery::Update(record(2, "away"))]);
        assert_eq!(router.retiring(), None, "socket 1 had closed");
    }

    #[test]
    fn promoting_the_feeding_socket_again_re_marks_its_next_snapshot() {
        let mut router = HandoverRouter::new();
        router.opened(1);
        router.promote(1, ChangeCause::Resync);
        router.route(1, snapshot(&[1]));
        router.promote(1, ChangeCause::Live);
        assert_eq!(router.retiring(), None);
        assert_eq!(
            snapshot_cause(router.route(1, snapshot(&[1]))),
            ChangeCause::Live
        );
    }
}
