//! The one window. Closing it destroys the webview and ends the window role's process
//! (and with it WebKit's processes); the tray and the session keep running in the tray
//! role, which starts a new window process when the window is wanted again. Its size
//! and position are kept by tauri-plugin-window-state: the plugin restores them when
//! the window is created, and this module writes them to disk before every close,
//! since a destroyed window leaves nothing to read them from.

use tauri::{AppHandle, Emitter, Manager, Runtime, WebviewUrl, WebviewWindowBuilder};
use tauri_plugin_window_state::{AppHandleExt, StateFlags};

pub const MAIN: &str = "main";

/// The event that asks an open window to bring one friend into view (payload: the
/// friend's user_id). A window created for that reads it from its address instead.
pub const EVENT_SHOW_FRIEND: &str = "kith://show-friend";

/// What is remembered of the window: its size, its position and whether it was
/// maximized. Not its visibility: the tray and `--hidden` decide that.
pub fn geometry() -> StateFlags {
    StateFlags::SIZE | StateFlags::POSITION | StateFlags::MAXIMIZED
}

/// Shows the window, creating it if it does not exist.
pub fn open<R: Runtime>(app: &AppHandle<R>) {
    if !raise(app) {
        create(app, "index.html".to_string());
    }
}

/// Shows the window with one friend in view (a click on a notification about them).
pub fn show_friend<R: Runtime>(app: &AppHandle<R>, user_id: &str) {
    tracing::debug!(friend = user_id, "opening the window at a friend");
    if raise(app) {
        if let Err(error) = app.emit_to(MAIN, EVENT_SHOW_FRIEND, user_id) {
            tracing::warn!(%error, "cannot ask the window to show a friend");
        }
        return;
    }
    let fragment = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("friend", user_id)
        .finish();
    create(app, format!("index.html#{fragment}"));
}

/// Brings an existing window to the front; false when there is none.
fn raise<R: Runtime>(app: &AppHandle<R>) -> bool {
    let Some(window) = app.get_webview_window(MAIN) else {
        return false;
    };
    let _ = window.unminimize();
    let _ = window.show();
    let _ = window.set_focus();
    true
}

fn create<R: Runtime>(app: &AppHandle<R>, page: String) {
    // The default size; tauri-plugin-window-state replaces it with the remembered one
    // as the window is created.
    let built = WebviewWindowBuilder::new(app, MAIN, WebviewUrl::App(page.into()))
        .title("Kith")
        .inner_size(380.0, 560.0)
        .min_inner_size(320.0, 400.0)
        .build();
    match built {
        Ok(window) => lighten(&window),
        Err(error) => tracing::error!(%error, "cannot open the window"),
    }
}

/// WebKit as a short list needs it, not as a browser does. Kith's page has no
/// animation, video, WebGL or transform, so it is painted by the CPU: WebKit's web
/// process then never sets up GL compositing (under software GL that was about 65 MiB
/// of the window's memory, see BENCHMARKS.md). And the page is one local document,
/// never navigated, so WebKit's memory caches (decoded resources, the back/forward
/// page cache) would only hold what is already on screen.
#[cfg(target_os = "linux")]
fn lighten<R: Runtime>(window: &tauri::WebviewWindow<R>) {
    use webkit2gtk::{
        CacheModel, HardwareAccelerationPolicy, SettingsExt, WebContextExt, WebViewExt,
    };
    let applied = window.with_webview(|webview| {
        let view = webview.inner();
        let settings = WebViewExt::settings(&view);
        if let Some(settings) = &settings {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
            settings.set_enable_page_cache(false);
        }
        let context = view.context();
        if let Some(context) = &context {
            context.set_cache_model(CacheModel::DocumentViewer);
        }
        // As WebKit reads them back, for the log and the end-to-end test.
        tracing::info!(
            hardware_acceleration = ?settings.as_ref().map(|s| s.hardware_acceleration_policy()),
            page_cache = ?settings.as_ref().map(|s| s.enables_page_cache()),
            cache_model = ?context.as_ref().map(|c| c.cache_model()),
            "the window's WebKit settings"
        );
    });
    if let Err(error) = applied {
        tracing::warn!(%error, "cannot apply the window's WebKit settings");
    }
}

#[cfg(not(target_os = "linux"))]
fn lighten<R: Runtime>(_window: &tauri::WebviewWindow<R>) {}

/// Writes the window's size and position to disk, while the window still exists.
pub fn save_geometry<R: Runtime>(app: &AppHandle<R>) {
    if let Err(error) = app.save_window_state(geometry()) {
        tracing::warn!(%error, "cannot save the window's size and position");
    }
}

/// Closes (destroys) the window, after saving its geometry.
pub fn close<R: Runtime>(app: &AppHandle<R>) {
    let Some(window) = app.get_webview_window(MAIN) else {
        return;
    };
    save_geometry(app);
    tracing::debug!("closing the window");
    if let Err(error) = window.destroy() {
        tracing::warn!(%error, "cannot close the window");
    }
}

/// Closes the window if it is on screen; otherwise opens it, or brings it back from
/// minimized.
pub fn toggle<R: Runtime>(app: &AppHandle<R>) {
    match app.get_webview_window(MAIN) {
        Some(window)
            if window.is_visible().unwrap_or(true) && !window.is_minimized().unwrap_or(false) =>
        {
            close(app);
        }
        _ => {
            tracing::debug!("opening the window");
            open(app);
        }
    }
}
