//! Logs go to the OS log directory (e.g. ~/.local/share/<id>/logs on Linux) through
//! tracing, and to stderr. `RUST_LOG` selects what is logged (default: info for Kith),
//! but never the debug and trace output of dependencies that log raw requests, frames
//! or cookies ([`kith_core::secret::SECRET_BEARING_LOG_TARGETS`]): each output has a
//! per-layer filter that no directive overrides. The log file is private to the user
//! (0600 in a 0700 directory on Unix).

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::OnceLock;

use tauri::{AppHandle, Manager};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::filter::{filter_fn, EnvFilter, FilterFn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

static FILE_GUARD: OnceLock<tracing_appender::non_blocking::WorkerGuard> = OnceLock::new();

/// The log file's name in the app's log directory.
pub const LOG_FILE: &str = "kith.log";

pub fn init(app: &AppHandle) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("kith_app=info,kith_core=info,warn"));
    let file = app
        .path()
        .app_log_dir()
        .ok()
        .and_then(|dir| match open_log_file(&dir) {
            Ok(file) => Some(file),
            Err(error) => {
                eprintln!(
                    "kith: cannot open the log file in {}: {error}",
                    dir.display()
                );
                None
            }
        })
        .map(|file| {
            let (writer, guard) = tracing_appender::non_blocking(file);
            let _ = FILE_GUARD.set(guard);
            writer
        });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(output(std::io::stderr, true))
        .with(file.map(|writer| output(writer, false)))
        .try_init();
}

/// One log output (stderr or the file), behind the secret-bearing targets' filter.
fn output<S, W>(writer: W, ansi: bool) -> impl tracing_subscriber::Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(writer)
        .with_filter(secret_safe())
}

/// Drops debug and trace from targets that log secrets, whatever `RUST_LOG` enables.
fn secret_safe() -> FilterFn<impl Fn(&Metadata<'_>) -> bool> {
    filter_fn(|meta| kith_core::secret::log_allowed(meta.target(), meta.level()))
}

/// Opens (appending) `dir/kith.log`, creating `dir` if needed. On Unix the directory
/// is made 0700 and the file 0600, including a directory or file left by an older
/// version with wider permissions.
pub fn open_log_file(dir: &Path) -> io::Result<File> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    let path = dir.join(LOG_FILE);
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        let file = options.open(&path)?;
        // `mode` applies only when the file is created.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        options.open(&path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A scratch directory under the system temp dir, removed on drop.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!(
                "kith-app-{name}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
            ));
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn the_log_file_is_private_to_the_user() {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let temp = TempDir::new("logs");
        let dir = temp.0.join("nested").join("logs");
        let mut file = open_log_file(&dir).unwrap();
        writeln!(file, "first").unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(LOG_FILE)), 0o600);

        // Left world-readable by an older version: tightened, and appended to.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir.join(LOG_FILE), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let mut file = open_log_file(&dir).unwrap();
        writeln!(file, "second").unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(LOG_FILE)), 0o600);
        let text = std::fs::read_to_string(dir.join(LOG_FILE)).unwrap();
        assert_eq!(text, "first\nsecond\n");
    }

    /// Collects what a layer writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Captured {
        type Writer = Captured;
        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn no_directive_turns_on_the_secret_bearing_targets() {
        // Events through the `log` crate, as tungstenite's are, reach tracing here.
        let _ = tracing_log::LogTracer::init();
        let captured = Captured::default();
        let filter = EnvFilter::new("trace,tungstenite=trace,tokio_tungstenite=trace");
        let subscriber = tracing_subscriber::registry()
            .with(filter)
            .with(output(captured.clone(), false));
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl";
        tracing::subscriber::with_default(subscriber, || {
            log::trace!(target: "tungstenite::handshake::client", "Request: GET /ws?token={token}");
            log::debug!(target: "tokio_tungstenite::compat", "Authorization: Bearer {token}");
            log::debug!(target: "cookie_store::cookie_store", "inserting Set-Cookie 'access={token}'");
            tracing::trace!(target: "tungstenite::protocol", "Sending frame: {token}");
            log::info!(target: "tungstenite::handshake::client", "info-from-tungstenite");
            tracing::trace!(target: "kith_core::socket::driver", "trace-from-kith-core");
            log::debug!(target: "kith_app::bridge", "debug-through-log");
        });
        let text = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
        assert_eq!(text.matches("eyJ").count(), 0, "a token was logged");
        assert!(text.contains("info-from-tungstenite"));
        assert!(text.contains("trace-from-kith-core"));
        assert!(text.contains("debug-through-log"));
    }
}
