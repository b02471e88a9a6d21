//! "4 online · 4 away · 8 friends": the window's header and the tray tooltip.
//!
//! The header said "8 of 8 online" while four of the eight were away, because Kith's
//! one rule for online ([`crate::presence::is_online`]) counts away as online. Here
//! away is counted apart ([`presence_class`]): `online` is the present ones only.

use std::fmt;

use super::transition::{presence_class, PresenceClass};
use crate::presence::{Friend, PresenceChange};

/// How many friends are present, away and offline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Online and not away.
    pub online: usize,
    /// Away (or idle).
    pub away: usize,
    /// Offline.
    pub offline: usize,
}

impl Counts {
    /// The counts for friends with these statuses.
    pub fn of_statuses<'a>(statuses: impl IntoIterator<Item = &'a str>) -> Counts {
        let mut counts = Counts::default();
        for status in statuses {
            counts.add(status);
        }
        counts
    }

    /// The counts for these friends (a [`crate::PresenceStore`]'s `friends()`).
    pub fn of_friends<'a>(friends: impl IntoIterator<Item = &'a Friend>) -> Counts {
        Counts::of_statuses(friends.into_iter().map(|f| f.status.as_str()))
    }

    fn slot(&mut self, status: &str) -> &mut usize {
        match presence_class(status) {
            PresenceClass::Present => &mut self.online,
            PresenceClass::Away => &mut self.away,
            PresenceClass::Offline => &mut self.offline,
        }
    }

    /// Counts one more friend with `status`.
    pub fn add(&mut self, status: &str) {
        *self.slot(status) += 1;
    }

    /// Counts one friend with `status` less (never below zero).
    pub fn remove(&mut self, status: &str) {
        let slot = self.slot(status);
        *slot = slot.saturating_sub(1);
    }

    /// Keeps the counts current through a change, whatever its cause: a friend added
    /// (`from` is `None`), removed (`to` is `None`) or changed.
    pub fn apply(&mut self, change: &PresenceChange) {
        if let Some(from) = &change.from {
            self.remove(from);
        }
        if let Some(to) = &change.to {
            self.add(to);
        }
    }

    /// Every friend.
    pub fn total(&self) -> usize {
        self.online + self.away + self.offline
    }
}

/// "4 online · 4 away · 8 friends" ("1 friend" for one).
impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.total();
        let noun = if total == 1 { "friend" } else { "friends" };
        write!(
            f,
            "{} online · {} away · {total} {noun}",
            self.online, self.away
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presence::ChangeCause;
    use crate::protocol::FriendId;

    #[test]
    fn away_is_counted_apart() {
        let statuses = [
            "online", "away", "busy", "idle", "away", "offline", "online", "Away",
        ];
        let counts = Counts::of_statuses(statuses);
        assert_eq!(counts.to_string(), "3 online · 4 away · 8 friends");
        assert_eq!(counts.offline, 1);
        assert_eq!(
            Counts::of_statuses(["offline"]).to_string(),
            "0 online · 0 away · 1 friend"
        );
        assert_eq!(
            Counts::default().to_string(),
            "0 online · 0 away · 0 friends"
        );
    }

    #[test]
    fn changes_keep_the_counts_current() {
        let mut counts = Counts::of_statuses(["online", "away"]);
        let change = |from: Option<&str>, to: Option<&str>| PresenceChange {
            user_id: FriendId::from(1),
            username: "a".into(),
            from: from.map(Into::into),
            to: to.map(Into::into),
            last_seen: None,
            cause: ChangeCause::Live,
        };
        counts.apply(&change(Some("away"), Some("online")));
        counts.apply(&change(None, Some("offline")));
        assert_eq!(
            counts,
            Counts {
                online: 2,
                away: 0,
                offline: 1
            }
        );
        counts.apply(&change(Some("online"), None));
        assert_eq!(counts.to_string(), "1 online · 0 away · 2 friends");
    }
}
