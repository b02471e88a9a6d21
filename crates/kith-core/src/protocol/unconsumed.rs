//! Messages Kith receives and does not consume, counted.
//!
//! A presence socket is often shared: a Socket.IO server also emits `chat` or
//! `typing`, a JSON backend has message types of its own. Those are normal, not
//! errors, so they must not flood the log. [`Unconsumed`] counts them by kind and says
//! which occurrence is the first of its kind, so the driver logs that one at debug and
//! counts the rest. The number of distinct kinds it remembers is capped, so a server
//! inventing a new name per message cannot grow it without bound.

use std::collections::HashMap;

/// The most distinct kinds counted by name; beyond them, messages count as "other".
pub const MAX_KINDS: usize = 64;

/// Counts of unconsumed messages by kind (event name or JSON `type`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unconsumed {
    by_kind: HashMap<String, u64>,
    other: u64,
}

impl Unconsumed {
    /// Nothing counted yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one message of `kind`; `true` when it is the first of its kind (or the
    /// first past the cap of [`MAX_KINDS`] kinds), which is the one worth a log line.
    pub fn record(&mut self, kind: &str) -> bool {
        if let Some(count) = self.by_kind.get_mut(kind) {
            *count += 1;
            return false;
        }
        if self.by_kind.len() < MAX_KINDS {
            self.by_kind.insert(kind.to_string(), 1);
            return true;
        }
        self.other += 1;
        self.other == 1
    }

    /// Messages of `kind` counted so far.
    pub fn count(&self, kind: &str) -> u64 {
        self.by_kind.get(kind).copied().unwrap_or(0)
    }

    /// Every unconsumed message counted so far.
    pub fn total(&self) -> u64 {
        self.by_kind.values().sum::<u64>() + self.other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_of_each_kind_is_marked_and_all_are_counted() {
        let mut counts = Unconsumed::new();
        assert!(counts.record("chat"));
        assert!(!counts.record("chat"));
        assert!(counts.record("typing"));
        for _ in 0..98 {
            assert!(!counts.record("chat"));
        }
        assert_eq!(counts.count("chat"), 100);
        assert_eq!(counts.count("typing"), 1);
        assert_eq!(counts.count("nothing"), 0);
        assert_eq!(counts.total(), 101);
    }

    #[test]
    fn distinct_kinds_are_capped() {
        let mut counts = Unconsumed::new();
        let firsts = (0..1000)
            .filter(|i| counts.record(&format!("kind-{i}")))
            .count();
        assert_eq!(
            firsts,
            MAX_KINDS + 1,
            "one line per named kind, one for the rest"
        );
        assert_eq!(counts.total(), 1000);
        assert_eq!(counts.by_kind.len(), MAX_KINDS);
    }
}
