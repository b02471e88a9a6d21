//! The decision: does this change alert, and why (or why not)?
//!
//! A pure function of the settings, the change and the clock, in this order:
//! 1. **Do not disturb** mutes everything. Nothing breaks through it, and a one-shot
//!    stays set.
//! 2. **What the user asked for** this friend and change: a one-shot "tell me once when
//!    they come online" asks, whatever the friend's rule (it is the more specific
//!    request and was set for this one time); otherwise the friend's rule: `always`
//!    asks even when the global switch is off, `never` refuses, and "as set globally"
//!    follows the global switch.
//! 3. **Snooze, then quiet hours** hold back what was asked for, unless the friend is
//!    a favourite and "favourites break through" is on. A one-shot or `always` does
//!    not break through by itself.
//! 4. Otherwise the alert fires. If a one-shot was set for the friend and this change
//!    is them coming online, it is used up: [`Decision::settings_change`] removes it,
//!    whether the one-shot was what asked or the global switch would have anyway, so
//!    it fires exactly once.
//!
//! Nothing is queued: a change held back by snooze or quiet hours is dropped, not
//! replayed when they end (the window shows what changed meanwhile).

use jiff::Zoned;

use super::settings::{AlertSettings, Rule};
use super::transition::Transition;
use crate::protocol::FriendId;

/// The change to decide on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertInput<'a> {
    /// The server the friend belongs to (the key of [`AlertSettings::servers`]).
    pub server: &'a str,
    /// The friend.
    pub friend: &'a FriendId,
    /// What they did.
    pub transition: Transition,
}

/// What asked for an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FireReason {
    /// The global switch for the change is on and the friend's rule is "as set
    /// globally".
    Global,
    /// The friend's rule for the change is `always`.
    Always,
    /// A one-shot "tell me once when they come online".
    OneShot,
}

/// What holds alerts back for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hush {
    /// Alerts are snoozed.
    Snooze,
    /// It is quiet hours.
    QuietHours,
}

/// Why no alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suppressed {
    /// Do not disturb is on.
    DoNotDisturb,
    /// The friend's rule for the change is `never`.
    Never,
    /// The global switch for the change is off, and the friend's rule follows it.
    SwitchedOff,
    /// Snoozed or quiet hours, and the friend may not break through.
    Hushed(Hush),
}

/// Whether an alert fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    /// It fires.
    Fire {
        /// What asked for it.
        because: FireReason,
        /// The snooze or quiet hours a favourite broke through, if any.
        broke_through: Option<Hush>,
        /// Whether the friend's one-shot is used up by this alert.
        one_shot_consumed: bool,
    },
    /// It does not.
    Suppressed(Suppressed),
}

impl Alert {
    /// Whether the alert fires.
    pub fn fires(&self) -> bool {
        matches!(self, Alert::Fire { .. })
    }
}

/// A change to the settings that a decision makes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a one-shot that is not removed fires again"]
pub enum SettingsChange {
    /// The one-shot for this friend fired: remove it.
    OneShotFired {
        /// The server of the friend.
        server: String,
        /// The friend.
        friend: FriendId,
    },
}

impl SettingsChange {
    /// Applies the change.
    pub fn apply(self, settings: &mut AlertSettings) {
        match self {
            SettingsChange::OneShotFired { server, friend } => {
                settings.set_once_online(&server, &friend, false);
            }
        }
    }
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether, and why, the alert fires.
    pub alert: Alert,
    /// Whether the friend is a favourite (names of favourites come first in a notice).
    pub favourite: bool,
    /// What to change in the settings (a fired one-shot removes itself).
    pub settings_change: Option<SettingsChange>,
}

/// Decides whether `input` alerts, at `now` (its local time zone is the one quiet
/// hours are read in). Whether the friend is a favourite, their rules and one-shot are
/// read from `settings`, the one place they are kept.
pub fn decide(settings: &AlertSettings, input: AlertInput<'_>, now: &Zoned) -> Decision {
    let favourite = settings.is_favourite(input.server, input.friend);
    let decision = |alert, settings_change| Decision {
        alert,
        favourite,
        settings_change,
    };
    if settings.do_not_disturb {
        return decision(Alert::Suppressed(Suppressed::DoNotDisturb), None);
    }
    let one_shot = input.transition == Transition::CameOnline
        && settings.has_once_online(input.server, input.friend);
    let because = if one_shot {
        FireReason::OneShot
    } else {
        match settings
            .rule(input.server, input.friend)
            .get(input.transition)
        {
            Rule::Always => FireReason::Always,
            Rule::Never => return decision(Alert::Suppressed(Suppressed::Never), None),
            Rule::Global if settings.global(input.transition) => FireReason::Global,
            Rule::Global => return decision(Alert::Suppressed(Suppressed::SwitchedOff), None),
        }
    };
    let hush = if settings.snoozed_at(now.timestamp()).is_some() {
        Some(Hush::Snooze)
    } else if settings.quiet_hours.contains(now) {
        Some(Hush::QuietHours)
    } else {
        None
    };
    let broke_through = match hush {
        Some(hush) if favourite && settings.favourites_break_through => Some(hush),
        Some(hush) => return decision(Alert::Suppressed(Suppressed::Hushed(hush)), None),
        None => None,
    };
    let change = one_shot.then(|| SettingsChange::OneShotFired {
        server: input.server.to_string(),
        friend: input.friend.clone(),
    });
    decision(
        Alert::Fire {
            because,
            broke_through,
            one_shot_consumed: one_shot,
        },
        change,
    )
}
