//! A running Kith session: the token manager, its refresh scheduler and the socket
//! driver, behind one handle.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kith_core::SessionError> {
//! use std::sync::Arc;
//! use kith_core::{MemoryStore, ServerProfile, Session, Secret};
//! let profile = ServerProfile::simplejwt("http://127.0.0.1:8000");
//! let mut session = Session::login(profile, Arc::new(MemoryStore::new()), "demo", Secret::new("demo")).await?;
//! let mut events = session.take_events().expect("events are taken once");
//! while let Some(event) = events.recv().await {
//!     println!("{event:?}");
//! }
//! # Ok(()) }
//! ```

use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use smol_str::SmolStr;

use crate::presence::{Friend, PresenceStore};
use crate::protocol::{ProfileError, ServerProfile, Unconsumed};
use crate::secret::Secret;
use crate::socket::driver::{Command, Driver, DriverChannels, SessionEvent};
use crate::socket::ConnectionState;
use crate::token::{CredentialStore, TokenError, TokenEvent, TokenManager};

/// Why a session could not be started or ended.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The profile is invalid.
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// Logging in, resuming or logging out failed.
    #[error(transparent)]
    Token(#[from] TokenError),
}

/// Read access to a session's friends map: the one copy of who is online, which the
/// session keeps current and the app reads when it draws.
#[derive(Clone)]
pub struct FriendsReader(Arc<RwLock<PresenceStore>>);

impl FriendsReader {
    fn read<T>(&self, f: impl FnOnce(&PresenceStore) -> T) -> Option<T> {
        self.0.read().ok().map(|store| f(&store))
    }

    /// The friends, online first, then by name in Kith's one collation
    /// ([`collation_key`](crate::protocol::collation_key)).
    pub fn friends(&self) -> Vec<Friend> {
        let mut friends: Vec<Friend> = self
            .read(|store| store.friends().cloned().collect())
            .unwrap_or_default();
        friends.sort_by_cached_key(|f| (!f.is_online(), f.collation_key()));
        friends
    }

    /// Runs `f` on the friends map as it is now, under its read lock (keep `f` short);
    /// `None` if a writer panicked.
    pub fn inspect<T>(&self, f: impl FnOnce(&PresenceStore) -> T) -> Option<T> {
        self.read(f)
    }

    /// The names of the friends who are online, in no particular order.
    pub fn online_names(&self) -> Vec<SmolStr> {
        self.read(|store| {
            store
                .friends()
                .filter(|f| f.is_online())
                .map(|f| f.display_name().into())
                .collect()
        })
        .unwrap_or_default()
    }

    /// Since when some friends' status may be out of date (Kith reconnected and the
    /// backend could not say what it missed), while any friend is marked so; see
    /// [`Friend::is_stale`].
    pub fn stale_since(&self) -> Option<SystemTime> {
        self.read(PresenceStore::stale_since).flatten()
    }

    /// How many friends there are.
    pub fn len(&self) -> usize {
        self.read(PresenceStore::len).unwrap_or_default()
    }

    /// Whether there are no friends.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A live session. Dropping it stops the connection without waiting; prefer
/// [`Session::stop`], which closes the socket with 1000 first.
pub struct Session {
    tokens: TokenManager,
    commands: mpsc::UnboundedSender<Command>,
    state: watch::Receiver<ConnectionState>,
    presence: Arc<RwLock<PresenceStore>>,
    unconsumed: Arc<Mutex<Unconsumed>>,
    events: Option<mpsc::UnboundedReceiver<SessionEvent>>,
    driver: Option<JoinHandle<()>>,
    scheduler: JoinHandle<()>,
}

impl Session {
    /// Logs in, persists the refresh token, and connects.
    pub async fn login(
        profile: ServerProfile,
        store: Arc<dyn CredentialStore>,
        username: &str,
        password: Secret,
    ) -> Result<Session, SessionError> {
        profile.validate()?;
        let tokens = TokenManager::new(profile, store)?;
        // What the sign-in itself reports (no keyring: kept for this run only) comes
        // before the driver listens; it is handed on as the session's first event.
        let mut sign_in_events = tokens.subscribe();
        tokens.login(username, password).await?;
        let first = sign_in_reports(&mut sign_in_events);
        Ok(Session::start_with(tokens, rand::random(), first))
    }

    /// Signs in through the system browser (`auth.kind = "oidc"`), persists the
    /// refresh token, and connects: the session, and the user's name as the provider
    /// gave it. `open` is given the authorization URL; the loopback redirect waits
    /// until the browser comes back, `cancel` completes, or the profile's
    /// `browser_timeout` passes.
    pub async fn login_with_browser(
        profile: ServerProfile,
        store: Arc<dyn CredentialStore>,
        open: impl FnOnce(&url::Url),
        cancel: impl std::future::Future<Output = ()>,
    ) -> Result<(Session, String), SessionError> {
        profile.validate()?;
        let tokens = TokenManager::new(profile, store)?;
        let mut sign_in_events = tokens.subscribe();
        let username = tokens.login_with_browser(open, cancel).await?;
        let first = sign_in_reports(&mut sign_in_events);
        Ok((Session::start_with(tokens, rand::random(), first), username))
    }

    /// Resumes the stored session and connects: the session, and the username it
    /// belongs to. `NotSignedIn` when there is none.
    pub async fn resume(
        profile: ServerProfile,
        store: Arc<dyn CredentialStore>,
    ) -> Result<(Session, String), SessionError> {
        profile.validate()?;
        let tokens = TokenManager::new(profile, store)?;
        let username = tokens.resume().await?;
        Ok((Session::start(tokens), username))
    }

    /// Connects with a token manager that is already signed in.
    pub fn start(tokens: TokenManager) -> Session {
        Self::start_with_seed(tokens, rand::random())
    }

    /// As [`Session::start`], with a fixed seed for backoff jitter.
    pub fn start_with_seed(tokens: TokenManager, seed: u64) -> Session {
        Self::start_with(tokens, seed, Vec::new())
    }

    /// As [`Session::start_with_seed`], with `first` as the first events.
    fn start_with(tokens: TokenManager, seed: u64, first: Vec<SessionEvent>) -> Session {
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(ConnectionState::Idle);
        let (events_tx, events) = mpsc::unbounded_channel();
        for event in first {
            let _ = events_tx.send(event);
        }
        let presence = Arc::new(RwLock::new(PresenceStore::new()));
        let unconsumed = Arc::new(Mutex::new(Unconsumed::new()));
        let scheduler = tokio::spawn(tokens.clone().run_scheduler());
        let driver = tokio::spawn(Driver::run(
            tokens.profile().clone(),
            tokens.clone(),
            DriverChannels {
                commands: commands_rx,
                state: state_tx,
                events: events_tx,
                presence: presence.clone(),
                unconsumed: unconsumed.clone(),
            },
            seed,
        ));
        Session {
            tokens,
            commands,
            state,
            presence,
            unconsumed,
            events: Some(events),
            driver: Some(driver),
            scheduler,
        }
    }

    /// The event stream; it can be taken once.
    pub fn take_events(&mut self) -> Option<mpsc::UnboundedReceiver<SessionEvent>> {
        self.events.take()
    }

    /// Counts of the messages received and not consumed (events and JSON types Kith
    /// does not use), by kind.
    pub fn unconsumed(&self) -> Unconsumed {
        self.unconsumed
            .lock()
            .map(|counts| counts.clone())
            .unwrap_or_default()
    }

    /// The connection's state now.
    pub fn state(&self) -> ConnectionState {
        self.state.borrow().clone()
    }

    /// The friends as currently known, online first, then by name.
    pub fn friends(&self) -> Vec<Friend> {
        self.friends_reader().friends()
    }

    /// A handle that reads this session's friends map, for an app that draws from it
    /// outside the session's owner. It keeps the map, not the session, alive.
    pub fn friends_reader(&self) -> FriendsReader {
        FriendsReader(self.presence.clone())
    }

    /// The token manager behind the session.
    pub fn tokens(&self) -> &TokenManager {
        &self.tokens
    }

    /// Skips the backoff wait and reconnects now.
    pub fn reconnect_now(&self) {
        let _ = self.commands.send(Command::ReconnectNow);
    }

    /// Closes the socket with 1000 and never reconnects.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    /// Signs out: the server blacklists the refresh token, the keyring entry is removed,
    /// and the socket closes. `Err(Token(NotRevoked))` means the local credentials are
    /// gone but the server did not confirm the revocation.
    pub async fn logout(mut self) -> Result<(), SessionError> {
        let result = self.tokens.logout().await;
        self.shutdown().await;
        result.map_err(SessionError::from)
    }

    async fn shutdown(&mut self) {
        let (ack, acked) = oneshot::channel();
        if self.commands.send(Command::Stop(ack)).is_ok() {
            let _ = acked.await;
        }
        if let Some(driver) = self.driver.take() {
            let _ = driver.await;
        }
        self.scheduler.abort();
        // A refresh in flight runs on; wait for it to save what the server rotated.
        self.tokens.close().await;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.scheduler.abort();
        if let Some(driver) = self.driver.take() {
            let _ = self.commands.send(Command::Stop(oneshot::channel().0));
            drop(driver);
        }
    }
}

/// What a sign-in reported before the driver listened (no keyring: kept for this run
/// only), handed on as the session's first events.
fn sign_in_reports(events: &mut broadcast::Receiver<TokenEvent>) -> Vec<SessionEvent> {
    std::iter::from_fn(|| events.try_recv().ok())
        .filter_map(|event| match event {
            TokenEvent::CredentialsUnsaved { reason, .. } => {
                Some(SessionEvent::CredentialsUnsaved { reason })
            }
            _ => None,
        })
        .collect()
}
