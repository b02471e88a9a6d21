//! The admin HTTP API's access rules and operations, persistence across a restart on
//! the same address and SQLite file, demo seeding, and the `kith-server` binary itself.

mod common;

use common::*;
use kith_server::{ServerConfig, DEMO_PASSWORD, DEMO_USER};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test]
async fn admin_api_refuses_a_wrong_or_missing_token() {
    let (server, admin) = start_default().await;
    let base = server.http_url();
    let body = json!({ "username": "mallory", "password": "pw" });
    let (status, _) = admin_post(&base, "/admin/users", Some("wrong"), body.clone()).await;
    assert_eq!(status, 403);
    let (status, _) = admin_post(&base, "/admin/users", None, body.clone()).await;
    assert_eq!(status, 403);
    let resp = reqwest::Client::new()
        .get(format!("{base}/admin/counters"))
        .bearer_auth("wrong")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 403);
    let (status, _) = post(
        &format!("{base}/api/auth/login/"),
        json!({ "username": "mallory", "password": "pw" }),
    )
    .await;
    assert_eq!(status, 401, "the refused request created nothing");
    assert_eq!(admin.counters().logins, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn admin_api_drives_the_world() {
    let (server, _admin) = start_default().await;
    let base = server.http_url();
    let t = Some("test-admin");
    let (status, body) = admin_post(
        &base,
        "/admin/users",
        t,
        json!({ "username": "dave", "password": "pw" }),
    )
    .await;
    assert_eq!(status, 200);
    assert!(body["id"].as_u64().is_some());
    let (status, _) = admin_post(
        &base,
        "/admin/users",
        t,
        json!({ "username": "dave", "password": "pw" }),
    )
    .await;
    assert_eq!(status, 409);
    let (status, _) = admin_post(
        &base,
        "/admin/friends",
        t,
        json!({ "a": "dave", "b": "alice" }),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = admin_post(
        &base,
        "/admin/friends",
        t,
        json!({ "a": "dave", "b": "zed" }),
    )
    .await;
    assert_eq!(status, 404);

    let mut ws = connect(&server, &access_token(&server, "alice").await).await;
    next_json(&mut ws).await;
    let (status, body) = admin_post(
        &base,
        "/admin/status",
        t,
        json!({ "username": "dave", "status": "online" }),
    )
    .await;
    assert_eq!(status, 200);
    let update = next_json(&mut ws).await;
    assert_eq!(update["username"], "dave");
    assert_eq!(update["seq"], body["seq"]);

    for (path, body) in [
        ("/admin/refresh-mode", json!({ "mode": "fail500" })),
        ("/admin/refresh-mode", json!({ "mode": "normal" })),
        ("/admin/ws-auth", json!({ "reject_all": false })),
        ("/admin/silent", json!({ "on": false })),
    ] {
        assert_eq!(admin_post(&base, path, t, body).await.0, 200, "{path}");
    }
    assert_eq!(
        admin_post(
            &base,
            "/admin/refresh-mode",
            t,
            json!({ "mode": "sideways" })
        )
        .await
        .0,
        400
    );
    let (status, _) = admin_post(
        &base,
        "/admin/drop",
        t,
        json!({ "code": 4003, "reason": "bye" }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(expect_close(&mut ws, WAIT).await.0, 4003);

    let counters: Value = reqwest::Client::new()
        .get(format!("{base}/admin/counters"))
        .bearer_auth("test-admin")
        .send()
        .await
        .expect("counters")
        .json()
        .await
        .expect("json");
    assert_eq!(counters["logins"], 1);
    assert_eq!(counters["connects_accepted"], 1);
    server.shutdown().await;
}

#[tokio::test]
async fn no_admin_token_means_no_admin_api() {
    let config = ServerConfig {
        admin_token: None,
        ..ServerConfig::in_process()
    };
    let server = kith_server::spawn(config).await.expect("spawn");
    let (status, _) = admin_post(
        &server.http_url(),
        "/admin/users",
        Some("test-admin"),
        json!({ "username": "x", "password": "y" }),
    )
    .await;
    assert_eq!(status, 404);
    server.shutdown().await;
}

#[tokio::test]
async fn restart_on_the_same_file_keeps_sessions() {
    let path = temp_db("restart");
    let config = ServerConfig {
        db_path: Some(path.clone()),
        ..ServerConfig::in_process()
    };
    let (server, admin) = start(config.clone()).await;
    let addr = server.addr();
    let tokens = login(&server, "alice", "pw").await;
    let seq = admin.set_status("bob", "away").expect("status");
    // Rotate once so there is a blacklisted token to remember too.
    let (status, rotated) = post(
        &format!("{}/api/auth/token/refresh/", server.http_url()),
        json!({ "refresh": tokens["refresh"] }),
    )
    .await;
    assert_eq!(status, 200);
    let mut ws = connect(&server, &access_token(&server, "alice").await).await;
    next_json(&mut ws).await;
    server.shutdown().await;
    assert_eq!(expect_close(&mut ws, WAIT).await.0, 1001);

    // Same address, same file, at once.
    let server = kith_server::spawn(ServerConfig {
        bind: addr,
        ..config
    })
    .await
    .expect("re-spawn on the same address");
    let admin = server.admin();
    assert_eq!(server.addr(), addr);
    let url = format!("{}/api/auth/token/refresh/", server.http_url());
    let (status, _) = post(&url, json!({ "refresh": tokens["refresh"] })).await;
    assert_eq!(status, 401, "the blacklist survived");
    let (status, _) = post(&url, json!({ "refresh": rotated["refresh"] })).await;
    assert_eq!(status, 200, "the rotated refresh token survived");
    assert_eq!(admin.counters().refresh_reuse, 1);

    // Old access tokens still verify (same secret) and the sequence continues.
    let mut ws = connect(&server, rotated["access"].as_str().expect("access")).await;
    let snap = next_json(&mut ws).await;
    assert_eq!(snap["seq"].as_u64(), Some(seq));
    assert_eq!(admin.set_status("bob", "online").expect("status"), seq + 1);
    assert!(admin.create_user("alice", "pw").is_err(), "users survived");
    server.shutdown().await;
    remove_db(&path);
}

#[tokio::test]
async fn demo_seeding_is_idempotent_and_lively() {
    let path = temp_db("demo");
    let config = ServerConfig {
        db_path: Some(path.clone()),
        demo: true,
        ..ServerConfig::in_process()
    };
    let server = kith_server::spawn(config.clone()).await.expect("spawn");
    server.shutdown().await;
    let server = kith_server::spawn(config).await.expect("spawn again");
    let token = login(&server, DEMO_USER, DEMO_PASSWORD).await["access"]
        .as_str()
        .expect("access")
        .to_owned();
    let mut ws = connect(&server, &token).await;
    let snap = next_json(&mut ws).await;
    let friends = snap["friends"].as_array().expect("friends");
    assert_eq!(friends.len(), 8);
    let statuses: std::collections::HashSet<&str> = friends
        .iter()
        .filter_map(|f| f["status"].as_str())
        .collect();
    assert!(statuses.len() > 1, "mixed statuses: {statuses:?}");
    // The demo task changes someone every 2-4 s.
    let update = tokio::time::timeout(Duration::from_secs(6), next_json(&mut ws))
        .await
        .expect("a demo update");
    assert_eq!(update["type"], "status_update");
    assert!(update["seq"].as_u64() > snap["seq"].as_u64());
    server.shutdown().await;
    remove_db(&path);
}

#[cfg(unix)]
#[test]
fn binary_prints_its_address_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kith-server"))
        .args(["--bind", "127.0.0.1:0", "--access-ttl", "30s"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kith-server");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the first line");
    let url = line
        .trim()
        .strip_prefix("kith-server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let port = url.rsplit(':').next().expect("port");
    assert!(port.parse::<u16>().is_ok_and(|p| p != 0));

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "clean exit on SIGTERM: {status}");
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("kith-server did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
