//! Where the refresh token is kept between runs.
//!
//! [`CredentialStore`] is the seam: the OS keyring ([`KeyringStore`]) by default, an
//! in-memory map ([`MemoryStore`]) for tests. There is deliberately no plaintext-file
//! fallback: without a keyring, a sign-in lasts for this run only (the token manager
//! keeps it in memory), and Kith says so with an [`UnsavedReason`] instead of writing a
//! token to disk.
//!
//! The keyring store is built explicitly through `keyring-core` (the engine of
//! keyring 4) rather than through keyring 4's process-wide default store, because that
//! default is created once per process and caches its failure: a keyring that comes up
//! after Kith starts would stay unusable until restart. [`KeyringStore`] connects at
//! its first call that finds a keyring, and again after one went away, so a keyring
//! started or unlocked later in the run is used from then on.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// What is persisted for one account: who, and the refresh token.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StoredCredentials {
    /// The user signed in.
    pub username: String,
    /// Their refresh token.
    pub refresh: Secret,
}

#[derive(Serialize, Deserialize)]
struct StoredForm {
    username: String,
    refresh: String,
}

impl StoredCredentials {
    fn encode(&self) -> String {
        serde_json::json!({"username": self.username, "refresh": self.refresh.expose()}).to_string()
    }

    fn decode(text: &str) -> Result<Self, StoreError> {
        let form: StoredForm = serde_json::from_str(text)
            .map_err(|_| StoreError::Corrupt("stored credentials are not valid JSON".into()))?;
        Ok(StoredCredentials {
            username: form.username,
            refresh: Secret::new(form.refresh),
        })
    }
}

/// Why the credential store could not do what was asked. "No keyring", "locked" and
/// "refused" are told apart from the platform's typed errors (see `keyring_errors.rs`
/// for the Secret Service), because each asks something different of the user.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// There is no keyring to use: no D-Bus session bus, nothing providing the Secret
    /// Service on it, no default keyring in it; no Keychain; no platform backend.
    #[error("no keyring is running: {0}")]
    NoKeyring(String),
    /// The keyring is there but locked, and nobody unlocked it.
    #[error("the keyring is locked: {0}")]
    Locked(String),
    /// The keyring is there and refused Kith access (a dismissed prompt, a denial).
    #[error("the keyring refused access: {0}")]
    Refused(String),
    /// Any other keyring failure, in its words.
    #[error("keyring error: {0}")]
    Backend(String),
    /// What is stored is not credentials Kith wrote (not UTF-8, not its JSON).
    #[error("stored credentials are unreadable: {0}")]
    Corrupt(String),
    /// The keyring did not answer in time (an unlock prompt nobody answered, a hung
    /// D-Bus call).
    #[error("the keyring did not answer within {} s", .0.as_secs())]
    Timeout(std::time::Duration),
    /// The credentials are larger than the keyring keeps for one entry (Windows
    /// Credential Manager: [`WINDOWS_CREDENTIAL_LIMIT`] bytes). Checked before writing.
    #[error(
        "the credentials take {size} bytes, more than the {limit} bytes {keyring} keeps per entry"
    )]
    TooLarge {
        /// Their stored size in bytes.
        size: usize,
        /// The most one entry holds.
        limit: usize,
        /// The keyring's name.
        keyring: &'static str,
    },
}

/// What the user is told when there is no keyring at all: the sign-in lasts for this
/// run only. The CLI prints it on stderr; the app shows it in its banner and settings.
#[cfg(target_os = "linux")]
pub const NO_KEYRING_MESSAGE: &str = "Signed in for this session only: no keyring (Secret \
     Service) is running, so Kith will ask for your password next time. Install \
     gnome-keyring or enable KeePassXC's Secret Service to be remembered.";
/// What the user is told when there is no keyring at all: the sign-in lasts for this
/// run only. The CLI prints it on stderr; the app shows it in its banner and settings.
#[cfg(not(target_os = "linux"))]
pub const NO_KEYRING_MESSAGE: &str = "Signed in for this session only: no keyring is \
     available, so Kith will ask for your password next time.";

/// Why this session's sign-in is not saved in the keyring, as Kith tells the user. Its
/// `Display` is the one text every place shows (the CLI's stderr and its
/// `credentials_unsaved` line, the app's banner, settings and notification); the store's
/// own error is kept for logs. Never holds a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsavedReason {
    error: StoreError,
}

impl UnsavedReason {
    /// The reason for a store's refusal.
    pub fn new(error: StoreError) -> Self {
        UnsavedReason { error }
    }

    /// What the store said, for logs and details.
    pub fn error(&self) -> &StoreError {
        &self.error
    }

    /// Whether there is no keyring at all, as opposed to one that is locked or refused.
    pub fn is_no_keyring(&self) -> bool {
        matches!(self.error, StoreError::NoKeyring(_))
    }

    /// A short, stable code for machine-readable output: `no_keyring`, `locked`,
    /// `refused`, `timeout` or `failed`.
    pub fn as_str(&self) -> &'static str {
        match self.error {
            StoreError::NoKeyring(_) => "no_keyring",
            StoreError::Locked(_) => "locked",
            StoreError::Refused(_) => "refused",
            StoreError::Timeout(_) => "timeout",
            StoreError::Backend(_) | StoreError::Corrupt(_) | StoreError::TooLarge { .. } => {
                "failed"
            }
        }
    }
}

impl From<StoreError> for UnsavedReason {
    fn from(error: StoreError) -> Self {
        UnsavedReason::new(error)
    }
}

impl std::fmt::Display for UnsavedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const LEAD: &str = "Signed in for this session only";
        match &self.error {
            StoreError::NoKeyring(_) => f.write_str(NO_KEYRING_MESSAGE),
            StoreError::Locked(_) => write!(
                f,
                "{LEAD}: the keyring is locked, so your sign-in is not saved and Kith will ask \
                 for your password next time. Unlock the keyring and Kith saves it then."
            ),
            StoreError::Refused(_) => write!(
                f,
                "{LEAD}: the keyring did not let Kith save your sign-in (its unlock prompt \
                 was dismissed, or access was denied), so Kith will ask for your password \
                 next time. Kith asks the keyring again at its next save."
            ),
            StoreError::Timeout(limit) => write!(
                f,
                "{LEAD}: the keyring did not answer within {} s, so your sign-in is not saved \
                 and Kith will ask for your password next time, unless a later save succeeds.",
                limit.as_secs()
            ),
            other => write!(
                f,
                "{LEAD}: the keyring could not save your sign-in ({other}), so Kith will ask \
                 for your password next time, unless a later save succeeds."
            ),
        }
    }
}

/// Windows Credential Manager keeps at most 2,560 bytes per credential
/// (`CRED_MAX_CREDENTIAL_BLOB_SIZE`, 5 × 512), and windows-native-keyring-store writes
/// the password as UTF-16, two bytes per code unit.
pub const WINDOWS_CREDENTIAL_LIMIT: usize = 2560;

/// How much one keyring entry may hold, and how a value is measured there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryLimit {
    /// The keyring's name, for messages.
    pub keyring: &'static str,
    /// The most one entry holds, in bytes.
    pub max_bytes: usize,
    /// Values are stored as UTF-16 (two bytes per code unit), not UTF-8.
    pub utf16: bool,
}

impl EntryLimit {
    /// Windows Credential Manager's limit.
    pub const WINDOWS: EntryLimit = EntryLimit {
        keyring: "Windows Credential Manager",
        max_bytes: WINDOWS_CREDENTIAL_LIMIT,
        utf16: true,
    };

    /// The stored size of `encoded`; an error naming the limit when it is too large.
    pub fn check(&self, encoded: &str) -> Result<(), StoreError> {
        let size = if self.utf16 {
            encoded.encode_utf16().count() * 2
        } else {
            encoded.len()
        };
        if size > self.max_bytes {
            return Err(StoreError::TooLarge {
                size,
                limit: self.max_bytes,
                keyring: self.keyring,
            });
        }
        Ok(())
    }
}

/// Persists one [`StoredCredentials`] per account key (the server's origin).
/// Calls may block (D-Bus, Keychain); async callers run them on a blocking thread.
pub trait CredentialStore: Send + Sync + 'static {
    /// The account's credentials; `None` when none are stored.
    fn load(&self, account: &str) -> Result<Option<StoredCredentials>, StoreError>;
    /// Stores the account's credentials, replacing any before.
    fn save(&self, account: &str, credentials: &StoredCredentials) -> Result<(), StoreError>;
    /// Removes the account's credentials; removing nothing is not an error.
    fn clear(&self, account: &str) -> Result<(), StoreError>;
    /// A short description for messages, e.g. "OS keyring (service \"kith\")".
    fn describe(&self) -> String;
}

/// Credentials kept in memory, for tests and for sessions that must not persist.
#[derive(Default, Clone)]
pub struct MemoryStore {
    entries: Arc<Mutex<HashMap<String, StoredCredentials>>>,
    history: Arc<Mutex<Vec<Secret>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many times credentials were saved (each rotation saves once).
    pub fn save_count(&self) -> usize {
        self.history.lock().map(|h| h.len()).unwrap_or_default()
    }

    /// Every refresh token saved so far, oldest first, so a test can ask the server
    /// about each of them.
    pub fn saved_tokens(&self) -> Vec<Secret> {
        self.history.lock().map(|h| h.clone()).unwrap_or_default()
    }
}

impl CredentialStore for MemoryStore {
    fn load(&self, account: &str) -> Result<Option<StoredCredentials>, StoreError> {
        let entries = self
            .entries
            .lock()
            .map_err(|_| StoreError::Backend("memory store poisoned".into()))?;
        Ok(entries.get(account).cloned())
    }

    fn save(&self, account: &str, credentials: &StoredCredentials) -> Result<(), StoreError> {
        let mut entries = self
            .entries
            .lock()
            .map_err(|_| StoreError::Backend("memory store poisoned".into()))?;
        entries.insert(account.to_string(), credentials.clone());
        if let Ok(mut history) = self.history.lock() {
            history.push(credentials.refresh.clone());
        }
        Ok(())
    }

    fn clear(&self, account: &str) -> Result<(), StoreError> {
        let mut entries = self
            .entries
            .lock()
            .map_err(|_| StoreError::Backend("memory store poisoned".into()))?;
        entries.remove(account);
        Ok(())
    }

    fn describe(&self) -> String {
        "in-memory store".into()
    }
}

/// The keyring service name under which Kith files its entries.
pub const KEYRING_SERVICE: &str = "kith";

/// The OS keyring: Secret Service on Linux, the login Keychain on macOS, Credential
/// Manager on Windows (where an entry holds at most [`WINDOWS_CREDENTIAL_LIMIT`] bytes).
///
/// It connects lazily: a call made while no keyring answers fails with
/// [`StoreError::NoKeyring`], and the next call tries again, so a keyring started (or
/// given a default collection) later in the run is found without a restart. A
/// connection that fails in a way that suggests the service went away is dropped and
/// made again at the next call.
pub struct KeyringStore {
    /// The platform store once a keyring answered; `None` before that, and again after
    /// a failure that suggests it went away.
    store: Mutex<Option<Arc<keyring_core::CredentialStore>>>,
    service: String,
    /// What one entry may hold on this platform, checked before each save.
    limit: Option<EntryLimit>,
}

impl Drop for KeyringStore {
    fn drop(&mut self) {
        // Dropping the platform store closes its D-Bus proxies with a blocking call.
        let store = self
            .store
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(store) = store {
            off_runtime(move || drop(store));
        }
    }
}

impl KeyringStore {
    /// The platform keyring. It tries to connect now, so that a working keyring is
    /// ready at the first call; a missing one is not an error here (it is logged): each
    /// call tries again, and one that finds none fails with [`StoreError::NoKeyring`],
    /// which the token manager turns into a sign-in for this run only.
    pub fn open() -> Result<Self, StoreError> {
        Self::open_with_service(KEYRING_SERVICE)
    }

    /// As [`KeyringStore::open`], filing entries under `service` instead of
    /// [`KEYRING_SERVICE`] (tests use their own).
    pub fn open_with_service(service: &str) -> Result<Self, StoreError> {
        let store = KeyringStore {
            store: Mutex::new(None),
            service: service.to_string(),
            limit: PLATFORM_ENTRY_LIMIT,
        };
        if let Err(error) = store.connected() {
            tracing::info!(%error, "no keyring for now; Kith looks again at each use");
        }
        Ok(store)
    }

    /// The platform store, connecting first if there is none yet.
    fn connected(&self) -> Result<Arc<keyring_core::CredentialStore>, StoreError> {
        let mut slot = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(store) = slot.as_ref() {
            return Ok(store.clone());
        }
        let store = platform_store()?;
        *slot = Some(store.clone());
        Ok(store)
    }

    /// One call on the account's entry, off the async runtime. The entry and this
    /// clone of the platform store are dropped there too.
    fn call<T: Send>(
        &self,
        account: &str,
        op: impl FnOnce(&keyring_core::Entry) -> keyring_core::Result<T> + Send,
    ) -> Result<T, StoreError> {
        let store = self.connected()?;
        let service = self.service.as_str();
        let result = off_runtime(move || {
            let entry = store
                .build(service, account, None)
                .map_err(map_keyring_error)?;
            op(&entry).map_err(map_keyring_error)
        });
        if let Err(StoreError::NoKeyring(_) | StoreError::Backend(_)) = &result {
            // The service may have gone (or restarted, invalidating its session):
            // connect afresh next time.
            let gone = self
                .store
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(gone) = gone {
                off_runtime(move || drop(gone));
            }
        }
        result
    }
}

/// Runs a blocking keyring call where it may block. The platform stores drive D-Bus
/// with their own `block_on`, which panics on a thread that belongs to a tokio runtime;
/// there, the call moves to a short-lived plain thread.
fn off_runtime<T: Send>(call: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return call();
    }
    std::thread::scope(|scope| match scope.spawn(call).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

// One function per platform builds its keyring-core store; nothing else differs.
// Only the Linux one is compiled and tested on the machine the tests run on; the macOS
// and Windows ones follow their crates' docs.rs API and are built by CI's matrix.

#[cfg(target_os = "linux")]
fn platform_store() -> Result<Arc<keyring_core::CredentialStore>, StoreError> {
    let store =
        off_runtime(zbus_secret_service_keyring_store::Store::new).map_err(map_keyring_error)?;
    Ok(store)
}

/// The user's login keychain.
#[cfg(target_os = "macos")]
fn platform_store() -> Result<Arc<keyring_core::CredentialStore>, StoreError> {
    let store = apple_native_keyring_store::keychain::Store::new().map_err(|error| {
        StoreError::NoKeyring(format!("the macOS Keychain is not available: {error}"))
    })?;
    Ok(store)
}

/// Generic credentials in the user's Credential Manager.
#[cfg(windows)]
fn platform_store() -> Result<Arc<keyring_core::CredentialStore>, StoreError> {
    let store = windows_native_keyring_store::Store::new().map_err(|error| {
        StoreError::NoKeyring(format!(
            "the Windows Credential Manager is not available: {error}"
        ))
    })?;
    Ok(store)
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
fn platform_store() -> Result<Arc<keyring_core::CredentialStore>, StoreError> {
    Err(StoreError::NoKeyring(
        "this build of Kith has no keyring backend for this platform".into(),
    ))
}

#[cfg(windows)]
const PLATFORM_ENTRY_LIMIT: Option<EntryLimit> = Some(EntryLimit::WINDOWS);
#[cfg(not(windows))]
const PLATFORM_ENTRY_LIMIT: Option<EntryLimit> = None;

/// keyring-core's error as a [`StoreError`]. Its `NoStorageAccess` and
/// `PlatformFailure` wrap the platform's own error; where Kith knows that error's type
/// (the Secret Service's, on Linux) it is read for what it is.
fn map_keyring_error(error: keyring_core::Error) -> StoreError {
    use keyring_core::Error;
    match error {
        Error::NoStorageAccess(inner) => platform_error(inner.as_ref())
            .unwrap_or_else(|| StoreError::Locked(format!("locked, or access refused: {inner}"))),
        Error::PlatformFailure(inner) => platform_error(inner.as_ref())
            .unwrap_or_else(|| StoreError::Backend(format!("platform failure: {inner}"))),
        Error::NoDefaultStore => StoreError::NoKeyring("no default store".into()),
        Error::BadEncoding(_) => StoreError::Corrupt("stored value is not UTF-8".into()),
        other => StoreError::Backend(other.to_string()),
    }
}

#[cfg(target_os = "linux")]
fn platform_error(error: &(dyn std::error::Error + Send + Sync + 'static)) -> Option<StoreError> {
    super::keyring_errors::classify(error)
}

#[cfg(not(target_os = "linux"))]
fn platform_error(_: &(dyn std::error::Error + Send + Sync + 'static)) -> Option<StoreError> {
    None
}

impl CredentialStore for KeyringStore {
    fn load(&self, account: &str) -> Result<Option<StoredCredentials>, StoreError> {
        let text = self.call(account, |entry| match entry.get_password() {
            Ok(text) => Ok(Some(text)),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(error) => Err(error),
        })?;
        text.map(|text| StoredCredentials::decode(&text))
            .transpose()
    }

    fn save(&self, account: &str, credentials: &StoredCredentials) -> Result<(), StoreError> {
        let encoded = credentials.encode();
        if let Some(limit) = &self.limit {
            limit.check(&encoded)?;
        }
        self.call(account, |entry| entry.set_password(&encoded))
    }

    fn clear(&self, account: &str) -> Result<(), StoreError> {
        self.call(account, |entry| match entry.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(error) => Err(error),
        })
    }

    fn describe(&self) -> String {
        format!("OS keyring (service {:?})", self.service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_round_trip_and_clear() {
        let store = MemoryStore::new();
        assert_eq!(store.load("a").unwrap(), None);
        let creds = StoredCredentials {
            username: "alice".into(),
            refresh: Secret::new("r1"),
        };
        store.save("a", &creds).unwrap();
        assert_eq!(store.load("a").unwrap(), Some(creds));
        store.clear("a").unwrap();
        store.clear("a").unwrap();
        assert_eq!(store.load("a").unwrap(), None);
    }

    #[test]
    fn stored_form_round_trips_and_rejects_garbage() {
        let creds = StoredCredentials {
            username: "bob".into(),
            refresh: Secret::new("tok\"en"),
        };
        assert_eq!(StoredCredentials::decode(&creds.encode()).unwrap(), creds);
        assert!(matches!(
            StoredCredentials::decode("plain"),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn the_windows_limit_is_checked_before_writing() {
        let limit = EntryLimit::WINDOWS;
        let with_refresh = |refresh: String| StoredCredentials {
            username: "alice".into(),
            refresh: Secret::new(refresh),
        };
        let overhead = with_refresh(String::new()).encode().len();
        // ASCII: 2 bytes per character as UTF-16, so 1,280 characters fit exactly.
        let fits = with_refresh("r".repeat(WINDOWS_CREDENTIAL_LIMIT / 2 - overhead));
        assert_eq!(
            fits.encode().encode_utf16().count() * 2,
            WINDOWS_CREDENTIAL_LIMIT
        );
        assert_eq!(limit.check(&fits.encode()), Ok(()));
        let over = with_refresh("r".repeat(WINDOWS_CREDENTIAL_LIMIT / 2 - overhead + 1));
        let error = limit.check(&over.encode()).unwrap_err();
        assert_eq!(
            error,
            StoreError::TooLarge {
                size: WINDOWS_CREDENTIAL_LIMIT + 2,
                limit: WINDOWS_CREDENTIAL_LIMIT,
                keyring: "Windows Credential Manager",
            }
        );
        let message = error.to_string();
        assert!(message.contains("2560 bytes"), "{message}");
        assert!(!message.contains("rrrr"), "the token leaked: {message}");
        // Measured as UTF-16, what the store writes, not as UTF-8: 1,280 × "€" is
        // 3,840 UTF-8 bytes but 2,560 UTF-16 bytes, and fits.
        assert!(limit.check(&"é".repeat(1_000)).is_ok());
        assert!(limit.check(&"€".repeat(1_281)).is_err());
        assert!(limit.check(&"€".repeat(1_280)).is_ok());
        // A 1,200-byte refresh token (a large JWT) fits.
        assert!(limit
            .check(&with_refresh("x".repeat(1_200)).encode())
            .is_ok());
    }

    #[test]
    fn the_user_is_told_no_keyring_apart_from_locked_and_refused() {
        let told = |error: StoreError| {
            let reason = UnsavedReason::from(error);
            (reason.as_str(), reason.to_string())
        };
        let (code, text) = told(StoreError::NoKeyring("no bus".into()));
        assert_eq!(code, "no_keyring");
        assert_eq!(text, NO_KEYRING_MESSAGE);
        #[cfg(target_os = "linux")]
        assert_eq!(
            text,
            "Signed in for this session only: no keyring (Secret Service) is running, so \
             Kith will ask for your password next time. Install gnome-keyring or enable \
             KeePassXC's Secret Service to be remembered."
        );
        assert!(UnsavedReason::new(StoreError::NoKeyring(String::new())).is_no_keyring());

        let (code, locked) = told(StoreError::Locked("its collection is locked".into()));
        assert_eq!(code, "locked");
        assert!(locked.contains("the keyring is locked"), "{locked}");
        assert!(locked.contains("Unlock the keyring"), "{locked}");
        let (code, refused) = told(StoreError::Refused("dismissed".into()));
        assert_eq!(code, "refused");
        assert!(refused.contains("unlock prompt was dismissed"), "{refused}");
        let (code, timeout) = told(StoreError::Timeout(std::time::Duration::from_secs(10)));
        assert_eq!(code, "timeout");
        assert!(timeout.contains("within 10 s"), "{timeout}");
        let (code, other) = told(StoreError::Backend("boom".into()));
        assert_eq!(code, "failed");
        assert!(other.contains("keyring error: boom"), "{other}");
        for text in [&locked, &refused, &timeout, &other] {
            assert!(
                text.starts_with("Signed in for this session only: "),
                "{text}"
            );
            assert!(!text.contains("no keyring"), "{text}");
        }
        assert_ne!(locked, refused);
        // The store's own words stay apart, for logs.
        assert_eq!(
            UnsavedReason::new(StoreError::Locked("x".into()))
                .error()
                .to_string(),
            "the keyring is locked: x"
        );
    }

    #[test]
    fn debug_of_credentials_hides_the_token() {
        let creds = StoredCredentials {
            username: "bob".into(),
            refresh: Secret::new("very-secret-refresh"),
        };
        assert!(!format!("{creds:?}").contains("very-secret-refresh"));
    }
}
