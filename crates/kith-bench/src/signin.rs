//! Signing in, for the benchmarks that need more than `clients::login`: a Kith session
//! recorded up to its first snapshot (churn, recovery), and the bare HTTP login a
//! hand-written baseline does to hold its own token (churn's naive client, the
//! footprint's bare sockets).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use kith_core::{ServerProfile, Session};
use serde::Deserialize;

use crate::clients::{login, wait_count, Recorder, PASSWORD, USER};

/// The reference server's answer to a login or a token refresh.
#[derive(Deserialize)]
pub struct Grant {
    pub access: String,
    pub refresh: String,
}

/// Logs `me` in over plain HTTP, as a client without kith-core does.
pub async fn grant(client: &reqwest::Client, http: &str) -> Result<Grant> {
    Ok(client
        .post(format!("{http}/api/auth/login/"))
        .json(&serde_json::json!({"username": USER, "password": PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// Logs `me` in with `profile`, records the session's events (`resynced` counts their
/// `Resynced`, and may be shared by many sessions) and waits up to 10 s for its first
/// snapshot; `what` names that wait in the error.
pub async fn recorded(
    profile: ServerProfile,
    resynced: Arc<AtomicU64>,
    what: &str,
) -> Result<(Session, Recorder)> {
    let before = resynced.load(Ordering::SeqCst);
    let (session, events) = login(profile).await?;
    let recorder = Recorder::start(events, resynced.clone());
    wait_count(&resynced, before + 1, Duration::from_secs(10), what).await?;
    Ok((session, recorder))
}
