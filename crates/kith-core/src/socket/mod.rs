//! The presence socket: a pure connection state machine and the tokio driver that
//! carries out its actions.

pub mod backoff;
pub mod connection;
pub mod driver;
pub mod machine;
pub mod network_watch;
pub mod transport;
pub mod tunnel;
pub mod wake;

pub use driver::SessionEvent;
pub use machine::{
    Action, CloseReason, ConnId, ConnectionMachine, ConnectionState, ConnectionSummary,
    FetchPurpose, Input, MachineConfig, Reason, SnapshotMeaning, StateChange, MAX_RETRY_AFTER,
    QUICK_DISCONNECT_WINDOW,
};
