//! Checking an ID token (OpenID Connect Core §3.1.3.7): `iss` is the provider's
//! issuer, `aud` contains Kith's client id (and `azp`, when present, is it), `exp` has
//! not passed, `sub` is there, and at sign-in the `nonce` is this sign-in's.
//!
//! The signature is verified against the provider's JWKS at sign-in, when the
//! provider names a `jwks_uri` and signs with an algorithm jsonwebtoken knows (RS*,
//! PS*, ES256, ES384, EdDSA). `none` and HMAC are refused: a public client has no
//! secret to check them with. The ID token of a refresh is not re-verified: it comes
//! straight from the discovered token endpoint over TLS, which §3.1.3.7 (6) accepts
//! in place of a signature, and a JWKS fetch that fails after the provider rotated
//! the refresh token would lose the new refresh token.
//!
//! Error messages name the claim, never a token or the nonce.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::pkce::same_value;
use super::OidcError;
use crate::secret::Secret;

/// How far past `exp` an ID token is still taken, for clock differences.
const EXPIRY_LEEWAY: Duration = Duration::from_secs(120);

/// Who signed in, from the ID token. Not secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcUser {
    /// `sub`: the provider's stable id of the user.
    pub subject: String,
    /// `preferred_username`, when the provider sends it (scope `profile`).
    pub preferred_username: Option<String>,
    /// `name`, when the provider sends it.
    pub name: Option<String>,
    /// `email`, when the provider sends it (scope `email`).
    pub email: Option<String>,
}

impl OidcUser {
    /// The name to show and to file credentials under: `preferred_username`, else
    /// `email`, else `sub`.
    pub fn username(&self) -> &str {
        self.preferred_username
            .as_deref()
            .or(self.email.as_deref())
            .unwrap_or(&self.subject)
    }
}

/// An ID token's header fields that choose the key.
pub(crate) struct Header {
    pub(crate) alg: String,
    pub(crate) kid: Option<String>,
}

/// The header and claims of a compact JWS, not verified.
pub(crate) fn decode(token: &str) -> Result<(Header, Map<String, Value>), OidcError> {
    let bad = |what: &str| OidcError::IdToken(what.to_string());
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("it is not a signed JWT (three dot-separated parts)"));
    };
    let json = |part: &str| -> Option<Map<String, Value>> {
        let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
        match serde_json::from_slice(&bytes).ok()? {
            Value::Object(map) => Some(map),
            _ => None,
        }
    };
    let header = json(header).ok_or_else(|| bad("its header is not base64url JSON"))?;
    let claims = json(payload).ok_or_else(|| bad("its payload is not base64url JSON"))?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("its header names no alg"))?
        .to_string();
    let kid = header.get("kid").and_then(Value::as_str).map(String::from);
    Ok((Header { alg, kid }, claims))
}

/// What the claims must say.
pub(crate) struct Expected<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    /// This sign-in's nonce; `None` for a refresh (the original nonce is not kept).
    pub(crate) nonce: Option<&'a Secret>,
    /// The provider's clock when it answered (its `Date`), else the local clock.
    pub(crate) now: SystemTime,
}

/// Checks the claims and returns who signed in.
pub(crate) fn check_claims(
    claims: &Map<String, Value>,
    expected: &Expected<'_>,
) -> Result<OidcUser, OidcError> {
    let bad = |what: String| Err(OidcError::IdToken(what));
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    match text("iss") {
        Some(iss) if iss == expected.issuer => {}
        Some(iss) => {
            return bad(format!(
                "it was issued by {:?}, not {:?}",
                crate::text::plain_text(iss, 100),
                expected.issuer
            ))
        }
        None => return bad("it has no iss".into()),
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == expected.client_id,
        Some(Value::Array(auds)) => auds
            .iter()
            .any(|aud| aud.as_str() == Some(expected.client_id)),
        _ => false,
    };
    if !audience_ok {
        return bad(format!("its audience is not {:?}", expected.client_id));
    }
    if let Some(azp) = claims.get("azp") {
        if azp.as_str() != Some(expected.client_id) {
            return bad(format!("its azp is not {:?}", expected.client_id));
        }
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_f64)
        .filter(|exp| exp.is_finite() && *exp >= 0.0)
        .ok_or_else(|| OidcError::IdToken("it has no exp".into()))?;
    let now = expected
        .now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    if exp + EXPIRY_LEEWAY.as_secs_f64() < now {
        return bad("it has expired".into());
    }
    if let Some(nonce) = expected.nonce {
        match text("nonce") {
            Some(got) if same_value(got, nonce.expose()) => {}
            Some(_) => return bad("its nonce is not this sign-in's".into()),
            None => return bad("it carries no nonce".into()),
        }
    }
    let subject = match text("sub") {
        Some(sub) if !sub.is_empty() => sub.to_string(),
        _ => return bad("it has no sub".into()),
    };
    let optional = |name: &str| text(name).map(|v| crate::text::plain_text(v, 200));
    Ok(OidcUser {
        subject,
        preferred_username: optional("preferred_username"),
        name: optional("name"),
        email: optional("email"),
    })
}

/// Whether a signature with `alg` can be checked here: `Ok(Some(alg))`; `Ok(None)` for
/// an asymmetric algorithm jsonwebtoken does not know (ES512), left to TLS; an error
/// for `none` and HMAC.
pub(crate) fn verifiable_algorithm(alg: &str) -> Result<Option<Algorithm>, OidcError> {
    if alg == "none" || alg.starts_with("HS") {
        return Err(OidcError::IdToken(format!(
            "it is signed with {:?}, which a public client cannot check",
            crate::text::plain_text(alg, 20)
        )));
    }
    Ok(alg.parse::<Algorithm>().ok())
}

/// The keys of a JWKS document that jsonwebtoken can use; others are skipped.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<Vec<Jwk>, OidcError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| OidcError::Discovery("the JWKS is not JSON".into()))?;
    let keys = value
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| OidcError::Discovery("the JWKS has no keys array".into()))?;
    Ok(keys
        .iter()
        .filter_map(|key| serde_json::from_value::<Jwk>(key.clone()).ok())
        .collect())
}

/// Verifies `token`'s signature with one of `keys`: the one named by `kid`, or when
/// the token names none, each signing key in turn. `Ok(false)` when no key matches
/// (the caller may refetch the JWKS once: the provider may have rotated its keys).
pub(crate) fn verify_signature(
    token: &str,
    header: &Header,
    alg: Algorithm,
    keys: &[Jwk],
) -> Result<bool, OidcError> {
    let candidates: Vec<&Jwk> = keys
        .iter()
        .filter(|key| match (&header.kid, &key.common.key_id) {
            (Some(kid), Some(key_id)) => kid == key_id,
            (Some(_), None) => false,
            (None, _) => true,
        })
        .filter(|key| {
            !matches!(
                key.common.public_key_use,
                Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
            )
        })
        .collect();
    if candidates.is_empty() {
        return Ok(false);
    }
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    for key in candidates {
        let Ok(decoding) = DecodingKey::from_jwk(key) else {
            continue;
        };
        if jsonwebtoken::decode::<Value>(token, &decoding, &validation).is_ok() {
            return Ok(true);
        }
    }
    Err(OidcError::IdToken(
        "its signature does not verify with the provider's keys".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(claims: Value) -> String {
        let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.c2ln",
            part(serde_json::json!({"alg": "RS256", "kid": "k1"})),
            part(claims)
        )
    }

    fn check(claims: Value, nonce: Option<&str>) -> Result<OidcUser, OidcError> {
        let (header, claims) = decode(&token(claims)).unwrap();
        assert_eq!(header.alg, "RS256");
        assert_eq!(header.kid.as_deref(), Some("k1"));
        let nonce = nonce.map(Secret::new);
        check_claims(
            &claims,
            &Expected {
                issuer: "http://127.0.0.1:4000",
                client_id: "kith-desktop",
                nonce: nonce.as_ref(),
                now: UNIX_EPOCH + Duration::from_secs(1_000_000),
            },
        )
    }

    fn good() -> Value {
        serde_json::json!({
            "iss": "http://127.0.0.1:4000", "aud": "kith-desktop", "sub": "1",
            "exp": 1_000_600, "iat": 1_000_000, "nonce": "n-1", "preferred_username": "me"
        })
    }

    #[test]
    fn good_claims_give_the_user() {
        let user = check(good(), Some("n-1")).unwrap();
        assert_eq!(user.subject, "1");
        assert_eq!(user.username(), "me");
        // A refresh's ID token: no nonce to compare.
        assert!(check(good(), None).is_ok());
        let mut listed = good();
        listed["aud"] = serde_json::json!(["other", "kith-desktop"]);
        assert!(check(listed, Some("n-1")).is_ok());
    }

    #[test]
    fn each_claim_is_checked() {
        for (claim, value, words) in [
            ("nonce", serde_json::json!("n-2"), "nonce"),
            (
                "iss",
                serde_json::json!("http://127.0.0.1:4001"),
                "issued by",
            ),
            ("aud", serde_json::json!("someone-else"), "audience"),
            ("azp", serde_json::json!("someone-else"), "azp"),
            ("exp", serde_json::json!(999_000), "expired"),
            ("sub", serde_json::json!(""), "sub"),
        ] {
            let mut claims = good();
            claims[claim] = value;
            let error = check(claims, Some("n-1")).unwrap_err().to_string();
            assert!(error.contains(words), "{claim}: {error}");
            assert!(!error.contains("n-1"), "the nonce leaks: {error}");
        }
        let mut no_nonce = good();
        no_nonce.as_object_mut().unwrap().remove("nonce");
        assert!(check(no_nonce, Some("n-1")).is_err());
    }

    #[test]
    fn malformed_tokens_and_weak_algorithms_are_refused() {
        for bad in ["", "a.b", "a.b.c.d", "!!.e30.c2ln", "e30.e30"] {
            assert!(decode(bad).is_err(), "{bad}");
        }
        assert!(verifiable_algorithm("none").is_err());
        assert!(verifiable_algorithm("HS256").is_err());
        assert_eq!(
            verifiable_algorithm("RS256").unwrap(),
            Some(Algorithm::RS256)
        );
        assert_eq!(verifiable_algorithm("ES512").unwrap(), None);
    }

    /// An ES256 key (rcgen, PKCS#8) and its public JWK, named `kid`.
    fn es256_key(kid: &str) -> (jsonwebtoken::EncodingKey, Jwk) {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let point = pair.public_key_raw();
        assert_eq!(
            (point.len(), point[0]),
            (65, 4),
            "an uncompressed P-256 point"
        );
        let jwk: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        }))
        .unwrap();
        let key = jsonwebtoken::EncodingKey::from_ec_der(&pair.serialize_der());
        (key, jwk)
    }

    #[test]
    fn signatures_are_verified_against_the_named_key() {
        let (key, jwk) = es256_key("k1");
        let (_, other) = es256_key("k2");
        let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
        header.kid = Some("k1".into());
        let signed = jsonwebtoken::encode(&header, &good(), &key).unwrap();
        let (parsed, _) = decode(&signed).unwrap();
        let alg = verifiable_algorithm(&parsed.alg).unwrap().unwrap();
        assert!(verify_signature(&signed, &parsed, alg, &[other.clone(), jwk.clone()]).unwrap());
        // Only k2 in the set: no key matches (the caller refetches the JWKS once).
        assert!(!verify_signature(&signed, &parsed, alg, std::slice::from_ref(&other)).unwrap());
        // k2's key under k1's name: the signature does not verify.
        let mut impostor = other.clone();
        impostor.common.key_id = Some("k1".into());
        assert!(verify_signature(&signed, &parsed, alg, &[impostor]).is_err());
        // Claims changed after signing.
        let mut parts: Vec<&str> = signed.split('.').collect();
        let mut claims = good();
        claims["sub"] = serde_json::json!("2");
        let forged_payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        parts[1] = &forged_payload;
        let forged = parts.join(".");
        assert!(verify_signature(&forged, &parsed, alg, &[jwk]).is_err());
    }

    #[test]
    fn jwks_keys_that_cannot_be_used_are_skipped() {
        let keys = parse_jwks(
            br#"{"keys":[{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","n":"sXch","e":"AQAB"},
                         {"kty":"unknown","kid":"x"}]}"#,
        )
        .unwrap();
        assert_eq!(keys.len(), 1);
        assert!(parse_jwks(b"<html>").is_err());
    }
}
