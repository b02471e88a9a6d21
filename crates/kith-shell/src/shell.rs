//! The tray role's state: the settings, the view, the running session, and the two
//! ways out of it, the window ([`Windows`]) and the [`Surface`] (the tray icon and
//! menu, notifications, launch at login), which the `kith-tray` binary implements and
//! the tests replace with [`Headless`].

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use kith_server::RunningServer;

use crate::session_control::CredentialStores;
use crate::settings::Settings;
use crate::tray_view::TrayView;
use crate::view::{ConnectionView, FullView, View};
use crate::windows::Windows;
use kith_core::alerts::Notice;

/// What the tray role shows outside the window. Called from any thread; an
/// implementation hands the work to whichever thread owns the platform's objects.
pub trait Surface: Send + Sync + 'static {
    /// The tray's icon, tooltip and menu; called only when they change.
    fn show_tray(&self, view: &TrayView);
    /// The menu's check items (Do not disturb, Launch at login).
    fn show_checks(&self, settings: &Settings);
    /// A native notification; a click on it comes back as [`Windows::open`].
    fn notify(&self, notice: &Notice);
    /// Turns launch at login on or off; returns what is in effect afterwards.
    fn set_launch_at_login(&self, enabled: bool) -> bool;
    /// Ends the tray role (Quit), once the session has stopped.
    fn quit(&self);
    /// The memory a large change used may go back to the OS now (a snapshot applied).
    fn release_memory(&self) {}
}

/// No tray, no notifications, no launch at login: the tests' surface, which records
/// what would have been shown.
#[derive(Default)]
pub struct Headless {
    pub trays: Mutex<Vec<TrayView>>,
    pub notices: Mutex<Vec<Notice>>,
    pub quit: AtomicBool,
}

impl Surface for Headless {
    fn show_tray(&self, view: &TrayView) {
        lock(&self.trays).push(view.clone());
    }
    fn show_checks(&self, _settings: &Settings) {}
    fn notify(&self, notice: &Notice) {
        lock(&self.notices).push(notice.clone());
    }
    fn set_launch_at_login(&self, enabled: bool) -> bool {
        enabled
    }
    fn quit(&self) {
        self.quit.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A running session and what belongs to it.
pub struct Running {
    pub session: kith_core::Session,
    pub bridge: tokio::task::JoinHandle<()>,
    /// The in-process demo server, when this is the demo.
    pub demo_server: Option<RunningServer>,
}

/// The tray role's state. Shared as `Arc<Shell>`.
pub struct Shell {
    pub settings_path: PathBuf,
    /// Changed through [`update_settings`](crate::view_update::update_settings).
    pub(crate) settings: Mutex<Settings>,
    /// Changed through [`update_view`](crate::view_update::update_view).
    pub(crate) view: Mutex<View>,
    pub(crate) running: tokio::sync::Mutex<Option<Running>>,
    pub(crate) stores: CredentialStores,
    /// The profile file chosen in the window's dialog in this run, if any.
    pub(crate) chosen_profile: Mutex<Option<PathBuf>>,
    pub(crate) surface: Arc<dyn Surface>,
    pub windows: Arc<Windows>,
    /// What the tray last showed, so it is told only of changes.
    pub(crate) tray_shown: Mutex<Option<TrayView>>,
    /// Whether a countdown ticker runs ([`crate::view_update::tick_until_retry`]).
    pub(crate) ticking: AtomicBool,
    /// Cancels the browser sign-in that is waiting for the browser, if any.
    pub(crate) browser_cancel: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    /// Where that sign-in's outcome arrives.
    pub(crate) browser_outcome: Mutex<Option<tokio::sync::oneshot::Receiver<Result<(), String>>>>,
}

impl Shell {
    pub fn new(
        settings_path: PathBuf,
        stores: CredentialStores,
        surface: Arc<dyn Surface>,
        windows: Arc<Windows>,
    ) -> Arc<Self> {
        let settings = Settings::load(&settings_path);
        Arc::new(Shell {
            settings_path,
            settings: Mutex::new(settings),
            view: Mutex::new(View::default()),
            running: tokio::sync::Mutex::new(None),
            stores,
            chosen_profile: Mutex::new(None),
            surface,
            windows,
            tray_shown: Mutex::new(None),
            ticking: AtomicBool::new(false),
            browser_cancel: Mutex::new(None),
            browser_outcome: Mutex::new(None),
        })
    }

    pub fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    /// Reads the view; to change it, see [`update_view`](crate::view_update::update_view).
    pub fn read_view<T>(&self, f: impl FnOnce(&View) -> T) -> T {
        f(&lock(&self.view))
    }

    pub fn full_view(&self) -> FullView {
        let settings = self.settings();
        self.read_view(|view| FullView {
            session: view.session.clone(),
            connection: view.connection.clone(),
            friends: view.friend_list(),
            timeline: crate::view::TimelineView::of(&view.timeline, &jiff::Zoned::now()),
            settings,
            presets: kith_core::protocol::PRESETS,
        })
    }

    /// What the tray shows now.
    pub fn tray_view(&self) -> TrayView {
        let settings = self.settings();
        self.read_view(|view| crate::view_update::tray_shown(view, &settings))
    }

    /// The connection as the window shows it.
    pub fn connection(&self) -> ConnectionView {
        self.read_view(|view| view.connection.clone())
    }

    /// Remembers the profile file the user chose in the window's dialog.
    pub fn choose_profile(&self, path: PathBuf) {
        *lock(&self.chosen_profile) = Some(path);
    }

    pub(crate) fn chosen_profile(&self) -> Option<PathBuf> {
        lock(&self.chosen_profile).clone()
    }

    pub fn surface(&self) -> &Arc<dyn Surface> {
        &self.surface
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked (plain data).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
