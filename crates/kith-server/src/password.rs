//! Password hashing: Argon2id, stored as PHC strings (`$argon2id$v=19$m=…`), at a cost
//! the configuration chooses.
//!
//! Hashing is deliberately slow, so async callers run it with `spawn_blocking`. The cost
//! is read back from each stored hash when verifying, so a database written with one cost
//! still works with another. Rows written before Argon2 (one salted SHA-256 pass) still
//! verify, and are re-hashed with Argon2 on their next successful login.

use crate::error::ServerError;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use sha2::{Digest, Sha256};

/// How expensive an Argon2id password hash is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCost {
    /// Memory per hash, in KiB (at least 8 × `lanes`).
    pub memory_kib: u32,
    /// Passes over that memory (at least 1).
    pub iterations: u32,
    /// Degree of parallelism (at least 1).
    pub lanes: u32,
}

impl PasswordCost {
    /// OWASP's recommended Argon2id minimum, also the `argon2` crate's default: 19 MiB,
    /// 2 passes, 1 lane. Some tens of milliseconds per hash on a current CPU in a release
    /// build. The binary's default.
    pub const SECURE: Self = Self {
        memory_kib: 19 * 1024,
        iterations: 2,
        lanes: 1,
    };

    /// 256 KiB, 1 pass, 1 lane: well under a millisecond in release, a few in a debug
    /// build. NOT a protection against offline guessing; for tests and benchmarks, whose
    /// users are fixtures and which create and log in up to a thousand sessions.
    pub const FAST: Self = Self {
        memory_kib: 256,
        iterations: 1,
        lanes: 1,
    };
}

/// What checking a password against a stored record found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Right password.
    Match,
    /// Right password on a legacy row; store this Argon2 hash in its place.
    MatchRehash(String),
    /// Wrong password, or no such user.
    Mismatch,
}

/// Hashes and verifies passwords at one cost.
pub(crate) struct Hasher {
    argon: Argon2<'static>,
    /// A hash of nothing in particular, checked for unknown users so that a login for a
    /// missing account takes as long as one with a wrong password.
    dummy: String,
}

impl Hasher {
    pub(crate) fn new(cost: PasswordCost) -> Result<Self, ServerError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.lanes, None)
            .map_err(|e| ServerError::InvalidInput(format!("argon2 parameters: {e}")))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut hasher = Self {
            argon,
            dummy: String::new(),
        };
        hasher.dummy = hasher.hash("kith: no such user")?;
        Ok(hasher)
    }

    /// A new PHC string for `password` with a random salt.
    pub(crate) fn hash(&self, password: &str) -> Result<String, ServerError> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ServerError::Hash(e.to_string()))
    }

    /// Checks `password` against a stored `(salt, hash)` pair, or against the dummy hash
    /// when there is no record. A record that cannot be parsed never matches.
    pub(crate) fn verify(&self, password: &str, stored: Option<(&str, &str)>) -> Verdict {
        let Some((salt, stored)) = stored else {
            let _ = self.verify_phc(password, &self.dummy);
            return Verdict::Mismatch;
        };
        if stored.starts_with('$') {
            return if self.verify_phc(password, stored) {
                Verdict::Match
            } else {
                Verdict::Mismatch
            };
        }
        if !legacy_matches(salt, stored, password) {
            return Verdict::Mismatch;
        }
        match self.hash(password) {
            Ok(new) => Verdict::MatchRehash(new),
            Err(e) => {
                tracing::error!(error = %e, "cannot re-hash a legacy password");
                Verdict::Match
            }
        }
    }

    fn verify_phc(&self, password: &str, phc: &str) -> bool {
        match PasswordHash::new(phc) {
            // Verification uses the parameters recorded in the hash, not ours.
            Ok(parsed) => self
                .argon
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(e) => {
                tracing::error!(error = %e, "a stored password hash does not parse");
                false
            }
        }
    }
}

/// The pre-Argon2 scheme: hex SHA-256 of the salt bytes followed by the password.
fn legacy_matches(salt_hex: &str, expected_hex: &str, password: &str) -> bool {
    let Ok(salt) = hex::decode(salt_hex) else {
        return false;
    };
    let mut h = Sha256::new();
    h.update(&salt);
    h.update(password.as_bytes());
    crate::db::ct_eq(
        hex::encode(h.finalize()).as_bytes(),
        expected_hex.as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() -> Result<(), ServerError> {
        let hasher = Hasher::new(PasswordCost::FAST)?;
        let a = hasher.hash("pw")?;
        let b = hasher.hash("pw")?;
        assert!(a.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{a}");
        assert_ne!(a, b, "salted");
        assert_eq!(hasher.verify("pw", Some(("", &a))), Verdict::Match);
        assert_eq!(hasher.verify("pW", Some(("", &a))), Verdict::Mismatch);
        assert_eq!(hasher.verify("pw", None), Verdict::Mismatch);
        assert_eq!(
            hasher.verify("pw", Some(("", "$garbage"))),
            Verdict::Mismatch
        );
        Ok(())
    }

    #[test]
    fn verification_follows_the_stored_cost() -> Result<(), ServerError> {
        let cheap = Hasher::new(PasswordCost::FAST)?;
        let other = Hasher::new(PasswordCost {
            memory_kib: 512,
            iterations: 2,
            lanes: 2,
        })?;
        let stored = cheap.hash("pw")?;
        assert_eq!(other.verify("pw", Some(("", &stored))), Verdict::Match);
        Ok(())
    }

    #[test]
    fn legacy_rows_verify_and_get_rehashed() -> Result<(), ServerError> {
        let hasher = Hasher::new(PasswordCost::FAST)?;
        let salt = [1u8, 2, 3];
        let mut h = Sha256::new();
        h.update(salt);
        h.update(b"pw");
        let legacy = hex::encode(h.finalize());
        let salt = hex::encode(salt);
        match hasher.verify("pw", Some((&salt, &legacy))) {
            Verdict::MatchRehash(new) => {
                assert_eq!(hasher.verify("pw", Some(("", &new))), Verdict::Match);
            }
            other => panic!("expected a re-hash, got {other:?}"),
        }
        assert_eq!(
            hasher.verify("nope", Some((&salt, &legacy))),
            Verdict::Mismatch
        );
        Ok(())
    }

    #[test]
    fn bad_parameters_are_refused() {
        let cost = PasswordCost {
            memory_kib: 1,
            iterations: 0,
            lanes: 1,
        };
        assert!(matches!(
            Hasher::new(cost),
            Err(ServerError::InvalidInput(_))
        ));
    }
}
