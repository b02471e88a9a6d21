//! The HTTP auth API against a real server on 127.0.0.1: login, refresh rotation and
//! reuse detection, cookies, verify, logout and the refresh fault modes.

mod common;

use common::{login, post, start_default};
use kith_server::RefreshMode;
use serde_json::json;

#[tokio::test]
async fn login_returns_tokens_cookie_and_date() {
    let (server, admin) = start_default().await;
    let resp = reqwest::Client::new()
        .post(format!("{}/api/auth/login/", server.http_url()))
        .json(&json!({ "username": "alice", "password": "pw" }))
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("date"), "Date header is sent");
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("set-cookie")
        .to_owned();
    let body: serde_json::Value = resp.json().await.expect("json");
    let refresh = body["refresh"].as_str().expect("refresh");
    assert!(cookie.starts_with(&format!("refresh_token={refresh};")));
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("Path=/api/auth/"));
    assert_eq!(body["token"], body["access"]);
    assert_eq!(body["user"]["username"], "alice");
    assert!(body["user"]["id"].as_u64().is_some());
    assert_eq!(admin.counters().logins, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn bad_credentials_and_bad_bodies() {
    let (server, admin) = start_default().await;
    let url = format!("{}/api/auth/login/", server.http_url());
    let (status, body) = post(&url, json!({ "username": "alice", "password": "nope" })).await;
    assert_eq!(status, 401);
    assert_eq!(
        body["detail"],
        "No active account found with the given credentials"
    );
    let (status, _) = post(&url, json!({ "username": "nobody", "password": "pw" })).await;
    assert_eq!(status, 401);
    let (status, body) = post(&url, json!({ "username": "alice" })).await;
    assert_eq!(status, 400);
    assert!(body["detail"].is_string());
    let resp = reqwest::Client::new()
        .post(&url)
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.expect("json");
    assert!(body["detail"].is_string());
    assert_eq!(admin.counters().logins, 0);
    assert_eq!(admin.counters().logins_rejected, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn refresh_rotates_and_counts_reuse() {
    let (server, admin) = start_default().await;
    let url = format!("{}/api/auth/token/refresh/", server.http_url());
    let first = login(&server, "alice", "pw").await;
    let old = first["refresh"].as_str().expect("refresh").to_owned();

    let (status, body) = post(&url, json!({ "refresh": old })).await;
    assert_eq!(status, 200);
    let new = body["refresh"]
        .as_str()
        .expect("rotated refresh")
        .to_owned();
    assert_ne!(new, old);
    assert_eq!(body["token"], body["access"]);
    assert!(body["access"].is_string());

    // The old one is blacklisted: presenting it again is reuse.
    let (status, body) = post(&url, json!({ "refresh": old })).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "token_not_valid");
    assert_eq!(body["detail"], "Token is invalid or expired");

    // The rotated one still works once.
    let (status, _) = post(&url, json!({ "refresh": new })).await;
    assert_eq!(status, 200);

    let c = admin.counters();
    assert_eq!(c.refreshes, 3);
    assert_eq!(c.refresh_rejected, 1);
    assert_eq!(c.refresh_reuse, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn refresh_from_cookie_rotates_the_cookie() {
    let (server, _admin) = start_default().await;
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let resp = client
        .post(format!("{}/api/auth/login/", server.http_url()))
        .json(&json!({ "username": "bob", "password": "pw" }))
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status(), 200);
    let mut last = String::new();
    for _ in 0..2 {
        // No body at all: the cookie carries the refresh token.
        let resp = client
            .post(format!("{}/api/auth/token/refresh/", server.http_url()))
            .send()
            .await
            .expect("refresh");
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = resp.json().await.expect("json");
        let refresh = body["refresh"].as_str().expect("refresh").to_owned();
        assert_ne!(refresh, last);
        last = refresh;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn token_types_are_not_interchangeable() {
    let (server, _admin) = start_default().await;
    let tokens = login(&server, "alice", "pw").await;
    let base = server.http_url();
    let (status, _) = post(
        &format!("{base}/api/auth/token/refresh/"),
        json!({ "refresh": tokens["access"] }),
    )
    .await;
    assert_eq!(status, 401, "an access token cannot be rotated");
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/auth/logout/"))
        .bearer_auth(tokens["refresh"].as_str().expect("refresh"))
        .json(&json!({ "refresh": tokens["refresh"] }))
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), 401, "a refresh token is not a bearer");
    server.shutdown().await;
}

#[tokio::test]
async fn verify_accepts_valid_tokens_only() {
    let (server, _admin) = start_default().await;
    let tokens = login(&server, "alice", "pw").await;
    let url = format!("{}/api/auth/token/verify/", server.http_url());
    let (status, body) = post(&url, json!({ "token": tokens["access"] })).await;
    assert_eq!((status, body), (200, json!({})));
    let (status, _) = post(&url, json!({ "token": tokens["refresh"] })).await;
    assert_eq!(status, 200);
    let (status, body) = post(&url, json!({ "token": "garbage" })).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "token_not_valid");
    let (status, _) = post(&url, json!({})).await;
    assert_eq!(status, 400);
    // A rotated-away refresh token no longer verifies.
    let (status, _) = post(
        &format!("{}/api/auth/token/refresh/", server.http_url()),
        json!({ "refresh": tokens["refresh"] }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = post(&url, json!({ "token": tokens["refresh"] })).await;
    assert_eq!(status, 401);
    server.shutdown().await;
}

#[tokio::test]
async fn logout_blacklists_the_refresh_token() {
    let (server, _admin) = start_default().await;
    let tokens = login(&server, "carol", "pw").await;
    let base = server.http_url();
    let client = reqwest::Client::new();

    let resp = client
        .post(format!("{base}/api/auth/logout/"))
        .json(&json!({ "refresh": tokens["refresh"] }))
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), 401, "logout needs a bearer");

    let resp = client
        .post(format!("{base}/api/auth/logout/"))
        .bearer_auth(tokens["access"].as_str().expect("access"))
        .json(&json!({ "refresh": tokens["refresh"] }))
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), 205);

    let (status, body) = post(
        &format!("{base}/api/auth/token/refresh/"),
        json!({ "refresh": tokens["refresh"] }),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "token_not_valid");
    server.shutdown().await;
}

#[tokio::test]
async fn refresh_modes_fail_on_demand() {
    let (server, admin) = start_default().await;
    let url = format!("{}/api/auth/token/refresh/", server.http_url());
    let tokens = login(&server, "alice", "pw").await;
    let body = json!({ "refresh": tokens["refresh"] });

    admin.set_refresh_mode(RefreshMode::Reject);
    let (status, resp) = post(&url, body.clone()).await;
    assert_eq!(status, 401);
    assert_eq!(resp["code"], "token_not_valid");

    admin.set_refresh_mode(RefreshMode::Fail500);
    let (status, _) = post(&url, body.clone()).await;
    assert_eq!(status, 500);

    // Neither failure consumed the token.
    admin.set_refresh_mode(RefreshMode::Normal);
    let (status, _) = post(&url, body).await;
    assert_eq!(status, 200);

    let c = admin.counters();
    assert_eq!(
        (c.refreshes, c.refresh_rejected, c.refresh_reuse),
        (3, 1, 0)
    );
    server.shutdown().await;
}
