//! `GET /api/friends/`: the signed-in user's friends with their presence, over HTTP.
//!
//! It is what a client of a backend without socket snapshots reads after a reconnect
//! to learn what it missed (Kith's `resync.http_path`). The body is a JSON array of the
//! same records a `presence_snapshot` lists. It wants the access token as
//! `Authorization: Bearer`; without a valid one it answers 401, as SimpleJWT does.

use crate::auth_api::bearer;
use crate::error::ApiError;
use crate::jwt::TokenType;
use crate::state::Shared;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::Arc;

pub(crate) const FRIENDS_PATH: &str = "/api/friends/";

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(FRIENDS_PATH, get(list_friends))
        .route(FRIENDS_PATH.trim_end_matches('/'), get(list_friends))
}

async fn list_friends(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(token) = bearer(&headers) else {
        return Err(ApiError::unauthorized(
            "Authentication credentials were not provided.",
        ));
    };
    let claims = shared
        .keys
        .verify(&token, TokenType::Access)
        .map_err(|_| ApiError::token_not_valid())?;
    let friends = shared.friends_presence(claims.user_id)?;
    tracing::debug!(user = %claims.username, friends = friends.len(), "friend list");
    let delay = shared.friends_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    Ok(Json(friends).into_response())
}
