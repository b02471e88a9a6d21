//! The refresh reuse interval against a real server: a just-rotated refresh token
//! presented again within the interval gets the same successor and is not counted as
//! reuse; outside it, after its successor is used up, or with the interval off, it is.

mod common;

use common::{login, post, start, start_default};
use kith_server::ServerConfig;
use serde_json::{json, Value};
use std::time::Duration;

fn with_grace(interval: Duration) -> ServerConfig {
    ServerConfig {
        reuse_interval: interval,
        ..ServerConfig::in_process()
    }
}

fn refresh_url(server: &kith_server::RunningServer) -> String {
    format!("{}/api/auth/token/refresh/", server.http_url())
}

fn str_of(v: &Value, field: &str) -> String {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {v}"))
        .to_owned()
}

#[test]
fn tests_are_strict_and_the_binary_is_lenient() {
    assert_eq!(ServerConfig::in_process().reuse_interval, Duration::ZERO);
    assert_eq!(
        ServerConfig::default().reuse_interval,
        Duration::from_secs(30)
    );
}

#[tokio::test]
async fn re_presentation_within_the_interval_gets_the_same_successor() {
    let (server, admin) = start(with_grace(Duration::from_secs(30))).await;
    let url = refresh_url(&server);
    let old = str_of(&login(&server, "alice", "pw").await, "refresh");

    let (status, first) = post(&url, json!({ "refresh": old })).await;
    assert_eq!(status, 200);
    let (status, again) = post(&url, json!({ "refresh": old })).await;
    assert_eq!(status, 200, "within the interval: {again}");
    assert_eq!(str_of(&again, "refresh"), str_of(&first, "refresh"));
    assert_eq!(str_of(&again, "access"), str_of(&first, "access"));
    assert_eq!(again["token"], again["access"]);
    let c = admin.counters();
    assert_eq!(
        (
            c.refresh_reuse,
            c.refresh_reuse_within_grace,
            c.refresh_rejected
        ),
        (0, 1, 0)
    );

    // The successor is the live token: it rotates once, and after that the old token's
    // grace is over (its successor is used up), so the old one is reuse.
    let successor = str_of(&first, "refresh");
    assert!(admin.refresh_token_is_valid(&successor));
    assert!(!admin.refresh_token_is_valid(&old));
    let (status, _) = post(&url, json!({ "refresh": successor })).await;
    assert_eq!(status, 200);
    let (status, body) = post(&url, json!({ "refresh": old })).await;
    assert_eq!(status, 401);
    assert_eq!(body["code"], "token_not_valid");
    let c = admin.counters();
    assert_eq!((c.refresh_reuse, c.refresh_reuse_within_grace), (1, 1));
    server.shutdown().await;
}

#[tokio::test]
async fn concurrent_presentations_share_one_rotation() {
    let (server, admin) = start(with_grace(Duration::from_secs(30))).await;
    let url = refresh_url(&server);
    let old = str_of(&login(&server, "alice", "pw").await, "refresh");
    let tries: Vec<_> = (0..4)
        .map(|_| {
            let (url, old) = (url.clone(), old.clone());
            tokio::spawn(async move { post(&url, json!({ "refresh": old })).await })
        })
        .collect();
    let mut refreshes = Vec::new();
    for t in tries {
        let (status, body) = t.await.expect("task");
        assert_eq!(status, 200, "{body}");
        refreshes.push(str_of(&body, "refresh"));
    }
    refreshes.dedup();
    assert_eq!(refreshes.len(), 1, "one successor for all: {refreshes:?}");
    let c = admin.counters();
    assert_eq!((c.refresh_reuse, c.refresh_reuse_within_grace), (0, 3));
    server.shutdown().await;
}

#[tokio::test]
async fn after_the_interval_it_is_reuse() {
    let (server, admin) = start(with_grace(Duration::from_millis(500))).await;
    let url = refresh_url(&server);
    let old = str_of(&login(&server, "alice", "pw").await, "refresh");
    let (status, _) = post(&url, json!({ "refresh": old })).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (status, _) = post(&url, json!({ "refresh": old })).await;
    assert_eq!(status, 401);
    let c = admin.counters();
    assert_eq!((c.refresh_reuse, c.refresh_reuse_within_grace), (1, 0));
    server.shutdown().await;
}

#[tokio::test]
async fn logout_of_the_successor_ends_the_grace() {
    let (server, admin) = start(with_grace(Duration::from_secs(30))).await;
    let url = refresh_url(&server);
    let old = str_of(&login(&server, "alice", "pw").await, "refresh");
    let (status, rotated) = post(&url, json!({ "refresh": old })).await;
    assert_eq!(status, 200);
    let resp = reqwest::Client::new()
        .post(format!("{}/api/auth/logout/", server.http_url()))
        .bearer_auth(str_of(&rotated, "access"))
        .json(&json!({ "refresh": rotated["refresh"] }))
        .send()
        .await
        .expect("logout");
    assert_eq!(resp.status(), 205);
    let (status, _) = post(&url, json!({ "refresh": old })).await;
    assert_eq!(status, 401, "a logged-out session does not come back");
    assert_eq!(admin.counters().refresh_reuse, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn a_zero_interval_counts_every_re_presentation() {
    let (server, admin) = start_default().await;
    let url = refresh_url(&server);
    let old = str_of(&login(&server, "alice", "pw").await, "refresh");
    let (status, _) = post(&url, json!({ "refresh": old })).await;
    assert_eq!(status, 200);
    let (status, _) = post(&url, json!({ "refresh": old })).await;
    assert_eq!(status, 401);
    let c = admin.counters();
    assert_eq!((c.refresh_reuse, c.refresh_reuse_within_grace), (1, 0));
    server.shutdown().await;
}
