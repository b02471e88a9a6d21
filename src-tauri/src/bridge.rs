//! Carries one session's events to the UI, the tray and notifications.
//!
//! Presence bursts are coalesced: live changes are sent at most every
//! [`UI_FRAME`] (about 30 updates a second), and a snapshot, however large, goes out
//! as one `replace` event once it has been applied. State changes go out at once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kith_core::{ChangeCause, SessionEvent};
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::mpsc;

use crate::notify_rules::Notifier;
use crate::state::{
    AppState, ConnectionView, FriendView, PresencePayload, EVENT_CONNECTION, EVENT_PRESENCE,
    EVENT_SESSION,
};

/// Minimum spacing of presence events to the UI.
pub const UI_FRAME: Duration = Duration::from_millis(33);

pub async fn run(app: AppHandle, mut events: mpsc::UnboundedReceiver<SessionEvent>) {
    let mut notifier = Notifier::new();
    let mut pending: HashMap<String, FriendView> = HashMap::new();
    let mut replace_pending = false;
    let mut in_resync = false;
    let mut last_flush = Instant::now() - UI_FRAME;
    let mut flush_at: Option<Instant> = None;
    loop {
        let deadline = [flush_at, notifier.next_deadline()]
            .into_iter()
            .flatten()
            .min();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                let now = Instant::now();
                let mut schedule = false;
                match event {
                    SessionEvent::State(change) => {
                        let view = ConnectionView::from_change(&change);
                        let state = app.state::<AppState>();
                        state.with_view(|v| {
                            v.connection = view.clone();
                            v.state = change.to.clone();
                        });
                        if !matches!(change.to, kith_core::ConnectionState::Connected) {
                            in_resync = false;
                        }
                        let _ = app.emit(EVENT_CONNECTION, view);
                        crate::tray::refresh(&app);
                    }
                    SessionEvent::Presence(change) => {
                        let friend = FriendView {
                            user_id: change.user_id.to_string(),
                            username: change.username.clone(),
                            status: change.to.clone(),
                            last_seen: change.last_seen.as_ref().map(|l| l.0.clone()),
                        };
                        app.state::<AppState>().with_view(|v| match &friend.status {
                            Some(_) => {
                                v.friends.insert(friend.user_id.clone(), friend.clone());
                            }
                            None => {
                                v.friends.remove(&friend.user_id);
                            }
                        });
                        if change.cause == ChangeCause::Resync {
                            in_resync = true;
                        } else {
                            notifier.push(&change, now);
                            pending.insert(friend.user_id.clone(), friend);
                            schedule = !in_resync;
                        }
                    }
                    SessionEvent::Resynced { .. } => {
                        in_resync = false;
                        replace_pending = true;
                        pending.clear();
                        schedule = true;
                    }
                    SessionEvent::TokenRefreshed { .. } | SessionEvent::RefreshDeferred { .. } => {}
                    SessionEvent::SessionEnded { reason } => {
                        let state = app.state::<AppState>();
                        let session = state
                            .with_view(|v| {
                                v.signed_out(Some(reason));
                                v.session.clone()
                            });
                        if let Some(session) = session {
                            let _ = app.emit(EVENT_SESSION, session);
                        }
                        crate::tray::refresh(&app);
                    }
                }
                if schedule && flush_at.is_none() {
                    flush_at = Some(now.max(last_flush + UI_FRAME));
                }
            }
            _ = sleep => {
                let now = Instant::now();
                if flush_at.is_some_and(|at| now >= at) {
                    flush_at = None;
                    last_flush = now;
                    flush(&app, &mut pending, &mut replace_pending);
                }
                if notifier.next_deadline().is_some_and(|at| now >= at) {
                    let prefs = app.state::<AppState>().settings().notify_prefs();
                    for notice in notifier.poll(now, prefs) {
                        crate::notifications::show(&app, &notice);
                    }
                }
            }
        }
    }
}

fn flush(app: &AppHandle, pending: &mut HashMap<String, FriendView>, replace: &mut bool) {
    let payload = if std::mem::take(replace) {
        pending.clear();
        let friends = app
            .state::<AppState>()
            .with_view(|v| v.friends.values().cloned().collect())
            .unwrap_or_default();
        PresencePayload {
            replace: true,
            friends,
        }
    } else {
        PresencePayload {
            replace: false,
            friends: pending.drain().map(|(_, f)| f).collect(),
        }
    };
    let _ = app.emit(EVENT_PRESENCE, payload);
    crate::tray::refresh(app);
}
