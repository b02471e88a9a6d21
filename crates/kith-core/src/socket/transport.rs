//! Building the upgrade request for a profile's auth transports, and the URL for logs.
//!
//! Several transports may be combined (seed 002 puts the token in the URL *and* sends
//! an auth message). The token is added here and nowhere else; [`log_url`] gives the
//! same URL with the token redacted.

use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::header::{
    HeaderValue, AUTHORIZATION, COOKIE, SEC_WEBSOCKET_PROTOCOL,
};

use crate::protocol::{ProfileError, ServerProfile, WireProtocol, WsAuthTransport};
use crate::secret::{redact_url, Secret};

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("cannot build the upgrade request: {0}")]
    Build(String),
}

/// The upgrade request with the token placed as the profile says.
pub fn upgrade_request(profile: &ServerProfile, token: &Secret) -> Result<Request, RequestError> {
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

/// The socket URL as it may appear in logs: any token in it is redacted.
pub fn log_url(request: &Request) -> String {
    redact_url(&request.uri().to_string())
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
        let logged = log_url(&request);
        assert!(!logged.contains("aaa.bbb.ccc"), "{logged}");
        assert!(!format!("{:?}", request.headers()).contains("aaa.bbb.ccc"));
    }

    #[test]
    fn a_token_with_header_breaking_bytes_is_refused() {
        let mut profile = ServerProfile::simplejwt("http://127.0.0.1:8000");
        profile.socket.auth = vec![WsAuthTransport::Bearer];
        assert!(upgrade_request(&profile, &Secret::new("bad\r\nvalue")).is_err());
    }
}
