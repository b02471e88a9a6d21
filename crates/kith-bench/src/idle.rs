//! The processes the footprint benchmark measures from outside, started as
//! `kith-bench idle-kith | idle-minimal | sessions | sessions-minimal`.
//!
//! - `idle-kith`: one Kith session (memory credential store) whose events are drained
//!   and dropped; the same core `kith watch` runs, without the keyring and printing.
//! - `idle-minimal`: the baseline, a bare tokio-tungstenite client holding the same
//!   socket (with a ping every 20 s, as Kith's keepalive does by default).
//! - `sessions` / `sessions-minimal`: one, then N more of the above in one process,
//!   printing their own resident memory after each step as JSON lines.
//!
//! All use the runtime the `kith` CLI uses: multi-threaded, two workers.

use std::io::BufRead;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use futures_util::{SinkExt, StreamExt};
use kith_core::{MemoryStore, Secret, Session, SessionEvent};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

use crate::clients::{profile, wait_count};
use crate::procfs::own_rss_kib;

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn password_from_stdin() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("no password on stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

async fn kith_session(
    server: &str,
    username: &str,
    password: &str,
    resynced: Arc<AtomicU64>,
) -> Result<Session> {
    let mut session = Session::login(
        profile(server, None),
        Arc::new(MemoryStore::new()),
        username,
        Secret::new(password),
    )
    .await?;
    let mut events = session.take_events().context("events")?;
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if matches!(event, SessionEvent::Resynced { .. }) {
                resynced.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    Ok(session)
}

/// A bare socket: reads everything, pings every 20 s.
async fn minimal_socket(ws_url: String, connected: Arc<AtomicU64>) -> Result<()> {
    let (mut ws, _) = connect_async(ws_url.as_str()).await?;
    connected.fetch_add(1, Ordering::SeqCst);
    let mut ping = tokio::time::interval(Duration::from_secs(20));
    ping.tick().await;
    loop {
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(_)) => {}
                _ => return Ok(()),
            },
            _ = ping.tick() => ws.send(Message::Ping(Default::default())).await?,
        }
    }
}

pub fn idle_kith(server: String, username: String) -> Result<()> {
    let password = password_from_stdin()?;
    runtime()?.block_on(async move {
        let _session = kith_session(&server, &username, &password, Arc::default()).await?;
        std::future::pending::<()>().await;
        Ok(())
    })
}

pub fn idle_minimal(ws_url: String) -> Result<()> {
    runtime()?.block_on(minimal_socket(ws_url, Arc::default()))
}

/// Waits up to `limit` for `ready` to count `count` sessions or sockets (`what` names
/// them in the error), lets the process settle, then prints its RSS as stage `stage`.
async fn report_when_ready(
    ready: &AtomicU64,
    count: usize,
    limit: Duration,
    what: &str,
    settle: Duration,
    stage: &str,
) -> Result<()> {
    wait_count(ready, count as u64, limit, what).await?;
    tokio::time::sleep(settle).await;
    println!(
        "{}",
        serde_json::json!({"stage": stage, "count": count, "rss_kib": own_rss_kib()})
    );
    Ok(())
}

pub fn sessions(server: String, username: String, count: usize, settle: Duration) -> Result<()> {
    let password = password_from_stdin()?;
    runtime()?.block_on(async move {
        let resynced = Arc::new(AtomicU64::new(0));
        let mut sessions =
            vec![kith_session(&server, &username, &password, resynced.clone()).await?];
        let first = Duration::from_secs(30);
        report_when_ready(&resynced, 1, first, "the first session", settle, "base").await?;
        let mut pending = tokio::task::JoinSet::new();
        let mut launched = 0;
        while sessions.len() < count + 1 {
            while launched < count && pending.len() < 25 {
                let (server, username, password, resynced) = (
                    server.clone(),
                    username.clone(),
                    password.clone(),
                    resynced.clone(),
                );
                pending.spawn(async move {
                    kith_session(&server, &username, &password, resynced).await
                });
                launched += 1;
            }
            sessions.push(pending.join_next().await.context("login task")???);
        }
        let all = Duration::from_secs(120);
        report_when_ready(&resynced, count + 1, all, "every session", settle, "all").await?;
        std::future::pending::<()>().await;
        Ok(())
    })
}

pub fn sessions_minimal(ws_url: String, count: usize, settle: Duration) -> Result<()> {
    runtime()?.block_on(async move {
        let connected = Arc::new(AtomicU64::new(0));
        tokio::spawn(minimal_socket(ws_url.clone(), connected.clone()));
        let first = Duration::from_secs(30);
        report_when_ready(&connected, 1, first, "the first socket", settle, "base").await?;
        // In steps of 25, as the Kith sessions sign in, so the listener's backlog holds.
        for step in 0..count.div_ceil(25) {
            let upto = ((step + 1) * 25).min(count);
            for _ in step * 25..upto {
                tokio::spawn(minimal_socket(ws_url.clone(), connected.clone()));
            }
            wait_count(
                &connected,
                upto as u64 + 1,
                Duration::from_secs(30),
                "a step of sockets",
            )
            .await?;
        }
        let all = Duration::from_secs(120);
        report_when_ready(&connected, count + 1, all, "every socket", settle, "all").await?;
        std::future::pending::<()>().await;
        Ok(())
    })
}
