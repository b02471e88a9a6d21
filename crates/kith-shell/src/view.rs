//! The view model: what the window and the tray show, and the shapes sent to the page
//! (the payloads of the `kith://` events and of `get_view`). The tray role keeps it;
//! it is changed only through [`update_view`](crate::view_update::update_view), which
//! tells the window and the tray. No payload here ever holds a token or a password.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use kith_core::alerts::{presence_class, ConnectionTimeline, PresenceClass, Since, SinceTracker};
use kith_core::{
    ConnectionState, ConnectionSummary, EndReason, Friend, FriendId, FriendsReader, LastSeen,
    PresenceChange, StateChange,
};
use serde::Serialize;

use crate::settings::Settings;

/// Event names, one per concern.
pub const EVENT_CONNECTION: &str = "kith://connection";
pub const EVENT_PRESENCE: &str = "kith://presence";
pub const EVENT_SESSION: &str = "kith://session";
pub const EVENT_SETTINGS: &str = "kith://settings";
pub const EVENT_TIMELINE: &str = "kith://timeline";

/// The connection as the window shows it: kith-core's summary of the last state
/// change, plus the stale marker, which the app reads from the friends map.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConnectionView {
    #[serde(flatten)]
    pub summary: ConnectionSummary,
    /// Since when (Unix ms, the disconnect) some friends' status may be out of date:
    /// Kith reconnected and the backend could not say what changed meanwhile.
    pub stale_since_ms: Option<u64>,
}

impl ConnectionView {
    /// Before any session, or after one ended.
    pub fn idle() -> Self {
        ConnectionView {
            summary: ConnectionSummary {
                state: "idle",
                reason: "started",
                detail: String::new(),
                attempt: None,
                retry_at_ms: None,
                can_reconnect_now: false,
            },
            stale_since_ms: None,
        }
    }

    pub fn from_change(change: &StateChange) -> Self {
        ConnectionView {
            summary: change.summary(),
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
    /// Where the friend sorts by name, in kith-core's one collation: compare as strings.
    pub sort_key: String,
    /// When the friend was last seen, in milliseconds since the Unix epoch, as
    /// kith-core read the backend's timestamp.
    pub last_seen_ms: Option<u64>,
    /// Whether this friend's status may be out of date (see `stale_since_ms`).
    pub stale: bool,
    /// "online", "away" or "offline": kith-core's classification, which counts away
    /// apart (`online` above is true for both online and away).
    pub class: &'static str,
    /// Since when the friend has been online (or offline), as far as Kith saw.
    pub since: Option<SinceView>,
}

/// "online since 14:02", or "since at least 09:41" where Kith did not see it begin.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct SinceView {
    pub online: bool,
    pub at_ms: u64,
    pub at_least: bool,
}

impl SinceView {
    fn of(tracker: &SinceTracker, friend: &FriendId) -> Option<SinceView> {
        let known = tracker.get(friend)?;
        let (at, at_least) = match known.since {
            Since::Exactly(at) => (at, false),
            Since::AtLeast(at) => (at, true),
        };
        Some(SinceView {
            online: known.online,
            at_ms: u64::try_from(at.as_millisecond()).unwrap_or(0),
            at_least,
        })
    }
}

fn class_name(status: &str) -> &'static str {
    match presence_class(status) {
        PresenceClass::Present => "online",
        PresenceClass::Away => "away",
        PresenceClass::Offline => "offline",
    }
}

impl FriendView {
    pub fn of_friend(friend: &Friend, since: &SinceTracker) -> Self {
        FriendView {
            user_id: friend.user_id.to_string(),
            username: friend.username.to_string(),
            name: friend.display_name().to_owned(),
            status: Some(friend.status.to_string()),
            online: friend.is_online(),
            sort_key: friend.collation_key(),
            last_seen_ms: friend.last_seen.as_ref().and_then(LastSeen::unix_ms),
            stale: friend.is_stale(),
            class: class_name(friend.status.as_str()),
            since: SinceView::of(since, &friend.user_id),
        }
    }

    /// The friend as a live change leaves them: just heard from, so not stale.
    pub fn of_change(change: &PresenceChange, since: &SinceTracker) -> Self {
        FriendView {
            user_id: change.user_id.to_string(),
            username: change.username.to_string(),
            name: change.display_name().to_owned(),
            status: change.to.as_ref().map(|s| s.to_string()),
            online: change.to.as_ref().is_some_and(|s| s.is_online()),
            sort_key: change.collation_key(),
            last_seen_ms: change.last_seen.as_ref().and_then(LastSeen::unix_ms),
            stale: false,
            class: change
                .to
                .as_ref()
                .map_or("offline", |s| class_name(s.as_str())),
            since: SinceView::of(since, &change.user_id),
        }
    }
}

/// The connection timeline as the window shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TimelineView {
    /// One plain line: "Connected since 14:02.", "Not connected since 14:20 — …".
    pub why: String,
    /// Up to the last 100 events, oldest first.
    pub entries: Vec<TimelineEntryView>,
    /// The whole timeline as text for the clipboard; redacted like the entries.
    pub clipboard: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TimelineEntryView {
    pub at_ms: u64,
    pub state: &'static str,
    pub reason: &'static str,
    /// Why, in words, redacted when recorded.
    pub detail: String,
    pub attempt: Option<u32>,
    pub retry_at_ms: Option<u64>,
}

impl TimelineView {
    pub fn of(timeline: &ConnectionTimeline, now: &jiff::Zoned) -> Self {
        let ms = |at: jiff::Timestamp| u64::try_from(at.as_millisecond()).unwrap_or(0);
        TimelineView {
            why: timeline.why_not_connected(now),
            entries: timeline
                .entries()
                .map(|e| TimelineEntryView {
                    at_ms: ms(e.at),
                    state: e.state,
                    reason: e.reason,
                    detail: e.detail.clone(),
                    attempt: e.attempt,
                    retry_at_ms: e.retry_at.map(ms),
                })
                .collect(),
            clipboard: timeline.clipboard_text(now),
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
    /// Why the session ended, in kith-core's words, when the user needs telling.
    pub reason_text: Option<&'static str>,
    /// While this sign-in is not saved in the keyring (none is running, or it refused):
    /// kith-core's `UnsavedReason` text, which the banner and settings show as is.
    pub not_saved: Option<String>,
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
    pub timeline: TimelineView,
    pub settings: Settings,
    /// The built-in backends the sign-in form offers, the default first.
    pub presets: &'static [kith_core::protocol::Preset],
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
    /// Since when each friend has been online or offline, from what Kith saw.
    pub since: SinceTracker,
    /// The last connection events, kept across sign-outs.
    pub timeline: ConnectionTimeline,
    /// Counts the timeline's records, so a view change knows to send it.
    pub timeline_records: u64,
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
                reason_text: None,
                not_saved: None,
            },
            connection: ConnectionView::idle(),
            state: ConnectionState::Idle,
            retry_at: None,
            friends: None,
            since: SinceTracker::new(),
            timeline: ConnectionTimeline::new(),
            timeline_records: 0,
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
                    .map(|friend| FriendView::of_friend(friend, &self.since))
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

    /// Records a connection state change in the timeline and the since tracker.
    pub fn record_state(&mut self, change: &StateChange, now: Instant) {
        let at = jiff::Timestamp::now();
        self.since.on_connection(change, at);
        self.timeline.record(change, at, now);
        self.timeline_records += 1;
    }

    /// Records the end of the session in the timeline.
    pub fn record_session_ended(&mut self, reason: EndReason) {
        self.timeline
            .record_session_ended(reason, jiff::Timestamp::now());
        self.timeline_records += 1;
    }

    pub fn signed_out(&mut self, reason: Option<EndReason>) {
        self.since.clear();
        self.session.signed_in = false;
        self.session.not_saved = None;
        self.session.reason = reason.map(EndReason::as_str);
        self.session.reason_text = reason
            .filter(|r| r.needs_explaining())
            .map(EndReason::message);
        self.retry_at = None;
        self.connection = ConnectionView::idle();
        if let Some(reason) = reason {
            self.state = ConnectionState::SignedOut { reason };
        }
    }
}
