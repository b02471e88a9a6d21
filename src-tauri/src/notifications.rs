//! Raises native notifications (tauri-plugin-notification: D-Bus on Linux,
//! Notification Center on macOS, toasts on Windows), and opens the window at the
//! friend a clicked notification is about. Title and body are escaped and capped
//! here ([`display::notification_text`]): freedesktop servers may render markup in a
//! body, and the names in it come from the server.

use tauri::{AppHandle, Runtime};
use tauri_plugin_notification::{ActionPerformed, NotificationExt};

use crate::display;
use crate::notify_rules::Notice;
use crate::window;

/// The key, in a notification's extra data, of the user_id of the friend it shows.
const FRIEND_KEY: &str = "kith_friend";

/// Starts handling clicks on Kith's notifications. Called once at start-up, before
/// the first notification: the plugin reports clicks only on notifications shown
/// after a handler exists (on Linux it then offers the `default` action).
pub fn handle_clicks<R: Runtime>(app: &AppHandle<R>) {
    let handle = app.clone();
    let registered = app.notification().on_action(move |performed| {
        let Some(click) = Click::of(performed) else {
            return;
        };
        // The handler runs on the plugin's thread; windows belong to the main one.
        let app = handle.clone();
        let queued = handle.run_on_main_thread(move || match click.friend {
            Some(friend) => window::show_friend(&app, &friend),
            None => window::open(&app),
        });
        if let Err(error) = queued {
            tracing::warn!(%error, "cannot open the window for a clicked notification");
        }
    });
    if let Err(error) = registered {
        tracing::warn!(%error, "notification clicks will not open the window");
    }
}

/// A click on a notification (not on one of its buttons), and the friend it names.
struct Click {
    friend: Option<String>,
}

impl Click {
    fn of(performed: &ActionPerformed) -> Option<Self> {
        if performed.action_id() != "tap" {
            return None;
        }
        let friend = performed
            .notification()
            .and_then(|shown| shown.extra().get(FRIEND_KEY))
            .and_then(|value| value.as_str())
            .map(str::to_owned);
        tracing::info!(friend = friend.as_deref(), "notification clicked");
        Some(Click { friend })
    }
}

pub fn show<R: Runtime>(app: &AppHandle<R>, notice: &Notice) {
    let title = display::notification_text(&notice.title, display::NOTIFICATION_MAX);
    let body = display::notification_text(&notice.body, display::NOTIFICATION_MAX);
    let mut builder = app.notification().builder().title(&title).body(&body);
    if let Some(friend) = &notice.friend {
        builder = builder.extra(FRIEND_KEY, friend.as_str());
    }
    match builder.show() {
        Ok(()) => tracing::info!(%body, "notification shown"),
        Err(error) => tracing::warn!(%error, "notification failed"),
    }
}
