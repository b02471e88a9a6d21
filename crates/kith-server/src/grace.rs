//! The refresh reuse interval: for a short while after a refresh token is rotated, the
//! server remembers what it answered, so a client that lost that answer (a timeout, a
//! dropped connection) and presents the old token again gets the same successor instead
//! of being treated as a token thief. Auth0, Okta and Supabase call this the reuse
//! interval. It lives in memory only: after a restart every re-presentation is reuse.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What a rotation answered: the pair it issued and when.
#[derive(Debug, Clone)]
pub(crate) struct Successor {
    pub access: String,
    pub refresh: String,
    /// `jti` of `refresh`, to see whether the successor itself has been used up since.
    pub refresh_jti: String,
    pub rotated_at: Instant,
}

/// Successors by the `jti` of the token they replaced, forgotten once older than the
/// interval. Not locked itself: its owner keeps it behind the lock that also covers
/// the rotation, so a concurrent re-presentation cannot slip in between the two.
#[derive(Debug)]
pub(crate) struct GraceMap {
    interval: Duration,
    entries: HashMap<String, Successor>,
}

impl GraceMap {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            entries: HashMap::new(),
        }
    }

    /// Whether re-presentations get any grace at all.
    pub(crate) fn enabled(&self) -> bool {
        !self.interval.is_zero()
    }

    /// Remembers the successor of the token `jti`, pruning what has aged out.
    pub(crate) fn remember(&mut self, jti: String, successor: Successor) {
        if !self.enabled() {
            return;
        }
        self.prune(successor.rotated_at);
        self.entries.insert(jti, successor);
    }

    /// The successor of `jti` if it was rotated less than the interval before `now`.
    pub(crate) fn lookup(&self, jti: &str, now: Instant) -> Option<&Successor> {
        self.entries
            .get(jti)
            .filter(|s| now.saturating_duration_since(s.rotated_at) < self.interval)
    }

    /// Forgets every entry at least the interval old.
    pub(crate) fn prune(&mut self, now: Instant) {
        let interval = self.interval;
        self.entries
            .retain(|_, s| now.saturating_duration_since(s.rotated_at) < interval);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn successor(at: Instant, n: u32) -> Successor {
        Successor {
            access: format!("a{n}"),
            refresh: format!("r{n}"),
            refresh_jti: format!("j{n}"),
            rotated_at: at,
        }
    }

    #[test]
    fn answers_within_the_interval_only() {
        let t0 = Instant::now();
        let mut map = GraceMap::new(Duration::from_secs(30));
        map.remember("old".into(), successor(t0, 1));
        let hit = map.lookup("old", t0 + Duration::from_secs(29));
        assert_eq!(hit.map(|s| s.refresh.as_str()), Some("r1"));
        assert!(map.lookup("old", t0 + Duration::from_secs(30)).is_none());
        assert!(map.lookup("other", t0).is_none());
    }

    #[test]
    fn prunes_as_entries_age() {
        let t0 = Instant::now();
        let mut map = GraceMap::new(Duration::from_secs(30));
        map.remember("a".into(), successor(t0, 1));
        map.remember("b".into(), successor(t0 + Duration::from_secs(10), 2));
        assert_eq!(map.len(), 2);
        // Remembering at t0 + 35 s forgets `a` (35 s old) and keeps `b` (25 s old).
        map.remember("c".into(), successor(t0 + Duration::from_secs(35), 3));
        assert_eq!(map.len(), 2);
        assert!(map.lookup("a", t0 + Duration::from_secs(35)).is_none());
        map.prune(t0 + Duration::from_secs(100));
        assert_eq!(map.len(), 0);
    }

    #[test]
    fn zero_interval_remembers_nothing() {
        let t0 = Instant::now();
        let mut map = GraceMap::new(Duration::ZERO);
        assert!(!map.enabled());
        map.remember("a".into(), successor(t0, 1));
        assert_eq!(map.len(), 0);
        assert!(map.lookup("a", t0).is_none());
    }
}
