//! What the tray does when used: its menu's items and a left click on its icon. The
//! menu's actions go to [`session_control`] and [`update_settings`], as the window's
//! requests do. The `kith-tray` binary builds the menu with these ids and hands every
//! click here.

use std::sync::Arc;

use crate::alert_change::{AlertChange, SnoozeFor};
use crate::session_control;
use crate::shell::Shell;
use crate::view_update::{change_alerts, update_settings};

/// The ids of the menu's items that do something.
pub mod item {
    pub const STATUS: &str = "status";
    pub const OPEN: &str = "open";
    pub const RECONNECT: &str = "reconnect";
    pub const DO_NOT_DISTURB: &str = "dnd";
    pub const SNOOZE_HALF_HOUR: &str = "snooze_half_hour";
    pub const SNOOZE_HOUR: &str = "snooze_hour";
    pub const SNOOZE_UNTIL_MORNING: &str = "snooze_until_morning";
    pub const UNSNOOZE: &str = "unsnooze";
    pub const LAUNCH_AT_LOGIN: &str = "autostart";
    pub const SIGN_OUT: &str = "sign_out";
    pub const QUIT: &str = "quit";
}

/// What a menu item does, given its id (one of [`item`]). Must run inside the tray
/// role's tokio runtime.
pub fn on_menu(shell: &Arc<Shell>, id: &str) {
    let shell = shell.clone();
    match id {
        item::OPEN => shell.windows.open(None),
        item::RECONNECT => {
            tokio::spawn(async move { session_control::reconnect_now(&shell).await });
        }
        item::DO_NOT_DISTURB => {
            update_settings(&shell, |settings| {
                settings.alerts.do_not_disturb = !settings.alerts.do_not_disturb;
            });
        }
        item::SNOOZE_HALF_HOUR
        | item::SNOOZE_HOUR
        | item::SNOOZE_UNTIL_MORNING
        | item::UNSNOOZE => {
            let change = match id {
                item::SNOOZE_HALF_HOUR => AlertChange::Snooze {
                    choice: SnoozeFor::HalfHour,
                },
                item::SNOOZE_HOUR => AlertChange::Snooze {
                    choice: SnoozeFor::Hour,
                },
                item::SNOOZE_UNTIL_MORNING => AlertChange::Snooze {
                    choice: SnoozeFor::UntilMorning,
                },
                _ => AlertChange::Unsnooze,
            };
            if let Err(error) = change_alerts(&shell, &change) {
                tracing::warn!(%error, "the tray's snooze was refused");
            }
        }
        item::LAUNCH_AT_LOGIN => {
            update_settings(&shell, |settings| {
                settings.launch_at_login = !settings.launch_at_login;
            });
        }
        item::SIGN_OUT => {
            tokio::spawn(async move { session_control::sign_out(&shell).await });
        }
        item::QUIT => {
            tokio::spawn(async move { session_control::quit(&shell).await });
        }
        _ => {}
    }
}

/// A left click (on Linux, the StatusNotifierItem's `Activate`) toggles the window.
pub fn on_click(shell: &Arc<Shell>) {
    tracing::debug!("tray clicked");
    shell.windows.toggle();
}

/// A click on a notification: the window, at the friend it names.
pub fn on_notification_click(shell: &Arc<Shell>, friend: Option<&str>) {
    tracing::info!(friend, "notification clicked");
    if let Some(friend) = friend {
        tracing::debug!(friend, "opening the window at a friend");
    }
    shell.windows.open(friend);
}
