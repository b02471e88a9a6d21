//! Where the refresh token is kept between runs.
//!
//! [`CredentialStore`] is the seam: the OS keyring ([`KeyringStore`]) by default, an
//! in-memory map ([`MemoryStore`]) for tests. There is deliberately no plaintext-file
//! fallback: without a keyring, Kith says so instead of writing a token to disk.
//!
//! The keyring store is built explicitly through `keyring-core` (the engine of
//! keyring 4) rather than through keyring 4's process-wide default store, because that
//! default is created once per process and caches its failure: a keyring that comes up
//! after Kith starts would stay unusable until restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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

/// Why the credential store could not do what was asked.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// There is no keyring to use (none on D-Bus, no Keychain, no platform backend).
    #[error("no keyring available: {0}")]
    NoKeyring(String),
    /// The keyring is locked, or refused Kith access.
    #[error("the keyring is locked or refused access: {0}")]
    Locked(String),
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
pub struct KeyringStore {
    /// Always `Some` until dropped; see the `Drop` impl.
    store: Option<Arc<keyring_core::CredentialStore>>,
    service: String,
    /// What one entry may hold on this platform, checked before each save.
    limit: Option<EntryLimit>,
}

impl Drop for KeyringStore {
    fn drop(&mut self) {
        // Dropping the platform store closes its D-Bus proxies with a blocking call.
        if let Some(store) = self.store.take() {
            off_runtime(move || drop(store));
        }
    }
}

impl KeyringStore {
    /// Connects to the platform keyring now, so that a missing one is reported as a
    /// clear error at startup rather than at the first refresh.
    pub fn open() -> Result<Self, StoreError> {
        Self::open_with_service(KEYRING_SERVICE)
    }

    /// As [`KeyringStore::open`], filing entries under `service` instead of
    /// [`KEYRING_SERVICE`] (tests use their own).
    pub fn open_with_service(service: &str) -> Result<Self, StoreError> {
        let store = platform_store()?;
        Ok(KeyringStore {
            store: Some(store),
            service: service.to_string(),
            limit: PLATFORM_ENTRY_LIMIT,
        })
    }

    fn entry(&self, account: &str) -> Result<keyring_core::Entry, StoreError> {
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| StoreError::Backend("keyring store already closed".into()))?;
        off_runtime(|| store.build(&self.service, account, None)).map_err(map_keyring_error)
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
    let store = off_runtime(zbus_secret_service_keyring_store::Store::new).map_err(|error| {
        StoreError::NoKeyring(format!(
            "the Secret Service (e.g. gnome-keyring) is not reachable on D-Bus: {error}"
        ))
    })?;
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

fn map_keyring_error(error: keyring_core::Error) -> StoreError {
    use keyring_core::Error;
    match error {
        Error::NoStorageAccess(inner) => StoreError::Locked(inner.to_string()),
        Error::NoDefaultStore => StoreError::NoKeyring("no default store".into()),
        Error::BadEncoding(_) => StoreError::Corrupt("stored value is not UTF-8".into()),
        other => StoreError::Backend(other.to_string()),
    }
}

impl CredentialStore for KeyringStore {
    fn load(&self, account: &str) -> Result<Option<StoredCredentials>, StoreError> {
        let entry = self.entry(account)?;
        match off_runtime(|| entry.get_password()) {
            Ok(text) => StoredCredentials::decode(&text).map(Some),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(error) => Err(map_keyring_error(error)),
        }
    }

    fn save(&self, account: &str, credentials: &StoredCredentials) -> Result<(), StoreError> {
        let encoded = credentials.encode();
        if let Some(limit) = &self.limit {
            limit.check(&encoded)?;
        }
        let entry = self.entry(account)?;
        off_runtime(|| entry.set_password(&encoded)).map_err(map_keyring_error)
    }

    fn clear(&self, account: &str) -> Result<(), StoreError> {
        let entry = self.entry(account)?;
        match off_runtime(|| entry.delete_credential()) {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(error) => Err(map_keyring_error(error)),
        }
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
    fn debug_of_credentials_hides_the_token() {
        let creds = StoredCredentials {
            username: "bob".into(),
            refresh: Secret::new("very-secret-refresh"),
        };
        assert!(!format!("{creds:?}").contains("very-secret-refresh"));
    }
}
