//! `kith-server`: the reference backend as a standalone process, for the desktop app,
//! `kith` and manual testing (`kith-server --demo`).

use anyhow::Context;
use clap::Parser;
use kith_server::ServerConfig;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// Kith's reference backend: SimpleJWT-style auth API and the friends presence WebSocket.
#[derive(Parser)]
#[command(name = "kith-server", version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000")]
    bind: SocketAddr,
    /// Access token lifetime (e.g. 30s, 5m).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    access_ttl: Duration,
    /// Refresh token lifetime (e.g. 1h, 7d).
    #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
    refresh_ttl: Duration,
    /// SQLite database file; without it everything is kept in memory.
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
    /// Seed a `demo` user (password `demo`) with friends whose statuses keep changing.
    #[arg(long)]
    demo: bool,
    /// Enable the /admin/* API (loopback only) with this bearer token.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "KITH_ADMIN_TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
    /// How long a just-rotated refresh token may be presented again and get the same
    /// successor instead of counting as reuse (0s turns the grace off).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    reuse_interval: Duration,
    /// Most presence sockets one user may have open at once (0: no cap).
    #[arg(long, default_value_t = 32)]
    max_sockets_per_user: usize,
    /// Hash passwords with cheap Argon2 parameters. Only for tests and demos that
    /// create thousands of users; never for real accounts.
    #[arg(long)]
    fast_password_hashing: bool,
    /// Serve HTTPS and WSS with this PEM certificate chain (needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let config = ServerConfig {
        bind: args.bind,
        access_ttl: args.access_ttl,
        refresh_ttl: args.refresh_ttl,
        db_path: args.db,
        demo: args.demo,
        admin_token: args.admin_token.filter(|t| !t.is_empty()),
        reuse_interval: args.reuse_interval,
        max_sockets_per_user: args.max_sockets_per_user,
        password_cost: if args.fast_password_hashing {
            kith_server::PasswordCost::FAST
        } else {
            kith_server::PasswordCost::SECURE
        },
        tls: args
            .tls_cert
            .zip(args.tls_key)
            .map(|(cert_file, key_file)| kith_server::ServerTls {
                cert_file,
                key_file,
            }),
        ..ServerConfig::default()
    };
    // Listen for signals before announcing the address: whoever reads that line may
    // send SIGTERM at once.
    let stop = StopSignal::new()?;
    let server = kith_server::spawn(config)
        .await
        .context("cannot start kith-server")?;
    println!("kith-server listening on {}", server.http_url());
    stop.wait().await?;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix.
#[cfg(unix)]
struct StopSignal {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl StopSignal {
    fn new() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?,
            terminate: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
        })
    }

    async fn wait(mut self) -> anyhow::Result<()> {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        Ok(())
    }
}

/// Ctrl-C.
#[cfg(not(unix))]
struct StopSignal;

#[cfg(not(unix))]
impl StopSignal {
    fn new() -> anyhow::Result<Self> {
        Ok(Self)
    }

    async fn wait(self) -> anyhow::Result<()> {
        tokio::signal::ctrl_c()
            .await
            .context("cannot listen for Ctrl-C")
    }
}
