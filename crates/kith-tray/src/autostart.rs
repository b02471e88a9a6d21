//! "Launch at login" through `auto-launch`, the crate tauri-plugin-autostart is made
//! of, with the same entry it wrote: named after the product (on Linux
//! `~/.config/autostart/Kith.desktop`), starting this binary with `--hidden`, so a
//! login launch is the tray role alone (`Exec=/usr/bin/kith-tray --hidden` when
//! installed from the package).

use auto_launch::{AutoLaunch, AutoLaunchBuilder};

pub struct Autostart(Option<AutoLaunch>);

impl Autostart {
    pub fn new() -> Self {
        let launcher = std::env::current_exe()
            .map_err(|e| e.to_string())
            .and_then(|exe| {
                let mut builder = AutoLaunchBuilder::new();
                builder
                    .set_app_name("Kith")
                    .set_app_path(&exe.display().to_string())
                    .set_args(&["--hidden"]);
                #[cfg(target_os = "macos")]
                builder.set_macos_launch_mode(auto_launch::MacOSLaunchMode::LaunchAgent);
                builder.build().map_err(|e| e.to_string())
            });
        match launcher {
            Ok(launcher) => Autostart(Some(launcher)),
            Err(error) => {
                tracing::warn!(%error, "launch at login is not available");
                Autostart(None)
            }
        }
    }

    /// Enables or disables launch at login; returns what is now in effect.
    pub fn apply(&self, enabled: bool) -> bool {
        let Some(launcher) = &self.0 else {
            return false;
        };
        let current = launcher.is_enabled().unwrap_or(false);
        if current == enabled {
            return enabled;
        }
        let result = if enabled {
            launcher.enable()
        } else {
            launcher.disable()
        };
        match result {
            Ok(()) => enabled,
            Err(error) => {
                tracing::warn!(%error, "cannot change launch at login");
                current
            }
        }
    }

    /// At startup, with launch at login on: rewrites the entry for this binary.
    pub fn refresh(&self, enabled: bool) {
        if !enabled {
            return;
        }
        if let Some(Err(error)) = self.0.as_ref().map(AutoLaunch::enable) {
            tracing::warn!(%error, "cannot refresh the launch-at-login entry");
        }
    }
}
