//! The per-user cap on open presence sockets: past it an upgrade with a token gets 429
//! with `Retry-After`, a first-message `auth` gets close 1013; other users are not
//! affected, and a closed socket frees its slot.

mod common;

use common::*;
use kith_server::ServerConfig;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite;

#[test]
fn caps_by_default() {
    assert_eq!(ServerConfig::default().max_sockets_per_user, 32);
    // The benchmarks sign one account in 1,000 times on the test configuration.
    assert!(ServerConfig::in_process().max_sockets_per_user >= 1000);
}

async fn wait_open_sockets(admin: &kith_server::AdminHandle, n: u64) {
    let wait = async {
        while admin.counters().open_sockets != n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, wait)
        .await
        .unwrap_or_else(|_| panic!("open_sockets never reached {n}"));
}

#[tokio::test]
async fn sockets_past_the_cap_are_refused() {
    let config = ServerConfig {
        max_sockets_per_user: 2,
        ..ServerConfig::in_process()
    };
    let (server, admin) = start(config).await;
    let alice = access_token(&server, "alice").await;
    let mut first = connect(&server, &alice).await;
    assert_eq!(next_json(&mut first).await["type"], "presence_snapshot");
    let mut second = connect_with(&server, Transport::Query, &alice).await;
    assert_eq!(next_json(&mut second).await["type"], "presence_snapshot");

    // A third with the token on the upgrade: 429 before any WebSocket.
    let refused = tokio_tungstenite::connect_async(ws_request(&server, Transport::Bearer, &alice))
        .await
        .expect_err("refused");
    match refused {
        tungstenite::Error::Http(resp) => {
            assert_eq!(resp.status().as_u16(), 429);
            let retry = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            assert!(retry.is_some_and(|s| s >= 1), "Retry-After {retry:?}");
        }
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }

    // A third authenticating with its first message: closed with 1013.
    let mut bare = connect_bare(&server).await;
    send_json(
        &mut bare,
        json!({ "type": "auth", "payload": { "token": alice } }),
    )
    .await;
    let (code, _reason) = expect_close(&mut bare, WAIT).await;
    assert_eq!(code, 1013);

    // Another user is not affected.
    let bob = access_token(&server, "bob").await;
    let mut bobs = connect(&server, &bob).await;
    assert_eq!(next_json(&mut bobs).await["type"], "presence_snapshot");
    assert_eq!(admin.counters().connects_over_cap, 2);

    // Closing one of alice's frees its slot.
    first.close(None).await.expect("close");
    wait_open_sockets(&admin, 2).await;
    let mut again = connect(&server, &alice).await;
    assert_eq!(next_json(&mut again).await["type"], "presence_snapshot");
    assert_eq!(admin.counters().connects_over_cap, 2);
    server.shutdown().await;
}

#[tokio::test]
async fn unauthenticated_sockets_do_not_take_slots() {
    let config = ServerConfig {
        max_sockets_per_user: 1,
        ..ServerConfig::in_process()
    };
    let (server, admin) = start(config).await;
    let alice = access_token(&server, "alice").await;
    let mut waiting = connect_bare(&server).await;
    let mut live = connect(&server, &alice).await;
    assert_eq!(next_json(&mut live).await["type"], "presence_snapshot");
    // In-band re-auth on the live socket is the same socket, not another one.
    send_json(
        &mut live,
        json!({ "type": "auth", "payload": { "token": alice } }),
    )
    .await;
    assert_eq!(next_json(&mut live).await["type"], "auth_success");
    send_json(
        &mut waiting,
        json!({ "type": "auth", "payload": { "token": alice } }),
    )
    .await;
    assert_eq!(expect_close(&mut waiting, WAIT).await.0, 1013);
    assert_eq!(admin.counters().connects_over_cap, 1);
    server.shutdown().await;
}
