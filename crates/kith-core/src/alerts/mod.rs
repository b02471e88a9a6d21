//! The people you care about: who is alerted for which presence change, and what the
//! window says about what happened while nobody was looking.
//!
//! Everything here is data plus pure functions (DESIGN.md, principle 11): the clock is
//! an argument (a [`jiff::Zoned`] for the wall clock and the OS time zone, an
//! [`std::time::Instant`] where a settle period is measured), so each rule is tested
//! across midnight and daylight-saving changes without waiting for either.
//!
//! - [`settings`]: [`AlertSettings`], the alert part of the app's settings file
//!   (favourites, per-friend rules, one-shots, quiet hours, snooze), and the migration
//!   from the file the app writes today.
//! - [`transition`]: which presence changes can be announced at all (came online,
//!   went offline, back from away).
//! - [`quiet_hours`]: the daily window, across midnight and DST.
//! - [`mod@decide`]: the decision for one change: fire, and why, or why not.
//! - [`notifier`]: the settle period, flap collapse and grouping, deciding each change
//!   at the moment it would be announced.
//! - [`snooze`]: "30 minutes", "1 hour", "until tomorrow morning", and the status line.
//! - [`since`]: "online since 14:02", or "since at least …" across a gap.
//! - [`timeline`]: the last 100 connection events and "why am I not connected?".
//! - [`redact`]: secret-looking text removed from server-provided reasons.
//! - [`counts`]: "4 online · 4 away · 8 friends".

mod clock;
pub mod counts;
pub mod decide;
pub mod notifier;
pub mod quiet_hours;
pub mod redact;
pub mod settings;
pub mod since;
pub mod snooze;
pub mod timeline;
pub mod transition;

pub use counts::Counts;
pub use decide::{
    decide, Alert, AlertInput, Decision, FireReason, Hush, SettingsChange, Suppressed,
};
pub use notifier::{Decided, Notice, Notifier, Polled, GROUP_SLACK, SETTLE};
pub use quiet_hours::{QuietHours, Weekdays};
pub use settings::{AlertSettings, FriendAlerts, FriendRule, Migrated, Rule};
pub use since::{FriendSince, Since, SinceTracker};
pub use snooze::{alerts_status, snooze_status, snooze_until, SnoozeChoice};
pub use timeline::{ConnectionTimeline, TimelineEntry, TIMELINE_CAPACITY};
pub use transition::{classify, presence_class, PresenceClass, Transition};
