//! The app's state shared by commands, the tray and the session bridge, and the
//! shapes sent to the UI. No payload here ever holds a token or a password.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use kith_core::{
    ConnectionState, EndReason, Friend, FriendsReader, PresenceChange, Session, StateChange,
};
use kith_server::RunningServer;
use serde::Serialize;

use crate::settings::Settings;

/// Event names, one per concern.
pub const EVENT_CONNECTION: &str = "kith://connection";
pub const EVENT_PRESENCE: &str = "kith://presence";
pub const EVENT_SESSION: &str = "kith://session";
pub const EVENT_SETTINGS: &str = "kith://settings";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConnectionView {
    pub state: &'static str,
    pub reason: &'static str,
    pub detail: String,
    /// When the next attempt starts, for `reconnecting`: milliseconds since the Unix
    /// epoch, so a window opened mid-wait counts down from the real deadline.
    pub retry_at_ms: Option<u64>,
    pub attempt: Option<u32>,
    /// Whether "Reconnect now" does anything in this state (kith-core's rule).
    pub can_reconnect_now: bool,
    /// Since when (Unix ms, the disconnect) some friends' status may be out of date:
    /// Kith reconnected and the backend could not say what changed meanwhile.
    pub stale_since_ms: Option<u64>,
}

impl ConnectionView {
    pub fn idle() -> Self {
        ConnectionView {
            state: "idle",
            reason: "started",
            detail: String::new(),
            retry_at_ms: None,
            attempt: None,
            can_reconnect_now: false,
            stale_since_ms: None,
        }
    }

    pub fn from_change(change: &StateChange) -> Self {
        let attempt = match change.to {
            ConnectionState::Reconnecting { attempt }
            | ConnectionState::Connecting { attempt }
            | ConnectionState::Authenticating { attempt } => Some(attempt),
            _ => None,
        };
        ConnectionView {
            state: change.to.name(),
            reason: change.reason.code(),
            detail: change.reason.to_string(),
            retry_at_ms: change.retry_at_unix_ms(),
            attempt,
            can_reconnect_now: change.to.can_reconnect_now(),
            stale_since_ms: None,
        }
    }
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FriendView {
    pub user_id: String,
    pub username: String,
    /// The name to show, as kith-core decides it (the username, or the id without one).
    pub name: String,
    /// `None` in a presence event means the friend was removed.
    pub status: Option<String>,
    /// Whether the friend counts as online, as kith-core decides it.
    pub online: bool,
    pub last_seen: Option<String>,
    /// Whether this friend's status may be out of date (see `stale_since_ms`).
    pub stale: bool,
}

impl FriendView {
    pub fn of_friend(friend: &Friend) -> Self {
        FriendView {
            user_id: friend.user_id.to_string(),
            username: friend.username.to_string(),
            name: friend.display_name().to_owned(),
            status: Some(friend.status.to_string()),
            online: friend.is_online(),
            last_seen: friend.last_seen.as_ref().map(|l| l.as_str().to_owned()),
            stale: friend.is_stale(),
        }
    }

    /// The friend as a live change leaves them: just heard from, so not stale.
    pub fn of_change(change: &PresenceChange) -> Self {
        FriendView {
            user_id: change.user_id.to_string(),
            username: change.username.to_string(),
            name: change.display_name().to_owned(),
            status: change.to.as_ref().map(|s| s.to_string()),
            online: change.to.as_ref().is_some_and(|s| s.is_online()),
            last_seen: change.last_seen.as_ref().map(|l| l.as_str().to_owned()),
            stale: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SessionView {
    pub signed_in: bool,
    pub username: Option<String>,
    pub server: Option<String>,
    pub demo: bool,
    pub reason: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PresencePayload {
    pub replace: bool,
    pub friends: Vec<FriendView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FullView {
    pub session: SessionView,
    pub connection: ConnectionView,
    pub friends: Vec<FriendView>,
    pub settings: Settings,
}

/// What the UI and the tray show, kept current by the bridge.
#[derive(Clone)]
pub struct View {
    pub session: SessionView,
    pub connection: ConnectionView,
    pub state: ConnectionState,
    /// When the next attempt starts, while reconnecting.
    pub retry_at: Option<Instant>,
    /// The running session's friends map (kith-core owns it), while there is one.
    pub friends: Option<FriendsReader>,
}

impl Default for View {
    fn default() -> Self {
        View {
            session: SessionView {
                signed_in: false,
                username: None,
                server: None,
                demo: false,
                reason: None,
            },
            connection: ConnectionView::idle(),
            state: ConnectionState::Idle,
            retry_at: None,
            friends: None,
        }
    }
}

impl View {
    pub fn online_names(&self) -> Vec<String> {
        self.friends
            .as_ref()
            .map(|friends| {
                friends
                    .online_names()
                    .iter()
                    .map(|n| n.to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn friend_count(&self) -> usize {
        self.friends.as_ref().map_or(0, FriendsReader::len)
    }

    /// Every friend, online first, then by name.
    pub fn friend_list(&self) -> Vec<FriendView> {
        self.friends
            .as_ref()
            .map(|friends| {
                friends
                    .friends()
                    .iter()
                    .map(FriendView::of_friend)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Takes the friends map's stale marker into the connection view; whether it
    /// changed.
    pub fn refresh_stale(&mut self) -> bool {
        let stale = self
            .friends
            .as_ref()
            .and_then(FriendsReader::stale_since)
            .map(unix_ms);
        std::mem::replace(&mut self.connection.stale_since_ms, stale) != stale
    }

    pub fn signed_out(&mut self, reason: Option<EndReason>) {
        self.session.signed_in = false;
        self.session.reason = reason.map(EndReason::as_str);
        if let Some(reason) = reason {
            self.state = ConnectionState::SignedOut { reason };
        }
    }
}

/// A running session and what belongs to it.
pub struct Running {
    pub session: Session,
    pub bridge: tauri::async_runtime::JoinHandle<()>,
    /// The in-process demo server, when this is the demo.
    pub demo_server: Option<RunningServer>,
}

pub struct AppState {
    pub settings_path: PathBuf,
    pub settings: Mutex<Settings>,
    pub view: Mutex<View>,
    pub running: tokio::sync::Mutex<Option<Running>>,
}

impl AppState {
    pub fn new(settings_path: PathBuf) -> Self {
        let settings = Settings::load(&settings_path);
        AppState {
            settings_path,
            settings: Mutex::new(settings),
            view: Mutex::new(View::default()),
            running: tokio::sync::Mutex::new(None),
        }
    }

    pub fn settings(&self) -> Settings {
        self.settings.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn with_view<T>(&self, f: impl FnOnce(&mut View) -> T) -> Option<T> {
        self.view.lock().ok().map(|mut view| f(&mut view))
    }

    pub fn full_view(&self) -> FullView {
        let settings = self.settings();
        self.with_view(|view| FullView {
            session: view.session.clone(),
            connection: view.connection.clone(),
            friends: view.friend_list(),
            settings: settings.clone(),
        })
        .unwrap_or_else(|| FullView {
            session: View::default().session,
            connection: ConnectionView::idle(),
            friends: Vec::new(),
            settings,
        })
    }
}
