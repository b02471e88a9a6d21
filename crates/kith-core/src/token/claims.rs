//! Reading `exp` and `iat` from an access token.
//!
//! The signature is NOT verified here, on purpose: the client has no signing key (the
//! server signs with a secret only it holds), and it only needs the expiry to schedule
//! refreshes. The server verifies every token it receives; a forged token gains
//! nothing but a rejected connection.

use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// The claims Kith schedules by. Times are seconds since the Unix epoch, server clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenClaims {
    pub exp: u64,
    pub iat: Option<u64>,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ClaimsError {
    #[error("token is not a JWT: {0}")]
    NotAJwt(String),
    #[error("token has no exp claim")]
    MissingExpiry,
    #[error("token expiry {exp} is before its issue time {iat}")]
    ExpiresBeforeIssue { exp: u64, iat: u64 },
}

#[derive(Deserialize)]
struct RawClaims {
    exp: Option<serde_json::Value>,
    iat: Option<serde_json::Value>,
}

/// Reads `exp` (required) and `iat` (optional) without verifying the signature.
pub fn read_claims(token: &str) -> Result<TokenClaims, ClaimsError> {
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
    let exp = data
        .claims
        .exp
        .as_ref()
        .and_then(as_seconds)
        .ok_or(ClaimsError::MissingExpiry)?;
    let iat = data.claims.iat.as_ref().and_then(as_seconds);
    if let Some(iat) = iat {
        if exp < iat {
            return Err(ClaimsError::ExpiresBeforeIssue { exp, iat });
        }
    }
    Ok(TokenClaims { exp, iat })
}

fn as_seconds(value: &serde_json::Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_f64().filter(|v| *v >= 0.0).map(|v| v as u64))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};

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
            read_claims(&token).unwrap(),
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
            read_claims(&token),
            Err(ClaimsError::ExpiresBeforeIssue { .. })
        ));
    }
}
