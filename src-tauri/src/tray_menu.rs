//! What the tray does when used: its menu's items and a left click on its icon. The
//! menu's actions go to [`session_control`] and [`view_update`], as the window's
//! commands do; nothing here calls the commands. This is apart from the tray as a
//! surface ([`tray`]: what it shows) because [`view_update`] refreshes that surface
//! after every change: in one module, session control would reach the tray through
//! view_update and the tray would call session control, a circle. Startup hands these
//! functions to [`tray::start`].
//!
//! [`tray`]: crate::tray
//! [`tray::start`]: crate::tray::start
//! [`view_update`]: crate::view_update
//! [`session_control`]: crate::session_control

use tauri::{AppHandle, Runtime};

use crate::session_control;
use crate::tray::item;
use crate::view_update::update_settings;

/// What a menu item does; the items' ids are set where the tray is created.
pub fn on_menu<R: Runtime>(app: &AppHandle<R>, id: &str) {
    let app = app.clone();
    match id {
        item::OPEN => crate::window::open(&app),
        item::RECONNECT => {
            tauri::async_runtime::spawn(async move { session_control::reconnect_now(&app).await });
        }
        item::DO_NOT_DISTURB => {
            update_settings(&app, |settings| {
                settings.do_not_disturb = !settings.do_not_disturb;
            });
        }
        item::LAUNCH_AT_LOGIN => {
            update_settings(&app, |settings| {
                settings.launch_at_login = !settings.launch_at_login;
            });
        }
        item::SIGN_OUT => {
            tauri::async_runtime::spawn(async move { session_control::sign_out(&app).await });
        }
        item::QUIT => {
            tauri::async_runtime::spawn(async move { session_control::quit(&app).await });
        }
        _ => {}
    }
}

/// A left click (on Linux, the StatusNotifierItem's `Activate`) toggles the window.
pub fn on_click<R: Runtime>(app: &AppHandle<R>) {
    tracing::debug!("tray clicked");
    crate::window::toggle(app);
}
