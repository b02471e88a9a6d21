//! When an access token expires and when to refresh it, on the local clocks.
//!
//! Pure functions, no IO. A token's remaining life is measured on the *server's*
//! clock (`exp − server_now`, where server_now comes from the HTTP `Date` header or the
//! token's `iat`), then laid onto the local monotonic clock from the moment the token
//! arrived. A wrong local wall clock therefore shifts nothing: no refresh storms when
//! it runs ahead, no connects with expired tokens when it runs behind.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::protocol::RefreshPolicy;
use crate::token::claims::TokenClaims;

/// Never schedule a refresh sooner than this after receiving a token, whatever the
/// server claims; a server that issues already-expired tokens must not cause a storm.
pub const MIN_REFRESH_DELAY: Duration = Duration::from_millis(500);

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
    // Both sources are whole seconds. When our clock falls inside the server's second,
    // it agrees with the server and gives sub-second precision. Otherwise it is wrong:
    // assume the server is at the end of its second, so expiry is never overestimated.
    let server_now = if local >= anchor && local < anchor + Duration::from_secs(1) {
        local
    } else {
        anchor + Duration::from_secs(1)
    };
    let remaining = Duration::from_secs(claims.exp).saturating_sub(server_now);
    let lifetime = match claims.iat {
        Some(iat) => Duration::from_secs(claims.exp.saturating_sub(iat)),
        None => remaining,
    };
    let lead = refresh_lead(lifetime, policy);
    let refresh_in = remaining.saturating_sub(lead).max(MIN_REFRESH_DELAY);
    TokenTiming {
        lifetime,
        expires_at: received_at + remaining,
        refresh_at: received_at + refresh_in,
        expires_wall: received_wall + remaining,
        skew_secs: anchor_secs as i64 - local.as_secs() as i64,
    }
}

/// How long before expiry to refresh: `min(lead_max, lifetime × lead_fraction)`.
pub fn refresh_lead(lifetime: Duration, policy: &RefreshPolicy) -> Duration {
    lifetime.mul_f64(policy.lead_fraction).min(policy.lead_max)
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
        expires_at: now + remaining,
        refresh_at: now + remaining.saturating_sub(lead),
        ..timing
    }
}

fn since_epoch(time: SystemTime) -> Duration {
    time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO)
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
}
