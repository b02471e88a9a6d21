//! Bad input from a peer comes back as typed errors, never a panic: a non-JSON login
//! response, a JWT without `exp`, a login response without tokens. Each peer here is a
//! real HTTP listener on 127.0.0.1 that answers with exactly the bytes under test.

use std::sync::Arc;

use kith_core::protocol::ServerProfile;
use kith_core::token::{AuthError, TokenError};
use kith_core::{MemoryStore, Secret, TokenManager};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves one canned HTTP response to every connection; returns the base URL.
async fn peer_answering(status: &str, content_type: &str, body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut buffer = [0u8; 4096];
                let _ = socket.read(&mut buffer).await;
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

fn unsigned_jwt(claims: serde_json::Value) -> String {
    use jsonwebtoken::{encode, EncodingKey, Header};
    encode(&Header::default(), &claims, &EncodingKey::from_secret(b"k")).unwrap()
}

async fn login_against(base: String) -> Result<(), TokenError> {
    let tokens =
        TokenManager::new(ServerProfile::simplejwt(base), Arc::new(MemoryStore::new())).unwrap();
    tokens.login("me", Secret::new("pw")).await
}

#[tokio::test]
async fn a_non_json_login_response_is_a_bad_response() {
    let base = peer_answering("200 OK", "text/plain", "maintenance".into()).await;
    let error = login_against(base).await.unwrap_err();
    assert!(
        matches!(error, TokenError::Auth(AuthError::BadResponse(_))),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_web_page_login_response_is_named_a_web_page() {
    let base = peer_answering("200 OK", "text/html", "<html>maintenance</html>".into()).await;
    let error = login_against(base).await.unwrap_err();
    assert!(
        matches!(error, TokenError::Auth(AuthError::WebPage { status: 200 })),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_jwt_without_exp_is_refused() {
    let access = unsigned_jwt(serde_json::json!({"sub": "1"}));
    let body = serde_json::json!({"access": access, "refresh": "r"}).to_string();
    let base = peer_answering("200 OK", "application/json", body).await;
    let error = login_against(base).await.unwrap_err();
    assert!(
        matches!(
            error,
            TokenError::Claims(kith_core::token::ClaimsError::MissingExpiry)
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_login_response_without_tokens_is_a_bad_response() {
    let base = peer_answering("200 OK", "application/json", "{\"ok\":true}".into()).await;
    let error = login_against(base).await.unwrap_err();
    assert!(
        matches!(error, TokenError::Auth(AuthError::BadResponse(_))),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_503_login_is_transient_and_a_closed_port_too() {
    let base = peer_answering("503 Service Unavailable", "text/plain", "busy".into()).await;
    let error = login_against(base).await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let error = login_against(format!("http://{closed}")).await.unwrap_err();
    assert!(error.is_transient(), "{error:?}");
}
