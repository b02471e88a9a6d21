//! The token manager: the one owner of the access and refresh tokens.
//!
//! - Login, resume from the credential store, refresh and logout.
//! - **Single-flight**: every refresh runs under one async lock, and a caller that
//!   waited re-checks freshness before refreshing, so concurrent callers share one
//!   request and no refresh token is ever sent twice.
//! - **Cancel-safe**: a refresh, with the save of its rotated refresh token, runs on a
//!   task of its own. Dropping the future that asked for it (Quit, Ctrl-C, a new sign-in)
//!   cannot lose a token the server has already rotated; [`TokenManager::close`] waits
//!   for a refresh in flight, bounded.
//! - **Across processes**: the app and the CLI share one keyring entry. A refresh holds
//!   an OS file lock ([`crate::token::lock`]) and reloads the stored token first, so a
//!   token another process rotated is adopted instead of being sent stale.
//! - **Lost answers**: a refresh that timed out after it was sent may have rotated on
//!   the server. It is retried (servers with a reuse interval answer again), and a 401
//!   that follows ends the session as `refresh_lost`, not as an ordinary expiry.
//! - **A store that fails**: the new tokens stay in use in memory; only the save is
//!   retried, with backoff, and subscribers are told the session will not survive a
//!   restart. A failed save never causes another refresh. Every store call has a
//!   deadline ([`STORE_TIMEOUT`]).
//! - A background scheduler refreshes ahead of expiry on a timer (never by polling) and
//!   retries transient failures with backoff. Only a refresh the server rejects (400,
//!   401) ends the session and clears the stored credentials.
//! - Subscribers get [`TokenEvent`]s, which never carry a token.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;
use serde::Serialize;
use tokio::sync::{broadcast, Mutex, MutexGuard, Notify};

use crate::protocol::{RefreshPolicy, ServerProfile};
use crate::secret::Secret;
use crate::token::api::{AuthClient, AuthError, TokenGrant};
use crate::token::claims::{read_claims, ClaimsError};
use crate::token::lock::RefreshLock;
use crate::token::schedule::{rebase_after_wake, token_timing, TokenTiming};
use crate::token::store::{CredentialStore, StoreError, StoredCredentials, UnsavedReason};

/// The longest a call to the credential store may take (an unlock prompt nobody
/// answers, a hung D-Bus call) before it counts as failed.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The refresh token was rejected: invalid, blacklisted or expired.
    SessionExpired,
    /// A refresh was sent and its answer lost (a timeout after the server rotated);
    /// the server then refused the token Kith still held.
    RefreshLost,
    /// The server refused the account outright (close 4403).
    Forbidden,
    /// The user signed out (here, or in another Kith process sharing the keyring entry).
    LoggedOut,
}

impl EndReason {
    /// A short, stable code for machine-readable output (`session_expired`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::SessionExpired => "session_expired",
            EndReason::RefreshLost => "refresh_lost",
            EndReason::Forbidden => "forbidden",
            EndReason::LoggedOut => "logged_out",
        }
    }

    /// What happened, in words a user can act on: the one text for every place Kith
    /// says why a session ended (the CLI, the tray, the sign-in form).
    pub fn message(self) -> &'static str {
        match self {
            EndReason::SessionExpired => "the session expired; sign in again",
            EndReason::RefreshLost => {
                "a token refresh got no answer in time, and the server no longer accepts the \
                 token it replaced; sign in again"
            }
            EndReason::Forbidden => {
                "the server refused this account; check with its administrator, then sign in \
                 again"
            }
            EndReason::LoggedOut => "signed out",
        }
    }

    /// Whether the user needs telling why: not when they signed out themselves.
    pub fn needs_explaining(self) -> bool {
        self != EndReason::LoggedOut
    }
}

/// What the token manager tells its subscribers. Never holds a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenEvent {
    /// A new access token is in place.
    Refreshed {
        /// How long the new token is valid.
        expires_in: Duration,
        /// Its generation ([`AccessToken::generation`]).
        generation: u64,
    },
    /// A refresh failed for a reason worth retrying; the session goes on.
    RefreshDeferred {
        /// Why it failed, in words.
        reason: String,
        /// How long until it is tried again.
        retry_in: Duration,
    },
    /// The credential store refused the refresh token (at sign-in: there is no keyring;
    /// later: a rotated one). The session goes on with the tokens in memory, but will not
    /// survive a restart until a save succeeds.
    CredentialsUnsaved {
        /// Why, as the user is told (its `Display`), with the store's error inside.
        reason: UnsavedReason,
        /// How long until the save is tried again.
        retry_in: Duration,
    },
    /// A save that had failed went through; the session survives a restart again.
    CredentialsSaved,
    /// The session is over and the stored credentials are gone.
    SessionEnded {
        /// Why it ended.
        reason: EndReason,
    },
}

/// Why a token could not be had.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// No credentials: nobody signed in, or nothing stored to resume.
    #[error("not signed in")]
    NotSignedIn,
    /// The session ended, for this reason; only a new sign-in helps.
    #[error("the session has ended ({})", .0.as_str())]
    SessionEnded(EndReason),
    /// The auth API failed or refused.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The access token the server issued has no usable expiry (see [`ClaimsError`]).
    #[error("the server issued an unusable access token: {0}")]
    Claims(#[from] ClaimsError),
    /// The credential store failed.
    #[error("credential store: {0}")]
    Store(#[from] StoreError),
    /// Another Kith process held the refresh lock past its deadline.
    #[error("another Kith process is refreshing this session and has not finished")]
    RefreshBusy,
    /// The manager was closed (the session is shutting down).
    #[error("the session is shutting down")]
    Closed,
    /// The token task failed (a bug); retrying may succeed.
    #[error("the token task failed")]
    TaskFailed,
    /// Logout removed the local credentials, but the server did not confirm that it
    /// revoked the refresh token.
    #[error("signed out here, but the server did not revoke the session: {0}")]
    NotRevoked(AuthError),
}

impl TokenError {
    /// Whether retrying later may succeed (the session is still alive).
    pub fn is_transient(&self) -> bool {
        match self {
            TokenError::Auth(error) => !matches!(error, AuthError::Rejected { .. }),
            TokenError::Claims(_)
            | TokenError::Store(_)
            | TokenError::RefreshBusy
            | TokenError::TaskFailed => true,
            TokenError::NotSignedIn
            | TokenError::SessionEnded(_)
            | TokenError::Closed
            | TokenError::NotRevoked(_) => false,
        }
    }

    /// The server's `Retry-After`, if it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            TokenError::Auth(error) => error.retry_after(),
            _ => None,
        }
    }

    /// The refused certificate, when the auth API's TLS handshake failed on one.
    pub fn certificate_problem(&self) -> Option<crate::tls::CertProblem> {
        match self {
            TokenError::Auth(AuthError::Certificate(problem)) => Some(problem.clone()),
            _ => None,
        }
    }

    /// Whether a web page answered where the auth API should be (a captive portal).
    pub fn is_web_page(&self) -> bool {
        matches!(self, TokenError::Auth(AuthError::WebPage { .. }))
    }

    /// The reason a session is over, when this error says it is.
    pub fn end_reason(&self) -> Option<EndReason> {
        match self {
            TokenError::SessionEnded(reason) => Some(*reason),
            TokenError::NotSignedIn => Some(EndReason::SessionExpired),
            _ => None,
        }
    }
}

/// An access token ready for a handshake.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The token itself.
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
    /// Credentials the store refused, newer than what it holds; saved again with backoff.
    unsaved: Option<StoredCredentials>,
    /// The last refresh was sent and its answer lost: the server may have rotated.
    outcome_unknown: bool,
    /// Set by [`TokenManager::close`]: no refresh is started after it.
    closed: bool,
}

struct Inner {
    client: AuthClient,
    store: Arc<dyn CredentialStore>,
    account: String,
    policy: RefreshPolicy,
    refresh_timeout: Duration,
    refresh_lock: RefreshLock,
    state: Mutex<TokenState>,
    events: broadcast::Sender<TokenEvent>,
    refresh_requests: AtomicU64,
    schedule_changed: Notify,
    /// No refresh on schedule while set: the connection has given up, so a fresh
    /// token would serve nothing until it is asked for.
    schedule_paused: AtomicBool,
}

/// Cheap to clone; all clones share one session.
#[derive(Clone)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// The longest one refresh may hold the lock: the request, a reload and a save.
fn refresh_budget(refresh_timeout: Duration) -> Duration {
    refresh_timeout
        .saturating_add(STORE_TIMEOUT.saturating_mul(2))
        .saturating_add(Duration::from_secs(1))
}

/// How long a caller may wait for a token, whatever is in the way: the refresh of
/// another task or process, then its own. The connection machine uses it as the
/// deadline of a token fetch.
pub fn token_fetch_deadline(profile: &ServerProfile) -> Duration {
    refresh_budget(profile.auth.refresh_timeout).saturating_mul(2)
}

/// Runs `work` on a task of its own, so that dropping the caller's future cannot
/// interrupt it between the server's answer and the save of a rotated token.
async fn detached<T, F>(work: F) -> Result<T, TokenError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, TokenError>> + Send + 'static,
{
    tokio::spawn(work)
        .await
        .unwrap_or(Err(TokenError::TaskFailed))
}

impl TokenManager {
    /// A manager for `profile`'s auth API, keeping credentials in `store`. Nobody is
    /// signed in yet: [`login`](Self::login) or [`resume`](Self::resume) next.
    pub fn new(
        profile: ServerProfile,
        store: Arc<dyn CredentialStore>,
    ) -> Result<Self, TokenError> {
        let account = profile.account_key();
        let policy = profile.refresh.clone();
        let refresh_timeout = profile.auth.refresh_timeout;
        let refresh_lock = RefreshLock::for_scope(&format!("{}|{}", store.describe(), account));
        let client = AuthClient::new(profile)?;
        let (events, _) = broadcast::channel(256);
        Ok(TokenManager {
            inner: Arc::new(Inner {
                client,
                store,
                account,
                policy,
                refresh_timeout,
                refresh_lock,
                state: Mutex::new(TokenState::default()),
                events,
                refresh_requests: AtomicU64::new(0),
                schedule_changed: Notify::new(),
                schedule_paused: AtomicBool::new(false),
            }),
        })
    }

    /// A receiver of every [`TokenEvent`] from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<TokenEvent> {
        self.inner.events.subscribe()
    }

    /// The profile it was built for.
    pub fn profile(&self) -> &ServerProfile {
        self.inner.client.profile()
    }

    /// The TLS configuration and proxy rules the auth API uses; the socket uses them too.
    pub fn network(&self) -> &crate::network::Network {
        self.inner.client.network()
    }

    /// The auth API's HTTP client, shared with the resync fetch.
    pub(crate) fn http(&self) -> &reqwest::Client {
        self.inner.client.http()
    }

    /// The key under which this backend's credentials are stored.
    pub fn account(&self) -> &str {
        &self.inner.account
    }

    /// Refresh requests sent so far by this manager.
    pub fn refresh_requests(&self) -> u64 {
        self.inner.refresh_requests.load(Ordering::SeqCst)
    }

    /// Whether the latest rotated refresh token is only in memory (the store refused it).
    pub async fn has_unsaved_credentials(&self) -> bool {
        self.inner.state.lock().await.unsaved.is_some()
    }

    /// Logs in and persists the refresh token before anything uses the session.
    pub async fn login(&self, username: &str, password: Secret) -> Result<(), TokenError> {
        let grant = self.inner.client.login(username, &password).await?;
        drop(password);
        self.signed_in(username, grant).await
    }

    /// Signs in through the system browser (`auth.kind = "oidc"`): `open` is given the
    /// authorization URL to show, then the loopback redirect waits for the browser,
    /// until `cancel` completes or the profile's `browser_timeout`. Returns the user's
    /// name as the provider gave it.
    pub async fn login_with_browser(
        &self,
        open: impl FnOnce(&url::Url),
        cancel: impl Future<Output = ()>,
    ) -> Result<String, TokenError> {
        let pending = self.inner.client.begin_browser_sign_in().await?;
        open(pending.authorization_url());
        let grant = pending.finish(cancel).await.map_err(AuthError::from)?;
        let username = grant
            .user
            .as_ref()
            .map(|user| user.username().to_owned())
            .unwrap_or_else(|| "me".to_owned());
        self.signed_in(&username, grant.into_token_grant()).await?;
        Ok(username)
    }

    /// Keeps what a sign-in granted: the long-lived secret saved first, then the token.
    async fn signed_in(&self, username: &str, grant: TokenGrant) -> Result<(), TokenError> {
        let refresh = grant.refresh.clone().ok_or_else(|| {
            AuthError::BadResponse("the login response carries no refresh token".into())
        })?;
        let received_at = now();
        let timing = self.timing_of(&grant, received_at)?;
        let credentials = StoredCredentials {
            username: username.to_string(),
            refresh: refresh.clone(),
        };
        let attempt = credentials.clone();
        // No keyring at all: signed in for this run only, said so, and saved later by
        // the scheduler if a keyring appears. A locked or refusing one fails the sign-in.
        let unsaved = match self
            .store_call(move |store, account| store.save(account, &attempt))
            .await
        {
            Ok(()) => None,
            Err(error @ StoreError::NoKeyring(_)) => Some(error),
            Err(error) => return Err(error.into()),
        };
        let mut state = self.inner.state.lock().await;
        let generation = state.generation + 1;
        *state = TokenState {
            username: Some(username.to_string()),
            access: Some(Held {
                token: grant.access,
                timing,
                generation,
            }),
            refresh: Some(refresh),
            generation,
            unsaved: unsaved.is_some().then_some(credentials),
            ..TokenState::default()
        };
        drop(state);
        self.inner.schedule_changed.notify_one();
        tracing::info!(username, saved = unsaved.is_none(), "signed in");
        if let Some(error) = unsaved {
            let retry_in = self.inner.policy.retry_base;
            let event = TokenEvent::CredentialsUnsaved {
                reason: error.into(),
                retry_in,
            };
            let _ = self.inner.events.send(event);
        }
        Ok(())
    }

    /// Picks up the stored session. Returns the username, or `NotSignedIn`.
    pub async fn resume(&self) -> Result<String, TokenError> {
        let stored = self
            .store_call(|store, account| store.load(account))
            .await?
            .ok_or(TokenError::NotSignedIn)?;
        let mut state = self.inner.state.lock().await;
        state.username = Some(stored.username.clone());
        state.refresh = Some(stored.refresh);
        state.access = None;
        state.ended = None;
        state.unsaved = None;
        state.outcome_unknown = false;
        drop(state);
        self.inner.schedule_changed.notify_one();
        Ok(stored.username)
    }

    /// A token fresh enough for a handshake, refreshing first if it is due.
    pub async fn fresh_token(&self) -> Result<AccessToken, TokenError> {
        let manager = self.clone();
        detached(async move {
            let mut state = manager.usable_state().await?;
            if let Some(held) = &state.access {
                if now() < held.timing.refresh_at {
                    return Ok(access_of(held));
                }
            }
            manager.refresh_locked(&mut state).await
        })
        .await
    }

    /// Refreshes even if the token looks fresh, because the server rejected it.
    /// `rejected_generation` names the token that was rejected: if another caller has
    /// already replaced it, that newer token is returned without a second request.
    pub async fn force_refresh(&self, rejected_generation: u64) -> Result<AccessToken, TokenError> {
        let manager = self.clone();
        detached(async move {
            let mut state = manager.usable_state().await?;
            if let Some(held) = &state.access {
                if held.generation > rejected_generation && now() < held.timing.refresh_at {
                    return Ok(access_of(held));
                }
            }
            manager.refresh_locked(&mut state).await
        })
        .await
    }

    /// The state lock, once the session is known to be alive and open.
    async fn usable_state(&self) -> Result<MutexGuard<'_, TokenState>, TokenError> {
        let state = self.inner.state.lock().await;
        if state.closed {
            return Err(TokenError::Closed);
        }
        if let Some(reason) = state.ended {
            return Err(TokenError::SessionEnded(reason));
        }
        Ok(state)
    }

    /// Ends the session: the server revokes the refresh token, and the stored
    /// credentials are removed even if the server cannot be reached.
    ///
    /// A process that resumed a session holds no access token, and servers that
    /// authenticate their logout view (stock SimpleJWT setups) refuse a logout without
    /// one; so one refresh comes first. `Err(NotRevoked)` says the server did not
    /// confirm the revocation: the session may still be valid there.
    pub async fn logout(&self) -> Result<(), TokenError> {
        let manager = self.clone();
        detached(async move { manager.logout_now().await }).await
    }

    async fn logout_now(&self) -> Result<(), TokenError> {
        let mut state = self.inner.state.lock().await;
        if state.access.is_none() && state.refresh.is_some() && state.ended.is_none() {
            if let Err(error) = self.refresh_locked(&mut state).await {
                tracing::debug!(%error, "no access token for the logout request");
            }
        }
        let refresh = state.refresh.take();
        let access = state.access.take();
        state.ended = Some(EndReason::LoggedOut);
        state.unsaved = None;
        let server_result = match &refresh {
            Some(refresh) => {
                let access_token = access.as_ref().map(|held| &held.token);
                self.inner.client.logout(access_token, refresh).await
            }
            // The server already refused the refresh token: nothing is left to revoke.
            None => Ok(()),
        };
        let cleared = self.store_call(|store, account| store.clear(account)).await;
        drop(state);
        let _ = self.inner.events.send(TokenEvent::SessionEnded {
            reason: EndReason::LoggedOut,
        });
        self.inner.schedule_changed.notify_one();
        cleared?;
        match server_result {
            Ok(()) => Ok(()),
            Err(error) => {
                tracing::warn!(%error, "the server did not confirm the logout; local credentials are gone");
                Err(TokenError::NotRevoked(error))
            }
        }
    }

    /// Ends the session for a reason found elsewhere (the socket was refused for good).
    pub async fn end_session(&self, reason: EndReason) {
        let mut state = self.inner.state.lock().await;
        self.end_locked(&mut state, reason).await;
    }

    async fn end_locked(&self, state: &mut TokenState, reason: EndReason) {
        if state.ended.is_some() {
            return;
        }
        state.ended = Some(reason);
        state.access = None;
        state.refresh = None;
        state.unsaved = None;
        if let Err(error) = self.store_call(|store, account| store.clear(account)).await {
            tracing::warn!(%error, "could not remove stored credentials");
        }
        let _ = self.inner.events.send(TokenEvent::SessionEnded { reason });
        self.inner.schedule_changed.notify_one();
    }

    /// Waits for a refresh in flight to finish and save its result (bounded by the
    /// refresh deadline), then refuses to start another. Call it before the process
    /// exits: a refresh cut off after the server rotated would lose the session.
    pub async fn close(&self) {
        let wait = refresh_budget(self.inner.refresh_timeout);
        match tokio::time::timeout(wait, self.inner.state.lock()).await {
            Ok(mut state) => state.closed = true,
            Err(_) => tracing::warn!("a token refresh was still running at shutdown"),
        }
        self.inner.schedule_changed.notify_one();
    }

    /// Stops (`true`) or resumes (`false`) refreshing on schedule. While stopped, a
    /// token is still refreshed when asked for ([`fresh_token`](Self::fresh_token)):
    /// by Reconnect now, a sign-in or a network change that retries. The connection
    /// stops it while it has given up.
    pub fn pause_scheduled_refresh(&self, paused: bool) {
        if self.inner.schedule_paused.swap(paused, Ordering::SeqCst) != paused {
            tracing::debug!(paused, "scheduled refresh");
            self.inner.schedule_changed.notify_one();
        }
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

    /// Refreshes ahead of expiry, and saves credentials the store refused, until the
    /// manager is dropped by every owner. Run it on its own task; it sleeps until the
    /// next thing is due, never polls.
    pub async fn run_scheduler(self) {
        let mut failures: u32 = 0;
        let mut save_failures: u32 = 0;
        let mut save_retry_at: Option<Instant> = None;
        loop {
            let (refresh_due, unsaved) = {
                let state = self.inner.state.lock().await;
                let paused = self.inner.schedule_paused.load(Ordering::SeqCst);
                let refresh_due = match (&state.ended, state.closed, &state.access, &state.refresh)
                {
                    _ if paused => None,
                    (None, false, Some(held), _) => Some(held.timing.refresh_at),
                    (None, false, None, Some(_)) => Some(now()),
                    _ => None,
                };
                (refresh_due, state.unsaved.is_some())
            };
            if !unsaved {
                save_failures = 0;
                save_retry_at = None;
            } else if save_retry_at.is_none() {
                save_failures = save_failures.saturating_add(1);
                save_retry_at = Some(now() + self.retry_delay(save_failures, None));
            }
            let Some(due) = [refresh_due, save_retry_at].into_iter().flatten().min() else {
                self.inner.schedule_changed.notified().await;
                continue;
            };
            tokio::select! {
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(due)) => {}
                _ = self.inner.schedule_changed.notified() => continue,
            }
            if save_retry_at.is_some_and(|at| now() >= at) {
                save_retry_at = None;
                if self.save_unsaved().await {
                    save_failures = 0;
                }
                continue;
            }
            let manager = self.clone();
            match detached(async move { manager.refresh_if_due().await }).await {
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

    /// Backoff with jitter, at least the server's `Retry-After` (capped).
    fn retry_delay(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let policy = &self.inner.policy;
        let exp = policy
            .retry_base
            .saturating_mul(1u32 << failures.clamp(1, 17).saturating_sub(1))
            .min(policy.retry_cap);
        let jittered = exp.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
        jittered.max(retry_after.unwrap_or(Duration::ZERO).min(MAX_RETRY_AFTER))
    }

    /// Saves credentials the store refused earlier. Returns whether they are saved.
    async fn save_unsaved(&self) -> bool {
        let mut state = self.inner.state.lock().await;
        let Some(credentials) = state.unsaved.clone() else {
            return true;
        };
        match self
            .store_call(move |store, account| store.save(account, &credentials))
            .await
        {
            Ok(()) => {
                state.unsaved = None;
                tracing::info!("the refresh token is saved in the credential store again");
                let _ = self.inner.events.send(TokenEvent::CredentialsSaved);
                true
            }
            Err(StoreError::NoKeyring(_)) => false,
            Err(error) => {
                tracing::warn!(%error, "the credential store still refuses the refresh token");
                false
            }
        }
    }

    async fn refresh_if_due(&self) -> Result<(), TokenError> {
        let mut state = self.usable_state().await?;
        match &state.access {
            Some(held) if now() < held.timing.refresh_at => Ok(()),
            _ => self.refresh_locked(&mut state).await.map(|_| ()),
        }
    }

    /// The one place a refresh request is made. The caller holds the state lock, which
    /// makes refreshes single-flight within the process; the file lock taken here makes
    /// them single-flight across processes. Runs inside [`detached`].
    async fn refresh_locked(&self, state: &mut TokenState) -> Result<AccessToken, TokenError> {
        if state.refresh.is_none() {
            return Err(TokenError::NotSignedIn);
        }
        let _held_lock = self
            .inner
            .refresh_lock
            .acquire(refresh_budget(self.inner.refresh_timeout))
            .await?;
        self.adopt_stored(state).await?;
        let refresh = state.refresh.clone().ok_or(TokenError::NotSignedIn)?;
        self.inner.refresh_requests.fetch_add(1, Ordering::SeqCst);
        let grant: TokenGrant = match self.inner.client.refresh(&refresh).await {
            Ok(grant) => grant,
            Err(AuthError::Rejected { status, detail }) => {
                let reason = if state.outcome_unknown {
                    EndReason::RefreshLost
                } else {
                    EndReason::SessionExpired
                };
                tracing::warn!(status, %detail, reason = reason.as_str(), "refresh rejected; the session is over");
                self.end_locked(state, reason).await;
                return Err(TokenError::SessionEnded(reason));
            }
            Err(error @ AuthError::OutcomeUnknown { .. }) => {
                state.outcome_unknown = true;
                return Err(error.into());
            }
            Err(other) => return Err(other.into()),
        };
        state.outcome_unknown = false;
        let received_at = now();
        // Keep a rotated refresh token first, in memory and then in the store: the old
        // one is blacklisted now.
        if let Some(rotated) = &grant.refresh {
            state.refresh = Some(rotated.clone());
            if let Some(username) = state.username.clone() {
                self.save_rotated(
                    state,
                    StoredCredentials {
                        username,
                        refresh: rotated.clone(),
                    },
                )
                .await;
            }
        }
        // A renewal that gave back the token in use (Next-Auth re-mints only close to
        // expiry) changes nothing: no new generation, so no handover; it is asked
        // again after a pause, never in a tight loop, until the token changes.
        if let Some(held) = state.access.as_mut().filter(|h| h.token == grant.access) {
            let again = received_at + self.inner.policy.retry_base.max(Duration::from_secs(1));
            held.timing.refresh_at = again;
            tracing::debug!("the renewal gave back the token in use; asking again shortly");
            self.inner.schedule_changed.notify_one();
            return Ok(access_of(held));
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

    /// Before a refresh: picks up a refresh token another process rotated and stored,
    /// so a stale one is never sent. A session another process ended (the entry is
    /// gone) ends here too, without a request.
    async fn adopt_stored(&self, state: &mut TokenState) -> Result<(), TokenError> {
        if state.unsaved.is_some() {
            // What this process holds is newer than the store.
            return Ok(());
        }
        match self.store_call(|store, account| store.load(account)).await {
            Ok(Some(stored)) => {
                if state.refresh.as_ref() != Some(&stored.refresh) {
                    tracing::debug!(
                        "another Kith process refreshed this session; using its refresh token"
                    );
                    state.refresh = Some(stored.refresh);
                    state.outcome_unknown = false;
                }
                Ok(())
            }
            Ok(None) => {
                tracing::info!("the stored session is gone: signed out in another Kith process");
                self.end_locked(state, EndReason::LoggedOut).await;
                Err(TokenError::SessionEnded(EndReason::LoggedOut))
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read the credential store before a refresh; using the token in memory");
                Ok(())
            }
        }
    }

    /// Saves a rotated refresh token. On failure the tokens stay in use, the scheduler
    /// retries the save, and subscribers are told.
    async fn save_rotated(&self, state: &mut TokenState, credentials: StoredCredentials) {
        let attempt = credentials.clone();
        match self
            .store_call(move |store, account| store.save(account, &attempt))
            .await
        {
            Ok(()) => {
                if state.unsaved.take().is_some() {
                    let _ = self.inner.events.send(TokenEvent::CredentialsSaved);
                }
            }
            Err(error) => {
                let retry_in = self.inner.policy.retry_base;
                if !matches!(error, StoreError::NoKeyring(_)) {
                    tracing::warn!(%error, "the credential store refused the rotated refresh token; keeping it in memory");
                }
                // Told once, when the session stops being saved; not at every refresh.
                if state.unsaved.replace(credentials).is_none() {
                    let _ = self.inner.events.send(TokenEvent::CredentialsUnsaved {
                        reason: error.into(),
                        retry_in,
                    });
                }
            }
        }
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

    /// One call to the credential store, on a blocking thread, within [`STORE_TIMEOUT`].
    async fn store_call<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn CredentialStore, &str) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.inner.store.clone();
        let account = self.inner.account.clone();
        let task = tokio::task::spawn_blocking(move || call(store.as_ref(), &account));
        match tokio::time::timeout(STORE_TIMEOUT, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(StoreError::Backend("keyring task failed".into())),
            Err(_) => Err(StoreError::Timeout(STORE_TIMEOUT)),
        }
    }
}

/// The longest a server's `Retry-After` is honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

fn access_of(held: &Held) -> AccessToken {
    AccessToken {
        token: held.token.clone(),
        expires_at: held.timing.expires_at,
        generation: held.generation,
    }
}
