//! The JWT token lifecycle: claims, refresh schedule, the auth API, credential stores
//! and the single-flight token manager that ties them together.

pub mod api;
pub mod claims;
#[cfg(target_os = "linux")]
mod keyring_errors;
pub mod lock;
pub mod manager;
mod nextauth;
pub mod oidc;
pub mod schedule;
pub mod store;

pub use api::{AuthClient, AuthError, TokenGrant};
pub use claims::{read_claims, ClaimsError, TokenClaims};
pub use manager::{
    token_fetch_deadline, AccessToken, EndReason, TokenError, TokenEvent, TokenManager,
    STORE_TIMEOUT,
};
pub use schedule::{token_timing, TokenTiming};
pub use store::{
    CredentialStore, KeyringStore, MemoryStore, StoreError, StoredCredentials, UnsavedReason,
    NO_KEYRING_MESSAGE,
};
