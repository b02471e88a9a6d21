//! The connection timeline: the last 100 connection events, and one plain line that
//! answers "why am I not connected?".
//!
//! Every [`StateChange`] already carries a reason and, while waiting to retry, when the
//! next attempt is due; the timeline keeps them with the wall-clock time they happened,
//! so the window can show what went on while nobody looked. A server-provided part of a
//! reason (a close frame's text, an `auth_error` message) goes through
//! [`redact_secrets`] and [`plain_text`] when it is recorded, so neither the window nor
//! the clipboard text ever holds a token or a control character, and nothing longer
//! than [`DETAIL_MAX`].

use std::collections::VecDeque;
use std::time::Instant;

use jiff::{Timestamp, Zoned};
use serde::Serialize;

use super::clock::clock_text;
use super::redact::redact_secrets;
use crate::socket::{ConnectionState, Reason, StateChange};
use crate::text::plain_text;
use crate::token::EndReason;

/// How many events the timeline keeps.
pub const TIMELINE_CAPACITY: usize = 100;
/// The longest a reason's text is kept.
pub const DETAIL_MAX: usize = 300;

/// One connection event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimelineEntry {
    /// When it happened.
    pub at: Timestamp,
    /// The state entered ([`ConnectionState::name`]).
    pub state: &'static str,
    /// Why ([`Reason::code`], or [`EndReason::as_str`] for the end of a session).
    pub reason: &'static str,
    /// Why, in words: the reason's `Display`, redacted and plain.
    pub detail: String,
    /// The attempt under way or failed, while connecting or waiting to retry.
    pub attempt: Option<u32>,
    /// When the next attempt is due, while waiting to retry.
    pub retry_at: Option<Timestamp>,
    #[serde(skip)]
    to: ConnectionState,
    /// Whether the state left was `connected` (a handover, not a new connection).
    #[serde(skip)]
    from_connected: bool,
    /// Whether the reason explains a lost or refused connection (not "retry due" or
    /// "socket opened").
    #[serde(skip)]
    problem: bool,
}

fn attempt(state: &ConnectionState) -> Option<u32> {
    match state {
        ConnectionState::Connecting { attempt }
        | ConnectionState::Authenticating { attempt }
        | ConnectionState::Reconnecting { attempt } => Some(*attempt),
        _ => None,
    }
}

/// Whether `reason` explains why Kith is not connected.
fn is_problem(reason: &Reason) -> bool {
    !matches!(
        reason,
        Reason::Started
            | Reason::SocketOpened
            | Reason::Authenticated
            | Reason::Handover
            | Reason::RetryDue
            | Reason::ReconnectNow
            | Reason::ServerBack
            | Reason::SignedIn
            | Reason::NetworkUp
    )
}

fn clean(text: &str) -> String {
    plain_text(&redact_secrets(text), DETAIL_MAX)
}

/// The last [`TIMELINE_CAPACITY`] connection events, oldest first.
#[derive(Debug, Clone, Default)]
pub struct ConnectionTimeline {
    entries: VecDeque<TimelineEntry>,
}

impl ConnectionTimeline {
    /// An empty timeline.
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, entry: TimelineEntry) {
        if self.entries.len() == TIMELINE_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    /// Records `change`, which happened at `at` on the wall clock and `now` on the
    /// monotonic one (to turn its retry deadline into a wall-clock time).
    pub fn record(&mut self, change: &StateChange, at: Timestamp, now: Instant) {
        let detail = match (&change.reason, &change.to) {
            (Reason::SessionEnded(reason), _) | (_, ConnectionState::SignedOut { reason }) => {
                reason.message().to_string()
            }
            (reason, _) => clean(&reason.to_string()),
        };
        let retry_at = change
            .retry_in(now)
            .and_then(|left| at.saturating_add(left).ok());
        self.push(TimelineEntry {
            at,
            state: change.to.name(),
            reason: change.reason.code(),
            detail,
            attempt: attempt(&change.to),
            retry_at,
            to: change.to.clone(),
            from_connected: change.from == ConnectionState::Connected,
            problem: is_problem(&change.reason),
        });
    }

    /// Records the end of the session ([`crate::SessionEvent::SessionEnded`], which
    /// is sent instead of a state change to `signed_out`).
    pub fn record_session_ended(&mut self, reason: EndReason, at: Timestamp) {
        self.push(TimelineEntry {
            at,
            state: "signed_out",
            reason: reason.as_str(),
            detail: reason.message().to_string(),
            attempt: None,
            retry_at: None,
            to: ConnectionState::SignedOut { reason },
            from_connected: false,
            problem: true,
        });
    }

    /// The events, oldest first.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &TimelineEntry> + ExactSizeIterator {
        self.entries.iter()
    }

    /// How many events are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The events since the last one that entered `connected` (all of them if none
    /// did), oldest first.
    fn since_connected(&self) -> impl DoubleEndedIterator<Item = &TimelineEntry> {
        let start = self
            .entries
            .iter()
            .rposition(|e| e.to == ConnectionState::Connected)
            .map_or(0, |i| i + 1);
        self.entries.range(start..)
    }

    /// One plain line for the top of the timeline, in `now`'s time zone: "Connected
    /// since 14:02.", "Not connected since 14:20 — connection lost. Next attempt at
    /// 14:21.", "Signed out: the session expired; sign in again."
    pub fn why_not_connected(&self, now: &Zoned) -> String {
        let Some(last) = self.entries.back() else {
            return "Not connected yet.".to_string();
        };
        match &last.to {
            ConnectionState::Connected => {
                // The start of the current connection: the latest entry into
                // `connected` from elsewhere (a handover goes on with the same one).
                let run = || {
                    self.entries
                        .iter()
                        .rev()
                        .take_while(|e| e.to == ConnectionState::Connected)
                };
                let since = run()
                    .find(|e| !e.from_connected)
                    .or_else(|| run().last())
                    .map_or(last.at, |e| e.at);
                return format!("Connected since {}.", clock_text(since, now));
            }
            ConnectionState::SignedOut { reason } => {
                return format!("Signed out: {}.", reason.message());
            }
            ConnectionState::Stopped => return "Kith is stopped.".to_string(),
            ConnectionState::Idle => return "Not connected yet.".to_string(),
            _ => {}
        }
        let lost = self.since_connected().next().map_or(last.at, |e| e.at);
        let mut line = format!("Not connected since {}", clock_text(lost, now));
        if let Some(why) = self.since_connected().rev().find(|e| e.problem) {
            line.push_str(" — ");
            line.push_str(&why.detail);
        }
        line.push('.');
        let next = match &last.to {
            ConnectionState::Reconnecting { .. } => match last.retry_at {
                Some(at) if at > now.timestamp() => {
                    format!(" Next attempt at {}.", clock_text(at, now))
                }
                _ => " Trying again now.".to_string(),
            },
            ConnectionState::Connecting { attempt }
            | ConnectionState::Authenticating { attempt } => {
                format!(" Trying again now (attempt {attempt}).")
            }
            ConnectionState::Offline => " Kith reconnects when the network is back.".to_string(),
            ConnectionState::GaveUp => {
                " Kith stopped retrying; choose Reconnect now to try again.".to_string()
            }
            _ => String::new(),
        };
        line.push_str(&next);
        line
    }

    /// The timeline as text for the clipboard: the "why" line, then one line per event,
    /// oldest first, in `now`'s time zone. Holds nothing secret: every reason was
    /// redacted when it was recorded.
    pub fn clipboard_text(&self, now: &Zoned) -> String {
        let tz = now.time_zone();
        let zone = tz.iana_name().unwrap_or("local time");
        let mut text = format!(
            "Kith connection timeline ({zone})\n{}\n\n",
            self.why_not_connected(now)
        );
        for entry in &self.entries {
            let local = entry.at.to_zoned(tz.clone());
            text.push_str(&format!(
                "{}  {}  {}  {}",
                local.strftime("%Y-%m-%d %H:%M:%S %:z"),
                entry.state,
                entry.reason,
                entry.detail
            ));
            if let Some(retry) = entry.retry_at {
                let retry = retry.to_zoned(tz.clone());
                text.push_str(&format!("  (next attempt {})", retry.strftime("%H:%M:%S")));
            }
            text.push('\n');
        }
        text
    }
}
