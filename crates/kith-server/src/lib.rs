//! Kith's reference backend: a SimpleJWT-style auth API and the friends presence
//! WebSocket, plus the fault switches tests need.
//!
//! Tests and the CLI start it in-process with [`spawn`] and drive it with the
//! [`AdminHandle`]; the `kith-server` binary runs the same thing standalone.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kith_server::ServerError> {
//! let server = kith_server::spawn(kith_server::ServerConfig::in_process()).await?;
//! let admin = server.admin();
//! admin.create_user("alice", "pw")?;
//! println!("{}", server.ws_url());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod admin;
mod auth_api;
mod clock;
mod db;
mod demo;
mod error;
mod friends_api;
mod grace;
mod jwt;
mod password;
mod state;
mod throttle;
mod tls;
mod ws;

pub use admin::AdminHandle;
pub use db::UserId;
pub use demo::{DEMO_PASSWORD, DEMO_USER};
pub use error::ServerError;
pub use password::PasswordCost;
pub use state::{Counters, RefreshMode};
pub use throttle::LoginLimits;
pub use tls::ServerTls;

use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use state::Shared;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long `shutdown` waits for HTTP connections to finish before cutting them off.
const HTTP_DRAIN: Duration = Duration::from_secs(5);
/// How long `shutdown` waits for sockets to finish their closing handshake.
const SOCKET_DRAIN: Duration = Duration::from_secs(3);

/// What to run: where to listen, token lifetimes, storage, demo data, admin access.
/// Its `Debug` output hides the admin token.
#[derive(Clone)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free one (see [`RunningServer::addr`]).
    pub bind: SocketAddr,
    /// Lifetime of access tokens.
    pub access_ttl: Duration,
    /// Lifetime of refresh tokens (each rotation issues a token with a full lifetime).
    pub refresh_ttl: Duration,
    /// SQLite file; `None` keeps everything in memory for this run only.
    pub db_path: Option<PathBuf>,
    /// Seed the demo world and keep changing statuses.
    pub demo: bool,
    /// Enables the `/admin/*` HTTP API with this bearer token (loopback peers only).
    pub admin_token: Option<String>,
    /// For this long after a refresh token is rotated, presenting it again returns the
    /// same successor pair instead of counting as reuse (Auth0's "reuse interval").
    /// Zero turns the grace off: every second presentation is reuse.
    pub reuse_interval: Duration,
    /// Argon2id cost of new password hashes (existing ones verify at their own cost).
    pub password_cost: PasswordCost,
    /// Failed logins allowed per username and per client address before 429.
    pub login_limits: LoginLimits,
    /// Most authenticated presence sockets one user may have open at once; 0 for no cap.
    /// Beyond it, an upgrade that carries a token gets 429 with `Retry-After`, and a
    /// socket that authenticates with its first message is closed with 1013 (try again
    /// later).
    pub max_sockets_per_user: usize,
    /// Serve HTTPS and WSS with this certificate and key instead of HTTP and WS.
    pub tls: Option<ServerTls>,
}

impl ServerConfig {
    /// A server inside the calling process, as the tests, the benchmarks and the
    /// desktop app's demo run it: 127.0.0.1 on a free port, access tokens for 60 s,
    /// refresh tokens for a day, in-memory database, no demo data, admin token
    /// `test-admin`, no reuse interval, [`PasswordCost::FAST`], default
    /// [`LoginLimits`], 4,096 sockets per user.
    pub fn in_process() -> Self {
        Self {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            access_ttl: Duration::from_secs(60),
            refresh_ttl: Duration::from_secs(24 * 3600),
            db_path: None,
            demo: false,
            admin_token: Some("test-admin".to_owned()),
            // Strict: tests that want the grace ask for it.
            reuse_interval: Duration::ZERO,
            // Tests and benchmarks create and log in many fixture users.
            password_cost: PasswordCost::FAST,
            login_limits: LoginLimits::default(),
            // The benchmarks sign one account in up to 1,000 times at once.
            max_sockets_per_user: 4096,
            tls: None,
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("bind", &self.bind)
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("db_path", &self.db_path)
            .field("demo", &self.demo)
            .field("reuse_interval", &self.reuse_interval)
            .field("password_cost", &self.password_cost)
            .field("login_limits", &self.login_limits)
            .field("max_sockets_per_user", &self.max_sockets_per_user)
            .field("tls", &self.tls)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Default for ServerConfig {
    /// The binary's defaults: 127.0.0.1:8000, 5 min access, 7 days refresh, in memory,
    /// 30 s reuse interval, [`PasswordCost::SECURE`], default [`LoginLimits`], 32 sockets
    /// per user.
    fn default() -> Self {
        Self {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8000),
            access_ttl: Duration::from_secs(5 * 60),
            refresh_ttl: Duration::from_secs(7 * 24 * 3600),
            db_path: None,
            demo: false,
            admin_token: None,
            reuse_interval: Duration::from_secs(30),
            password_cost: PasswordCost::SECURE,
            login_limits: LoginLimits::default(),
            max_sockets_per_user: 32,
            tls: None,
        }
    }
}

/// A server running on the current tokio runtime. Dropping it without [`shutdown`]
/// still tells it to stop, but does not wait.
///
/// [`shutdown`]: RunningServer::shutdown
pub struct RunningServer {
    addr: SocketAddr,
    secure: bool,
    shared: Arc<Shared>,
    serve: Option<JoinHandle<()>>,
    demo: Option<JoinHandle<()>>,
    tasks: Option<mpsc::Receiver<()>>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Opens the database, binds the listener and starts serving in background tasks.
pub async fn spawn(config: ServerConfig) -> Result<RunningServer, ServerError> {
    let db = db::Db::open(config.db_path.as_deref())?;
    let secret = {
        let mut store = db.lock();
        store.prune_blacklist(clock::now_unix())?;
        store.signing_secret()?
    };
    let hasher = password::Hasher::new(config.password_cost)?;
    let (shared, tasks) = Shared::new(db, jwt::Keys::new(&secret), hasher, &config);
    let shared = Arc::new(shared);
    if config.demo {
        demo::seed(&shared)?;
    }

    let listener = TcpListener::bind(config.bind)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.bind,
            source,
        })?;
    let addr = listener.local_addr()?;
    let app = router(&shared).into_make_service_with_connect_info::<SocketAddr>();
    let mut stop = shared.shutdown.subscribe();
    let stopped = async move {
        let _ = stop.wait_for(|down| *down).await;
    };
    let serve = match &config.tls {
        None => {
            let listener = listener.tap_io(|tcp| {
                // Presence messages are small; do not let Nagle hold them back.
                let _ = tcp.set_nodelay(true);
            });
            let serving = axum::serve(listener, app).with_graceful_shutdown(stopped);
            tokio::spawn(async move {
                if let Err(e) = serving.await {
                    tracing::error!(error = %e, "server stopped with an error");
                }
            })
        }
        Some(tls) => {
            // Sets TCP_NODELAY itself; the no-op tap gives axum's `ConnectInfo` impl.
            let listener = tls::TlsListener::new(listener, tls.acceptor()?)?.tap_io(|_| {});
            let serving = axum::serve(listener, app).with_graceful_shutdown(stopped);
            tokio::spawn(async move {
                if let Err(e) = serving.await {
                    tracing::error!(error = %e, "server stopped with an error");
                }
            })
        }
    };
    let demo = config.demo.then(|| tokio::spawn(demo::run(shared.clone())));
    tracing::info!(%addr, demo = config.demo, admin = config.admin_token.is_some(), tls = config.tls.is_some(), "kith-server started");
    Ok(RunningServer {
        addr,
        secure: config.tls.is_some(),
        shared,
        serve: Some(serve),
        demo,
        tasks: Some(tasks),
    })
}

fn router(shared: &Arc<Shared>) -> Router {
    Router::new()
        .merge(auth_api::routes())
        .merge(friends_api::routes())
        .route(ws::WS_PATH, get(ws::upgrade))
        .route(ws::WS_PATH.trim_end_matches('/'), get(ws::upgrade))
        .merge(admin::routes(shared))
        .with_state(shared.clone())
}

impl RunningServer {
    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT` (`https://` with TLS), with loopback in place of an
    /// unspecified bind address.
    pub fn http_url(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        format!("{scheme}://{}", self.connect_addr())
    }

    /// `ws://HOST:PORT/ws/friends/status/` (`wss://` with TLS).
    pub fn ws_url(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        format!("{scheme}://{}{}", self.connect_addr(), ws::WS_PATH)
    }

    /// In-process control of this server.
    pub fn admin(&self) -> AdminHandle {
        AdminHandle::new(self.shared.clone())
    }

    /// Stops accepting, closes every socket with 1001 (silent ones are just dropped),
    /// waits for them briefly and releases the port, which can be bound again at once.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.send_replace(true);
        self.shared.close_tasks();
        if let Some(mut serve) = self.serve.take() {
            if tokio::time::timeout(HTTP_DRAIN, &mut serve).await.is_err() {
                tracing::warn!("HTTP connections did not finish in time, aborting them");
                serve.abort();
                let _ = serve.await;
            }
        }
        if let Some(mut tasks) = self.tasks.take() {
            // Ends when every socket task has dropped its sender.
            if tokio::time::timeout(SOCKET_DRAIN, tasks.recv())
                .await
                .is_err()
            {
                tracing::warn!("some sockets did not close in time");
            }
        }
        if let Some(demo) = self.demo.take() {
            demo.abort();
            let _ = demo.await;
        }
        tracing::info!(addr = %self.addr, "kith-server stopped");
    }

    fn connect_addr(&self) -> SocketAddr {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, self.addr.port())
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
    }
}
