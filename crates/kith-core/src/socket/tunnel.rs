//! The byte stream under a WebSocket: TCP, through an HTTP CONNECT tunnel when the
//! proxy rules say so, then TLS for `wss://` with the shared client configuration.
//!
//! tungstenite has no proxy support, and the crates that add it either bring their own
//! TLS setup or only know SOCKS; the CONNECT exchange is one request and one response
//! head, so it is written here, where its failures can be typed: a proxy's 407 or 403,
//! an unreachable proxy, and a refused certificate each get their own [`OpenError`],
//! which the machine turns into a reason the user can act on.

use std::sync::Arc;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::network::Network;
use crate::proxy::{ProxyProblem, ProxyUrl};
use crate::tls::{cert_problem, CertProblem};

/// A connected stream, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Why no stream could be opened. Never names a credential.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// The URL is not `ws://` or `wss://` with a usable host.
    #[error("invalid socket URL")]
    Url,
    /// No TCP connection to the server, with the reason.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The proxy would not open a tunnel.
    #[error("{0}")]
    Proxy(ProxyProblem),
    /// The server's certificate was refused.
    #[error("{0}")]
    Certificate(CertProblem),
    /// The TLS handshake failed for another reason.
    #[error("TLS handshake failed: {0}")]
    Tls(String),
}

/// The longest CONNECT response head read; proxies answer with a few hundred bytes.
const MAX_PROXY_HEAD: usize = 8 * 1024;

/// Opens the stream for `uri` (`ws://` or `wss://`). The caller bounds it with the
/// profile's connect timeout.
pub async fn open(uri: &http::Uri, network: &Network) -> Result<Box<dyn Io>, OpenError> {
    let secure = match uri.scheme_str() {
        Some("wss") => true,
        Some("ws") => false,
        _ => return Err(OpenError::Url),
    };
    let host = uri.host().ok_or(OpenError::Url)?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let url = url::Url::parse(&format!(
        "{}://{}/",
        uri.scheme_str().unwrap_or("ws"),
        authority(&host, port)
    ))
    .map_err(|_| OpenError::Url)?;
    let tcp = match network.proxies().for_url(&url) {
        Some(proxy) => connect_via(&proxy, &host, port).await?,
        None => TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|error| OpenError::Connect(error.kind().to_string()))?,
    };
    let _ = tcp.set_nodelay(true);
    if !secure {
        return Ok(Box::new(tcp));
    }
    let Some(config) = network.tls() else {
        return Err(OpenError::Certificate(CertProblem::UnknownIssuer));
    };
    let name = ServerName::try_from(host).map_err(|_| OpenError::Url)?;
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
    match connector.connect(name, tcp).await {
        Ok(tls) => Ok(Box::new(tls)),
        Err(error) => Err(match cert_problem(&error) {
            Some(problem) => OpenError::Certificate(problem),
            None => OpenError::Tls(match error.get_ref() {
                Some(inner) => inner.to_string().chars().take(120).collect(),
                None => error.kind().to_string(),
            }),
        }),
    }
}

fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// TCP to the proxy, then `CONNECT host:port`; the stream is the tunnel once the proxy
/// answers 2xx.
async fn connect_via(proxy: &ProxyUrl, host: &str, port: u16) -> Result<TcpStream, OpenError> {
    let (proxy_host, proxy_port) = proxy.authority();
    let mut tcp = TcpStream::connect((proxy_host.as_str(), proxy_port))
        .await
        .map_err(|error| OpenError::Proxy(ProxyProblem::Unreachable(error.kind().to_string())))?;
    let target = authority(host, port);
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = proxy.basic_auth() {
        request.push_str("Proxy-Authorization: ");
        request.push_str(auth.expose());
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let lost = |error: std::io::Error| {
        OpenError::Proxy(ProxyProblem::Unreachable(format!(
            "the connection to the proxy broke ({})",
            error.kind()
        )))
    };
    tcp.write_all(request.as_bytes()).await.map_err(lost)?;
    let status = read_connect_response(&mut tcp).await?;
    match status {
        200..=299 => Ok(tcp),
        // 407 is the standard answer; tinyproxy with BasicAuth answers 401.
        401 | 407 => Err(OpenError::Proxy(ProxyProblem::AuthRequired)),
        other => Err(OpenError::Proxy(ProxyProblem::Refused(Some(other)))),
    }
}

/// Reads the response head byte by byte (nothing past it may be consumed: it belongs
/// to TLS or the WebSocket) and returns its status code.
async fn read_connect_response<S: AsyncRead + Unpin>(stream: &mut S) -> Result<u16, OpenError> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_PROXY_HEAD {
            return Err(OpenError::Proxy(ProxyProblem::BadResponse));
        }
        match stream.read(&mut byte).await {
            Ok(0) => {
                return Err(OpenError::Proxy(ProxyProblem::Unreachable(
                    "the proxy closed the connection".into(),
                )))
            }
            Ok(_) => head.push(byte[0]),
            Err(error) => {
                return Err(OpenError::Proxy(ProxyProblem::Unreachable(format!(
                    "the connection to the proxy broke ({})",
                    error.kind()
                ))))
            }
        }
    }
    parse_status(&head).ok_or(OpenError::Proxy(ProxyProblem::BadResponse))
}

/// `HTTP/1.x NNN ...` → NNN.
fn parse_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_status_of_a_connect_answer() {
        assert_eq!(
            parse_status(b"HTTP/1.1 200 Connection established\r\n\r\n"),
            Some(200)
        );
        assert_eq!(
            parse_status(b"HTTP/1.0 407 Proxy Authentication Required\r\n\r\n"),
            Some(407)
        );
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH\r\n\r\n"), None);
        assert_eq!(parse_status(b"HTTP/1.1 20\r\n\r\n"), None);
    }

    #[tokio::test]
    async fn stops_at_the_end_of_the_head() {
        let mut input: &[u8] = b"HTTP/1.1 200 OK\r\nVia: test\r\n\r\nTLS BYTES";
        assert_eq!(read_connect_response(&mut input).await, Ok(200));
        assert_eq!(input, b"TLS BYTES");
    }
}
