//! What travels on the wire and how each backend wants it: messages and server profiles.

mod flat_update;
pub mod messages;
pub mod profile;
pub mod socketio;
pub mod unconsumed;
pub mod values;

pub use messages::{
    parse_friend_list, parse_server_message, FriendRecord, MessageError, ServerMessage,
};
pub use profile::{
    AuthApiProfile, AuthKind, NextAuthProfile, Preset, ProfileError, ProfileSource,
    ReconnectPolicy, RefreshPolicy, RefreshTransport, ResyncProfile, ServerProfile, SocketProfile,
    TlsProfile, WireProtocol, WsAuthTransport, PRESETS,
};
pub use unconsumed::Unconsumed;
pub use values::{collation_key, FriendId, LastSeen, Status};
