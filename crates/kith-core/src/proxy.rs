//! Which HTTP proxy a URL goes through, decided once for the auth API and the socket.
//!
//! The rules: the profile's `proxy` wins over the environment; otherwise `HTTPS_PROXY`
//! (for `https://` and `wss://`), `HTTP_PROXY` (for `http://` and `ws://`) and
//! `ALL_PROXY` (for both), upper or lower case; `NO_PROXY` lists the hosts that go
//! direct (domains with their subdomains, IPs, CIDR ranges, `*`), for the profile's
//! proxy as well. On macOS and Windows, when neither names a proxy, the system's proxy
//! settings apply (hyper-util's reader, the one behind reqwest's system proxy). The
//! matching is hyper-util's `Matcher`, the one reqwest uses, and both clients ask
//! [`ProxyRules::for_url`], so they cannot disagree about a host.
//!
//! A proxy URL is `http://[user:pass@]host:port`. Its credentials are secrets: the
//! `Debug` and `Display` of [`ProxyUrl`] print `[redacted]` in their place, and only
//! [`ProxyUrl::basic_auth`] and the value handed to reqwest carry them.

use std::fmt;

use base64::Engine;
use hyper_util::client::proxy::matcher::Matcher;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

use crate::secret::Secret;

/// Why a proxy setting was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ProxyConfigError {
    /// The text does not parse as a URL.
    #[error("the proxy is not a URL (http://[user:pass@]host:port)")]
    NotAUrl,
    /// A scheme other than `http` (the scheme given, shortened).
    #[error("the proxy URL must start with http:// (got {0}://); Kith tunnels with HTTP CONNECT")]
    Scheme(String),
    /// No host.
    #[error("the proxy URL has no host")]
    NoHost,
    /// A path, query or fragment.
    #[error("the proxy URL must be only http://[user:pass@]host:port, without a path, query or fragment")]
    Extra,
}

/// A proxy: `http://[user:pass@]host:port`. The password never appears in its Debug
/// or Display output.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    url: Url,
}

impl ProxyUrl {
    /// Parses `http://[user:pass@]host:port`, or a bare `host:port` as `http://`.
    pub fn parse(text: &str) -> Result<Self, ProxyConfigError> {
        // A bare host:port is what people put in HTTP_PROXY too.
        let text = text.trim();
        let with_scheme;
        let text = if text.contains("://") {
            text
        } else {
            with_scheme = format!("http://{text}");
            &with_scheme
        };
        let url = Url::parse(text).map_err(|_| ProxyConfigError::NotAUrl)?;
        if url.scheme() != "http" {
            return Err(ProxyConfigError::Scheme(
                url.scheme().chars().take(16).collect(),
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ProxyConfigError::NoHost);
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(ProxyConfigError::Extra);
        }
        Ok(ProxyUrl { url })
    }

    /// `host:port` to open the TCP connection to (port 80 when none is given).
    pub fn authority(&self) -> (String, u16) {
        let host = self
            .url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        (host, self.url.port_or_known_default().unwrap_or(80))
    }

    /// The `Proxy-Authorization` value, when the URL carries credentials.
    pub fn basic_auth(&self) -> Option<Secret> {
        if self.url.username().is_empty() && self.url.password().is_none() {
            return None;
        }
        // `url` keeps userinfo percent-encoded.
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let user = decode(self.url.username());
        let pass = decode(self.url.password().unwrap_or_default());
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        Some(Secret::new(format!("Basic {encoded}")))
    }

    /// The full URL, credentials included, for the one place that hands it on (reqwest).
    pub fn expose(&self) -> &str {
        self.url.as_str()
    }

    /// The URL with any credentials replaced by `[redacted]`.
    pub fn redacted(&self) -> String {
        let mut url = self.url.clone();
        let had_credentials = !url.username().is_empty() || url.password().is_some();
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let text = url.to_string();
        if had_credentials {
            text.replacen("://", "://[redacted]@", 1)
        } else {
            text
        }
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({})", self.redacted())
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Profiles are written by the user and read back: the URL is kept whole there.
impl Serialize for ProxyUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.url.as_str())
    }
}

/// Refuses a bad value with a message that does not repeat it (it may hold a password).
impl<'de> Deserialize<'de> for ProxyUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)
            .map_err(|_| serde::de::Error::custom("expected a string for proxy"))?;
        ProxyUrl::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Why a proxy did not open a tunnel. Transient: Kith backs off and tries again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProxyProblem {
    /// 407: the proxy wants (other) credentials.
    AuthRequired,
    /// Another non-2xx answer to CONNECT (403: the proxy's policy forbids the host),
    /// with its status when known (reqwest does not report it).
    Refused(Option<u16>),
    /// The proxy could not be reached.
    Unreachable(String),
    /// The proxy's answer was not HTTP.
    BadResponse,
}

impl ProxyProblem {
    /// A short, stable code for machine-readable output (`proxy_refused`, …).
    pub fn code(&self) -> &'static str {
        match self {
            ProxyProblem::AuthRequired => "proxy_auth_required",
            ProxyProblem::Refused(_) => "proxy_refused",
            ProxyProblem::Unreachable(_) => "proxy_unreachable",
            ProxyProblem::BadResponse => "proxy_bad_response",
        }
    }
}

impl fmt::Display for ProxyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyProblem::AuthRequired => f.write_str(
                "the proxy requires authentication (HTTP 407); check the user and password in proxy",
            ),
            ProxyProblem::Refused(Some(status)) => {
                write!(f, "the proxy refused to connect to the server (HTTP {status})")
            }
            ProxyProblem::Refused(None) => f.write_str("the proxy refused to connect to the server"),
            ProxyProblem::Unreachable(why) => write!(f, "cannot reach the proxy: {why}"),
            ProxyProblem::BadResponse => f.write_str("the proxy's answer is not HTTP"),
        }
    }
}

/// Which proxy each URL goes through.
pub struct ProxyRules {
    http: Option<ProxyUrl>,
    https: Option<ProxyUrl>,
    matcher: Matcher,
    /// macOS and Windows: the system's proxy settings, used when neither the profile
    /// nor the environment names a proxy.
    system: Option<Matcher>,
}

impl fmt::Debug for ProxyRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyRules")
            .field("http", &self.http)
            .field("https", &self.https)
            .finish_non_exhaustive()
    }
}

impl ProxyRules {
    /// No proxy for anything.
    pub fn direct() -> Self {
        Self::build(None, None, "")
    }

    /// The profile's proxy, else the process environment, else (on macOS and Windows)
    /// the system's proxy settings, read by hyper-util as reqwest reads them.
    pub fn from_env(explicit: Option<&ProxyUrl>) -> Self {
        let mut rules = Self::from_vars(explicit, |name| std::env::var(name).ok());
        if cfg!(any(target_os = "macos", windows)) && rules.http.is_none() && rules.https.is_none()
        {
            rules.system = Some(Matcher::from_system());
        }
        rules
    }

    /// As [`ProxyRules::from_env`], reading variables through `var` (for tests). A
    /// variable whose value is not an `http://` proxy is ignored, with a warning.
    pub fn from_vars(explicit: Option<&ProxyUrl>, var: impl Fn(&str) -> Option<String>) -> Self {
        let first = |names: [&'static str; 2]| -> Option<(&'static str, String)> {
            names.into_iter().find_map(|name| {
                var(name)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (name, v))
            })
        };
        let parse = |found: Option<(&'static str, String)>| {
            let (name, value) = found?;
            match ProxyUrl::parse(&value) {
                Ok(proxy) => Some(proxy),
                Err(error) => {
                    tracing::warn!(variable = name, %error, "ignoring a proxy variable Kith cannot use");
                    None
                }
            }
        };
        let no = first(["NO_PROXY", "no_proxy"])
            .map(|(_, v)| v)
            .unwrap_or_default();
        if let Some(proxy) = explicit {
            return Self::build(Some(proxy.clone()), Some(proxy.clone()), &no);
        }
        let all = parse(first(["ALL_PROXY", "all_proxy"]));
        // As curl and reqwest do: in a CGI context HTTP_PROXY may come from a request
        // header ("httpoxy"), so only the lower-case name counts there.
        let http_names = if var("REQUEST_METHOD").is_some() {
            ["http_proxy", "http_proxy"]
        } else {
            ["HTTP_PROXY", "http_proxy"]
        };
        let http = parse(first(http_names)).or_else(|| all.clone());
        let https = parse(first(["HTTPS_PROXY", "https_proxy"])).or(all);
        Self::build(http, https, &no)
    }

    fn build(http: Option<ProxyUrl>, https: Option<ProxyUrl>, no: &str) -> Self {
        let mut builder = Matcher::builder().no(no.to_owned());
        if let Some(proxy) = &http {
            builder = builder.http(proxy.expose().to_owned());
        }
        if let Some(proxy) = &https {
            builder = builder.https(proxy.expose().to_owned());
        }
        ProxyRules {
            http,
            https,
            matcher: builder.build(),
            system: None,
        }
    }

    /// The proxy for `url` (`http`, `https`, `ws` or `wss`), or `None` to go direct.
    pub fn for_url(&self, url: &Url) -> Option<ProxyUrl> {
        let (scheme, proxy) = match url.scheme() {
            "http" | "ws" => ("http", self.http.as_ref()),
            "https" | "wss" => ("https", self.https.as_ref()),
            _ => return None,
        };
        let host = url.host_str()?;
        let uri: http::Uri = format!("{scheme}://{host}/").parse().ok()?;
        if let Some(proxy) = proxy {
            return self.matcher.intercept(&uri).map(|_| proxy.clone());
        }
        // A system proxy is host:port only; credentials are not part of it.
        let system = self.system.as_ref()?.intercept(&uri)?;
        match ProxyUrl::parse(&system.uri().to_string()) {
            Ok(proxy) => Some(proxy),
            Err(error) => {
                tracing::debug!(%error, "ignoring a system proxy Kith cannot tunnel through");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn rules(explicit: Option<&str>, vars: &[(&str, &str)]) -> ProxyRules {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let explicit = explicit.map(|p| ProxyUrl::parse(p).unwrap());
        ProxyRules::from_vars(explicit.as_ref(), |name| vars.get(name).cloned())
    }

    fn via(rules: &ProxyRules, url: &str) -> Option<String> {
        rules
            .for_url(&Url::parse(url).unwrap())
            .map(|p| p.authority().0)
    }

    #[test]
    fn environment_in_either_case() {
        let r = rules(
            None,
            &[
                ("https_proxy", "http://secure:3128"),
                ("HTTP_PROXY", "plain:8080"),
            ],
        );
        assert_eq!(via(&r, "wss://chat.example/ws").as_deref(), Some("secure"));
        assert_eq!(via(&r, "https://chat.example/").as_deref(), Some("secure"));
        assert_eq!(via(&r, "ws://chat.example/").as_deref(), Some("plain"));
        let r = rules(None, &[("all_proxy", "http://every:1")]);
        assert_eq!(via(&r, "wss://a.example/").as_deref(), Some("every"));
        assert_eq!(via(&r, "http://a.example/").as_deref(), Some("every"));
        assert_eq!(via(&rules(None, &[]), "https://a.example/"), None);
    }

    #[test]
    fn the_profile_wins_and_no_proxy_still_applies() {
        let r = rules(
            Some("http://mine:9"),
            &[
                ("HTTPS_PROXY", "http://env:1"),
                ("NO_PROXY", "internal.example, 10.0.0.0/8"),
            ],
        );
        assert_eq!(via(&r, "wss://chat.example/").as_deref(), Some("mine"));
        assert_eq!(via(&r, "wss://api.internal.example/"), None);
        assert_eq!(via(&r, "https://10.1.2.3/"), None);
    }

    #[test]
    fn unusable_variables_are_ignored() {
        let r = rules(None, &[("HTTPS_PROXY", "socks5://s:1080")]);
        assert_eq!(via(&r, "https://a.example/"), None);
    }

    #[test]
    fn credentials_are_redacted_and_encoded() {
        let proxy = ProxyUrl::parse("http://al%40ice:s3cr%3At@proxy.example:3128").unwrap();
        let shown = format!("{proxy} {proxy:?}");
        assert!(!shown.contains("s3cr"), "{shown}");
        assert!(!shown.contains("al%40ice"), "{shown}");
        assert!(shown.contains("proxy.example:3128"), "{shown}");
        let auth = proxy.basic_auth().unwrap();
        let expected = base64::engine::general_purpose::STANDARD.encode("al@ice:s3cr:t");
        assert_eq!(auth.expose(), format!("Basic {expected}"));
        assert_eq!(proxy.authority(), ("proxy.example".to_string(), 3128));
    }

    #[test]
    fn refuses_what_it_cannot_tunnel_through() {
        assert_eq!(
            ProxyUrl::parse("https://p:1"),
            Err(ProxyConfigError::Scheme("https".into()))
        );
        assert_eq!(
            ProxyUrl::parse("http://p:1/path"),
            Err(ProxyConfigError::Extra)
        );
        assert!(ProxyUrl::parse("http://").is_err());
    }
}
