//! Native notifications and their clicks, with `notify-rust` (what
//! tauri-plugin-notification uses on desktop). Title and body are escaped and capped
//! first (kith-shell's `display::notification_text`): freedesktop servers may render
//! markup in a body, and the names in it come from the server. A click on a
//! notification (not on one of its buttons) opens the window at the friend it is
//! about, through a [`TrayEvent::NotificationClicked`].
//!
//! On Linux (the Desktop Notifications Specification over D-Bus) it does what the
//! plugin does there: each notification offers the `default` action (which servers
//! report for a click on the notification itself), is sent on one session-bus
//! connection kept open, and that connection's `ActionInvoked` signals say which one
//! was clicked (some servers, dunst among them, send a notification's signals only to
//! the connection that sent it). On macOS and Windows, notify-rust shows it and waits
//! on a thread of its own for the user's response.

use kith_core::alerts::Notice;
use kith_shell::display;
use tokio::sync::mpsc::UnboundedSender;

use crate::surface::TrayEvent;

/// The application name notification servers show.
const APP_NAME: &str = "Kith";

fn build(notice: &Notice) -> notify_rust::Notification {
    let title = display::notification_text(&notice.title, display::NOTIFICATION_MAX);
    let body = display::notification_text(&notice.body, display::NOTIFICATION_MAX);
    let mut notification = notify_rust::Notification::new();
    notification
        .appname(APP_NAME)
        .summary(&title)
        .body(&body)
        .auto_icon();
    notification
}

pub use platform::Notifications;

#[cfg(target_os = "linux")]
mod platform {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use futures_util::StreamExt;
    use tokio::sync::OnceCell;

    use super::*;

    const DESTINATION: &str = "org.freedesktop.Notifications";
    const PATH: &str = "/org/freedesktop/Notifications";
    const INTERFACE: &str = "org.freedesktop.Notifications";

    type Shown = Arc<Mutex<HashMap<u32, Option<String>>>>;

    pub struct Notifications {
        events: UnboundedSender<TrayEvent>,
        connection: Arc<OnceCell<Option<zbus::Connection>>>,
        /// Server id → the friend a shown notification is about.
        shown: Shown,
    }

    impl Notifications {
        pub fn new(events: UnboundedSender<TrayEvent>) -> Self {
            Notifications {
                events,
                connection: Arc::default(),
                shown: Arc::default(),
            }
        }

        pub fn show(&self, notice: &Notice) {
            let notification = build(notice);
            let friend = notice.friend.as_ref().map(|f| f.to_string());
            let connection = self.connection.clone();
            let shown = self.shown.clone();
            let events = self.events.clone();
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return;
            };
            runtime.spawn(async move {
                let connection = connection
                    .get_or_init(|| listen(shown.clone(), events))
                    .await;
                let Some(connection) = connection else {
                    tracing::warn!("notification failed: no session bus");
                    return;
                };
                // Held while the notification is sent, so a click reported before its id
                // is recorded finds it.
                match notify(connection, &notification).await {
                    Ok(id) => {
                        lock(&shown).insert(id, friend);
                        tracing::info!(body = %notification.body, "notification shown");
                    }
                    Err(error) => tracing::warn!(%error, "notification failed"),
                }
            });
        }
    }

    fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        mutex
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn notify(
        connection: &zbus::Connection,
        notification: &notify_rust::Notification,
    ) -> zbus::Result<u32> {
        // A click on the notification itself is reported as the action `default`, and
        // only for a notification that offers it.
        let actions = vec!["default", ""];
        let hints: HashMap<&str, zbus::zvariant::Value<'_>> = HashMap::new();
        let reply = connection
            .call_method(
                Some(DESTINATION),
                PATH,
                Some(INTERFACE),
                "Notify",
                &(
                    notification.appname.as_str(),
                    0u32,
                    notification.icon.as_str(),
                    notification.summary.as_str(),
                    notification.body.as_str(),
                    actions,
                    hints,
                    -1i32,
                ),
            )
            .await?;
        reply.body().deserialize()
    }

    /// Connects to the session bus and follows the notification server's signals on a
    /// task of its own. Subscribed before this returns, so no click is missed.
    async fn listen(shown: Shown, events: UnboundedSender<TrayEvent>) -> Option<zbus::Connection> {
        let connection = match zbus::Connection::session().await {
            Ok(connection) => connection,
            Err(error) => {
                tracing::warn!(%error, "no session bus: notifications are off");
                return None;
            }
        };
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .path(PATH)
            .ok()?
            .interface(INTERFACE)
            .ok()?
            .build();
        let mut signals = zbus::MessageStream::for_match_rule(rule, &connection, None)
            .await
            .ok()?;
        tokio::spawn(async move {
            while let Some(Ok(signal)) = signals.next().await {
                on_signal(&shown, &events, &signal);
            }
        });
        Some(connection)
    }

    fn on_signal(shown: &Shown, events: &UnboundedSender<TrayEvent>, signal: &zbus::Message) {
        let header = signal.header();
        let body = signal.body();
        match header.member().map(|m| m.as_str()) {
            Some("ActionInvoked") => {
                let Ok((id, action)) = body.deserialize::<(u32, String)>() else {
                    return;
                };
                if action != "default" {
                    return;
                }
                // The entry stays until the server closes the notification.
                let friend = lock(shown).get(&id).cloned();
                if let Some(friend) = friend {
                    let _ = events.send(TrayEvent::NotificationClicked(friend));
                }
            }
            Some("NotificationClosed") => {
                if let Ok((id, _reason)) = body.deserialize::<(u32, u32)>() {
                    lock(shown).remove(&id);
                }
            }
            _ => {}
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod platform {
    use super::*;

    pub struct Notifications {
        events: UnboundedSender<TrayEvent>,
    }

    impl Notifications {
        pub fn new(events: UnboundedSender<TrayEvent>) -> Self {
            Notifications { events }
        }

        pub fn show(&self, notice: &Notice) {
            let notification = build(notice);
            let friend = notice.friend.as_ref().map(|f| f.to_string());
            let events = self.events.clone();
            let spawned = std::thread::Builder::new()
                .name("notification".into())
                .spawn(move || {
                    #[cfg(target_os = "macos")]
                    let _ = notify_rust::set_application("dev.kith.desktop");
                    let Ok(handle) = notification.show() else {
                        tracing::warn!("notification failed");
                        return;
                    };
                    tracing::info!("notification shown");
                    let _ =
                        handle.wait_for_response(|response: &notify_rust::NotificationResponse| {
                            if let notify_rust::NotificationResponse::Default = response {
                                let _ = events.send(TrayEvent::NotificationClicked(friend.clone()));
                            }
                        });
                });
            if let Err(error) = spawned {
                tracing::warn!(%error, "notification failed");
            }
        }
    }
}
