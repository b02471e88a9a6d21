//! Kith's window role (Tauri 2): the one window and its HTML UI, in a process of its
//! own. The tray role (`kith-tray`, crate kith-tray) owns the session, the tray,
//! notifications and settings, and starts this process when the window is needed (a
//! tray click, "Open Kith", a notification click, a second launch); this process
//! renders what it is sent and exits when its window closes, so WebKit's processes
//! and everything they loaded go with it.
//!
//! Flags: `--friend ID` opens the window with that friend in view (a notification
//! click). Started by hand with no tray role running, it starts `kith-tray --hidden`
//! first.
//!
//! Who calls whom (`a ──> b`: a calls b):
//!
//! ```text
//! the page ──> commands ──> link (IPC request) ──> the tray role
//! the tray role ──> link (IPC events) ──> the page (kith:// events), window
//! ```
//!
//! [`commands`] keep their names and capabilities (`capabilities/`): the page cannot
//! tell that they are forwarded, and never sees the socket. [`link`] emits to the
//! page exactly the `kith://` events the tray role sends, in the order it sends them.
//! If the tray role goes away, the window goes with it.

mod commands;
mod link;
mod profile_choice;
mod window;

use kith_shell::ipc::client::ClientError;
use kith_shell::ipc::Refusal;
use tauri::{Manager, RunEvent};

/// The friend named by `--friend ID`, if any.
fn friend_argument(args: &[String]) -> Option<String> {
    args.iter()
        .position(|a| a == "--friend")
        .and_then(|at| args.get(at + 1))
        .filter(|id| !id.is_empty())
        .cloned()
}

/// Starts the window role; returns when its window has closed or the tray role has gone.
pub fn run() {
    let args: Vec<String> = std::env::args().collect();
    let friend = friend_argument(&args);
    kith_shell::logging::init(
        kith_shell::paths::log_dir()
            .map(|d| d.join("window"))
            .as_deref(),
    );
    let (client, inbound) = match tauri::async_runtime::block_on(link::connect()) {
        Ok(connected) => connected,
        Err(ClientError::Refused {
            refusal: Refusal::WindowOpen,
            ..
        }) => {
            tracing::info!("Kith's window is open already: brought it to the front");
            return;
        }
        Err(error) => {
            tracing::error!(%error, "cannot start the window");
            eprintln!("kith: {error}");
            std::process::exit(1);
        }
    };
    let app = tauri::Builder::default()
        .plugin(
            tauri_plugin_window_state::Builder::new()
                .with_state_flags(window::geometry())
                .build(),
        )
        // Opened only from Rust (profile_choice.rs): the window has no dialog permission.
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        .manage(link::Link::new(client))
        .invoke_handler(tauri::generate_handler![
            commands::get_view,
            commands::sign_in,
            commands::try_demo,
            commands::sign_out,
            commands::reconnect_now,
            commands::save_settings,
            commands::change_alerts,
            commands::close_window,
            commands::choose_profile_file,
            commands::sign_in_with_browser,
            commands::cancel_browser_sign_in,
        ])
        .setup(move |app| {
            // No Dock icon on macOS: Kith lives in the tray (not verified on a Mac).
            #[cfg(target_os = "macos")]
            app.set_activation_policy(tauri::ActivationPolicy::Accessory);
            let handle = app.handle().clone();
            link::forward(handle.clone(), inbound);
            match friend {
                Some(friend) => window::show_friend(&handle, &friend),
                None => window::open(&handle),
            }
            Ok(())
        })
        .on_window_event(|target, event| {
            // The window manager's close button: the window is destroyed next.
            if let tauri::WindowEvent::CloseRequested { .. } = event {
                window::save_geometry(target.app_handle());
            }
        })
        .build(tauri::generate_context!("../tauri.conf.json"));
    let app = match app {
        Ok(app) => app,
        Err(error) => {
            eprintln!("kith: cannot start the window: {error}");
            std::process::exit(1);
        }
    };
    // With its one window closed, the process ends: that is what gives WebKit's
    // memory back.
    app.run(|_app, event| {
        if let RunEvent::Exit = event {
            tracing::debug!("the window role exits");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_friend_to_open_at_comes_from_its_flag() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(friend_argument(&args(&["kith-app"])), None);
        assert_eq!(
            friend_argument(&args(&["kith-app", "--friend", "42"])),
            Some("42".into())
        );
        assert_eq!(friend_argument(&args(&["kith-app", "--friend"])), None);
        assert_eq!(friend_argument(&args(&["kith-app", "--friend", ""])), None);
    }
}
