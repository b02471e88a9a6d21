//! Carries one session's events to the view (and so the window and the tray, through
//! [`update_view`]) and to notifications.
//!
//! State changes go out at once. Presence goes through the [`PresenceBatcher`]
//! (at most ~30 UI updates a second; a snapshot as one event) and the [`Notifier`]
//! (settled, grouped, live changes only). This task only keeps time for them.

use std::time::Instant;

use std::sync::Arc;

use kith_core::{ChangeCause, FriendId, SessionEvent};
use tokio::sync::mpsc;

use crate::batcher::PresenceBatcher;
use crate::shell::{lock, Shell};
use crate::view::{ConnectionView, FriendView};
use crate::view_update::{update_view, Friends};
use kith_core::alerts::{Alert, Notice, Notifier};

/// The most events taken from the session at a time: a burst is handled in one go.
const EVENT_BURST: usize = 1024;

pub async fn run(shell: Arc<Shell>, mut events: mpsc::UnboundedReceiver<SessionEvent>) {
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
                    on_event(&shell, event, &mut batcher, &mut notifier, now);
                }
            }
            _ = sleep => {}
        }
        let now = Instant::now();
        if let Some(batch) = batcher.take(now) {
            update_view(&shell, |_| Friends::from(batch));
        }
        if notifier.next_deadline().is_some_and(|at| now >= at) {
            announce_settled(&shell, &mut notifier, now);
        }
    }
}

/// Decides the changes that have settled, with the settings and the wall clock as they
/// are now, shows what alerts, and saves the settings when a one-shot fired.
fn announce_settled(shell: &Shell, notifier: &mut Notifier, now: Instant) {
    let wall = jiff::Zoned::now();
    let mut settings = shell.settings();
    let server = settings.server.clone().unwrap_or_default();
    let polled = notifier.poll(now, &wall, &server, &mut settings.alerts);
    for decided in &polled.decided {
        tracing::debug!(friend = %decided.friend, transition = ?decided.transition, alert = ?decided.alert, "alert decided");
    }
    if polled.settings_changed {
        // The one-shots that fired are taken off the settings as they are now, so a
        // star or a rule set since the copy above is kept.
        let fired: Vec<&FriendId> = polled
            .decided
            .iter()
            .filter(|d| {
                matches!(
                    d.alert,
                    Alert::Fire {
                        one_shot_consumed: true,
                        ..
                    }
                )
            })
            .map(|d| &d.friend)
            .collect();
        crate::view_update::update_settings(shell, |current| {
            for friend in &fired {
                current.alerts.set_once_online(&server, friend, false);
            }
        });
    }
    for notice in &polled.notices {
        shell.surface().notify(notice);
    }
}

fn on_event(
    shell: &Arc<Shell>,
    event: SessionEvent,
    batcher: &mut PresenceBatcher,
    notifier: &mut Notifier,
    now: Instant,
) {
    match event {
        SessionEvent::State(change) => {
            update_view(shell, |v| {
                v.record_state(&change, now);
                v.connection = ConnectionView::from_change(&change);
                v.refresh_stale();
                v.state = change.to.clone();
                v.retry_at = change.retry_at;
                Friends::Unchanged
            });
            batcher.connection_changed(now);
            if change.retry_at.is_some() {
                crate::view_update::tick_until_retry(shell);
            }
        }
        SessionEvent::Presence(change) => {
            let friend = {
                let mut view = lock(&shell.view);
                view.since.on_presence(&change, jiff::Timestamp::now());
                (change.cause == ChangeCause::Live)
                    .then(|| FriendView::of_change(&change, &view.since))
            };
            match friend {
                None => batcher.resync_change(),
                Some(friend) => {
                    notifier.push(&change, now);
                    batcher.live(friend, now);
                }
            }
        }
        SessionEvent::Resynced { .. } => {
            batcher.resynced(now);
            send_stale(shell);
        }
        SessionEvent::PresenceStale { .. } | SessionEvent::PresenceFresh => send_stale(shell),
        SessionEvent::ResyncFailed { reason } => {
            tracing::warn!(%reason, "the friend list could not be resynced after connecting");
        }
        SessionEvent::TokenRefreshed { .. } | SessionEvent::RefreshDeferred { .. } => {}
        SessionEvent::CredentialsUnsaved { reason } => {
            tracing::warn!(%reason, "the sign-in is not saved");
            let text = reason.to_string();
            update_view(shell, |v| {
                v.session.not_saved = Some(text.clone());
                Friends::Unchanged
            });
            // kith-core's words, which tell no keyring apart from locked and refused.
            shell.surface().notify(&Notice {
                title: "Kith could not save your sign-in".into(),
                body: text,
                friend: None,
            });
        }
        SessionEvent::CredentialsSaved => {
            tracing::info!("the sign-in is saved again");
            update_view(shell, |v| {
                v.session.not_saved = None;
                Friends::Unchanged
            });
        }
        // The one terminal event: no state change to signed out comes before it.
        SessionEvent::SessionEnded { reason } => update_view(shell, |v| {
            v.record_session_ended(reason);
            v.signed_out(Some(reason));
            Friends::Unchanged
        }),
    }
}

/// Takes the friends' stale marker into the connection view, so the banner says (or
/// stops saying) that statuses may be out of date.
fn send_stale(shell: &Shell) {
    update_view(shell, |v| {
        v.refresh_stale();
        Friends::Unchanged
    });
}
