//! Requests to the provider and the classification of their answers, in the auth
//! API's classes (see [`crate::token::api`]):
//! - 400/401 with an OAuth `error`: `invalid_grant` is the confirmed rejection; any
//!   other code is [`OidcError::TokenEndpoint`], a configuration problem;
//! - 408, 429 and 5xx, and failures to connect: transient, with `Retry-After`;
//! - any other status (a proxy's 403 or 404, a redirect): unexpected, not a rejection;
//! - a 2xx web page (a captive portal): [`AuthError::WebPage`], not a rejection;
//! - a refresh whose answer was lost (a timeout, a reset, an unreadable 2xx body):
//!   [`AuthError::OutcomeUnknown`], because the provider may have rotated the refresh
//!   token.
//!
//! Bodies are read up to [`MAX_RESPONSE_BYTES`]. Nothing here retries. Provider texts
//! are cleaned and cut to 200 characters; bodies of successful answers never reach an
//! error message (they hold tokens).

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, CONTENT_TYPE, DATE, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::Value;

use super::OidcError;
use crate::proxy::ProxyProblem;
use crate::secret::Secret;
use crate::token::api::{read_limited_to, BodyError, MAX_RESPONSE_BYTES};
use crate::token::AuthError;

/// A successful (2xx) answer that is not a web page.
pub(crate) struct Answer {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    /// The provider's clock when it answered.
    pub(crate) fn server_date(&self) -> Option<SystemTime> {
        self.headers
            .get(DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
    }
}

/// A form body, `application/x-www-form-urlencoded`.
pub(crate) fn form_body(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// Sends `request` and reads a successful answer. `refresh` marks a request whose
/// lost answer may hide a rotation.
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
    refresh: bool,
) -> Result<Answer, OidcError> {
    let response = request
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|error| send_error(error, refresh))?;
    let status = response.status();
    let headers = response.headers().clone();
    if !status.is_success() {
        let body = read_limited_to(response, MAX_RESPONSE_BYTES)
            .await
            .unwrap_or_default();
        return Err(classify_failure(status, &headers, &body));
    }
    let body = match read_limited_to(response, MAX_RESPONSE_BYTES).await {
        Ok(body) => body,
        Err(BodyError::TooLarge { .. }) if !refresh => {
            return Err(AuthError::ResponseTooLarge {
                limit: MAX_RESPONSE_BYTES,
            }
            .into())
        }
        Err(error) if refresh => {
            return Err(AuthError::OutcomeUnknown {
                reason: error.to_string(),
            }
            .into())
        }
        Err(error) => {
            return Err(AuthError::Transient {
                reason: error.to_string(),
                retry_after: None,
            }
            .into())
        }
    };
    if is_web_page(&headers, &body) {
        return Err(AuthError::WebPage {
            status: status.as_u16(),
        }
        .into());
    }
    Ok(Answer { headers, body })
}

/// A 2xx page rather than an API answer: `text/html`, or a body that opens with `<`
/// (JSON never does).
fn is_web_page(headers: &HeaderMap, body: &[u8]) -> bool {
    let html_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("html"));
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    html_type || body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
}

/// A non-2xx answer, classified.
pub(crate) fn classify_failure(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> OidcError {
    let code = status.as_u16();
    let retry_after = retry_after(headers);
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        return AuthError::Transient {
            reason: format!("the OpenID provider answered HTTP {code}"),
            retry_after,
        }
        .into();
    }
    let oauth: Option<(String, String)> =
        serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|value| {
                let error = value.get("error")?.as_str()?.to_string();
                let description = value
                    .get("error_description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                Some((printable(&error), printable(&description)))
            });
    match (code, oauth) {
        (400 | 401, Some((error, description))) if error == "invalid_grant" => {
            OidcError::InvalidGrant {
                status: code,
                description,
            }
        }
        (400 | 401, Some((error, description))) => OidcError::TokenEndpoint {
            status: code,
            error,
            description,
        },
        (_, oauth) => AuthError::UnexpectedStatus {
            status: code,
            detail: oauth
                .map(|(error, description)| format!("{error} {description}").trim().to_string())
                .unwrap_or_default(),
            retry_after,
        }
        .into(),
    }
}

fn printable(text: &str) -> String {
    crate::text::plain_text(text, 200)
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    when.duration_since(SystemTime::now()).ok()
}

/// A request that failed before an answer: a refused certificate or proxy, a failed
/// connect (the provider never saw it: transient), or a lost answer (for a refresh,
/// the outcome is unknown).
fn send_error(error: reqwest::Error, refresh: bool) -> OidcError {
    if let Some(problem) = crate::tls::cert_problem(&error) {
        return AuthError::Certificate(problem).into();
    }
    if let Some(problem) = proxy_problem(&error) {
        return AuthError::Proxy(problem).into();
    }
    let connect = error.is_connect();
    let reason = if connect {
        "cannot connect to the OpenID provider".to_string()
    } else if error.is_timeout() {
        "the request to the OpenID provider timed out".to_string()
    } else {
        // Provider URLs carry no secret, but leave them out anyway.
        error.without_url().to_string()
    };
    if refresh && !connect {
        AuthError::OutcomeUnknown { reason }.into()
    } else {
        AuthError::Transient {
            reason,
            retry_after: None,
        }
        .into()
    }
}

/// A proxy that would not tunnel, recognised by hyper-util's messages as in
/// [`crate::token::api`].
fn proxy_problem(error: &reqwest::Error) -> Option<ProxyProblem> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(what) = current.to_string().strip_prefix("tunnel error: ") {
            return Some(match what {
                "proxy authorization required" => ProxyProblem::AuthRequired,
                "unsuccessful" => ProxyProblem::Refused(None),
                "failed to create underlying connection" => {
                    ProxyProblem::Unreachable("cannot connect to the proxy".into())
                }
                other => ProxyProblem::Unreachable(other.chars().take(80).collect()),
            });
        }
        source = current.source();
    }
    None
}

/// The fields of a token endpoint's successful answer.
pub(crate) struct TokenFields {
    pub(crate) access: Secret,
    pub(crate) refresh: Option<Secret>,
    pub(crate) id_token: Option<Secret>,
    pub(crate) expires_in: Option<Duration>,
    pub(crate) scope: Option<String>,
}

/// Reads a token response (RFC 6749 §5.1). The message of a failure never quotes the
/// body.
pub(crate) fn token_fields(body: &[u8]) -> Result<TokenFields, String> {
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        format!(
            "expected a JSON object, got {} bytes of something else",
            body.len()
        )
    })?;
    let text = |name: &str| {
        value
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let access = text("access_token").ok_or("the response has no access_token")?;
    if let Some(kind) = text("token_type") {
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(format!(
                "the token_type is {:?}, not Bearer",
                crate::text::plain_text(kind, 20)
            ));
        }
    }
    let expires_in = match value.get("expires_in") {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|secs| secs.is_finite() && *secs >= 0.0)
    .map(|secs| {
        Duration::from_secs_f64(secs.min(crate::token::claims::MAX_CLAIM_DISTANCE.as_secs_f64()))
    });
    Ok(TokenFields {
        access: Secret::new(access),
        refresh: text("refresh_token").map(Secret::new),
        id_token: text("id_token").map(Secret::new),
        expires_in,
        scope: text("scope").map(printable),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(code: u16, body: &str) -> OidcError {
        classify_failure(
            StatusCode::from_u16(code).unwrap(),
            &HeaderMap::new(),
            body.as_bytes(),
        )
    }

    #[test]
    fn only_invalid_grant_is_the_rejection() {
        let grant = r#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#;
        for code in [400, 401] {
            assert!(classify(code, grant).is_confirmed_rejection(), "{code}");
        }
        assert!(matches!(
            classify(401, r#"{"error":"invalid_client"}"#),
            OidcError::TokenEndpoint { status: 401, ref error, .. } if error == "invalid_client"
        ));
        // A proxy's or a WAF's page, and statuses that never mean "no".
        for (code, body) in [
            (400, "<html>bad</html>"),
            (403, grant),
            (404, ""),
            (302, ""),
        ] {
            let error = classify(code, body);
            assert!(
                matches!(error, OidcError::Http(AuthError::UnexpectedStatus { .. })),
                "{code}: {error:?}"
            );
            assert!(error.is_transient());
        }
        for code in [408, 429, 500, 502, 503] {
            assert!(
                matches!(
                    classify(code, grant),
                    OidcError::Http(AuthError::Transient { .. })
                ),
                "{code}"
            );
        }
    }

    #[test]
    fn retry_after_is_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        let error = classify_failure(StatusCode::SERVICE_UNAVAILABLE, &headers, b"");
        assert_eq!(
            AuthError::from(error).retry_after(),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn web_pages_are_recognised() {
        let mut html = HeaderMap::new();
        html.insert(CONTENT_TYPE, "text/html; charset=utf-8".parse().unwrap());
        assert!(is_web_page(&html, b"{}"));
        assert!(is_web_page(&HeaderMap::new(), b"\n  <!doctype html>"));
        assert!(!is_web_page(&HeaderMap::new(), br#"{"access_token":"a"}"#));
        assert!(!is_web_page(&HeaderMap::new(), b""));
    }

    #[test]
    fn token_responses_are_read_without_echoing_them() {
        let fields = token_fields(
            br#"{"access_token":"AT-1","expires_in":60,"id_token":"a.b.c","refresh_token":"RT-1",
                 "scope":"openid profile","token_type":"Bearer"}"#,
        )
        .unwrap();
        assert_eq!(fields.access.expose(), "AT-1");
        assert_eq!(fields.refresh.unwrap().expose(), "RT-1");
        assert_eq!(fields.expires_in, Some(Duration::from_secs(60)));
        assert_eq!(fields.scope.as_deref(), Some("openid profile"));
        let stringly = token_fields(br#"{"access_token":"AT","expires_in":"3600"}"#).unwrap();
        assert_eq!(stringly.expires_in, Some(Duration::from_secs(3600)));
        for bad in [
            &br#"{"access_token":"SECRET-AT","token_type":"DPoP"}"#[..],
            br#"{"refresh_token":"SECRET-RT"}"#,
            b"SECRET not json",
        ] {
            let error = token_fields(bad).err().unwrap();
            assert!(!error.contains("SECRET"), "{error}");
        }
    }

    #[test]
    fn form_bodies_are_encoded() {
        assert_eq!(
            form_body(&[
                ("redirect_uri", "http://127.0.0.1:1/callback"),
                ("a", "b c")
            ]),
            "redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcallback&a=b+c"
        );
    }
}
