//! Where the two roles keep their files, the same places Tauri's path resolver gives
//! for the app's identifier, so settings, logs and the window's remembered geometry
//! stay where earlier versions put them.

use std::path::PathBuf;

/// tauri.conf.json's `identifier`.
pub const IDENTIFIER: &str = "dev.kith.desktop";

/// The app-config directory (Tauri's `app_config_dir`): settings.json, and the window
/// role's `.window-state.json`.
pub fn config_dir() -> Option<PathBuf> {
    dirs::config_dir().map(|dir| dir.join(IDENTIFIER))
}

/// The log directory (Tauri's `app_log_dir`).
pub fn log_dir() -> Option<PathBuf> {
    #[cfg(target_os = "macos")]
    let dir = dirs::home_dir().map(|home| home.join("Library/Logs").join(IDENTIFIER));
    #[cfg(not(target_os = "macos"))]
    let dir = dirs::data_local_dir().map(|dir| dir.join(IDENTIFIER).join("logs"));
    dir
}
