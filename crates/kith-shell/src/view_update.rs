//! The one way what the window and the tray show changes. [`update_view`] applies a
//! change to the [`View`], sends the window an event for each part that changed and
//! refreshes the tray; [`update_settings`] does the same for the [`Settings`]. Nothing
//! else makes `kith://` events, so a new kind of change cannot forget the tray or
//! reach the window half-told. The events go to the window role over the IPC
//! ([`Windows::emit`](crate::windows::Windows::emit)), in the order they are made.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::value::RawValue;

use crate::batcher::Batch;
use crate::settings::Settings;
use crate::shell::{lock, Shell};
use crate::tray_view::{tray_view, TrayInput, TrayView};
use crate::view::{
    FriendView, PresencePayload, View, EVENT_CONNECTION, EVENT_PRESENCE, EVENT_SESSION,
    EVENT_SETTINGS,
};

/// Which friends a view change sends to the window. Friends live in kith-core's map,
/// which the view only reads, so a change says what it did to them; the session and
/// the connection are compared before and after instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Friends {
    /// The list is as the window last heard it.
    Unchanged,
    /// Send the whole list (a new session, a snapshot, a sign-out).
    All,
    /// Send these friends (a `None` status means removed).
    These(Vec<FriendView>),
}

impl From<Batch> for Friends {
    fn from(batch: Batch) -> Self {
        match batch {
            Batch::Replace => Friends::All,
            Batch::Changes(friends) => Friends::These(friends),
        }
    }
}

/// Applies `change` to the view, then tells the window (`kith://connection` and
/// `kith://session` if that part changed, `kith://presence` for the [`Friends`] the
/// change returns) and refreshes the tray.
///
/// The events are queued while the view is locked, so the window hears of changes in
/// the order they were made; `change` must not update the view.
pub fn update_view(shell: &Shell, change: impl FnOnce(&mut View) -> Friends) {
    let replaced = {
        let mut view = lock(&shell.view);
        let session = view.session.clone();
        let connection = view.connection.clone();
        let friends = change(&mut view);
        if view.connection != connection {
            emit(shell, EVENT_CONNECTION, &view.connection);
        }
        if view.session != session {
            emit(shell, EVENT_SESSION, &view.session);
        }
        let replaced = friends == Friends::All;
        let presence = match friends {
            Friends::Unchanged => None,
            Friends::All => Some(PresencePayload {
                replace: true,
                friends: view.friend_list(),
            }),
            Friends::These(friends) => Some(PresencePayload {
                replace: false,
                friends,
            }),
        };
        if let Some(presence) = presence {
            emit(shell, EVENT_PRESENCE, &presence);
        }
        replaced
    };
    refresh_tray(shell);
    if replaced {
        shell.surface.release_memory();
    }
}

/// Applies `change` to the settings, turns launch at login on or off to match, saves
/// them, and tells the window (`kith://settings`) and the tray's check items. Returns
/// the settings now in effect.
pub fn update_settings(shell: &Shell, change: impl FnOnce(&mut Settings)) -> Settings {
    let settings = {
        let mut current = lock(&shell.settings);
        let mut next = current.clone();
        change(&mut next);
        next.launch_at_login = shell.surface.set_launch_at_login(next.launch_at_login);
        if let Err(error) = next.save(&shell.settings_path) {
            tracing::warn!(%error, "cannot save settings");
        }
        *current = next.clone();
        emit(shell, EVENT_SETTINGS, &next);
        next
    };
    shell.surface.show_checks(&settings);
    settings
}

/// Recomputes what the tray shows and tells the surface if it changed.
pub fn refresh_tray(shell: &Shell) {
    let view = shell.tray_view();
    let mut shown = lock(&shell.tray_shown);
    if shown.as_ref() == Some(&view) {
        return;
    }
    shell.surface.show_tray(&view);
    *shown = Some(view);
}

/// What the tray shows for `view`, now.
pub fn tray_shown(view: &View) -> TrayView {
    let online = view.online_names();
    tray_view(&TrayInput {
        signed_in: view.session.signed_in,
        state: &view.state,
        retry_in: view
            .retry_at
            .map(|at| at.saturating_duration_since(Instant::now())),
        online: &online,
        total_friends: view.friend_count(),
    })
}

/// While a retry is pending, refreshes the tray once a second so its countdown ticks.
/// One ticker at a time; it ends when the retry is no longer pending, so an idle or
/// connected Kith has no timer.
pub fn tick_until_retry(shell: &Arc<Shell>) {
    if shell.ticking.swap(true, Ordering::SeqCst) {
        return;
    }
    let shell = shell.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let pending = shell.read_view(|v| v.retry_at.is_some_and(|at| at > Instant::now()));
            refresh_tray(&shell);
            if !pending {
                break;
            }
        }
        shell.ticking.store(false, Ordering::SeqCst);
    });
}

fn emit<S: Serialize>(shell: &Shell, event: &'static str, payload: &S) {
    match serde_json::to_string(payload).and_then(RawValue::from_string) {
        Ok(payload) => shell.windows.emit(event, payload),
        Err(error) => tracing::warn!(%error, event, "cannot serialize an event for the window"),
    }
}
