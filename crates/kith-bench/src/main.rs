//! `kith-bench`: Kith's benchmark suite. `run` measures everything on 127.0.0.1 and
//! writes `results.json`; `report` renders BENCHMARKS.md and its SVG plots from it.
//! `cargo xtask bench` builds in release mode and does both.
//!
//! Absolute times on a shared machine are noise, so every figure is measured side by
//! side with a baseline in the same run and reported as a ratio, as the median of
//! several runs with min and max. Nothing here fails on a time; a benchmark fails only
//! when it cannot measure, or when a correctness check (an exact diff count) is off.

mod blaster;
mod churn;
mod clients;
mod footprint;
mod frames;
mod idle;
mod latency;
mod plot;
mod procfs;
mod recovery;
mod report;
mod results;
mod rig;
mod signin;
mod snapshot;
mod stats;
mod table;
mod throughput;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::results::Results;

#[derive(Parser)]
#[command(name = "kith-bench", about = "Kith's benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure everything and write the results as JSON.
    Run {
        #[arg(long, default_value = "target/bench/results.json")]
        out: PathBuf,
        /// The command line to record in the report.
        #[arg(long, default_value = "kith-bench run")]
        command: String,
        /// Smaller counts and shorter periods, for a smoke test (about a minute).
        #[arg(long)]
        quick: bool,
        /// Only these benchmarks (comma-separated): throughput, latency, snapshot,
        /// recovery, churn, footprint.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
    },
    /// Render BENCHMARKS.md and the SVG plots from results.json.
    Report {
        #[arg(long, default_value = "target/bench/results.json")]
        results: PathBuf,
        #[arg(long, default_value = "BENCHMARKS.md")]
        out: PathBuf,
        #[arg(long, default_value = "docs")]
        svg_dir: PathBuf,
        /// The desktop app's figures, from `cargo xtask footprint`.
        #[arg(long, default_value = "target/e2e/footprint.json")]
        app_footprint: PathBuf,
    },
    /// (footprint child) One idle Kith session; the password comes on stdin.
    #[command(hide = true)]
    IdleKith {
        #[arg(long)]
        server: String,
        #[arg(long)]
        username: String,
    },
    /// (footprint child) One idle bare WebSocket.
    #[command(hide = true)]
    IdleMinimal {
        #[arg(long)]
        ws_url: String,
    },
    /// (footprint child) 1 + N Kith sessions, RSS after each step as JSON lines.
    #[command(hide = true)]
    Sessions {
        #[arg(long)]
        server: String,
        #[arg(long)]
        username: String,
        #[arg(long)]
        count: usize,
        #[arg(long, default_value_t = 5)]
        settle_s: u64,
    },
    /// (footprint child) 1 + N bare WebSockets, RSS after each step as JSON lines.
    #[command(hide = true)]
    SessionsMinimal {
        #[arg(long)]
        ws_url: String,
        #[arg(long)]
        count: usize,
        #[arg(long, default_value_t = 5)]
        settle_s: u64,
    },
}

/// Counts and durations of one `run`.
pub struct Plan {
    pub quick: bool,
    pub runs: usize,
    /// Throughput runs: each is short, and the machine's noise is widest there.
    pub throughput_runs: usize,
    pub frames: u64,
    pub users: u64,
    pub latency_msgs: u64,
    pub snapshot_friends: u64,
    pub snapshot_runs: usize,
    pub fleet: usize,
    pub churn: Duration,
    pub idle: Duration,
    pub sessions: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        let mut plan = if quick {
            Plan {
                quick,
                runs: 3,
                throughput_runs: 3,
                frames: 100_000,
                users: 5_000,
                latency_msgs: 1_000,
                snapshot_friends: 50_000,
                snapshot_runs: 3,
                fleet: 100,
                churn: Duration::from_secs(10),
                idle: Duration::from_secs(10),
                sessions: 100,
            }
        } else {
            Plan {
                quick,
                runs: 3,
                throughput_runs: 5,
                frames: 1_000_000,
                users: 5_000,
                latency_msgs: 5_000,
                snapshot_friends: 50_000,
                snapshot_runs: 5,
                fleet: 1_000,
                churn: Duration::from_secs(60),
                idle: Duration::from_secs(60),
                sessions: 1_000,
            }
        };
        // A fleet costs about four descriptors per client in this process (two sockets
        // each side); stay well inside the limit.
        if let Some(limit) = procfs::open_files_limit() {
            let most = (limit.saturating_sub(512) / 5) as usize;
            if plan.fleet > most {
                eprintln!("open-files limit {limit}: fleet and sessions reduced to {most}");
                plan.fleet = most;
                plan.sessions = plan.sessions.min(most);
            }
        }
        plan
    }
}

/// What every benchmark gets: the plan, and the runtime servers and blasters run on
/// (the clients under test run on the main runtime, two workers like the `kith` CLI).
pub struct Ctx {
    pub bg: tokio::runtime::Handle,
    pub plan: Plan,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            out,
            command,
            quick,
            only,
        } => run(out, command, quick, only),
        Command::Report {
            results,
            out,
            svg_dir,
            app_footprint,
        } => report::write(&results, &out, &svg_dir, &app_footprint).map(|()| ExitCode::SUCCESS),
        Command::IdleKith { server, username } => {
            idle::idle_kith(server, username).map(|()| ExitCode::SUCCESS)
        }
        Command::IdleMinimal { ws_url } => idle::idle_minimal(ws_url).map(|()| ExitCode::SUCCESS),
        Command::Sessions {
            server,
            username,
            count,
            settle_s,
        } => idle::sessions(server, username, count, Duration::from_secs(settle_s))
            .map(|()| ExitCode::SUCCESS),
        Command::SessionsMinimal {
            ws_url,
            count,
            settle_s,
        } => idle::sessions_minimal(ws_url, count, Duration::from_secs(settle_s))
            .map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("kith-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(out: PathBuf, command: String, quick: bool, only: Vec<String>) -> Result<ExitCode> {
    let want = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let bg = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-bg")
        .enable_all()
        .build()?;
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-clients")
        .enable_all()
        .build()?;
    let ctx = Ctx {
        bg: bg.handle().clone(),
        plan: Plan::new(quick),
    };
    let started = Instant::now();
    let mut results = Results {
        started_utc: utc_now(),
        command,
        quick,
        machine: procfs::machine(),
        versions: versions(),
        ..Results::default()
    };
    eprintln!(
        "kith-bench on {} ({} cores), load {}",
        results.machine.cpu, results.machine.cores, results.machine.load_before
    );
    clients.block_on(async {
        let failures = &mut results.failures;
        if want("throughput") {
            eprintln!(
                "throughput: {} frames × {} runs",
                ctx.plan.frames, ctx.plan.throughput_runs
            );
            results.throughput = keep(failures, "throughput", throughput::run(&ctx).await);
        }
        if want("latency") {
            eprintln!(
                "latency: {} messages at 1/ms × {} runs",
                ctx.plan.latency_msgs, ctx.plan.runs
            );
            results.latency = keep(failures, "latency", latency::run(&ctx).await);
        }
        if want("snapshot") {
            eprintln!(
                "snapshot: {} friends × {} runs",
                ctx.plan.snapshot_friends, ctx.plan.snapshot_runs
            );
            let plan = &ctx.plan;
            let result = tokio::task::block_in_place(|| snapshot::run(plan));
            results.snapshot = keep(failures, "snapshot", result);
        }
        if want("recovery") {
            if let Some((recovery, failed)) = keep(failures, "recovery", recovery::run(&ctx).await)
            {
                results.recovery = Some(recovery);
                failures.extend(failed);
            }
        }
        // Churn and the idle footprint each take a minute and barely load the
        // machine; they run together. The session count comes after.
        let (churn, idle) = tokio::join!(
            async {
                if want("churn") {
                    Some(churn::run(&ctx).await)
                } else {
                    None
                }
            },
            async {
                if want("footprint") {
                    Some(footprint::run_idle(&ctx).await)
                } else {
                    None
                }
            }
        );
        if let Some(churn) = churn {
            results.churn = keep(failures, "churn", churn);
        }
        if let Some(idle) = idle {
            results.footprint = keep(failures, "footprint", idle);
            if let Some(footprint) = results.footprint.as_mut() {
                let sessions = footprint::run_sessions(&ctx).await;
                footprint.sessions = keep(failures, "footprint, sessions", sessions);
            }
        }
    });
    drop(clients);
    bg.shutdown_timeout(Duration::from_secs(2));
    results.machine.load_after = procfs::load_average();
    results.took_s = started.elapsed().as_secs_f64();
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&results)?)
        .with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!(
        "kith-bench: done in {:.0} s; results in {}",
        results.took_s,
        out.display()
    );
    if results.failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "kith-bench: {} benchmark(s) failed:",
            results.failures.len()
        );
        for failure in &results.failures {
            eprintln!("  {failure}");
        }
        Ok(ExitCode::from(3))
    }
}

/// The value, or `None` with the error noted among the failures.
fn keep<T>(failures: &mut Vec<String>, name: &str, result: Result<T>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(error) => {
            eprintln!("{name} failed: {error:#}");
            failures.push(format!("{name}: {error:#}"));
            None
        }
    }
}

/// rustc's version and those of the crates on the measured path, from Cargo.lock.
fn versions() -> Vec<(String, String)> {
    let mut versions = vec![("kith-core".to_owned(), env!("CARGO_PKG_VERSION").to_owned())];
    if let Ok(out) = std::process::Command::new("rustc").arg("-V").output() {
        versions.insert(
            0,
            (
                "rustc".into(),
                String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            ),
        );
    }
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let mut name = "";
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = n.trim_matches('"');
        } else if let Some(v) = line.strip_prefix("version = ") {
            if [
                "tokio",
                "tokio-tungstenite",
                "tungstenite",
                "serde_json",
                "axum",
                "reqwest",
                "plotters",
            ]
            .contains(&name)
            {
                versions.push((name.to_owned(), v.trim_matches('"').to_owned()));
            }
        }
    }
    versions
}

/// Now as `YYYY-MM-DD HH:MM UTC`.
pub fn utc_now() -> String {
    format_utc(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

/// Seconds since the Unix epoch as `YYYY-MM-DD HH:MM UTC`.
pub fn format_utc(secs: u64) -> String {
    // humantime writes `2026-11-22T12:20:00Z`; the report wants `2026-11-22 12:20 UTC`.
    let at = UNIX_EPOCH + Duration::from_secs(secs);
    let text = humantime::format_rfc3339_seconds(at).to_string();
    format!("{} {} UTC", &text[..10], &text[11..16])
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::format_utc(1_795_350_000), "2026-11-22 12:20 UTC");
        assert_eq!(super::format_utc(951_782_400), "2000-02-29 00:00 UTC");
    }
}
