//! The window's and the tray menu's changes to who is alerted: a star, a friend's rule,
//! a one-shot, a snooze. Each has a request of its own rather than riding on the
//! settings panel's save, so a panel holding an older copy of the settings cannot undo
//! one (see [`Settings::take_preferences`]).

use jiff::Zoned;
use kith_core::alerts::{Rule, SnoozeChoice, Transition};
use kith_core::FriendId;
use serde::{Deserialize, Serialize};

use crate::settings::Settings;

/// One change, as the page sends it: `{"kind": "star", "friend": "2", "on": true}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AlertChange {
    /// Star or unstar a friend of the signed-in server.
    Star { friend: String, on: bool },
    /// A friend's rule for one kind of change.
    Rule {
        friend: String,
        transition: TransitionName,
        rule: RuleName,
    },
    /// Arm or cancel "tell me once when they come online".
    OnceOnline { friend: String, armed: bool },
    /// Snooze alerts from now.
    Snooze { choice: SnoozeFor },
    /// End the snooze.
    Unsnooze,
}

/// [`Transition`] as the page names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionName {
    CameOnline,
    WentOffline,
    BackFromAway,
}

/// [`Rule`] as the page names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleName {
    Global,
    Always,
    Never,
}

/// The snoozes the window and the tray menu offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnoozeFor {
    HalfHour,
    Hour,
    UntilMorning,
}

/// The longest friend id a change may name, in bytes; a longer one is refused.
pub const FRIEND_ID_MAX: usize = 256;

impl AlertChange {
    /// Applies the change at `now`. A change about a friend needs a signed-in server
    /// (the key of the friends' settings) and a sane id; it is refused otherwise.
    pub fn apply(&self, settings: &mut Settings, now: &Zoned) -> Result<(), String> {
        let alerts = &mut settings.alerts;
        match self {
            AlertChange::Snooze { choice } => {
                let choice = match choice {
                    SnoozeFor::HalfHour => SnoozeChoice::HalfAnHour,
                    SnoozeFor::Hour => SnoozeChoice::AnHour,
                    SnoozeFor::UntilMorning => SnoozeChoice::UntilMorning,
                };
                alerts.snooze(choice, now);
                return Ok(());
            }
            AlertChange::Unsnooze => {
                alerts.unsnooze();
                return Ok(());
            }
            _ => {}
        }
        let server = settings
            .server
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or("Sign in first: stars and alert rules are kept per server.")?;
        let friend = match self {
            AlertChange::Star { friend, .. }
            | AlertChange::Rule { friend, .. }
            | AlertChange::OnceOnline { friend, .. } => friend,
            AlertChange::Snooze { .. } | AlertChange::Unsnooze => unreachable!("handled above"),
        };
        if friend.is_empty() || friend.len() > FRIEND_ID_MAX {
            return Err(format!(
                "A friend id must have 1 to {FRIEND_ID_MAX} bytes; this one has {}.",
                friend.len()
            ));
        }
        let id = FriendId::from(friend.as_str());
        match self {
            AlertChange::Star { on, .. } => alerts.set_favourite(server, &id, *on),
            AlertChange::Rule {
                transition, rule, ..
            } => alerts.set_rule(server, &id, transition.core(), rule.core()),
            AlertChange::OnceOnline { armed, .. } => alerts.set_once_online(server, &id, *armed),
            AlertChange::Snooze { .. } | AlertChange::Unsnooze => {}
        }
        Ok(())
    }
}

impl TransitionName {
    pub fn core(self) -> Transition {
        match self {
            TransitionName::CameOnline => Transition::CameOnline,
            TransitionName::WentOffline => Transition::WentOffline,
            TransitionName::BackFromAway => Transition::BackFromAway,
        }
    }
}

impl RuleName {
    pub fn core(self) -> Rule {
        match self {
            RuleName::Global => Rule::Global,
            RuleName::Always => Rule::Always,
            RuleName::Never => Rule::Never,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_noon() -> Zoned {
        "2026-03-07T12:00:00[Europe/Paris]".parse().unwrap()
    }

    fn signed_in() -> Settings {
        Settings {
            server: Some("https://presence.example.com".into()),
            ..Settings::default()
        }
    }

    fn change(json: &str) -> AlertChange {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    #[test]
    fn the_pages_words_change_the_settings_of_the_signed_in_server() {
        let mut settings = signed_in();
        let server = "https://presence.example.com";
        let alice = FriendId::from("2");
        change(r#"{"kind":"star","friend":"2","on":true}"#)
            .apply(&mut settings, &at_noon())
            .unwrap();
        assert!(settings.alerts.is_favourite(server, &alice));
        change(r#"{"kind":"rule","friend":"2","transition":"went_offline","rule":"always"}"#)
            .apply(&mut settings, &at_noon())
            .unwrap();
        assert_eq!(
            settings
                .alerts
                .rule(server, &alice)
                .get(Transition::WentOffline),
            Rule::Always
        );
        assert_eq!(
            settings
                .alerts
                .rule(server, &alice)
                .get(Transition::CameOnline),
            Rule::Global
        );
        change(r#"{"kind":"once_online","friend":"2","armed":true}"#)
            .apply(&mut settings, &at_noon())
            .unwrap();
        assert!(settings.alerts.has_once_online(server, &alice));
        change(r#"{"kind":"once_online","friend":"2","armed":false}"#)
            .apply(&mut settings, &at_noon())
            .unwrap();
        assert!(!settings.alerts.has_once_online(server, &alice));
        change(r#"{"kind":"star","friend":"2","on":false}"#)
            .apply(&mut settings, &at_noon())
            .unwrap();
        assert!(!settings.alerts.is_favourite(server, &alice));
    }

    #[test]
    fn snooze_and_unsnooze() {
        let mut settings = Settings::default();
        change(r#"{"kind":"snooze","choice":"half_hour"}"#)
            .apply(&mut settings, &at_noon())
            .unwrap();
        let until = settings.alerts.snoozed_until.expect("snoozed");
        assert_eq!(
            until,
            "2026-03-07T12:30:00+01:00"
                .parse::<jiff::Timestamp>()
                .unwrap()
        );
        change(r#"{"kind":"snooze","choice":"until_morning"}"#)
            .apply(&mut settings, &at_noon())
            .unwrap();
        assert_eq!(
            settings.alerts.snoozed_until,
            Some("2026-03-08T08:00:00+01:00".parse().unwrap()),
            "tomorrow at the morning time, replacing the half hour"
        );
        change(r#"{"kind":"unsnooze"}"#)
            .apply(&mut settings, &at_noon())
            .unwrap();
        assert_eq!(settings.alerts.snoozed_until, None);
    }

    #[test]
    fn refused_without_a_server_or_with_a_bad_id_or_shape() {
        let mut settings = Settings::default();
        let error = change(r#"{"kind":"star","friend":"2","on":true}"#)
            .apply(&mut settings, &at_noon())
            .unwrap_err();
        assert!(error.contains("Sign in first"), "{error}");
        let mut settings = signed_in();
        let long = format!(
            r#"{{"kind":"star","friend":"{}","on":true}}"#,
            "x".repeat(257)
        );
        let error = change(&long).apply(&mut settings, &at_noon()).unwrap_err();
        assert!(error.contains("1 to 256 bytes"), "{error}");
        let error = change(r#"{"kind":"star","friend":"","on":true}"#)
            .apply(&mut settings, &at_noon())
            .unwrap_err();
        assert!(error.contains("1 to 256 bytes"), "{error}");
        assert_eq!(settings, signed_in(), "nothing changed");
        for bad in [
            r#"{"kind":"star","friend":"2"}"#,
            r#"{"kind":"rule","friend":"2","transition":"sneezed","rule":"always"}"#,
            r#"{"kind":"snooze","choice":"forever"}"#,
            r#"{"kind":"star","friend":"2","on":true,"extra":1}"#,
            r#"{"kind":"launch_missiles"}"#,
        ] {
            assert!(
                serde_json::from_str::<AlertChange>(bad).is_err(),
                "refused: {bad}"
            );
        }
    }
}
