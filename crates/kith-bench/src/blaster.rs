//! The loopback blaster: a one-connection WebSocket "server" that only sends.
//!
//! It accepts any upgrade (the handshake is done by hand, so no server library sits
//! in the measured path), writes a `presence_snapshot`, waits for the client's go, then
//! either writes pre-built `status_update` frames as fast as the socket takes them
//! ([`Body::Burst`]) or one frame per interval carrying its send time ([`Body::Paced`]).
//! It then keeps the socket open until told to hang up. It runs on the background
//! runtime, so the clients under test keep their runtime's worker threads to
//! themselves.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::frames;

/// What follows the snapshot.
#[derive(Clone)]
pub enum Body {
    /// Frames already encoded, written in one go.
    Burst(Arc<Vec<u8>>),
    /// `count` updates over `users`, one per `every`, each with the send time
    /// ([`frames::clock_ns`]) as its `last_seen`.
    Paced {
        count: u64,
        users: u64,
        every: Duration,
    },
}

/// One blaster waiting for its one client.
pub struct Blast {
    pub url: String,
    go: Option<oneshot::Sender<()>>,
    hangup: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<()>>,
}

impl Blast {
    /// Listens on 127.0.0.1 (a free port) on the `bg` runtime.
    pub async fn start(bg: &Handle, snapshot: Arc<Vec<u8>>, body: Body) -> Result<Blast> {
        let listener = bg
            .spawn(TcpListener::bind("127.0.0.1:0"))
            .await?
            .context("blaster cannot bind")?;
        let url = format!("ws://{}/", listener.local_addr()?);
        let (go, go_rx) = oneshot::channel();
        let (hangup, hangup_rx) = oneshot::channel();
        let task = bg.spawn(async move {
            let (mut stream, _) = listener.accept().await?;
            drop(listener);
            stream.set_nodelay(true)?;
            handshake(&mut stream).await?;
            stream.write_all(&snapshot).await?;
            if go_rx.await.is_err() {
                return Ok(());
            }
            match body {
                Body::Burst(bytes) => stream.write_all(&bytes).await?,
                Body::Paced {
                    count,
                    users,
                    every,
                } => {
                    let mut tick = tokio::time::interval(every);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    let mut frame = Vec::with_capacity(256);
                    for i in 0..count {
                        tick.tick().await;
                        frame.clear();
                        let sent = frames::clock_ns().to_string();
                        let text = frames::status_update(i, users, &sent);
                        frames::push_text_frame(&mut frame, text.as_bytes());
                        stream.write_all(&frame).await?;
                    }
                }
            }
            let _ = hangup_rx.await;
            let _ = stream.shutdown().await;
            Ok(())
        });
        Ok(Blast {
            url,
            go: Some(go),
            hangup: Some(hangup),
            task,
        })
    }

    /// Starts the updates.
    pub fn go(&mut self) {
        if let Some(go) = self.go.take() {
            let _ = go.send(());
        }
    }

    /// Tells the blaster to close the TCP connection (no close frame).
    pub fn hang_up(&mut self) {
        if let Some(hangup) = self.hangup.take() {
            let _ = hangup.send(());
        }
    }

    /// Hangs up and waits for the blaster to end; its error, if it had one.
    pub async fn finish(mut self) -> Result<()> {
        self.hang_up();
        drop(self.go.take());
        self.task.await?
    }
}

/// Reads the upgrade request and answers 101 with the matching accept key.
async fn handshake(stream: &mut TcpStream) -> Result<()> {
    let mut request = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await?;
        if n == 0 || request.len() > 16 * 1024 {
            bail!("no complete upgrade request");
        }
        request.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&request);
    let key = text
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_owned())
        })
        .context("upgrade request without Sec-WebSocket-Key")?;
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    stream.write_all(response.as_bytes()).await?;
    Ok(())
}
