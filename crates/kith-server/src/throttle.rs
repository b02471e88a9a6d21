//! Login throttling: failed logins are counted per username and per client address over a
//! sliding window, and once either count reaches its limit, logins for that username or
//! from that address are answered 429 with `Retry-After` until the oldest failure in the
//! window ages out. Successful logins are never counted, so many clients signing in from
//! one address (a benchmark, an office behind NAT) are not slowed down.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Limits on failed logins. A limit of 0 turns that half of the throttle off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failed logins for one username within `window` before it is throttled.
    pub max_failures_per_user: u32,
    /// Failed logins from one client address within `window` before it is throttled.
    pub max_failures_per_addr: u32,
    /// How far back failures count.
    pub window: Duration,
}

impl Default for LoginLimits {
    /// 10 failures per username and 10 per address within a minute.
    fn default() -> Self {
        Self {
            max_failures_per_user: 10,
            max_failures_per_addr: 10,
            window: Duration::from_secs(60),
        }
    }
}

/// Longest username kept as a key; longer ones (no such user can exist) share a prefix.
const MAX_KEY_NAME: usize = 160;
/// Sweep keys with no recent failures every this many recorded failures.
const SWEEP_EVERY: u32 = 512;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Addr(IpAddr),
}

#[derive(Default)]
struct Failures {
    by_key: HashMap<Key, VecDeque<Instant>>,
    since_sweep: u32,
}

/// The failure counts. Every method takes `now` so tests can move time.
pub(crate) struct LoginThrottle {
    limits: LoginLimits,
    failures: Mutex<Failures>,
}

impl LoginThrottle {
    pub(crate) fn new(limits: LoginLimits) -> Self {
        Self {
            limits,
            failures: Mutex::new(Failures::default()),
        }
    }

    /// How long until this username and address may try again, if either is throttled.
    pub(crate) fn retry_after(
        &self,
        username: &str,
        addr: IpAddr,
        now: Instant,
    ) -> Option<Duration> {
        let window = self.limits.window;
        let mut f = crate::state::lock(&self.failures);
        self.keys(username, addr)
            .into_iter()
            .filter_map(|(key, max)| {
                let times = f.by_key.get_mut(&key)?;
                prune(times, now, window);
                let oldest = times.front().copied()?;
                (times.len() >= max as usize)
                    .then(|| (oldest + window).saturating_duration_since(now))
            })
            .max()
    }

    /// Counts one failed login for this username and address.
    pub(crate) fn record_failure(&self, username: &str, addr: IpAddr, now: Instant) {
        let window = self.limits.window;
        let mut f = crate::state::lock(&self.failures);
        for (key, max) in self.keys(username, addr) {
            let times = f.by_key.entry(key).or_default();
            prune(times, now, window);
            times.push_back(now);
            // More than `max` adds nothing: the answer is already 429.
            while times.len() > max as usize {
                times.pop_front();
            }
        }
        f.since_sweep += 1;
        if f.since_sweep >= SWEEP_EVERY {
            f.since_sweep = 0;
            f.by_key.retain(|_, times| {
                prune(times, now, window);
                !times.is_empty()
            });
        }
    }

    /// The keys with a limit, each with its limit.
    fn keys(&self, username: &str, addr: IpAddr) -> Vec<(Key, u32)> {
        let mut keys = Vec::with_capacity(2);
        if self.limits.max_failures_per_user > 0 {
            keys.push((
                Key::User(prefix(username, MAX_KEY_NAME).to_owned()),
                self.limits.max_failures_per_user,
            ));
        }
        if self.limits.max_failures_per_addr > 0 {
            keys.push((
                Key::Addr(addr.to_canonical()),
                self.limits.max_failures_per_addr,
            ));
        }
        keys
    }

    #[cfg(test)]
    fn tracked_keys(&self) -> usize {
        crate::state::lock(&self.failures).by_key.len()
    }
}

/// At most `max` bytes of `s`, cut on a character boundary.
fn prefix(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn prune(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

    fn limits(user: u32, addr: u32) -> LoginLimits {
        LoginLimits {
            max_failures_per_user: user,
            max_failures_per_addr: addr,
            window: Duration::from_secs(60),
        }
    }

    #[test]
    fn a_user_is_throttled_from_any_address() {
        let t0 = Instant::now();
        let t = LoginThrottle::new(limits(3, 0));
        for i in 0..3 {
            assert_eq!(t.retry_after("alice", A, t0), None);
            t.record_failure("alice", if i % 2 == 0 { A } else { B }, t0);
        }
        let at = t0 + Duration::from_secs(10);
        assert_eq!(t.retry_after("alice", B, at), Some(Duration::from_secs(50)));
        assert_eq!(t.retry_after("bob", A, at), None);
        assert_eq!(
            t.retry_after("alice", A, t0 + Duration::from_secs(60)),
            None
        );
    }

    #[test]
    fn an_address_is_throttled_for_any_user() {
        let t0 = Instant::now();
        let t = LoginThrottle::new(limits(0, 2));
        t.record_failure("alice", A, t0);
        t.record_failure("bob", A, t0 + Duration::from_secs(5));
        assert_eq!(
            t.retry_after("carol", A, t0 + Duration::from_secs(5)),
            Some(Duration::from_secs(55))
        );
        assert_eq!(t.retry_after("carol", B, t0), None);
    }

    #[test]
    fn the_window_slides() {
        let t0 = Instant::now();
        let t = LoginThrottle::new(limits(2, 0));
        t.record_failure("alice", A, t0);
        t.record_failure("alice", A, t0 + Duration::from_secs(30));
        assert!(t
            .retry_after("alice", A, t0 + Duration::from_secs(59))
            .is_some());
        // The first failure has aged out; one in the window is below the limit.
        assert_eq!(
            t.retry_after("alice", A, t0 + Duration::from_secs(60)),
            None
        );
    }

    #[test]
    fn idle_keys_are_swept() {
        let t0 = Instant::now();
        let t = LoginThrottle::new(limits(10, 0));
        for i in 0..SWEEP_EVERY - 1 {
            t.record_failure(&format!("u{i}"), A, t0);
        }
        assert_eq!(t.tracked_keys(), (SWEEP_EVERY - 1) as usize);
        t.record_failure("last", A, t0 + Duration::from_secs(61));
        assert_eq!(t.tracked_keys(), 1);
    }

    #[test]
    fn zero_limits_throttle_nothing() {
        let t0 = Instant::now();
        let t = LoginThrottle::new(limits(0, 0));
        for _ in 0..100 {
            t.record_failure("alice", A, t0);
        }
        assert_eq!(t.retry_after("alice", A, t0), None);
    }
}
