//! The local socket between the roles, and the tray role's single-instance lock.
//!
//! On Unix: `tray.sock` in a directory private to the user (`$XDG_RUNTIME_DIR/kith/`,
//! or `<tmp>/kith-<uid>/` where no runtime directory is set), created 0700 and refused
//! if another user owns it. Both sides check the peer's UID (`SO_PEERCRED` on Linux,
//! `getpeereid` on the BSDs and macOS, through tokio's `peer_cred`). The tray role
//! holds an exclusive `flock` on `tray.lock` for its whole life: that lock, not the
//! socket file, says whether a tray role runs, so a socket file left by a crash is
//! known to be stale, removed and bound again, and two tray roles starting at once
//! cannot both win.
//!
//! Hand-written on tokio's `UnixListener` rather than with the `interprocess` crate:
//! tokio (already the runtime of both roles) gives the peer's credentials directly
//! (`UnixStream::peer_cred`), which the UID check needs and `interprocess`'s portable
//! stream does not offer, and the stale-socket rule above needs the lock file anyway.
//! Where there are no Unix sockets (Windows), the same functions are `loopback.rs`'s:
//! TCP on 127.0.0.1 with a port file and a secret only this user can read.

use std::io;
use std::path::{Path, PathBuf};

/// Where the tray role listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    dir: PathBuf,
}

impl Endpoint {
    /// The user's: `$XDG_RUNTIME_DIR/kith`, else `<tmp>/kith-<uid>`.
    pub fn for_user() -> Self {
        let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
            Some(runtime) => PathBuf::from(runtime).join("kith"),
            None => std::env::temp_dir().join(format!("kith-{}", user_id())),
        };
        Endpoint { dir }
    }

    /// One in `dir` (tests).
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        Endpoint { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn socket_path(&self) -> PathBuf {
        self.dir.join("tray.sock")
    }

    pub fn lock_path(&self) -> PathBuf {
        self.dir.join("tray.lock")
    }

    /// Where there are no Unix sockets: the tray role's port and secret
    /// (`loopback.rs`).
    pub fn port_path(&self) -> PathBuf {
        self.dir.join("tray.port")
    }
}

#[cfg(unix)]
fn user_id() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(not(unix))]
fn user_id() -> u32 {
    0
}

#[cfg(unix)]
pub use unix::{bind, connect, Bound, Listener, Stream};

#[cfg(unix)]
mod unix {
    use std::fs::File;
    use std::io;
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
    use std::os::unix::io::AsRawFd;
    use std::path::PathBuf;

    use tokio::net::{UnixListener, UnixStream};

    use super::{user_id, Endpoint};

    pub type Stream = UnixStream;

    /// The outcome of [`bind`].
    pub enum Bound {
        /// This process is the tray role.
        Listening(Listener),
        /// Another process holds the lock: it is the tray role.
        AlreadyRunning,
    }

    /// The tray role's socket, and its lock, held as long as this lives.
    pub struct Listener {
        listener: UnixListener,
        path: PathBuf,
        _lock: File,
    }

    /// Makes the directory (0700, ours), takes the lock, replaces a stale socket and
    /// listens. Must be called inside a tokio runtime.
    pub fn bind(endpoint: &Endpoint) -> io::Result<Bound> {
        private_dir(endpoint.dir())?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(endpoint.lock_path())?;
        // SAFETY: flock on a file descriptor this function owns.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let error = io::Error::last_os_error();
            return match error.raw_os_error() {
                Some(code) if code == libc::EWOULDBLOCK => Ok(Bound::AlreadyRunning),
                _ => Err(error),
            };
        }
        let path = endpoint.socket_path();
        // Holding the lock, any socket file here is a crashed tray role's.
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!(path = %path.display(), "replaced a stale IPC socket"),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        Ok(Bound::Listening(Listener {
            listener,
            path,
            _lock: lock,
        }))
    }

    impl Listener {
        /// The next connection from a process of this user; others are logged and dropped.
        pub async fn accept(&self) -> io::Result<Stream> {
            loop {
                let (stream, _) = self.listener.accept().await?;
                match same_user(&stream) {
                    Ok(()) => return Ok(stream),
                    Err(error) => tracing::warn!(%error, "refused an IPC connection"),
                }
            }
        }
    }

    impl Drop for Listener {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    /// Connects to the tray role, which must run as this user.
    pub async fn connect(endpoint: &Endpoint) -> io::Result<Stream> {
        let stream = UnixStream::connect(endpoint.socket_path()).await?;
        same_user(&stream)?;
        Ok(stream)
    }

    fn same_user(stream: &UnixStream) -> io::Result<()> {
        let peer = stream.peer_cred()?.uid();
        if peer == user_id() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("the IPC peer runs as user {peer}, not as this user"),
            ))
        }
    }

    /// Creates `dir` 0700 if needed; refuses one that another user owns or that is
    /// not a directory (a symbolic link planted in a shared temp directory).
    fn private_dir(dir: &std::path::Path) -> io::Result<()> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true).mode(0o700);
        builder.create(dir)?;
        let meta = std::fs::symlink_metadata(dir)?;
        if !meta.is_dir() || meta.uid() != user_id() {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} is not a directory of this user's: Kith will not put its socket there",
                    dir.display()
                ),
            ));
        }
        if meta.mode() & 0o777 != 0o700 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
}

#[cfg(not(unix))]
pub use super::loopback::{bind, connect, Bound, Listener, Stream};

/// Whether `error` means no tray role listens (nothing there, or a stale file).
pub fn nobody_listens(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
    )
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn one_tray_role_at_a_time_and_a_stale_socket_is_replaced() {
        let temp = tempfile::tempdir().unwrap();
        let endpoint = Endpoint::in_dir(temp.path().join("kith"));
        // A crash leaves a socket file nobody listens on.
        std::fs::create_dir_all(endpoint.dir()).unwrap();
        {
            let stale = std::os::unix::net::UnixListener::bind(endpoint.socket_path()).unwrap();
            drop(stale);
        }
        assert!(endpoint.socket_path().exists());
        let error = connect(&endpoint).await.unwrap_err();
        assert!(nobody_listens(&error), "{error}");

        let Bound::Listening(listener) = bind(&endpoint).unwrap() else {
            panic!("the first tray role gets the lock");
        };
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(endpoint.dir()), 0o700);
        assert_eq!(mode(&endpoint.socket_path()), 0o600);
        // The replaced socket answers.
        let (client, server) = tokio::join!(connect(&endpoint), listener.accept());
        client.unwrap();
        server.unwrap();
        // A second tray role finds the first.
        assert!(matches!(bind(&endpoint).unwrap(), Bound::AlreadyRunning));
        drop(listener);
        assert!(!endpoint.socket_path().exists(), "removed on exit");
        assert!(matches!(bind(&endpoint).unwrap(), Bound::Listening(_)));
    }

    #[test]
    fn a_directory_of_another_kind_is_refused() {
        let temp = tempfile::tempdir().unwrap();
        let target = temp.path().join("elsewhere");
        std::fs::create_dir(&target).unwrap();
        let link = temp.path().join("kith");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let error = runtime
            .block_on(async { bind(&Endpoint::in_dir(&link)).map(|_| ()) })
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::PermissionDenied, "{error}");
    }
}
