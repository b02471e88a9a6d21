//! The tray role's [`Surface`]: what kith-shell's view updates show outside the
//! window. The tray goes to the thread that owns it ([`tray::TrayHandle`]),
//! notifications to [`notifications`], launch at login to [`autostart`]; Quit ends
//! the tray's loop, and with it the process.

use std::sync::Arc;

use kith_core::alerts::Notice;
use kith_shell::settings::Settings;
use kith_shell::shell::{Shell, Surface};
use kith_shell::tray_view::TrayView;
use tokio::sync::mpsc::UnboundedSender;

use crate::autostart::Autostart;
use crate::notifications::Notifications;
use crate::tray::{TrayCommand, TrayHandle};

/// What the tray and the notifications report, for the runtime to act on.
#[derive(Debug)]
pub enum TrayEvent {
    /// A menu item was chosen (its id, one of kith-shell's `menu::item`).
    Menu(String),
    /// A left click on the icon (on Linux, the StatusNotifierItem's `Activate`).
    Click,
    /// A click on a notification, and the friend it was about.
    NotificationClicked(Option<String>),
}

pub struct TraySurface {
    tray: TrayHandle,
    notifications: Notifications,
    autostart: Autostart,
}

impl TraySurface {
    pub fn new(tray: TrayHandle, events: UnboundedSender<TrayEvent>, autostart: Autostart) -> Self {
        TraySurface {
            tray,
            notifications: Notifications::new(events),
            autostart,
        }
    }

    /// At startup: the tray as the view and settings are now, and the launch-at-login
    /// entry rewritten for the binary running now (after an install or an upgrade, a
    /// path written by an older build would start one that has moved or gone).
    pub fn show_initial(&self, shell: &Arc<Shell>) {
        let settings = shell.settings();
        self.show_checks(&settings);
        kith_shell::view_update::refresh_tray(shell);
        self.autostart.refresh(settings.launch_at_login);
    }
}

impl Surface for TraySurface {
    fn show_tray(&self, view: &TrayView) {
        self.tray.send(TrayCommand::Show(view.clone()));
    }

    fn show_checks(&self, settings: &Settings) {
        self.tray.send(TrayCommand::Checks {
            do_not_disturb: settings.alerts.do_not_disturb,
            launch_at_login: settings.launch_at_login,
        });
    }

    fn notify(&self, notice: &Notice) {
        self.notifications.show(notice);
    }

    fn set_launch_at_login(&self, enabled: bool) -> bool {
        self.autostart.apply(enabled)
    }

    fn quit(&self) {
        self.tray.send(TrayCommand::Quit);
    }

    fn release_memory(&self) {
        // A snapshot's payload was built and sent; glibc keeps freed pages in its
        // arenas until asked to give them back.
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only returns free heap pages to the OS.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}
