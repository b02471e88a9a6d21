//! `GET /api/friends/` against a real server on 127.0.0.1: the friend list a client
//! reads after a reconnect when the socket sends no snapshot, and the snapshot switch
//! that makes the server such a backend.

mod common;

use common::{access_token, admin_post, connect, next, next_json, start_default, Next};
use serde_json::{json, Value};
use std::time::Duration;

async fn get_friends(url: &str, authorization: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let resp = request.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_friend_list_needs_a_valid_access_token() {
    let (server, admin) = start_default().await;
    let seq = admin.set_status("bob", "online").expect("status");
    let url = format!("{}/api/friends/", server.http_url());
    let token = access_token(&server, "alice").await;

    let (status, body) = get_friends(&url, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 200, "{body}");
    let friends = body.as_array().expect("a JSON array");
    let names: Vec<&str> = friends
        .iter()
        .filter_map(|f| f["username"].as_str())
        .collect();
    assert_eq!(names, ["bob", "carol"]);
    assert_eq!(friends[0]["status"], "online");
    assert_eq!(friends[0]["seq"], seq);
    assert_eq!(friends[1]["status"], "offline");
    assert!(friends[0]["user_id"].as_u64().is_some());
    assert!(friends[0]["last_seen"]
        .as_str()
        .is_some_and(|s| s.ends_with('Z')));
    // Without the trailing slash too.
    let (status, _) =
        get_friends(url.trim_end_matches('/'), Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 200);

    // Bob's own list holds only alice.
    let bob = access_token(&server, "bob").await;
    let (_, body) = get_friends(&url, Some(&format!("Bearer {bob}"))).await;
    assert_eq!(body.as_array().map(Vec::len), Some(1));
    assert_eq!(body[0]["username"], "alice");

    // No token, a bad one, a refresh token: 401.
    let (status, body) = get_friends(&url, None).await;
    assert_eq!(status, 401);
    assert!(body["detail"].is_string());
    let (status, _) = get_friends(&url, Some("Bearer not.a.token")).await;
    assert_eq!(status, 401);
    let refresh = common::login(&server, "alice", "pw").await["refresh"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let (status, body) = get_friends(&url, Some(&format!("Bearer {refresh}"))).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "token_not_valid");
    server.shutdown().await;
}

#[tokio::test]
async fn an_expired_access_token_gets_401() {
    let mut config = kith_server::ServerConfig::in_process();
    config.access_ttl = Duration::from_secs(1);
    let (server, _admin) = common::start(config).await;
    let token = access_token(&server, "alice").await;
    let url = format!("{}/api/friends/", server.http_url());
    let (status, _) = get_friends(&url, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, _) = get_friends(&url, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 401);
    server.shutdown().await;
}

#[tokio::test]
async fn with_snapshots_off_a_socket_gets_updates_only() {
    let (server, admin) = start_default().await;
    let token = access_token(&server, "alice").await;
    admin.set_snapshots(false);
    let mut ws = connect(&server, &token).await;
    assert!(
        next(&mut ws, Duration::from_millis(500)).await.is_none(),
        "no snapshot"
    );
    admin.set_status("bob", "away").expect("status");
    let update = next_json(&mut ws).await;
    assert_eq!(update["type"], "status_update");
    assert_eq!(update["status"], "away");
    // On again, over the admin HTTP API, for sockets that go live from now on.
    let (status, _) = admin_post(
        &server.http_url(),
        "/admin/snapshots",
        Some("test-admin"),
        json!({ "on": true }),
    )
    .await;
    assert_eq!(status, 200);
    let mut again = connect(&server, &token).await;
    let snapshot = next_json(&mut again).await;
    assert_eq!(snapshot["type"], "presence_snapshot");
    assert!(!matches!(
        next(&mut ws, Duration::from_millis(100)).await,
        Some(Next::Json(_))
    ));
    server.shutdown().await;
}
