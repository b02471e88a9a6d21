//! Which presence changes become notifications, and how they are worded.
//!
//! Sans-IO, like the connection machine: [`Notifier::push`] takes live changes with the
//! time they arrived, [`Notifier::poll`] returns what to show once it has settled, and
//! [`Notifier::next_deadline`] says when to poll. The rules:
//! - only live changes count: nothing for the initial snapshot or a resync;
//! - only "came online" and "went offline", each switchable;
//! - a change is held for a settle period, so a flap (online → offline → online within
//!   it) collapses to nothing;
//! - changes that settle together are grouped: "Alice and 4 others are online";
//! - Do not disturb mutes everything.

use std::time::{Duration, Instant};

use kith_core::{ChangeCause, FriendId, PresenceChange, Status};

/// How long a change must hold before it is announced.
pub const SETTLE: Duration = Duration::from_secs(3);
/// Changes that settle within this of the first one are announced with it.
pub const GROUP_SLACK: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyPrefs {
    pub online: bool,
    pub offline: bool,
    pub do_not_disturb: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    CameOnline,
    WentOffline,
}

/// A notification to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
}

#[derive(Debug, Clone)]
struct Pending {
    friend: FriendId,
    name: String,
    kind: Kind,
    at: Instant,
}

#[derive(Debug, Default)]
pub struct Notifier {
    pending: Vec<Pending>,
}

fn is_offline(status: Option<&Status>) -> bool {
    !status.is_some_and(Status::is_online)
}

/// The kind of a change, if it is one that may be announced.
pub fn classify(change: &PresenceChange) -> Option<Kind> {
    if change.cause != ChangeCause::Live {
        return None;
    }
    let was_offline = is_offline(change.from.as_ref());
    let now_offline = is_offline(change.to.as_ref());
    match (
        change.from.is_some(),
        change.to.is_some(),
        was_offline,
        now_offline,
    ) {
        // A friend Kith did not know, or one that was removed: not a presence change.
        (false, _, _, _) | (_, false, _, _) => None,
        (_, _, true, false) => Some(Kind::CameOnline),
        (_, _, false, true) => Some(Kind::WentOffline),
        _ => None,
    }
}

impl Notifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a change. A change that undoes a pending one cancels it (a flap).
    pub fn push(&mut self, change: &PresenceChange, now: Instant) {
        let Some(kind) = classify(change) else {
            return;
        };
        if let Some(index) = self.pending.iter().position(|p| p.friend == change.user_id) {
            if self.pending[index].kind != kind {
                self.pending.remove(index);
                return;
            }
            return;
        }
        self.pending.push(Pending {
            friend: change.user_id.clone(),
            name: change.display_name().to_owned(),
            kind,
            at: now,
        });
    }

    /// When [`poll`](Self::poll) next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.at + SETTLE).min()
    }

    /// Notices for every change that has settled, grouped by kind.
    pub fn poll(&mut self, now: Instant, prefs: NotifyPrefs) -> Vec<Notice> {
        let Some(first) = self.next_deadline() else {
            return Vec::new();
        };
        if now < first {
            return Vec::new();
        }
        let cutoff = now.max(first + GROUP_SLACK);
        let (due, keep): (Vec<Pending>, Vec<Pending>) = self
            .pending
            .drain(..)
            .partition(|p| p.at + SETTLE <= cutoff);
        self.pending = keep;
        if prefs.do_not_disturb {
            return Vec::new();
        }
        let mut notices = Vec::new();
        for (kind, enabled) in [
            (Kind::CameOnline, prefs.online),
            (Kind::WentOffline, prefs.offline),
        ] {
            if !enabled {
                continue;
            }
            let names: Vec<&str> = due
                .iter()
                .filter(|p| p.kind == kind)
                .map(|p| p.name.as_str())
                .collect();
            if let Some(notice) = word(kind, &names) {
                notices.push(notice);
            }
        }
        notices
    }
}

/// "Alice is online", "Alice and Bob are online", "Alice and 4 others went offline".
pub fn word(kind: Kind, names: &[&str]) -> Option<Notice> {
    let first = names.first()?;
    let subject = match names.len() {
        1 => first.to_string(),
        2 => format!("{first} and {}", names[1]),
        n => format!("{first} and {} others", n - 1),
    };
    let verb = match (kind, names.len()) {
        (Kind::CameOnline, 1) => "is online",
        (Kind::CameOnline, _) => "are online",
        (Kind::WentOffline, _) => "went offline",
    };
    Some(Notice {
        title: "Kith".to_string(),
        body: format!("{subject} {verb}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: NotifyPrefs = NotifyPrefs {
        online: true,
        offline: true,
        do_not_disturb: false,
    };

    fn change(id: u64, name: &str, from: &str, to: &str, cause: ChangeCause) -> PresenceChange {
        PresenceChange {
            user_id: FriendId::from(id),
            username: name.into(),
            from: Some(from.into()),
            to: Some(to.into()),
            last_seen: None,
            cause,
        }
    }

    fn bodies(notices: &[Notice]) -> Vec<&str> {
        notices.iter().map(|n| n.body.as_str()).collect()
    }

    #[test]
    fn a_settled_change_is_announced_once() {
        let t0 = Instant::now();
        let mut notifier = Notifier::new();
        notifier.push(
            &change(1, "Alice", "offline", "online", ChangeCause::Live),
            t0,
        );
        assert!(notifier.poll(t0 + Duration::from_secs(1), ALL).is_empty());
        assert_eq!(notifier.next_deadline(), Some(t0 + SETTLE));
        let notices = notifier.poll(t0 + SETTLE, ALL);
        assert_eq!(bodies(&notices), ["Alice is online"]);
        assert!(notifier.poll(t0 + SETTLE * 2, ALL).is_empty());
    }

    #[test]
    fn resync_and_snapshot_changes_are_silent() {
        let t0 = Instant::now();
        let mut notifier = Notifier::new();
        notifier.push(
            &change(1, "Alice", "offline", "online", ChangeCause::Resync),
            t0,
        );
        let mut new_friend = change(2, "Bob", "offline", "online", ChangeCause::Live);
        new_friend.from = None;
        notifier.push(&new_friend, t0);
        assert_eq!(notifier.next_deadline(), None);
    }

    #[test]
    fn a_flap_collapses_to_nothing() {
        let t0 = Instant::now();
        let mut notifier = Notifier::new();
        notifier.push(
            &change(1, "Alice", "online", "offline", ChangeCause::Live),
            t0,
        );
        notifier.push(
            &change(1, "Alice", "offline", "online", ChangeCause::Live),
            t0 + Duration::from_secs(2),
        );
        assert!(notifier.poll(t0 + SETTLE * 3, ALL).is_empty());
        assert_eq!(notifier.next_deadline(), None);
    }

    #[test]
    fn changes_arriving_together_are_grouped() {
        let t0 = Instant::now();
        let mut notifier = Notifier::new();
        for (i, name) in ["Alice", "Bob", "Carol", "Dave", "Erin"].iter().enumerate() {
            notifier.push(
                &change(i as u64, name, "offline", "online", ChangeCause::Live),
                t0 + Duration::from_millis(100 * i as u64),
            );
        }
        notifier.push(
            &change(9, "Zed", "online", "offline", ChangeCause::Live),
            t0,
        );
        notifier.push(&change(10, "Yan", "away", "offline", ChangeCause::Live), t0);
        let notices = notifier.poll(t0 + SETTLE, ALL);
        assert_eq!(
            bodies(&notices),
            ["Alice and 4 others are online", "Zed and Yan went offline"]
        );
    }

    #[test]
    fn each_kind_is_switchable_and_dnd_mutes_all() {
        let t0 = Instant::now();
        let push_both = |notifier: &mut Notifier| {
            notifier.push(
                &change(1, "Alice", "offline", "online", ChangeCause::Live),
                t0,
            );
            notifier.push(
                &change(2, "Bob", "online", "offline", ChangeCause::Live),
                t0,
            );
        };
        let mut notifier = Notifier::new();
        push_both(&mut notifier);
        let only_online = NotifyPrefs {
            offline: false,
            ..ALL
        };
        assert_eq!(
            bodies(&notifier.poll(t0 + SETTLE, only_online)),
            ["Alice is online"]
        );
        push_both(&mut notifier);
        let dnd = NotifyPrefs {
            do_not_disturb: true,
            ..ALL
        };
        assert!(notifier.poll(t0 + SETTLE, dnd).is_empty());
        assert_eq!(
            notifier.next_deadline(),
            None,
            "muted changes are dropped, not delayed"
        );
    }

    #[test]
    fn online_to_away_is_not_announced() {
        let t0 = Instant::now();
        let mut notifier = Notifier::new();
        notifier.push(&change(1, "Alice", "online", "away", ChangeCause::Live), t0);
        assert_eq!(notifier.next_deadline(), None);
    }

    #[test]
    fn wording() {
        assert_eq!(
            word(Kind::CameOnline, &["A", "B"]).unwrap().body,
            "A and B are online"
        );
        assert_eq!(
            word(Kind::WentOffline, &["A"]).unwrap().body,
            "A went offline"
        );
        assert_eq!(word(Kind::WentOffline, &[]), None);
    }
}
