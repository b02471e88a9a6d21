//! The people-you-care-about rules (kith_core::alerts), tested through their public API
//! with an injected clock: quiet hours across midnight and both daylight-saving changes
//! of a zone that has them (Europe/Berlin, from the system tz database), a snooze that
//! ends while a flap is collapsed, a one-shot covered by a grouped notice, favourites
//! breaking through, "always", "never", Do not disturb, and the settings file the
//! current app writes.

use std::time::{Duration, Instant};

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, Zoned};
use kith_core::alerts::{
    decide, Alert, AlertInput, AlertSettings, ConnectionTimeline, Counts, FireReason, Hush,
    Notifier, QuietHours, Rule, SnoozeChoice, Suppressed, Transition, Weekdays, SETTLE,
    TIMELINE_CAPACITY,
};
use kith_core::{
    ChangeCause, ConnectionState, EndReason, FriendId, PresenceChange, Reason, StateChange,
};
use proptest::prelude::*;

const SERVER: &str = "https://presence.example.com";

fn berlin() -> TimeZone {
    TimeZone::get("Europe/Berlin").expect("the system tz database has Europe/Berlin")
}

fn zoned(utc: &str) -> Zoned {
    utc.parse::<Timestamp>().unwrap().to_zoned(berlin())
}

fn quiet_nights() -> QuietHours {
    QuietHours {
        enabled: true,
        start: Time::constant(22, 0, 0, 0),
        end: Time::constant(7, 0, 0, 0),
        days: Weekdays::ALL,
    }
}

fn input(friend: &FriendId, transition: Transition) -> AlertInput<'_> {
    AlertInput {
        server: SERVER,
        friend,
        transition,
    }
}

fn came_online(settings: &AlertSettings, friend: &FriendId, now: &Zoned) -> Alert {
    decide(settings, input(friend, Transition::CameOnline), now).alert
}

const FIRE_GLOBAL: Alert = Alert::Fire {
    because: FireReason::Global,
    broke_through: None,
    one_shot_consumed: false,
};

// ---- Quiet hours ----

#[test]
fn quiet_hours_cross_midnight() {
    let settings = AlertSettings {
        quiet_hours: quiet_nights(),
        ..AlertSettings::default()
    };
    let alice = FriendId::from(1);
    // Winter, CET (UTC+1).
    for (utc, quiet) in [
        ("2026-01-14T20:59:59Z", false), // 21:59:59
        ("2026-01-14T21:00:00Z", true),  // 22:00
        ("2026-01-14T23:30:00Z", true),  // 00:30, the next day
        ("2026-01-15T05:59:59Z", true),  // 06:59:59
        ("2026-01-15T06:00:00Z", false), // 07:00
        ("2026-01-15T11:00:00Z", false), // noon
    ] {
        let expected = if quiet {
            Alert::Suppressed(Suppressed::Hushed(Hush::QuietHours))
        } else {
            FIRE_GLOBAL
        };
        assert_eq!(
            came_online(&settings, &alice, &zoned(utc)),
            expected,
            "{utc}"
        );
    }
}

#[test]
fn quiet_hours_on_chosen_days_belong_to_the_day_they_start() {
    let mut quiet = quiet_nights();
    quiet.days = Weekdays::WORKDAYS;
    // Friday 2026-01-16 23:00 and Saturday 06:00 are Friday's night; Saturday 23:00
    // and Monday 06:00 (Sunday's night) are not quiet.
    assert!(quiet.contains(&zoned("2026-01-16T22:00:00Z")));
    assert!(quiet.contains(&zoned("2026-01-17T05:00:00Z")));
    assert!(!quiet.contains(&zoned("2026-01-17T22:00:00Z")));
    assert!(!quiet.contains(&zoned("2026-01-19T05:00:00Z")));
    assert!(
        quiet.contains(&zoned("2026-01-19T22:00:00Z")),
        "Monday night"
    );
}

/// Minutes of `quiet` between two instants, counted on the real (UTC) clock.
fn quiet_minutes(quiet: &QuietHours, from: &str, to: &str) -> i64 {
    let (mut at, end) = (
        from.parse::<Timestamp>().unwrap(),
        to.parse::<Timestamp>().unwrap(),
    );
    let mut minutes = 0;
    while at < end {
        if quiet.contains(&at.to_zoned(berlin())) {
            minutes += 1;
        }
        at = at.checked_add(SignedDuration::from_mins(1)).unwrap();
    }
    minutes
}

#[test]
fn quiet_hours_across_the_spring_dst_change() {
    // 2026-03-29 02:00 CET → 03:00 CEST: the night 22:00–07:00 is 8 real hours.
    let quiet = quiet_nights();
    assert_eq!(
        quiet_minutes(&quiet, "2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z"),
        8 * 60
    );
    assert_eq!(
        quiet_minutes(&quiet, "2026-03-27T12:00:00Z", "2026-03-28T12:00:00Z"),
        9 * 60
    );
    // It still ends at 07:00 local, which is 05:00 UTC now (06:00 UTC the day before).
    assert!(quiet.contains(&zoned("2026-03-29T04:59:00Z")));
    assert!(!quiet.contains(&zoned("2026-03-29T05:00:00Z")));
    assert!(!quiet.contains(&zoned("2026-03-28T06:00:00Z")));
    // A window inside the skipped hour never happens that night.
    let skipped = QuietHours {
        start: Time::constant(2, 0, 0, 0),
        end: Time::constant(3, 0, 0, 0),
        ..quiet_nights()
    };
    assert_eq!(
        quiet_minutes(&skipped, "2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z"),
        0
    );
    // A window starting in it starts when the clock reaches its start afterwards: 02:30–04:00
    // is 03:00–04:00 CEST, one real hour.
    let straddling = QuietHours {
        start: Time::constant(2, 30, 0, 0),
        end: Time::constant(4, 0, 0, 0),
        ..quiet_nights()
    };
    assert_eq!(
        quiet_minutes(&straddling, "2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z"),
        60
    );
    // A decision right after the change reads local time, not an hour count.
    let settings = AlertSettings {
        quiet_hours: quiet,
        ..AlertSettings::default()
    };
    assert_eq!(
        came_online(
            &settings,
            &FriendId::from(1),
            &zoned("2026-03-29T05:00:00Z")
        ),
        FIRE_GLOBAL
    );
}

#[test]
fn quiet_hours_across_the_autumn_dst_change() {
    // 2026-10-25 03:00 CEST → 02:00 CET: the night 22:00–07:00 is 10 real hours.
    let quiet = quiet_nights();
    assert_eq!(
        quiet_minutes(&quiet, "2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z"),
        10 * 60
    );
    assert!(quiet.contains(&zoned("2026-10-25T05:59:00Z")), "06:59 CET");
    assert!(!quiet.contains(&zoned("2026-10-25T06:00:00Z")), "07:00 CET");
    assert!(quiet.contains(&zoned("2026-10-24T20:00:00Z")), "22:00 CEST");
    // The repeated hour is quiet both times: 02:00–03:00 lasts two real hours.
    let repeated = QuietHours {
        start: Time::constant(2, 0, 0, 0),
        end: Time::constant(3, 0, 0, 0),
        ..quiet_nights()
    };
    assert_eq!(
        quiet_minutes(&repeated, "2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z"),
        120
    );
    assert!(
        repeated.contains(&zoned("2026-10-25T00:30:00Z")),
        "02:30 CEST"
    );
    assert!(
        repeated.contains(&zoned("2026-10-25T01:30:00Z")),
        "02:30 CET"
    );
}

// ---- The decision ----

#[test]
fn always_beats_a_global_switch_that_is_off_and_never_beats_one_that_is_on() {
    let now = zoned("2026-01-14T12:00:00Z");
    let (alice, bob) = (FriendId::from(1), FriendId::from(2));
    let mut settings = AlertSettings {
        notify_online: false,
        ..AlertSettings::default()
    };
    settings.set_rule(SERVER, &alice, Transition::CameOnline, Rule::Always);
    settings.set_rule(SERVER, &bob, Transition::WentOffline, Rule::Never);
    assert_eq!(
        came_online(&settings, &alice, &now),
        Alert::Fire {
            because: FireReason::Always,
            broke_through: None,
            one_shot_consumed: false
        }
    );
    assert_eq!(
        came_online(&settings, &bob, &now),
        Alert::Suppressed(Suppressed::SwitchedOff)
    );
    // Bob's "never" is for going offline, with the global switch on.
    assert!(settings.notify_offline);
    assert_eq!(
        decide(&settings, input(&bob, Transition::WentOffline), &now).alert,
        Alert::Suppressed(Suppressed::Never)
    );
    assert_eq!(
        decide(&settings, input(&alice, Transition::WentOffline), &now).alert,
        FIRE_GLOBAL,
        "rules are per transition"
    );
    // "Always" is not a favourite: it does not break through quiet hours.
    settings.quiet_hours = quiet_nights();
    settings.favourites_break_through = true;
    assert_eq!(
        came_online(&settings, &alice, &zoned("2026-01-14T23:00:00Z")),
        Alert::Suppressed(Suppressed::Hushed(Hush::QuietHours))
    );
    // The same rules on another server are not Alice's.
    assert_eq!(
        decide(
            &settings,
            AlertInput {
                server: "https://other.example.com",
                friend: &alice,
                transition: Transition::CameOnline
            },
            &now
        )
        .alert,
        Alert::Suppressed(Suppressed::SwitchedOff)
    );
}

#[test]
fn favourites_break_through_quiet_hours_and_snooze_only_when_allowed() {
    let night = zoned("2026-01-14T23:00:00Z");
    let (star, other) = (FriendId::from(1), FriendId::from(2));
    let mut settings = AlertSettings {
        quiet_hours: quiet_nights(),
        ..AlertSettings::default()
    };
    settings.set_favourite(SERVER, &star, true);
    // Off by default.
    assert_eq!(
        came_online(&settings, &star, &night),
        Alert::Suppressed(Suppressed::Hushed(Hush::QuietHours))
    );
    settings.favourites_break_through = true;
    assert_eq!(
        came_online(&settings, &star, &night),
        Alert::Fire {
            because: FireReason::Global,
            broke_through: Some(Hush::QuietHours),
            one_shot_consumed: false
        }
    );
    assert_eq!(
        came_online(&settings, &other, &night),
        Alert::Suppressed(Suppressed::Hushed(Hush::QuietHours))
    );
    // Snooze: the same.
    let noon = zoned("2026-01-14T11:00:00Z");
    settings.snooze(SnoozeChoice::AnHour, &noon);
    assert_eq!(
        came_online(&settings, &star, &noon),
        Alert::Fire {
            because: FireReason::Global,
            broke_through: Some(Hush::Snooze),
            one_shot_consumed: false
        }
    );
    assert_eq!(
        came_online(&settings, &other, &noon),
        Alert::Suppressed(Suppressed::Hushed(Hush::Snooze))
    );
    settings.favourites_break_through = false;
    assert_eq!(
        came_online(&settings, &star, &noon),
        Alert::Suppressed(Suppressed::Hushed(Hush::Snooze))
    );
    // A favourite's own "never" still holds.
    settings.favourites_break_through = true;
    settings.set_rule(SERVER, &star, Transition::CameOnline, Rule::Never);
    assert_eq!(
        came_online(&settings, &star, &noon),
        Alert::Suppressed(Suppressed::Never)
    );
}

#[test]
fn do_not_disturb_is_absolute_and_keeps_a_one_shot() {
    let now = zoned("2026-01-14T12:00:00Z");
    let alice = FriendId::from(1);
    let mut settings = AlertSettings {
        do_not_disturb: true,
        favourites_break_through: true,
        ..AlertSettings::default()
    };
    settings.set_favourite(SERVER, &alice, true);
    settings.set_rule(SERVER, &alice, Transition::CameOnline, Rule::Always);
    settings.set_once_online(SERVER, &alice, true);
    let decision = decide(&settings, input(&alice, Transition::CameOnline), &now);
    assert_eq!(decision.alert, Alert::Suppressed(Suppressed::DoNotDisturb));
    assert_eq!(decision.settings_change, None, "the one-shot stays set");
}

#[test]
fn a_one_shot_fires_once_and_removes_itself() {
    let now = zoned("2026-01-14T12:00:00Z");
    let alice = FriendId::from(1);
    let mut settings = AlertSettings {
        notify_online: false,
        ..AlertSettings::default()
    };
    settings.set_rule(SERVER, &alice, Transition::CameOnline, Rule::Never);
    settings.set_once_online(SERVER, &alice, true);
    // Going offline does not use it up.
    let offline = decide(&settings, input(&alice, Transition::WentOffline), &now);
    assert_eq!(offline.settings_change, None);
    // Coming online does, even against "never": it was asked for this one time.
    let decision = decide(&settings, input(&alice, Transition::CameOnline), &now);
    assert_eq!(
        decision.alert,
        Alert::Fire {
            because: FireReason::OneShot,
            broke_through: None,
            one_shot_consumed: true
        }
    );
    decision.settings_change.unwrap().apply(&mut settings);
    assert!(!settings.has_once_online(SERVER, &alice));
    assert_eq!(
        came_online(&settings, &alice, &now),
        Alert::Suppressed(Suppressed::Never)
    );
    // Held back by quiet hours, it is not used up: it waits for the next time.
    settings.set_once_online(SERVER, &alice, true);
    settings.quiet_hours = quiet_nights();
    let night = decide(
        &settings,
        input(&alice, Transition::CameOnline),
        &zoned("2026-01-14T23:00:00Z"),
    );
    assert_eq!(
        night.alert,
        Alert::Suppressed(Suppressed::Hushed(Hush::QuietHours))
    );
    assert_eq!(night.settings_change, None);
}

// ---- Grouping: the notifier decides when a change settles ----

/// A monotonic and a wall clock that move together.
struct Clocks {
    t0: Instant,
    wall0: Zoned,
}

impl Clocks {
    fn new() -> Clocks {
        Clocks {
            t0: Instant::now(),
            wall0: zoned("2026-01-14T13:00:00Z"),
        }
    }
    fn at(&self, after: Duration) -> (Instant, Zoned) {
        let wall = self.wall0.checked_add(after).unwrap();
        (self.t0 + after, wall)
    }
}

fn live(id: u64, name: &str, from: &str, to: &str) -> PresenceChange {
    PresenceChange {
        user_id: FriendId::from(id),
        username: name.into(),
        from: Some(from.into()),
        to: Some(to.into()),
        last_seen: None,
        cause: ChangeCause::Live,
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_snooze_that_ends_while_a_flap_is_collapsed_is_decided_when_the_alert_would_fire() {
    let clocks = Clocks::new();
    let mut settings = AlertSettings {
        snoozed_until: Some(clocks.at(ms(2_000)).1.timestamp()),
        ..AlertSettings::default()
    };
    let mut notifier = Notifier::new();
    // Alice comes online during the snooze, flaps off and on again; the snooze ends at
    // 2 s, while the last change is still settling.
    notifier.push(&live(1, "Alice", "offline", "online"), clocks.at(ms(0)).0);
    notifier.push(
        &live(1, "Alice", "online", "offline"),
        clocks.at(ms(1_000)).0,
    );
    notifier.push(
        &live(1, "Alice", "offline", "online"),
        clocks.at(ms(1_500)).0,
    );
    let (t, wall) = clocks.at(SETTLE);
    assert!(notifier
        .poll(t, &wall, SERVER, &mut settings)
        .decided
        .is_empty());
    assert_eq!(
        notifier.next_deadline(),
        Some(clocks.at(ms(1_500) + SETTLE).0)
    );
    let (t, wall) = clocks.at(ms(1_500) + SETTLE);
    let polled = notifier.poll(t, &wall, SERVER, &mut settings);
    assert_eq!(polled.decided.len(), 1);
    assert_eq!(
        polled.decided[0].alert, FIRE_GLOBAL,
        "decided at 4.5 s: no longer snoozed"
    );
    assert_eq!(polled.notices[0].body, "Alice is online");

    // The other way round: snoozed while the change settles, it is dropped, and
    // nothing is replayed when the snooze ends.
    let mut notifier = Notifier::new();
    let mut settings = AlertSettings::default();
    notifier.push(&live(2, "Bob", "online", "offline"), clocks.at(ms(0)).0);
    settings.snooze(SnoozeChoice::HalfAnHour, &clocks.at(ms(1_000)).1);
    let (t, wall) = clocks.at(SETTLE);
    let polled = notifier.poll(t, &wall, SERVER, &mut settings);
    assert_eq!(
        polled.decided[0].alert,
        Alert::Suppressed(Suppressed::Hushed(Hush::Snooze))
    );
    assert!(polled.notices.is_empty());
    assert_eq!(notifier.next_deadline(), None);
    let (t, wall) = clocks.at(Duration::from_secs(31 * 60));
    assert!(notifier
        .poll(t, &wall, SERVER, &mut settings)
        .notices
        .is_empty());
}

#[test]
fn a_one_shot_covered_by_a_grouped_notice_fires_exactly_once() {
    let clocks = Clocks::new();
    let alice = FriendId::from(1);
    let mut settings = AlertSettings::default();
    settings.set_once_online(SERVER, &alice, true);
    let mut notifier = Notifier::new();
    for (id, name) in [(2, "Bob"), (1, "Alice"), (3, "Cy")] {
        notifier.push(
            &live(id, name, "offline", "online"),
            clocks.at(ms(id * 100)).0,
        );
    }
    let (t, wall) = clocks.at(ms(100) + SETTLE);
    let polled = notifier.poll(t, &wall, SERVER, &mut settings);
    // One notice covers all three; Alice's one-shot is used up by it.
    assert_eq!(polled.notices.len(), 1);
    assert_eq!(polled.notices[0].body, "Bob and 2 others are online");
    assert!(polled.settings_changed);
    assert!(!settings.has_once_online(SERVER, &alice));
    let alice_decisions: Vec<_> = polled
        .decided
        .iter()
        .filter(|d| d.friend == alice)
        .collect();
    assert_eq!(
        alice_decisions[0].alert,
        Alert::Fire {
            because: FireReason::OneShot,
            broke_through: None,
            one_shot_consumed: true
        }
    );
    // She flaps off and on: with the global switch off, nothing more.
    settings.notify_online = false;
    let later = Duration::from_secs(60);
    notifier.push(&live(1, "Alice", "online", "offline"), clocks.at(later).0);
    let (t, wall) = clocks.at(later + SETTLE);
    notifier.poll(t, &wall, SERVER, &mut settings);
    notifier.push(
        &live(1, "Alice", "offline", "online"),
        clocks.at(later * 2).0,
    );
    let (t, wall) = clocks.at(later * 2 + SETTLE);
    let polled = notifier.poll(t, &wall, SERVER, &mut settings);
    assert!(polled.notices.is_empty());
    assert!(!polled.settings_changed);

    // With the global switch off, a one-shot in a burst still gets its own notice and
    // the others none.
    settings.set_once_online(SERVER, &alice, true);
    notifier.push(
        &live(1, "Alice", "online", "offline"),
        clocks.at(later * 3).0,
    );
    notifier.poll(
        clocks.at(later * 3 + SETTLE).0,
        &clocks.at(later * 3 + SETTLE).1,
        SERVER,
        &mut settings,
    );
    for (id, name) in [(4, "Dee"), (1, "Alice")] {
        notifier.push(&live(id, name, "offline", "online"), clocks.at(later * 4).0);
    }
    let (t, wall) = clocks.at(later * 4 + SETTLE);
    let polled = notifier.poll(t, &wall, SERVER, &mut settings);
    assert_eq!(polled.notices.len(), 1);
    assert_eq!(polled.notices[0].body, "Alice is online");
    assert!(!settings.has_once_online(SERVER, &alice));
}

// ---- Settings migration ----

/// The app's settings after it embeds the alert settings: its own fields, as today,
/// plus `AlertSettings` flattened beside them.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct AppSettings {
    server: Option<String>,
    preset: Option<String>,
    profile_path: Option<String>,
    launch_at_login: bool,
    allow_insecure: bool,
    #[serde(flatten)]
    alerts: AlertSettings,
}

const OLD_FILE: &str = include_str!("data/settings-before-alerts.json");

#[test]
fn a_settings_file_of_the_current_app_migrates_with_every_old_value_kept() {
    let old: serde_json::Value = serde_json::from_str(OLD_FILE).unwrap();
    let migrated = AlertSettings::migrate_text(OLD_FILE).unwrap();
    assert!(migrated.dropped.is_empty(), "{:?}", migrated.dropped);
    let alerts = migrated.settings;
    assert!(!alerts.notify_online);
    assert!(!alerts.notify_offline);
    assert!(alerts.do_not_disturb);
    // New fields start at their defaults.
    assert_eq!(
        AlertSettings {
            notify_online: true,
            notify_offline: true,
            do_not_disturb: false,
            ..alerts.clone()
        },
        AlertSettings::default()
    );

    // Embedded in the app's settings, the whole file loads, and saving and loading it
    // again keeps every old field with its old value.
    let app: AppSettings = serde_json::from_str(OLD_FILE).unwrap();
    assert_eq!(app.alerts, alerts);
    assert_eq!(app.server.as_deref(), Some("https://presence.example.com"));
    let saved = serde_json::to_value(&app).unwrap();
    for (key, value) in old.as_object().unwrap() {
        assert_eq!(&saved[key], value, "{key}");
    }
    let reloaded: AppSettings = serde_json::from_value(saved.clone()).unwrap();
    assert_eq!(reloaded, app);
    // And a file with the new fields reads back the same way through `migrate`.
    assert_eq!(AlertSettings::migrate(&saved).settings, alerts);
}

#[test]
fn the_new_fields_round_trip_through_the_file() {
    let now = zoned("2026-01-14T12:00:00Z");
    let mut settings = AlertSettings {
        quiet_hours: QuietHours {
            days: Weekdays::NONE.with(Weekday::Saturday).with(Weekday::Sunday),
            ..quiet_nights()
        },
        favourites_break_through: true,
        notify_back_from_away: true,
        ..AlertSettings::default()
    };
    settings.snooze(SnoozeChoice::UntilMorning, &now);
    settings.set_favourite(SERVER, &FriendId::from("u-7"), true);
    settings.set_rule(
        SERVER,
        &FriendId::from(9),
        Transition::BackFromAway,
        Rule::Always,
    );
    settings.set_once_online("https://other.example.com", &FriendId::from(3), true);
    let text = serde_json::to_string_pretty(&settings).unwrap();
    assert!(
        text.contains(
            r#""days": [
      "sat",
      "sun"
    ]"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#""snoozed_until": "2026-01-15T07:00:00Z""#),
        "{text}"
    );
    assert_eq!(
        AlertSettings::migrate_text(&text).unwrap().settings,
        settings
    );
}

// ---- Timeline and counts ----

fn state_change(from: ConnectionState, to: ConnectionState, reason: Reason) -> StateChange {
    StateChange {
        from,
        to,
        reason,
        retry_at: None,
    }
}

#[test]
fn the_timeline_keeps_the_last_hundred_and_says_why_not_connected() {
    use ConnectionState::{Connected, Connecting, Reconnecting};
    let now_mono = Instant::now();
    let mut timeline = ConnectionTimeline::new();
    let base: Timestamp = "2026-01-14T12:00:00Z".parse().unwrap();
    let at = |minutes: i64| {
        base.checked_add(SignedDuration::from_mins(minutes))
            .unwrap()
    };
    let now = zoned("2026-01-14T15:00:00Z");
    assert_eq!(timeline.why_not_connected(&now), "Not connected yet.");
    for i in 0..150 {
        timeline.record(
            &state_change(Connecting { attempt: 1 }, Connected, Reason::Authenticated),
            at(i),
            now_mono,
        );
    }
    assert_eq!(timeline.len(), TIMELINE_CAPACITY);
    assert_eq!(
        timeline.entries().next().unwrap().at,
        at(50),
        "the oldest are dropped"
    );
    assert_eq!(timeline.why_not_connected(&now), "Connected since 15:29.");
    // A handover goes on with the same connection.
    timeline.record(
        &state_change(Connected, Connected, Reason::Handover),
        at(160),
        now_mono,
    );
    assert_eq!(timeline.why_not_connected(&now), "Connected since 15:29.");

    let lost_at = at(170); // 14:50 UTC, 15:50 in Berlin
    timeline.record(
        &state_change(
            Connected,
            Reconnecting { attempt: 1 },
            Reason::ClosedByServer {
                code: Some(1011),
                reason: "internal error".into(),
            },
        ),
        lost_at,
        now_mono,
    );
    let retry = StateChange {
        retry_at: Some(now_mono + Duration::from_secs(90)),
        ..state_change(
            Connecting { attempt: 1 },
            Reconnecting { attempt: 1 },
            Reason::ConnectFailed("tcp connect error: Connection refused".into()),
        )
    };
    timeline.record(&retry, at(171), now_mono);
    let now = zoned("2026-01-14T14:51:30Z");
    assert_eq!(
        timeline.why_not_connected(&now),
        "Not connected since 15:50 — connect failed: tcp connect error: Connection refused. \
         Next attempt at 15:52."
    );
    timeline.record(
        &state_change(
            Reconnecting { attempt: 1 },
            Connecting { attempt: 2 },
            Reason::RetryDue,
        ),
        at(173),
        now_mono,
    );
    assert!(timeline
        .why_not_connected(&now)
        .ends_with("Connection refused. Trying again now (attempt 2)."));
    timeline.record_session_ended(EndReason::SessionExpired, at(174));
    assert_eq!(
        timeline.why_not_connected(&now),
        "Signed out: the session expired; sign in again."
    );
    let last = timeline.entries().last().unwrap();
    assert_eq!((last.state, last.reason), ("signed_out", "session_expired"));
}

#[test]
fn the_clipboard_text_never_holds_a_token() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiIsImV4cCI6MTc2ODM5MjAwMH0.\
               Jt2mZ3pcGs1aQfH0pHk9cQy2R9m4Cz0bVt8kZ1xQm3E";
    let now_mono = Instant::now();
    let mut timeline = ConnectionTimeline::new();
    let at: Timestamp = "2026-01-14T12:00:00Z".parse().unwrap();
    let reasons = [
        Reason::ClosedByServer {
            code: Some(4001),
            reason: format!("token {jwt} is expired"),
        },
        Reason::AuthFailed(format!("{{\"detail\":\"invalid\",\"token\":\"{jwt}\"}}")),
        Reason::ConnectFailed(format!(
            "HTTP error for wss://presence.example.com/ws?token={jwt}: \x1b[31mrefused"
        )),
        Reason::TokenUnavailable(format!("refresh failed: Authorization: Bearer {jwt}")),
    ];
    for reason in reasons {
        timeline.record(
            &state_change(
                ConnectionState::Connected,
                ConnectionState::Reconnecting { attempt: 1 },
                reason,
            ),
            at,
            now_mono,
        );
    }
    let text = timeline.clipboard_text(&zoned("2026-01-14T12:05:00Z"));
    let signature = jwt.rsplit('.').next().unwrap();
    for secret in ["eyJ", signature, "\x1b"] {
        assert!(!text.contains(secret), "{secret:?} in:\n{text}");
    }
    assert!(
        text.contains("closed by server (4001: token [redacted] is expired)"),
        "{text}"
    );
    assert!(
        text.starts_with("Kith connection timeline (Europe/Berlin)\n"),
        "{text}"
    );
    assert!(
        text.contains("2026-01-14 13:00:00 +01:00  reconnecting  closed_by_server"),
        "{text}"
    );
    for entry in timeline.entries() {
        assert!(!entry.detail.contains("eyJ"), "{}", entry.detail);
    }
}

#[test]
fn the_header_counts_away_apart() {
    let statuses = [
        "online", "away", "online", "away", "busy", "away", "online", "away",
    ];
    assert_eq!(
        Counts::of_statuses(statuses).to_string(),
        "4 online · 4 away · 8 friends"
    );
}

// ---- Properties ----

fn any_time() -> impl Strategy<Value = Time> {
    (0i8..24, 0i8..60).prop_map(|(h, m)| Time::constant(h, m, 0, 0))
}

fn any_quiet_hours() -> impl Strategy<Value = QuietHours> {
    (any_time(), any_time(), 0u8..128).prop_map(|(start, end, bits)| QuietHours {
        enabled: true,
        start,
        end,
        days: (0..7i8)
            .filter(|i| bits & (1 << i) != 0)
            .filter_map(|i| Weekday::from_monday_zero_offset(i).ok())
            .collect(),
    })
}

/// Any instant in 2026, to the second.
fn any_instant() -> impl Strategy<Value = Timestamp> {
    (1_767_225_600i64..1_798_761_600).prop_map(|s| Timestamp::from_second(s).unwrap())
}

/// The reference: is `local` within one of the concrete windows that start on
/// yesterday or today, as civil date-time intervals?
fn in_some_window(quiet: &QuietHours, local: jiff::civil::DateTime) -> bool {
    let today = local.date();
    [today.yesterday().unwrap(), today].into_iter().any(|day| {
        if !quiet.days.contains(day.weekday()) {
            return false;
        }
        let start = day.to_datetime(quiet.start);
        let end_day = if quiet.start < quiet.end {
            day
        } else {
            day.tomorrow().unwrap()
        };
        let end = end_day.to_datetime(quiet.end);
        start <= local && local < end
    })
}

proptest! {
    #[test]
    fn quiet_hours_membership_matches_the_concrete_windows(
        quiet in any_quiet_hours(),
        at in any_instant(),
    ) {
        let now = at.to_zoned(berlin());
        prop_assert_eq!(quiet.contains(&now), in_some_window(&quiet, now.datetime()));
    }

    #[test]
    fn every_day_a_window_and_its_complement_split_the_day(
        start in any_time(),
        end in any_time(),
        at in any_instant(),
    ) {
        prop_assume!(start != end);
        let window = QuietHours { enabled: true, start, end, days: Weekdays::ALL };
        let rest = QuietHours { enabled: true, start: end, end: start, days: Weekdays::ALL };
        let now = at.to_zoned(berlin());
        prop_assert!(window.contains(&now) != rest.contains(&now));
    }

    #[test]
    fn dnd_is_absolute_and_a_one_shot_is_used_up_only_by_an_alert(
        dnd: bool,
        global: bool,
        favourite: bool,
        break_through: bool,
        one_shot: bool,
        rule in prop_oneof![Just(Rule::Global), Just(Rule::Always), Just(Rule::Never)],
        quiet in any_quiet_hours(),
        snoozed_for in prop::option::of(0i64..120),
        at in any_instant(),
    ) {
        let now = at.to_zoned(berlin());
        let alice = FriendId::from(1);
        let mut settings = AlertSettings {
            do_not_disturb: dnd,
            notify_online: global,
            favourites_break_through: break_through,
            quiet_hours: quiet,
            snoozed_until: snoozed_for.map(|m| at.checked_add(SignedDuration::from_mins(m)).unwrap()),
            ..AlertSettings::default()
        };
        settings.set_favourite(SERVER, &alice, favourite);
        settings.set_rule(SERVER, &alice, Transition::CameOnline, rule);
        settings.set_once_online(SERVER, &alice, one_shot);
        let decision = decide(&settings, input(&alice, Transition::CameOnline), &now);
        if dnd {
            prop_assert_eq!(decision.alert, Alert::Suppressed(Suppressed::DoNotDisturb));
        }
        let consumed = matches!(decision.alert, Alert::Fire { one_shot_consumed: true, .. });
        prop_assert_eq!(consumed, decision.settings_change.is_some());
        prop_assert_eq!(consumed, one_shot && decision.alert.fires());
        if !one_shot && rule == Rule::Never {
            prop_assert!(!decision.alert.fires());
        }
        if let Alert::Fire { broke_through: Some(_), .. } = decision.alert {
            prop_assert!(favourite && break_through);
        }
        if !favourite || !break_through {
            let hushed = settings.snoozed_at(at).is_some() || settings.quiet_hours.contains(&now);
            prop_assert!(!(hushed && decision.alert.fires()));
        }
    }

    #[test]
    fn a_one_shot_fires_at_most_once_whatever_the_changes(
        steps in prop::collection::vec((0u64..4, 0u64..3, 0u64..2_500, any::<bool>()), 1..40),
    ) {
        let clocks = Clocks::new();
        let statuses = ["offline", "online", "away"];
        let mut current = [0usize; 4];
        let mut settings = AlertSettings::default();
        for id in 0..4 {
            settings.set_once_online(SERVER, &FriendId::from(id), true);
        }
        let mut notifier = Notifier::new();
        let mut elapsed = Duration::ZERO;
        let mut fired = [0u32; 4];
        for (id, to, wait, poll) in steps {
            elapsed += ms(wait);
            let from = current[id as usize];
            let to = to as usize;
            if from != to {
                current[id as usize] = to;
                notifier.push(&live(id, "f", statuses[from], statuses[to]), clocks.at(elapsed).0);
            }
            if poll {
                let (t, wall) = clocks.at(elapsed);
                for decided in notifier.poll(t, &wall, SERVER, &mut settings).decided {
                    if let Alert::Fire { one_shot_consumed: true, .. } = decided.alert {
                        fired[decided.friend.as_str().parse::<usize>().unwrap()] += 1;
                    }
                }
            }
        }
        let (t, wall) = clocks.at(elapsed + SETTLE * 2);
        for decided in notifier.poll(t, &wall, SERVER, &mut settings).decided {
            if let Alert::Fire { one_shot_consumed: true, .. } = decided.alert {
                fired[decided.friend.as_str().parse::<usize>().unwrap()] += 1;
            }
        }
        for id in 0..4u64 {
            prop_assert!(fired[id as usize] <= 1);
            prop_assert_eq!(
                fired[id as usize] == 1,
                !settings.has_once_online(SERVER, &FriendId::from(id))
            );
        }
    }
}
