//! Raises native notifications (tauri-plugin-notification: D-Bus on Linux,
//! Notification Center on macOS, toasts on Windows). Title and body are escaped and
//! capped here ([`display::notification_text`]): freedesktop servers may render
//! markup in a body, and the names in it come from the server.

use tauri::AppHandle;
use tauri_plugin_notification::NotificationExt;

use crate::display;
use crate::notify_rules::Notice;

pub fn show(app: &AppHandle, notice: &Notice) {
    let title = display::notification_text(&notice.title, display::NOTIFICATION_MAX);
    let body = display::notification_text(&notice.body, display::NOTIFICATION_MAX);
    let result = app
        .notification()
        .builder()
        .title(&title)
        .body(&body)
        .show();
    match result {
        Ok(()) => tracing::info!(%body, "notification shown"),
        Err(error) => tracing::warn!(%error, "notification failed"),
    }
}
