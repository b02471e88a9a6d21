//! A bare Tauri 2 app, the baseline Kith's desktop footprint is compared with: the
//! same framework, WebKit and window size, and nothing of Kith. The cases match
//! Kith's: a window with a page; the window destroyed after `--close-after SECONDS`
//! while the process lives on; `--hidden`, no window at all.

use std::time::Duration;

use tauri::{RunEvent, WebviewUrl, WebviewWindowBuilder};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let hidden = args.iter().any(|a| a == "--hidden");
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
