//! Benchmark 1, pipeline throughput: the same pre-serialised `status_update` frames
//! from a loopback blaster through baselines (a), (b) and (c), a real Kith session, and
//! the same session reading through a `[messages]` mapping. Each run measures all of
//! them, in a rotating order, against a fresh blaster.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use kith_core::protocol::{parse_server_message, MappedReader, ServerMessage};
use kith_core::{ChangeCause, PresenceStore};

use crate::blaster::{Blast, Body};
use crate::clients::{
    baseline_client, kith_client, mapped_profile, profile, raw_client, seed_world, FlatFrames,
    FlatStore, FrameReader, TaggedFrames,
};
use crate::results::Throughput;
use crate::rig::{long_lived_config, spawn_server, stop_server};
use crate::stats::Stat;
use crate::{frames, Ctx};

/// The clients of a run, in the order of their first turn. Their rates are kept at
/// `client as usize`, so [`CLIENTS`] lists every one in declaration order.
#[derive(Clone, Copy, Debug)]
enum Client {
    Raw,
    Serde,
    Tagged,
    Kith,
    KithMapped,
}

const CLIENTS: [Client; 5] = [
    Client::Raw,
    Client::Serde,
    Client::Tagged,
    Client::Kith,
    Client::KithMapped,
];

/// The one-thread computations, in the order of their first turn; kept at
/// `compute as usize`, like [`Client`].
#[derive(Clone, Copy, Debug)]
enum Compute {
    Kith,
    Mapped,
    Flat,
    Tagged,
}

const COMPUTES: [Compute; 4] = [
    Compute::Kith,
    Compute::Mapped,
    Compute::Flat,
    Compute::Tagged,
];

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
    let mapped = mapped_profile(&http)?;
    let mut rates: [Vec<f64>; CLIENTS.len()] = Default::default();
    for run in 0..ctx.plan.throughput_runs {
        for k in 0..CLIENTS.len() {
            let client = CLIENTS[(run + k) % CLIENTS.len()];
            let mut blast =
                Blast::start(&ctx.bg, snapshot.clone(), Body::Burst(burst.clone())).await?;
            let kith_profile = match client {
                Client::KithMapped => mapped.clone(),
                _ => profile(&http, None),
            };
            // Each client runs as a task on the 2-worker runtime, as the desktop app's
            // event consumer does.
            let task = tokio::spawn(async move {
                let limit = Duration::from_secs(120);
                let friends = users as usize;
                let took = match client {
                    Client::Raw => tokio::time::timeout(limit, raw_client(&mut blast, n)).await,
                    Client::Serde => {
                        let read = baseline_client::<FlatFrames>(&mut blast, n, |_| {});
                        tokio::time::timeout(limit, read).await
                    }
                    Client::Tagged => {
                        let read = baseline_client::<TaggedFrames>(&mut blast, n, |_| {});
                        tokio::time::timeout(limit, read).await
                    }
                    Client::Kith | Client::KithMapped => {
                        let read = kith_client(kith_profile, &mut blast, friends, n, |_| {});
                        tokio::time::timeout(limit, read).await
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
            rates[client as usize].push(rate);
        }
    }
    stop_server(&ctx.bg, server).await;
    let m = n.min(200_000);
    let texts: Vec<String> = (0..m)
        .map(|i| frames::status_update(i, users, frames::LAST_SEEN))
        .collect();
    let snapshot_text = frames::start_snapshot(users);
    let mapping = Arc::new(
        mapped
            .messages
            .clone()
            .context("the mapped profile has no mapping")?,
    );
    let mut compute: [Vec<f64>; COMPUTES.len()] = Default::default();
    for run in 0..ctx.plan.throughput_runs {
        for k in 0..COMPUTES.len() {
            let which = COMPUTES[(run + k) % COMPUTES.len()];
            let ns = tokio::task::block_in_place(|| match which {
                Compute::Kith => kith_compute(&texts, &snapshot_text),
                Compute::Mapped => {
                    mapped_compute(MappedReader::new(mapping.clone()), &texts, &snapshot_text)
                }
                Compute::Flat => baseline_compute::<FlatFrames>(&texts, &snapshot_text),
                Compute::Tagged => baseline_compute::<TaggedFrames>(&texts, &snapshot_text),
            })?;
            compute[which as usize].push(ns);
        }
    }
    let [compute_kith, compute_mapped, compute_serde, compute_tagged] = compute.map(Stat::of);
    eprintln!(
        "  one thread, no I/O: Kith {:.0} ns/msg, Kith mapped {:.0} ns/msg, baseline (b) {:.0} ns/msg, baseline (c) {:.0} ns/msg",
        compute_kith.median, compute_mapped.median, compute_serde.median, compute_tagged.median
    );
    let [raw, serde, tagged, kith, kith_mapped] = rates.map(Stat::of);
    Ok(Throughput {
        frames: n,
        users,
        frame_bytes,
        kith_vs_raw: kith.ratio_to(&raw),
        kith_vs_serde: kith.ratio_to(&serde),
        kith_vs_tagged: kith.ratio_to(&tagged),
        serde_vs_raw: serde.ratio_to(&raw),
        tagged_vs_raw: tagged.ratio_to(&raw),
        mapped_vs_kith: kith_mapped.ratio_to(&kith),
        compute_messages: m,
        compute_ratio: compute_kith.ratio_to(&compute_serde),
        compute_kith_ns: compute_kith,
        compute_serde_ns: compute_serde,
        compute_tagged_ns: compute_tagged,
        compute_mapped_ns: compute_mapped,
        raw,
        serde,
        tagged,
        kith,
        kith_mapped,
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

/// The same as [`kith_compute`], each text read through the `[messages]` mapping.
fn mapped_compute(mut reader: MappedReader, texts: &[String], snapshot: &str) -> Result<f64> {
    let mut store = PresenceStore::new();
    let Ok(ServerMessage::Snapshot { friends, .. }) = reader.read_text(snapshot, 64 << 20) else {
        bail!("not a snapshot through the mapping");
    };
    store.apply_snapshot(friends, ChangeCause::Resync);
    ns_per_change(texts, |text| {
        Ok(match reader.read_text(text, 1 << 20)? {
            ServerMessage::StatusUpdate(record) => store.apply_update(record).is_some(),
            _ => false,
        })
    })
}

/// Baseline (b)'s or (c)'s parse + apply of every text on one thread; nanoseconds per
/// message.
fn baseline_compute<R: FrameReader>(texts: &[String], snapshot: &str) -> Result<f64> {
    let mut store = FlatStore::default();
    store.apply_snapshot(R::snapshot(snapshot)?);
    ns_per_change(texts, |text| Ok(store.apply_text::<R>(text)?.is_some()))
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
