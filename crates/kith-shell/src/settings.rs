//! The user's settings, persisted as JSON in the OS app-config directory.
//! Never holds a secret: the refresh token lives in the keyring only.
//!
//! The alert fields are kith-core's [`AlertSettings`], flattened into the same JSON
//! object, so a file written before favourites and quiet hours existed loads with
//! every value kept (`notify_online`, `notify_offline` and `do_not_disturb` keep their
//! names).

use std::path::{Path, PathBuf};

use kith_core::alerts::settings::read_what_reads;
use kith_core::alerts::AlertSettings;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Server base URL of the last sign-in.
    pub server: Option<String>,
    /// The built-in preset of the last sign-in, if one was used.
    pub preset: Option<String>,
    /// Server profile file of the last sign-in, if one was used.
    pub profile_path: Option<String>,
    /// Who is alerted for what: the global switches, Do not disturb, quiet hours,
    /// snooze, and each server's favourites, per-friend rules and one-shots.
    #[serde(flatten)]
    pub alerts: AlertSettings,
    pub launch_at_login: bool,
    /// The user opted in to plaintext to a non-loopback server.
    pub allow_insecure: bool,
}

impl Settings {
    /// Takes from `from` the preferences the window's settings panel may change (the
    /// alert switches, quiet hours, Do not disturb, launch at login). The server fields
    /// belong to sign-in; the snooze and each friend's star, rules and one-shot have
    /// requests of their own, so a panel holding an older copy cannot undo them.
    pub fn take_preferences(&mut self, from: &Settings) {
        let servers = std::mem::take(&mut self.alerts.servers);
        let snoozed_until = self.alerts.snoozed_until;
        self.alerts = from.alerts.clone();
        self.alerts.servers = servers;
        self.alerts.snoozed_until = snoozed_until;
        self.launch_at_login = from.launch_at_login;
    }

    /// Loads settings; a missing file gives the defaults, and an unreadable one keeps
    /// every value that reads (with a warning naming what did not), never an error that
    /// would keep the app from starting.
    pub fn load(path: &Path) -> Settings {
        let Ok(text) = std::fs::read_to_string(path) else {
            return Settings::default();
        };
        let value: serde_json::Value = match serde_json::from_str(&text) {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(%error, path = %path.display(), "settings unreadable; using defaults");
                return Settings::default();
            }
        };
        let (settings, dropped): (Settings, _) = read_what_reads(&value);
        if !dropped.is_empty() {
            tracing::warn!(?dropped, path = %path.display(), "some settings were unreadable and use their defaults");
        }
        settings
    }

    /// Writes atomically (temp file, then rename).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        let temp: PathBuf = path.with_extension("json.tmp");
        std::fs::write(&temp, text)?;
        std::fs::rename(&temp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_core::FriendId;

    #[test]
    fn round_trip_and_tolerant_load() {
        let dir = std::env::temp_dir().join(format!("kith-settings-{}", std::process::id()));
        let path = dir.join("settings.json");
        assert_eq!(Settings::load(&path), Settings::default());
        let mut settings = Settings {
            server: Some("http://127.0.0.1:8000".into()),
            ..Settings::default()
        };
        settings.alerts.do_not_disturb = true;
        settings.save(&path).unwrap();
        assert_eq!(Settings::load(&path), settings);
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(Settings::load(&path), Settings::default());
        std::fs::write(&path, r#"{"notify_online": false}"#).unwrap();
        assert!(!Settings::load(&path).alerts.notify_online);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A file written before favourites and quiet hours existed: every value is kept,
    /// and one field of the wrong type costs only itself.
    #[test]
    fn a_file_in_the_old_format_keeps_every_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        let old = r#"{
  "server": "https://presence.example.com",
  "preset": "socketio",
  "profile_path": null,
  "notify_online": false,
  "notify_offline": true,
  "do_not_disturb": true,
  "launch_at_login": true,
  "allow_insecure": false
}"#;
        std::fs::write(&path, old).unwrap();
        let loaded = Settings::load(&path);
        assert_eq!(
            loaded.server.as_deref(),
            Some("https://presence.example.com")
        );
        assert_eq!(loaded.preset.as_deref(), Some("socketio"));
        assert!(!loaded.alerts.notify_online);
        assert!(loaded.alerts.notify_offline);
        assert!(loaded.alerts.do_not_disturb);
        assert!(loaded.launch_at_login);
        assert!(loaded.alerts.servers.is_empty());

        let damaged = old.replace(r#""notify_offline": true"#, r#""notify_offline": "yes""#);
        std::fs::write(&path, damaged).unwrap();
        let loaded = Settings::load(&path);
        assert_eq!(
            loaded.server.as_deref(),
            Some("https://presence.example.com")
        );
        assert!(!loaded.alerts.notify_online, "kept");
        assert!(loaded.alerts.notify_offline, "unreadable: the default");
        assert!(loaded.alerts.do_not_disturb, "kept");
        assert!(loaded.launch_at_login, "kept");

        let damaged = old.replace(r#""launch_at_login": true"#, r#""launch_at_login": 7"#);
        std::fs::write(&path, damaged).unwrap();
        let loaded = Settings::load(&path);
        assert!(!loaded.launch_at_login, "unreadable: the default");
        assert!(loaded.alerts.do_not_disturb, "kept");
    }

    #[test]
    fn the_window_changes_preferences_but_not_the_server() {
        let mut current = Settings {
            server: Some("https://presence.example.com".into()),
            profile_path: Some("/etc/kith/work.toml".into()),
            allow_insecure: true,
            ..Settings::default()
        };
        let alice = FriendId::from("2");
        current
            .alerts
            .set_favourite("https://presence.example.com", &alice, true);
        let snoozed = jiff::Timestamp::from_second(2_000_000_000).unwrap();
        current.alerts.snoozed_until = Some(snoozed);
        let mut from_window = Settings {
            server: Some("http://elsewhere.example.com".into()),
            preset: Some("socketio".into()),
            profile_path: None,
            allow_insecure: false,
            launch_at_login: true,
            ..Settings::default()
        };
        from_window.alerts.notify_online = false;
        from_window.alerts.notify_offline = false;
        from_window.alerts.do_not_disturb = true;
        from_window.alerts.favourites_break_through = true;
        current.take_preferences(&from_window);
        let mut expected_alerts = from_window.alerts.clone();
        expected_alerts.set_favourite("https://presence.example.com", &alice, true);
        expected_alerts.snoozed_until = Some(snoozed);
        assert_eq!(
            current,
            Settings {
                server: Some("https://presence.example.com".into()),
                preset: None,
                profile_path: Some("/etc/kith/work.toml".into()),
                allow_insecure: true,
                alerts: expected_alerts,
                launch_at_login: true,
            },
            "the panel's copy neither drops a star nor undoes a snooze"
        );
    }
}
