//! How `kith watch` prints session events: one JSON object per line, or readable
//! lines with `--human`. Pure functions, so the format is tested without a terminal.
//! No event carries a token, so nothing printed here can leak one.
//! Names, statuses and reasons come from the server: a readable line goes through
//! [`terminal_text`], so none can move the cursor, clear the screen or retitle the
//! terminal. JSON lines need nothing more: serde_json escapes control characters.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kith_core::{ChangeCause, ConnectionState, SessionEvent};
use serde_json::{json, Value};

/// What a stale marker means, in the words both output forms use.
const STALE_DETAIL: &str =
    "reconnected after a gap the server cannot fill (no snapshot, no resync): friends' status may be out of date";

/// What `watch` says on stderr when a sign-in is saved after all.
const SAVED_NOTICE: &str =
    "Your sign-in is saved in the keyring now: Kith will not ask for your password next time.";

/// What `watch` tells the person at the terminal on stderr, whatever the output form:
/// whether this sign-in will be remembered. `None` for every other event.
pub fn stderr_notice(event: &SessionEvent) -> Option<String> {
    match event {
        SessionEvent::CredentialsUnsaved { reason } => Some(reason.to_string()),
        SessionEvent::CredentialsSaved => Some(SAVED_NOTICE.to_string()),
        _ => None,
    }
}

/// The JSON line for an event, or `None` for events `watch` does not print.
pub fn event_json(event: &SessionEvent) -> Option<Value> {
    Some(match event {
        SessionEvent::State(change) => {
            let mut line = json!({ "event": "state" });
            let fields = line.as_object_mut().expect("an object");
            if let Ok(Value::Object(summary)) = serde_json::to_value(change.summary()) {
                fields.extend(summary);
            }
            // At the moment of printing: how long is left, and the deadline as a date.
            let retry_in_ms = change
                .retry_in(Instant::now())
                .map(|d| d.as_millis() as u64);
            let retry_at = change.retry_at_unix_ms().map(|ms| {
                humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
            });
            fields.insert("retry_in_ms".into(), json!(retry_in_ms));
            fields.insert("retry_at".into(), json!(retry_at));
            line
        }
        SessionEvent::Presence(change) => json!({
            "event": "presence",
            "user_id": change.user_id,
            "username": change.username,
            "status": change.to,
            "previous": change.from,
            "last_seen": change.last_seen,
            "cause": cause_name(change.cause),
        }),
        SessionEvent::Resynced { friends, online } => json!({
            "event": "resynced",
            "friends": friends,
            "online": online,
        }),
        SessionEvent::PresenceStale { since } => json!({
            "event": "presence_stale",
            "since": rfc3339(*since),
            "since_unix_ms": unix_ms(*since),
            "detail": STALE_DETAIL,
        }),
        SessionEvent::PresenceFresh => json!({"event": "presence_fresh"}),
        SessionEvent::ResyncFailed { reason } => json!({
            "event": "resync_failed",
            "reason": reason,
        }),
        SessionEvent::TokenRefreshed { expires_in } => json!({
            "event": "token_refreshed",
            "expires_in_s": expires_in.as_secs(),
        }),
        SessionEvent::RefreshDeferred { reason, retry_in } => json!({
            "event": "refresh_deferred",
            "reason": reason,
            "retry_in_ms": retry_in.as_millis() as u64,
        }),
        SessionEvent::CredentialsUnsaved { reason } => json!({
            "event": "credentials_unsaved",
            "reason": reason.as_str(),
            "detail": reason.to_string(),
            "error": reason.error().to_string(),
        }),
        SessionEvent::CredentialsSaved => json!({
            "event": "credentials_saved",
            "detail": SAVED_NOTICE,
        }),
        SessionEvent::SessionEnded { reason } => json!({
            "event": "session_ended",
            "reason": reason.as_str(),
            "detail": reason.message(),
        }),
    })
}

/// A wall-clock time as RFC 3339 UTC, to the second.
fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn cause_name(cause: ChangeCause) -> &'static str {
    match cause {
        ChangeCause::Live => "live",
        ChangeCause::Resync => "resync",
    }
}

/// A readable line for an event, safe to write to a terminal.
pub fn event_human(event: &SessionEvent) -> String {
    terminal_text(&human_line(event))
}

/// `text` cleaned by kith-core's one rule for server-provided text, so none of it can
/// inject terminal escape sequences or reorder what is shown.
pub fn terminal_text(text: &str) -> String {
    kith_core::text::plain_text(text, kith_core::text::UNLIMITED)
}

fn human_line(event: &SessionEvent) -> String {
    match event {
        SessionEvent::State(change) => match &change.to {
            ConnectionState::Reconnecting { .. } => format!(
                "● reconnecting in {} s ({})",
                change
                    .retry_in(Instant::now())
                    .unwrap_or_default()
                    .as_millis()
                    .div_ceil(1000),
                change.reason
            ),
            ConnectionState::SignedOut { reason } => {
                format!("● signed out: {}", reason.as_str().replace('_', " "))
            }
            ConnectionState::Offline => {
                "● offline: no network; reconnecting when it is back".to_string()
            }
            other => format!("● {} ({})", other.name().replace('_', " "), change.reason),
        },
        SessionEvent::Presence(change) => {
            let name = change.display_name();
            let quiet = if change.cause == ChangeCause::Resync {
                " (resync)"
            } else {
                ""
            };
            match (&change.from, &change.to) {
                (_, None) => format!("  {name} is no longer a friend{quiet}"),
                (None, Some(to)) => format!("  {name} is {to}{quiet}"),
                (Some(from), Some(to)) => format!("  {name}: {from} → {to}{quiet}"),
            }
        }
        SessionEvent::Resynced { friends, online } => {
            format!("  {online} of {friends} friends online")
        }
        SessionEvent::PresenceStale { since } => {
            format!("  ⚠ {STALE_DETAIL} since {}", rfc3339(*since))
        }
        SessionEvent::PresenceFresh => "  presence is up to date again".to_string(),
        SessionEvent::ResyncFailed { reason } => {
            format!("  could not resync after connecting: {reason}")
        }
        SessionEvent::TokenRefreshed { expires_in } => {
            format!("  token refreshed, valid for {} s", expires_in.as_secs())
        }
        SessionEvent::RefreshDeferred { reason, retry_in } => format!(
            "  token refresh failed ({reason}); retrying in {:.1} s",
            retry_in.as_secs_f64()
        ),
        SessionEvent::CredentialsUnsaved { reason } => format!("  ⚠ {reason}"),
        SessionEvent::CredentialsSaved => format!("  {SAVED_NOTICE}"),
        SessionEvent::SessionEnded { reason } => {
            format!("● session ended: {}", reason.message())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_core::{EndReason, FriendId, PresenceChange, Reason, StateChange};

    #[test]
    fn state_lines_carry_reason_and_retry() {
        let event = SessionEvent::State(StateChange {
            from: ConnectionState::Connected,
            to: ConnectionState::Reconnecting { attempt: 2 },
            reason: Reason::KeepaliveTimeout,
            retry_at: Some(Instant::now() + Duration::from_secs(10)),
        });
        let line = event_json(&event).unwrap();
        assert_eq!(line["event"], "state");
        assert_eq!(line["state"], "reconnecting");
        assert_eq!(line["reason"], "keepalive_timeout");
        assert_eq!(line["attempt"], 2);
        let retry_in_ms = line["retry_in_ms"].as_u64().unwrap();
        assert!((9_000..=10_000).contains(&retry_in_ms), "{retry_in_ms}");
        // The absolute deadline, on the wall clock, about 10 s from now.
        let retry_at = humantime::parse_rfc3339(line["retry_at"].as_str().unwrap()).unwrap();
        let ahead = retry_at
            .duration_since(std::time::SystemTime::now())
            .unwrap();
        assert!(ahead > Duration::from_secs(8) && ahead <= Duration::from_secs(10));
        assert_eq!(
            event_human(&event),
            "● reconnecting in 10 s (keepalive timeout)"
        );
    }

    #[test]
    fn offline_says_there_is_no_network_and_no_retry_is_pending() {
        let event = SessionEvent::State(StateChange {
            from: ConnectionState::Connected,
            to: ConnectionState::Offline,
            reason: Reason::NetworkDown,
            retry_at: None,
        });
        let line = event_json(&event).unwrap();
        assert_eq!(line["state"], "offline");
        assert_eq!(line["reason"], "network_down");
        assert_eq!(line["retry_in_ms"], Value::Null);
        assert_eq!(line["attempt"], Value::Null);
        assert_eq!(
            event_human(&event),
            "● offline: no network; reconnecting when it is back"
        );
    }

    #[test]
    fn presence_lines_name_previous_and_cause() {
        let event = SessionEvent::Presence(PresenceChange {
            user_id: FriendId::from(7),
            username: "alice".into(),
            from: Some("offline".into()),
            to: Some("online".into()),
            last_seen: None,
            cause: ChangeCause::Resync,
        });
        let line = event_json(&event).unwrap();
        assert_eq!(line["user_id"], "7");
        assert_eq!(line["status"], "online");
        assert_eq!(line["previous"], "offline");
        assert_eq!(line["cause"], "resync");
        assert_eq!(event_human(&event), "  alice: offline → online (resync)");
    }

    #[test]
    fn terminal_escapes_are_stripped() {
        assert_eq!(
            terminal_text("\x1b[2J\x1b]0;pwned\x07alice"),
            "[2J]0;pwnedalice"
        );
        assert_eq!(
            terminal_text("<b>bob</b> &amp;\u{9b}31m"),
            "<b>bob</b> &amp;31m"
        );
        assert_eq!(terminal_text("a\nb\u{202E}c"), "a bc");
        let long = "x".repeat(10_000);
        assert_eq!(terminal_text(&long), long);
    }

    #[test]
    fn human_presence_lines_carry_no_escapes() {
        let event = SessionEvent::Presence(PresenceChange {
            user_id: FriendId::from(7),
            username: "\x1b[2J\x1b[31mmallory".into(),
            from: Some("offline".into()),
            to: Some("\x1b]0;owned\x07online".into()),
            last_seen: None,
            cause: ChangeCause::Live,
        });
        let line = event_human(&event);
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert_eq!(line, "  [2J[31mmallory: offline → ]0;ownedonline");
        // JSON output escapes control characters instead.
        let json = event_json(&event).unwrap().to_string();
        assert!(!json.contains('\x1b'));
        assert!(json.contains("\\u001b"));
    }

    #[test]
    fn stale_fresh_and_resync_failure_lines() {
        let since = UNIX_EPOCH + Duration::from_millis(1_764_590_400_250);
        let event = SessionEvent::PresenceStale { since };
        let line = event_json(&event).unwrap();
        assert_eq!(line["event"], "presence_stale");
        assert_eq!(line["since"], "2025-12-01T12:00:00Z");
        assert_eq!(line["since_unix_ms"], 1_764_590_400_250u64);
        assert!(line["detail"].as_str().unwrap().contains("out of date"));
        assert_eq!(
            event_human(&event),
            format!("  ⚠ {STALE_DETAIL} since 2025-12-01T12:00:00Z")
        );
        let fresh = event_json(&SessionEvent::PresenceFresh).unwrap();
        assert_eq!(fresh, json!({"event": "presence_fresh"}));
        assert_eq!(
            event_human(&SessionEvent::PresenceFresh),
            "  presence is up to date again"
        );
        let failed = SessionEvent::ResyncFailed {
            reason: "the resync endpoint answered HTTP 404".into(),
        };
        assert_eq!(event_json(&failed).unwrap()["event"], "resync_failed");
        assert_eq!(
            event_human(&failed),
            "  could not resync after connecting: the resync endpoint answered HTTP 404"
        );
    }

    #[test]
    fn session_end_and_refresh_lines() {
        let ended = event_json(&SessionEvent::SessionEnded {
            reason: EndReason::SessionExpired,
        })
        .unwrap();
        assert_eq!(ended["reason"], "session_expired");
        let refreshed = event_json(&SessionEvent::TokenRefreshed {
            expires_in: Duration::from_secs(300),
        })
        .unwrap();
        assert_eq!(refreshed["expires_in_s"], 300);
        assert_eq!(
            refreshed.as_object().unwrap().len(),
            2,
            "nothing but the expiry"
        );
    }

    #[test]
    fn no_keyring_is_said_on_stderr_and_as_an_event_apart_from_locked() {
        use kith_core::{StoreError, UnsavedReason};
        let none = SessionEvent::CredentialsUnsaved {
            reason: UnsavedReason::new(StoreError::NoKeyring("no bus".into())),
        };
        let said = stderr_notice(&none).unwrap();
        assert_eq!(said, kith_core::NO_KEYRING_MESSAGE);
        assert!(said.starts_with("Signed in for this session only: no keyring"));
        let line = event_json(&none).unwrap();
        assert_eq!(line["event"], "credentials_unsaved");
        assert_eq!(line["reason"], "no_keyring");
        assert_eq!(line["detail"], said.as_str());
        assert_eq!(line["error"], "no keyring is running: no bus");
        assert_eq!(event_human(&none), format!("  ⚠ {said}"));

        let locked = SessionEvent::CredentialsUnsaved {
            reason: UnsavedReason::new(StoreError::Locked("its collection is locked".into())),
        };
        let line = event_json(&locked).unwrap();
        assert_eq!(line["reason"], "locked");
        let said = stderr_notice(&locked).unwrap();
        assert!(said.contains("the keyring is locked"), "{said}");
        assert!(!said.contains("no keyring"), "{said}");

        let saved = stderr_notice(&SessionEvent::CredentialsSaved).unwrap();
        assert!(saved.contains("saved in the keyring"), "{saved}");
        assert_eq!(
            event_json(&SessionEvent::CredentialsSaved).unwrap()["event"],
            "credentials_saved"
        );
        assert_eq!(stderr_notice(&SessionEvent::PresenceFresh), None);
    }
}
