//! Structured fuzzing of access-token claims, which come from a server nobody verifies
//! on the client: JWTs with hostile `exp`/`iat` (u64::MAX, huge and negative floats,
//! fractions, strings, nulls) and damaged tokens go through `read_claims_at`, then
//! `token_timing` and `rebase_after_wake` with arbitrary clocks and policies. The
//! properties: nothing panics, refused claims are a typed `ClaimsError`, accepted ones
//! are within ten years of the clock, and the schedule stays ordered and bounded.
//!
//! Bounded case count for CI: `KITH_FUZZ_CASES` (default 256) per property.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, EncodingKey, Header};
use kith_core::protocol::RefreshPolicy;
use kith_core::token::claims::{read_claims_at, MAX_CLAIM_DISTANCE};
use kith_core::token::schedule::{rebase_after_wake, MAX_REMAINING, MIN_REFRESH_DELAY};
use kith_core::token::{token_timing, ClaimsError, TokenClaims};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    common::fuzz_config()
}

/// Seconds since the epoch as a wall-clock time, saturating where the platform ends.
fn wall(secs: u64) -> SystemTime {
    let mut offset = Duration::from_secs(secs);
    loop {
        if let Some(time) = UNIX_EPOCH.checked_add(offset) {
            return time;
        }
        offset /= 2;
    }
}

/// Around now: most tokens are near the clock, some far from it.
const NOW: u64 = 1_800_000_000;

fn seconds() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => NOW - 100_000..NOW + 100_000,
        1 => Just(u64::MAX),
        1 => Just(u64::MAX - 1),
        1 => Just(0u64),
        1 => Just(NOW + MAX_CLAIM_DISTANCE.as_secs()),
        1 => Just(NOW + MAX_CLAIM_DISTANCE.as_secs() + 1),
        1 => any::<u64>(),
    ]
}

/// A claim value of any JSON shape.
fn claim_value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        6 => seconds().prop_map(serde_json::Value::from),
        1 => any::<f64>().prop_map(serde_json::Value::from),
        1 => prop_oneof![Just(1e300), Just(f64::MAX), Just(1.8e19), Just(-1e300), Just(-0.0), Just(0.5)]
            .prop_map(serde_json::Value::from),
        1 => (NOW as f64 - 1e5..NOW as f64 + 1e5).prop_map(serde_json::Value::from),
        1 => any::<i64>().prop_map(serde_json::Value::from),
        1 => "[0-9a-z.-]{0,12}".prop_map(serde_json::Value::from),
        1 => Just(serde_json::Value::Null),
        1 => Just(serde_json::json!([1])),
        1 => Just(serde_json::json!({"a": 1})),
        1 => any::<bool>().prop_map(serde_json::Value::from),
    ]
}

fn claims_json() -> impl Strategy<Value = serde_json::Value> {
    (
        proptest::option::weighted(0.9, claim_value()),
        proptest::option::weighted(0.7, claim_value()),
        proptest::option::of("[a-z0-9]{0,8}"),
    )
        .prop_map(|(exp, iat, sub)| {
            let mut claims = serde_json::Map::new();
            if let Some(exp) = exp {
                claims.insert("exp".into(), exp);
            }
            if let Some(iat) = iat {
                claims.insert("iat".into(), iat);
            }
            if let Some(sub) = sub {
                claims.insert("sub".into(), sub.into());
            }
            serde_json::Value::Object(claims)
        })
}

fn policy() -> impl Strategy<Value = RefreshPolicy> {
    (
        prop_oneof![Just(0u64), 1..86_400u64, Just(u64::MAX)],
        prop_oneof![
            0.0..1.0f64,
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-1.0),
            Just(2.0)
        ],
    )
        .prop_map(|(lead_max, lead_fraction)| RefreshPolicy {
            lead_max: Duration::from_secs(lead_max),
            lead_fraction,
            ..RefreshPolicy::default()
        })
}

/// Damages a token: flips a byte, cuts it, or drops a dot.
fn damage(token: &str, how: u8, at: usize) -> String {
    let mut bytes = token.as_bytes().to_vec();
    if bytes.is_empty() {
        return String::new();
    }
    let at = at % bytes.len();
    match how % 4 {
        0 => bytes[at] ^= 0x20,
        1 => bytes.truncate(at),
        2 => {
            bytes.remove(at);
        }
        _ => bytes.insert(at, b'.'),
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn check_timing(
    claims: TokenClaims,
    server_date: Option<SystemTime>,
    wall_now: SystemTime,
    policy: &RefreshPolicy,
    slept: Duration,
) -> Result<(), TestCaseError> {
    let received = Instant::now();
    let timing = token_timing(claims, server_date, received, wall_now, policy);
    let remaining = timing.expires_at.saturating_duration_since(received);
    prop_assert!(remaining <= MAX_REMAINING);
    prop_assert!(timing.refresh_at >= received);
    prop_assert!(timing.refresh_at.saturating_duration_since(received) >= MIN_REFRESH_DELAY);
    prop_assert!(
        timing.refresh_at <= timing.expires_at
            || timing.refresh_at.saturating_duration_since(received) == MIN_REFRESH_DELAY
    );
    let woke = received.checked_add(slept).unwrap_or(received);
    let woke_wall = wall_now.checked_add(slept).unwrap_or(wall_now);
    for wall_then in [woke_wall, UNIX_EPOCH, wall(u64::MAX)] {
        let rebased = rebase_after_wake(timing, woke, wall_then, policy);
        prop_assert!(rebased.expires_at <= timing.expires_at.max(woke));
        prop_assert!(rebased.refresh_at <= rebased.expires_at);
        prop_assert!(rebased.expires_at >= woke);
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn hostile_claims_are_read_or_refused_with_a_type(
        claims in claims_json(),
        now in prop_oneof![4 => Just(NOW), 1 => any::<u64>()],
        date in proptest::option::of(seconds()),
        policy in policy(),
        slept in 0..1_000_000u64,
    ) {
        let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(b"k"))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let now_wall = wall(now);
        match read_claims_at(&token, now_wall) {
            Ok(read) => {
                let now_secs = now_wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                let ten_years = MAX_CLAIM_DISTANCE.as_secs();
                prop_assert!(read.exp.abs_diff(now_secs) <= ten_years);
                if let Some(iat) = read.iat {
                    prop_assert!(iat.abs_diff(now_secs) <= ten_years);
                    prop_assert!(iat <= read.exp);
                }
                check_timing(read, date.map(wall), now_wall, &policy, Duration::from_secs(slept))?;
            }
            Err(
                ClaimsError::NotAJwt(_)
                | ClaimsError::MissingExpiry
                | ClaimsError::ExpiresBeforeIssue { .. }
                | ClaimsError::NotATime { .. }
                | ClaimsError::TooFarAway { .. },
            ) => {}
        }
    }

    #[test]
    fn damaged_tokens_are_refused_with_a_type(
        claims in claims_json(),
        how in any::<u8>(),
        at in any::<usize>(),
    ) {
        let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(b"k"))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Ok is possible (a flip inside the ignored signature); a panic is not.
        let _ = read_claims_at(&damage(&token, how, at), wall(NOW));
    }

    /// The scheduler on its own, for claims that never went through read_claims.
    #[test]
    fn any_claims_schedule_without_panicking(
        exp in seconds(),
        iat in proptest::option::of(seconds()),
        date in proptest::option::of(seconds()),
        wall_now in seconds(),
        policy in policy(),
        slept in prop_oneof![Just(0u64), 0..1_000_000u64, Just(u64::MAX)],
    ) {
        check_timing(
            TokenClaims { exp, iat },
            date.map(wall),
            wall(wall_now),
            &policy,
            Duration::from_secs(slept),
        )?;
    }
}
