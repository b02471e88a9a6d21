//! The sign-in's random values: the PKCE verifier and its S256 challenge (RFC 7636),
//! `state` and `nonce`, all from the OS's CSPRNG, and a comparison that takes the
//! same time wherever two values differ.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::OidcError;
use crate::secret::Secret;

/// Random bytes behind each value: 32 bytes make 43 base64url characters, the
/// shortest verifier RFC 7636 allows, with 256 bits of entropy.
const RANDOM_BYTES: usize = 32;

/// A fresh random value of [`RANDOM_BYTES`] bytes, base64url without padding.
pub(crate) fn random_value() -> Result<Secret, OidcError> {
    let mut bytes = [0u8; RANDOM_BYTES];
    OsRng.try_fill_bytes(&mut bytes).map_err(|error| {
        OidcError::LocalSetup(format!("the OS gave no random numbers: {error}"))
    })?;
    Ok(Secret::new(URL_SAFE_NO_PAD.encode(bytes)))
}

/// A PKCE pair: the verifier stays with Kith until the code exchange; the challenge
/// goes into the authorization URL.
pub(crate) struct Pkce {
    pub(crate) verifier: Secret,
    pub(crate) challenge: String,
}

impl Pkce {
    pub(crate) fn new() -> Result<Self, OidcError> {
        let verifier = random_value()?;
        let challenge = s256_challenge(verifier.expose());
        Ok(Pkce {
            verifier,
            challenge,
        })
    }
}

/// `BASE64URL(SHA256(ASCII(verifier)))`, RFC 7636 §4.2.
pub(crate) fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `a` and `b` are equal, comparing every byte whatever the first difference
/// (the length is not hidden; every value here has a fixed length).
pub(crate) fn same_value(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifiers_are_43_unreserved_characters_and_differ() {
        let a = Pkce::new().unwrap();
        let b = Pkce::new().unwrap();
        for pkce in [&a, &b] {
            let verifier = pkce.verifier.expose();
            assert_eq!(verifier.len(), 43);
            assert!(verifier
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-._~".contains(&c)));
            assert_eq!(pkce.challenge, s256_challenge(verifier));
            assert_eq!(pkce.challenge.len(), 43);
        }
        assert_ne!(a.verifier, b.verifier);
        assert_ne!(random_value().unwrap(), random_value().unwrap());
    }

    #[test]
    fn values_compare_exactly() {
        assert!(same_value("abc", "abc"));
        assert!(!same_value("abc", "abd"));
        assert!(!same_value("abc", "abcd"));
        assert!(!same_value("", "a"));
        assert!(same_value("", ""));
    }
}
