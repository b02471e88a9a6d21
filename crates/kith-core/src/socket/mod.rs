//! The presence socket: a pure connection state machine, the pure router that says
//! whose presence messages count during a handover, and the tokio driver that carries
//! out the machine's actions.
//!
//! Public: the machine ([`machine`]) and what it exchanges with its driver and users
//! ([`events`]), the handover router ([`handover`]), the backoff schedule
//! ([`backoff`]), and network watching and tunnels ([`network_watch`], [`tunnel`]).
//! The IO half (the driver, one task per socket, the upgrade request, the sleep
//! detector and, on Linux, logind's resume signal) is the crate's own; a
//! [`Session`](crate::Session) runs it, and tells the app what happens as
//! [`SessionEvent`]s.

pub mod backoff;
pub(crate) mod connection;
pub(crate) mod driver;
pub mod events;
pub mod handover;
#[cfg(target_os = "linux")]
pub(crate) mod logind;
pub mod machine;
pub mod network_watch;
pub(crate) mod transport;
pub mod tunnel;
pub(crate) mod wake;

pub use driver::SessionEvent;
pub use events::{
    Action, CloseReason, ConnId, ConnectionState, ConnectionSummary, FetchPurpose, Input,
    MachineConfig, Reason, StateChange, WebPageAt, MAX_RETRY_AFTER, QUICK_DISCONNECT_WINDOW,
};
pub use machine::ConnectionMachine;
