//! A bare Tauri 2 app, the baseline Kith's desktop footprint is compared with: the
//! same framework, WebKit and window size, and nothing of Kith. The cases match
//! Kith's: a window with a page; the window destroyed after `--close-after SECONDS`
//! while the process lives on; `--hidden`, no window at all. With
//! `--kith-webkit-settings` the window gets the WebKit settings Kith's window has
//! (src-tauri/src/window.rs), so the two can also be compared like for like.

use std::time::Duration;

use tauri::{RunEvent, WebviewUrl, WebviewWindowBuilder};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let hidden = args.iter().any(|a| a == "--hidden");
    let kith_webkit_settings = args.iter().any(|a| a == "--kith-webkit-settings");
    let close_after = args
        .iter()
        .position(|a| a == "--close-after")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64);
    let app = tauri::Builder::default()
        .setup(move |app| {
            if hidden {
                return Ok(());
            }
            let window = WebviewWindowBuilder::new(app, "main", WebviewUrl::default())
                .title("Bare Tauri")
                .inner_size(380.0, 560.0)
                .build()?;
            if kith_webkit_settings {
                apply_kith_webkit_settings(&window);
            }
            if let Some(delay) = close_after {
                std::thread::spawn(move || {
                    std::thread::sleep(delay);
                    let _ = window.destroy();
                });
            }
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(app) => app,
        Err(error) => {
            eprintln!("bare-tauri-app: cannot start: {error}");
            std::process::exit(1);
        }
    };
    // Like Kith, the process outlives its window; only a signal ends it.
    app.run(|_app, event| {
        if let RunEvent::ExitRequested { api, code, .. } = event {
            if code.is_none() {
                api.prevent_exit();
            }
        }
    });
}

/// Kith's window's WebKit settings, applied the way Kith applies them.
#[cfg(target_os = "linux")]
fn apply_kith_webkit_settings(window: &tauri::WebviewWindow) {
    use webkit2gtk::{
        CacheModel, HardwareAccelerationPolicy, SettingsExt, WebContextExt, WebViewExt,
    };
    let applied = window.with_webview(|webview| {
        let view = webview.inner();
        if let Some(settings) = WebViewExt::settings(&view) {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
            settings.set_enable_page_cache(false);
        }
        if let Some(context) = view.context() {
            context.set_cache_model(CacheModel::DocumentViewer);
        }
    });
    if let Err(error) = applied {
        eprintln!("bare-tauri-app: cannot apply the WebKit settings: {error}");
    }
}

#[cfg(not(target_os = "linux"))]
fn apply_kith_webkit_settings(_window: &tauri::WebviewWindow) {}
