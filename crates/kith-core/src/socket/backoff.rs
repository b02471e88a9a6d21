//! Reconnect delays: exponential from a base, capped, then full jitter.
//!
//! Jitter is applied *after* the cap (delay = uniform(0, min(cap, base·2ⁿ))), so a fleet
//! of clients that lost the server together never retries in step, even once every
//! client has reached the cap. Pure: the random source is passed in.

use std::time::Duration;

use rand::Rng;

use crate::protocol::ReconnectPolicy;

/// The un-jittered ceiling for failed attempt number `attempt` (1-based).
pub fn backoff_ceiling(policy: &ReconnectPolicy, attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(30);
    policy
        .base
        .checked_mul(1u32 << doublings)
        .unwrap_or(policy.cap)
        .min(policy.cap)
}

/// The delay before retrying after failed attempt number `attempt`: uniform in
/// `[0, ceiling]`, millisecond resolution.
pub fn backoff_delay(policy: &ReconnectPolicy, attempt: u32, rng: &mut impl Rng) -> Duration {
    let ceiling = backoff_ceiling(policy, attempt).as_millis() as u64;
    Duration::from_millis(rng.gen_range(0..=ceiling))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn ceiling_doubles_from_base_to_cap() {
        let policy = ReconnectPolicy::default();
        assert_eq!(backoff_ceiling(&policy, 1), Duration::from_millis(500));
        assert_eq!(backoff_ceiling(&policy, 2), Duration::from_secs(1));
        assert_eq!(backoff_ceiling(&policy, 7), Duration::from_secs(30));
        assert_eq!(backoff_ceiling(&policy, 1000), Duration::from_secs(30));
    }

    #[test]
    fn jitter_spreads_over_the_whole_range_after_the_cap() {
        let policy = ReconnectPolicy::default();
        let mut rng = SmallRng::seed_from_u64(7);
        let delays: Vec<_> = (0..2000)
            .map(|_| backoff_delay(&policy, 20, &mut rng))
            .collect();
        assert!(delays.iter().all(|d| *d <= policy.cap));
        assert!(delays.iter().any(|d| *d < Duration::from_secs(3)));
        assert!(delays.iter().any(|d| *d > Duration::from_secs(27)));
    }
}
