//! Reconnect delays: exponential from a base, capped, bounded by the outage so far,
//! then full jitter.
//!
//! Jitter is applied *after* the bounds (delay = uniform(0, ceiling)), so a fleet of
//! clients that lost the server together never retries in step, even once every client
//! has reached the cap.
//!
//! The outage bound is what makes recovery fast after a short outage. A refused connect
//! fails within milliseconds, so the attempt counter climbs quickly while the server is
//! down, and a purely exponential ceiling would reach the cap (30 s) during a 5 s
//! outage. Bounding each ceiling by [`OUTAGE_FRACTION`] of the time already spent
//! without a stable connection (never below [`OUTAGE_FLOOR`]) means a wait that starts
//! at time `t` of an outage ends by `t + max(floor, fraction · t)`: a client is back
//! within `max(floor, fraction · D)` of a server that was down for `D`, plus the
//! connect itself. The floor keeps a fleet spread: it equals the second exponential
//! step of the default policy, so the first two retries of a fleet (where its peak
//! is) are exactly as without the bound, and afterwards each client retries on average
//! every `floor / 2` at the most.
//!
//! Pure: the random source is passed in.

use std::time::Duration;

use rand::Rng;

use crate::protocol::ReconnectPolicy;

/// A wait is at most this fraction of the time spent without a stable connection.
pub const OUTAGE_FRACTION: f64 = 0.2;
/// The outage bound never lowers a ceiling below this (nor below the policy's base).
pub const OUTAGE_FLOOR: Duration = Duration::from_secs(1);
// Below one, the product never overflows a `Duration`.
const _: () = assert!(OUTAGE_FRACTION > 0.0 && OUTAGE_FRACTION < 1.0);

/// The exponential ceiling for failed attempt number `attempt` (1-based), before the
/// outage bound: `min(cap, base · 2^(attempt − 1))`.
pub fn backoff_ceiling(policy: &ReconnectPolicy, attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(30);
    policy
        .base
        .checked_mul(1u32 << doublings)
        .unwrap_or(policy.cap)
        .min(policy.cap)
}

/// The un-jittered ceiling after failed attempt number `attempt`, `outage` into a
/// period without a stable connection.
pub fn retry_ceiling(policy: &ReconnectPolicy, attempt: u32, outage: Duration) -> Duration {
    let outage_bound = outage
        .mul_f64(OUTAGE_FRACTION)
        .max(OUTAGE_FLOOR)
        .max(policy.base);
    backoff_ceiling(policy, attempt).min(outage_bound)
}

/// The delay before retrying after failed attempt number `attempt`, `outage` into a
/// period without a stable connection: uniform in `[0, ceiling]`, millisecond
/// resolution.
pub fn backoff_delay(
    policy: &ReconnectPolicy,
    attempt: u32,
    outage: Duration,
    rng: &mut impl Rng,
) -> Duration {
    let ceiling = retry_ceiling(policy, attempt, outage).as_millis() as u64;
    Duration::from_millis(rng.gen_range(0..=ceiling))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    const LONG_OUTAGE: Duration = Duration::from_secs(3600);

    #[test]
    fn ceiling_doubles_from_base_to_cap() {
        let policy = ReconnectPolicy::default();
        assert_eq!(backoff_ceiling(&policy, 1), Duration::from_millis(500));
        assert_eq!(backoff_ceiling(&policy, 2), Duration::from_secs(1));
        assert_eq!(backoff_ceiling(&policy, 7), Duration::from_secs(30));
        assert_eq!(backoff_ceiling(&policy, 1000), Duration::from_secs(30));
        assert_eq!(backoff_ceiling(&policy, u32::MAX), Duration::from_secs(30));
        // A long outage leaves the exponential ceiling alone.
        assert_eq!(
            retry_ceiling(&policy, 7, LONG_OUTAGE),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn a_short_outage_bounds_the_ceiling_by_its_length() {
        let policy = ReconnectPolicy::default();
        // Seven refused attempts in 10 s: the exponential ceiling is the 30 s cap, the
        // outage bound 2 s.
        assert_eq!(
            retry_ceiling(&policy, 7, Duration::from_secs(10)),
            Duration::from_secs(2)
        );
        // Never below the floor, however short the outage.
        assert_eq!(
            retry_ceiling(&policy, 7, Duration::from_millis(10)),
            OUTAGE_FLOOR
        );
        // Nor below the base, when the base is longer than the floor.
        let slow = ReconnectPolicy {
            base: Duration::from_secs(2),
            ..ReconnectPolicy::default()
        };
        assert_eq!(
            retry_ceiling(&slow, 3, Duration::from_secs(1)),
            Duration::from_secs(2)
        );
        // And never above the exponential ceiling: the first retries stay quick.
        assert_eq!(
            retry_ceiling(&policy, 1, Duration::from_secs(60)),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn the_largest_outage_saturates_at_the_cap() {
        let policy = ReconnectPolicy::default();
        assert_eq!(
            retry_ceiling(&policy, u32::MAX, Duration::MAX),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn jitter_spreads_over_the_whole_range_after_the_cap() {
        let policy = ReconnectPolicy::default();
        let mut rng = SmallRng::seed_from_u64(7);
        let delays: Vec<_> = (0..2000)
            .map(|_| backoff_delay(&policy, 20, LONG_OUTAGE, &mut rng))
            .collect();
        assert!(delays.iter().all(|d| *d <= policy.cap));
        assert!(delays.iter().any(|d| *d < Duration::from_secs(3)));
        assert!(delays.iter().any(|d| *d > Duration::from_secs(27)));
    }
}
