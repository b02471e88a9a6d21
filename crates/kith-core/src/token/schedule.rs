//! When an access token expires and when to refresh it, on the local clocks.
//!
//! Pure functions, no IO. A token's remaining life is measured on the *server's*
//! clock (`exp − server_now`, where server_now comes from the HTTP `Date` header or the
//! token's `iat`), then laid onto the local monotonic clock from the moment the token
//! arrived. A wrong local wall clock therefore shifts nothing: no refresh storms when
//! it runs ahead, no connects with expired tokens when it runs behind.
//!
//! The claims come from a token nobody verified (see [`crate::token::claims`]), so
//! every step is checked arithmetic: a remaining life is capped at [`MAX_REMAINING`],
//! and an instant that cannot be represented stays at the latest one that can. No
//! input makes these functions panic.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::protocol::RefreshPolicy;
use crate::token::claims::TokenClaims;

/// Never schedule a refresh sooner than this after receiving a token, whatever the
/// server claims; a server that issues already-expired tokens must not cause a storm.
pub const MIN_REFRESH_DELAY: Duration = Duration::from_millis(500);

/// The longest remaining life a timing is given, whatever the claims say: the same ten
/// years [`crate::token::claims::read_claims`] allows.
pub const MAX_REMAINING: Duration = crate::token::claims::MAX_CLAIM_DISTANCE;

/// An access token's timing, on local clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTiming {
    /// Total lifetime as issued (`exp − iat`), or the remaining life when `iat` is absent.
    pub lifetime: Duration,
    /// Monotonic instant at which the server considers the token expired.
    pub expires_at: Instant,
    /// Monotonic instant at which Kith refreshes ahead of expiry.
    pub refresh_at: Instant,
    /// Local wall-clock time of expiry, used to re-check after a suspend, when the
    /// monotonic clock may have stood still.
    pub expires_wall: SystemTime,
    /// Estimated `server clock − local clock`, in seconds (positive: server ahead).
    pub skew_secs: i64,
}

/// Computes a token's timing. `server_date` is the response's HTTP `Date`, if any;
/// `received_at`/`received_wall` are the local clocks when the response arrived.
pub fn token_timing(
    claims: TokenClaims,
    server_date: Option<SystemTime>,
    received_at: Instant,
    received_wall: SystemTime,
    policy: &RefreshPolicy,
) -> TokenTiming {
    let local = since_epoch(received_wall);
    // The server's "now" to the second: its Date header, else the token's iat (just
    // issued), else our own clock.
    let anchor_secs = server_date
        .map(|date| since_epoch(date).as_secs())
        .or(claims.iat)
        .unwrap_or(local.as_secs());
    let anchor = Duration::from_secs(anchor_secs);
    let second = Duration::from_secs(1);
    // Both sources are whole seconds. When our clock falls inside the server's second,
    // it agrees with the server and gives sub-second precision. Otherwise it is wrong:
    // assume the server is at the end of its second, so expiry is never overestimated.
    let server_now = match anchor.checked_add(second) {
        Some(end) if local >= anchor && local < end => local,
        Some(end) => end,
        None => anchor,
    };
    let remaining = Duration::from_secs(claims.exp)
        .saturating_sub(server_now)
        .min(MAX_REMAINING);
    let lifetime = match claims.iat {
        Some(iat) => Duration::from_secs(claims.exp.saturating_sub(iat)),
        None => remaining,
    };
    let lead = refresh_lead(lifetime, policy);
    let refresh_in = remaining.saturating_sub(lead).max(MIN_REFRESH_DELAY);
    TokenTiming {
        lifetime,
        expires_at: instant_after(received_at, remaining),
        refresh_at: instant_after(received_at, refresh_in),
        expires_wall: wall_after(received_wall, remaining),
        skew_secs: signed(anchor_secs).saturating_sub(signed(local.as_secs())),
    }
}

/// How long before expiry to refresh: `min(lead_max, lifetime × lead_fraction)`.
/// A fraction outside 0..=1 (a policy built in code skips profile validation) is
/// clamped, and one that is not a number counts as 0.
pub fn refresh_lead(lifetime: Duration, policy: &RefreshPolicy) -> Duration {
    let fraction = if policy.lead_fraction.is_nan() {
        0.0
    } else {
        policy.lead_fraction.clamp(0.0, 1.0)
    };
    // `mul_f64` panics on overflow; this cannot overflow (fraction ≤ 1), and a failure
    // would still only mean "the cap".
    Duration::try_from_secs_f64(lifetime.as_secs_f64() * fraction)
        .unwrap_or(policy.lead_max)
        .min(policy.lead_max)
}

/// After a resume from sleep the monotonic clock may have paused while real time went
/// on. Re-bases a timing on the wall clock: the remaining life is what the wall clock
/// says is left (minus nothing if already past).
pub fn rebase_after_wake(
    timing: TokenTiming,
    now: Instant,
    now_wall: SystemTime,
    policy: &RefreshPolicy,
) -> TokenTiming {
    let remaining_wall = timing
        .expires_wall
        .duration_since(now_wall)
        .unwrap_or(Duration::ZERO);
    let remaining_mono = timing.expires_at.saturating_duration_since(now);
    let remaining = remaining_wall.min(remaining_mono);
    let lead = refresh_lead(timing.lifetime, policy);
    TokenTiming {
        expires_at: instant_after(now, remaining),
        refresh_at: instant_after(now, remaining.saturating_sub(lead)),
        ..timing
    }
}

fn since_epoch(time: SystemTime) -> Duration {
    time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO)
}

/// `start + offset`, or the latest instant the platform can represent on the way there.
fn instant_after(start: Instant, offset: Duration) -> Instant {
    latest(offset, |offset| start.checked_add(offset)).unwrap_or(start)
}

/// `start + offset` on the wall clock, or the latest representable time on the way.
fn wall_after(start: SystemTime, offset: Duration) -> SystemTime {
    latest(offset, |offset| start.checked_add(offset)).unwrap_or(start)
}

/// The first `add(offset)` that succeeds, halving `offset` after each failure.
fn latest<T>(mut offset: Duration, add: impl Fn(Duration) -> Option<T>) -> Option<T> {
    loop {
        if let Some(time) = add(offset) {
            return Some(time);
        }
        if offset.is_zero() {
            return None;
        }
        offset /= 2;
    }
}

fn signed(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn eight_second_token_refreshes_at_six() {
        let now = Instant::now();
        let timing = token_timing(
            TokenClaims {
                exp: 1_008,
                iat: Some(1_000),
            },
            None,
            now,
            at(1_000),
            &RefreshPolicy::default(),
        );
        assert_eq!(timing.refresh_at - now, Duration::from_secs(6));
        assert_eq!(timing.expires_at - now, Duration::from_secs(8));
    }

    #[test]
    fn fifteen_minute_token_refreshes_at_eleven_and_a_quarter() {
        let now = Instant::now();
        let timing = token_timing(
            TokenClaims {
                exp: 1_000 + 900,
                iat: Some(1_000),
            },
            Some(at(1_000)),
            now,
            at(1_000),
            &RefreshPolicy::default(),
        );
        assert_eq!(timing.refresh_at - now, Duration::from_millis(675_000));
    }

    #[test]
    fn long_token_uses_the_five_minute_cap() {
        let now = Instant::now();
        let timing = token_timing(
            TokenClaims {
                exp: 3_600,
                iat: Some(0),
            },
            None,
            now,
            at(0),
            &RefreshPolicy::default(),
        );
        assert_eq!(timing.refresh_at - now, Duration::from_secs(3_300));
    }

    #[test]
    fn wrong_local_clock_does_not_change_the_schedule() {
        let now = Instant::now();
        let claims = TokenClaims {
            exp: 1_000_060,
            iat: Some(1_000_000),
        };
        let policy = RefreshPolicy::default();
        let right = token_timing(claims, Some(at(1_000_000)), now, at(1_000_000), &policy);
        // Local clock two hours ahead, then two hours behind.
        let ahead = token_timing(claims, Some(at(1_000_000)), now, at(1_007_200), &policy);
        let behind = token_timing(claims, Some(at(1_000_000)), now, at(992_800), &policy);
        assert_eq!(right.refresh_at - now, Duration::from_secs(45));
        // A wrong clock can't be trusted below the second: at most 1 s earlier, never later.
        assert_eq!(ahead.refresh_at, behind.refresh_at);
        assert_eq!(right.refresh_at - ahead.refresh_at, Duration::from_secs(1));
        assert_eq!(ahead.skew_secs, -7_200);
        assert_eq!(behind.skew_secs, 7_200);
        // The wall-clock expiry moves with the local clock, so it stays consistent.
        assert_eq!(ahead.expires_wall, at(1_007_259));
    }

    #[test]
    fn a_correct_clock_gives_sub_second_precision() {
        let now = Instant::now();
        // Issued at 1000.7 s server time: iat and Date both say 1000.
        let received = at(1_000) + Duration::from_millis(700);
        let timing = token_timing(
            TokenClaims {
                exp: 1_002,
                iat: Some(1_000),
            },
            Some(at(1_000)),
            now,
            received,
            &RefreshPolicy::default(),
        );
        assert_eq!(timing.expires_at - now, Duration::from_millis(1_300));
        assert_eq!(timing.refresh_at - now, Duration::from_millis(800));
    }

    #[test]
    fn already_expired_token_is_not_refreshed_in_a_storm() {
        let now = Instant::now();
        let timing = token_timing(
            TokenClaims {
                exp: 900,
                iat: Some(800),
            },
            Some(at(1_000)),
            now,
            at(1_000),
            &RefreshPolicy::default(),
        );
        assert_eq!(timing.refresh_at - now, MIN_REFRESH_DELAY);
        assert_eq!(timing.expires_at, now);
    }

    #[test]
    fn wake_rebases_on_the_wall_clock() {
        let start = Instant::now();
        let policy = RefreshPolicy::default();
        let timing = token_timing(
            TokenClaims {
                exp: 1_600,
                iat: Some(1_000),
            },
            None,
            start,
            at(1_000),
            &policy,
        );
        // The laptop slept: 1 s of monotonic time, 500 s of wall time.
        let woke = start + Duration::from_secs(1);
        let rebased = rebase_after_wake(timing, woke, at(1_501), &policy);
        assert_eq!(rebased.expires_at - woke, Duration::from_secs(99));
        assert_eq!(rebased.refresh_at, woke, "lead is 150 s, so refresh now");
    }

    #[test]
    fn hostile_claims_do_not_overflow_the_clocks() {
        let now = Instant::now();
        let policy = RefreshPolicy::default();
        for (claims, date, wall) in [
            (
                TokenClaims {
                    exp: u64::MAX,
                    iat: None,
                },
                None,
                at(1_000),
            ),
            (
                TokenClaims {
                    exp: u64::MAX,
                    iat: Some(u64::MAX),
                },
                None,
                at(1_000),
            ),
            (
                TokenClaims {
                    exp: u64::MAX,
                    iat: Some(0),
                },
                Some(at(0)),
                at(0),
            ),
            (
                TokenClaims {
                    exp: u64::MAX,
                    iat: None,
                },
                Some(UNIX_EPOCH + Duration::from_secs(u64::MAX / 2)),
                at(1_000),
            ),
            (
                TokenClaims {
                    exp: 5,
                    iat: Some(0),
                },
                None,
                UNIX_EPOCH,
            ),
        ] {
            let timing = token_timing(claims, date, now, wall, &policy);
            assert!(timing.expires_at - now <= MAX_REMAINING, "{claims:?}");
            assert!(timing.refresh_at <= timing.expires_at.max(now + MIN_REFRESH_DELAY));
            let rebased = rebase_after_wake(timing, now, wall, &policy);
            assert!(rebased.expires_at <= timing.expires_at);
            let rebased = rebase_after_wake(timing, now, UNIX_EPOCH, &policy);
            assert!(rebased.refresh_at <= rebased.expires_at);
        }
    }

    #[test]
    fn a_lead_fraction_out_of_range_does_not_panic() {
        let lifetime = Duration::from_secs(u64::MAX);
        for fraction in [f64::NAN, f64::INFINITY, -1.0, 2.0, f64::MAX] {
            let policy = RefreshPolicy {
                lead_fraction: fraction,
                ..RefreshPolicy::default()
            };
            assert!(refresh_lead(lifetime, &policy) <= policy.lead_max);
        }
    }
}
