//! What a profile says about its OpenID provider: the issuer, Kith's client id, the
//! scopes, and which token the presence socket is given. Independent of
//! `ServerProfile`, which will embed it as `[auth] kind = "oidc"`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use super::OidcError;

/// How long the browser has to come back to Kith's loopback redirect by default.
pub const DEFAULT_BROWSER_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The deadline of each request to the provider (discovery, JWKS, token, revocation)
/// by default.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The OpenID Connect provider Kith signs in with, and how.
///
/// ```toml
/// issuer = "https://login.example.com/realms/kith"
/// client_id = "kith-desktop"
/// # scopes = ["openid", "profile", "offline_access"]
/// # resource = "urn:kith:presence"        (RFC 8707)
/// # audience = "https://presence.example.com"   (Auth0 and others)
/// # socket_token = "access_token"       or "id_token"
/// # browser_timeout = "5m"
/// # request_timeout = "30s"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The issuer identifier: `https://…` (plain `http://` only on a loopback host),
    /// without query or fragment. Discovery reads
    /// `<issuer>/.well-known/openid-configuration`, and the document's `issuer` must be
    /// this one (a trailing `/` aside).
    pub issuer: String,
    /// Kith's client id at the provider: a public native client (no secret) that
    /// allows the redirect URI `http://127.0.0.1/callback` on any port.
    pub client_id: String,
    /// The scopes asked for. Must contain `openid`. With `offline_access` the
    /// authorization request also carries `prompt=consent` (OpenID Connect Core §11).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// An `audience` parameter for the authorization request, for providers that take
    /// one (Auth0) to choose the access token's audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// A `resource` indicator (RFC 8707), sent with the authorization request and
    /// every token request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Which token the presence socket gets.
    #[serde(default)]
    pub socket_token: SocketToken,
    /// How long the browser has to come back to the loopback redirect.
    #[serde(default = "default_browser_timeout", with = "humantime_serde")]
    pub browser_timeout: Duration,
    /// The deadline of each request to the provider.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
}

/// Which of the provider's tokens authenticates the presence socket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SocketToken {
    /// The OAuth access token (the usual choice: its audience is the backend).
    #[default]
    AccessToken,
    /// The ID token, for backends that take it. Its audience is Kith's client id, and
    /// the provider must issue a new one on each refresh.
    IdToken,
}

fn default_scopes() -> Vec<String> {
    ["openid", "profile", "offline_access"]
        .into_iter()
        .map(String::from)
        .collect()
}

fn default_browser_timeout() -> Duration {
    DEFAULT_BROWSER_TIMEOUT
}

fn default_request_timeout() -> Duration {
    DEFAULT_REQUEST_TIMEOUT
}

impl OidcSettings {
    /// Settings for `issuer` and `client_id`, everything else at its default.
    pub fn new(issuer: impl Into<String>, client_id: impl Into<String>) -> Self {
        OidcSettings {
            issuer: issuer.into(),
            client_id: client_id.into(),
            scopes: default_scopes(),
            audience: None,
            resource: None,
            socket_token: SocketToken::default(),
            browser_timeout: DEFAULT_BROWSER_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// Checks what can be checked without the network.
    pub fn validate(&self) -> Result<(), OidcError> {
        let bad = |what: String| Err(OidcError::Settings(what));
        let issuer = match Url::parse(&self.issuer) {
            Ok(url) => url,
            Err(_) => return bad(format!("issuer {:?} is not a URL", self.issuer)),
        };
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return bad("the issuer must not have a query or a fragment".into());
        }
        if !issuer.username().is_empty() || issuer.password().is_some() {
            return bad("the issuer must not carry a user name or password".into());
        }
        if let Err(what) = check_endpoint_scheme(&issuer) {
            return bad(format!("issuer: {what}"));
        }
        if self.client_id.trim().is_empty() {
            return bad("client_id is empty".into());
        }
        if !self.scopes.iter().any(|scope| scope == "openid") {
            return bad("scopes must contain \"openid\"".into());
        }
        if let Some(scope) = self
            .scopes
            .iter()
            .find(|scope| scope.is_empty() || scope.contains(char::is_whitespace))
        {
            return bad(format!("scope {scope:?} is empty or contains a space"));
        }
        for (name, value) in [("audience", &self.audience), ("resource", &self.resource)] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return bad(format!("{name} is empty"));
            }
        }
        for (name, value) in [
            ("browser_timeout", self.browser_timeout),
            ("request_timeout", self.request_timeout),
        ] {
            if value.is_zero() {
                return bad(format!("{name} must be longer than zero"));
            }
        }
        Ok(())
    }

    /// Where the provider's discovery document is.
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        )
    }

    /// Whether the scopes ask for a refresh token that outlives the browser session.
    pub(crate) fn wants_offline_access(&self) -> bool {
        self.scopes.iter().any(|scope| scope == "offline_access")
    }
}

/// `https`, or `http` to a loopback host (a provider on this machine, or a test peer).
pub(crate) fn check_endpoint_scheme(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(format!(
            "{} is plain http; only https (or http on 127.0.0.1, ::1 or localhost) is allowed",
            url.host_str().unwrap_or("the URL")
        )),
        other => Err(format!("the {other:?} scheme is not http(s)")),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in_and_unknown_fields_are_refused() {
        let settings: OidcSettings =
            toml::from_str("issuer = \"https://id.example.com\"\nclient_id = \"kith\"\n").unwrap();
        assert_eq!(
            settings,
            OidcSettings::new("https://id.example.com", "kith")
        );
        assert_eq!(settings.scopes, ["openid", "profile", "offline_access"]);
        assert_eq!(settings.socket_token, SocketToken::AccessToken);
        assert_eq!(settings.browser_timeout, Duration::from_secs(300));
        settings.validate().unwrap();

        let full: OidcSettings = toml::from_str(
            "issuer = \"http://127.0.0.1:9\"\nclient_id = \"kith\"\nscopes = [\"openid\"]\n\
             resource = \"urn:kith:presence\"\nsocket_token = \"id_token\"\nbrowser_timeout = \"90s\"\n",
        )
        .unwrap();
        assert_eq!(full.socket_token, SocketToken::IdToken);
        assert_eq!(full.browser_timeout, Duration::from_secs(90));
        full.validate().unwrap();

        let error = toml::from_str::<OidcSettings>(
            "issuer = \"https://id.example.com\"\nclient_id = \"kith\"\nclient_secret = \"x\"\n",
        )
        .unwrap_err();
        assert!(error.to_string().contains("client_secret"), "{error}");
    }

    #[test]
    fn validation_names_the_problem() {
        let check = |edit: &dyn Fn(&mut OidcSettings)| {
            let mut settings = OidcSettings::new("https://id.example.com/realms/kith", "kith");
            edit(&mut settings);
            settings.validate()
        };
        assert!(check(&|_| {}).is_ok());
        for (edit, words) in [
            (
                &(|s: &mut OidcSettings| s.issuer = "http://id.example.com".into())
                    as &dyn Fn(&mut OidcSettings),
                "plain http",
            ),
            (&|s| s.issuer = "id.example.com".into(), "not a URL"),
            (
                &|s| s.issuer = "https://id.example.com/?x=1".into(),
                "query",
            ),
            (&|s| s.client_id = " ".into(), "client_id"),
            (&|s| s.scopes = vec!["profile".into()], "openid"),
            (&|s| s.scopes.push("a b".into()), "space"),
            (&|s| s.resource = Some(String::new()), "resource"),
            (&|s| s.browser_timeout = Duration::ZERO, "browser_timeout"),
        ] {
            let error = check(edit).unwrap_err().to_string();
            assert!(error.contains(words), "{error}");
        }
        assert!(check(&|s| s.issuer = "http://localhost:8080".into()).is_ok());
    }

    #[test]
    fn discovery_url_ignores_a_trailing_slash() {
        for issuer in [
            "https://id.example.com/realms/kith",
            "https://id.example.com/realms/kith/",
        ] {
            assert_eq!(
                OidcSettings::new(issuer, "kith").discovery_url(),
                "https://id.example.com/realms/kith/.well-known/openid-configuration"
            );
        }
    }
}
