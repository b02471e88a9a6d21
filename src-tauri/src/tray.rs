//! The tray as a surface: what it shows. One icon per connection state, a tooltip (also
//! the status line atop the menu, for hosts that show no tooltips) and the menu: Open
//! Kith, the online friends, Reconnect now, Do not disturb, Launch at login, Sign out,
//! Quit. What to show is decided by the pure [`tray_view`](crate::tray_view); this
//! module creates the tray and applies it, and [`view_update`] calls it after every
//! change. What the menu's items and a left click (on Linux, the StatusNotifierItem's
//! `Activate`) do lives in [`tray_menu`], which [`start`] is handed at startup: this
//! module calls nothing above it, so showing a change never leads back into session
//! control.
//!
//! On Linux the tray is a StatusNotifierItem, which needs a host (a panel owning
//! `org.kde.StatusNotifierWatcher` on the session bus). Where there is none yet, as when
//! a login launch beats the panel, the app runs on without a tray and tries again every
//! [`RETRY_EVERY`]. Without a tray (that, or the tests' mock runtime), refreshing it
//! does nothing.
//!
//! [`view_update`]: crate::view_update
//! [`tray_menu`]: crate::tray_menu

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Runtime};

use crate::state::{AppState, View};
use crate::tray_view::{tray_view, TrayInput, TrayView};

/// Index in the menu where the online friends start (after status, separator, Open, separator).
const FRIENDS_AT: usize = 4;

pub struct Tray<R: Runtime> {
    icon: TrayIcon<R>,
    menu: Menu<R>,
    status: MenuItem<R>,
    reconnect: MenuItem<R>,
    dnd: CheckMenuItem<R>,
    autostart: CheckMenuItem<R>,
    sign_out: MenuItem<R>,
    friends: Mutex<Vec<MenuItem<R>>>,
    last: Mutex<Option<TrayView>>,
    /// Whether a countdown ticker runs ([`tick_until_retry`]).
    ticking: AtomicBool,
}

/// The ids of the menu's items that do something, as [`OnMenu`] gets them.
pub mod item {
    pub const OPEN: &str = "open";
    pub const RECONNECT: &str = "reconnect";
    pub const DO_NOT_DISTURB: &str = "dnd";
    pub const LAUNCH_AT_LOGIN: &str = "autostart";
    pub const SIGN_OUT: &str = "sign_out";
    pub const QUIT: &str = "quit";
}

/// What choosing a menu item does, given its id (one of [`item`]).
pub type OnMenu<R> = fn(&AppHandle<R>, &str);
/// What a left click on the icon does.
pub type OnClick<R> = fn(&AppHandle<R>);

/// How often a tray that could not be created is tried again.
pub const RETRY_EVERY: Duration = Duration::from_secs(5);

/// Creates the tray, whose menu and clicks go to `on_menu` and `on_click`; if the
/// platform refuses it (no tray host on the session bus), logs why and keeps trying in
/// the background until it succeeds.
pub fn start<R: Runtime>(app: &AppHandle<R>, on_menu: OnMenu<R>, on_click: OnClick<R>) {
    let Err(error) = create(app, on_menu, on_click) else {
        return;
    };
    tracing::warn!(
        %error,
        retry_every_s = RETRY_EVERY.as_secs(),
        "no tray: the desktop has no tray host (StatusNotifierWatcher) yet; Kith runs on without one"
    );
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            tokio::time::sleep(RETRY_EVERY).await;
            let handle = app.clone();
            match tauri::async_runtime::spawn_blocking(move || create(&handle, on_menu, on_click))
                .await
            {
                Ok(Ok(())) => {
                    tracing::info!("tray shown: a tray host appeared");
                    return;
                }
                Ok(Err(error)) => tracing::debug!(%error, "still no tray"),
                Err(error) => {
                    tracing::warn!(%error, "the tray retry stopped");
                    return;
                }
            }
        }
    });
}

fn create<R: Runtime>(
    app: &AppHandle<R>,
    on_menu: OnMenu<R>,
    on_click: OnClick<R>,
) -> tauri::Result<()> {
    let settings = app.state::<AppState>().settings();
    let status = MenuItem::with_id(app, "status", "Kith — not signed in", false, None::<&str>)?;
    let open = MenuItem::with_id(app, item::OPEN, "Open Kith", true, None::<&str>)?;
    let reconnect = MenuItem::with_id(app, item::RECONNECT, "Reconnect now", false, None::<&str>)?;
    let dnd = CheckMenuItem::with_id(
        app,
        item::DO_NOT_DISTURB,
        "Do not disturb",
        true,
        settings.do_not_disturb,
        None::<&str>,
    )?;
    let autostart = CheckMenuItem::with_id(
        app,
        item::LAUNCH_AT_LOGIN,
        "Launch at login",
        true,
        settings.launch_at_login,
        None::<&str>,
    )?;
    let sign_out = MenuItem::with_id(app, item::SIGN_OUT, "Sign out", false, None::<&str>)?;
    let quit = MenuItem::with_id(app, item::QUIT, "Quit Kith", true, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &status,
            &PredefinedMenuItem::separator(app)?,
            &open,
            &PredefinedMenuItem::separator(app)?,
            &PredefinedMenuItem::separator(app)?,
            &reconnect,
            &dnd,
            &autostart,
            &sign_out,
            &PredefinedMenuItem::separator(app)?,
            &quit,
        ],
    )?;
    let builder = TrayIconBuilder::with_id("kith");
    // The StatusNotifierItem's name for hosts (and the tooltip's heading). Elsewhere a
    // title is text drawn beside the icon, which Kith does not want.
    #[cfg(target_os = "linux")]
    let builder = builder.title("Kith");
    let icon = builder
        .icon(Image::from_bytes(
            crate::tray_view::TrayIcon::SignedOut.png(),
        )?)
        // On macOS, a template image: drawn from the alpha channel only, in the menu
        // bar's own colour. The state icons differ by shape, so they still read.
        .icon_as_template(true)
        .tooltip("Kith — not signed in")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(move |app, event| on_menu(app, event.id().as_ref()))
        .on_tray_icon_event(move |tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                on_click(tray.app_handle());
            }
        })
        .build(app)?;
    app.manage(Tray::<R> {
        icon,
        menu,
        status,
        reconnect,
        dnd,
        autostart,
        sign_out,
        friends: Mutex::new(Vec::new()),
        last: Mutex::new(None),
        ticking: AtomicBool::new(false),
    });
    refresh(app);
    Ok(())
}

/// While a retry is pending, refreshes the tray once a second so its countdown ticks.
/// One ticker at a time; it ends when the retry is no longer pending, so an idle or
/// connected Kith has no timer.
pub fn tick_until_retry<R: Runtime>(app: &AppHandle<R>) {
    let Some(tray) = app.try_state::<Tray<R>>() else {
        return;
    };
    if tray.ticking.swap(true, Ordering::SeqCst) {
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let pending = app
                .state::<AppState>()
                .read_view(|v| v.retry_at.is_some_and(|at| at > Instant::now()))
                .unwrap_or(false);
            refresh(&app);
            if !pending {
                break;
            }
        }
        if let Some(tray) = app.try_state::<Tray<R>>() {
            tray.ticking.store(false, Ordering::SeqCst);
        }
    });
}

/// Recomputes the tray from the app state and applies what changed.
pub fn refresh<R: Runtime>(app: &AppHandle<R>) {
    let Some(tray) = app.try_state::<Tray<R>>() else {
        return;
    };
    let state = app.state::<AppState>();
    let Some(view) = state.read_view(shown) else {
        return;
    };
    let Ok(mut last) = tray.last.lock() else {
        return;
    };
    if last.as_ref() == Some(&view) {
        return;
    }
    if let Err(error) = apply(app, &tray, last.as_ref(), &view) {
        tracing::warn!(%error, "cannot update the tray");
    }
    *last = Some(view);
}

/// What the tray shows for `view`, now.
pub fn shown(view: &View) -> TrayView {
    let online = view.online_names();
    tray_view(&TrayInput {
        signed_in: view.session.signed_in,
        state: &view.state,
        retry_in: view
            .retry_at
            .map(|at| at.saturating_duration_since(Instant::now())),
        online: &online,
        total_friends: view.friend_count(),
    })
}

fn apply<R: Runtime>(
    app: &AppHandle<R>,
    tray: &Tray<R>,
    last: Option<&TrayView>,
    view: &TrayView,
) -> tauri::Result<()> {
    if last.map(|l| l.icon) != Some(view.icon) {
        tray.icon
            .set_icon(Some(Image::from_bytes(view.icon.png())?))?;
        tray.icon.set_icon_as_template(true)?;
    }
    if last.map(|l| &l.tooltip) != Some(&view.tooltip) {
        tray.icon.set_tooltip(Some(&view.tooltip))?;
        tray.status.set_text(&view.tooltip)?;
    }
    tray.reconnect.set_enabled(view.can_reconnect)?;
    tray.sign_out.set_enabled(view.signed_in)?;
    let same_friends = last.is_some_and(|l| {
        l.online_friends == view.online_friends && l.more_online == view.more_online
    });
    if !same_friends {
        let Ok(mut items) = tray.friends.lock() else {
            return Ok(());
        };
        for item in items.drain(..) {
            tray.menu.remove(&item)?;
        }
        let mut labels: Vec<String> = view
            .online_friends
            .iter()
            .map(|n| format!("● {n}"))
            .collect();
        if view.more_online > 0 {
            labels.push(format!("and {} more online", view.more_online));
        }
        for (offset, label) in labels.iter().enumerate() {
            let item = MenuItem::new(app, label, false, None::<&str>)?;
            tray.menu.insert(&item, FRIENDS_AT + offset)?;
            items.push(item);
        }
    }
    Ok(())
}

/// Mirrors the settings' check items.
pub fn sync_checks<R: Runtime>(app: &AppHandle<R>) {
    if let Some(tray) = app.try_state::<Tray<R>>() {
        let settings = app.state::<AppState>().settings();
        let _ = tray.dnd.set_checked(settings.do_not_disturb);
        let _ = tray.autostart.set_checked(settings.launch_at_login);
    }
}
