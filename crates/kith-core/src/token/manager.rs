//! The token manager: the one owner of the access and refresh tokens.
//!
//! - Login, resume from the credential store, refresh and logout.
//! - **Single-flight**: every refresh runs under one async lock, and a caller that
//!   waited re-checks freshness before refreshing, so concurrent callers share one
//!   request and no refresh token is ever sent twice.
//! - A rotated refresh token is persisted before the new access token is handed out.
//! - A background scheduler refreshes ahead of expiry on a timer (never by polling) and
//!   retries transient failures with backoff. A rejected refresh ends the session and
//!   clears the stored credentials.
//! - Subscribers get [`TokenEvent`]s, which never carry a token.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;
use serde::Serialize;
use tokio::sync::{broadcast, Mutex, Notify};

use crate::protocol::{RefreshPolicy, ServerProfile};
use crate::secret::Secret;
use crate::token::api::{AuthClient, AuthError, TokenGrant};
use crate::token::claims::{read_claims, ClaimsError};
use crate::token::schedule::{rebase_after_wake, token_timing, TokenTiming};
use crate::token::store::{CredentialStore, StoreError, StoredCredentials};

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The refresh token was rejected: invalid, blacklisted or expired.
    SessionExpired,
    /// The socket rejected a freshly refreshed token too.
    AuthRejected,
    /// The server refused the account outright (close 4403).
    Forbidden,
    /// The user signed out.
    LoggedOut,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::SessionExpired => "session_expired",
            EndReason::AuthRejected => "auth_rejected",
            EndReason::Forbidden => "forbidden",
            EndReason::LoggedOut => "logged_out",
        }
    }
}

/// What the token manager tells its subscribers. Never holds a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenEvent {
    /// A new access token is in place.
    Refreshed {
        expires_in: Duration,
        generation: u64,
    },
    /// A refresh failed for a reason worth retrying; the session goes on.
    RefreshDeferred { reason: String, retry_in: Duration },
    /// The session is over and the stored credentials are gone.
    SessionEnded { reason: EndReason },
}

/// Why a token could not be had.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("not signed in")]
    NotSignedIn,
    #[error("the session has ended ({})", .0.as_str())]
    SessionEnded(EndReason),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("the server issued an unusable access token: {0}")]
    Claims(#[from] ClaimsError),
    #[error("credential store: {0}")]
    Store(#[from] StoreError),
}

impl TokenError {
    /// Whether retrying later may succeed (the session is still alive).
    pub fn is_transient(&self) -> bool {
        match self {
            TokenError::Auth(error) => !matches!(error, AuthError::Rejected { .. }),
            TokenError::Claims(_) => true,
            TokenError::Store(_) => true,
            TokenError::NotSignedIn | TokenError::SessionEnded(_) => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            TokenError::Auth(AuthError::Transient { retry_after, .. }) => *retry_after,
            _ => None,
        }
    }
}

/// An access token ready for a handshake.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: Secret,
    /// When the server will consider it expired (local monotonic clock).
    pub expires_at: Instant,
    /// Increases with every new access token.
    pub generation: u64,
}

struct Held {
    token: Secret,
    timing: TokenTiming,
    generation: u64,
}

#[derive(Default)]
struct TokenState {
    username: Option<String>,
    access: Option<Held>,
    refresh: Option<Secret>,
    ended: Option<EndReason>,
    generation: u64,
}

struct Inner {
    client: AuthClient,
    store: Arc<dyn CredentialStore>,
    account: String,
    policy: RefreshPolicy,
    state: Mutex<TokenState>,
    events: broadcast::Sender<TokenEvent>,
    refresh_requests: AtomicU64,
    schedule_changed: Notify,
}

/// Cheap to clone; all clones share one session.
#[derive(Clone)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl TokenManager {
    pub fn new(
        profile: ServerProfile,
        store: Arc<dyn CredentialStore>,
    ) -> Result<Self, TokenError> {
        let account = profile.account_key();
        let policy = profile.refresh.clone();
        let client = AuthClient::new(profile)?;
        let (events, _) = broadcast::channel(256);
        Ok(TokenManager {
            inner: Arc::new(Inner {
                client,
                store,
                account,
                policy,
                state: Mutex::new(TokenState::default()),
                events,
                refresh_requests: AtomicU64::new(0),
                schedule_changed: Notify::new(),
            }),
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<TokenEvent> {
        self.inner.events.subscribe()
    }

    pub fn profile(&self) -> &ServerProfile {
        self.inner.client.profile()
    }

    /// The key under which this backend's credentials are stored.
    pub fn account(&self) -> &str {
        &self.inner.account
    }

    /// Refresh requests sent so far by this manager.
    pub fn refresh_requests(&self) -> u64 {
        self.inner.refresh_requests.load(Ordering::SeqCst)
    }

    pub async fn username(&self) -> Option<String> {
        self.inner.state.lock().await.username.clone()
    }

    /// Logs in and persists the refresh token before anything uses the session.
    pub async fn login(&self, username: &str, password: Secret) -> Result<(), TokenError> {
        let grant = self.inner.client.login(username, &password).await?;
        drop(password);
        let refresh = grant.refresh.clone().ok_or_else(|| {
            AuthError::BadResponse("the login response carries no refresh token".into())
        })?;
        let received_at = now();
        let timing = self.timing_of(&grant, received_at)?;
        self.persist(StoredCredentials {
            username: username.to_string(),
            refresh: refresh.clone(),
        })
        .await?;
        let mut state = self.inner.state.lock().await;
        state.generation += 1;
        *state = TokenState {
            username: Some(username.to_string()),
            access: Some(Held {
                token: grant.access,
                timing,
                generation: state.generation,
            }),
            refresh: Some(refresh),
            ended: None,
            generation: state.generation,
        };
        drop(state);
        self.inner.schedule_changed.notify_one();
        tracing::info!(username, "signed in");
        Ok(())
    }

    /// Picks up the stored session. Returns the username, or `NotSignedIn`.
    pub async fn resume(&self) -> Result<String, TokenError> {
        let store = self.inner.store.clone();
        let account = self.inner.account.clone();
        let stored = tokio::task::spawn_blocking(move || store.load(&account))
            .await
            .map_err(|_| StoreError::Backend("keyring task failed".into()))??;
        let stored = stored.ok_or(TokenError::NotSignedIn)?;
        let mut state = self.inner.state.lock().await;
        state.username = Some(stored.username.clone());
        state.refresh = Some(stored.refresh);
        state.access = None;
        state.ended = None;
        drop(state);
        self.inner.schedule_changed.notify_one();
        Ok(stored.username)
    }

    /// A token fresh enough for a handshake, refreshing first if it is due.
    pub async fn fresh_token(&self) -> Result<AccessToken, TokenError> {
        let mut state = self.inner.state.lock().await;
        if let Some(reason) = state.ended {
            return Err(TokenError::SessionEnded(reason));
        }
        if let Some(held) = &state.access {
            if now() < held.timing.refresh_at {
                return Ok(access_of(held));
            }
        }
        self.refresh_locked(&mut state).await
    }

    /// Refreshes even if the token looks fresh, because the server rejected it.
    /// `rejected_generation` names the token that was rejected: if another caller has
    /// already replaced it, that newer token is returned without a second request.
    pub async fn force_refresh(&self, rejected_generation: u64) -> Result<AccessToken, TokenError> {
        let mut state = self.inner.state.lock().await;
        if let Some(reason) = state.ended {
            return Err(TokenError::SessionEnded(reason));
        }
        if let Some(held) = &state.access {
            if held.generation > rejected_generation && now() < held.timing.refresh_at {
                return Ok(access_of(held));
            }
        }
        self.refresh_locked(&mut state).await
    }

    /// Ends the session: the server blacklists the refresh token, and the stored
    /// credentials are removed even if the server cannot be reached.
    pub async fn logout(&self) -> Result<(), TokenError> {
        let mut state = self.inner.state.lock().await;
        let refresh = state.refresh.take();
        let access = state.access.take();
        state.ended = Some(EndReason::LoggedOut);
        drop(state);
        let mut server_result = Ok(());
        if let Some(refresh) = refresh {
            let access_token = access.as_ref().map(|held| &held.token);
            server_result = self.inner.client.logout(access_token, &refresh).await;
        }
        self.clear_store().await?;
        let _ = self.inner.events.send(TokenEvent::SessionEnded {
            reason: EndReason::LoggedOut,
        });
        self.inner.schedule_changed.notify_one();
        if let Err(error) = server_result {
            tracing::warn!(%error, "the server did not confirm the logout; local credentials are gone");
        }
        Ok(())
    }

    /// Ends the session for a reason found elsewhere (the socket rejected a fresh token).
    pub async fn end_session(&self, reason: EndReason) {
        let mut state = self.inner.state.lock().await;
        if state.ended.is_some() {
            return;
        }
        state.ended = Some(reason);
        state.access = None;
        state.refresh = None;
        drop(state);
        if let Err(error) = self.clear_store().await {
            tracing::warn!(%error, "could not remove stored credentials");
        }
        let _ = self.inner.events.send(TokenEvent::SessionEnded { reason });
        self.inner.schedule_changed.notify_one();
    }

    /// After a resume from sleep: re-check expiry against the wall clock.
    pub async fn on_wake(&self) {
        let mut state = self.inner.state.lock().await;
        if let Some(held) = &mut state.access {
            held.timing =
                rebase_after_wake(held.timing, now(), SystemTime::now(), &self.inner.policy);
        }
        drop(state);
        self.inner.schedule_changed.notify_one();
    }

    /// When the current access token expires, if there is one.
    pub async fn expires_at(&self) -> Option<Instant> {
        self.inner
            .state
            .lock()
            .await
            .access
            .as_ref()
            .map(|held| held.timing.expires_at)
    }

    /// Refreshes ahead of expiry until the manager is dropped by every owner. Run it on
    /// its own task; it sleeps until the next refresh is due, never polls.
    pub async fn run_scheduler(self) {
        let mut failures: u32 = 0;
        loop {
            let due = {
                let state = self.inner.state.lock().await;
                match (&state.ended, &state.access, &state.refresh) {
                    (None, Some(held), _) => Some(held.timing.refresh_at),
                    (None, None, Some(_)) => Some(now()),
                    _ => None,
                }
            };
            let Some(due) = due else {
                self.inner.schedule_changed.notified().await;
                continue;
            };
            tokio::select! {
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(due)) => {}
                _ = self.inner.schedule_changed.notified() => continue,
            }
            match self.refresh_if_due().await {
                Ok(()) => failures = 0,
                Err(error) if error.is_transient() => {
                    failures = failures.saturating_add(1);
                    let retry_in = self.retry_delay(failures, error.retry_after());
                    tracing::warn!(%error, retry_in_ms = retry_in.as_millis() as u64, "refresh deferred");
                    let _ = self.inner.events.send(TokenEvent::RefreshDeferred {
                        reason: error.to_string(),
                        retry_in,
                    });
                    tokio::select! {
                        _ = tokio::time::sleep(retry_in) => {}
                        _ = self.inner.schedule_changed.notified() => {}
                    }
                }
                Err(_) => failures = 0,
            }
        }
    }

    fn retry_delay(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let policy = &self.inner.policy;
        let exp = policy
            .retry_base
            .saturating_mul(1u32 << failures.min(16).saturating_sub(1))
            .min(policy.retry_cap);
        let jittered = exp.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
        jittered.max(retry_after.unwrap_or(Duration::ZERO))
    }

    async fn refresh_if_due(&self) -> Result<(), TokenError> {
        let mut state = self.inner.state.lock().await;
        if state.ended.is_some() {
            return Ok(());
        }
        match &state.access {
            Some(held) if now() < held.timing.refresh_at => Ok(()),
            _ => self.refresh_locked(&mut state).await.map(|_| ()),
        }
    }

    /// The one place a refresh request is made. The caller holds the state lock, which
    /// is what makes refreshes single-flight.
    async fn refresh_locked(&self, state: &mut TokenState) -> Result<AccessToken, TokenError> {
        let refresh = state.refresh.clone().ok_or(TokenError::NotSignedIn)?;
        self.inner.refresh_requests.fetch_add(1, Ordering::SeqCst);
        let result = self.inner.client.refresh(&refresh).await;
        let grant: TokenGrant = match result {
            Ok(grant) => grant,
            Err(AuthError::Rejected { status, detail }) => {
                tracing::warn!(status, %detail, "refresh rejected; the session is over");
                state.ended = Some(EndReason::SessionExpired);
                state.access = None;
                state.refresh = None;
                if let Err(error) = self.clear_store().await {
                    tracing::warn!(%error, "could not remove stored credentials");
                }
                let _ = self.inner.events.send(TokenEvent::SessionEnded {
                    reason: EndReason::SessionExpired,
                });
                return Err(AuthError::Rejected { status, detail }.into());
            }
            Err(other) => return Err(other.into()),
        };
        let received_at = now();
        // Persist a rotated refresh token first: the old one is blacklisted now.
        if let Some(rotated) = &grant.refresh {
            state.refresh = Some(rotated.clone());
            if let Some(username) = state.username.clone() {
                self.persist(StoredCredentials {
                    username,
                    refresh: rotated.clone(),
                })
                .await?;
            }
        }
        let timing = self.timing_of(&grant, received_at)?;
        state.generation += 1;
        let held = Held {
            token: grant.access,
            timing,
            generation: state.generation,
        };
        let access = access_of(&held);
        state.access = Some(held);
        let expires_in = timing.expires_at.saturating_duration_since(received_at);
        tracing::debug!(
            expires_in_s = expires_in.as_secs(),
            "access token refreshed"
        );
        let _ = self.inner.events.send(TokenEvent::Refreshed {
            expires_in,
            generation: access.generation,
        });
        self.inner.schedule_changed.notify_one();
        Ok(access)
    }

    /// When a freshly granted access token expires and is due for refresh.
    fn timing_of(
        &self,
        grant: &TokenGrant,
        received_at: Instant,
    ) -> Result<TokenTiming, ClaimsError> {
        let claims = read_claims(grant.access.expose())?;
        Ok(token_timing(
            claims,
            grant.server_date,
            received_at,
            SystemTime::now(),
            &self.inner.policy,
        ))
    }

    async fn persist(&self, credentials: StoredCredentials) -> Result<(), StoreError> {
        let store = self.inner.store.clone();
        let account = self.inner.account.clone();
        tokio::task::spawn_blocking(move || store.save(&account, &credentials))
            .await
            .map_err(|_| StoreError::Backend("keyring task failed".into()))?
    }

    async fn clear_store(&self) -> Result<(), StoreError> {
        let store = self.inner.store.clone();
        let account = self.inner.account.clone();
        tokio::task::spawn_blocking(move || store.clear(&account))
            .await
            .map_err(|_| StoreError::Backend("keyring task failed".into()))?
    }
}

fn access_of(held: &Held) -> AccessToken {
    AccessToken {
        token: held.token.clone(),
        expires_at: held.timing.expires_at,
        generation: held.generation,
    }
}
