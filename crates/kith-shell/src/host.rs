//! The tray role's side of the IPC: it accepts connections on the [`Listener`], reads
//! each one's hello (within [`HELLO_DEADLINE`], version checked), and then
//! - a window role becomes the window ([`Windows`]): it hears the view events and its
//!   requests go to [`session_control`](crate::session_control) and
//!   [`view_update`](crate::view_update), as the Tauri commands did in one process;
//! - a launcher (a second launch of `kith-tray`) may only ask for the window.
//!
//! Each request runs as a task of its own (a sign-in does not hold up `get_view`);
//! every answer and event to one connection goes through one writer, in order, each
//! write within [`WRITE_DEADLINE`]: a window that stops reading is dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::sync::mpsc;

use crate::ipc::codec::{self, CodecError};
use crate::ipc::socket::Listener;
use crate::ipc::{
    check_hello, Answer, FromTray, Reply, Request, Role, ToTray, HELLO_DEADLINE, MAX_MESSAGE,
    WRITE_DEADLINE,
};
use crate::session_control;
use crate::shell::Shell;
use crate::view_update::update_settings;

static CONNECTIONS: AtomicU64 = AtomicU64::new(1);

/// Accepts connections until the listener fails; each is served on a task of its own.
pub async fn serve(listener: Listener, shell: Arc<Shell>) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let shell = shell.clone();
                tokio::spawn(async move { serve_connection(stream, shell).await });
            }
            Err(error) => {
                tracing::error!(%error, "the IPC socket stopped accepting connections");
                return;
            }
        }
    }
}

/// Serves one connection: hello, then requests until it ends.
pub async fn serve_connection<S>(stream: S, shell: Arc<Shell>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let connection = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
    let (read, mut write) = tokio::io::split(stream);
    let mut read = BufReader::new(read);
    let hello = match codec::within(HELLO_DEADLINE, async {
        codec::read_line(&mut read, MAX_MESSAGE).await
    })
    .await
    {
        Ok(Some(line)) => check_hello(&line),
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(%error, connection, "no hello on an IPC connection");
            return;
        }
    };
    let hello = match hello {
        Ok(hello) => hello,
        Err((refusal, detail)) => {
            tracing::warn!(?refusal, %detail, connection, "refused an IPC connection");
            let refused = FromTray::Refused { refusal, detail };
            let _ = codec::write_message(&mut write, &refused, MAX_MESSAGE, WRITE_DEADLINE).await;
            return;
        }
    };

    let (to_peer, mut outgoing) = mpsc::unbounded_channel::<FromTray>();
    let writer = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            let last = matches!(message, FromTray::Refused { .. });
            if let Err(error) =
                codec::write_message(&mut write, &message, MAX_MESSAGE, WRITE_DEADLINE).await
            {
                tracing::warn!(%error, connection, "cannot write to an IPC peer; dropping it");
                return;
            }
            if last {
                return;
            }
        }
    });

    match hello.role {
        Role::Window => {
            if shell
                .windows
                .attach(connection, hello.pid, to_peer.clone())
                .is_err()
            {
                tracing::info!(pid = hello.pid, "a second window was refused");
                drop(to_peer);
                let _ = writer.await;
                return;
            }
        }
        Role::Launcher => {
            tracing::info!(pid = hello.pid, "Kith was launched again");
            let _ = to_peer.send(FromTray::Welcome {
                version: crate::ipc::VERSION,
            });
        }
    }

    loop {
        let message = tokio::select! {
            read = codec::read_message::<ToTray, _>(&mut read, MAX_MESSAGE) => read,
            // The writer gave up on this peer (a write past its deadline).
            _ = to_peer.closed() => break,
        };
        match message {
            Ok(Some(ToTray::Request { id, request })) => {
                let shell = shell.clone();
                let to_peer = to_peer.clone();
                let role = hello.role;
                tokio::spawn(async move {
                    let name = request.name();
                    tracing::debug!(request = name, id, "IPC request");
                    let answer = answer(&shell, role, request).await;
                    let _ = to_peer.send(FromTray::Answer { id, answer });
                });
            }
            Ok(Some(ToTray::Hello(_))) => {
                tracing::warn!(connection, "a second hello on one IPC connection; ignored");
            }
            Ok(None) => break,
            Err(CodecError::Oversize { size, max }) => {
                tracing::warn!(
                    size,
                    max,
                    connection,
                    "an oversize IPC message; dropping the peer"
                );
                break;
            }
            Err(error) => {
                tracing::warn!(%error, connection, "dropping an IPC peer");
                break;
            }
        }
    }
    if hello.role == Role::Window {
        shell.windows.detach(connection);
    }
    drop(to_peer);
    writer.abort();
}

/// Does what a request asks.
async fn answer(shell: &Arc<Shell>, role: Role, request: Request) -> Answer {
    if role == Role::Launcher && !matches!(request, Request::OpenWindow { .. }) {
        return Err("a second launch of Kith may only open its window".into());
    }
    match request {
        Request::GetView => {
            let view = shell.full_view();
            serde_json::to_string(&view)
                .and_then(serde_json::value::RawValue::from_string)
                .map(Reply::View)
                .map_err(|error| format!("cannot send the view: {error}"))
        }
        Request::SignIn(request) => session_control::sign_in(shell, request)
            .await
            .map(|()| Reply::Done),
        Request::BeginBrowserSignIn(request) => {
            session_control::begin_browser_sign_in(shell, request)
                .await
                .map(Reply::BrowserUrl)
        }
        Request::FinishBrowserSignIn => session_control::finish_browser_sign_in(shell)
            .await
            .map(|()| Reply::Done),
        Request::CancelBrowserSignIn => {
            session_control::cancel_browser_sign_in(shell);
            Ok(Reply::Done)
        }
        Request::TryDemo => session_control::start_demo(shell)
            .await
            .map(|()| Reply::Done),
        Request::SignOut => {
            session_control::sign_out(shell).await;
            Ok(Reply::Done)
        }
        Request::ReconnectNow => {
            session_control::reconnect_now(shell).await;
            Ok(Reply::Done)
        }
        Request::SaveSettings(settings) => Ok(Reply::Settings(update_settings(shell, |current| {
            current.take_preferences(&settings)
        }))),
        Request::ChangeAlerts(change) => {
            crate::view_update::change_alerts(shell, &change).map(Reply::Settings)
        }
        Request::ProfileChosen(path) => {
            shell.choose_profile(path);
            Ok(Reply::Done)
        }
        Request::OpenWindow { friend } => {
            shell.windows.open(friend.as_deref());
            Ok(Reply::Done)
        }
    }
}
