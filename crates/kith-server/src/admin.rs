//! Test and demo control: the in-process `AdminHandle` and the same operations over HTTP.
//!
//! Tests drive the server's world (users, friendships, statuses) and its faults (dropped
//! sockets, a silent peer, a failing, slow or redirecting refresh endpoint) from here.
//! The HTTP form exists for out-of-process clients; it is mounted only with an admin
//! token, answers only loopback peers, and wants that token as a bearer.

use crate::auth_api::{bearer, parse_json};
use crate::db::{ct_eq, UserId};
use crate::error::{ApiError, ServerError};
use crate::state::{Control, Counters, RefreshMode, Shared};
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{body::Bytes, Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// In-process control of a running server. Cheap to clone; every method is synchronous
/// and quick (a short SQLite query at most), so it can be called from async tests.
#[derive(Clone)]
pub struct AdminHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AdminHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminHandle").finish_non_exhaustive()
    }
}

impl AdminHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Creates a user with status "offline" and `last_seen` now; returns its id. The
    /// password is hashed with the configured [`PasswordCost`](crate::PasswordCost) on
    /// the calling thread.
    pub fn create_user(&self, username: &str, password: &str) -> Result<UserId, ServerError> {
        self.shared.create_user(username, password)
    }

    /// Makes two users friends of each other (idempotent). Open sockets of either start
    /// receiving the other's status updates; no message is sent for the friendship itself.
    pub fn befriend(&self, a: &str, b: &str) -> Result<(), ServerError> {
        self.shared.befriend(a, b)
    }

    /// Sets a user's status, broadcasts it to their friends and returns its `seq`.
    pub fn set_status(&self, username: &str, status: &str) -> Result<u64, ServerError> {
        self.shared.set_status(username, status)
    }

    /// Closes every open socket with this close code and reason. Sockets in silent mode
    /// are dropped without a close frame. `code` must be one a server may send
    /// (1000–1003, 1007–1014, 3000–4999).
    pub fn drop_all(&self, code: u16, reason: &str) -> Result<(), ServerError> {
        if !sendable_close_code(code) {
            return Err(ServerError::InvalidInput(format!(
                "close code {code} cannot be sent"
            )));
        }
        tracing::info!(code, reason, "dropping all sockets");
        // No receivers is fine: no socket is open.
        let _ = self.shared.control.send(Control::DropAll {
            code,
            reason: reason.to_owned(),
        });
        Ok(())
    }

    /// Silent mode on: every open socket stops reading and writing (a half-open peer),
    /// and new upgrade requests hang. Off: sockets and pending upgrades carry on.
    pub fn set_silent(&self, on: bool) {
        tracing::info!(on, "silent mode");
        self.shared.silent.send_replace(on);
    }

    /// How the refresh endpoint answers from now on.
    pub fn set_refresh_mode(&self, mode: RefreshMode) {
        tracing::info!(?mode, "refresh mode");
        self.shared.set_refresh_mode(mode);
    }

    /// How long a successful refresh waits before it answers. The server rotates first
    /// (the old token is blacklisted, the new pair stored), then waits: a client that
    /// times out meanwhile has lost the rotation. Zero (the start value) turns it off.
    pub fn set_refresh_delay(&self, delay: Duration) {
        tracing::info!(?delay, "refresh delay");
        self.shared.set_refresh_delay(delay);
    }

    /// `Some(url)`: login and refresh answer `307 Temporary Redirect` with
    /// `Location: url` and do nothing else (clients must not follow auth redirects).
    /// `None` turns it off. Fails if `url` cannot be a header value.
    pub fn set_auth_redirect(&self, location: Option<&str>) -> Result<(), ServerError> {
        tracing::info!(on = location.is_some(), "auth redirect");
        self.shared.set_auth_redirect(location)
    }

    /// Whether the refresh endpoint would accept this refresh token now: signed by this
    /// server, a refresh token, unexpired, not blacklisted, its user still there.
    /// Checking does not consume it. (The reuse interval is not considered: a rotated
    /// token is not "valid" even while its successor would be handed out again.)
    pub fn refresh_token_is_valid(&self, token: &str) -> bool {
        self.shared.refresh_token_is_valid(token)
    }

    /// When on, every WebSocket authentication fails: upgrades carrying a token get 401,
    /// `auth` messages get `auth_error` and close 4001.
    pub fn set_ws_auth_rejects_all(&self, on: bool) {
        tracing::info!(on, "WebSocket auth rejects all");
        self.shared.set_ws_rejects_all(on);
    }

    /// Whether sockets that go live from now on get a `presence_snapshot` (they do at
    /// start). Off, the server stands for a backend that sends none, whose clients
    /// learn what they missed from `GET /api/friends/` or not at all.
    pub fn set_snapshots(&self, on: bool) {
        tracing::info!(on, "presence snapshots");
        self.shared.set_sends_snapshots(on);
    }

    /// How long `GET /api/friends/` waits after reading the list before it answers, so
    /// that changes made meanwhile reach sockets before the (older) list reaches its
    /// client. Zero (the start value) turns it off.
    pub fn set_friends_delay(&self, delay: Duration) {
        tracing::info!(?delay, "friend list delay");
        self.shared.set_friends_delay(delay);
    }

    /// The counters as of now.
    pub fn counters(&self) -> Counters {
        self.shared.counters()
    }
}

fn sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The admin routes, or none without an admin token.
pub(crate) fn routes(shared: &Arc<Shared>) -> Router<Arc<Shared>> {
    if shared.admin_token.is_none() {
        return Router::new();
    }
    Router::new()
        .route("/admin/users", post(create_user))
        .route("/admin/friends", post(befriend))
        .route("/admin/status", post(set_status))
        .route("/admin/drop", post(drop_all))
        .route("/admin/silent", post(silent))
        .route("/admin/refresh-mode", post(refresh_mode))
        .route("/admin/refresh-delay", post(refresh_delay))
        .route("/admin/auth-redirect", post(auth_redirect))
        .route("/admin/refresh-valid", post(refresh_valid))
        .route("/admin/ws-auth", post(ws_auth))
        .route("/admin/snapshots", post(snapshots))
        .route("/admin/counters", get(counters))
        .route_layer(middleware::from_fn_with_state(shared.clone(), guard))
}

/// Loopback peers with the right bearer token only; others see 404 or 403.
async fn guard(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    if !peer.ip().to_canonical().is_loopback() {
        return ApiError::not_found("Not found.").into_response();
    }
    let allowed = match (&shared.admin_token, bearer(req.headers())) {
        (Some(expected), Some(given)) => ct_eq(expected.as_bytes(), given.as_bytes()),
        _ => false,
    };
    if !allowed {
        tracing::warn!(%peer, "admin request with a missing or wrong token");
        return ApiError::forbidden().into_response();
    }
    next.run(req).await
}

fn admin(shared: Arc<Shared>) -> AdminHandle {
    AdminHandle::new(shared)
}

#[derive(Deserialize)]
struct NewUser {
    username: String,
    password: String,
}

async fn create_user(State(shared): State<Arc<Shared>>, body: Bytes) -> Result<Response, ApiError> {
    let b: NewUser = parse_json(&body)?;
    // Hashing the password is slow on purpose: keep it off the async workers.
    let id =
        tokio::task::spawn_blocking(move || admin(shared).create_user(&b.username, &b.password))
            .await
            .map_err(|e| ServerError::Hash(format!("user creation task failed: {e}")))??;
    Ok(Json(json!({ "id": id })).into_response())
}

#[derive(Deserialize)]
struct Friends {
    a: String,
    b: String,
}

async fn befriend(State(shared): State<Arc<Shared>>, body: Bytes) -> Result<Response, ApiError> {
    let b: Friends = parse_json(&body)?;
    admin(shared).befriend(&b.a, &b.b)?;
    Ok(Json(json!({})).into_response())
}

#[derive(Deserialize)]
struct Status {
    username: String,
    status: String,
}

async fn set_status(State(shared): State<Arc<Shared>>, body: Bytes) -> Result<Response, ApiError> {
    let b: Status = parse_json(&body)?;
    let seq = admin(shared).set_status(&b.username, &b.status)?;
    Ok(Json(json!({ "seq": seq })).into_response())
}

#[derive(Deserialize)]
struct DropBody {
    code: u16,
    #[serde(default)]
    reason: String,
}

async fn drop_all(State(shared): State<Arc<Shared>>, body: Bytes) -> Result<Response, ApiError> {
    let b: DropBody = parse_json(&body)?;
    admin(shared).drop_all(b.code, &b.reason)?;
    Ok(Json(json!({})).into_response())
}

#[derive(Deserialize)]
struct Silent {
    on: bool,
}

async fn silent(State(shared): State<Arc<Shared>>, body: Bytes) -> Result<Response, ApiError> {
    let b: Silent = parse_json(&body)?;
    admin(shared).set_silent(b.on);
    Ok(Json(json!({})).into_response())
}

#[derive(Deserialize)]
struct Mode {
    mode: RefreshMode,
}

async fn refresh_mode(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: Mode = parse_json(&body)?;
    admin(shared).set_refresh_mode(b.mode);
    Ok(Json(json!({})).into_response())
}

#[derive(Deserialize)]
struct Delay {
    ms: u64,
}

async fn refresh_delay(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: Delay = parse_json(&body)?;
    admin(shared).set_refresh_delay(Duration::from_millis(b.ms));
    Ok(Json(json!({})).into_response())
}

#[derive(Deserialize)]
struct Redirect {
    location: Option<String>,
}

async fn auth_redirect(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: Redirect = parse_json(&body)?;
    admin(shared).set_auth_redirect(b.location.as_deref())?;
    Ok(Json(json!({})).into_response())
}

#[derive(Deserialize)]
struct RefreshToken {
    refresh: String,
}

async fn refresh_valid(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let b: RefreshToken = parse_json(&body)?;
    let valid = admin(shared).refresh_token_is_valid(&b.refresh);
    Ok(Json(json!({ "valid": valid })).into_response())
}

#[derive(Deserialize)]
struct WsAuth {
    reject_all: bool,
}

async fn ws_auth(State(shared): State<Arc<Shared>>, body: Bytes) -> Result<Response, ApiError> {
    let b: WsAuth = parse_json(&body)?;
    admin(shared).set_ws_auth_rejects_all(b.reject_all);
    Ok(Json(json!({})).into_response())
}

#[derive(Deserialize)]
struct Snapshots {
    on: bool,
}

async fn snapshots(State(shared): State<Arc<Shared>>, body: Bytes) -> Result<Response, ApiError> {
    let b: Snapshots = parse_json(&body)?;
    admin(shared).set_snapshots(b.on);
    Ok(Json(json!({})).into_response())
}

async fn counters(State(shared): State<Arc<Shared>>) -> Json<Counters> {
    Json(shared.counters())
}

#[cfg(test)]
mod tests {
    use super::sendable_close_code;

    #[test]
    fn close_codes() {
        assert!(sendable_close_code(1000));
        assert!(sendable_close_code(4001));
        assert!(!sendable_close_code(1005));
        assert!(!sendable_close_code(1006));
        assert!(!sendable_close_code(999));
        assert!(!sendable_close_code(5000));
    }
}
