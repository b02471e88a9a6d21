//! HS256 access and refresh tokens with SimpleJWT's claim names.
//!
//! Both kinds are signed with the same secret, so `token_type` is what keeps a refresh
//! token from opening a WebSocket and an access token from being rotated. Expiry is
//! checked to the sub-second against `exp` (a token is valid while `now < exp`), and the
//! server's WebSocket timers use the same rule, so a socket closes exactly when its
//! token stops being accepted.

use crate::clock::now_unix_f64;
use crate::db::UserId;
use crate::error::ServerError;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Which of the two token kinds a JWT is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenType {
    Access,
    Refresh,
}

impl TokenType {
    fn as_str(self) -> &'static str {
        match self {
            TokenType::Access => "access",
            TokenType::Refresh => "refresh",
        }
    }
}

/// The claims of every token this server issues.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub token_type: String,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
    /// The user id as a string (JWT's subject).
    pub sub: String,
    /// The same id as a number, SimpleJWT's default `USER_ID_CLAIM`.
    pub user_id: UserId,
    pub username: String,
}

/// Why a presented token was refused. The messages are safe to send to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TokenError {
    #[error("token is expired")]
    Expired,
    #[error("token has the wrong type")]
    WrongType,
    #[error("token is invalid")]
    Invalid,
}

/// A freshly signed token.
pub(crate) struct Issued {
    pub token: String,
    pub jti: String,
}

/// The signing and verification keys.
pub(crate) struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl Keys {
    pub(crate) fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Signs a token of `kind` for the user, valid for at least `ttl` (`exp` is rounded up
    /// to the next whole second).
    pub(crate) fn issue(
        &self,
        kind: TokenType,
        user_id: UserId,
        username: &str,
        ttl: Duration,
    ) -> Result<Issued, ServerError> {
        let now = now_unix_f64();
        let mut jti = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut jti);
        let jti = hex::encode(jti);
        let claims = Claims {
            token_type: kind.as_str().to_owned(),
            exp: (now + ttl.as_secs_f64()).ceil() as u64,
            iat: now.floor() as u64,
            jti: jti.clone(),
            sub: user_id.to_string(),
            user_id,
            username: username.to_owned(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(Issued { token, jti })
    }

    /// Checks signature, expiry and type. Does not look at the blacklist.
    pub(crate) fn verify(&self, token: &str, kind: TokenType) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        let claims = data.claims;
        if claims.token_type != kind.as_str() {
            return Err(TokenError::WrongType);
        }
        if claims.sub != claims.user_id.to_string() {
            return Err(TokenError::Invalid);
        }
        if now_unix_f64() >= claims.exp as f64 {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_not_interchangeable() -> Result<(), ServerError> {
        let keys = Keys::new(&[7u8; 32]);
        let access = keys.issue(TokenType::Access, 3, "carol", Duration::from_secs(60))?;
        let refresh = keys.issue(TokenType::Refresh, 3, "carol", Duration::from_secs(60))?;
        assert_eq!(
            keys.verify(&access.token, TokenType::Access)
                .map(|c| c.username),
            Ok("carol".to_owned())
        );
        assert_eq!(
            keys.verify(&access.token, TokenType::Refresh).err(),
            Some(TokenError::WrongType)
        );
        assert_eq!(
            keys.verify(&refresh.token, TokenType::Access).err(),
            Some(TokenError::WrongType)
        );
        let claims = keys.verify(&access.token, TokenType::Access);
        assert!(claims.is_ok_and(|c| c.exp >= c.iat + 60));
        Ok(())
    }

    #[test]
    fn rejects_other_keys_and_garbage() -> Result<(), ServerError> {
        let keys = Keys::new(&[7u8; 32]);
        let other = Keys::new(&[8u8; 32]);
        let t = other.issue(TokenType::Access, 1, "a", Duration::from_secs(60))?;
        assert_eq!(
            keys.verify(&t.token, TokenType::Access).err(),
            Some(TokenError::Invalid)
        );
        assert_eq!(
            keys.verify("not.a.jwt", TokenType::Access).err(),
            Some(TokenError::Invalid)
        );
        assert_eq!(
            keys.verify("", TokenType::Access).err(),
            Some(TokenError::Invalid)
        );
        Ok(())
    }

    #[test]
    fn expiry_is_checked_to_the_sub_second() -> Result<(), ServerError> {
        let keys = Keys::new(&[7u8; 32]);
        let now = now_unix_f64();
        // `exp` equal to the current whole second: jsonwebtoken alone would accept it.
        for exp in [now.floor() as u64, now as u64 - 10] {
            let claims = Claims {
                token_type: "access".into(),
                exp,
                iat: exp - 60,
                jti: "j".into(),
                sub: "1".into(),
                user_id: 1,
                username: "a".into(),
            };
            let token =
                jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding)?;
            assert_eq!(
                keys.verify(&token, TokenType::Access).err(),
                Some(TokenError::Expired)
            );
        }
        Ok(())
    }
}
