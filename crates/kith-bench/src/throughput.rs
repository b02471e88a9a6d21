//! Benchmark 1, pipeline throughput: the same pre-serialised `status_update` frames
//! from a loopback blaster through baseline (a), baseline (b) and a real Kith session.
//! Each run measures all three, in a rotating order, against a fresh blaster.

use std::sync::Arc;
use std::time::Duration;

use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use kith_core::protocol::{parse_server_message, ServerMessage};
use kith_core::{ChangeCause, PresenceStore};

use crate::blaster::{Blast, Body};
use crate::clients::{kith_client, raw_client, seed_world, serde_client, FlatSnapshot, FlatStore};
use crate::results::Throughput;
use crate::rig::{long_lived_config, spawn_server, stop_server};
use crate::stats::Stat;
use crate::{frames, Ctx};

#[derive(Clone, Copy, Debug)]
enum Client {
    Raw,
    Serde,
    Kith,
}

pub async fn run(ctx: &Ctx) -> Result<Throughput> {
    let (n, users) = (ctx.plan.frames, ctx.plan.users);
    eprintln!("throughput: building {n} frames over {users} users");
    let snapshot = Arc::new(frames::text_frame(&frames::start_snapshot(users)));
    let burst = Arc::new(frames::update_burst(n, users));
    let frame_bytes = burst.len() as f64 / n as f64;
    // The reference server only signs Kith in; its socket is the blaster's.
    let server = spawn_server(&ctx.bg, long_lived_config()).await?;
    seed_world(&server.admin(), 0)?;
    let http = server.http_url();
    let (mut raw, mut serde, mut kith) = (Vec::new(), Vec::new(), Vec::new());
    let clients = [Client::Raw, Client::Serde, Client::Kith];
    for run in 0..ctx.plan.throughput_runs {
        for k in 0..clients.len() {
            let client = clients[(run + k) % clients.len()];
            let mut blast =
                Blast::start(&ctx.bg, snapshot.clone(), Body::Burst(burst.clone())).await?;
            let http = http.clone();
            // Each client runs as a task on the 2-worker runtime, as the desktop app's
            // event consumer does.
            let task = tokio::spawn(async move {
                let limit = Duration::from_secs(120);
                let took = match client {
                    Client::Raw => tokio::time::timeout(limit, raw_client(&mut blast, n)).await,
                    Client::Serde => {
                        tokio::time::timeout(limit, serde_client(&mut blast, n, |_| {})).await
                    }
                    Client::Kith => {
                        tokio::time::timeout(
                            limit,
                            kith_client(&http, &mut blast, users as usize, n, |_| {}),
                        )
                        .await
                    }
                };
                let _ = blast.finish().await;
                took
            });
            let took = task
                .await?
                .with_context(|| format!("{client:?} client timed out"))??;
            let rate = n as f64 / took.as_secs_f64();
            eprintln!("  run {}: {client:?} {:.0} msgs/s", run + 1, rate);
            match client {
                Client::Raw => raw.push(rate),
                Client::Serde => serde.push(rate),
                Client::Kith => kith.push(rate),
            }
        }
    }
    stop_server(&ctx.bg, server).await;
    let m = n.min(200_000);
    let texts: Vec<String> = (0..m)
        .map(|i| frames::status_update(i, users, frames::LAST_SEEN))
        .collect();
    let snapshot_text = frames::start_snapshot(users);
    let (mut compute_kith, mut compute_serde) = (Vec::new(), Vec::new());
    for run in 0..ctx.plan.throughput_runs {
        for kith_turn in [run % 2 == 0, run % 2 == 1] {
            let ns = tokio::task::block_in_place(|| {
                if kith_turn {
                    kith_compute(&texts, &snapshot_text)
                } else {
                    flat_compute(&texts, &snapshot_text)
                }
            })?;
            if kith_turn {
                compute_kith.push(ns);
            } else {
                compute_serde.push(ns);
            }
        }
    }
    eprintln!(
        "  one thread, no I/O: Kith {:.0} ns/msg, baseline (b) {:.0} ns/msg",
        Stat::of(compute_kith.clone()).median,
        Stat::of(compute_serde.clone()).median
    );
    let (compute_kith, compute_serde) = (Stat::of(compute_kith), Stat::of(compute_serde));
    let (raw, serde, kith) = (Stat::of(raw), Stat::of(serde), Stat::of(kith));
    Ok(Throughput {
        frames: n,
        users,
        frame_bytes,
        kith_vs_raw: kith.ratio_to(&raw),
        kith_vs_serde: kith.ratio_to(&serde),
        serde_vs_raw: serde.ratio_to(&raw),
        compute_messages: m,
        compute_ratio: compute_kith.ratio_to(&compute_serde),
        compute_kith_ns: compute_kith,
        compute_serde_ns: compute_serde,
        raw,
        serde,
        kith,
    })
}

/// Kith's parse + apply + diff of every text on one thread; nanoseconds per message.
fn kith_compute(texts: &[String], snapshot: &str) -> Result<f64> {
    let mut store = PresenceStore::new();
    let Ok(ServerMessage::Snapshot { friends, .. }) = parse_server_message(snapshot, 64 << 20)
    else {
        bail!("not a snapshot");
    };
    store.apply_snapshot(friends, ChangeCause::Resync);
    ns_per_change(texts, |text| {
        Ok(match parse_server_message(text, 1 << 20)? {
            ServerMessage::StatusUpdate(record) => store.apply_update(record).is_some(),
            _ => false,
        })
    })
}

/// Baseline (b)'s parse + apply of every text on one thread; nanoseconds per message.
fn flat_compute(texts: &[String], snapshot: &str) -> Result<f64> {
    let mut store = FlatStore::default();
    let parsed: FlatSnapshot<'_> = serde_json::from_str(snapshot)?;
    store.apply_snapshot(parsed.friends);
    ns_per_change(texts, |text| Ok(store.apply_text(text)?.is_some()))
}

/// Times `apply` over every text, checks that each was a change, and gives nanoseconds
/// per message.
fn ns_per_change(texts: &[String], mut apply: impl FnMut(&str) -> Result<bool>) -> Result<f64> {
    let started = Instant::now();
    let mut changes = 0;
    for text in texts {
        changes += usize::from(apply(text)?);
    }
    let took = started.elapsed();
    ensure!(
        changes == texts.len(),
        "{changes} changes for {} updates",
        texts.len()
    );
    Ok(took.as_nanos() as f64 / texts.len() as f64)
}
