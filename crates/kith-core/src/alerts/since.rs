//! "Online since 14:02", "offline since 09:15", or "since at least …" where Kith cannot
//! know.
//!
//! The time is the moment Kith saw the change happen, and only that. When Kith was not
//! running, or not connected, it cannot know when a friend's current status began: a
//! friend listed by the first snapshot, or whose change was learned from a resync,
//! has held their status *at least* since Kith learned it; and a friend whose status
//! looks unchanged across a disconnect may have flapped meanwhile, so what Kith saw
//! before the gap no longer counts and they too are "since at least" the reconnect.
//! Kith says that rather than guess. The backend's `last_seen` is not used here; the
//! window shows it as it is.
//!
//! Online means Kith's one rule ([`crate::presence::is_online`]): a friend who goes
//! from online to away stays "online since" the same time.
//!
//! Feed [`SinceTracker`] every presence change ([`SinceTracker::on_presence`]) and every
//! connection state change ([`SinceTracker::on_connection`]), each with the wall-clock
//! time it arrived. While disconnected, it reports what held when the connection was
//! lost. When friends are marked stale (no snapshot after a reconnect), a "since at
//! least" is about the status Kith holds, which may itself be out of date; the window
//! says so with its stale mark.

use std::collections::HashMap;

use jiff::{Timestamp, Zoned};

use super::clock::clock_text;
use crate::presence::{is_online, ChangeCause, PresenceChange};
use crate::protocol::FriendId;
use crate::socket::{ConnectionState, StateChange};

/// Since when a friend's status has held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Kith saw it begin at this moment.
    Exactly(Timestamp),
    /// It has held at least since this moment; Kith did not see it begin.
    AtLeast(Timestamp),
}

impl Since {
    /// The moment, exact or a bound.
    pub fn at(self) -> Timestamp {
        match self {
            Since::Exactly(at) | Since::AtLeast(at) => at,
        }
    }
}

/// A friend's status (online or not) and since when it has held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FriendSince {
    /// Whether they are online, by Kith's one rule.
    pub online: bool,
    /// Since when.
    pub since: Since,
}

impl FriendSince {
    /// "online since 14:02", "offline since yesterday 23:10", "online since at least
    /// 09:41", in `now`'s time zone.
    pub fn text(&self, now: &Zoned) -> String {
        let status = if self.online { "online" } else { "offline" };
        match self.since {
            Since::Exactly(at) => format!("{status} since {}", clock_text(at, now)),
            Since::AtLeast(at) => format!("{status} since at least {}", clock_text(at, now)),
        }
    }
}

/// Tracks since when each friend's status has held, from the changes Kith saw.
#[derive(Debug, Clone, Default)]
pub struct SinceTracker {
    friends: HashMap<FriendId, FriendSince>,
    connected: bool,
    /// When Kith last started listening (became connected after not being so). What
    /// was recorded before it is only a bound from then on.
    listening_since: Option<Timestamp>,
}

impl SinceTracker {
    /// A tracker that knows nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes a presence change that arrived at `at`.
    pub fn on_presence(&mut self, change: &PresenceChange, at: Timestamp) {
        let Some(to) = &change.to else {
            self.friends.remove(&change.user_id);
            return;
        };
        let online = is_online(to);
        let seen = match (&change.from, change.cause) {
            (Some(from), ChangeCause::Live) if is_online(from) != online => Since::Exactly(at),
            (Some(_), ChangeCause::Live) => match self.friends.get(&change.user_id) {
                // Online → away: the same run goes on.
                Some(known) if known.online == online => return,
                _ => Since::AtLeast(at),
            },
            // A friend Kith did not know, or a change learned after a gap.
            _ => Since::AtLeast(at),
        };
        self.friends.insert(
            change.user_id.clone(),
            FriendSince {
                online,
                since: seen,
            },
        );
    }

    /// Takes a connection state change that happened at `at`.
    pub fn on_connection(&mut self, change: &StateChange, at: Timestamp) {
        let connected = change.to == ConnectionState::Connected;
        if connected && !self.connected {
            self.listening_since = Some(at);
        }
        self.connected = connected;
    }

    /// Forgets everything (sign-out, or a change of account).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// `friend`'s status and since when, as far as Kith can tell.
    pub fn get(&self, friend: &FriendId) -> Option<FriendSince> {
        let mut known = *self.friends.get(friend)?;
        if let Some(listening) = self.listening_since {
            if known.since.at() < listening {
                known.since = Since::AtLeast(listening);
            }
        }
        Some(known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::Reason;

    fn at(text: &str) -> Timestamp {
        format!("2026-03-09T{text}:00Z").parse().unwrap()
    }

    fn presence(from: Option<&str>, to: Option<&str>, cause: ChangeCause) -> PresenceChange {
        PresenceChange {
            user_id: FriendId::from(1),
            username: "alice".into(),
            from: from.map(Into::into),
            to: to.map(Into::into),
            last_seen: None,
            cause,
        }
    }

    fn state(from: ConnectionState, to: ConnectionState) -> StateChange {
        StateChange {
            from,
            to,
            reason: Reason::Started,
            retry_at: None,
        }
    }

    #[test]
    fn what_kith_saw_is_exact_and_a_gap_makes_it_a_bound() {
        use ConnectionState::{Connected, Connecting, Reconnecting};
        let alice = FriendId::from(1);
        let now: Zoned = "2026-03-09T18:00:00+00:00[UTC]".parse().unwrap();
        let mut tracker = SinceTracker::new();
        tracker.on_connection(&state(Connecting { attempt: 1 }, Connected), at("09:00"));
        // The first snapshot: Kith was not running before, so "at least".
        tracker.on_presence(
            &presence(None, Some("offline"), ChangeCause::Resync),
            at("09:00"),
        );
        let got = tracker.get(&alice).unwrap();
        assert_eq!(got.text(&now), "offline since at least 09:00");
        // A live change: exact.
        tracker.on_presence(
            &presence(Some("offline"), Some("online"), ChangeCause::Live),
            at("14:02"),
        );
        assert_eq!(
            tracker.get(&alice).unwrap().text(&now),
            "online since 14:02"
        );
        // Online → away keeps the run.
        tracker.on_presence(
            &presence(Some("online"), Some("away"), ChangeCause::Live),
            at("14:30"),
        );
        assert_eq!(
            tracker.get(&alice).unwrap().since,
            Since::Exactly(at("14:02"))
        );
        // The connection drops: while disconnected, what held when it was lost.
        tracker.on_connection(&state(Connected, Reconnecting { attempt: 1 }), at("15:00"));
        assert_eq!(
            tracker.get(&alice).unwrap().since,
            Since::Exactly(at("14:02"))
        );
        // Back, with no change for Alice: she may have flapped meanwhile.
        tracker.on_connection(&state(Connecting { attempt: 2 }, Connected), at("15:10"));
        assert_eq!(
            tracker.get(&alice).unwrap().text(&now),
            "online since at least 15:10"
        );
        // A change learned from the resync: at least since it was learned.
        tracker.on_presence(
            &presence(Some("away"), Some("offline"), ChangeCause::Resync),
            at("15:11"),
        );
        assert_eq!(
            tracker.get(&alice).unwrap().text(&now),
            "offline since at least 15:11"
        );
        // Live again: exact again.
        tracker.on_presence(
            &presence(Some("offline"), Some("online"), ChangeCause::Live),
            at("16:00"),
        );
        assert_eq!(
            tracker.get(&alice).unwrap().since,
            Since::Exactly(at("16:00"))
        );
        // A friend the snapshot no longer lists is forgotten.
        tracker.on_presence(
            &presence(Some("online"), None, ChangeCause::Resync),
            at("17:00"),
        );
        assert_eq!(tracker.get(&alice), None);
    }

    #[test]
    fn a_handover_is_no_gap() {
        use ConnectionState::{Connected, Connecting};
        let mut tracker = SinceTracker::new();
        tracker.on_connection(&state(Connecting { attempt: 1 }, Connected), at("09:00"));
        tracker.on_presence(
            &presence(Some("offline"), Some("online"), ChangeCause::Live),
            at("10:00"),
        );
        tracker.on_connection(&state(Connected, Connected), at("11:00"));
        assert_eq!(
            tracker.get(&FriendId::from(1)).unwrap().since,
            Since::Exactly(at("10:00"))
        );
    }

    #[test]
    fn a_live_update_of_a_friend_first_seen_says_at_least() {
        let mut tracker = SinceTracker::new();
        tracker.on_presence(
            &presence(None, Some("online"), ChangeCause::Live),
            at("10:00"),
        );
        assert_eq!(
            tracker.get(&FriendId::from(1)).unwrap().since,
            Since::AtLeast(at("10:00"))
        );
        let mut late = SinceTracker::new();
        late.on_presence(
            &presence(Some("online"), Some("away"), ChangeCause::Live),
            at("10:05"),
        );
        assert_eq!(
            late.get(&FriendId::from(1)).unwrap().since,
            Since::AtLeast(at("10:05"))
        );
    }
}
