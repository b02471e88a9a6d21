//! What /proc says about a process: resident memory, threads, and voluntary context
//! switches summed over its threads (each one a thread going to sleep, so their rate
//! while idle counts wakeups). Also the machine line of the report.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::results::Machine;

/// A process's memory and scheduling counters at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcStats {
    pub rss_kib: u64,
    pub voluntary_switches: u64,
    pub threads: u64,
}

fn status_field(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
}

pub fn stats(pid: u32) -> Option<ProcStats> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut voluntary_switches = 0;
    let mut threads = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        if let Ok(task_status) = std::fs::read_to_string(task.path().join("status")) {
            voluntary_switches +=
                status_field(&task_status, "voluntary_ctxt_switches").unwrap_or(0);
            threads += 1;
        }
    }
    Some(ProcStats {
        rss_kib: status_field(&status, "VmRSS")?,
        voluntary_switches,
        threads,
    })
}

/// Wakeups per second between two readings `over` apart: the increase of voluntary
/// context switches, summed over the threads, divided by the seconds.
pub fn wakeups_per_s(before: &ProcStats, after: &ProcStats, over: Duration) -> f64 {
    after
        .voluntary_switches
        .saturating_sub(before.voluntary_switches) as f64
        / over.as_secs_f64()
}

/// This process's resident memory, KiB.
pub fn own_rss_kib() -> u64 {
    stats(std::process::id()).map_or(0, |s| s.rss_kib)
}

fn parent_of(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_field(&status, "PPid").map(|p| p as u32)
}

/// A descendant of `root` running `exe`, if there is one.
pub fn descendant_running(root: u32, exe: &Path) -> Option<u32> {
    let exe: PathBuf = exe.canonicalize().ok()?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if std::fs::read_link(entry.path().join("exe")).ok().as_deref() != Some(exe.as_path()) {
            continue;
        }
        let mut at = pid;
        for _ in 0..16 {
            match parent_of(at) {
                Some(parent) if parent == root => return Some(pid),
                Some(parent) if parent > 1 => at = parent,
                _ => break,
            }
        }
    }
    None
}

/// The soft limit on open files.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kib = status_field(&meminfo, "MemTotal").unwrap_or(0);
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        memory_gib: memory_kib as f64 / 1024.0 / 1024.0,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
        load_before: load_average(),
        load_after: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_process() {
        let s = stats(std::process::id()).unwrap();
        assert!(s.rss_kib > 0 && s.threads >= 1);
        assert_eq!(status_field("VmRSS:\t  1234 kB\n", "VmRSS"), Some(1234));
        assert!(open_files_limit().is_some());
    }
}
