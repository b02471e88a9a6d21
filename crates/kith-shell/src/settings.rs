//! The user's settings, persisted as JSON in the OS app-config directory.
//! Never holds a secret: the refresh token lives in the keyring only.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::notify_rules::NotifyPrefs;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Server base URL of the last sign-in.
    pub server: Option<String>,
    /// The built-in preset of the last sign-in, if one was used.
    pub preset: Option<String>,
    /// Server profile file of the last sign-in, if one was used.
    pub profile_path: Option<String>,
    pub notify_online: bool,
    pub notify_offline: bool,
    pub do_not_disturb: bool,
    pub launch_at_login: bool,
    /// The user opted in to plaintext to a non-loopback server.
    pub allow_insecure: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            server: None,
            preset: None,
            profile_path: None,
            notify_online: true,
            notify_offline: true,
            do_not_disturb: false,
            launch_at_login: false,
            allow_insecure: false,
        }
    }
}

impl Settings {
    pub fn notify_prefs(&self) -> NotifyPrefs {
        NotifyPrefs {
            online: self.notify_online,
            offline: self.notify_offline,
            do_not_disturb: self.do_not_disturb,
        }
    }

    /// Takes from `from` the preferences the window may change (notifications, Do not
    /// disturb, launch at login); the server fields belong to sign-in and stay.
    pub fn take_preferences(&mut self, from: &Settings) {
        self.notify_online = from.notify_online;
        self.notify_offline = from.notify_offline;
        self.do_not_disturb = from.do_not_disturb;
        self.launch_at_login = from.launch_at_login;
    }

    /// Loads settings; a missing or unreadable file gives the defaults (and a warning
    /// for an unreadable one), never an error that would keep the app from starting.
    pub fn load(path: &Path) -> Settings {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|error| {
                tracing::warn!(%error, path = %path.display(), "settings unreadable; using defaults");
                Settings::default()
            }),
            Err(_) => Settings::default(),
        }
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

    #[test]
    fn round_trip_and_tolerant_load() {
        let dir = std::env::temp_dir().join(format!("kith-settings-{}", std::process::id()));
        let path = dir.join("settings.json");
        assert_eq!(Settings::load(&path), Settings::default());
        let settings = Settings {
            server: Some("http://127.0.0.1:8000".into()),
            do_not_disturb: true,
            ..Settings::default()
        };
        settings.save(&path).unwrap();
        assert_eq!(Settings::load(&path), settings);
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(Settings::load(&path), Settings::default());
        std::fs::write(&path, r#"{"notify_online": false}"#).unwrap();
        assert!(!Settings::load(&path).notify_online);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_window_changes_preferences_but_not_the_server() {
        let mut current = Settings {
            server: Some("https://presence.example.com".into()),
            profile_path: Some("/etc/kith/work.toml".into()),
            allow_insecure: true,
            ..Settings::default()
        };
        let from_window = Settings {
            server: Some("http://elsewhere.example.com".into()),
            preset: Some("socketio".into()),
            profile_path: None,
            allow_insecure: false,
            notify_online: false,
            notify_offline: false,
            do_not_disturb: true,
            launch_at_login: true,
        };
        current.take_preferences(&from_window);
        assert_eq!(
            current,
            Settings {
                server: Some("https://presence.example.com".into()),
                preset: None,
                profile_path: Some("/etc/kith/work.toml".into()),
                allow_insecure: true,
                notify_online: false,
                notify_offline: false,
                do_not_disturb: true,
                launch_at_login: true,
            }
        );
    }
}
