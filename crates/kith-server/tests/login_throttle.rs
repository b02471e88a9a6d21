//! Login throttling against a real server: repeated failures for one username, or from
//! one address, get 429 with `Retry-After` (even with the right password), other users
//! and successful logins are not held back, and the window slides.

mod common;

use common::{post, start, start_default};
use kith_server::{LoginLimits, ServerConfig};
use serde_json::json;
use std::time::Duration;

fn with_limits(user: u32, addr: u32, window: Duration) -> ServerConfig {
    ServerConfig {
        login_limits: LoginLimits {
            max_failures_per_user: user,
            max_failures_per_addr: addr,
            window,
        },
        ..ServerConfig::in_process()
    }
}

async fn login_raw(base: &str, username: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/api/auth/login/"))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .expect("login request")
}

#[test]
fn ten_failures_a_minute_by_default() {
    let limits = ServerConfig::in_process().login_limits;
    assert_eq!(limits, ServerConfig::default().login_limits);
    assert_eq!(
        (
            limits.max_failures_per_user,
            limits.max_failures_per_addr,
            limits.window
        ),
        (10, 10, Duration::from_secs(60))
    );
}

#[tokio::test]
async fn failures_for_one_user_throttle_that_user() {
    let (server, admin) = start(with_limits(3, 1000, Duration::from_secs(60))).await;
    let base = server.http_url();
    for _ in 0..3 {
        assert_eq!(login_raw(&base, "alice", "wrong").await.status(), 401);
    }
    let resp = login_raw(&base, "alice", "pw").await;
    assert_eq!(resp.status(), 429, "even the right password waits");
    let retry: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("numeric Retry-After");
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let body: serde_json::Value = resp.json().await.expect("json");
    assert!(body["detail"].is_string());
    assert_eq!(login_raw(&base, "bob", "pw").await.status(), 200);
    let c = admin.counters();
    assert_eq!((c.logins_rejected, c.logins_throttled, c.logins), (3, 1, 1));
    server.shutdown().await;
}

#[tokio::test]
async fn failures_from_one_address_throttle_every_user_there() {
    let (server, admin) = start(with_limits(1000, 3, Duration::from_secs(60))).await;
    let base = server.http_url();
    for name in ["alice", "bob", "nobody"] {
        assert_eq!(login_raw(&base, name, "wrong").await.status(), 401);
    }
    assert_eq!(login_raw(&base, "carol", "pw").await.status(), 429);
    assert_eq!(admin.counters().logins_throttled, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn successful_logins_are_never_counted() {
    let (server, admin) = start_default().await;
    let url = format!("{}/api/auth/login/", server.http_url());
    for _ in 0..40 {
        let (status, _) = post(&url, json!({ "username": "alice", "password": "pw" })).await;
        assert_eq!(status, 200);
    }
    assert_eq!(admin.counters().logins_throttled, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn the_throttle_lifts_when_the_window_passes() {
    let (server, _admin) = start(with_limits(2, 1000, Duration::from_millis(700))).await;
    let base = server.http_url();
    for _ in 0..2 {
        assert_eq!(login_raw(&base, "alice", "wrong").await.status(), 401);
    }
    assert_eq!(login_raw(&base, "alice", "pw").await.status(), 429);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(login_raw(&base, "alice", "pw").await.status(), 200);
    server.shutdown().await;
}
