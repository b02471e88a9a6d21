//! Helpers shared by the integration tests: start a server with a small world, log in,
//! open WebSockets with each auth transport and read what comes back, with timeouts so a
//! broken server fails a test instead of hanging it.

#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use kith_server::{AdminHandle, RunningServer, ServerConfig};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Long enough for anything the server should do "at once".
pub const WAIT: Duration = Duration::from_secs(5);

/// A server with alice, bob and carol (password "pw"); alice is friends with bob and
/// carol, bob and carol are not friends.
pub async fn start(config: ServerConfig) -> (RunningServer, AdminHandle) {
    let server = kith_server::spawn(config).await.expect("server starts");
    let admin = server.admin();
    for name in ["alice", "bob", "carol"] {
        admin.create_user(name, "pw").expect("create user");
    }
    admin.befriend("alice", "bob").expect("befriend");
    admin.befriend("alice", "carol").expect("befriend");
    (server, admin)
}

pub async fn start_default() -> (RunningServer, AdminHandle) {
    start(ServerConfig::in_process()).await
}

/// Logs in and returns the JSON body.
pub async fn login(server: &RunningServer, username: &str, password: &str) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/auth/login/", server.http_url()))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .expect("login request");
    assert_eq!(resp.status(), 200, "login as {username}");
    resp.json().await.expect("login json")
}

/// Logs in and returns the access token.
pub async fn access_token(server: &RunningServer, username: &str) -> String {
    login(server, username, "pw").await["access"]
        .as_str()
        .expect("access token")
        .to_owned()
}

/// POSTs JSON and returns status and body (`Null` for an empty body).
pub async fn post(url: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// POSTs JSON to an admin route with an optional bearer token; status and JSON body.
pub async fn admin_post(
    server: &str,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{server}{path}"))
        .json(&body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// How the token travels on the upgrade request.
#[derive(Debug, Clone, Copy)]
pub enum Transport {
    Bearer,
    Subprotocol,
    Cookie,
    Query,
}

/// Builds the upgrade request for `token` over `transport`.
pub fn ws_request(
    server: &RunningServer,
    transport: Transport,
    token: &str,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let url = match transport {
        Transport::Query => format!("{}?token={token}", server.ws_url()),
        _ => server.ws_url(),
    };
    let mut req = url.into_client_request().expect("request");
    let headers = req.headers_mut();
    let value = |s: String| HeaderValue::from_str(&s).expect("header value");
    match transport {
        Transport::Bearer => {
            headers.insert("authorization", value(format!("Bearer {token}")));
        }
        Transport::Subprotocol => {
            headers.insert(
                "sec-websocket-protocol",
                value(format!("access_token, {token}")),
            );
        }
        Transport::Cookie => {
            headers.insert("cookie", value(format!("access_token={token}")));
        }
        Transport::Query => {}
    }
    req
}

/// Connects with the token as a bearer header.
pub async fn connect(server: &RunningServer, token: &str) -> Ws {
    connect_with(server, Transport::Bearer, token).await
}

pub async fn connect_with(server: &RunningServer, transport: Transport, token: &str) -> Ws {
    let req = ws_request(server, transport, token);
    let (ws, _resp) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
        .await
        .expect("connect in time")
        .expect("connect");
    ws
}

/// Connects without any token (first-message auth).
pub async fn connect_bare(server: &RunningServer) -> Ws {
    let (ws, _resp) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(server.ws_url()))
        .await
        .expect("connect in time")
        .expect("connect");
    ws
}

/// What came next on a socket, ping/pong frames skipped.
#[derive(Debug)]
pub enum Next {
    Json(Value),
    Closed(Option<(u16, String)>),
}

pub async fn next(ws: &mut Ws, within: Duration) -> Option<Next> {
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    return Next::Json(serde_json::from_str(t.as_str()).expect("server sent JSON"))
                }
                Some(Ok(Message::Close(frame))) => {
                    // Keep reading so tungstenite sends our half of the closing handshake.
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        while ws.next().await.is_some() {}
                    })
                    .await;
                    return Next::Closed(
                        frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())),
                    );
                }
                Some(Ok(Message::Binary(_))) => panic!("server sent a binary frame"),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Next::Closed(None),
            }
        }
    };
    tokio::time::timeout(within, read).await.ok()
}

/// The next JSON message, failing the test on close or timeout.
pub async fn next_json(ws: &mut Ws) -> Value {
    match next(ws, WAIT).await {
        Some(Next::Json(v)) => v,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// Waits for the close frame and returns its code and reason.
pub async fn expect_close(ws: &mut Ws, within: Duration) -> (u16, String) {
    loop {
        match next(ws, within).await {
            Some(Next::Closed(Some(frame))) => return frame,
            Some(Next::Closed(None)) => panic!("connection ended without a close frame"),
            Some(Next::Json(v)) => {
                // Status updates may still be in flight; anything else is a surprise.
                assert_eq!(v["type"], "status_update", "unexpected message {v}");
            }
            None => panic!("no close within {within:?}"),
        }
    }
}

pub async fn send_json(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .expect("send");
}

/// The `exp` claim of a JWT (read without verifying: the test only needs the number).
pub fn exp_of(token: &str) -> f64 {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.insecure_disable_signature_validation();
    validation.validate_exp = false;
    let data = jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(&[]),
        &validation,
    )
    .expect("decodable JWT");
    data.claims["exp"].as_f64().expect("exp claim")
}

pub fn now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// Sleeps until the Unix time `at`.
pub async fn sleep_until_unix(at: f64) {
    let d = at - now_f64();
    if d > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(d)).await;
    }
}

/// A unique path in the temp dir for a SQLite file.
pub fn temp_db(name: &str) -> std::path::PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "kith-server-{name}-{}-{nanos}.sqlite3",
        std::process::id()
    ))
}

/// Removes a SQLite file and its WAL companions.
pub fn remove_db(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}
