//! Carries one session's events to the UI, the tray and notifications.
//!
//! State changes go out at once. Presence goes through the [`PresenceBatcher`]
//! (at most ~30 UI updates a second; a snapshot as one event) and the [`Notifier`]
//! (settled, grouped, live changes only). This task only keeps time for them.

use std::time::Instant;

use kith_core::{ChangeCause, SessionEvent};
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::mpsc;

use crate::batcher::{Batch, PresenceBatcher};
use crate::notify_rules::Notifier;
use crate::state::{
    AppState, ConnectionView, FriendView, PresencePayload, EVENT_CONNECTION, EVENT_PRESENCE,
    EVENT_SESSION,
};

/// The most events taken from the session at a time: a burst is handled in one go.
const EVENT_BURST: usize = 1024;

pub async fn run(app: AppHandle, mut events: mpsc::UnboundedReceiver<SessionEvent>) {
    let mut notifier = Notifier::new();
    let mut batcher = PresenceBatcher::new();
    let mut burst = Vec::with_capacity(EVENT_BURST);
    loop {
        let deadline = [batcher.deadline(), notifier.next_deadline()]
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
            received = events.recv_many(&mut burst, EVENT_BURST) => {
                if received == 0 {
                    break;
                }
                let now = Instant::now();
                for event in burst.drain(..) {
                    on_event(&app, event, &mut batcher, &mut notifier, now);
                }
            }
            _ = sleep => {}
        }
        let now = Instant::now();
        if let Some(batch) = batcher.take(now) {
            send_presence(&app, batch);
        }
        if notifier.next_deadline().is_some_and(|at| now >= at) {
            let prefs = app.state::<AppState>().settings().notify_prefs();
            for notice in notifier.poll(now, prefs) {
                crate::notifications::show(&app, &notice);
            }
        }
    }
}

fn on_event(
    app: &AppHandle,
    event: SessionEvent,
    batcher: &mut PresenceBatcher,
    notifier: &mut Notifier,
    now: Instant,
) {
    let state = app.state::<AppState>();
    match event {
        SessionEvent::State(change) => {
            let view = ConnectionView::from_change(&change);
            let view = state
                .with_view(|v| {
                    v.connection = view.clone();
                    v.refresh_stale();
                    v.state = change.to.clone();
                    v.retry_at = change.retry_at;
                    v.connection.clone()
                })
                .unwrap_or(view);
            batcher.connection_changed(now);
            let _ = app.emit(EVENT_CONNECTION, view);
            crate::tray::refresh(app);
            if change.retry_at.is_some() {
                crate::tray::tick_until_retry(app);
            }
        }
        SessionEvent::Presence(change) => match change.cause {
            ChangeCause::Resync => batcher.resync_change(),
            ChangeCause::Live => {
                notifier.push(&change, now);
                batcher.live(FriendView::of_change(&change), now);
            }
        },
        SessionEvent::Resynced { .. } => {
            batcher.resynced(now);
            send_stale(app);
        }
        SessionEvent::PresenceStale { .. } | SessionEvent::PresenceFresh => send_stale(app),
        SessionEvent::ResyncFailed { reason } => {
            tracing::warn!(%reason, "the friend list could not be resynced after connecting");
        }
        SessionEvent::TokenRefreshed { .. } | SessionEvent::RefreshDeferred { .. } => {}
        SessionEvent::CredentialsUnsaved { reason } => {
            tracing::warn!(%reason, "the sign-in is not saved");
            crate::notifications::show(
                app,
                &crate::notify_rules::Notice {
                    title: "Kith could not save your sign-in".into(),
                    body: "The keyring refused it (locked?). Kith stays signed in, but this \
                           session will not survive a restart until the keyring accepts it."
                        .into(),
                    friend: None,
                },
            );
        }
        SessionEvent::CredentialsSaved => tracing::info!("the sign-in is saved again"),
        // The one terminal event: no state change to signed out comes before it.
        SessionEvent::SessionEnded { reason } => {
            if let Some((session, connection)) = state.with_view(|v| {
                v.signed_out(Some(reason));
                (v.session.clone(), v.connection.clone())
            }) {
                let _ = app.emit(EVENT_CONNECTION, connection);
                let _ = app.emit(EVENT_SESSION, session);
            }
            crate::tray::refresh(app);
        }
    }
}

/// Sends the connection view again when the friends' stale marker changed, so the
/// banner says (or stops saying) that statuses may be out of date.
fn send_stale(app: &AppHandle) {
    if let Some(Some(view)) = app.state::<AppState>().with_view(|v| {
        if v.refresh_stale() {
            Some(v.connection.clone())
        } else {
            None
        }
    }) {
        let _ = app.emit(EVENT_CONNECTION, view);
    }
}

fn send_presence(app: &AppHandle, batch: Batch) {
    let payload = match batch {
        Batch::Replace => PresencePayload {
            replace: true,
            friends: app
                .state::<AppState>()
                .with_view(|v| v.friend_list())
                .unwrap_or_default(),
        },
        Batch::Changes(friends) => PresencePayload {
            replace: false,
            friends,
        },
    };
    let _ = app.emit(EVENT_PRESENCE, payload);
    crate::tray::refresh(app);
}
