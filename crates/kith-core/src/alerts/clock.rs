//! How a moment is said next to "now": "14:30", "tomorrow 08:00", "yesterday 23:10",
//! or "Mon 9 Mar 08:00" further off. Local time, 24-hour clock. One rule for the snooze
//! status line, "online since" and the connection timeline, so they never disagree.

use jiff::{Timestamp, Zoned};

/// `at` in `now`'s time zone, said relative to `now`'s local date.
pub(crate) fn clock_text(at: Timestamp, now: &Zoned) -> String {
    let local = at.to_zoned(now.time_zone().clone());
    let time = local.strftime("%H:%M").to_string();
    let (day, today) = (local.date(), now.date());
    if day == today {
        time
    } else if today.tomorrow().is_ok_and(|d| d == day) {
        format!("tomorrow {time}")
    } else if today.yesterday().is_ok_and(|d| d == day) {
        format!("yesterday {time}")
    } else {
        local.strftime("%a %-d %b %H:%M").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_are_said_next_to_today() {
        let now: Zoned = "2026-03-09T12:00:00+01:00[Europe/Berlin]".parse().unwrap();
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        assert_eq!(clock_text(at("2026-03-09T13:30:00Z"), &now), "14:30");
        assert_eq!(
            clock_text(at("2026-03-09T23:30:00Z"), &now),
            "tomorrow 00:30"
        );
        assert_eq!(
            clock_text(at("2026-03-08T22:10:00Z"), &now),
            "yesterday 23:10"
        );
        assert_eq!(
            clock_text(at("2026-03-02T07:00:00Z"), &now),
            "Mon 2 Mar 08:00"
        );
    }
}
