//! Signing in with the system browser: OpenID Connect's authorization code flow with
//! PKCE S256 and a loopback redirect, as RFC 8252 describes for native apps; then
//! refresh and RFC 7009 revocation.
//!
//! ```text
//! OidcClient::discover(settings, http)        GET <issuer>/.well-known/openid-configuration
//!   .begin_browser_sign_in()                  listen on 127.0.0.1:<ephemeral>; PKCE, state, nonce
//!      -> PendingSignIn::authorization_url()  open it in the system browser
//!   PendingSignIn::finish(cancel)             wait for /callback?code&state&iss, check them,
//!      -> OidcGrant                           POST the code + verifier, check the ID token
//!   OidcClient::refresh(refresh_token)        -> OidcGrant (rotated refresh token)
//!   OidcClient::revoke(refresh_token)         RFC 7009, when the provider offers it
//! ```
//!
//! **Hand-written, not `openidconnect` or `oauth2`.** Both fit reqwest 0.12 (with
//! their default features off, so no second TLS stack), but:
//! - `openidconnect` 4 brings its own JOSE stack: `rsa` 0.9 (RUSTSEC-2023-0071, no
//!   fixed release), `p256`/`p384` 0.14, `ed25519-dalek` 3, `hmac`, `chrono`,
//!   `serde_with` and `getrandom` 0.4, for ID token checks that jsonwebtoken, already
//!   in the build, does;
//! - `oauth2` 5 (which `openidconnect` is built on) turns every non-200 answer into
//!   `ServerResponse` or `Parse` with the status dropped, so a proxy's 502 and the
//!   provider's `400 invalid_grant` come out alike; it keeps whole response bodies
//!   (tokens, on a garbled 200) inside its errors, reads bodies without a bound, and
//!   its own token types would have to be converted to [`Secret`] anyway. Kith's rule
//!   that only a confirmed rejection ends a session ([`crate::token::api`]) needs the
//!   status, so every request would go through a hand-written HTTP function anyway,
//!   leaving the crate only URL building and JSON parsing.
//!
//! What remains is small: building one URL, three form POSTs and two GETs on the
//! project's own `reqwest::Client` (its single rustls configuration, OS trust plus
//! `tls.ca_file`, and its proxy rules), and the checks, each in its own file:
//! [`settings`](OidcSettings), discovery ([`ProviderMetadata`]), `pkce`, `pending`
//! ([`PendingSignIn`]), `callback` (the loopback listener), `id_token` and `http`
//! (requests and the classification of their answers, see [`OidcError`]).
//!
//! Codes, verifiers, states, nonces and tokens are [`Secret`]s: they never appear in
//! `Debug`, `Display`, logs or errors, and the callback's `code` and `state` are
//! redacted from the request lines that are logged.
//!
//! The `reqwest::Client` given to [`OidcClient::discover`] should not follow redirects
//! (the auth API's does not): a redirect is then an unexpected status, never a token
//! request resent somewhere else. Each request also has `request_timeout` as its
//! deadline.

mod callback;
mod discovery;
mod error;
mod http;
mod id_token;
mod pending;
mod pkce;
mod settings;

use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jsonwebtoken::jwk::Jwk;
use tokio::net::TcpListener;
use url::Url;

pub use discovery::ProviderMetadata;
pub use error::OidcError;
pub use id_token::OidcUser;
pub use pending::PendingSignIn;
pub use settings::{OidcSettings, SocketToken, DEFAULT_BROWSER_TIMEOUT, DEFAULT_REQUEST_TIMEOUT};

use crate::secret::Secret;
use crate::token::{AuthError, TokenGrant};

/// Tokens from a browser sign-in or a refresh.
#[derive(Debug, Clone)]
pub struct OidcGrant {
    /// The access token.
    pub access: Secret,
    /// The refresh token: a new one when the provider rotates, `None` when it kept
    /// the old one (after a refresh) or issued none.
    pub refresh: Option<Secret>,
    /// The ID token, when the provider sent one (always at sign-in).
    pub id_token: Option<Secret>,
    /// The token for the presence socket, as `socket_token` chooses: a copy of
    /// `access` or of `id_token`.
    pub socket_token: Secret,
    /// The access token's lifetime, as the provider announced it.
    pub expires_in: Option<Duration>,
    /// The provider's `Date`, for clock skew.
    pub server_date: Option<SystemTime>,
    /// The scopes granted, when the provider said.
    pub scope: Option<String>,
    /// Who signed in, from the ID token.
    pub user: Option<OidcUser>,
}

impl OidcGrant {
    /// The grant as the token manager takes it: the socket token as the access token.
    pub fn into_token_grant(self) -> TokenGrant {
        TokenGrant {
            access: self.socket_token,
            refresh: self.refresh,
            server_date: self.server_date,
        }
    }
}

/// A client of one OpenID provider, discovered. Cheap to clone.
#[derive(Clone)]
pub struct OidcClient {
    inner: Arc<Inner>,
}

struct Inner {
    settings: OidcSettings,
    http: reqwest::Client,
    provider: ProviderMetadata,
    /// The provider's signing keys, fetched when first needed.
    jwks: tokio::sync::Mutex<Option<Arc<Vec<Jwk>>>>,
}

impl fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcClient")
            .field("issuer", &self.inner.provider.issuer)
            .field("client_id", &self.inner.settings.client_id)
            .finish_non_exhaustive()
    }
}

impl OidcClient {
    /// Validates `settings` and reads the provider's discovery document with `http`
    /// (the client built from the profile's network: see
    /// [`Network::http_client_builder`](crate::Network::http_client_builder)).
    pub async fn discover(
        settings: OidcSettings,
        http: reqwest::Client,
    ) -> Result<Self, OidcError> {
        settings.validate()?;
        let request = http
            .get(settings.discovery_url())
            .timeout(settings.request_timeout);
        let answer = http::send(request, false).await?;
        let provider = ProviderMetadata::from_document(&settings.issuer, &answer.body)?;
        tracing::debug!(issuer = %provider.issuer, "discovered the OpenID provider");
        Ok(Self::with_provider(settings, http, provider))
    }

    /// A client for an already discovered provider.
    pub(crate) fn with_provider(
        settings: OidcSettings,
        http: reqwest::Client,
        provider: ProviderMetadata,
    ) -> Self {
        OidcClient {
            inner: Arc::new(Inner {
                settings,
                http,
                provider,
                jwks: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// The settings it was made with.
    pub fn settings(&self) -> &OidcSettings {
        &self.inner.settings
    }

    /// What discovery found.
    pub fn provider(&self) -> &ProviderMetadata {
        &self.inner.provider
    }

    /// Whether the provider offers revocation ([`revoke`](Self::revoke)).
    pub fn can_revoke(&self) -> bool {
        self.inner.provider.revocation_endpoint.is_some()
    }

    /// Starts a sign-in: listens on `127.0.0.1:<ephemeral>` and builds the
    /// authorization URL to open in the system browser. The listener serves this
    /// sign-in only and closes with the [`PendingSignIn`].
    pub async fn begin_browser_sign_in(&self) -> Result<PendingSignIn, OidcError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|error| {
                OidcError::LocalSetup(format!("cannot listen on 127.0.0.1: {error}"))
            })?;
        let port = listener
            .local_addr()
            .map_err(|error| OidcError::LocalSetup(format!("no local address: {error}")))?
            .port();
        let redirect_uri = format!("http://127.0.0.1:{port}{}", callback::CALLBACK_PATH);
        let pkce = pkce::Pkce::new()?;
        let state = pkce::random_value()?;
        let nonce = pkce::random_value()?;
        let authorization_url =
            self.authorization_url(&redirect_uri, &pkce.challenge, &state, &nonce);
        tracing::info!(%redirect_uri, "browser sign-in started");
        Ok(PendingSignIn {
            client: self.clone(),
            listener,
            redirect_uri,
            authorization_url,
            state,
            nonce,
            verifier: pkce.verifier,
        })
    }

    /// The authorization request (RFC 6749 §4.1.1 with RFC 7636, OpenID Connect Core
    /// §3.1.2.1), added to the endpoint's own query.
    fn authorization_url(
        &self,
        redirect_uri: &str,
        challenge: &str,
        state: &Secret,
        nonce: &Secret,
    ) -> Url {
        let settings = &self.inner.settings;
        let mut url = self.inner.provider.authorization_endpoint.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &settings.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("scope", &settings.scopes.join(" "))
                .append_pair("state", state.expose())
                .append_pair("nonce", nonce.expose())
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
            if settings.wants_offline_access() {
                query.append_pair("prompt", "consent");
            }
            if let Some(audience) = &settings.audience {
                query.append_pair("audience", audience);
            }
            if let Some(resource) = &settings.resource {
                query.append_pair("resource", resource);
            }
        }
        url
    }

    /// Exchanges a refresh token. With rotation, the grant's `refresh` is the new
    /// refresh token and the old one is dead: keep the new one before using the
    /// access token. `invalid_grant` ([`OidcError::is_confirmed_rejection`]) means the
    /// session is over; a lost answer is [`AuthError::OutcomeUnknown`].
    pub async fn refresh(&self, refresh_token: &Secret) -> Result<OidcGrant, OidcError> {
        let settings = &self.inner.settings;
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
            ("client_id", settings.client_id.as_str()),
        ];
        if let Some(resource) = &settings.resource {
            form.push(("resource", resource));
        }
        let answer = self
            .post_form(&self.inner.provider.token_endpoint, &form, true)
            .await?;
        // The provider has granted, and has perhaps rotated the refresh token: an
        // answer that cannot be used is a lost answer.
        self.grant_from(&answer, None).map_err(|error| {
            AuthError::OutcomeUnknown {
                reason: format!("the refresh answer cannot be used: {error}"),
            }
            .into()
        })
    }

    /// Revokes a refresh token (RFC 7009), and with it, at most providers, the whole
    /// sign-in. [`OidcError::RevocationUnsupported`] when the provider lists no
    /// `revocation_endpoint`.
    pub async fn revoke(&self, refresh_token: &Secret) -> Result<(), OidcError> {
        let endpoint = self
            .inner
            .provider
            .revocation_endpoint
            .as_ref()
            .ok_or(OidcError::RevocationUnsupported)?;
        let form = [
            ("token", refresh_token.expose()),
            ("token_type_hint", "refresh_token"),
            ("client_id", self.inner.settings.client_id.as_str()),
        ];
        self.post_form(endpoint, &form, false).await.map(|_| ())
    }

    /// The code exchange (RFC 6749 §4.1.3 with the PKCE verifier), then the ID token's
    /// checks.
    async fn exchange_code(
        &self,
        code: &Secret,
        redirect_uri: &str,
        verifier: &Secret,
        nonce: &Secret,
    ) -> Result<OidcGrant, OidcError> {
        // The keys first: a JWKS that cannot be read should not cost the code.
        self.signing_keys(false).await?;
        let settings = &self.inner.settings;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.expose()),
            ("redirect_uri", redirect_uri),
            ("client_id", settings.client_id.as_str()),
            ("code_verifier", verifier.expose()),
        ];
        if let Some(resource) = &settings.resource {
            form.push(("resource", resource));
        }
        let answer = self
            .post_form(&self.inner.provider.token_endpoint, &form, false)
            .await?;
        let grant = self.grant_from(&answer, Some(nonce))?;
        if let Some(id_token) = &grant.id_token {
            self.verify_signature(id_token).await?;
        }
        tracing::info!(
            user = grant.user.as_ref().map(OidcUser::username),
            "signed in with the browser"
        );
        Ok(grant)
    }

    async fn post_form(
        &self,
        url: &Url,
        form: &[(&str, &str)],
        refresh: bool,
    ) -> Result<http::Answer, OidcError> {
        let request = self
            .inner
            .http
            .post(url.clone())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(http::form_body(form))
            .timeout(self.inner.settings.request_timeout);
        http::send(request, refresh).await
    }

    /// A token response as a grant: the fields, the ID token's claims (with `nonce`
    /// at sign-in), and the socket token.
    fn grant_from(
        &self,
        answer: &http::Answer,
        nonce: Option<&Secret>,
    ) -> Result<OidcGrant, OidcError> {
        let fields = http::token_fields(&answer.body)
            .map_err(|reason| OidcError::Http(AuthError::BadResponse(reason)))?;
        let server_date = answer.server_date();
        let settings = &self.inner.settings;
        let user = match &fields.id_token {
            Some(token) => {
                let (_, claims) = id_token::decode(token.expose())?;
                Some(id_token::check_claims(
                    &claims,
                    &id_token::Expected {
                        issuer: &self.inner.provider.issuer,
                        client_id: &settings.client_id,
                        nonce,
                        now: server_date.unwrap_or_else(SystemTime::now),
                    },
                )?)
            }
            // OpenID Connect Core §3.1.3.3: the code exchange must return one.
            None if nonce.is_some() => {
                return Err(OidcError::IdToken(
                    "the token response carries no ID token".into(),
                ))
            }
            None => None,
        };
        let socket_token = match settings.socket_token {
            SocketToken::AccessToken => fields.access.clone(),
            SocketToken::IdToken => fields.id_token.clone().ok_or_else(|| {
                OidcError::IdToken(
                    "socket_token is id_token, but the provider sent no ID token".into(),
                )
            })?,
        };
        Ok(OidcGrant {
            access: fields.access,
            refresh: fields.refresh,
            id_token: fields.id_token,
            socket_token,
            expires_in: fields.expires_in,
            server_date,
            scope: fields.scope,
            user,
        })
    }

    /// The provider's signing keys: cached, or fetched (again, with `refetch`).
    /// `None` when the provider names no `jwks_uri`.
    async fn signing_keys(&self, refetch: bool) -> Result<Option<Arc<Vec<Jwk>>>, OidcError> {
        let Some(jwks_uri) = &self.inner.provider.jwks_uri else {
            return Ok(None);
        };
        let mut cached = self.inner.jwks.lock().await;
        if let (Some(keys), false) = (cached.as_ref(), refetch) {
            return Ok(Some(keys.clone()));
        }
        let request = self
            .inner
            .http
            .get(jwks_uri.clone())
            .timeout(self.inner.settings.request_timeout);
        let answer = http::send(request, false).await?;
        let keys = Arc::new(id_token::parse_jwks(&answer.body)?);
        *cached = Some(keys.clone());
        Ok(Some(keys))
    }

    /// Verifies the ID token's signature; see `id_token` for when it is skipped.
    async fn verify_signature(&self, token: &Secret) -> Result<(), OidcError> {
        let (header, _) = id_token::decode(token.expose())?;
        let Some(alg) = id_token::verifiable_algorithm(&header.alg)? else {
            tracing::debug!(alg = %header.alg, "ID token algorithm not checked here; TLS vouches for it");
            return Ok(());
        };
        for refetch in [false, true] {
            let Some(keys) = self.signing_keys(refetch).await? else {
                return Ok(());
            };
            if id_token::verify_signature(token.expose(), &header, alg, &keys)? {
                return Ok(());
            }
        }
        Err(OidcError::IdToken(
            "no key in the provider's JWKS matches its key id".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn client(settings: OidcSettings) -> OidcClient {
        let provider = ProviderMetadata::from_document(
            "https://id.example.com",
            br#"{"issuer":"https://id.example.com",
                 "authorization_endpoint":"https://id.example.com/auth?tenant=t1",
                 "token_endpoint":"https://id.example.com/token"}"#,
        )
        .unwrap();
        OidcClient::with_provider(settings, reqwest::Client::new(), provider)
    }

    #[test]
    fn the_authorization_url_carries_the_whole_request() {
        let mut settings = OidcSettings::new("https://id.example.com", "kith-desktop");
        settings.resource = Some("urn:kith:presence".into());
        settings.audience = Some("https://presence.example.com".into());
        let url = client(settings).authorization_url(
            "http://127.0.0.1:5555/callback",
            "CHALLENGE",
            &Secret::new("STATE"),
            &Secret::new("NONCE"),
        );
        assert_eq!(url.host_str(), Some("id.example.com"));
        assert_eq!(url.path(), "/auth");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            get("tenant"),
            Some("t1"),
            "the endpoint's own query is kept"
        );
        assert_eq!(get("response_type"), Some("code"));
        assert_eq!(get("client_id"), Some("kith-desktop"));
        assert_eq!(get("redirect_uri"), Some("http://127.0.0.1:5555/callback"));
        assert_eq!(get("scope"), Some("openid profile offline_access"));
        assert_eq!(get("state"), Some("STATE"));
        assert_eq!(get("nonce"), Some("NONCE"));
        assert_eq!(get("code_challenge"), Some("CHALLENGE"));
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert_eq!(get("prompt"), Some("consent"));
        assert_eq!(get("resource"), Some("urn:kith:presence"));
        assert_eq!(get("audience"), Some("https://presence.example.com"));

        let mut online = OidcSettings::new("https://id.example.com", "kith-desktop");
        online.scopes = vec!["openid".into()];
        let url = client(online).authorization_url("r", "c", &Secret::new("s"), &Secret::new("n"));
        assert!(!url
            .query_pairs()
            .any(|(k, _)| k == "prompt" || k == "resource"));
    }

    #[test]
    fn a_grant_shows_no_secret() {
        let grant = OidcGrant {
            access: Secret::new("ACCESS-SECRET"),
            refresh: Some(Secret::new("REFRESH-SECRET")),
            id_token: Some(Secret::new("ID-SECRET")),
            socket_token: Secret::new("ACCESS-SECRET"),
            expires_in: Some(Duration::from_secs(60)),
            server_date: None,
            scope: Some("openid".into()),
            user: None,
        };
        let debug = format!("{grant:?}");
        assert!(!debug.contains("SECRET"), "{debug}");
        let token_grant = grant.into_token_grant();
        assert_eq!(token_grant.access.expose(), "ACCESS-SECRET");
    }
}
