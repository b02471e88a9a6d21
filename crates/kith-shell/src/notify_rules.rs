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
//!
//! A burst of n changes costs O(n): pending changes are found by friend id through a
//! map, and a cancelled one leaves a gap that the next poll sweeps away.
//! Names are kept as plain text ([`display::plain_text`]); markup is escaped where the
//! notification is raised.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::display;

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
    /// The friend a click on the notification shows: the first one it names. `None`
    /// for a notice about Kith itself, whose click only opens the window.
    pub friend: Option<FriendId>,
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
    /// In arrival order; `None` where a change was cancelled by a flap.
    pending: Vec<Option<Pending>>,
    /// Where each friend's pending change is in `pending`.
    index: HashMap<FriendId, usize>,
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
        if let Some(&slot) = self.index.get(&change.user_id) {
            if self.pending[slot].as_ref().is_some_and(|p| p.kind != kind) {
                self.pending[slot] = None;
                self.index.remove(&change.user_id);
                // Flaps must not grow the list while nothing settles: once gaps
                // outnumber changes, close them (amortized O(1) per change).
                if self.pending.len() > 2 * self.index.len() + 16 {
                    let live: Vec<Pending> = self.pending.drain(..).flatten().collect();
                    self.keep(live);
                }
            }
            return;
        }
        self.index
            .insert(change.user_id.clone(), self.pending.len());
        self.pending.push(Some(Pending {
            friend: change.user_id.clone(),
            name: display::plain_text(change.display_name(), display::NAME_MAX),
            kind,
            at: now,
        }));
    }

    /// Makes `live` (in arrival order, no gaps) the pending changes.
    fn keep(&mut self, live: Vec<Pending>) {
        self.index = live
            .iter()
            .enumerate()
            .map(|(slot, p)| (p.friend.clone(), slot))
            .collect();
        self.pending = live.into_iter().map(Some).collect();
    }

    /// When [`poll`](Self::poll) next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.iter().flatten().map(|p| p.at + SETTLE).min()
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
            .flatten()
            .partition(|p| p.at + SETTLE <= cutoff);
        self.keep(keep);
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
            let of_kind: Vec<&Pending> = due.iter().filter(|p| p.kind == kind).collect();
            let names: Vec<&str> = of_kind.iter().map(|p| p.name.as_str()).collect();
            if let Some(mut notice) = word(kind, &names) {
                notice.friend = of_kind.first().map(|p| p.friend.clone());
                notices.push(notice);
            }
        }
        notices
    }
}

/// "Alice is online", "Alice and Bob are online", "Alice and 4 others went offline".
/// The notice names no friend to show; [`Notifier::poll`] sets it.
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
        friend: None,
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
    fn a_large_burst_is_grouped_with_flaps_cancelled() {
        let t0 = Instant::now();
        let mut notifier = Notifier::new();
        let friends = 25_000u64;
        // 50,000 changes at once: every friend comes online, then every third one
        // goes offline again within the settle period (a flap).
        for id in 0..friends {
            notifier.push(
                &change(
                    id,
                    &format!("f{id}"),
                    "offline",
                    "online",
                    ChangeCause::Live,
                ),
                t0,
            );
        }
        for id in 0..friends {
            let (from, to) = if id % 3 == 0 {
                ("online", "offline")
            } else {
                // A repeat of the pending change: ignored.
                ("offline", "online")
            };
            notifier.push(&change(id, "again", from, to, ChangeCause::Live), t0);
        }
        let flapped = friends.div_ceil(3);
        let notices = notifier.poll(t0 + SETTLE, ALL);
        assert_eq!(
            bodies(&notices),
            [format!(
                "f1 and {} others are online",
                friends - flapped - 1
            )]
        );
        assert_eq!(notifier.next_deadline(), None);
        assert!(notifier.pending.is_empty() && notifier.index.is_empty());
    }

    #[test]
    fn repeated_flaps_do_not_pile_up() {
        let t0 = Instant::now();
        let mut notifier = Notifier::new();
        notifier.push(
            &change(1, "Bob", "offline", "online", ChangeCause::Live),
            t0,
        );
        for i in 0..10_000u64 {
            let (from, to) = if i % 2 == 0 {
                ("online", "offline")
            } else {
                ("offline", "online")
            };
            notifier.push(&change(2, "Alice", from, to, ChangeCause::Live), t0);
        }
        assert!(notifier.pending.len() <= 20, "{}", notifier.pending.len());
        assert_eq!(bodies(&notifier.poll(t0 + SETTLE, ALL)), ["Bob is online"]);
    }

    #[test]
    fn names_are_shown_as_capped_plain_text() {
        let t0 = Instant::now();
        let mut notifier = Notifier::new();
        let long = "m".repeat(10_000);
        notifier.push(
            &change(
                1,
                "\x1b[2J<b>Eve</b>",
                "offline",
                "online",
                ChangeCause::Live,
            ),
            t0,
        );
        notifier.push(
            &change(2, &long, "offline", "online", ChangeCause::Live),
            t0,
        );
        let notices = notifier.poll(t0 + SETTLE, ALL);
        let body = &notices[0].body;
        assert!(!body.contains('\x1b'));
        assert!(
            body.starts_with("[2J<b>Eve</b> and "),
            "markup is escaped when shown"
        );
        assert!(
            body.chars().count() < 200,
            "{} characters",
            body.chars().count()
        );
        assert_eq!(
            crate::display::notification_text(body, crate::display::NOTIFICATION_MAX),
            format!(
                "[2J&lt;b&gt;Eve&lt;/b&gt; and {}… are online",
                "m".repeat(crate::display::NAME_MAX - 1)
            )
        );
    }

    #[test]
    fn a_click_shows_the_first_friend_a_notice_names() {
        let t0 = Instant::now();
        let mut notifier = Notifier::new();
        notifier.push(
            &change(7, "Bob", "offline", "online", ChangeCause::Live),
            t0,
        );
        notifier.push(
            &change(3, "Ann", "offline", "online", ChangeCause::Live),
            t0,
        );
        notifier.push(&change(9, "Cy", "online", "offline", ChangeCause::Live), t0);
        let notices = notifier.poll(t0 + SETTLE, ALL);
        let shown: Vec<(&str, Option<&str>)> = notices
            .iter()
            .map(|n| (n.body.as_str(), n.friend.as_ref().map(FriendId::as_str)))
            .collect();
        assert_eq!(
            shown,
            [
                ("Bob and Ann are online", Some("7")),
                ("Cy went offline", Some("9"))
            ]
        );
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
