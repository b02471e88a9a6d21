//! Which presence changes can be announced at all.
//!
//! Kith's one rule for "online" ([`crate::presence::is_online`]: any status but
//! "offline") decides coming online and going offline, as the app has always done. For
//! "back from away" and for the header's counts, away is told apart from present:
//! [`presence_class`] sorts a status into [`PresenceClass::Offline`],
//! [`PresenceClass::Away`] or [`PresenceClass::Present`]. Only live changes of a friend
//! Kith already knew are announced; a snapshot or resync after a gap is not.

use crate::presence::{ChangeCause, PresenceChange};

/// How a status counts for alerts and counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PresenceClass {
    /// "offline": the only status [`crate::presence::is_online`] says is not online.
    Offline,
    /// Online but away: "away" or "idle", in any letter case.
    Away,
    /// Online and not away: "online", "busy", "dnd" and any other status.
    Present,
}

impl PresenceClass {
    /// Whether this class counts as online by Kith's one rule (away does).
    pub fn is_online(self) -> bool {
        self != PresenceClass::Offline
    }
}

/// The class of `status`, as the backend spells it.
pub fn presence_class(status: &str) -> PresenceClass {
    if !crate::presence::is_online(status) {
        PresenceClass::Offline
    } else if status.eq_ignore_ascii_case("away") || status.eq_ignore_ascii_case("idle") {
        PresenceClass::Away
    } else {
        PresenceClass::Present
    }
}

/// A presence change that may be announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transition {
    /// Offline → any online status (away included).
    CameOnline,
    /// Any online status → offline.
    WentOffline,
    /// Away → present.
    BackFromAway,
}

impl Transition {
    /// Every transition, in the order notices about them are shown.
    pub const ALL: [Transition; 3] = [
        Transition::CameOnline,
        Transition::WentOffline,
        Transition::BackFromAway,
    ];

    /// The transition from one class to another, if it is one that may be announced
    /// (present → away is not).
    pub fn between(from: PresenceClass, to: PresenceClass) -> Option<Transition> {
        use PresenceClass::{Away, Offline, Present};
        match (from, to) {
            (Offline, Away | Present) => Some(Transition::CameOnline),
            (Away | Present, Offline) => Some(Transition::WentOffline),
            (Away, Present) => Some(Transition::BackFromAway),
            _ => None,
        }
    }
}

/// The transition `change` makes, if it may be announced: a live change of a friend
/// Kith knew before and still knows, between two classes.
pub fn classify(change: &PresenceChange) -> Option<Transition> {
    let (from, to) = live_classes(change)?;
    Transition::between(from, to)
}

/// The classes a live change of a known friend moves between; `None` for a snapshot
/// or resync change, a friend Kith did not know, or one that was removed.
pub(crate) fn live_classes(change: &PresenceChange) -> Option<(PresenceClass, PresenceClass)> {
    if change.cause != ChangeCause::Live {
        return None;
    }
    let from = presence_class(change.from.as_ref()?);
    let to = presence_class(change.to.as_ref()?);
    Some((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::FriendId;

    fn change(from: Option<&str>, to: Option<&str>, cause: ChangeCause) -> PresenceChange {
        PresenceChange {
            user_id: FriendId::from(1),
            username: "alice".into(),
            from: from.map(Into::into),
            to: to.map(Into::into),
            last_seen: None,
            cause,
        }
    }

    #[test]
    fn classes_follow_kiths_online_rule_with_away_apart() {
        assert_eq!(presence_class("offline"), PresenceClass::Offline);
        assert_eq!(presence_class("away"), PresenceClass::Away);
        assert_eq!(presence_class("Idle"), PresenceClass::Away);
        for status in ["online", "busy", "dnd", "on a plane", ""] {
            assert_eq!(presence_class(status), PresenceClass::Present, "{status}");
        }
        // Kith's one rule for online still holds: only "offline" is offline.
        assert!(PresenceClass::Away.is_online());
    }

    #[test]
    fn only_live_changes_of_known_friends_are_classified() {
        use ChangeCause::{Live, Resync};
        let cases = [
            (
                Some("offline"),
                Some("online"),
                Live,
                Some(Transition::CameOnline),
            ),
            (
                Some("offline"),
                Some("away"),
                Live,
                Some(Transition::CameOnline),
            ),
            (
                Some("away"),
                Some("offline"),
                Live,
                Some(Transition::WentOffline),
            ),
            (
                Some("away"),
                Some("online"),
                Live,
                Some(Transition::BackFromAway),
            ),
            (Some("online"), Some("away"), Live, None),
            (Some("online"), Some("busy"), Live, None),
            (Some("offline"), Some("online"), Resync, None),
            (None, Some("online"), Live, None),
            (Some("online"), None, Live, None),
        ];
        for (from, to, cause, expected) in cases {
            assert_eq!(
                classify(&change(from, to, cause)),
                expected,
                "{from:?} → {to:?} {cause:?}"
            );
        }
    }
}
