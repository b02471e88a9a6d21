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

use crate::alert_change::AlertChange;
use crate::batcher::Batch;
use crate::settings::Settings;
use crate::shell::{lock, Shell};
use crate::tray_view::{tray_view, MenuFriend, TrayInput, TrayView};
use crate::view::{
    FriendView, PresencePayload, TimelineView, View, EVENT_CONNECTION, EVENT_PRESENCE,
    EVENT_SESSION, EVENT_SETTINGS, EVENT_TIMELINE,
};
use kith_core::alerts::{snooze_status, Counts};

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
        let timeline_records = view.timeline_records;
        let friends = change(&mut view);
        if view.timeline_records != timeline_records {
            let timeline = TimelineView::of(&view.timeline, &jiff::Zoned::now());
            emit(shell, EVENT_TIMELINE, &timeline);
        }
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
    refresh_tray(shell);
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

/// What the tray shows for `view` and `settings`, now.
pub fn tray_shown(view: &View, settings: &Settings) -> TrayView {
    let server = settings.server.as_deref().unwrap_or_default();
    let alerts = &settings.alerts;
    let (online, counts) = view
        .friends
        .as_ref()
        .and_then(|friends| {
            friends.inspect(|store| {
                let online: Vec<MenuFriend> = store
                    .friends()
                    .filter(|f| f.is_online())
                    .map(|f| MenuFriend {
                        name: f.display_name().to_owned(),
                        favourite: alerts.is_favourite(server, &f.user_id),
                    })
                    .collect();
                (online, Counts::of_friends(store.friends()))
            })
        })
        .unwrap_or_default();
    let now = jiff::Zoned::now();
    // Do not disturb and the snooze; quiet hours come and go by the clock, so the
    // tray, which is redrawn only on changes, does not claim them.
    let alerts_held = if alerts.do_not_disturb {
        Some("Do not disturb is on".to_string())
    } else {
        snooze_status(alerts, &now)
    };
    tray_view(&TrayInput {
        signed_in: view.session.signed_in,
        state: &view.state,
        retry_in: view
            .retry_at
            .map(|at| at.saturating_duration_since(Instant::now())),
        online: &online,
        counts,
        alerts_held,
        snoozed: alerts.snoozed_at(now.timestamp()).is_some(),
    })
}

/// Applies a star, a friend's rule, a one-shot or a snooze at the wall clock's now.
/// A refused change leaves the settings as they were and says why.
pub fn change_alerts(shell: &Arc<Shell>, change: &AlertChange) -> Result<Settings, String> {
    let now = jiff::Zoned::now();
    change.apply(&mut shell.settings(), &now)?;
    let settings = update_settings(shell, |current| {
        // Checked on a copy just above; only a sign-out in between can refuse it now.
        if let Err(error) = change.apply(current, &now) {
            tracing::info!(%error, "an alert change was refused");
        }
    });
    wake_at_snooze_end(shell);
    Ok(settings)
}

/// While alerts are snoozed, one timer to the snooze's end: then the snooze is
/// forgotten (and saved), and the tray stops saying it. A later snooze or unsnooze
/// makes the earlier timer's wake a no-op.
pub fn wake_at_snooze_end(shell: &Arc<Shell>) {
    let Some(until) = shell.settings().alerts.snoozed_at(jiff::Timestamp::now()) else {
        refresh_tray(shell);
        return;
    };
    let shell = shell.clone();
    tokio::spawn(async move {
        let left = jiff::Timestamp::now().duration_until(until);
        let left = Duration::try_from(left).unwrap_or_default();
        tokio::time::sleep(left).await;
        let now = jiff::Timestamp::now();
        let expired = shell
            .settings()
            .alerts
            .snoozed_until
            .is_some_and(|u| u <= now);
        if expired {
            update_settings(&shell, |settings| {
                settings.alerts.clear_expired_snooze(jiff::Timestamp::now());
            });
        }
        refresh_tray(&shell);
    });
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
