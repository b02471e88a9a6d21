//! The one way what the window and the tray show changes. [`update_view`] applies a
//! change to the [`View`], sends the window an event for each part that changed and
//! refreshes the tray; [`update_settings`] does the same for the [`Settings`]. Nothing
//! else emits `kith://` events, so a new kind of change cannot forget the tray or
//! reach the window half-told.

use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::batcher::Batch;
use crate::settings::Settings;
use crate::state::{
    AppState, FriendView, PresencePayload, View, EVENT_CONNECTION, EVENT_PRESENCE, EVENT_SESSION,
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
/// The events go out while the view is locked, so the window hears of changes in the
/// order they were made; `change` and event listeners must not update the view.
pub fn update_view<R: Runtime>(app: &AppHandle<R>, change: impl FnOnce(&mut View) -> Friends) {
    let state = app.state::<AppState>();
    {
        // A panic elsewhere cannot leave a view half-written: every field is plain data.
        let mut view = state
            .view
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let session = view.session.clone();
        let connection = view.connection.clone();
        let friends = change(&mut view);
        if view.connection != connection {
            emit(app, EVENT_CONNECTION, &view.connection);
        }
        if view.session != session {
            emit(app, EVENT_SESSION, &view.session);
        }
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
            emit(app, EVENT_PRESENCE, &presence);
        }
    }
    crate::tray::refresh(app);
}

/// Applies `change` to the settings, turns launch at login on or off to match, saves
/// them, and tells the window (`kith://settings`) and the tray's check items. Returns
/// the settings now in effect.
pub fn update_settings<R: Runtime>(
    app: &AppHandle<R>,
    change: impl FnOnce(&mut Settings),
) -> Settings {
    let state = app.state::<AppState>();
    let settings = {
        let mut current = state
            .settings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut next = current.clone();
        change(&mut next);
        next.launch_at_login = crate::autostart::apply(app, next.launch_at_login);
        if let Err(error) = next.save(&state.settings_path) {
            tracing::warn!(%error, "cannot save settings");
        }
        *current = next.clone();
        emit(app, EVENT_SETTINGS, &next);
        next
    };
    crate::tray::sync_checks(app);
    settings
}

fn emit<R: Runtime, S: serde::Serialize + Clone>(app: &AppHandle<R>, event: &str, payload: S) {
    if let Err(error) = app.emit(event, payload) {
        tracing::warn!(%error, event, "cannot send an event to the window");
    }
}
