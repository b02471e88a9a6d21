//! The presence socket: a pure connection state machine, the pure router that says
//! whose presence messages count during a handover, and the tokio driver that carries
//! out the machine's actions.

pub mod backoff;
pub mod connection;
pub mod driver;
pub mod events;
pub mod handover;
pub mod machine;
pub mod network_watch;
pub mod transport;
pub mod tunnel;
pub mod wake;

pub use driver::SessionEvent;
pub use events::{
    Action, CloseReason, ConnId, ConnectionState, ConnectionSummary, FetchPurpose, Input,
    MachineConfig, Reason, StateChange, MAX_RETRY_AFTER, QUICK_DISCONNECT_WINDOW,
};
pub use machine::ConnectionMachine;
