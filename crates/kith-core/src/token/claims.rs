//! Reading `exp` and `iat` from an access token.
//!
//! The signature is NOT verified here, on purpose: the client has no signing key (the
//! server signs with a secret only it holds), and it only needs the expiry to schedule
//! refreshes. The server verifies every token it receives; a forged token gains
//! nothing but a rejected connection.
//!
//! Since nothing vouches for the claims, they are bounded before anything computes
//! with them: a time that is not a non-negative number of seconds, or that lies more
//! than [`MAX_CLAIM_DISTANCE`] from the local clock, is refused with a typed error
//! instead of reaching the scheduler's clock arithmetic.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// How far from the local clock, either way, an `exp` or `iat` may lie: ten years.
/// No access token lives that long, and no clock is that wrong; anything beyond is a
/// broken or hostile server.
pub const MAX_CLAIM_DISTANCE: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// The claims Kith schedules by. Times are seconds since the Unix epoch, server clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenClaims {
    /// `exp`: when the token expires.
    pub exp: u64,
    /// `iat`: when it was issued, if the token says.
    pub iat: Option<u64>,
}

/// Why a token's claims could not be used.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ClaimsError {
    /// Not a JWT Kith can read, with the decoder's words.
    #[error("token is not a JWT: {0}")]
    NotAJwt(String),
    /// No `exp` claim (or `null`).
    #[error("token has no exp claim")]
    MissingExpiry,
    /// `exp` is before `iat`.
    #[error("token expiry {exp} is before its issue time {iat}")]
    ExpiresBeforeIssue {
        /// The `exp` claim.
        exp: u64,
        /// The `iat` claim.
        iat: u64,
    },
    /// The claim is there but is not a non-negative, finite number of seconds.
    #[error("token claim {claim} is not a time in seconds")]
    NotATime {
        /// `exp` or `iat`.
        claim: &'static str,
    },
    /// The claim lies more than [`MAX_CLAIM_DISTANCE`] from the local clock.
    #[error("token claim {claim} = {secs} is more than ten years away from now")]
    TooFarAway {
        /// `exp` or `iat`.
        claim: &'static str,
        /// Its value.
        secs: u64,
    },
}

#[derive(Deserialize)]
struct RawClaims {
    exp: Option<serde_json::Value>,
    iat: Option<serde_json::Value>,
}

/// Reads `exp` (required) and `iat` (optional) without verifying the signature,
/// bounded against the local clock: see [`read_claims_at`].
pub fn read_claims(token: &str) -> Result<TokenClaims, ClaimsError> {
    read_claims_at(token, SystemTime::now())
}

/// Reads `exp` (required) and `iat` (optional) without verifying the signature. Either
/// must be a non-negative number of seconds (a fraction is cut off) within
/// [`MAX_CLAIM_DISTANCE`] of `now`; `null` counts as absent.
pub fn read_claims_at(token: &str, now: SystemTime) -> Result<TokenClaims, ClaimsError> {
    let mut validation = Validation::new(Algorithm::HS256);
    // No key on the client: see the module comment.
    validation.insecure_disable_signature_validation();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    // Accept whatever algorithm the header names; it is not checked anyway.
    validation.algorithms = vec![
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::EdDSA,
    ];
    let data = decode::<RawClaims>(token, &DecodingKey::from_secret(&[]), &validation)
        .map_err(|error| ClaimsError::NotAJwt(error.to_string()))?;
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let exp =
        seconds("exp", data.claims.exp.as_ref(), now_secs)?.ok_or(ClaimsError::MissingExpiry)?;
    let iat = seconds("iat", data.claims.iat.as_ref(), now_secs)?;
    if let Some(iat) = iat {
        if exp < iat {
            return Err(ClaimsError::ExpiresBeforeIssue { exp, iat });
        }
    }
    Ok(TokenClaims { exp, iat })
}

/// A claim's whole seconds: `None` when absent or `null`, an error when it is not a
/// usable time.
fn seconds(
    claim: &'static str,
    value: Option<&serde_json::Value>,
    now_secs: u64,
) -> Result<Option<u64>, ClaimsError> {
    let secs = match value {
        None | Some(serde_json::Value::Null) => return Ok(None),
        Some(value) => match (value.as_u64(), value.as_f64()) {
            (Some(secs), _) => secs,
            // `as` saturates, so a huge float becomes u64::MAX and is refused below.
            (None, Some(secs)) if secs.is_finite() && secs >= 0.0 => secs as u64,
            _ => return Err(ClaimsError::NotATime { claim }),
        },
    };
    if secs.abs_diff(now_secs) > MAX_CLAIM_DISTANCE.as_secs() {
        return Err(ClaimsError::TooFarAway { claim, secs });
    }
    Ok(Some(secs))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    pub(crate) fn make_token(claims: serde_json::Value) -> String {
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(b"server-only"),
        )
        .unwrap()
    }

    #[test]
    fn reads_exp_and_iat_without_the_key() {
        let token = make_token(serde_json::json!({"exp": 2000, "iat": 1000, "sub": "1"}));
        assert_eq!(
            read_claims_at(&token, at(1500)).unwrap(),
            TokenClaims {
                exp: 2000,
                iat: Some(1000)
            }
        );
    }

    #[test]
    fn missing_exp_is_a_typed_error() {
        let token = make_token(serde_json::json!({"iat": 1000}));
        assert_eq!(read_claims(&token), Err(ClaimsError::MissingExpiry));
        let token = make_token(serde_json::json!({"exp": null, "iat": 1000}));
        assert_eq!(
            read_claims_at(&token, at(1000)),
            Err(ClaimsError::MissingExpiry)
        );
    }

    #[test]
    fn garbage_is_a_typed_error() {
        assert!(matches!(
            read_claims("not-a-jwt"),
            Err(ClaimsError::NotAJwt(_))
        ));
        assert!(matches!(read_claims(""), Err(ClaimsError::NotAJwt(_))));
        assert!(matches!(read_claims("a.b.c"), Err(ClaimsError::NotAJwt(_))));
    }

    #[test]
    fn exp_before_iat_is_refused() {
        let token = make_token(serde_json::json!({"exp": 10, "iat": 20}));
        assert!(matches!(
            read_claims_at(&token, at(15)),
            Err(ClaimsError::ExpiresBeforeIssue { .. })
        ));
    }

    #[test]
    fn times_far_from_now_are_refused() {
        let now = 1_800_000_000;
        let ten_years = MAX_CLAIM_DISTANCE.as_secs();
        for (claims, claim) in [
            (serde_json::json!({ "exp": u64::MAX }), "exp"),
            (serde_json::json!({ "exp": now + ten_years + 1 }), "exp"),
            (serde_json::json!({ "exp": now - ten_years - 1 }), "exp"),
            (serde_json::json!({ "exp": 1e300 }), "exp"),
            (serde_json::json!({ "exp": f64::MAX }), "exp"),
            (serde_json::json!({ "exp": now, "iat": u64::MAX }), "iat"),
            (serde_json::json!({ "exp": now, "iat": 0 }), "iat"),
        ] {
            let token = make_token(claims.clone());
            assert!(
                matches!(
                    read_claims_at(&token, at(now)),
                    Err(ClaimsError::TooFarAway { claim: c, .. }) if c == claim
                ),
                "{claims}"
            );
        }
        let token = make_token(serde_json::json!({ "exp": now + ten_years, "iat": now }));
        assert_eq!(
            read_claims_at(&token, at(now)).unwrap().exp,
            now + ten_years
        );
    }

    #[test]
    fn times_that_are_not_seconds_are_refused() {
        let now = 1_800_000_000u64;
        for (claims, claim) in [
            (serde_json::json!({ "exp": -1 }), "exp"),
            (serde_json::json!({ "exp": -1.5 }), "exp"),
            (serde_json::json!({ "exp": "1800000000" }), "exp"),
            (serde_json::json!({ "exp": now, "iat": -7 }), "iat"),
            (serde_json::json!({ "exp": now, "iat": "soon" }), "iat"),
        ] {
            let token = make_token(claims.clone());
            assert_eq!(
                read_claims_at(&token, at(now)),
                Err(ClaimsError::NotATime { claim }),
                "{claims}"
            );
        }
        // jsonwebtoken itself refuses some shapes before Kith sees them.
        for claims in [
            serde_json::json!({ "exp": [1] }),
            serde_json::json!({ "exp": true }),
            serde_json::json!({ "exp": now, "iat": {} }),
        ] {
            let token = make_token(claims.clone());
            assert!(
                matches!(
                    read_claims_at(&token, at(now)),
                    Err(ClaimsError::NotATime { .. } | ClaimsError::NotAJwt(_))
                ),
                "{claims}"
            );
        }
        // A fraction is cut off, not refused.
        let token =
            make_token(serde_json::json!({ "exp": 1_800_000_060.9, "iat": 1_800_000_000.2 }));
        assert_eq!(
            read_claims_at(&token, at(now)),
            Ok(TokenClaims {
                exp: 1_800_000_060,
                iat: Some(1_800_000_000)
            })
        );
    }
}
