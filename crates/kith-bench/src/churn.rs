//! Benchmark 5, token churn: 2-second access tokens for a minute while one friend's
//! status changes 100 times a second, every status unique. Kith (refreshing ahead of
//! expiry, handing over make-before-break) and, side by side on the same server and
//! the same updates, a naive client that does what the browser seeds do: refresh,
//! close the socket, reconnect with the new token (break-before-make). For each:
//! statuses received, gaps (sent, never seen), duplicates, order violations.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use kith_core::{ChangeCause, ConnectionState, Reason, SessionEvent};
use serde_json::Value;
use tokio::sync::watch;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

use crate::clients::profile;
use crate::results::{Churn, ChurnClient};
use crate::rig::{seeded_server, stop_server};
use crate::signin::{self, Grant};
use crate::Ctx;

const FRIEND: &str = "friend0";

pub async fn run(ctx: &Ctx) -> Result<Churn> {
    let ttl = Duration::from_secs(2);
    let duration = ctx.plan.churn;
    let per_second = 100u32;
    let mut config = kith_server::ServerConfig::in_process();
    config.access_ttl = ttl;
    let server = seeded_server(&ctx.bg, config, 1).await?;
    let admin = server.admin();
    let http = server.http_url();

    let (session, recorder) =
        signin::recorded(profile(&http, None), Arc::default(), "the first snapshot").await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let naive = tokio::spawn(naive_client(http.clone(), server.ws_url(), ttl, stop_rx));
    tokio::time::sleep(Duration::from_millis(500)).await;

    eprintln!(
        "churn: {per_second} updates/s for {} s with {} s access tokens",
        duration.as_secs(),
        ttl.as_secs()
    );
    let mut sent = Vec::new();
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second);
    while started.elapsed() < duration {
        tick.tick().await;
        let status = format!("s{}", sent.len() + 1);
        admin.set_status(FRIEND, &status)?;
        sent.push(status);
    }
    let last = sent.last().cloned().unwrap_or_default();
    let kith_done = recorder
        .wait_for(
            "the last update",
            started,
            Duration::from_secs(10),
            |e| matches!(e, SessionEvent::Presence(c) if c.to.as_deref() == Some(last.as_str())),
        )
        .await;
    // The naive client gets the same grace, then stops.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop_tx.send(true);
    let (naive_seen, naive_refreshes, naive_reconnects) = naive.await??;
    if let Err(error) = kith_done {
        eprintln!("  Kith did not see the last update: {error:#}");
    }

    let events = recorder.events();
    let first_resync = events
        .iter()
        .position(|(_, e)| matches!(e, SessionEvent::Resynced { .. }))
        .unwrap_or(0);
    let mut kith_seen = Vec::new();
    let mut resync_changes = 0;
    let (mut handovers, mut reconnects) = (0, 0);
    for (_, event) in &events[first_resync..] {
        match event {
            SessionEvent::Presence(c) if c.username == FRIEND => match (c.cause, &c.to) {
                (ChangeCause::Live, Some(to)) => kith_seen.push(to.to_string()),
                (ChangeCause::Resync, _) => resync_changes += 1,
                _ => {}
            },
            SessionEvent::State(c) if c.reason == Reason::Handover => handovers += 1,
            SessionEvent::State(c) if matches!(c.to, ConnectionState::Reconnecting { .. }) => {
                reconnects += 1
            }
            _ => {}
        }
    }
    let mut kith = tally(&sent, &kith_seen);
    kith.refreshes = session.tokens().refresh_requests();
    kith.handovers = handovers;
    kith.reconnects = reconnects;
    kith.resync_changes = resync_changes;
    let mut naive = tally(&sent, &naive_seen);
    naive.refreshes = naive_refreshes;
    naive.reconnects = naive_reconnects;
    let counters = admin.counters();
    eprintln!(
        "  Kith: {} of {} received, {} gaps, {} duplicates, {} refreshes, {} handovers, {} reconnects",
        kith.received,
        sent.len(),
        kith.gaps,
        kith.duplicates,
        kith.refreshes,
        kith.handovers,
        kith.reconnects
    );
    eprintln!(
        "  naive: {} received, {} gaps, {} duplicates, {} reconnects",
        naive.received, naive.gaps, naive.duplicates, naive.reconnects
    );
    session.stop().await;
    stop_server(&ctx.bg, server).await;
    Ok(Churn {
        duration_s: duration.as_secs_f64(),
        updates_per_s: f64::from(per_second),
        access_ttl_s: ttl.as_secs_f64(),
        sent: sent.len() as u64,
        kith,
        naive,
        server_refreshes: counters.refreshes,
        refresh_reuse: counters.refresh_reuse,
    })
}

/// Compares what was seen with what was sent.
fn tally(sent: &[String], seen: &[String]) -> ChurnClient {
    let index: HashMap<&str, usize> = sent
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let mut unique = HashSet::new();
    let (mut duplicates, mut out_of_order) = (0, 0);
    let mut highest: Option<usize> = None;
    for status in seen {
        let Some(&i) = index.get(status.as_str()) else {
            continue;
        };
        if !unique.insert(i) {
            duplicates += 1;
            continue;
        }
        if highest.is_some_and(|h| i < h) {
            out_of_order += 1;
        }
        highest = highest.max(Some(i));
    }
    ChurnClient {
        received: seen.len() as u64,
        gaps: (sent.len() - unique.len()) as u64,
        duplicates,
        out_of_order,
        ..ChurnClient::default()
    }
}

/// The seeds' pattern: a socket per access token; before the token runs out, refresh,
/// close the socket and open a new one. Shows what the friend's status was whenever it
/// changed, from snapshots and updates alike. Returns (statuses, refreshes, reconnects).
async fn naive_client(
    http: String,
    ws_url: String,
    ttl: Duration,
    mut stop: watch::Receiver<bool>,
) -> Result<(Vec<String>, u64, u64)> {
    let client = reqwest::Client::new();
    let mut grant = signin::grant(&client, &http).await?;
    let (mut seen, mut refreshes, mut reconnects) = (Vec::<String>::new(), 0, 0);
    let show = |status: Option<&str>, seen: &mut Vec<String>| {
        if let Some(status) = status {
            if seen.last().map(String::as_str) != Some(status) {
                seen.push(status.to_owned());
            }
        }
    };
    loop {
        if *stop.borrow() {
            break;
        }
        let renew_at = tokio::time::Instant::now() + ttl.mul_f64(0.75);
        match connect_async(format!("{ws_url}?token={}", grant.access)).await {
            Ok((mut ws, _)) => loop {
                tokio::select! {
                    frame = ws.next() => match frame {
                        Some(Ok(Message::Text(text))) => {
                            let Ok(value) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                            show(friend_status(&value).as_deref(), &mut seen);
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                    _ = tokio::time::sleep_until(renew_at) => {
                        let _ = ws.close(None).await;
                        break;
                    }
                    _ = stop.changed() => {
                        let _ = ws.close(None).await;
                        return Ok((seen, refreshes, reconnects));
                    }
                }
            },
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
        reconnects += 1;
        let response = client
            .post(format!("{http}/api/auth/token/refresh/"))
            .json(&serde_json::json!({"refresh": grant.refresh}))
            .send()
            .await
            .context("refresh")?;
        refreshes += 1;
        if !response.status().is_success() {
            bail!("the naive client's refresh failed: {}", response.status());
        }
        grant = response.json::<Grant>().await?;
    }
    Ok((seen, refreshes, reconnects))
}

/// The friend's status in a snapshot or update, if the message has it.
fn friend_status(value: &Value) -> Option<String> {
    let status_of = |v: &Value| -> Option<String> {
        if v.get("username")?.as_str()? != FRIEND {
            return None;
        }
        v.get("status")?.as_str().map(str::to_owned)
    };
    match value.get("type")?.as_str()? {
        "status_update" => status_of(value),
        "presence_snapshot" => value.get("friends")?.as_array()?.iter().find_map(status_of),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_counts_gaps_duplicates_and_order() {
        let sent: Vec<String> = (1..=5).map(|i| format!("s{i}")).collect();
        let seen: Vec<String> = ["s1", "s3", "s2", "s3", "s5"].map(String::from).to_vec();
        let t = tally(&sent, &seen);
        assert_eq!(
            (t.received, t.gaps, t.duplicates, t.out_of_order),
            (5, 1, 1, 1)
        );
    }
}
