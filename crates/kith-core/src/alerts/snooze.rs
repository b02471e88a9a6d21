//! Snooze: the tray menu's and the window's "30 minutes", "1 hour" and "until tomorrow
//! morning", and the status line that says alerts are held back.
//!
//! A snooze is an instant ([`AlertSettings::snoozed_until`]), not a duration, so it
//! survives a restart and a sleep and ends when the wall clock says so. "30 minutes" and
//! "1 hour" are elapsed time (an hour that crosses a daylight-saving change is still 60
//! minutes); "until tomorrow morning" is the next time the local clock shows
//! [`AlertSettings::snooze_morning`] (08:00 unless set otherwise): after 08:00 that is
//! tomorrow, and between midnight and 08:00 it is this morning, which is what a person
//! still up at 01:00 means. When the clock skips that time (a DST change at it), the
//! first moment after the gap is taken.

use jiff::{SignedDuration, Timestamp, Zoned};

use super::clock::clock_text;
use super::settings::AlertSettings;

/// What the user chose to snooze for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnoozeChoice {
    /// 30 minutes from now.
    HalfAnHour,
    /// An hour from now.
    AnHour,
    /// Until the next [`AlertSettings::snooze_morning`], local time.
    UntilMorning,
    /// Until this instant.
    Until(Timestamp),
}

/// When a snooze chosen at `now` ends; `morning` is the local time "until tomorrow
/// morning" means.
pub fn snooze_until(choice: SnoozeChoice, morning: jiff::civil::Time, now: &Zoned) -> Timestamp {
    let from = now.timestamp();
    let after = |minutes: i64| from.saturating_add(SignedDuration::from_mins(minutes));
    match choice {
        SnoozeChoice::HalfAnHour => after(30).unwrap_or(from),
        SnoozeChoice::AnHour => after(60).unwrap_or(from),
        SnoozeChoice::Until(at) => at,
        SnoozeChoice::UntilMorning => {
            let today = now.date();
            let day = if now.time() < morning {
                Ok(today)
            } else {
                today.tomorrow()
            };
            day.and_then(|day| day.to_datetime(morning).to_zoned(now.time_zone().clone()))
                .map(|at| at.timestamp())
                .unwrap_or_else(|_| after(24 * 60).unwrap_or(from))
        }
    }
}

impl AlertSettings {
    /// Snoozes alerts as chosen at `now`, replacing any snooze.
    pub fn snooze(&mut self, choice: SnoozeChoice, now: &Zoned) {
        self.snoozed_until = Some(snooze_until(choice, self.snooze_morning, now));
    }
}

/// "Alerts snoozed until 14:30" (or "until tomorrow 08:00") while alerts are snoozed at
/// `now`, in `now`'s time zone; `None` when they are not.
pub fn snooze_status(settings: &AlertSettings, now: &Zoned) -> Option<String> {
    let until = settings.snoozed_at(now.timestamp())?;
    Some(format!("Alerts snoozed until {}", clock_text(until, now)))
}

/// The one line the tray menu and tooltip show about alerts being held back, if they
/// are: Do not disturb first (it is absolute), then the snooze, then quiet hours.
pub fn alerts_status(settings: &AlertSettings, now: &Zoned) -> Option<String> {
    if settings.do_not_disturb {
        return Some("Do not disturb is on".to_string());
    }
    if let Some(line) = snooze_status(settings, now) {
        return Some(line);
    }
    if settings.quiet_hours.contains(now) {
        let end = settings.quiet_hours.end;
        return Some(format!("Quiet hours until {}", end.strftime("%H:%M")));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::Time;

    fn berlin(text: &str) -> Zoned {
        format!("{text}[Europe/Berlin]").parse().unwrap()
    }

    #[test]
    fn snooze_choices() {
        let now = berlin("2026-03-09T14:00:00+01:00");
        let morning = Time::constant(8, 0, 0, 0);
        let local = |at: Timestamp| at.to_zoned(now.time_zone().clone()).datetime().to_string();
        assert_eq!(
            local(snooze_until(SnoozeChoice::HalfAnHour, morning, &now)),
            "2026-03-09T14:30:00"
        );
        assert_eq!(
            local(snooze_until(SnoozeChoice::AnHour, morning, &now)),
            "2026-03-09T15:00:00"
        );
        assert_eq!(
            local(snooze_until(SnoozeChoice::UntilMorning, morning, &now)),
            "2026-03-10T08:00:00"
        );
        let small_hours = berlin("2026-03-10T01:00:00+01:00");
        assert_eq!(
            local(snooze_until(
                SnoozeChoice::UntilMorning,
                morning,
                &small_hours
            )),
            "2026-03-10T08:00:00",
            "after midnight, this morning"
        );
        let at_eight = berlin("2026-03-10T08:00:00+01:00");
        assert_eq!(
            local(snooze_until(SnoozeChoice::UntilMorning, morning, &at_eight)),
            "2026-03-11T08:00:00"
        );
    }

    #[test]
    fn snooze_across_the_dst_changes() {
        // An hour before the clocks go forward (02:00 → 03:00, 2026-03-29) is still an
        // hour of elapsed time; the morning is 08:00 CEST.
        let now = berlin("2026-03-29T01:30:00+01:00");
        let morning = Time::constant(8, 0, 0, 0);
        let until = snooze_until(SnoozeChoice::AnHour, morning, &now);
        assert_eq!(until.to_string(), "2026-03-29T01:30:00Z");
        assert_eq!(
            until.to_zoned(now.time_zone().clone()).time(),
            Time::constant(3, 30, 0, 0)
        );
        let until = snooze_until(SnoozeChoice::UntilMorning, morning, &now);
        assert_eq!(until.to_string(), "2026-03-29T06:00:00Z");
        // A morning time the clock skips is taken as the first moment after the gap.
        let skipped = snooze_until(
            SnoozeChoice::UntilMorning,
            Time::constant(2, 30, 0, 0),
            &now,
        );
        assert_eq!(skipped.to_string(), "2026-03-29T01:30:00Z", "03:30 CEST");
        // The night the clocks go back (03:00 → 02:00, 2026-10-25): 08:00 CET.
        let night = berlin("2026-10-24T23:00:00+02:00");
        let until = snooze_until(SnoozeChoice::UntilMorning, morning, &night);
        assert_eq!(until.to_string(), "2026-10-25T07:00:00Z");
    }

    #[test]
    fn the_status_line_says_until_when_in_local_time() {
        let now = berlin("2026-03-09T14:00:00+01:00");
        let mut settings = AlertSettings::default();
        assert_eq!(snooze_status(&settings, &now), None);
        assert_eq!(alerts_status(&settings, &now), None);
        settings.snooze(SnoozeChoice::HalfAnHour, &now);
        assert_eq!(
            snooze_status(&settings, &now).as_deref(),
            Some("Alerts snoozed until 14:30")
        );
        settings.snooze(SnoozeChoice::UntilMorning, &now);
        assert_eq!(
            alerts_status(&settings, &now).as_deref(),
            Some("Alerts snoozed until tomorrow 08:00")
        );
        // Once it is over, nothing is said; one click un-snoozes early.
        let after = berlin("2026-03-10T08:00:00+01:00");
        assert_eq!(snooze_status(&settings, &after), None);
        settings.unsnooze();
        assert_eq!(snooze_status(&settings, &now), None);
        // Do not disturb outranks a snooze; quiet hours say when they end.
        settings.snooze(SnoozeChoice::AnHour, &now);
        settings.do_not_disturb = true;
        assert_eq!(
            alerts_status(&settings, &now).as_deref(),
            Some("Do not disturb is on")
        );
        settings.do_not_disturb = false;
        settings.unsnooze();
        settings.quiet_hours.enabled = true;
        let late = berlin("2026-03-09T23:00:00+01:00");
        assert_eq!(
            alerts_status(&settings, &late).as_deref(),
            Some("Quiet hours until 07:00")
        );
    }
}
