//! "Launch at login" through tauri-plugin-autostart. A login launch passes `--hidden`,
//! so it starts in the tray with no window and no webview. The entry names the running
//! binary (on Linux `~/.config/autostart/Kith.desktop`, `Exec=/usr/bin/kith-app --hidden`
//! when installed from the package), and [`refresh`] rewrites it at every start.

use tauri::{AppHandle, Runtime};
use tauri_plugin_autostart::ManagerExt;

/// Enables or disables launch at login; returns what is now in effect.
pub fn apply<R: Runtime>(app: &AppHandle<R>, enabled: bool) -> bool {
    let launcher = app.autolaunch();
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

/// At startup, with launch at login on: rewrites the entry for the binary running now,
/// so that it starts the one installed (after a package install or upgrade, a path
/// written by an older build would start a binary that has moved or gone).
pub fn refresh<R: Runtime>(app: &AppHandle<R>, enabled: bool) {
    if !enabled {
        return;
    }
    if let Err(error) = app.autolaunch().enable() {
        tracing::warn!(%error, "cannot refresh the launch-at-login entry");
    }
}
