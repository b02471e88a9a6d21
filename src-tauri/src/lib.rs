//! Kith's desktop shell (Tauri 2): a tray presence indicator, one small window and
//! native notifications, on top of kith-core. Thin by design: decisions a test would
//! want to check live in kith-core or in the pure modules here ([`tray_view`],
//! [`notify_rules`]); the rest wires core events to the tray, the UI and notifications.
//!
//! Flags: `--hidden` starts in the tray only (no window, no webview: a login launch
//! uses it); `--demo` starts the in-process demo server and signs in to it.
//!
//! Who calls whom (`a ──> b`: a calls b):
//!
//! ```text
//! run (startup) ──┐
//! commands ───────┼──> session_control ──> bridge ──> notifications ──> window
//! tray_menu ──────┘          │                │
//!                            └─> view_update <┘
//!                                  ├──> the window: kith:// events
//!                                  └──> tray: icon and items; autostart
//! pure, used throughout: state, settings, batcher, tray_view, notify_rules, display
//! ```
//!
//! The three doors into the session (startup, the window's commands, the tray's menu)
//! go through [`session_control`], the one owner of the running session; the doors
//! change settings through [`view_update`] too, and open or close the window. Every
//! change to what is shown goes through view_update, which tells the window and the
//! tray; the bridge carries one session's events there. Commands, the bridge and the
//! tray's menu never call one another. The tray is two modules: a door,
//! [`tray_menu`] (what its menu and a click do), and a surface, [`tray`] (its icon and
//! items, which view_update refreshes and the bridge's retry countdown ticks), which
//! calls nothing above it: startup hands it the door's handlers when it creates the
//! tray. A clicked notification only opens the window.
//!
//! Every module is generic over [`tauri::Runtime`], so the command flow runs under
//! `tauri::test`'s mock runtime in the tests, with no window and no tray.

mod autostart;
mod batcher;
mod bridge;
#[cfg(test)]
mod command_flow_tests;
mod commands;
mod display;
mod logging;
mod notifications;
pub mod notify_rules;
mod profile_choice;
mod session_control;
pub mod settings;
mod state;
mod tray;
mod tray_menu;
pub mod tray_view;
mod view_update;
mod window;

use tauri::{Manager, RunEvent, Runtime};

use crate::session_control::CredentialStores;
use crate::state::AppState;

/// What every build of the app has, the tests' mock one included: the plugins the
/// session's commands use and the commands. [`run`] adds the single-instance lock,
/// the window's own plugins (window-state, whose geometry only a real window has and
/// only `close_window` saves; the file dialog), the state, the tray, the window and startup.
fn with_commands<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec!["--hidden"]),
        ))
        .invoke_handler(tauri::generate_handler![
            commands::get_view,
            commands::sign_in,
            commands::try_demo,
            commands::sign_out,
            commands::reconnect_now,
            commands::save_settings,
            commands::close_window,
            commands::choose_profile_file,
        ])
}

/// Starts the app; returns when the user quits.
pub fn run() {
    let hidden = std::env::args().any(|a| a == "--hidden");
    let demo = std::env::args().any(|a| a == "--demo");
    // The single-instance plugin first, so a second launch only focuses this one: two
    // sessions would race each other over refresh-token rotation.
    let builder = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            window::open(app);
        }))
        .plugin(
            tauri_plugin_window_state::Builder::new()
                .with_state_flags(window::geometry())
                .build(),
        )
        // Opened only from Rust (profile_choice.rs): the window has no dialog permission.
        .plugin(tauri_plugin_dialog::init());
    let app = with_commands(builder)
        .setup(move |app| {
            // A tray app: no Dock icon on macOS (not verified on a Mac; CI builds it).
            #[cfg(target_os = "macos")]
            app.set_activation_policy(tauri::ActivationPolicy::Accessory);
            let handle = app.handle().clone();
            logging::init(&handle);
            notifications::handle_clicks(&handle);
            let config_dir = app.path().app_config_dir()?;
            app.manage(AppState::new(config_dir.join("settings.json")));
            app.manage(CredentialStores::keyring());
            app.manage(profile_choice::ChosenProfile::default());
            autostart::refresh(&handle, app.state::<AppState>().settings().launch_at_login);
            tray::start(&handle, tray_menu::on_menu, tray_menu::on_click);
            if !hidden {
                window::open(&handle);
            }
            tauri::async_runtime::spawn(async move {
                if demo {
                    if let Err(error) = session_control::start_demo(&handle).await {
                        tracing::error!(%error, "cannot start the demo");
                    }
                } else {
                    session_control::resume_at_startup(&handle).await;
                }
            });
            Ok(())
        })
        .on_window_event(|target, event| match event {
            // The window manager's close button: the window is destroyed next.
            tauri::WindowEvent::CloseRequested { .. } => window::save_geometry(target.app_handle()),
            tauri::WindowEvent::Destroyed => window::release_memory_soon(),
            _ => {}
        })
        .build(tauri::generate_context!("../tauri.conf.json"));
    let app = match app {
        Ok(app) => app,
        Err(error) => {
            eprintln!("kith: cannot start: {error}");
            std::process::exit(1);
        }
    };
    app.run(|_app, event| {
        // Closing the window destroys it; the tray and the session live on.
        // Only an explicit exit (Quit) ends the app.
        if let RunEvent::ExitRequested { api, code, .. } = event {
            if code.is_none() {
                api.prevent_exit();
            }
        }
    });
}
