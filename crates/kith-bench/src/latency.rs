//! Benchmark 2, push → event latency at one message per millisecond: Kith and
//! baseline (b) side by side, each on its own paced blaster. The blaster writes its
//! clock reading (a process-wide monotonic epoch) into `last_seen`; the consumer
//! subtracts it from its own reading when the change reaches it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::blaster::{Blast, Body};
use crate::clients::{baseline_client, kith_client, profile, FlatFrames};
use crate::results::Latency;
use crate::rig::{long_lived_config, seeded_server, stop_server};
use crate::stats::{percentile, Stat};
use crate::{frames, Ctx};

fn since(sent: &str) -> Option<f64> {
    let sent: u64 = sent.parse().ok()?;
    Some(frames::clock_ns().saturating_sub(sent) as f64 / 1000.0)
}

pub async fn run(ctx: &Ctx) -> Result<Latency> {
    let n = ctx.plan.latency_msgs;
    let users = n.min(ctx.plan.users);
    let every = Duration::from_millis(1);
    let snapshot = Arc::new(frames::text_frame(&frames::start_snapshot(users)));
    let server = seeded_server(&ctx.bg, long_lived_config(), 0).await?;
    let http = server.http_url();
    let body = Body::Paced {
        count: n,
        users,
        every,
    };
    let mut kith = [Vec::new(), Vec::new(), Vec::new()];
    let mut serde = [Vec::new(), Vec::new(), Vec::new()];
    for run in 0..ctx.plan.runs {
        let mut kith_blast = Blast::start(&ctx.bg, snapshot.clone(), body.clone()).await?;
        let mut serde_blast = Blast::start(&ctx.bg, snapshot.clone(), body.clone()).await?;
        let http = http.clone();
        let limit = Duration::from_secs(60) + every * n as u32;
        // Separate tasks, so neither consumer waits for the other to be polled.
        let kith_task = tokio::spawn(async move {
            let mut samples = Vec::with_capacity(n as usize);
            let result = tokio::time::timeout(
                limit,
                kith_client(
                    profile(&http, None),
                    &mut kith_blast,
                    users as usize,
                    n,
                    |change| {
                        if let Some(sample) = change.last_seen.as_ref().and_then(|l| since(&l.0)) {
                            samples.push(sample);
                        }
                    },
                ),
            )
            .await;
            let _ = kith_blast.finish().await;
            result.map(|r| r.map(|_| samples))
        });
        let serde_task = tokio::spawn(async move {
            let mut samples = Vec::with_capacity(n as usize);
            let result = tokio::time::timeout(
                limit,
                baseline_client::<FlatFrames>(&mut serde_blast, n, |last_seen| {
                    if let Some(sample) = since(last_seen) {
                        samples.push(sample);
                    }
                }),
            )
            .await;
            let _ = serde_blast.finish().await;
            result.map(|r| r.map(|_| samples))
        });
        let mut k = kith_task.await?.context("Kith timed out")??;
        let mut s = serde_task.await?.context("baseline (b) timed out")??;
        eprintln!(
            "  run {}: Kith p50 {:.0} µs p99 {:.0} µs | baseline (b) p50 {:.0} µs p99 {:.0} µs",
            run + 1,
            percentile(&mut k, 50.0),
            percentile(&mut k, 99.0),
            percentile(&mut s, 50.0),
            percentile(&mut s, 99.0)
        );
        for (into, samples) in [(&mut kith, &mut k), (&mut serde, &mut s)] {
            into[0].push(percentile(samples, 50.0));
            into[1].push(percentile(samples, 99.0));
            into[2].push(percentile(samples, 100.0));
        }
    }
    stop_server(&ctx.bg, server).await;
    let [kp50, kp99, kmax] = kith.map(Stat::of);
    let [sp50, sp99, smax] = serde.map(Stat::of);
    Ok(Latency {
        messages: n,
        interval_ms: every.as_secs_f64() * 1000.0,
        p50_ratio: kp50.ratio_to(&sp50),
        p99_ratio: kp99.ratio_to(&sp99),
        kith_p50_us: kp50,
        kith_p99_us: kp99,
        kith_max_us: kmax,
        serde_p50_us: sp50,
        serde_p99_us: sp99,
        serde_max_us: smax,
    })
}
