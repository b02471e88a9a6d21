//! Kith's core: keeps a login session alive and one WebSocket to the backend healthy,
//! and turns what arrives into a live map of friends' presence.
//!
//! - [`token`]: JWT claims, the refresh schedule, the single-flight [`TokenManager`]
//!   and credential stores (OS keyring, in-memory).
//! - [`socket`]: the pure [`ConnectionMachine`] and the tokio driver that does its IO.
//! - [`presence`]: the friends map and its diffs; [`resync`]: the HTTP friend list
//!   that stands in for a snapshot after a reconnect.
//! - [`protocol`]: wire messages and [`ServerProfile`]s.
//! - [`network`], [`tls`], [`proxy`]: how a backend is reached: one rustls
//!   configuration (OS trust plus `tls.ca_file`) and one set of proxy rules for the
//!   auth API and the socket.
//! - [`Session`]: all of it behind one handle.
//! - [`alerts`]: who is alerted for which change (favourites, per-friend rules, quiet
//!   hours, snooze), "online since", the connection timeline and the header's counts:
//!   data plus pure functions, for the app to wire in.
//!
//! No Tauri and no UI here: the desktop app and the CLI sit on top.

#![warn(missing_docs, unreachable_pub)]

pub mod alerts;
pub mod network;
pub mod presence;
pub mod protocol;
pub mod proxy;
pub mod resync;
pub mod secret;
pub mod session;
pub mod socket;
pub mod text;
pub mod tls;
pub mod token;

pub use network::Network;
pub use presence::{ChangeCause, Friend, PresenceChange, PresenceStore};
pub use protocol::{FriendId, LastSeen, ProfileSource, ServerProfile, Status, WsAuthTransport};
pub use proxy::{ProxyRules, ProxyUrl};
pub use resync::ResyncError;
pub use secret::{redact_url, Secret};
pub use session::{FriendsReader, Session, SessionError};
/// The text type of names in presence values; see [`protocol::values`].
pub use smol_str::SmolStr;
pub use socket::{
    ConnectionMachine, ConnectionState, ConnectionSummary, Reason, SessionEvent, StateChange,
};
pub use tls::CertProblem;
pub use token::{
    CredentialStore, EndReason, KeyringStore, MemoryStore, StoreError, TokenError, TokenEvent,
    TokenManager, UnsavedReason, NO_KEYRING_MESSAGE,
};
