//! The window role's link to the tray role: the IPC connection (kith-shell's
//! [`client`](kith_shell::ipc::client)), made before the window is; what comes over
//! it is turned into what the page sees, in the order it came.
//!
//! - `Event`: emitted to the page as the same `kith://` event with the same payload;
//! - `Raise`: the window to the front (and a friend into view);
//! - `Toggle`: a tray click: closed if on screen, else raised;
//! - `Close`, or the connection ending (the tray role quit, crashed or was killed):
//!   the window role exits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kith_shell::ipc::client::{self, ClientError, Inbound, TrayClient};
use kith_shell::ipc::socket::Endpoint;
use kith_shell::ipc::{Reply, Request, Role};
use tauri::{AppHandle, Emitter, Runtime};
use tokio::sync::mpsc::UnboundedReceiver;

/// How long a tray role this process started has to start listening.
const TRAY_START: Duration = Duration::from_secs(15);

/// The connection, managed as Tauri state for the commands.
pub struct Link(Arc<TrayClient>);

impl Link {
    pub fn new(client: Arc<TrayClient>) -> Self {
        Link(client)
    }

    /// Forwards a request; the error is text for the page.
    pub async fn request(&self, request: Request) -> Result<Reply, String> {
        self.0.request(request).await
    }
}

/// Connects to the tray role as the window. With no tray role running (the window
/// started by hand), starts `kith-tray --hidden` from next to this binary first.
pub async fn connect() -> Result<(Arc<TrayClient>, UnboundedReceiver<Inbound>), ClientError> {
    let endpoint = Endpoint::for_user();
    match client::connect(&endpoint, Role::Window).await {
        Err(ClientError::NotRunning) => {}
        other => return other,
    }
    start_tray()?;
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        match client::connect(&endpoint, Role::Window).await {
            Err(ClientError::NotRunning) if started.elapsed() < TRAY_START => continue,
            other => return other,
        }
    }
}

fn start_tray() -> Result<(), ClientError> {
    let exe = match std::env::var_os("KITH_TRAY_EXE") {
        Some(exe) => exe.into(),
        None => std::env::current_exe()
            .map_err(ClientError::Connect)?
            .with_file_name(format!("kith-tray{}", std::env::consts::EXE_SUFFIX)),
    };
    tracing::info!(exe = %std::path::Path::new(&exe).display(), "no tray process: starting one");
    std::process::Command::new(&exe)
        .arg("--hidden")
        .stdin(std::process::Stdio::null())
        .spawn()
        .map(drop)
        .map_err(ClientError::Connect)
}

/// Carries what the tray role sends to the page and the window, in order, until the
/// connection ends; then the window role exits.
pub fn forward<R: Runtime>(app: AppHandle<R>, mut inbound: UnboundedReceiver<Inbound>) {
    tauri::async_runtime::spawn(async move {
        while let Some(message) = inbound.recv().await {
            match message {
                Inbound::Event { event, payload } => {
                    if let Err(error) = app.emit(&event, payload) {
                        tracing::warn!(%error, event, "cannot send an event to the page");
                    }
                }
                Inbound::Raise { friend } => on_main(&app, move |app| match friend {
                    Some(friend) => crate::window::show_friend(app, &friend),
                    None => crate::window::open(app),
                }),
                Inbound::Toggle => on_main(&app, crate::window::toggle),
                Inbound::Close => on_main(&app, crate::window::close),
            }
        }
        tracing::info!("the tray process has gone: the window closes");
        app.exit(0);
    });
}

/// Windows belong to the main thread.
fn on_main<R: Runtime>(app: &AppHandle<R>, work: impl FnOnce(&AppHandle<R>) + Send + 'static) {
    let handle = app.clone();
    if let Err(error) = app.run_on_main_thread(move || work(&handle)) {
        tracing::warn!(%error, "cannot reach the window");
    }
}
