//! Logs go to the OS log directory (e.g. ~/.local/share/<id>/logs on Linux) through
//! tracing, and to stderr. `RUST_LOG` selects what is logged (default: info for Kith).

use std::sync::OnceLock;

use tauri::{AppHandle, Manager};
use tracing_subscriber::prelude::*;

static FILE_GUARD: OnceLock<tracing_appender::non_blocking::WorkerGuard> = OnceLock::new();

pub fn init(app: &AppHandle) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("kith_app=info,kith_core=info,warn")
    });
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let file = app.path().app_log_dir().ok().and_then(|dir| {
        std::fs::create_dir_all(&dir).ok()?;
        let (writer, guard) =
            tracing_appender::non_blocking(tracing_appender::rolling::never(dir, "kith.log"));
        let _ = FILE_GUARD.set(guard);
        Some(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer),
        )
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(file)
        .try_init();
}
