//! The fault knobs client tests use on the auth endpoints: arbitrary refresh statuses,
//! a refresh that rotates and then answers late, auth redirects, and asking whether a
//! refresh token is still accepted; in-process and over the HTTP admin API.

mod common;

use common::{admin_post, login, post, start_default};
use kith_server::RefreshMode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn refresh_of(v: &Value) -> String {
    v["refresh"].as_str().expect("refresh").to_owned()
}

#[tokio::test]
async fn status_mode_answers_that_status_without_rotating() {
    let (server, admin) = start_default().await;
    let url = format!("{}/api/auth/token/refresh/", server.http_url());
    let token = refresh_of(&login(&server, "alice", "pw").await);
    let client = no_redirects();
    for code in [403u16, 404, 407, 302, 200] {
        admin.set_refresh_mode(RefreshMode::Status(code));
        let resp = client
            .post(&url)
            .json(&json!({ "refresh": token }))
            .send()
            .await
            .expect("refresh");
        assert_eq!(resp.status().as_u16(), code);
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        assert_eq!(location.is_some(), code == 302, "Location only on 3xx");
        let text = resp.text().await.expect("body");
        assert!(
            serde_json::from_str::<Value>(&text).is_err(),
            "not JSON: {text}"
        );
        assert!(
            admin.refresh_token_is_valid(&token),
            "not rotated by {code}"
        );
    }
    admin.set_refresh_mode(RefreshMode::Normal);
    let (status, _) = post(&url, json!({ "refresh": token })).await;
    assert_eq!(status, 200);
    assert!(!admin.refresh_token_is_valid(&token));
    assert_eq!(admin.counters().refresh_reuse, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn a_late_answer_has_already_rotated() {
    let (server, admin) = start_default().await;
    let url = format!("{}/api/auth/token/refresh/", server.http_url());
    let token = refresh_of(&login(&server, "alice", "pw").await);
    admin.set_refresh_delay(Duration::from_secs(3));

    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .expect("client");
    let result = impatient
        .post(&url)
        .json(&json!({ "refresh": token }))
        .send()
        .await;
    assert!(result.is_err_and(|e| e.is_timeout()), "the answer is late");
    // The server rotated before it started waiting: the client's token is gone.
    let gone = async {
        while admin.refresh_token_is_valid(&token) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(common::WAIT, gone)
        .await
        .expect("the old token is blacklisted");

    // A patient client gets its answer, no earlier than the delay.
    admin.set_refresh_delay(Duration::from_millis(400));
    let fresh = refresh_of(&login(&server, "alice", "pw").await);
    let started = Instant::now();
    let (status, body) = post(&url, json!({ "refresh": fresh })).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(admin.refresh_token_is_valid(&refresh_of(&body)));

    // Retrying the lost rotation's token is reuse (no reuse interval in tests).
    admin.set_refresh_delay(Duration::ZERO);
    let (status, _) = post(&url, json!({ "refresh": token })).await;
    assert_eq!(status, 401);
    assert_eq!(admin.counters().refresh_reuse, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn auth_redirects_are_not_followed_and_consume_nothing() {
    let (server, admin) = start_default().await;
    let base = server.http_url();
    let token = refresh_of(&login(&server, "alice", "pw").await);
    let target = "http://127.0.0.1:9/elsewhere/";
    admin.set_auth_redirect(Some(target)).expect("redirect on");
    let client = no_redirects();
    for (path, body) in [
        (
            "/api/auth/login/",
            json!({ "username": "alice", "password": "pw" }),
        ),
        ("/api/auth/token/refresh/", json!({ "refresh": token })),
    ] {
        let resp = client
            .post(format!("{base}{path}"))
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status().as_u16(), 307, "{path}");
        assert_eq!(
            resp.headers().get("location").and_then(|v| v.to_str().ok()),
            Some(target)
        );
    }
    assert!(admin.refresh_token_is_valid(&token));
    assert_eq!(admin.counters().logins, 1, "only the first login counted");
    assert!(admin.set_auth_redirect(Some("bad\nvalue")).is_err());
    admin.set_auth_redirect(None).expect("redirect off");
    let (status, _) = post(
        &format!("{base}/api/auth/token/refresh/"),
        json!({ "refresh": token }),
    )
    .await;
    assert_eq!(status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn refresh_token_validity_check() {
    let (server, admin) = start_default().await;
    let tokens = login(&server, "alice", "pw").await;
    let refresh = refresh_of(&tokens);
    assert!(admin.refresh_token_is_valid(&refresh));
    assert!(!admin.refresh_token_is_valid(tokens["access"].as_str().expect("access")));
    assert!(!admin.refresh_token_is_valid("garbage"));
    assert!(!admin.refresh_token_is_valid(""));
    // Checking twice does not consume it.
    assert!(admin.refresh_token_is_valid(&refresh));
    server.shutdown().await;
}

#[tokio::test]
async fn the_knobs_over_the_http_admin_api() {
    let (server, admin) = start_default().await;
    let base = server.http_url();
    let url = format!("{base}/api/auth/token/refresh/");
    let auth = Some("test-admin");
    let token = refresh_of(&login(&server, "alice", "pw").await);

    let (status, body) = admin_post(
        &base,
        "/admin/refresh-valid",
        auth,
        json!({ "refresh": token }),
    )
    .await;
    assert_eq!((status, body), (200, json!({ "valid": true })));

    let (status, _) = admin_post(
        &base,
        "/admin/refresh-mode",
        auth,
        json!({ "mode": { "status": 404 } }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(post(&url, json!({ "refresh": token })).await.0, 404);
    let (status, _) = admin_post(
        &base,
        "/admin/refresh-mode",
        auth,
        json!({ "mode": "normal" }),
    )
    .await;
    assert_eq!(status, 200);

    let (status, _) = admin_post(
        &base,
        "/admin/auth-redirect",
        auth,
        json!({ "location": "http://127.0.0.1:9/x" }),
    )
    .await;
    assert_eq!(status, 200);
    let resp = no_redirects()
        .post(&url)
        .json(&json!({ "refresh": token }))
        .send()
        .await
        .expect("refresh");
    assert_eq!(resp.status().as_u16(), 307);
    let (status, _) = admin_post(
        &base,
        "/admin/auth-redirect",
        auth,
        json!({ "location": null }),
    )
    .await;
    assert_eq!(status, 200);

    let (status, _) = admin_post(&base, "/admin/refresh-delay", auth, json!({ "ms": 300 })).await;
    assert_eq!(status, 200);
    let started = Instant::now();
    assert_eq!(post(&url, json!({ "refresh": token })).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let (status, body) = admin_post(
        &base,
        "/admin/refresh-valid",
        auth,
        json!({ "refresh": token }),
    )
    .await;
    assert_eq!((status, body), (200, json!({ "valid": false })));
    assert!(!admin.refresh_token_is_valid(&token));
    server.shutdown().await;
}
