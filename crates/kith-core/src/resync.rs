//! The resync endpoint: for a backend whose socket sends no snapshot, an HTTP list of
//! the friends with their status, fetched after every connect so a change made while
//! Kith was disconnected is not silently missed.
//!
//! The request is `GET <resync.http_path>` with `Authorization: Bearer <access>`,
//! through the auth API's HTTP client (the same TLS trust and proxy rules, the
//! `auth.request_timeout` deadline, no redirects). The body is read up to
//! `socket.max_message_bytes`, the cap of a snapshot frame, and parsed by
//! [`parse_friend_list`]. Every failure is a [`ResyncError`]; nothing here retries.

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION};
use url::Url;

use crate::protocol::{parse_friend_list, FriendRecord, MessageError, ServerProfile};
use crate::secret::Secret;
use crate::token::api::{read_limited_to, BodyError};

/// Why a resync fetch brought nothing. Never holds the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResyncError {
    /// No access token could be had for the request.
    #[error("no access token for the resync request: {0}")]
    NoToken(String),
    /// The endpoint answered with a status other than 2xx.
    #[error("the resync endpoint answered HTTP {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// The request did not complete (connection, timeout, a broken-off body).
    #[error("the resync request failed: {0}")]
    Transport(String),
    /// The body is larger than `socket.max_message_bytes`; it was not read whole.
    #[error("the resync response is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not a friend list.
    #[error("the resync response is not a friend list: {0}")]
    BadBody(MessageError),
}

/// Fetches one backend's resync endpoint.
#[derive(Clone)]
pub(crate) struct ResyncClient {
    http: reqwest::Client,
    url: Url,
    max_bytes: usize,
    timeout: Duration,
}

impl ResyncClient {
    /// A client for the profile's `resync.http_path`; `None` when it names none (or
    /// the path is invalid, which [`ServerProfile::validate`] refuses earlier).
    pub(crate) fn for_profile(profile: &ServerProfile, http: reqwest::Client) -> Option<Self> {
        let url = profile.resync_url().ok().flatten()?;
        Some(ResyncClient {
            http,
            url,
            max_bytes: profile.socket.max_message_bytes,
            timeout: profile.auth.request_timeout,
        })
    }

    /// The friends as the endpoint lists them now.
    pub(crate) async fn fetch(&self, access: &Secret) -> Result<Vec<FriendRecord>, ResyncError> {
        let response = self
            .http
            .get(self.url.clone())
            .header(AUTHORIZATION, format!("Bearer {}", access.expose()))
            .header(ACCEPT, "application/json")
            .timeout(self.timeout)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(ResyncError::Status {
                status: status.as_u16(),
            });
        }
        let body =
            read_limited_to(response, self.max_bytes)
                .await
                .map_err(|error| match error {
                    BodyError::TooLarge { limit } => ResyncError::TooLarge { limit },
                    other => ResyncError::Transport(other.to_string()),
                })?;
        let text = std::str::from_utf8(&body)
            .map_err(|_| ResyncError::BadBody(MessageError::Malformed("not UTF-8".into())))?;
        parse_friend_list(text).map_err(ResyncError::BadBody)
    }
}

fn transport(error: reqwest::Error) -> ResyncError {
    ResyncError::Transport(if error.is_timeout() {
        "the request timed out".into()
    } else if error.is_connect() {
        "cannot connect to the server".into()
    } else {
        error.without_url().to_string()
    })
}
