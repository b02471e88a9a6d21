//! Reference servers for the benchmarks, run on the background runtime: one-off ones
//! for auth, and a restartable one (same port, same SQLite file) for recovery runs.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use kith_server::{RunningServer, ServerConfig};
use tokio::runtime::Handle;

use crate::clients::seed_world;

/// Starts a server on `bg` (its tasks live there, off the clients' runtime).
pub async fn spawn_server(bg: &Handle, config: ServerConfig) -> Result<RunningServer> {
    bg.spawn(kith_server::spawn(config))
        .await?
        .context("kith-server does not start")
}

/// Starts a server on `bg` with `me` and `friends` friends of theirs.
pub async fn seeded_server(
    bg: &Handle,
    config: ServerConfig,
    friends: usize,
) -> Result<RunningServer> {
    let server = spawn_server(bg, config).await?;
    seed_world(&server.admin(), friends)?;
    Ok(server)
}

/// Shuts a server down on `bg`.
pub async fn stop_server(bg: &Handle, server: RunningServer) {
    let _ = bg.spawn(server.shutdown()).await;
}

/// Test defaults with access tokens that outlive any benchmark.
pub fn long_lived_config() -> ServerConfig {
    let mut config = ServerConfig::in_process();
    config.access_ttl = Duration::from_secs(3600);
    config
}

/// A server that can go down and come back on the same port with the same database,
/// so the sessions signed in before the outage stay valid after it.
pub struct Restartable {
    bg: Handle,
    config: ServerConfig,
    dir: PathBuf,
    server: Option<RunningServer>,
}

impl Restartable {
    /// Starts it with `me` and `friends` friends.
    pub async fn start(bg: &Handle, friends: usize) -> Result<Restartable> {
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!("kith-bench-{}-{stamp}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let mut config = long_lived_config();
        config.db_path = Some(dir.join("kith.sqlite"));
        let server = seeded_server(bg, config.clone(), friends).await?;
        config.bind = server.addr();
        Ok(Restartable {
            bg: bg.clone(),
            config,
            dir,
            server: Some(server),
        })
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.config.bind)
    }

    /// Shuts down: every socket gets 1001, the port is released.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            stop_server(&self.bg, server).await;
        }
    }

    /// Starts again on the same address; retries briefly if the port is not free yet.
    pub async fn restart(&mut self) -> Result<()> {
        let mut tries = 0;
        loop {
            match spawn_server(&self.bg, self.config.clone()).await {
                Ok(server) => {
                    self.server = Some(server);
                    return Ok(());
                }
                Err(error) if tries < 40 => {
                    tries += 1;
                    if tries == 1 {
                        eprintln!("  restart: {error:#}; retrying");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Stops and removes the database.
    pub async fn finish(mut self) {
        self.stop().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
