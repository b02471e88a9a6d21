//! The local socket between the roles where there are no Unix sockets (Windows): TCP
//! on 127.0.0.1, found through a file only this user can read, and a secret in it.
//!
//! The tray role binds an ephemeral port on 127.0.0.1 and writes `tray.port` in its
//! private directory (the user's own temp directory on Windows, under the profile's
//! access rules): the port and 32 random bytes in hex. A window role reads the file,
//! connects and sends the secret as its first line; the tray role drops a connection
//! whose first line is not the secret, or that does not send it within
//! [`SECRET_DEADLINE`]. Knowing the secret is what proves the peer can read this
//! user's files, the check a Unix socket gets from the peer's UID. The single instance
//! is an exclusive lock on `tray.lock` (std's `File::try_lock`), held for the tray
//! role's life, as on Unix; a port file left by a crash is rewritten by the next tray
//! role, and one whose port no longer answers reads as "nobody listens".
//!
//! Compiled and tested on every platform, so that the transport Windows uses is the one
//! the tests here exercise; Linux and the BSDs use the Unix socket (`socket.rs`).
//! Hand-written rather than with the `interprocess` crate for the reasons given in
//! `socket.rs`, and because a named pipe's tokio types differ between the two ends,
//! where one TCP stream type serves both. Not verified on Windows itself: Kith cannot
//! be built for it on this project's CI machine.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::socket::Endpoint;

pub type Stream = TcpStream;

/// How long a connecting process has to send the secret.
pub const SECRET_DEADLINE: Duration = Duration::from_secs(2);

/// Bytes of randomness in the secret (written as twice as many hex digits).
const SECRET_BYTES: usize = 32;

/// The outcome of [`bind`].
pub enum Bound {
    /// This process is the tray role.
    Listening(Listener),
    /// Another process holds the lock: it is the tray role.
    AlreadyRunning,
}

/// The tray role's listening socket, its port file and its lock, held as long as this
/// lives. Connections are taken and checked in the background, each on its own, so a
/// process that connects and says nothing holds up no one else.
pub struct Listener {
    verified: tokio::sync::Mutex<mpsc::Receiver<Stream>>,
    acceptor: tokio::task::JoinHandle<()>,
    port_file: PathBuf,
    _lock: File,
}

/// Makes the directory, takes the lock, listens on 127.0.0.1 and writes the port file.
/// Must be called inside a tokio runtime.
pub fn bind(endpoint: &Endpoint) -> io::Result<Bound> {
    std::fs::create_dir_all(endpoint.dir())?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(endpoint.lock_path())?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(Bound::AlreadyRunning),
        Err(std::fs::TryLockError::Error(error)) => return Err(error),
    }
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let port = listener.local_addr()?.port();
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // Written whole and then renamed, so a window role never reads half a file.
    let port_file = endpoint.port_path();
    let partial = port_file.with_extension("partial");
    std::fs::write(&partial, format!("{port} {secret}\n"))?;
    std::fs::rename(&partial, &port_file)?;
    let (verified_tx, verified) = mpsc::channel(8);
    let acceptor = tokio::spawn(accept_verified(listener, Arc::from(secret), verified_tx));
    Ok(Bound::Listening(Listener {
        verified: tokio::sync::Mutex::new(verified),
        acceptor,
        port_file,
        _lock: lock,
    }))
}

/// Takes every connection and checks each on a task of its own; those that sent the
/// secret go to `verified`, the others are logged and dropped.
async fn accept_verified(listener: TcpListener, secret: Arc<str>, verified: mpsc::Sender<Stream>) {
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors, say: try again shortly rather than spin.
                tracing::warn!(%error, "cannot accept an IPC connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if !peer.ip().is_loopback() {
            tracing::warn!(%peer, "refused an IPC connection from another host");
            continue;
        }
        let (secret, verified) = (Arc::clone(&secret), verified.clone());
        tokio::spawn(async move {
            let line = tokio::time::timeout(
                SECRET_DEADLINE,
                read_line(&mut stream, 2 * SECRET_BYTES + 1),
            )
            .await;
            match line {
                Ok(Ok(line)) if same_secret(&line, &secret) => {
                    let _ = verified.send(stream).await;
                }
                Ok(Ok(_)) => tracing::warn!("refused an IPC connection: not this user's secret"),
                Ok(Err(error)) => tracing::warn!(%error, "refused an IPC connection"),
                Err(_) => tracing::warn!("refused an IPC connection: no secret in time"),
            }
        });
    }
}

impl Listener {
    /// The next connection that sent the secret.
    pub async fn accept(&self) -> io::Result<Stream> {
        self.verified.lock().await.recv().await.ok_or_else(|| {
            io::Error::new(io::ErrorKind::BrokenPipe, "the IPC listener has stopped")
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.acceptor.abort();
        let _ = std::fs::remove_file(&self.port_file);
    }
}

/// Connects to the tray role named by the port file and proves this process is its
/// user's. No port file, or a port nobody answers on, is "nobody listens"
/// ([`super::socket::nobody_listens`]).
pub async fn connect(endpoint: &Endpoint) -> io::Result<Stream> {
    let text = std::fs::read_to_string(endpoint.port_path())?;
    let (port, secret) = parse_port_file(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not a Kith port file", endpoint.port_path().display()),
        )
    })?;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(format!("{secret}\n").as_bytes()).await?;
    Ok(stream)
}

/// `(port, secret)` from a port file's text.
fn parse_port_file(text: &str) -> Option<(u16, &str)> {
    let mut words = text.split_whitespace();
    let port = words.next()?.parse().ok().filter(|p| *p != 0)?;
    let secret = words.next()?;
    let well_formed = secret.len() == 2 * SECRET_BYTES
        && secret.bytes().all(|b| b.is_ascii_hexdigit())
        && words.next().is_none();
    well_formed.then_some((port, secret))
}

/// One line, without its newline, of at most `limit` bytes before it. Read a byte at a
/// time so that nothing after the line is taken from the stream: the IPC messages follow.
async fn read_line(stream: &mut TcpStream, limit: usize) -> io::Result<String> {
    let mut line = Vec::with_capacity(limit);
    loop {
        let byte = stream.read_u8().await?;
        if byte == b'\n' {
            break;
        }
        if line.len() == limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the first line is longer than a secret",
            ));
        }
        line.push(byte);
    }
    String::from_utf8(line).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not text"))
}

/// Compares in time that does not depend on where the two differ.
fn same_secret(given: &str, secret: &str) -> bool {
    given.len() == secret.len()
        && given
            .bytes()
            .zip(secret.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::socket::nobody_listens;

    #[tokio::test]
    async fn one_tray_role_at_a_time_and_only_the_secret_gets_in() {
        let temp = tempfile::tempdir().unwrap();
        let endpoint = Endpoint::in_dir(temp.path().join("kith"));
        let error = connect(&endpoint).await.unwrap_err();
        assert!(nobody_listens(&error), "no port file: {error}");

        let Bound::Listening(listener) = bind(&endpoint).unwrap() else {
            panic!("the first tray role gets the lock");
        };
        assert!(matches!(bind(&endpoint).unwrap(), Bound::AlreadyRunning));

        // A process that knows the port but not the secret is dropped; the next, with
        // it, gets in, and the bytes after its secret are the IPC's.
        let text = std::fs::read_to_string(endpoint.port_path()).unwrap();
        let (port, _) = parse_port_file(&text).unwrap();
        let mut stranger = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stranger.write_all(&[b'0'; 64]).await.unwrap();
        stranger.write_all(b"\n").await.unwrap();
        let (client, server) = tokio::join!(
            async {
                let mut stream = connect(&endpoint).await?;
                stream.write_all(b"{\"hello\":1}\n").await?;
                io::Result::Ok(stream)
            },
            listener.accept()
        );
        client.unwrap();
        let mut server = server.unwrap();
        let mut first = vec![0u8; 12];
        server.read_exact(&mut first).await.unwrap();
        assert_eq!(first, b"{\"hello\":1}\n");
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stranger.read_to_end(&mut rest))
            .await
            .expect("the stranger's connection is closed");
        assert!(read.is_err() || rest.is_empty(), "the stranger got nothing");

        // Gone: the port file goes with it, and the next tray role takes over.
        drop(listener);
        assert!(!endpoint.port_path().exists(), "removed on exit");
        let Bound::Listening(_next) = bind(&endpoint).unwrap() else {
            panic!("the lock was released with the first");
        };
    }

    #[tokio::test]
    async fn a_crashed_tray_roles_port_file_reads_as_nobody_listening() {
        let temp = tempfile::tempdir().unwrap();
        let endpoint = Endpoint::in_dir(temp.path());
        // A port that was bound and let go: nothing listens there now.
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::write(
            endpoint.port_path(),
            format!("{port} {}\n", "ab".repeat(32)),
        )
        .unwrap();
        let error = connect(&endpoint).await.unwrap_err();
        assert!(nobody_listens(&error), "{error}");
    }

    #[tokio::test]
    async fn a_silent_or_endless_first_line_holds_up_no_one_and_is_refused() {
        let temp = tempfile::tempdir().unwrap();
        let endpoint = Endpoint::in_dir(temp.path());
        let Bound::Listening(listener) = bind(&endpoint).unwrap() else {
            panic!("the tray role");
        };
        let text = std::fs::read_to_string(endpoint.port_path()).unwrap();
        let (port, _) = parse_port_file(&text).unwrap();
        let mut endless = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        endless.write_all(&[b'a'; 4096]).await.unwrap();
        let mut silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (client, server) = tokio::join!(connect(&endpoint), listener.accept());
        client.unwrap();
        server.unwrap();
        // The endless line was refused at once; the silent connection is still waiting
        // for its deadline: it held up no one.
        let mut rest = Vec::new();
        let refused = tokio::time::timeout(Duration::from_secs(5), endless.read_to_end(&mut rest))
            .await
            .expect("the endless line's connection is closed");
        assert!(refused.is_err() || rest.is_empty());
        let mut byte = [0u8; 1];
        let still_open =
            tokio::time::timeout(Duration::from_millis(200), silent.read(&mut byte)).await;
        assert!(
            still_open.is_err(),
            "the silent connection is still being waited for"
        );
    }

    #[test]
    fn port_files_are_read_strictly() {
        let secret = "0f".repeat(32);
        assert_eq!(
            parse_port_file(&format!("4242 {secret}\n")),
            Some((4242, secret.as_str()))
        );
        for bad in [
            String::new(),
            format!("0 {secret}"),
            format!("65536 {secret}"),
            format!("4242 {}", &secret[1..]),
            format!("4242 {secret} extra"),
            format!("4242 {}", "zz".repeat(32)),
            "4242".to_owned(),
        ] {
            assert_eq!(parse_port_file(&bad), None, "{bad:?}");
        }
        assert!(same_secret(&secret, &secret));
        assert!(!same_secret(&"0e".repeat(32), &secret));
        assert!(!same_secret("0f", &secret));
    }
}
