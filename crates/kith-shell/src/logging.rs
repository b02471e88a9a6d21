//! Logs go to the OS log directory (e.g. ~/.local/share/<id>/logs on Linux) through
//! tracing, and to stderr. `RUST_LOG` selects what is logged (default: info for Kith),
//! but never the debug and trace output of dependencies that log raw requests, frames
//! or cookies ([`kith_core::secret::SECRET_BEARING_LOG_TARGETS`]): each output has a
//! per-layer filter that no directive overrides. The log rotates daily (UTC) through
//! tracing-appender's rolling builder: `kith.<YYYY-MM-DD>.log`, the last
//! [`KEEP_LOG_FILES`] kept, and on Unix `kith.log` links to today's. Every log file is
//! private to the user (0600 in a 0700 directory on Unix), including the ones the
//! appender creates at midnight.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tracing::{Metadata, Subscriber};
use tracing_subscriber::filter::{filter_fn, EnvFilter, FilterFn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

static FILE_GUARD: OnceLock<tracing_appender::non_blocking::WorkerGuard> = OnceLock::new();

/// The name of the current log file (on Unix, a link to today's) in the log directory.
pub const LOG_FILE: &str = "kith.log";
/// How many daily log files are kept, today's included.
pub const KEEP_LOG_FILES: usize = 7;

/// Starts logging to stderr and to the rolling log in `log_dir` (the tray role uses the
/// OS log directory; the window role its `window/` subdirectory, so two processes
/// never share one rolling file). Once per process; a second call does nothing.
pub fn init(log_dir: Option<&Path>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("kith_tray=info,kith_app=info,kith_shell=info,kith_core=info,warn")
    });
    let file = log_dir
        .and_then(|dir| match open_log_writer(dir) {
            Ok(writer) => Some(writer),
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
        // Colours only for a terminal: a redirected stderr is read as plain text.
        .with(output(
            std::io::stderr,
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ))
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

/// The daily rolling log in `dir`, created 0700 if needed. On Unix the directory is
/// made 0700 and every log file 0600, including ones left by an older version with
/// wider permissions; a plain `kith.log` from before rotation is kept as
/// `kith.before-rotation.log` (pruned with the others in time).
pub fn open_log_writer(dir: &Path) -> io::Result<PrivateRollingLog> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let current = dir.join(LOG_FILE);
    if std::fs::symlink_metadata(&current).is_ok_and(|meta| meta.is_file()) {
        std::fs::rename(&current, dir.join("kith.before-rotation.log"))?;
    }
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("kith")
        .filename_suffix("log")
        .max_log_files(KEEP_LOG_FILES);
    // Windows allows symbolic links only with extra privileges.
    #[cfg(unix)]
    let appender = appender.latest_symlink(LOG_FILE);
    let appender = appender.build(dir).map_err(io::Error::other)?;
    let log = PrivateRollingLog {
        appender,
        dir: dir.to_path_buf(),
        day: utc_day(),
    };
    log.make_private()?;
    Ok(log)
}

/// tracing-appender's rolling file, whose new files (one a day) are made private as
/// soon as they appear; the appender itself creates them with the default mode.
pub struct PrivateRollingLog {
    appender: tracing_appender::rolling::RollingFileAppender,
    dir: PathBuf,
    day: u64,
}

impl PrivateRollingLog {
    /// Makes every log file in the directory 0600 (Unix).
    fn make_private(&self) -> io::Result<()> {
        #[cfg(unix)]
        for entry in std::fs::read_dir(&self.dir)? {
            use std::os::unix::fs::PermissionsExt;
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let is_log = name.starts_with("kith.") && name.ends_with(".log");
            if is_log && entry.file_type()?.is_file() {
                std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o600))?;
            }
        }
        Ok(())
    }
}

/// Days since the epoch, UTC: the appender rotates when this changes.
fn utc_day() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or_default()
}

impl io::Write for PrivateRollingLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.appender.write(buf)?;
        let day = utc_day();
        if day != self.day {
            self.day = day;
            // The write above rotated to a new file, created with the default mode.
            if let Err(error) = self.make_private() {
                eprintln!("kith: cannot make the new log file private: {error}");
            }
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.appender.flush()
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
    fn the_log_files_are_private_to_the_user() {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let temp = TempDir::new("logs");
        let dir = temp.0.join("nested").join("logs");
        let mut log = open_log_writer(&dir).unwrap();
        writeln!(log, "first").unwrap();
        log.flush().unwrap();
        assert_eq!(mode(&dir), 0o700);
        // kith.log links to today's file, which is private.
        assert!(std::fs::symlink_metadata(dir.join(LOG_FILE))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(mode(&dir.join(LOG_FILE)), 0o600);
        drop(log);

        // Left world-readable by an older version: tightened, and appended to.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir.join(LOG_FILE), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let mut log = open_log_writer(&dir).unwrap();
        writeln!(log, "second").unwrap();
        log.flush().unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(LOG_FILE)), 0o600);
        let text = std::fs::read_to_string(dir.join(LOG_FILE)).unwrap();
        assert_eq!(text, "first\nsecond\n");
    }

    #[cfg(unix)]
    #[test]
    fn the_last_seven_daily_files_are_kept() {
        use std::io::Write;
        let temp = TempDir::new("rotation");
        let dir = temp.0.join("logs");
        std::fs::create_dir_all(&dir).unwrap();
        // A plain kith.log from before rotation, then nine older days, oldest first.
        std::fs::write(dir.join(LOG_FILE), "from before rotation\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        for day in 1..=9 {
            std::fs::write(dir.join(format!("kith.2020-01-0{day}.log")), "old\n").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let mut log = open_log_writer(&dir).unwrap();
        writeln!(log, "today").unwrap();
        log.flush().unwrap();
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name != LOG_FILE)
            .collect();
        files.sort();
        assert_eq!(files.len(), KEEP_LOG_FILES, "{files:?}");
        // The newest six old ones and today's: the oldest four (the one from before
        // rotation among them) are gone.
        for day in 4..=9 {
            assert!(
                files.contains(&format!("kith.2020-01-0{day}.log")),
                "{files:?}"
            );
        }
        assert!(
            !files.iter().any(|f| f == "kith.before-rotation.log"),
            "{files:?}"
        );
        for name in &files {
            assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
        }
        assert_eq!(
            std::fs::read_to_string(dir.join(LOG_FILE)).unwrap(),
            "today\n"
        );
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
            log::debug!(target: "kith_shell::bridge", "debug-through-log");
        });
        let text = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
        assert_eq!(text.matches("eyJ").count(), 0, "a token was logged");
        assert!(text.contains("info-from-tungstenite"));
        assert!(text.contains("trace-from-kith-core"));
        assert!(text.contains("debug-through-log"));
    }
}
