//! Which socket's presence messages count: the routing half of a handover, pure.
//!
//! The machine decides when a socket is promoted ([`Action::Promote`]) and when one is
//! closed; what that means for the messages already on their way is kept here, apart
//! from the driver's IO, so that it can be tested on its own:
//! - the socket that feeds presence, whose messages are applied as they come;
//! - the socket a handover replaced, whose late messages still count (the store drops
//!   what the new socket already brought) until it has finished closing, and not after;
//! - what a socket not yet promoted has received, held and released in order when it
//!   is, and dropped if it closes first;
//! - how the first snapshot of a promoted socket is marked: [`ChangeCause::Resync`]
//!   after a gap, [`ChangeCause::Live`] for a seamless handover; every later one is a
//!   resync.
//!
//! [`Action::Promote`]: crate::socket::events::Action::Promote

use crate::presence::ChangeCause;
use crate::protocol::FriendRecord;
use crate::socket::events::ConnId;

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

/// A socket not promoted yet, with what it has received so far.
#[derive(Debug)]
struct Held {
    conn: ConnId,
    messages: Vec<PresenceMessage>,
}

/// Routes each socket's presence messages. See the module docs.
#[derive(Debug, Default)]
pub struct HandoverRouter {
    feeding: Option<Feeding>,
    retiring: Option<ConnId>,
    /// At most a socket or two: a handover has one candidate at a time.
    held: Vec<Held>,
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
            });
        }
    }

    /// Whether `conn`'s messages are applied as they come: it feeds presence, or a
    /// handover is retiring it.
    pub fn feeds_presence(&self, conn: ConnId) -> bool {
        self.feeding.as_ref().is_some_and(|f| f.conn == conn) || self.retiring == Some(conn)
    }

    /// The socket that feeds presence, if any.
    pub fn feeding(&self) -> Option<ConnId> {
        self.feeding.as_ref().map(|f| f.conn)
    }

    /// The socket a handover replaced whose messages still count, if any.
    pub fn retiring(&self) -> Option<ConnId> {
        self.retiring
    }

    /// What to apply now of `message` from `conn`: it, when `conn` feeds presence;
    /// nothing when it is held for a socket not yet promoted, or dropped for a socket
    /// that no longer counts.
    pub fn route(&mut self, conn: ConnId, message: PresenceMessage) -> Option<Delivery> {
        if !self.feeds_presence(conn) {
            if let Some(index) = self.held_index(conn) {
                self.held[index].messages.push(message);
            }
            return None;
        }
        Some(match message {
            PresenceMessage::Update(record) => Delivery::Update(record),
            PresenceMessage::Snapshot(friends) => Delivery::Snapshot {
                friends,
                cause: self.take_snapshot_cause(conn),
            },
        })
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

    /// `conn` feeds presence from now on, its first snapshot marked `first_snapshot`;
    /// the socket it replaces retires. Returns what `conn` received while held, in
    /// order, to apply before anything it receives next; `None` when `conn` is neither
    /// held nor feeding (it has closed).
    pub fn promote(&mut self, conn: ConnId, first_snapshot: ChangeCause) -> Option<Released> {
        let held = self.held_index(conn).map(|i| self.held.swap_remove(i));
        let already_feeding = self.feeding.as_ref().is_some_and(|f| f.conn == conn);
        if held.is_none() && !already_feeding {
            self.replace_feeding(conn, ChangeCause::Resync);
            return None;
        }
        let messages = held.map(|h| h.messages).unwrap_or_default();
        let holds_snapshot = messages
            .iter()
            .any(|m| matches!(m, PresenceMessage::Snapshot(_)));
        let next_snapshot = if holds_snapshot {
            ChangeCause::Resync
        } else {
            first_snapshot
        };
        self.replace_feeding(conn, next_snapshot);
        Some(Released {
            messages: messages.into_iter(),
            first_snapshot: Some(first_snapshot),
        })
    }

    fn replace_feeding(&mut self, conn: ConnId, next_snapshot: ChangeCause) {
        if self.retiring == Some(conn) {
            self.retiring = None;
        }
        let previous = self.feeding.replace(Feeding {
            conn,
            next_snapshot,
        });
        if let Some(previous) = previous.filter(|p| p.conn != conn) {
            self.retiring = Some(previous.conn);
        }
    }

    /// Kith is closing `conn`. If it feeds presence, it stops now; if it is retiring,
    /// its messages count until [`closed`](Self::closed). What it held is dropped.
    pub fn closing(&mut self, conn: ConnId) {
        if self.feeding.as_ref().is_some_and(|f| f.conn == conn) {
            self.feeding = None;
        }
        self.drop_held(conn);
    }

    /// Nothing more comes from `conn`: it is forgotten.
    pub fn closed(&mut self, conn: ConnId) {
        self.closing(conn);
        if self.retiring == Some(conn) {
            self.retiring = None;
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
            router.promote(conn, ChangeCause::Live);
        }
        assert_eq!(router.feeding(), Some(3));
        assert_eq!(router.retiring(), Some(2));
        assert!(!delivered(&mut router, 1, update(1, "away")));
        assert!(delivered(&mut router, 2, update(1, "away")));
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
