//! The refresh lock shared by every Kith process of one user.
//!
//! The desktop app and the `kith` CLI keep one session in one keyring entry. Without a
//! lock across processes, both would rotate the same refresh token, and the second
//! request would be a reuse that ends the session. A refresh therefore holds an OS file
//! lock (`flock` on Unix, `LockFileEx` on Windows, through `std::fs::File::try_lock`) on
//! a file in the user's runtime directory (or cache directory where there is none).
//!
//! The lock is advisory and only orders Kith processes; it guards no data. When the
//! directory cannot be used, refreshes go on without it (and say so once), since a
//! missing runtime directory must not stop a session.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::token::manager::TokenError;

/// How often a contended lock is tried again. Contention lasts one refresh at most.
const RETRY_EVERY: Duration = Duration::from_millis(20);

/// The lock file of one account in one credential store.
pub struct RefreshLock {
    path: Option<PathBuf>,
    warned: AtomicBool,
}

/// The held lock; dropping it closes the file, which releases the lock.
pub struct RefreshLockGuard(#[allow(dead_code)] Option<File>);

impl RefreshLock {
    /// The lock for `scope` (the store's description and the account key) in the
    /// default directory.
    pub fn for_scope(scope: &str) -> Self {
        let path = lock_dir().map(|dir| dir.join(file_name(scope)));
        RefreshLock {
            path,
            warned: AtomicBool::new(false),
        }
    }

    /// The lock for `scope` in `dir`.
    pub fn in_dir(dir: PathBuf, scope: &str) -> Self {
        RefreshLock {
            path: Some(dir.join(file_name(scope))),
            warned: AtomicBool::new(false),
        }
    }

    /// Where the lock file lives, if anywhere.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.path.as_deref()
    }

    /// Takes the lock, waiting up to `wait` for another process to release it.
    pub async fn acquire(&self, wait: Duration) -> Result<RefreshLockGuard, TokenError> {
        let Some(file) = self.open() else {
            return Ok(RefreshLockGuard(None));
        };
        let deadline = Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(RefreshLockGuard(Some(file))),
                Err(TryLockError::WouldBlock) => {
                    if Instant::now() >= deadline {
                        return Err(TokenError::RefreshBusy);
                    }
                    tokio::time::sleep(RETRY_EVERY).await;
                }
                Err(TryLockError::Error(error)) => {
                    self.warn_once(&error);
                    return Ok(RefreshLockGuard(None));
                }
            }
        }
    }

    fn open(&self) -> Option<File> {
        let path = self.path.as_ref()?;
        let opened = path
            .parent()
            .map(create_private_dir)
            .unwrap_or(Ok(()))
            .and_then(|()| {
                let mut options = OpenOptions::new();
                options.create(true).truncate(false).write(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                options.open(path)
            });
        match opened {
            Ok(file) => Some(file),
            Err(error) => {
                self.warn_once(&error);
                None
            }
        }
    }

    fn warn_once(&self, error: &std::io::Error) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(%error, path = ?self.path, "cannot use the refresh lock file; refreshing without it");
        }
    }
}

fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// `$XDG_RUNTIME_DIR/kith` (or the cache directory's `kith` where there is no runtime
/// directory, as on macOS and Windows).
fn lock_dir() -> Option<PathBuf> {
    dirs::runtime_dir()
        .or_else(dirs::cache_dir)
        .map(|dir| dir.join("kith"))
}

/// A file name for `scope`: its letters and digits, the rest as `_`, bounded.
fn file_name(scope: &str) -> String {
    let safe: String = scope
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(120)
        .collect();
    format!("refresh-{safe}.lock")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kith-lock-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[tokio::test]
    async fn a_second_holder_waits_until_the_first_releases() {
        let dir = temp_dir("wait");
        let first = RefreshLock::in_dir(dir.clone(), "store|http://a");
        let second = RefreshLock::in_dir(dir.clone(), "store|http://a");
        let held = first.acquire(Duration::from_secs(1)).await.unwrap();
        assert!(held.0.is_some(), "the lock file is usable");
        assert_eq!(
            second.acquire(Duration::from_millis(100)).await.err(),
            Some(TokenError::RefreshBusy)
        );
        drop(held);
        assert!(second.acquire(Duration::from_secs(1)).await.is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn different_accounts_do_not_contend() {
        let dir = temp_dir("accounts");
        let a = RefreshLock::in_dir(dir.clone(), "store|http://a");
        let b = RefreshLock::in_dir(dir.clone(), "store|http://b");
        let _held = a.acquire(Duration::from_secs(1)).await.unwrap();
        assert!(b.acquire(Duration::from_millis(100)).await.is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_lock_file_and_its_directory_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("mode");
        let lock = RefreshLock::in_dir(dir.clone(), "s|a");
        let _held = lock.acquire(Duration::from_secs(1)).await.unwrap();
        let file_mode = std::fs::metadata(lock.path().unwrap())
            .unwrap()
            .permissions()
            .mode();
        let dir_mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(file_mode & 0o777, 0o600);
        assert_eq!(dir_mode & 0o777, 0o700);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn an_unusable_directory_does_not_stop_refreshes() {
        let lock = RefreshLock::in_dir(PathBuf::from("/proc/kith-cannot-exist"), "s|a");
        let guard = lock.acquire(Duration::from_millis(100)).await.unwrap();
        assert!(guard.0.is_none());
    }

    #[test]
    fn file_names_keep_only_safe_characters() {
        assert_eq!(
            file_name("OS keyring|http://127.0.0.1:8000"),
            "refresh-OS_keyring_http___127_0_0_1_8000.lock"
        );
        assert!(file_name(&"x".repeat(1000)).len() < 140);
    }
}
