//! "Launch at login" through tauri-plugin-autostart. A login launch passes `--hidden`,
//! so it starts in the tray with no window and no webview.

use tauri::AppHandle;
use tauri_plugin_autostart::ManagerExt;

/// Enables or disables launch at login; returns what is now in effect.
pub fn apply(app: &AppHandle, enabled: bool) -> bool {
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
