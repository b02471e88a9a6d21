//! `kith-tray`: Kith's tray role, the process that stays running. It owns the session
//! (and every secret), the tray icon and its menu, notifications and their clicks,
//! launch at login and the single instance; it never creates a webview and never links
//! WebKit. When the window is wanted (a tray click, "Open Kith", a notification click,
//! a second launch, a start without `--hidden`) it starts `kith-app`, the window role,
//! and talks to it over kith-shell's IPC.
//!
//! Built from the crates Tauri's tray and tauri-plugin-notification are made of:
//! `tray-icon` and `muda` for the tray and its menu (on Linux the ksni backend, a
//! StatusNotifierItem on the session bus), `notify-rust` for notifications, `tao` for
//! the event loop on macOS and Windows. On Linux the tray and notifications are D-Bus
//! objects and need no GUI toolkit loop, so there is none: the main thread runs the
//! tray, tokio the rest.
//!
//! Flags: `--hidden` (a login launch): no window at start. `--demo`: start kith-server
//! in-process with demo friends and sign in to it.
//!
//! Who calls whom: startup, the IPC host and the tray's menu go into kith-shell's
//! session control; what is shown comes back out through [`surface::TraySurface`]
//! (tray, notifications, launch at login) and the window's IPC connection.

mod autostart;
mod notifications;
mod surface;
mod tray;

use std::process::ExitCode;
use std::sync::Arc;

use kith_shell::ipc::client::{self, ClientError};
use kith_shell::ipc::socket::{self, Bound, Endpoint};
use kith_shell::ipc::{Request, Role};
use kith_shell::session_control::{self, CredentialStores};
use kith_shell::shell::Shell;
use kith_shell::windows::{WindowCommand, Windows};
use kith_shell::{host, menu, paths};
use tokio::sync::mpsc;

use crate::surface::{TrayEvent, TraySurface};

struct Options {
    hidden: bool,
    demo: bool,
}

impl Options {
    fn parse() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        Options {
            hidden: args.iter().any(|a| a == "--hidden"),
            demo: args.iter().any(|a| a == "--demo"),
        }
    }
}

fn main() -> ExitCode {
    let options = Options::parse();
    tune_malloc();
    kith_shell::logging::init(paths::log_dir().as_deref());
    // Two workers: the tray role's work is a socket, a timer and the odd request;
    // keyring and D-Bus calls go to the blocking pool.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(8)
        .thread_name("kith-tray")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("kith: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    let endpoint = Endpoint::for_user();
    // The single instance: the first tray role holds the lock; a second launch asks it
    // for the window and ends.
    let listener = match runtime.block_on(async { socket::bind(&endpoint) }) {
        Ok(Bound::Listening(listener)) => listener,
        Ok(Bound::AlreadyRunning) => return runtime.block_on(ask_for_the_window(&endpoint)),
        Err(error) => {
            tracing::error!(%error, dir = %endpoint.dir().display(), "cannot open Kith's IPC socket");
            eprintln!("kith: cannot open Kith's IPC socket: {error}");
            return ExitCode::FAILURE;
        }
    };

    let Some(config_dir) = paths::config_dir() else {
        eprintln!("kith: this system has no configuration directory for Kith's settings");
        return ExitCode::FAILURE;
    };
    let window_command = match WindowCommand::from_env() {
        Ok(command) => Some(command),
        Err(error) => {
            tracing::error!(%error, "cannot find the window's binary; Kith runs without a window");
            None
        }
    };
    let (events, mut received) = mpsc::unbounded_channel::<TrayEvent>();
    let (tray, tray_loop) = tray::start(events.clone());
    let surface = Arc::new(TraySurface::new(tray, events, autostart::Autostart::new()));
    let shell = Shell::new(
        config_dir.join("settings.json"),
        CredentialStores::keyring(),
        surface.clone(),
        Windows::new(window_command),
    );
    let _guard = runtime.enter();
    surface.show_initial(&shell);
    // A snooze saved by an earlier run still ends on time.
    kith_shell::view_update::wake_at_snooze_end(&shell);
    runtime.spawn(host::serve(listener, shell.clone()));
    {
        let shell = shell.clone();
        runtime.spawn(async move {
            while let Some(event) = received.recv().await {
                match event {
                    TrayEvent::Menu(id) => menu::on_menu(&shell, &id),
                    TrayEvent::Click => menu::on_click(&shell),
                    TrayEvent::NotificationClicked(friend) => {
                        menu::on_notification_click(&shell, friend.as_deref())
                    }
                }
            }
        });
    }
    {
        let shell = shell.clone();
        let demo = options.demo;
        runtime.spawn(async move {
            if demo {
                if let Err(error) = session_control::start_demo(&shell).await {
                    tracing::error!(%error, "cannot start the demo");
                }
            } else {
                session_control::resume_at_startup(&shell).await;
            }
        });
    }
    runtime.spawn(quit_on_signal(shell.clone()));
    if !options.hidden {
        shell.windows.open(None);
    }

    // Until Quit (or a signal) ends the tray's loop.
    tray_loop.run();
    tracing::info!("Kith quits");
    runtime.block_on(session_control::stop_running(&shell));
    drop(_guard);
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    ExitCode::SUCCESS
}

/// A second launch: the running tray role shows the window (or raises it).
async fn ask_for_the_window(endpoint: &Endpoint) -> ExitCode {
    let asked = async {
        let (client, _inbound) = client::connect(endpoint, Role::Launcher).await?;
        client
            .request(Request::OpenWindow { friend: None })
            .await
            .map_err(|detail| ClientError::Refused {
                refusal: kith_shell::ipc::Refusal::NoHello,
                detail,
            })
    };
    match asked.await {
        Ok(_) => {
            tracing::info!("Kith runs already: asked it for its window");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(%error, "Kith runs already but does not answer");
            eprintln!("kith: Kith runs already but does not answer: {error}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM and SIGINT (a logout, `kill`, Ctrl-C) quit as the menu's Quit does: the
/// session closes its socket cleanly first.
async fn quit_on_signal(shell: Arc<Shell>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    #[cfg(not(unix))]
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    tracing::info!("asked to quit by a signal");
    session_control::quit(&shell).await;
}

/// glibc gives each thread that allocates an arena of its own (up to 8 per core), and
/// keeps freed pages in them; two arenas are plenty for the tray role's few threads.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes the allocator's tuning; called before other threads.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
