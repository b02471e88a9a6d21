//! Which presence changes become notifications, when, and how they are worded.
//!
//! This is the app's `notify_rules` grouping (settle, flap collapse, grouping), moved
//! into the core so that it can apply the per-friend [`decide`] rules. Sans-IO, like
//! the connection machine: [`Notifier::push`] takes live changes with the time they
//! arrived, [`Notifier::poll`] returns what to show once they have settled, and
//! [`Notifier::next_deadline`] says when to poll. The rules:
//! - only live changes of known friends count: nothing for the initial snapshot or a
//!   resync ([`classify`](super::transition::classify));
//! - a change is held for [`SETTLE`], so a flap (online → offline → online within it)
//!   collapses to nothing. What is held is the friend's net move since their first
//!   pending change: offline → online → away is still "came online", away → online →
//!   away is nothing, and online → away → offline is "went offline" (held from the
//!   change that made it so);
//! - changes that settle together are grouped: "Alice and 4 others are online", with
//!   favourites named first;
//! - **every change is decided when it settles, at the poll that would announce it,**
//!   with the settings and the wall clock of that moment ([`decide`]). A snooze or
//!   quiet hours that end while a change is held (a flap being collapsed, or just the
//!   settle period) let it through; a snooze that starts meanwhile holds it back. A
//!   change held back is dropped, not kept until the snooze ends: nothing is replayed;
//! - a one-shot is used up by the poll whose notice covers the friend, even when the
//!   notice is a group that the global switch would have shown anyway, and `poll`
//!   removes it from the settings at once, so it fires exactly once.
//!
//! A burst of n changes costs O(n): pending changes are found by friend id through a
//! map, and a cancelled one leaves a gap that the next poll sweeps away. Names are kept
//! as plain text ([`plain_text`]); markup is escaped where the notification is raised.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jiff::Zoned;

use super::decide::{decide, Alert, AlertInput};
use super::settings::AlertSettings;
use super::transition::{live_classes, PresenceClass, Transition};
use crate::presence::PresenceChange;
use crate::protocol::FriendId;
use crate::text::plain_text;

/// How long a change must hold before it is announced.
pub const SETTLE: Duration = Duration::from_secs(3);
/// Changes that settle within this of the first one are announced with it.
pub const GROUP_SLACK: Duration = Duration::from_secs(1);
/// The longest a friend's name is shown in a notification.
pub const NAME_MAX: usize = 64;

/// A notification to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Its title.
    pub title: String,
    /// Its text, plain (not escaped for markup).
    pub body: String,
    /// The friend a click on the notification shows: the first one it names.
    pub friend: Option<FriendId>,
}

/// One settled change and what was decided for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// The friend.
    pub friend: FriendId,
    /// What they did.
    pub transition: Transition,
    /// Whether it alerted, and why.
    pub alert: Alert,
}

/// What [`Notifier::poll`] produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Polled {
    /// The notices to show, at most one per kind of change.
    pub notices: Vec<Notice>,
    /// Every settled change and its decision, for logs and tests.
    pub decided: Vec<Decided>,
    /// Whether the settings were changed (a one-shot fired): save them.
    pub settings_changed: bool,
}

#[derive(Debug, Clone)]
struct Pending {
    friend: FriendId,
    name: String,
    /// The class before the friend's first pending change.
    from: PresenceClass,
    /// The class after their latest change.
    to: PresenceClass,
    /// When the net move last became what it is.
    at: Instant,
}

impl Pending {
    fn transition(&self) -> Option<Transition> {
        Transition::between(self.from, self.to)
    }
}

/// Holds changes until they settle, then decides and groups them.
#[derive(Debug, Default)]
pub struct Notifier {
    /// In arrival order; `None` where a change was cancelled by a flap.
    pending: Vec<Option<Pending>>,
    /// Where each friend's pending change is in `pending`.
    index: HashMap<FriendId, usize>,
}

impl Notifier {
    /// A notifier with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a change. A change that undoes a pending one cancels it (a flap).
    pub fn push(&mut self, change: &PresenceChange, now: Instant) {
        let Some((from, to)) = live_classes(change) else {
            return;
        };
        if let Some(&slot) = self.index.get(&change.user_id) {
            let Some(pending) = self.pending[slot].as_mut() else {
                return;
            };
            let before = pending.transition();
            pending.to = to;
            if pending.from == pending.to {
                self.cancel(slot, &change.user_id);
            } else if pending.transition() != before {
                pending.at = now;
            }
            return;
        }
        if from == to {
            return;
        }
        self.index
            .insert(change.user_id.clone(), self.pending.len());
        self.pending.push(Some(Pending {
            friend: change.user_id.clone(),
            name: plain_text(change.display_name(), NAME_MAX),
            from,
            to,
            at: now,
        }));
    }

    fn cancel(&mut self, slot: usize, friend: &FriendId) {
        self.pending[slot] = None;
        self.index.remove(friend);
        // Flaps must not grow the list while nothing settles: once gaps outnumber
        // changes, close them (amortized O(1) per change).
        if self.pending.len() > 2 * self.index.len() + 16 {
            let live: Vec<Pending> = self.pending.drain(..).flatten().collect();
            self.keep(live);
        }
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

    /// Forgets every pending change (on sign-out, or a change of account).
    pub fn clear(&mut self) {
        self.pending.clear();
        self.index.clear();
    }

    /// When [`poll`](Self::poll) next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.iter().flatten().map(|p| p.at + SETTLE).min()
    }

    /// Decides every change that has settled by `now` (monotonic), with the settings
    /// and the wall clock `wall` as they are now, and groups those that alert by kind.
    /// `server` is the signed-in server, the key of the friends' settings. A fired
    /// one-shot is removed from `settings` here; [`Polled::settings_changed`] says to
    /// save them.
    pub fn poll(
        &mut self,
        now: Instant,
        wall: &Zoned,
        server: &str,
        settings: &mut AlertSettings,
    ) -> Polled {
        let mut polled = Polled::default();
        let Some(first) = self.next_deadline() else {
            return polled;
        };
        if now < first {
            return polled;
        }
        let cutoff = now.max(first + GROUP_SLACK);
        let (due, keep): (Vec<Pending>, Vec<Pending>) = self
            .pending
            .drain(..)
            .flatten()
            .partition(|p| p.at + SETTLE <= cutoff);
        self.keep(keep);
        // Per kind, in arrival order: (favourite, pending).
        let mut firing: [Vec<(bool, Pending)>; 3] = Default::default();
        for pending in due {
            let Some(transition) = pending.transition() else {
                continue;
            };
            let input = AlertInput {
                server,
                friend: &pending.friend,
                transition,
            };
            let decision = decide(settings, input, wall);
            if let Some(change) = decision.settings_change {
                change.apply(settings);
                polled.settings_changed = true;
            }
            polled.decided.push(Decided {
                friend: pending.friend.clone(),
                transition,
                alert: decision.alert,
            });
            if decision.alert.fires() {
                firing[kind_slot(transition)].push((decision.favourite, pending));
            }
        }
        for transition in Transition::ALL {
            let group = &mut firing[kind_slot(transition)];
            // Favourites first, each side in arrival order.
            group.sort_by_key(|(favourite, _)| !favourite);
            let names: Vec<&str> = group.iter().map(|(_, p)| p.name.as_str()).collect();
            if let Some(mut notice) = word(transition, &names) {
                notice.friend = group.first().map(|(_, p)| p.friend.clone());
                polled.notices.push(notice);
            }
        }
        polled
    }
}

fn kind_slot(transition: Transition) -> usize {
    match transition {
        Transition::CameOnline => 0,
        Transition::WentOffline => 1,
        Transition::BackFromAway => 2,
    }
}

/// "Alice is online", "Alice and Bob are online", "Alice and 4 others went offline",
/// "Alice is back". The notice names no friend to show; [`Notifier::poll`] sets it.
pub fn word(kind: Transition, names: &[&str]) -> Option<Notice> {
    let first = names.first()?;
    let subject = match names.len() {
        1 => first.to_string(),
        2 => format!("{first} and {}", names[1]),
        n => format!("{first} and {} others", n - 1),
    };
    let verb = match (kind, names.len()) {
        (Transition::CameOnline, 1) => "is online",
        (Transition::CameOnline, _) => "are online",
        (Transition::WentOffline, _) => "went offline",
        (Transition::BackFromAway, 1) => "is back",
        (Transition::BackFromAway, _) => "are back",
    };
    Some(Notice {
        title: "Kith".to_string(),
        body: format!("{subject} {verb}"),
        friend: None,
    })
}

#[cfg(test)]
mod tests {
    //! The app's notify_rules tests, on the core's notifier.
    use super::*;
    use crate::presence::ChangeCause;

    const SERVER: &str = "https://presence.example.com";

    fn wall() -> Zoned {
        "2026-03-04T12:00:00+01:00[Europe/Berlin]".parse().unwrap()
    }

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

    fn poll_all(notifier: &mut Notifier, now: Instant) -> Vec<Notice> {
        notifier
            .poll(now, &wall(), SERVER, &mut AlertSettings::default())
            .notices
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
        assert!(poll_all(&mut notifier, t0 + Duration::from_secs(1)).is_empty());
        assert_eq!(notifier.next_deadline(), Some(t0 + SETTLE));
        let notices = poll_all(&mut notifier, t0 + SETTLE);
        assert_eq!(bodies(&notices), ["Alice is online"]);
        assert!(poll_all(&mut notifier, t0 + SETTLE * 2).is_empty());
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
        assert!(poll_all(&mut notifier, t0 + SETTLE * 3).is_empty());
        assert_eq!(notifier.next_deadline(), None);
    }

    #[test]
    fn the_net_move_is_announced() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(1);
        let mut notifier = Notifier::new();
        // Came online, then went away: still "came online", from t0.
        notifier.push(
            &change(1, "Alice", "offline", "online", ChangeCause::Live),
            t0,
        );
        notifier.push(&change(1, "Alice", "online", "away", ChangeCause::Live), t1);
        // Went away, then came back: nothing.
        notifier.push(&change(2, "Bob", "online", "away", ChangeCause::Live), t0);
        notifier.push(&change(2, "Bob", "away", "online", ChangeCause::Live), t1);
        // Went away, then offline: "went offline", held from t1.
        notifier.push(&change(3, "Cy", "online", "away", ChangeCause::Live), t0);
        notifier.push(&change(3, "Cy", "away", "offline", ChangeCause::Live), t1);
        let polled = notifier.poll(t0 + SETTLE, &wall(), SERVER, &mut AlertSettings::default());
        assert_eq!(
            bodies(&polled.notices),
            ["Alice is online", "Cy went offline"]
        );
        assert_eq!(
            notifier.next_deadline(),
            None,
            "Cy settles within the group slack"
        );
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
        let notices = poll_all(&mut notifier, t0 + SETTLE);
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
        let mut only_online = AlertSettings {
            notify_offline: false,
            ..AlertSettings::default()
        };
        let polled = notifier.poll(t0 + SETTLE, &wall(), SERVER, &mut only_online);
        assert_eq!(bodies(&polled.notices), ["Alice is online"]);
        push_both(&mut notifier);
        let mut dnd = AlertSettings {
            do_not_disturb: true,
            ..AlertSettings::default()
        };
        assert!(notifier
            .poll(t0 + SETTLE, &wall(), SERVER, &mut dnd)
            .notices
            .is_empty());
        assert_eq!(
            notifier.next_deadline(),
            None,
            "muted changes are dropped, not delayed"
        );
    }

    #[test]
    fn online_to_away_is_not_announced_and_back_from_away_is_switchable() {
        let t0 = Instant::now();
        let mut notifier = Notifier::new();
        notifier.push(&change(1, "Alice", "online", "away", ChangeCause::Live), t0);
        assert!(poll_all(&mut notifier, t0 + SETTLE).is_empty());
        assert_eq!(notifier.next_deadline(), None);
        notifier.push(&change(1, "Alice", "away", "online", ChangeCause::Live), t0);
        assert!(
            poll_all(&mut notifier, t0 + SETTLE).is_empty(),
            "off by default"
        );
        notifier.push(&change(1, "Alice", "away", "online", ChangeCause::Live), t0);
        let mut back = AlertSettings {
            notify_back_from_away: true,
            ..AlertSettings::default()
        };
        let polled = notifier.poll(t0 + SETTLE, &wall(), SERVER, &mut back);
        assert_eq!(bodies(&polled.notices), ["Alice is back"]);
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
        let notices = poll_all(&mut notifier, t0 + SETTLE);
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
        assert_eq!(
            bodies(&poll_all(&mut notifier, t0 + SETTLE)),
            ["Bob is online"]
        );
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
        let notices = poll_all(&mut notifier, t0 + SETTLE);
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
        let notices = poll_all(&mut notifier, t0 + SETTLE);
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
    fn favourites_are_named_first() {
        let t0 = Instant::now();
        let mut notifier = Notifier::new();
        for (id, name) in [(1, "Ann"), (2, "Bob"), (3, "Cy")] {
            notifier.push(
                &change(id, name, "offline", "online", ChangeCause::Live),
                t0,
            );
        }
        let mut settings = AlertSettings::default();
        settings.set_favourite(SERVER, &FriendId::from(3), true);
        let polled = notifier.poll(t0 + SETTLE, &wall(), SERVER, &mut settings);
        assert_eq!(bodies(&polled.notices), ["Cy and 2 others are online"]);
        assert_eq!(polled.notices[0].friend, Some(FriendId::from(3)));
    }

    #[test]
    fn wording() {
        assert_eq!(
            word(Transition::CameOnline, &["A", "B"]).unwrap().body,
            "A and B are online"
        );
        assert_eq!(
            word(Transition::WentOffline, &["A"]).unwrap().body,
            "A went offline"
        );
        assert_eq!(
            word(Transition::BackFromAway, &["A", "B"]).unwrap().body,
            "A and B are back"
        );
        assert_eq!(word(Transition::WentOffline, &[]), None);
    }
}
