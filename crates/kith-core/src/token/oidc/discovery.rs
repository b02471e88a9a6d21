//! The provider's discovery document (OpenID Connect Discovery 1.0 §3), read once
//! per client and checked before anything is sent to the endpoints it names: the
//! issuer must be the configured one (§4.3: otherwise a document could send Kith's
//! codes and tokens elsewhere), every endpoint must be https (or http on loopback),
//! and PKCE S256 must not be ruled out.

use serde_json::{Map, Value};
use url::Url;

use super::settings::check_endpoint_scheme;
use super::OidcError;

/// What Kith uses of a provider's discovery document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderMetadata {
    /// The provider's issuer identifier, exactly as the document spells it: ID tokens
    /// and RFC 9207 redirects must carry this.
    pub issuer: String,
    /// Where the browser is sent.
    pub authorization_endpoint: Url,
    /// Where codes and refresh tokens are exchanged.
    pub token_endpoint: Url,
    /// The provider's signing keys, to verify ID tokens with.
    pub jwks_uri: Option<Url>,
    /// Where refresh tokens are revoked (RFC 7009), when the provider offers it.
    pub revocation_endpoint: Option<Url>,
    /// Whether the provider adds `iss` to its redirects (RFC 9207); then a redirect
    /// without it is refused.
    pub authorization_response_iss_parameter_supported: bool,
}

impl ProviderMetadata {
    /// Reads and checks a discovery document fetched for `configured_issuer`. The
    /// issuers must be equal; a single trailing `/` on either side is tolerated, and
    /// the document's spelling is kept.
    pub fn from_document(configured_issuer: &str, body: &[u8]) -> Result<Self, OidcError> {
        let bad = |what: &str| OidcError::Discovery(what.to_string());
        let value: Value =
            serde_json::from_slice(body).map_err(|_| bad("it is not a JSON document"))?;
        let document = value
            .as_object()
            .ok_or_else(|| bad("it is not a JSON object"))?;
        let issuer = document
            .get("issuer")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("it names no issuer"))?;
        if issuer.trim_end_matches('/') != configured_issuer.trim_end_matches('/') {
            return Err(OidcError::IssuerMismatch {
                configured: configured_issuer.to_string(),
                discovered: crate::text::plain_text(issuer, 200),
            });
        }
        if let Some(methods) = document
            .get("code_challenge_methods_supported")
            .and_then(Value::as_array)
        {
            if !methods.iter().any(|m| m.as_str() == Some("S256")) {
                return Err(bad("the provider does not support PKCE with S256"));
            }
        }
        if let Some(types) = document
            .get("response_types_supported")
            .and_then(Value::as_array)
        {
            if !types.iter().any(|t| t.as_str() == Some("code")) {
                return Err(bad(
                    "the provider does not offer the authorization code flow",
                ));
            }
        }
        Ok(ProviderMetadata {
            issuer: issuer.to_string(),
            authorization_endpoint: endpoint(document, "authorization_endpoint")?
                .ok_or_else(|| bad("it names no authorization_endpoint"))?,
            token_endpoint: endpoint(document, "token_endpoint")?
                .ok_or_else(|| bad("it names no token_endpoint"))?,
            jwks_uri: endpoint(document, "jwks_uri")?,
            revocation_endpoint: endpoint(document, "revocation_endpoint")?,
            authorization_response_iss_parameter_supported: document
                .get("authorization_response_iss_parameter_supported")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }
}

fn endpoint(document: &Map<String, Value>, name: &str) -> Result<Option<Url>, OidcError> {
    let Some(value) = document.get(name).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let bad = |what: String| OidcError::Discovery(format!("{name}: {what}"));
    let text = value.as_str().ok_or_else(|| bad("not a string".into()))?;
    let url = Url::parse(text).map_err(|_| bad("not a URL".into()))?;
    check_endpoint_scheme(&url).map_err(bad)?;
    if url.fragment().is_some() {
        return Err(bad("it has a fragment".into()));
    }
    Ok(Some(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(issuer: &str, extra: &str) -> Vec<u8> {
        format!(
            r#"{{"issuer":"{issuer}","authorization_endpoint":"{issuer}/auth",
                "token_endpoint":"{issuer}/token","jwks_uri":"{issuer}/jwks"{extra}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn a_good_document_is_read() {
        let metadata = ProviderMetadata::from_document(
            "http://127.0.0.1:4000",
            &document(
                "http://127.0.0.1:4000",
                r#","revocation_endpoint":"http://127.0.0.1:4000/token/revocation",
                   "code_challenge_methods_supported":["S256"],
                   "authorization_response_iss_parameter_supported":true"#,
            ),
        )
        .unwrap();
        assert_eq!(
            metadata.token_endpoint.as_str(),
            "http://127.0.0.1:4000/token"
        );
        assert!(metadata.revocation_endpoint.is_some());
        assert!(metadata.authorization_response_iss_parameter_supported);
    }

    #[test]
    fn another_issuer_is_refused() {
        let error = ProviderMetadata::from_document(
            "https://id.example.com",
            &document("https://evil.example.net", ""),
        )
        .unwrap_err();
        assert!(matches!(error, OidcError::IssuerMismatch { .. }), "{error}");
        // A trailing slash is the same issuer; the document's spelling is kept.
        let metadata = ProviderMetadata::from_document(
            "https://id.example.com/",
            &document("https://id.example.com", ""),
        )
        .unwrap();
        assert_eq!(metadata.issuer, "https://id.example.com");
    }

    #[test]
    fn unusable_documents_say_why() {
        let issuer = "https://id.example.com";
        for (body, words) in [
            (b"<html>portal</html>".to_vec(), "not a JSON"),
            (br#"{"issuer":"https://id.example.com"}"#.to_vec(), "authorization_endpoint"),
            (
                document(issuer, r#","code_challenge_methods_supported":["plain"]"#),
                "S256",
            ),
            (
                br#"{"issuer":"https://id.example.com","authorization_endpoint":"http://id.example.com/auth","token_endpoint":"https://id.example.com/token"}"#.to_vec(),
                "plain http",
            ),
        ] {
            let error = ProviderMetadata::from_document(issuer, &body).unwrap_err();
            assert!(error.to_string().contains(words), "{error}");
        }
    }
}
