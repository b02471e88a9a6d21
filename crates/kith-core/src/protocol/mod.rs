//! What travels on the wire and how each backend wants it: messages, server profiles,
//! and the presence mapping that reads a backend's own message shapes
//! ([`MessageMapping`], [`MappedReader`]).

mod flat_update;
pub mod mapped;
pub mod messages;
pub mod profile;
pub mod socketio;
pub mod unconsumed;
pub mod values;

pub use mapped::MappedReader;
pub use messages::{
    parse_friend_list, parse_server_message, FriendRecord, MessageError, ServerMessage,
};
pub use profile::{
    AuthApiProfile, AuthKind, JsonPointer, MappingError, MemberScope, MessageMapping,
    NextAuthProfile, Preset, ProfileError, ProfileSource, ReconnectPolicy, RefreshPolicy,
    RefreshTransport, ResyncProfile, ServerProfile, SocketProfile, StatusMap, StatusValue,
    TimeFormat, TlsProfile, WireProtocol, WsAuthTransport, PRESETS,
};
pub use unconsumed::Unconsumed;
pub use values::{collation_key, FriendId, LastSeen, Status};
