//! What `kith-bench run` writes to `results.json` and `kith-bench report` reads back:
//! every figure with its runs, so the report can be re-rendered without measuring.

use serde::{Deserialize, Serialize};

use crate::stats::Stat;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    pub started_utc: String,
    pub took_s: f64,
    pub command: String,
    pub quick: bool,
    pub machine: Machine,
    pub versions: Vec<(String, String)>,
    pub throughput: Option<Throughput>,
    pub latency: Option<Latency>,
    pub snapshot: Option<Snapshot>,
    pub recovery: Option<Recovery>,
    pub churn: Option<Churn>,
    pub footprint: Option<Footprint>,
    /// Benchmarks that could not run, with why.
    pub failures: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub load_before: String,
    pub load_after: String,
}

/// Messages per second from the go signal to the last message seen. Figures added
/// later default to empty (no runs), so older results still load and render.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Throughput {
    pub frames: u64,
    pub users: u64,
    pub frame_bytes: f64,
    /// Baseline (a), the raw read loop.
    pub raw: Stat,
    /// Baseline (b), serde_json into a flat struct.
    pub serde: Stat,
    /// Baseline (c), serde_json into a `#[serde(tag = "type")]` enum.
    #[serde(default)]
    pub tagged: Stat,
    /// Kith's default path (the fast reader).
    pub kith: Stat,
    /// Kith reading through a `[messages]` mapping of its own vocabulary.
    #[serde(default)]
    pub kith_mapped: Stat,
    pub kith_vs_raw: Stat,
    pub kith_vs_serde: Stat,
    #[serde(default)]
    pub kith_vs_tagged: Stat,
    pub serde_vs_raw: Stat,
    #[serde(default)]
    pub tagged_vs_raw: Stat,
    /// Kith with the mapping ÷ Kith's default path.
    #[serde(default)]
    pub mapped_vs_kith: Stat,
    /// The same parse + apply (+ diff) on one thread, no sockets, tasks or channels:
    /// nanoseconds per message.
    pub compute_messages: u64,
    pub compute_kith_ns: Stat,
    pub compute_serde_ns: Stat,
    #[serde(default)]
    pub compute_tagged_ns: Stat,
    #[serde(default)]
    pub compute_mapped_ns: Stat,
    /// Kith ÷ (b), time per message.
    pub compute_ratio: Stat,
}

/// Push (blaster write) to event (consumer receipt), microseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    pub messages: u64,
    pub interval_ms: f64,
    pub kith_p50_us: Stat,
    pub kith_p99_us: Stat,
    pub kith_max_us: Stat,
    pub serde_p50_us: Stat,
    pub serde_p99_us: Stat,
    pub serde_max_us: Stat,
    pub p50_ratio: Stat,
    pub p99_ratio: Stat,
}

/// Parse + apply + diff of one big snapshot, milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub friends: u64,
    pub bytes: usize,
    pub changed: u64,
    pub kith_full_ms: Stat,
    pub serde_full_ms: Stat,
    pub full_ratio: Stat,
    pub kith_reapply_ms: Stat,
    pub serde_reapply_ms: Stat,
    pub reapply_ratio: Stat,
    pub kith_full_diffs: u64,
    pub kith_reapply_diffs: u64,
    pub serde_reapply_diffs: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Recovery {
    pub base_ms: f64,
    pub cap_ms: f64,
    pub stable_after_ms: f64,
    pub downtime_ms: f64,
    pub single: Option<SingleRecovery>,
    pub fleet: Option<FleetRecovery>,
    pub half_open: Option<HalfOpen>,
    /// One client and the fleet through outages of several lengths (`single` and
    /// `fleet` above are the first of them, in detail).
    #[serde(default)]
    pub by_outage: Vec<OutageRecovery>,
}

/// Recovery from one length of outage.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OutageRecovery {
    /// How long the server was kept down.
    pub down_ms: f64,
    pub single: Option<SingleRecovery>,
    pub fleet: Option<FleetRecovery>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SingleRecovery {
    /// Shutdown begun → accepting again.
    pub outage_ms: Stat,
    /// Server accepting again → `Resynced`.
    pub recovery_ms: Stat,
    /// `recovery_ms` ÷ `outage_ms`, run by run.
    #[serde(default)]
    pub recovery_vs_outage: Stat,
    /// Of which: the backoff delay still to run when the server came back.
    pub waited_ms: Stat,
    /// Of which: the retry firing (or the restart, if later) → `Resynced`.
    pub reconnect_ms: Stat,
    /// Baseline: a fresh session's first `Connecting` → `Resynced`, same server.
    pub fresh_connect_ms: Stat,
    pub reconnect_vs_fresh: Stat,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FleetRecovery {
    pub clients: u64,
    pub login_s: f64,
    /// Shutdown begun → accepting again.
    pub outage_ms: Stat,
    pub p50_ms: Stat,
    pub p99_ms: Stat,
    pub max_ms: Stat,
    pub attempts_per_client: Stat,
    pub peak_per_100ms: Stat,
    /// Peak attempts in a 100 ms window ÷ clients (what a fleet without jitter reaches).
    pub peak_vs_unjittered: Stat,
    pub histogram: Histogram,
}

/// Connect attempts of a fleet per window, from the server going down.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Histogram {
    pub bin_ms: f64,
    pub attempts: Vec<u32>,
    pub resynced: Vec<u32>,
    pub down_ms: f64,
    pub restart_at_ms: f64,
    /// When every client would retry with the same delays and no jitter (ms after the
    /// close), each time all at once.
    pub unjittered_ms: Vec<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HalfOpen {
    pub ping_interval_ms: f64,
    pub dead_grace_ms: f64,
    pub bound_ms: f64,
    pub detected_ms: Stat,
    pub ratio_to_bound: Stat,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Churn {
    pub duration_s: f64,
    pub updates_per_s: f64,
    pub access_ttl_s: f64,
    pub sent: u64,
    pub kith: ChurnClient,
    pub naive: ChurnClient,
    pub server_refreshes: u64,
    pub refresh_reuse: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChurnClient {
    pub received: u64,
    pub gaps: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub refreshes: u64,
    pub handovers: u64,
    pub reconnects: u64,
    pub resync_changes: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Footprint {
    pub idle_s: f64,
    pub idle: Vec<IdleRow>,
    pub sessions: Option<Sessions>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdleRow {
    pub name: String,
    pub what: String,
    pub rss_kib: u64,
    pub wakeups_per_s: f64,
    pub threads: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sessions {
    pub count: u64,
    pub kith_base_kib: u64,
    pub kith_all_kib: u64,
    pub kith_kib_per_session: f64,
    pub kith_wakeups_per_s: f64,
    pub minimal_base_kib: u64,
    pub minimal_all_kib: u64,
    pub minimal_kib_per_conn: f64,
    pub minimal_wakeups_per_s: f64,
    pub ratio: f64,
}
