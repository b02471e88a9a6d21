//! Benchmark 4, recovery: the reference server goes down (every socket gets 1001) and
//! comes back on the same port with the same database.
//!
//! - One client: server accepting again → `Resynced`, split into the backoff delay that
//!   was still to run and the reconnect itself; baseline: a fresh session's first
//!   connect (`Connecting` → `Resynced`) on the same server.
//! - A fleet of sessions in this process (one account signed in N times): per-client
//!   recovery percentiles, and connect attempts (`Connecting` events) per 100 ms from
//!   the moment the server went down, against the schedule a fleet without jitter
//!   would follow (everyone at once, at each backoff ceiling).
//! - Half-open: the server stops reading and writing (`AdminHandle::set_silent`);
//!   time to the `KeepaliveTimeout` transition against ping interval + dead grace.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use kith_core::protocol::ReconnectPolicy;
use kith_core::socket::backoff::retry_ceiling;
use kith_core::{ConnectionState, Reason, ServerProfile, Session, SessionEvent};

use crate::clients::{login, profile, wait_count, Recorder};
use crate::results::{
    FleetRecovery, HalfOpen, Histogram, OutageRecovery, Recovery, SingleRecovery,
};
use crate::rig::{long_lived_config, seeded_server, stop_server, Restartable};
use crate::signin;
use crate::stats::{percentile, Stat};
use crate::Ctx;

const BIN: Duration = Duration::from_millis(100);
const FRIENDS: usize = 10;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The profile of the recovery runs: default backoff, a short stable period so runs
/// can follow each other.
fn recovery_profile(http_url: &str) -> ServerProfile {
    let mut profile = profile(http_url, None);
    profile.reconnect.stable_after = Duration::from_secs(2);
    profile
}

/// The outages of the recovery table, with how many runs each gets: the long ones
/// once, so that a full run stays within a few minutes.
fn outage_plan(ctx: &Ctx) -> Vec<(Duration, usize)> {
    let lengths: &[u64] = if ctx.plan.quick {
        &[2, 5]
    } else {
        &[2, 5, 15, 60]
    };
    lengths
        .iter()
        .map(|&s| {
            (
                Duration::from_secs(s),
                if s >= 15 { 1 } else { ctx.plan.runs },
            )
        })
        .collect()
}

pub async fn run(ctx: &Ctx) -> Result<(Recovery, Vec<String>)> {
    let policy = recovery_profile("http://127.0.0.1:1").reconnect;
    let plan = outage_plan(ctx);
    let mut failures = Vec::new();
    let mut recovery = Recovery {
        base_ms: ms(policy.base),
        cap_ms: ms(policy.cap),
        stable_after_ms: ms(policy.stable_after),
        downtime_ms: ms(plan[0].0),
        by_outage: plan
            .iter()
            .map(|(down, _)| OutageRecovery {
                down_ms: ms(*down),
                ..OutageRecovery::default()
            })
            .collect(),
        ..Recovery::default()
    };
    eprintln!("recovery: one client");
    match single(ctx, &plan).await {
        Ok(singles) => {
            recovery.single = singles.first().cloned();
            for (row, single) in recovery.by_outage.iter_mut().zip(singles) {
                row.single = Some(single);
            }
        }
        Err(error) => failures.push(format!("recovery, one client: {error:#}")),
    }
    eprintln!("recovery: {} clients", ctx.plan.fleet);
    match fleet(ctx, &plan, &policy).await {
        Ok(fleets) => {
            recovery.fleet = fleets.first().cloned();
            for (row, fleet) in recovery.by_outage.iter_mut().zip(fleets) {
                row.fleet = Some(fleet);
            }
        }
        Err(error) => failures.push(format!("recovery, fleet: {error:#}")),
    }
    eprintln!("recovery: half-open detection");
    match half_open(ctx).await {
        Ok(half_open) => recovery.half_open = Some(half_open),
        Err(error) => failures.push(format!("half-open detection: {error:#}")),
    }
    Ok((recovery, failures))
}

/// One client's view of one outage.
struct ClientOutage {
    resynced_at: Instant,
    attempts: Vec<Instant>,
    /// Backoff delay still to run when the server came back.
    waited: Duration,
    /// From the retry firing (or the restart, if later) to `Resynced`.
    reconnect: Duration,
}

struct Outage {
    down_at: Instant,
    up_at: Instant,
    clients: Vec<ClientOutage>,
    /// A fresh session's first connect to the just-restarted server, when asked for.
    fresh_connect: Option<Duration>,
}

/// Takes the server down for `down`, brings it back and waits until every recorder has
/// seen a `Resynced` after that. With `fresh`, a new session signs in as soon as the
/// server is back, and its first connect is timed: the baseline for a reconnect to a
/// just-restarted server.
async fn outage(
    server: &mut Restartable,
    recorders: &[Recorder],
    resynced: &AtomicU64,
    down: Duration,
    fresh: bool,
) -> Result<Outage> {
    let before = resynced.load(Ordering::SeqCst);
    let down_at = Instant::now();
    server.stop().await;
    tokio::time::sleep_until((down_at + down).into()).await;
    server.restart().await?;
    let up_at = Instant::now();
    let fresh_connect = if fresh {
        let (session, recorder) = signin::recorded(
            recovery_profile(&server.http_url()),
            Arc::default(),
            "the fresh session's snapshot",
        )
        .await?;
        tokio::spawn(session.stop());
        fresh_connect(&recorder)
    } else {
        None
    };
    wait_count(
        resynced,
        before + recorders.len() as u64,
        Duration::from_secs(90),
        "every client to resync",
    )
    .await?;
    // A client that reconnected to the old server while it drained is counted above
    // too: wait until every client has resynced since the restart.
    let deadline = Instant::now() + Duration::from_secs(90);
    let resynced_since_restart =
        |r: &Recorder| r.find_after(up_at, |e| matches!(e, SessionEvent::Resynced { .. }));
    while recorders
        .iter()
        .any(|r| resynced_since_restart(r).is_none())
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "a client has not resynced 90 s after the restart"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut clients = Vec::with_capacity(recorders.len());
    for recorder in recorders {
        let events = recorder.events();
        let resynced_at = events
            .iter()
            .find(|(at, e)| *at >= up_at && matches!(e, SessionEvent::Resynced { .. }))
            .map(|(at, _)| *at)
            .context("a client resynced before the server was back")?;
        let mut attempts = Vec::new();
        let mut scheduled = None;
        for (at, event) in &events {
            if *at < down_at || *at > resynced_at {
                continue;
            }
            if let SessionEvent::State(change) = event {
                match change.to {
                    ConnectionState::Connecting { .. } => attempts.push(*at),
                    ConnectionState::Reconnecting { .. } => {
                        scheduled = change.retry_at;
                    }
                    _ => {}
                }
            }
        }
        let fired = scheduled.map_or(up_at, |s: Instant| s.max(up_at));
        clients.push(ClientOutage {
            resynced_at,
            attempts,
            waited: fired.saturating_duration_since(up_at),
            reconnect: resynced_at.saturating_duration_since(fired),
        });
    }
    Ok(Outage {
        down_at,
        up_at,
        clients,
        fresh_connect,
    })
}

/// First `Connecting` → first `Resynced` of a fresh session.
fn fresh_connect(recorder: &Recorder) -> Option<Duration> {
    let events = recorder.events();
    let connecting = events.iter().find_map(|(at, e)| {
        matches!(e, SessionEvent::State(c) if matches!(c.to, ConnectionState::Connecting { .. }))
            .then_some(*at)
    })?;
    let resynced = events
        .iter()
        .find_map(|(at, e)| matches!(e, SessionEvent::Resynced { .. }).then_some(*at))?;
    Some(resynced.saturating_duration_since(connecting))
}

/// One client through each outage of `plan`, a fresh session each run.
async fn single(ctx: &Ctx, plan: &[(Duration, usize)]) -> Result<Vec<SingleRecovery>> {
    let mut server = Restartable::start(&ctx.bg, FRIENDS).await?;
    let resynced = Arc::new(AtomicU64::new(0));
    let mut results = Vec::with_capacity(plan.len());
    for &(down, runs) in plan {
        eprintln!("  outage of {} s", down.as_secs());
        let (mut recovery, mut waited, mut reconnect, mut fresh, mut outages) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for run in 0..runs {
            let (session, recorder) = signin::recorded(
                recovery_profile(&server.http_url()),
                resynced.clone(),
                "the first snapshot",
            )
            .await?;
            let outage = outage(
                &mut server,
                std::slice::from_ref(&recorder),
                &resynced,
                down,
                true,
            )
            .await?;
            fresh.push(ms(outage
                .fresh_connect
                .context("no first connect after the restart")?));
            let client = &outage.clients[0];
            outages.push(ms(outage.up_at - outage.down_at));
            recovery.push(ms(client.resynced_at - outage.up_at));
            waited.push(ms(client.waited));
            reconnect.push(ms(client.reconnect));
            eprintln!(
                "  run {}: fresh connect {:.1} ms; back {:.0} ms after the restart (backoff left {:.0} ms, reconnect {:.1} ms)",
                run + 1,
                fresh[run],
                recovery[run],
                waited[run],
                reconnect[run]
            );
            session.stop().await;
        }
        let (reconnect, fresh) = (Stat::of(reconnect), Stat::of(fresh));
        let outage = Stat::of(outages);
        let recovery = Stat::of(recovery);
        results.push(SingleRecovery {
            recovery_vs_outage: recovery.ratio_to(&outage),
            outage_ms: outage,
            recovery_ms: recovery,
            waited_ms: Stat::of(waited),
            reconnect_vs_fresh: reconnect.ratio_to(&fresh),
            reconnect_ms: reconnect,
            fresh_connect_ms: fresh,
        });
    }
    server.finish().await;
    Ok(results)
}

/// One fleet of sessions, signed in once, through each outage of `plan`.
async fn fleet(
    ctx: &Ctx,
    plan: &[(Duration, usize)],
    policy: &ReconnectPolicy,
) -> Result<Vec<FleetRecovery>> {
    let clients = ctx.plan.fleet;
    let mut server = Restartable::start(&ctx.bg, FRIENDS).await?;
    let http = server.http_url();
    let resynced = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut sessions: Vec<Session> = Vec::with_capacity(clients);
    let mut recorders = Vec::with_capacity(clients);
    // One account signed in `clients` times, 25 logins in flight at a time.
    let mut pending = tokio::task::JoinSet::new();
    let mut launched = 0;
    while sessions.len() < clients {
        while launched < clients && pending.len() < 25 {
            pending.spawn(login(recovery_profile(&http)));
            launched += 1;
        }
        let (session, events) = pending.join_next().await.context("login task")???;
        recorders.push(Recorder::start(events, resynced.clone()));
        sessions.push(session);
    }
    wait_count(
        &resynced,
        clients as u64,
        Duration::from_secs(120),
        "every first snapshot",
    )
    .await?;
    let login_s = started.elapsed().as_secs_f64();
    eprintln!("  {clients} sessions signed in and resynced in {login_s:.1} s");

    let mut results = Vec::with_capacity(plan.len());
    for &(down, runs) in plan {
        eprintln!("  outage of {} s", down.as_secs());
        results.push(fleet_outages(&mut server, &recorders, &resynced, down, runs, policy).await?);
        results.last_mut().expect("just pushed").login_s = login_s;
    }
    let mut stopping = tokio::task::JoinSet::new();
    for session in sessions {
        stopping.spawn(session.stop());
    }
    let _ = tokio::time::timeout(Duration::from_secs(20), async {
        while stopping.join_next().await.is_some() {}
    })
    .await;
    server.finish().await;
    Ok(results)
}

/// `runs` outages of `down` for a fleet that is signed in and connected.
async fn fleet_outages(
    server: &mut Restartable,
    recorders: &[Recorder],
    resynced: &AtomicU64,
    down: Duration,
    runs: usize,
    policy: &ReconnectPolicy,
) -> Result<FleetRecovery> {
    let clients = recorders.len();
    let (mut p50, mut p99, mut max, mut attempts, mut peak, mut outages) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let mut histogram = Histogram::default();
    for run in 0..runs {
        // Let the failure counters reset, so every run starts from the first backoff step.
        tokio::time::sleep(policy.stable_after + Duration::from_millis(500)).await;
        let outage = outage(server, recorders, resynced, down, false).await?;
        outages.push(ms(outage.up_at - outage.down_at));
        let mut recovered: Vec<f64> = outage
            .clients
            .iter()
            .map(|c| ms(c.resynced_at - outage.up_at))
            .collect();
        let total_attempts: usize = outage.clients.iter().map(|c| c.attempts.len()).sum();
        let h = histogram_of(&outage, policy);
        let run_peak = h.attempts.iter().copied().max().unwrap_or(0) as f64;
        p50.push(percentile(&mut recovered, 50.0));
        p99.push(percentile(&mut recovered, 99.0));
        max.push(percentile(&mut recovered, 100.0));
        attempts.push(total_attempts as f64 / clients as f64);
        peak.push(run_peak);
        eprintln!(
            "  run {}: recovered p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; {:.1} attempts per client; peak {run_peak} attempts per 100 ms",
            run + 1,
            p50[run],
            p99[run],
            max[run],
            attempts[run]
        );
        if run == 0 {
            histogram = h;
        }
    }
    let peak = Stat::of(peak);
    Ok(FleetRecovery {
        clients: clients as u64,
        login_s: 0.0,
        outage_ms: Stat::of(outages),
        p50_ms: Stat::of(p50),
        p99_ms: Stat::of(p99),
        max_ms: Stat::of(max),
        attempts_per_client: Stat::of(attempts),
        peak_vs_unjittered: Stat::of(peak.runs.iter().map(|p| p / clients as f64).collect()),
        peak_per_100ms: peak,
        histogram,
    })
}

/// Attempts and resyncs per 100 ms from the server going down, and the retry times of
/// a fleet without jitter.
fn histogram_of(outage: &Outage, policy: &ReconnectPolicy) -> Histogram {
    let end = outage
        .clients
        .iter()
        .map(|c| c.resynced_at)
        .max()
        .unwrap_or(outage.up_at);
    let bins = (end - outage.down_at).as_millis() as usize / BIN.as_millis() as usize + 2;
    let bin = |at: Instant| {
        (at.saturating_duration_since(outage.down_at).as_millis() / BIN.as_millis()) as usize
    };
    let mut attempts = vec![0u32; bins];
    let mut resynced = vec![0u32; bins];
    for client in &outage.clients {
        for at in &client.attempts {
            attempts[bin(*at).min(bins - 1)] += 1;
        }
        resynced[bin(client.resynced_at).min(bins - 1)] += 1;
    }
    let restart_at_ms = ms(outage.up_at - outage.down_at);
    // Without jitter, every client retries after exactly the ceiling of each attempt.
    let mut unjittered_ms = Vec::new();
    let mut t = Duration::ZERO;
    for attempt in 1..=64 {
        t += retry_ceiling(policy, attempt, t);
        unjittered_ms.push(ms(t));
        if ms(t) >= restart_at_ms {
            break;
        }
    }
    Histogram {
        bin_ms: ms(BIN),
        attempts,
        resynced,
        down_ms: ms(Duration::ZERO),
        restart_at_ms,
        unjittered_ms,
    }
}

async fn half_open(ctx: &Ctx) -> Result<HalfOpen> {
    let server = seeded_server(&ctx.bg, long_lived_config(), FRIENDS).await?;
    let admin = server.admin();
    let mut profile = recovery_profile(&server.http_url());
    profile.socket.ping_interval = Duration::from_secs(1);
    profile.socket.dead_grace = Duration::from_secs(1);
    profile.reconnect.base = Duration::from_millis(100);
    profile.reconnect.cap = Duration::from_secs(1);
    let bound = profile.socket.ping_interval + profile.socket.dead_grace;
    let ping_interval = profile.socket.ping_interval;
    let dead_grace = profile.socket.dead_grace;
    let (session, recorder) =
        signin::recorded(profile, Arc::default(), "the first snapshot").await?;
    let mut detected = Vec::new();
    let result: Result<()> =
        async {
            for run in 0..ctx.plan.runs {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let silent_at = Instant::now();
                admin.set_silent(true);
                let at = recorder
                .wait_for("keepalive timeout", silent_at, Duration::from_secs(10), |e| {
                    matches!(e, SessionEvent::State(c) if c.reason == Reason::KeepaliveTimeout)
                })
                .await;
                admin.set_silent(false);
                let at = at?;
                detected.push(ms(at - silent_at));
                eprintln!(
                    "  run {}: silence detected after {:.0} ms (bound {:.0} ms)",
                    run + 1,
                    detected[run],
                    ms(bound)
                );
                recorder
                    .wait_for("the resync", at, Duration::from_secs(15), |e| {
                        matches!(e, SessionEvent::Resynced { .. })
                    })
                    .await?;
            }
            Ok(())
        }
        .await;
    session.stop().await;
    stop_server(&ctx.bg, server).await;
    result?;
    let detected = Stat::of(detected);
    Ok(HalfOpen {
        ping_interval_ms: ms(ping_interval),
        dead_grace_ms: ms(dead_grace),
        bound_ms: ms(bound),
        ratio_to_bound: Stat::of(detected.runs.iter().map(|d| d / ms(bound)).collect()),
        detected_ms: detected,
    })
}
