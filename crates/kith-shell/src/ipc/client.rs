//! The client side of the IPC: what the window role (and a second launch of the tray
//! role) uses. [`connect`] says hello and waits for the welcome; [`TrayClient::request`]
//! sends a request and waits, within the request's deadline, for its answer; everything
//! else the tray role sends ([`Inbound`]) comes out of a channel in the order it was
//! sent. The channel closes when the tray role goes away: the window role then exits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::BufReader;
use tokio::sync::{mpsc, oneshot};

use super::codec::{self, CodecError};
use super::socket::{self, Endpoint};
use super::{
    version_mismatch, Answer, FromTray, Hello, Refusal, Reply, Request, Role, ToTray,
    HELLO_DEADLINE, MAX_MESSAGE, VERSION, WRITE_DEADLINE,
};

/// What the tray role sends a client besides answers.
#[derive(Debug)]
pub enum Inbound {
    Event {
        event: String,
        payload: Box<serde_json::value::RawValue>,
    },
    Raise {
        friend: Option<String>,
    },
    Toggle,
    Close,
}

/// Why a client could not talk to the tray role.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No tray role listens (no socket, or a stale one).
    #[error("Kith's tray process is not running")]
    NotRunning,
    #[error("cannot reach Kith's tray process: {0}")]
    Connect(std::io::Error),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("Kith's tray process refused this window: {detail}")]
    Refused { refusal: Refusal, detail: String },
    #[error("Kith's tray process did not welcome this window")]
    NoWelcome,
}

/// A connection to the tray role, shared by the window role's commands.
pub struct TrayClient {
    next_id: AtomicU64,
    pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Answer>>>>,
    out: mpsc::UnboundedSender<ToTray>,
}

/// Connects as `role`, says hello and waits for the welcome. The returned channel
/// carries what the tray role sends besides answers, and closes when it goes away.
pub async fn connect(
    endpoint: &Endpoint,
    role: Role,
) -> Result<(Arc<TrayClient>, mpsc::UnboundedReceiver<Inbound>), ClientError> {
    let stream = socket::connect(endpoint).await.map_err(|error| {
        if socket::nobody_listens(&error) {
            ClientError::NotRunning
        } else {
            ClientError::Connect(error)
        }
    })?;
    let (read, mut write) = tokio::io::split(stream);
    let mut read = BufReader::new(read);
    codec::write_message(
        &mut write,
        &ToTray::Hello(Hello::new(role)),
        MAX_MESSAGE,
        WRITE_DEADLINE,
    )
    .await?;
    let welcome = codec::within(
        HELLO_DEADLINE,
        codec::read_message::<FromTray, _>(&mut read, MAX_MESSAGE),
    )
    .await?;
    match welcome {
        Some(FromTray::Welcome { version }) if version == VERSION => {}
        Some(FromTray::Welcome { version }) => {
            return Err(ClientError::Refused {
                refusal: Refusal::Version,
                detail: version_mismatch(VERSION, version),
            })
        }
        Some(FromTray::Refused { refusal, detail }) => {
            return Err(ClientError::Refused { refusal, detail })
        }
        _ => return Err(ClientError::NoWelcome),
    }

    let (out, mut outgoing) = mpsc::unbounded_channel::<ToTray>();
    tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            if let Err(error) =
                codec::write_message(&mut write, &message, MAX_MESSAGE, WRITE_DEADLINE).await
            {
                tracing::warn!(%error, "cannot write to Kith's tray process");
                break;
            }
        }
    });
    let pending: Arc<Mutex<HashMap<u64, oneshot::Sender<Answer>>>> = Arc::default();
    let (inbound, received) = mpsc::unbounded_channel();
    let answers = pending.clone();
    tokio::spawn(async move {
        loop {
            match codec::read_message::<FromTray, _>(&mut read, MAX_MESSAGE).await {
                Ok(Some(FromTray::Answer { id, answer })) => {
                    let waiting = lock(&answers).remove(&id);
                    if let Some(waiting) = waiting {
                        let _ = waiting.send(answer);
                    }
                }
                Ok(Some(FromTray::Event { event, payload })) => {
                    let _ = inbound.send(Inbound::Event { event, payload });
                }
                Ok(Some(FromTray::Raise { friend })) => {
                    let _ = inbound.send(Inbound::Raise { friend });
                }
                Ok(Some(FromTray::Toggle)) => {
                    let _ = inbound.send(Inbound::Toggle);
                }
                Ok(Some(FromTray::Close)) => {
                    let _ = inbound.send(Inbound::Close);
                }
                Ok(Some(other)) => tracing::debug!(?other, "ignored an IPC message"),
                Ok(None) => {
                    tracing::info!("Kith's tray process closed the connection");
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "the connection to Kith's tray process failed");
                    break;
                }
            }
        }
        // Every request still waiting hears that the tray role is gone.
        lock(&answers).clear();
    });
    Ok((
        Arc::new(TrayClient {
            next_id: AtomicU64::new(1),
            pending,
            out,
        }),
        received,
    ))
}

impl TrayClient {
    /// Sends `request` and waits for its answer, at most [`Request::deadline`].
    /// The error is text for the page.
    pub async fn request(&self, request: Request) -> Result<Reply, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let deadline = request.deadline();
        let name = request.name();
        let (sender, receiver) = oneshot::channel();
        lock(&self.pending).insert(id, sender);
        if self.out.send(ToTray::Request { id, request }).is_err() {
            lock(&self.pending).remove(&id);
            return Err(gone());
        }
        match tokio::time::timeout(deadline, receiver).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(gone()),
            Err(_) => {
                lock(&self.pending).remove(&id);
                tracing::warn!(request = name, ?deadline, "no answer from the tray process");
                Err(format!(
                    "Kith's tray process did not answer within {} s.",
                    deadline.as_secs()
                ))
            }
        }
    }
}

fn gone() -> String {
    "Kith's tray process has gone: start Kith again.".to_string()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
