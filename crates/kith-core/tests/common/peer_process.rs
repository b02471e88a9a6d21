//! Shared by the tests that start a real peer backend as a child process (peers.rs,
//! mapped_peers.rs): when it is ready, and the end of its log for a failure message.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// How long a peer has to load and answer.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// Waits until the peer started as `child` answers HTTP at `url` (with any status), not
/// merely until its port accepts: an ASGI server can listen before its application has
/// loaded. The error says why it never did, for the caller to show with the peer's log.
pub async fn wait_until_answering(
    http: &reqwest::Client,
    url: &str,
    child: &mut Child,
) -> Result<(), String> {
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        let answered = http.get(url).timeout(Duration::from_secs(5)).send().await;
        if answered.is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status} before listening"));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "did not listen within {} s",
                START_DEADLINE.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last 30 lines of the peer's log at `path` (empty when there is none).
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
