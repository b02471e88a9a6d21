//! Benchmark 6, footprint: resident memory and wakeups of idle clients, measured from
//! outside through /proc, each process next to a baseline in the same run.
//!
//! - `kith watch` (the release CLI), signed in through the OS keyring: run inside
//!   `dbus-run-session` with an unlocked gnome-keyring and throwaway HOME/XDG dirs,
//!   when those tools are installed;
//! - `kith-bench idle-kith`: the same core with a memory credential store;
//! - `kith-bench idle-minimal`: the baseline, a bare tokio-tungstenite socket.
//!
//! RSS after the idle period, wakeups per second = voluntary context switches summed
//! over all threads, delta over the idle period. Then one process with 1 + N Kith
//! sessions against one with 1 + N bare sockets: KiB per session = RSS delta ÷ N.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use kith_server::RunningServer;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use crate::clients::{PASSWORD, USER};
use crate::procfs::{self, ProcStats};
use crate::results::{Footprint, IdleRow, Sessions};
use crate::rig::{long_lived_config, seeded_server, stop_server};
use crate::{signin, Ctx};

/// The keyring session `kith watch` runs in; the empty line unlocks gnome-keyring.
const KEYRING_SCRIPT: &str = r#"set -e
echo "" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
exec "$KITH_BIN" --server "$KITH_SERVER" watch --username "$KITH_USER" --password-stdin <<<"$KITH_PASSWORD"
"#;

struct Measured {
    name: String,
    what: String,
    pid: u32,
    child: Child,
    /// `kith watch` runs under dbus-run-session; it gets SIGTERM, the session ends.
    term_pid: Option<u32>,
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// A server of their own for the measured processes (`me` and 10 friends), its HTTP
/// URL, and the socket URL with a token on it for the bare-socket baselines.
async fn footprint_server(ctx: &Ctx) -> Result<(RunningServer, String, String)> {
    let server = seeded_server(&ctx.bg, long_lived_config(), 10).await?;
    let http = server.http_url();
    let access = signin::grant(&reqwest::Client::new(), &http).await?.access;
    let ws = format!("{}?token={access}", server.ws_url());
    Ok((server, http, ws))
}

async fn with_password(mut command: Command) -> Result<Child> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    stdin.write_all(format!("{PASSWORD}\n").as_bytes()).await?;
    drop(stdin);
    Ok(child)
}

fn keyring_home() -> Result<PathBuf> {
    let home = std::env::temp_dir().join(format!("kith-bench-home-{}", std::process::id()));
    for dir in [".config", ".local/share", ".cache", ".local/state"] {
        std::fs::create_dir_all(home.join(dir))?;
    }
    let runtime = home.join("runtime");
    std::fs::create_dir_all(&runtime)?;
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700))?;
    Ok(home)
}

async fn start_kith_watch(kith: &Path, http: &str, home: &Path) -> Result<Measured> {
    let child = Command::new("dbus-run-session")
        .args(["--", "bash", "-c", KEYRING_SCRIPT])
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("XDG_RUNTIME_DIR", home.join("runtime"))
        .env("KITH_BIN", kith)
        .env("KITH_SERVER", http)
        .env("KITH_USER", USER)
        .env("KITH_PASSWORD", PASSWORD)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // dbus-daemon complains about its fd limit; nothing here needs reading.
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("dbus-run-session")?;
    let root = child.id().context("dbus-run-session exited")?;
    for _ in 0..100 {
        if let Some(pid) = procfs::descendant_running(root, kith) {
            return Ok(Measured {
                name: "`kith watch`".into(),
                what: "release CLI, keyring session (gnome-keyring in dbus-run-session)".into(),
                pid,
                child,
                term_pid: Some(pid),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("kith watch did not start under dbus-run-session")
}

fn measured(name: &str, what: &str, child: Child) -> Result<Measured> {
    Ok(Measured {
        name: name.into(),
        what: what.into(),
        pid: child.id().context("exited at once")?,
        child,
        term_pid: None,
    })
}

async fn end(mut m: Measured) {
    if let Some(pid) = m.term_pid {
        // SIGTERM: kith closes its socket with 1000 and exits; the D-Bus session follows.
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(5), m.child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = m.child.kill().await;
}

/// The idle processes, side by side, against a server of their own.
pub async fn run_idle(ctx: &Ctx) -> Result<Footprint> {
    let exe = std::env::current_exe()?;
    let kith = exe.with_file_name("kith");
    let (server, http, ws) = footprint_server(ctx).await?;
    let admin = server.admin();
    let mut notes = Vec::new();

    let mut procs = Vec::new();
    let keyring_tools = on_path("dbus-run-session") && on_path("gnome-keyring-daemon");
    let home = keyring_home()?;
    if !kith.is_file() {
        notes.push(format!(
            "`kith watch` not measured: {} is not built",
            kith.display()
        ));
    } else if !keyring_tools {
        notes.push(
            "`kith watch` not measured: dbus-run-session or gnome-keyring-daemon is not installed"
                .into(),
        );
    } else {
        match start_kith_watch(&kith, &http, &home).await {
            Ok(m) => procs.push(m),
            Err(error) => notes.push(format!("`kith watch` not measured: {error:#}")),
        }
    }
    let mut idle_kith = Command::new(&exe);
    idle_kith.args(["idle-kith", "--server", &http, "--username", USER]);
    procs.push(measured(
        "Kith session",
        "`kith-bench idle-kith`: the same core, memory credential store",
        with_password(idle_kith).await?,
    )?);
    let mut idle_minimal = Command::new(&exe);
    idle_minimal.args(["idle-minimal", "--ws-url", &ws]);
    procs.push(measured(
        "baseline",
        "`kith-bench idle-minimal`: bare tokio-tungstenite socket",
        with_password(idle_minimal).await?,
    )?);

    // Signed in, snapshot read, first event printed; then idle.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let open = admin.counters().open_sockets;
    if open < procs.len() as u64 {
        notes.push(format!(
            "only {open} of {} idle clients had a socket open",
            procs.len()
        ));
    }
    let idle = ctx.plan.idle;
    eprintln!(
        "footprint: {} idle processes for {} s",
        procs.len(),
        idle.as_secs()
    );
    let before: Vec<Option<ProcStats>> = procs.iter().map(|m| procfs::stats(m.pid)).collect();
    tokio::time::sleep(idle).await;
    let mut rows = Vec::new();
    for (m, before) in procs.iter().zip(before) {
        let (Some(before), Some(after)) = (before, procfs::stats(m.pid)) else {
            notes.push(format!("{} exited during the idle period", m.name));
            continue;
        };
        let row = IdleRow {
            name: m.name.clone(),
            what: m.what.clone(),
            rss_kib: after.rss_kib,
            wakeups_per_s: procfs::wakeups_per_s(&before, &after, idle),
            threads: after.threads,
        };
        eprintln!(
            "  {}: {} KiB RSS, {:.2} wakeups/s, {} threads",
            row.name, row.rss_kib, row.wakeups_per_s, row.threads
        );
        rows.push(row);
    }
    for m in procs {
        end(m).await;
    }
    let _ = std::fs::remove_dir_all(&home);
    stop_server(&ctx.bg, server).await;
    Ok(Footprint {
        idle_s: idle.as_secs_f64(),
        idle: rows,
        sessions: None,
        notes,
    })
}

/// One process with 1 + N Kith sessions and one with 1 + N bare sockets, against a
/// server of their own.
pub async fn run_sessions(ctx: &Ctx) -> Result<Sessions> {
    let exe = std::env::current_exe()?;
    let (server, http, ws) = footprint_server(ctx).await?;
    let result = sessions(ctx, &exe, &http, &ws).await;
    stop_server(&ctx.bg, server).await;
    result
}

#[derive(Deserialize)]
struct Stage {
    stage: String,
    rss_kib: u64,
}

/// Starts a `sessions` child and reads its base and full RSS.
async fn stages(mut child: Child) -> Result<(Child, u64, u64)> {
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let (mut base, mut all) = (None, None);
    while all.is_none() {
        let line = lines
            .next_line()
            .await?
            .context("the sessions process ended")?;
        let stage: Stage = serde_json::from_str(&line)?;
        match stage.stage.as_str() {
            "base" => base = Some(stage.rss_kib),
            _ => all = Some(stage.rss_kib),
        }
    }
    Ok((
        child,
        base.context("no base stage")?,
        all.unwrap_or_default(),
    ))
}

async fn sessions(ctx: &Ctx, exe: &Path, http: &str, ws: &str) -> Result<Sessions> {
    let count = ctx.plan.sessions;
    let settle = if ctx.plan.quick { "2" } else { "5" };
    let mut kith = Command::new(exe);
    kith.args(["sessions", "--server", http, "--username", USER, "--count"])
        .arg(count.to_string())
        .args(["--settle-s", settle]);
    let mut minimal = Command::new(exe);
    minimal
        .args(["sessions-minimal", "--ws-url", ws, "--count"])
        .arg(count.to_string())
        .args(["--settle-s", settle]);
    eprintln!("footprint: 1 + {count} Kith sessions, 1 + {count} bare sockets");
    let limit = Duration::from_secs(180);
    let (k, m) = tokio::join!(
        tokio::time::timeout(limit, async { stages(with_password(kith).await?).await }),
        tokio::time::timeout(limit, async { stages(with_password(minimal).await?).await }),
    );
    let (mut kith, kith_base, kith_all) = k.context("Kith sessions timed out")??;
    let (mut minimal, minimal_base, minimal_all) = m.context("bare sockets timed out")??;
    let window = Duration::from_secs(if ctx.plan.quick { 5 } else { 20 });
    let pids = (kith.id().unwrap_or(0), minimal.id().unwrap_or(0));
    let before = (procfs::stats(pids.0), procfs::stats(pids.1));
    tokio::time::sleep(window).await;
    let after = (procfs::stats(pids.0), procfs::stats(pids.1));
    let rate = |b: Option<ProcStats>, a: Option<ProcStats>| match (b, a) {
        (Some(b), Some(a)) => procfs::wakeups_per_s(&b, &a, window),
        _ => f64::NAN,
    };
    let _ = kith.kill().await;
    let _ = minimal.kill().await;
    let per = |base: u64, all: u64| all.saturating_sub(base) as f64 / count as f64;
    let s = Sessions {
        count: count as u64,
        kith_base_kib: kith_base,
        kith_all_kib: kith_all,
        kith_kib_per_session: per(kith_base, kith_all),
        kith_wakeups_per_s: rate(before.0, after.0),
        minimal_base_kib: minimal_base,
        minimal_all_kib: minimal_all,
        minimal_kib_per_conn: per(minimal_base, minimal_all),
        minimal_wakeups_per_s: rate(before.1, after.1),
        ratio: per(kith_base, kith_all) / per(minimal_base, minimal_all),
    };
    eprintln!(
        "  Kith {:.0} KiB per session ({:.1} wakeups/s for all); bare socket {:.0} KiB ({:.1} wakeups/s)",
        s.kith_kib_per_session, s.kith_wakeups_per_s, s.minimal_kib_per_conn, s.minimal_wakeups_per_s
    );
    Ok(s)
}
