//! Building the upgrade request for a profile's auth transports, and the URL for logs.
//!
//! Several transports may be combined (seed 002 puts the token in the URL *and* sends
//! an auth message). The token is added here and nowhere else; [`log_url`] gives the
//! same URL with the token redacted: the query parameter the profile puts the token
//! in, whatever its name, any parameter whose name looks like a credential, any
//! userinfo (`user:pass@`) and any fragment.

use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::header::{
    HeaderValue, AUTHORIZATION, COOKIE, SEC_WEBSOCKET_PROTOCOL,
};

use crate::protocol::{ProfileError, ServerProfile, WireProtocol, WsAuthTransport};
use crate::secret::Secret;

/// Why the upgrade request could not be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("cannot build the upgrade request: {0}")]
    Build(String),
}

/// The upgrade request with the token placed as the profile says.
pub(crate) fn upgrade_request(
    profile: &ServerProfile,
    token: &Secret,
) -> Result<Request, RequestError> {
    let mut url = profile.socket_url()?;
    if profile.socket.protocol == WireProtocol::SocketIo {
        url.query_pairs_mut()
            .append_pair("EIO", "4")
            .append_pair("transport", "websocket");
    }
    for transport in &profile.socket.auth {
        if let WsAuthTransport::Query { param } = transport {
            url.query_pairs_mut().append_pair(param, token.expose());
        }
    }
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|error| RequestError::Build(error.to_string()))?;
    let header = |value: String| {
        HeaderValue::from_str(&value)
            .map_err(|_| RequestError::Build("the token is not valid in an HTTP header".into()))
    };
    for transport in &profile.socket.auth {
        match transport {
            WsAuthTransport::Bearer => {
                let mut value = header(format!("Bearer {}", token.expose()))?;
                value.set_sensitive(true);
                request.headers_mut().insert(AUTHORIZATION, value);
            }
            WsAuthTransport::Subprotocol { protocol } => {
                let mut value = header(format!("{protocol}, {}", token.expose()))?;
                value.set_sensitive(true);
                request.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, value);
            }
            WsAuthTransport::Cookie { name } => {
                let mut value = header(format!("{name}={}", token.expose()))?;
                value.set_sensitive(true);
                request.headers_mut().append(COOKIE, value);
            }
            WsAuthTransport::Query { .. } | WsAuthTransport::Message => {}
        }
    }
    Ok(request)
}

/// The socket URL of `request`, built for `profile`, as it may appear in logs: see
/// [`redact_socket_url`]; the profile's `query` transports name the parameters that
/// certainly hold the token.
pub(crate) fn log_url(request: &Request, profile: &ServerProfile) -> String {
    let params: Vec<&str> = profile
        .socket
        .auth
        .iter()
        .filter_map(|transport| match transport {
            WsAuthTransport::Query { param } => Some(param.as_str()),
            _ => None,
        })
        .collect();
    redact_socket_url(&request.uri().to_string(), &params)
}

/// Returns `url` without userinfo or fragment, with the value of every query parameter
/// named in `token_params` (exactly, as the profile spells it) or looking like a
/// credential ([`looks_secret`]) replaced by `[redacted]`. Input that does not parse
/// as a URL is redacted whole rather than echoed.
pub(crate) fn redact_socket_url(url: &str, token_params: &[&str]) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "[unparseable url redacted]".to_string();
    };
    // Both fail only for URLs that cannot have userinfo, which then have none.
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    parsed.set_fragment(None);
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| {
                let hidden = token_params.contains(&key.as_ref()) || looks_secret(&key);
                let value = if hidden {
                    "[redacted]".to_string()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    // Keep the brackets readable in logs instead of percent-encoded.
    parsed.to_string().replace("%5Bredacted%5D", "[redacted]")
}

/// Whether a query parameter's name suggests a credential, ignoring case, `-` and `_`:
/// `token`, `accessToken`, `access-token`, `t`, `jwt`, `auth`, `key`, `password`, …
pub(crate) fn looks_secret(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "t",
        "tk",
        "tok",
        "access",
        "refresh",
        "auth",
        "authorization",
        "bearer",
        "key",
        "apikey",
        "code",
        "sig",
        "signature",
        "session",
        "sessionid",
        "sid",
        "pass",
        "pwd",
        "credential",
        "credentials",
    ];
    const PART: &[&str] = &["token", "jwt", "secret", "password", "passwd"];
    let name: String = name
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    EXACT.contains(&name.as_str()) || PART.iter().any(|part| name.contains(part))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transport_places_the_token_and_logs_hide_it() {
        let mut profile = ServerProfile::simplejwt("http://127.0.0.1:8000");
        profile.socket.auth = vec![
            WsAuthTransport::Query {
                param: "token".into(),
            },
            WsAuthTransport::Bearer,
            WsAuthTransport::Subprotocol {
                protocol: "access_token".into(),
            },
            WsAuthTransport::Cookie {
                name: "access_token".into(),
            },
        ];
        let token = Secret::new("aaa.bbb.ccc");
        let request = upgrade_request(&profile, &token).unwrap();
        assert!(request.uri().to_string().contains("token=aaa.bbb.ccc"));
        assert_eq!(request.headers()[AUTHORIZATION], "Bearer aaa.bbb.ccc");
        assert_eq!(
            request.headers()[SEC_WEBSOCKET_PROTOCOL],
            "access_token, aaa.bbb.ccc"
        );
        assert_eq!(request.headers()[COOKIE], "access_token=aaa.bbb.ccc");
        let logged = log_url(&request, &profile);
        assert!(!logged.contains("aaa.bbb.ccc"), "{logged}");
        assert!(!format!("{:?}", request.headers()).contains("aaa.bbb.ccc"));
    }

    #[test]
    fn the_profile_parameter_is_redacted_whatever_its_name() {
        let mut profile = ServerProfile::simplejwt("http://127.0.0.1:8000");
        profile.socket.auth = vec![WsAuthTransport::Query { param: "x".into() }];
        let token = Secret::new("aaa.bbb.ccc");
        let request = upgrade_request(&profile, &token).unwrap();
        let logged = log_url(&request, &profile);
        assert!(!logged.contains("aaa.bbb.ccc"), "{logged}");
        assert!(logged.contains("x=[redacted]"), "{logged}");
    }

    #[test]
    fn token_like_names_and_userinfo_are_redacted() {
        for name in [
            "token",
            "TOKEN",
            "accessToken",
            "access-token",
            "access_token",
            "t",
            "T",
            "jwt",
            "id_token",
            "X-Auth-Token",
            "refresh",
            "apiKey",
            "password",
            "client_secret",
        ] {
            let url = format!("wss://host.example/ws?room=1&{name}=sekrit&EIO=4");
            let logged = redact_socket_url(&url, &[]);
            assert!(!logged.contains("sekrit"), "{name}: {logged}");
            assert!(logged.contains("room=1"), "{logged}");
            assert!(logged.contains("EIO=4"), "{logged}");
        }
        let logged = redact_socket_url("wss://user:pa55@host.example/ws#access_token=frag", &[]);
        assert!(!logged.contains("user"), "{logged}");
        assert!(!logged.contains("pa55"), "{logged}");
        assert!(!logged.contains("frag"), "{logged}");
        assert_eq!(logged, "wss://host.example/ws");
        assert_eq!(
            redact_socket_url("ws://127.0.0.1:1/ws?transport=websocket", &[]),
            "ws://127.0.0.1:1/ws?transport=websocket"
        );
        assert!(!redact_socket_url("not a url ?token=abc", &[]).contains("abc"));
        assert!(!looks_secret("room"));
        assert!(!looks_secret("transport"));
    }

    #[test]
    fn a_token_with_header_breaking_bytes_is_refused() {
        let mut profile = ServerProfile::simplejwt("http://127.0.0.1:8000");
        profile.socket.auth = vec![WsAuthTransport::Bearer];
        assert!(upgrade_request(&profile, &Secret::new("bad\r\nvalue")).is_err());
    }
}
