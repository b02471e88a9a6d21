//! Demo mode: a `demo` user with eight friends whose statuses keep changing, so the
//! desktop app and `kith watch` have something to show without any setup.

use crate::error::ServerError;
use crate::state::Shared;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Login and password of the demo account (its friends share the password).
pub const DEMO_USER: &str = "demo";
pub const DEMO_PASSWORD: &str = "demo";

/// The demo user's friends and the status each starts with.
const FRIENDS: [(&str, &str); 8] = [
    ("alice", "online"),
    ("bob", "away"),
    ("carol", "offline"),
    ("dave", "online"),
    ("erin", "offline"),
    ("frank", "away"),
    ("grace", "online"),
    ("heidi", "offline"),
];

const STATUSES: [&str; 3] = ["online", "away", "offline"];

/// Creates whatever of the demo world is missing. Safe to run on every start: existing
/// users keep their passwords and statuses.
pub(crate) fn seed(shared: &Shared) -> Result<(), ServerError> {
    let demo_is_new = ensure_user(shared, DEMO_USER)?;
    for (name, status) in FRIENDS {
        let is_new = ensure_user(shared, name)?;
        shared.befriend(DEMO_USER, name)?;
        if is_new {
            shared.set_status(name, status)?;
        }
    }
    if demo_is_new {
        shared.set_status(DEMO_USER, "online")?;
    }
    tracing::info!(
        user = DEMO_USER,
        friends = FRIENDS.len(),
        "demo data ready (password \"demo\")"
    );
    Ok(())
}

/// True if the user was created now.
fn ensure_user(shared: &Shared, name: &str) -> Result<bool, ServerError> {
    match shared.create_user(name, DEMO_PASSWORD) {
        Ok(_) => Ok(true),
        Err(ServerError::UserExists(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Every 2–4 s, moves a random friend to a different status, until shutdown.
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut rng = StdRng::from_entropy();
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let wait = Duration::from_millis(rng.gen_range(2000..=4000));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutting_down(&mut shutdown) => return,
        }
        let Some((name, _)) = FRIENDS.choose(&mut rng) else {
            return;
        };
        let current = match shared.db.lock().user_by_name(name) {
            Ok(row) => row.map(|r| r.status),
            Err(e) => {
                tracing::warn!(error = %e, "demo: cannot read a status");
                continue;
            }
        };
        let choices: Vec<&str> = STATUSES
            .into_iter()
            .filter(|s| Some(*s) != current.as_deref())
            .collect();
        let Some(status) = choices.choose(&mut rng) else {
            continue;
        };
        if let Err(e) = shared.set_status(name, status) {
            tracing::warn!(error = %e, "demo: cannot change a status");
        }
    }
}

async fn shutting_down(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|down| *down).await;
}
