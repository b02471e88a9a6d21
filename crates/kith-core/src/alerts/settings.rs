//! The alert part of the settings file: the switches the app has today and what the
//! people-you-care-about features add to them.
//!
//! The app's settings file today is a flat JSON object whose alert fields are
//! `notify_online`, `notify_offline` and `do_not_disturb`, next to `server`, `preset`,
//! `profile_path`, `launch_at_login` and `allow_insecure`. [`AlertSettings`] keeps
//! those three fields under the same names and adds the new ones beside them, each with
//! a default, so the app can `#[serde(flatten)]` it into its settings struct and a file
//! written by the current version loads with every old value kept. [`AlertSettings::migrate`]
//! reads such a file, keeping every value that reads and dropping (and naming) only one
//! that does not.
//!
//! Favourites, per-friend rules and one-shots are kept per server (the base URL of the
//! sign-in, as the app's `server` setting holds it) and friend id, so a friend who
//! disappears from the list keeps their star until they come back or it is removed.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Time;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::quiet_hours::QuietHours;
use super::transition::Transition;
use crate::protocol::FriendId;

/// One friend's rule for one kind of change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// As set globally (the default).
    #[default]
    Global,
    /// Always alert, even when the global switch for this change is off.
    Always,
    /// Never alert.
    Never,
}

/// A friend's rules, one per kind of change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct FriendRule {
    /// Coming online.
    pub online: Rule,
    /// Going offline.
    pub offline: Rule,
    /// Coming back from away.
    pub back_from_away: Rule,
}

impl FriendRule {
    /// The rule for `transition`.
    pub fn get(&self, transition: Transition) -> Rule {
        match transition {
            Transition::CameOnline => self.online,
            Transition::WentOffline => self.offline,
            Transition::BackFromAway => self.back_from_away,
        }
    }

    /// Sets the rule for `transition`.
    pub fn set(&mut self, transition: Transition, rule: Rule) {
        match transition {
            Transition::CameOnline => self.online = rule,
            Transition::WentOffline => self.offline = rule,
            Transition::BackFromAway => self.back_from_away = rule,
        }
    }

    /// Whether every rule is [`Rule::Global`], so there is nothing to keep.
    pub fn is_default(&self) -> bool {
        *self == FriendRule::default()
    }
}

/// What the user set for the friends of one server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FriendAlerts {
    /// Starred friends.
    pub favourites: BTreeSet<FriendId>,
    /// Friends whose rules differ from "as set globally".
    pub rules: BTreeMap<FriendId, FriendRule>,
    /// "Tell me once when they come online": removed when it fires.
    pub once_online: BTreeSet<FriendId>,
}

impl FriendAlerts {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.favourites.is_empty() && self.rules.is_empty() && self.once_online.is_empty()
    }

    /// `friend`'s rule (all [`Rule::Global`] when none is set).
    pub fn rule(&self, friend: &FriendId) -> FriendRule {
        self.rules.get(friend).copied().unwrap_or_default()
    }
}

/// The alert settings. Every field has a default, so a file that lacks some (one
/// written by the current app, or by a later one that dropped a field) still loads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertSettings {
    /// Alert when a friend comes online (the app's setting of the same name).
    pub notify_online: bool,
    /// Alert when a friend goes offline (the app's setting of the same name).
    pub notify_offline: bool,
    /// Mute every alert, whatever else is set (the app's setting of the same name).
    pub do_not_disturb: bool,
    /// Alert when a friend comes back from away. Off by default: the app never did.
    pub notify_back_from_away: bool,
    /// The daily quiet window.
    pub quiet_hours: QuietHours,
    /// Alerts are snoozed until this instant; an instant in the past means not snoozed.
    pub snoozed_until: Option<Timestamp>,
    /// The local time "until tomorrow morning" snoozes until.
    pub snooze_morning: Time,
    /// Favourites are alerted during quiet hours and snooze (never during Do not
    /// disturb). Off by default.
    pub favourites_break_through: bool,
    /// Favourites, per-friend rules and one-shots, by server base URL.
    pub servers: BTreeMap<String, FriendAlerts>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            notify_online: true,
            notify_offline: true,
            do_not_disturb: false,
            notify_back_from_away: false,
            quiet_hours: QuietHours::default(),
            snoozed_until: None,
            snooze_morning: Time::constant(8, 0, 0, 0),
            favourites_break_through: false,
            servers: BTreeMap::new(),
        }
    }
}

/// Reads a settings object of type `T` (a struct with `#[serde(default)]`), keeping
/// every field that reads: a field that is present but does not read (a wrong type)
/// keeps its default and is named in the list returned. Anything but an object gives
/// the defaults, the list naming `"(not an object)"`. The app reads its whole settings
/// file with this too, so one bad field never costs the others.
pub fn read_what_reads<T: serde::de::DeserializeOwned + Default>(
    file: &serde_json::Value,
) -> (T, Vec<String>) {
    let Some(object) = file.as_object() else {
        return (T::default(), vec!["(not an object)".to_string()]);
    };
    if let Ok(settings) = serde_json::from_value(file.clone()) {
        return (settings, Vec::new());
    }
    // Some field does not read: take the fields one at a time onto the defaults.
    let mut kept = serde_json::Map::new();
    let mut dropped = Vec::new();
    for (key, value) in object {
        let mut trial = kept.clone();
        trial.insert(key.clone(), value.clone());
        if serde_json::from_value::<T>(serde_json::Value::Object(trial)).is_ok() {
            kept.insert(key.clone(), value.clone());
        } else {
            dropped.push(key.clone());
        }
    }
    let settings = serde_json::from_value(serde_json::Value::Object(kept)).unwrap_or_default();
    (settings, dropped)
}

/// What [`AlertSettings::migrate`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// The settings, with every field that read kept.
    pub settings: AlertSettings,
    /// Fields that were present but could not be read, left at their defaults.
    pub dropped: Vec<String>,
}

impl AlertSettings {
    /// Reads the alert settings from a settings file's JSON object (the app's current
    /// flat format, or one that already holds the new fields). Unknown fields (the
    /// app's own `server`, `launch_at_login`, …) are ignored. A field that is present
    /// but does not read (a wrong type) keeps its default and is named in
    /// [`Migrated::dropped`]; every other value is kept. Anything but an object gives
    /// the defaults, with `dropped` naming `"(not an object)"`.
    pub fn migrate(file: &serde_json::Value) -> Migrated {
        let (settings, dropped) = read_what_reads(file);
        Migrated { settings, dropped }
    }

    /// [`migrate`](Self::migrate) for a settings file's text; `None` when it is not JSON.
    pub fn migrate_text(text: &str) -> Option<Migrated> {
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .map(|value| Self::migrate(&value))
    }

    /// The global switch for `transition`.
    pub fn global(&self, transition: Transition) -> bool {
        match transition {
            Transition::CameOnline => self.notify_online,
            Transition::WentOffline => self.notify_offline,
            Transition::BackFromAway => self.notify_back_from_away,
        }
    }

    /// What is set for the friends of `server`, if anything.
    pub fn server(&self, server: &str) -> Option<&FriendAlerts> {
        self.servers.get(server)
    }

    fn server_mut(&mut self, server: &str) -> &mut FriendAlerts {
        self.servers.entry(server.to_string()).or_default()
    }

    /// Drops `server`'s entry when nothing is left in it.
    fn tidy(&mut self, server: &str) {
        if self.servers.get(server).is_some_and(FriendAlerts::is_empty) {
            self.servers.remove(server);
        }
    }

    /// Whether `friend` of `server` is starred.
    pub fn is_favourite(&self, server: &str, friend: &FriendId) -> bool {
        self.server(server)
            .is_some_and(|alerts| alerts.favourites.contains(friend))
    }

    /// Stars or unstars `friend` of `server`.
    pub fn set_favourite(&mut self, server: &str, friend: &FriendId, favourite: bool) {
        if favourite {
            self.server_mut(server).favourites.insert(friend.clone());
        } else if let Some(alerts) = self.servers.get_mut(server) {
            alerts.favourites.remove(friend);
            self.tidy(server);
        }
    }

    /// `friend`'s rules on `server`.
    pub fn rule(&self, server: &str, friend: &FriendId) -> FriendRule {
        self.server(server)
            .map(|alerts| alerts.rule(friend))
            .unwrap_or_default()
    }

    /// Sets `friend`'s rule for `transition` on `server`; rules back at "as set
    /// globally" are not kept.
    pub fn set_rule(
        &mut self,
        server: &str,
        friend: &FriendId,
        transition: Transition,
        rule: Rule,
    ) {
        let mut rules = self.rule(server, friend);
        rules.set(transition, rule);
        if rules.is_default() {
            if let Some(alerts) = self.servers.get_mut(server) {
                alerts.rules.remove(friend);
                self.tidy(server);
            }
        } else {
            self.server_mut(server).rules.insert(friend.clone(), rules);
        }
    }

    /// Whether a one-shot "tell me once when they come online" is set for `friend`.
    pub fn has_once_online(&self, server: &str, friend: &FriendId) -> bool {
        self.server(server)
            .is_some_and(|alerts| alerts.once_online.contains(friend))
    }

    /// Sets or cancels the one-shot for `friend` of `server`.
    pub fn set_once_online(&mut self, server: &str, friend: &FriendId, armed: bool) {
        if armed {
            self.server_mut(server).once_online.insert(friend.clone());
        } else if let Some(alerts) = self.servers.get_mut(server) {
            alerts.once_online.remove(friend);
            self.tidy(server);
        }
    }

    /// When the snooze ends, if alerts are snoozed at `now`.
    pub fn snoozed_at(&self, now: Timestamp) -> Option<Timestamp> {
        self.snoozed_until.filter(|until| *until > now)
    }

    /// Ends the snooze.
    pub fn unsnooze(&mut self) {
        self.snoozed_until = None;
    }

    /// Forgets a snooze that ended before `now`; returns whether one was forgotten, so
    /// the app knows to save.
    pub fn clear_expired_snooze(&mut self, now: Timestamp) -> bool {
        if self.snoozed_until.is_some() && self.snoozed_at(now).is_none() {
            self.snoozed_until = None;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_app_today() {
        let settings = AlertSettings::default();
        assert!(settings.notify_online && settings.notify_offline);
        assert!(!settings.do_not_disturb);
        assert!(!settings.notify_back_from_away);
        assert!(!settings.favourites_break_through);
        assert!(!settings.quiet_hours.enabled);
        assert_eq!(settings.snoozed_until, None);
    }

    #[test]
    fn per_friend_settings_are_kept_by_server_and_tidied() {
        let mut settings = AlertSettings::default();
        let alice = FriendId::from(7);
        let server = "https://presence.example.com";
        settings.set_favourite(server, &alice, true);
        assert!(settings.is_favourite(server, &alice));
        assert!(!settings.is_favourite("https://other.example.com", &alice));
        settings.set_rule(server, &alice, Transition::WentOffline, Rule::Never);
        assert_eq!(settings.rule(server, &alice).offline, Rule::Never);
        assert_eq!(settings.rule(server, &alice).online, Rule::Global);
        settings.set_once_online(server, &alice, true);
        assert!(settings.has_once_online(server, &alice));

        let json = serde_json::to_value(&settings).unwrap();
        assert_eq!(
            json["servers"][server],
            serde_json::json!({
                "favourites": ["7"],
                "rules": {"7": {"online": "global", "offline": "never", "back_from_away": "global"}},
                "once_online": ["7"],
            })
        );
        let back: AlertSettings = serde_json::from_value(json).unwrap();
        assert_eq!(back, settings);

        settings.set_favourite(server, &alice, false);
        settings.set_rule(server, &alice, Transition::WentOffline, Rule::Global);
        settings.set_once_online(server, &alice, false);
        assert!(settings.servers.is_empty(), "{:?}", settings.servers);
    }

    #[test]
    fn a_number_id_in_the_file_reads_as_its_text() {
        let settings: AlertSettings = serde_json::from_str(
            r#"{"servers": {"s": {"favourites": [7, "u9"], "rules": {"7": {"online": "always"}}}}}"#,
        )
        .unwrap();
        assert!(settings.is_favourite("s", &FriendId::from(7)));
        assert!(settings.is_favourite("s", &FriendId::from("u9")));
        assert_eq!(settings.rule("s", &FriendId::from(7)).online, Rule::Always);
    }

    #[test]
    fn an_unreadable_field_is_dropped_alone() {
        let file = serde_json::json!({
            "notify_online": false,
            "do_not_disturb": true,
            "quiet_hours": {"enabled": "yes"},
            "snooze_morning": "07:30",
            "server": "https://presence.example.com",
        });
        let migrated = AlertSettings::migrate(&file);
        assert_eq!(migrated.dropped, ["quiet_hours"]);
        assert!(!migrated.settings.notify_online);
        assert!(migrated.settings.do_not_disturb);
        assert_eq!(
            migrated.settings.snooze_morning,
            Time::constant(7, 30, 0, 0)
        );
        assert_eq!(migrated.settings.quiet_hours, QuietHours::default());
        assert_eq!(
            AlertSettings::migrate(&serde_json::json!([1])).settings,
            AlertSettings::default()
        );
        assert_eq!(AlertSettings::migrate_text("{not json"), None);
    }

    #[test]
    fn an_expired_snooze_is_not_a_snooze() {
        let now: Timestamp = "2026-03-29T12:00:00Z".parse().unwrap();
        let mut settings = AlertSettings {
            snoozed_until: Some("2026-03-29T12:30:00Z".parse().unwrap()),
            ..AlertSettings::default()
        };
        assert!(settings.snoozed_at(now).is_some());
        assert!(!settings.clear_expired_snooze(now));
        let later: Timestamp = "2026-03-29T12:30:00Z".parse().unwrap();
        assert_eq!(
            settings.snoozed_at(later),
            None,
            "the end instant is not snoozed"
        );
        assert!(settings.clear_expired_snooze(later));
        assert_eq!(settings.snoozed_until, None);
    }
}
