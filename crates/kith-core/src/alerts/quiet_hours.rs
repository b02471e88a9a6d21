//! Quiet hours: a daily window, on chosen days of the week, in local time.
//!
//! The window is compared with the local wall-clock time, never with a count of hours
//! since its start, so it stays right across daylight-saving changes: 22:00–07:00 ends
//! at 07:00 local on the morning the clocks go forward (a night an hour shorter) and on
//! the morning they go back (an hour longer). The local time comes from a
//! [`jiff::Zoned`] (the OS time zone in the app), so jiff's time-zone rules, not ours,
//! decide what the local time is.
//!
//! The rules:
//! - `start < end` (09:00–17:00): from `start` to just before `end`, on each chosen day.
//! - `start > end` (22:00–07:00): crosses midnight. A window belongs to the day it
//!   starts on: with Friday chosen and Saturday not, Friday 22:00 to Saturday 07:00 is
//!   quiet, Saturday 22:00 to Sunday 07:00 is not.
//! - `start == end`: the whole day from `start`, 24 hours of wall-clock time.
//! - No day chosen: never quiet.

use std::fmt;

use jiff::civil::{DateTime, Time, Weekday};
use jiff::Zoned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A set of days of the week. Stored in the settings file as a list of day names,
/// Monday first: `["mon", "tue", "wed", "thu", "fri"]`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Weekdays(u8);

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Weekdays {
    /// Every day.
    pub const ALL: Weekdays = Weekdays(0b111_1111);
    /// No day.
    pub const NONE: Weekdays = Weekdays(0);
    /// Monday to Friday.
    pub const WORKDAYS: Weekdays = Weekdays(0b001_1111);

    fn bit(day: Weekday) -> u8 {
        1 << day.to_monday_zero_offset()
    }

    /// Whether `day` is in the set.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & Self::bit(day) != 0
    }

    /// The set with `day` added.
    pub fn with(self, day: Weekday) -> Weekdays {
        Weekdays(self.0 | Self::bit(day))
    }

    /// The set with `day` removed.
    pub fn without(self, day: Weekday) -> Weekdays {
        Weekdays(self.0 & !Self::bit(day))
    }

    /// Whether no day is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The days in the set, Monday first.
    pub fn iter(self) -> impl Iterator<Item = Weekday> {
        (0..7i8)
            .filter_map(|offset| Weekday::from_monday_zero_offset(offset).ok())
            .filter(move |day| self.contains(*day))
    }
}

impl FromIterator<Weekday> for Weekdays {
    fn from_iter<I: IntoIterator<Item = Weekday>>(days: I) -> Self {
        days.into_iter().fold(Weekdays::NONE, Weekdays::with)
    }
}

impl fmt::Debug for Weekdays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|d| DAY_NAMES[d.to_monday_zero_offset() as usize]),
            )
            .finish()
    }
}

impl Default for Weekdays {
    fn default() -> Self {
        Weekdays::ALL
    }
}

impl Serialize for Weekdays {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            self.iter()
                .map(|d| DAY_NAMES[d.to_monday_zero_offset() as usize]),
        )
    }
}

/// Reads a list of day names: "mon" or "monday", in any letter case.
impl<'de> Deserialize<'de> for Weekdays {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        let mut days = Weekdays::NONE;
        for name in names {
            let lower = name.to_ascii_lowercase();
            let offset = DAY_NAMES
                .iter()
                .position(|short| lower.len() >= 3 && lower.starts_with(short))
                .filter(|&i| lower.len() == 3 || full_day_name(i) == lower)
                .ok_or_else(|| serde::de::Error::custom("expected a day name such as \"mon\""))?;
            if let Ok(day) = Weekday::from_monday_zero_offset(offset as i8) {
                days = days.with(day);
            }
        }
        Ok(days)
    }
}

fn full_day_name(monday_offset: usize) -> &'static str {
    [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ][monday_offset]
}

/// The quiet-hours setting. Off by default; when turned on, 22:00–07:00 every day
/// until the user picks otherwise. Times are stored as "22:00:00" and read from
/// "22:00" too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct QuietHours {
    /// Whether quiet hours apply at all.
    pub enabled: bool,
    /// When the window starts, local time.
    pub start: Time,
    /// When it ends, local time; before `start` for a window that crosses midnight.
    pub end: Time,
    /// The days a window starts on.
    pub days: Weekdays,
}

impl Default for QuietHours {
    fn default() -> Self {
        QuietHours {
            enabled: false,
            start: Time::constant(22, 0, 0, 0),
            end: Time::constant(7, 0, 0, 0),
            days: Weekdays::ALL,
        }
    }
}

impl QuietHours {
    /// Whether quiet hours are on and `now` is inside a window, by its local time.
    pub fn contains(&self, now: &Zoned) -> bool {
        self.contains_local(now.datetime())
    }

    /// Whether quiet hours are on and the local time `local` is inside a window.
    pub fn contains_local(&self, local: DateTime) -> bool {
        self.enabled && self.window_contains(local)
    }

    /// Whether `local` is inside a window, whether or not quiet hours are on.
    pub fn window_contains(&self, local: DateTime) -> bool {
        let time = local.time();
        let today = local.date().weekday();
        if self.start < self.end {
            self.days.contains(today) && self.start <= time && time < self.end
        } else {
            // Crosses midnight (or lasts the whole day when start == end): the part
            // after `start` belongs to today, the part before `end` to yesterday.
            (self.days.contains(today) && time >= self.start)
                || (self.days.contains(today.previous()) && time < self.end)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn window(start: (i8, i8), end: (i8, i8), days: Weekdays) -> QuietHours {
        QuietHours {
            enabled: true,
            start: Time::constant(start.0, start.1, 0, 0),
            end: Time::constant(end.0, end.1, 0, 0),
            days,
        }
    }

    #[test]
    fn a_window_across_midnight_belongs_to_the_day_it_starts() {
        // 2026-03-06 is a Friday.
        let fridays = Weekdays::NONE.with(Weekday::Friday);
        let quiet = window((22, 0), (7, 0), fridays);
        let at = |d: i8, h: i8, m: i8| date(2026, 3, d).at(h, m, 0, 0);
        assert!(!quiet.contains_local(at(6, 21, 59)));
        assert!(quiet.contains_local(at(6, 22, 0)));
        assert!(quiet.contains_local(at(6, 23, 59)));
        assert!(
            quiet.contains_local(at(7, 0, 0)),
            "Saturday early: Friday's window"
        );
        assert!(quiet.contains_local(at(7, 6, 59)));
        assert!(!quiet.contains_local(at(7, 7, 0)), "the end is not quiet");
        assert!(
            !quiet.contains_local(at(7, 22, 30)),
            "Saturday is not chosen"
        );
        assert!(
            !quiet.contains_local(at(8, 3, 0)),
            "nor is Saturday's night"
        );
        assert!(
            !quiet.contains_local(at(6, 3, 0)),
            "Thursday's night is not chosen"
        );
    }

    #[test]
    fn a_daytime_window_and_the_edge_cases() {
        let quiet = window((9, 0), (17, 0), Weekdays::WORKDAYS);
        assert!(quiet.contains_local(date(2026, 3, 6).at(9, 0, 0, 0)));
        assert!(!quiet.contains_local(date(2026, 3, 6).at(17, 0, 0, 0)));
        assert!(
            !quiet.contains_local(date(2026, 3, 7).at(12, 0, 0, 0)),
            "Saturday"
        );
        let all_day = window((0, 0), (0, 0), Weekdays::NONE.with(Weekday::Sunday));
        assert!(all_day.contains_local(date(2026, 3, 8).at(0, 0, 0, 0)));
        assert!(all_day.contains_local(date(2026, 3, 8).at(23, 59, 59, 0)));
        assert!(!all_day.contains_local(date(2026, 3, 9).at(0, 0, 0, 0)));
        let never = window((22, 0), (7, 0), Weekdays::NONE);
        assert!(!never.contains_local(date(2026, 3, 8).at(23, 0, 0, 0)));
        let off = QuietHours {
            enabled: false,
            ..window((0, 0), (0, 0), Weekdays::ALL)
        };
        assert!(!off.contains_local(date(2026, 3, 8).at(3, 0, 0, 0)));
        assert!(off.window_contains(date(2026, 3, 8).at(3, 0, 0, 0)));
    }

    #[test]
    fn days_are_stored_as_names_and_read_leniently() {
        let days = Weekdays::WORKDAYS;
        assert_eq!(
            serde_json::to_string(&days).unwrap(),
            r#"["mon","tue","wed","thu","fri"]"#
        );
        let read: Weekdays = serde_json::from_str(r#"["Sunday","sat","MON"]"#).unwrap();
        assert_eq!(
            read,
            Weekdays::NONE
                .with(Weekday::Monday)
                .with(Weekday::Saturday)
                .with(Weekday::Sunday)
        );
        for bad in [r#"["someday"]"#, r#"["mo"]"#, r#"["mondays"]"#, "3"] {
            assert!(serde_json::from_str::<Weekdays>(bad).is_err(), "{bad}");
        }
        let quiet: QuietHours =
            serde_json::from_str(r#"{"enabled":true,"start":"23:30","end":"06:15"}"#).unwrap();
        assert_eq!(quiet.start, Time::constant(23, 30, 0, 0));
        assert_eq!(quiet.end, Time::constant(6, 15, 0, 0));
        assert_eq!(quiet.days, Weekdays::ALL);
    }
}
