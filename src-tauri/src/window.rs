//! The one window. Closing it destroys the webview (and with it WebKit's processes);
//! the tray and the session keep running, and opening it creates it again.

use tauri::{AppHandle, Manager, WebviewUrl, WebviewWindowBuilder};

pub const MAIN: &str = "main";

/// Shows the window, creating it if it does not exist.
pub fn open(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(MAIN) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
        return;
    }
    let built = WebviewWindowBuilder::new(app, MAIN, WebviewUrl::App("index.html".into()))
        .title("Kith")
        .inner_size(380.0, 560.0)
        .min_inner_size(320.0, 400.0)
        .build();
    if let Err(error) = built {
        tracing::error!(%error, "cannot open the window");
    }
}

/// Closes (destroys) the window if it is on screen; otherwise opens it, or brings it
/// back from minimized.
pub fn toggle(app: &AppHandle) {
    match app.get_webview_window(MAIN) {
        Some(window)
            if window.is_visible().unwrap_or(true) && !window.is_minimized().unwrap_or(false) =>
        {
            tracing::debug!("closing the window");
            if let Err(error) = window.destroy() {
                tracing::warn!(%error, "cannot close the window");
            }
        }
        _ => {
            tracing::debug!("opening the window");
            open(app);
        }
    }
}

/// After the webview is gone, hands the memory it used back to the OS. glibc keeps
/// freed heap pages in its arenas; without a trim, a tray-idle Kith would keep the
/// window's peak footprint. Runs once WebKit has finished tearing down.
pub fn release_memory_soon() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_secs(2));
        // SAFETY: malloc_trim only returns free heap pages to the OS.
        unsafe {
            libc::malloc_trim(0);
        }
    });
}
