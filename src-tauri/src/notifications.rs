//! Raises native notifications (tauri-plugin-notification: D-Bus on Linux,
//! Notification Center on macOS, toasts on Windows).

use tauri::AppHandle;
use tauri_plugin_notification::NotificationExt;

use crate::notify_rules::Notice;

pub fn show(app: &AppHandle, notice: &Notice) {
    let result = app
        .notification()
        .builder()
        .title(&notice.title)
        .body(&notice.body)
        .show();
    match result {
        Ok(()) => tracing::info!(body = %notice.body, "notification shown"),
        Err(error) => tracing::warn!(%error, "notification failed"),
    }
}
