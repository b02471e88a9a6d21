//! The loopback redirect (RFC 8252 §7.3): a listener on `127.0.0.1:<ephemeral>` that
//! serves one sign-in and nothing else.
//!
//! Each connection's request head is read concurrently, with a deadline and a size
//! bound, so a browser's idle speculative connection cannot hold up the real
//! redirect. Requests to other paths get a 404 and the listener keeps waiting. The
//! first request to `/callback` decides the sign-in:
//! - without this sign-in's `state`, or with another one: refused with an error page,
//!   and the sign-in fails with [`OidcError::StateMismatch`]. Kith stops listening, so
//!   a redirect that comes later (even the real one) finds the port closed. Failing
//!   closed means a stray or forged request can end a sign-in, which the user simply
//!   starts again; it can never slip a code of its own into it;
//! - with an `iss` other than the issuer (RFC 9207), or none when the provider
//!   promises one: refused;
//! - with `error=access_denied`: [`OidcError::Denied`]; another `error`:
//!   [`OidcError::AuthorizationFailed`];
//! - with a code: the listener is closed at once (a second code on this port is
//!   refused by the OS), and the browser's connection is held until the code is
//!   exchanged, so its page tells the real outcome.
//!
//! The pages are tiny static HTML with a strict CSP, `no-store` and `no-referrer`.

use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::pkce::same_value;
use super::OidcError;
use crate::secret::Secret;

/// The path of the redirect URI (the provider registers `http://127.0.0.1/callback`).
pub(crate) const CALLBACK_PATH: &str = "/callback";

/// How long a connection has to send its request head.
const HEAD_DEADLINE: Duration = Duration::from_secs(10);
/// The largest request head read.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Connections read at once; more are closed unread.
const MAX_OPEN_CONNECTIONS: usize = 16;
/// How long writing a page may take.
const WRITE_DEADLINE: Duration = Duration::from_secs(5);

/// What a callback request must match.
pub(crate) struct Expected<'a> {
    pub(crate) state: &'a Secret,
    pub(crate) issuer: &'a str,
    pub(crate) iss_required: bool,
}

/// The parameters of a request to the callback path.
#[derive(Default)]
pub(crate) struct CallbackParams {
    code: Option<Secret>,
    state: Option<Secret>,
    error: Option<String>,
    error_description: Option<String>,
    iss: Option<String>,
}

/// Where a request goes.
pub(crate) enum Route {
    /// The callback, with its parameters, or the name of a repeated one.
    Callback(Result<CallbackParams, String>),
    /// Anything else, answered with this status and left alone.
    Other(u16),
}

/// Routes a request head's first line.
pub(crate) fn route(head: &[u8]) -> Route {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.trim_end().split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Route::Other(400);
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Route::Other(400);
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != CALLBACK_PATH {
        return Route::Other(404);
    }
    if method != "GET" {
        return Route::Other(405);
    }
    Route::Callback(parse_query(query))
}

/// The callback's parameters; a repeated one is refused (RFC 6749 §3.1).
pub(crate) fn parse_query(query: &str) -> Result<CallbackParams, String> {
    let mut params = CallbackParams::default();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let value = value.into_owned();
        let repeated = match name.as_ref() {
            "code" => params.code.replace(Secret::new(value)).is_some(),
            "state" => params.state.replace(Secret::new(value)).is_some(),
            "error" => params.error.replace(value).is_some(),
            "error_description" => params.error_description.replace(value).is_some(),
            "iss" => params.iss.replace(value).is_some(),
            _ => false,
        };
        if repeated {
            return Err(name.into_owned());
        }
    }
    Ok(params)
}

/// Decides a callback: the code, or why the sign-in ends.
pub(crate) fn judge(
    params: Result<CallbackParams, String>,
    expected: &Expected<'_>,
) -> Result<Secret, OidcError> {
    let params = params.map_err(|name| {
        OidcError::BadCallback(format!("the parameter {:?} is repeated", printable(&name)))
    })?;
    let state_matches = params
        .state
        .as_ref()
        .is_some_and(|state| same_value(state.expose(), expected.state.expose()));
    if !state_matches {
        return Err(OidcError::StateMismatch);
    }
    match &params.iss {
        Some(iss) if iss != expected.issuer => {
            return Err(OidcError::CallbackIssuer {
                got: Some(printable(iss)),
            })
        }
        None if expected.iss_required => return Err(OidcError::CallbackIssuer { got: None }),
        _ => {}
    }
    if let Some(error) = params.error {
        let description = printable(params.error_description.as_deref().unwrap_or(""));
        return Err(if error == "access_denied" {
            OidcError::Denied { description }
        } else {
            OidcError::AuthorizationFailed {
                error: printable(&error),
                description,
            }
        });
    }
    match params.code {
        Some(code) if !code.is_empty() => Ok(code),
        _ => Err(OidcError::BadCallback(
            "it carries neither a code nor an error".into(),
        )),
    }
}

fn printable(text: &str) -> String {
    crate::text::plain_text(text, 200)
}

/// A request target for the logs, with `code` and `state` values hidden.
pub(crate) fn loggable_target(head: &[u8]) -> String {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let target = line.split(' ').nth(1).unwrap_or("");
    let Some((path, query)) = target.split_once('?') else {
        return printable(target);
    };
    let hidden: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(name, value)| match name.as_ref() {
            "code" | "state" => format!("{name}=[redacted]"),
            _ => format!("{name}={value}"),
        })
        .collect();
    printable(&format!("{path}?{}", hidden.join("&")))
}

/// Waits for the callback that decides the sign-in. On a code, returns it with the
/// browser's connection, still unanswered; on a refusal, answers the browser with an
/// error page first.
pub(crate) async fn wait_for_callback(
    listener: &TcpListener,
    expected: &Expected<'_>,
) -> Result<(Secret, TcpStream), OidcError> {
    let mut reading = FuturesUnordered::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) if reading.len() < MAX_OPEN_CONNECTIONS => {
                    reading.push(read_head(stream));
                }
                Ok(_) => tracing::debug!("too many open connections on the loopback redirect"),
                Err(error) => {
                    // Out of file descriptors and the like: wait a little, go on.
                    tracing::debug!(%error, "loopback accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(read) = reading.next(), if !reading.is_empty() => {
                if let Some((stream, head)) = read {
                    if let Some(decided) = answer(stream, &head, expected).await {
                        return decided;
                    }
                }
            }
        }
    }
}

/// Answers one request; `Some` when it decides the sign-in.
async fn answer(
    mut stream: TcpStream,
    head: &[u8],
    expected: &Expected<'_>,
) -> Option<Result<(Secret, TcpStream), OidcError>> {
    tracing::debug!(request = %loggable_target(head), "request on the loopback redirect");
    match route(head) {
        Route::Other(status) => {
            let waiting = "Kith is waiting for the sign-in to finish in this browser.";
            respond(&mut stream, &page(status, "Not here", waiting)).await;
            None
        }
        Route::Callback(params) => match judge(params, expected) {
            Ok(code) => Some(Ok((code, stream))),
            Err(error) => {
                respond(&mut stream, &failure_page(&error)).await;
                Some(Err(error))
            }
        },
    }
}

/// A connection's request head, or `None` when it sent none in time or too much.
async fn read_head(mut stream: TcpStream) -> Option<(TcpStream, Vec<u8>)> {
    let read = async {
        let mut head = Vec::with_capacity(1024);
        let mut buf = [0u8; 2048];
        loop {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            head.extend_from_slice(&buf[..n]);
            if head.windows(4).any(|w| w == b"\r\n\r\n") {
                return Some(head);
            }
            if head.len() > MAX_HEAD_BYTES {
                return None;
            }
        }
    };
    let head = tokio::time::timeout(HEAD_DEADLINE, read).await.ok()??;
    Some((stream, head))
}

/// Answers the browser and closes the connection; a browser that went away is fine.
pub(crate) async fn respond(stream: &mut TcpStream, response: &[u8]) {
    let write = async {
        stream.write_all(response).await?;
        stream.shutdown().await
    };
    if let Ok(Err(error)) | Err(error) = tokio::time::timeout(WRITE_DEADLINE, write)
        .await
        .map_err(std::io::Error::from)
    {
        tracing::debug!(%error, "could not answer the browser");
    }
}

/// The page that ends a sign-in: success, or what went wrong.
pub(crate) fn outcome_page<T>(outcome: &Result<T, OidcError>) -> Vec<u8> {
    match outcome {
        Ok(_) => page(
            200,
            "Signed in to Kith",
            "You are signed in. You can close this tab and go back to Kith.",
        ),
        Err(error) => failure_page(error),
    }
}

fn failure_page(error: &OidcError) -> Vec<u8> {
    let (status, message) = match error {
        OidcError::Denied { .. } => (
            403,
            "The sign-in was denied, so Kith is not signed in. You can close this tab.".to_string(),
        ),
        OidcError::Cancelled => (
            409,
            "The sign-in was cancelled in Kith. You can close this tab.".to_string(),
        ),
        OidcError::StateMismatch => (
            400,
            "This sign-in link does not belong to the sign-in Kith started, so it was refused. Start the sign-in again from Kith.".to_string(),
        ),
        other => (
            502,
            format!("The sign-in did not complete: {other}. You can close this tab and try again from Kith."),
        ),
    };
    page(status, "Kith sign-in failed", &message)
}

/// A complete HTTP/1.1 response with a small HTML page.
pub(crate) fn page(status: u16, title: &str, message: &str) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        _ => "Bad Gateway",
    };
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:4em auto;max-width:32em;padding:0 1em}}</style>\
         </head><body><h1>{title}</h1><p>{message}</p></body></html>\n",
        title = html_escape(title),
        message = html_escape(message),
    );
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n\
         X-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "http://127.0.0.1:4000";

    fn decide(target: &str, state: &str, iss_required: bool) -> Result<Secret, OidcError> {
        let head = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        let Route::Callback(params) = route(head.as_bytes()) else {
            panic!("{target} is not the callback");
        };
        let state = Secret::new(state);
        judge(
            params,
            &Expected {
                state: &state,
                issuer: ISSUER,
                iss_required,
            },
        )
    }

    #[test]
    fn a_code_with_the_right_state_and_issuer_is_taken() {
        let code = decide(
            "/callback?code=abc-123&state=s1&iss=http%3A%2F%2F127.0.0.1%3A4000",
            "s1",
            true,
        )
        .unwrap();
        assert_eq!(code.expose(), "abc-123");
        assert!(decide("/callback?code=abc&state=s1", "s1", false).is_ok());
    }

    #[test]
    fn a_wrong_or_missing_state_is_refused_before_anything_else() {
        for target in [
            "/callback?code=abc&state=s2",
            "/callback?code=abc",
            "/callback?error=access_denied&state=other",
            "/callback",
        ] {
            assert_eq!(
                decide(target, "s1", false).unwrap_err(),
                OidcError::StateMismatch,
                "{target}"
            );
        }
    }

    #[test]
    fn errors_issuers_and_repeats_are_typed() {
        assert!(matches!(
            decide(
                "/callback?error=access_denied&error_description=End-User%20aborted&state=s1",
                "s1",
                false
            ),
            Err(OidcError::Denied { description }) if description == "End-User aborted"
        ));
        assert!(matches!(
            decide("/callback?error=invalid_scope&state=s1", "s1", false),
            Err(OidcError::AuthorizationFailed { error, .. }) if error == "invalid_scope"
        ));
        assert!(matches!(
            decide(
                "/callback?code=a&state=s1&iss=https%3A%2F%2Fevil",
                "s1",
                false
            ),
            Err(OidcError::CallbackIssuer { got: Some(_) })
        ));
        assert!(matches!(
            decide("/callback?code=a&state=s1", "s1", true),
            Err(OidcError::CallbackIssuer { got: None })
        ));
        assert!(matches!(
            decide("/callback?code=a&code=b&state=s1", "s1", false),
            Err(OidcError::BadCallback(_))
        ));
        assert!(matches!(
            decide("/callback?state=s1", "s1", false),
            Err(OidcError::BadCallback(_))
        ));
    }

    #[test]
    fn other_requests_are_not_the_callback() {
        for (head, status) in [
            ("GET /favicon.ico HTTP/1.1\r\n\r\n", 404),
            ("POST /callback?code=a HTTP/1.1\r\n\r\n", 405),
            ("GET /callback/x?code=a HTTP/1.1\r\n\r\n", 404),
            ("garbage\r\n\r\n", 400),
            ("GET http://evil/callback HTTP/1.1\r\n\r\n", 400),
        ] {
            assert!(
                matches!(route(head.as_bytes()), Route::Other(s) if s == status),
                "{head:?}"
            );
        }
    }

    #[test]
    fn logged_targets_hide_the_code_and_state() {
        let logged = loggable_target(
            b"GET /callback?code=SECRET-CODE&state=SECRET-STATE&iss=x HTTP/1.1\r\n\r\n",
        );
        assert!(!logged.contains("SECRET"), "{logged}");
        assert!(
            logged.contains("code=[redacted]") && logged.contains("iss=x"),
            "{logged}"
        );
    }

    #[test]
    fn pages_escape_text_and_forbid_everything() {
        let page = String::from_utf8(failure_page(&OidcError::AuthorizationFailed {
            error: "<script>".into(),
            description: String::new(),
        }))
        .unwrap();
        assert!(page.starts_with("HTTP/1.1 502 "));
        assert!(!page.contains("<script>") && page.contains("&lt;script&gt;"));
        assert!(page.contains("Content-Security-Policy: default-src 'none'"));
        let ok = String::from_utf8(outcome_page(&Ok::<(), OidcError>(()))).unwrap();
        assert!(ok.starts_with("HTTP/1.1 200 OK") && ok.contains("close this tab"));
        let (head, body) = ok.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
    }
}
