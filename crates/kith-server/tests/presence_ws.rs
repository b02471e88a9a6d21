//! The presence WebSocket against a real server on 127.0.0.1: every auth transport,
//! first-message auth, snapshots and ordered updates, expiry and in-band re-auth, bad
//! input, and the admin fault switches (drop, silent, reject all, shutdown).

mod common;

use common::*;
use futures_util::SinkExt;
use kith_server::ServerConfig;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::{self, Message};

#[tokio::test]
async fn every_transport_gets_a_snapshot() {
    let (server, admin) = start_default().await;
    admin.set_status("bob", "online").expect("status");
    let token = access_token(&server, "alice").await;
    for transport in [
        Transport::Bearer,
        Transport::Subprotocol,
        Transport::Cookie,
        Transport::Query,
    ] {
        let req = ws_request(&server, transport, &token);
        let (mut ws, resp) = tokio_tungstenite::connect_async(req)
            .await
            .unwrap_or_else(|e| panic!("{transport:?} connects: {e}"));
        if let Transport::Subprotocol = transport {
            assert_eq!(
                resp.headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok()),
                Some("access_token")
            );
        }
        let snap = next_json(&mut ws).await;
        assert_eq!(snap["type"], "presence_snapshot", "{transport:?}");
        assert_eq!(snap["seq"], 1);
        let friends = snap["friends"].as_array().expect("friends");
        let names: Vec<&str> = friends
            .iter()
            .filter_map(|f| f["username"].as_str())
            .collect();
        assert_eq!(names, ["bob", "carol"]);
        assert_eq!(friends[0]["status"], "online");
        assert_eq!(friends[0]["seq"], 1);
        assert_eq!(friends[1]["status"], "offline");
        assert_eq!(friends[1]["seq"], 0);
        assert!(friends[1]["last_seen"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z') && s.len() == 20));
        assert!(friends[1]["user_id"].as_u64().is_some());
    }
    assert_eq!(admin.counters().connects_accepted, 4);
    server.shutdown().await;
}

#[tokio::test]
async fn bad_tokens_on_the_upgrade_get_401() {
    let (server, admin) = start_default().await;
    let tokens = login(&server, "alice", "pw").await;
    let refresh = tokens["refresh"].as_str().expect("refresh");
    for token in ["garbage", refresh] {
        let req = ws_request(&server, Transport::Query, token);
        match tokio_tungstenite::connect_async(req).await {
            Err(tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), 401);
                let body: serde_json::Value =
                    serde_json::from_slice(resp.body().as_deref().unwrap_or_default())
                        .expect("JSON body");
                assert!(body["detail"].is_string());
            }
            other => panic!("expected a 401, got {other:?}"),
        }
    }
    assert_eq!(admin.counters().connects_rejected, 2);

    // The reject-all switch refuses even a good token.
    admin.set_ws_auth_rejects_all(true);
    let token = tokens["access"].as_str().expect("access");
    let req = ws_request(&server, Transport::Bearer, token);
    assert!(matches!(
        tokio_tungstenite::connect_async(req).await,
        Err(tungstenite::Error::Http(resp)) if resp.status() == 401
    ));
    admin.set_ws_auth_rejects_all(false);
    let mut ws = connect(&server, token).await;
    assert_eq!(next_json(&mut ws).await["type"], "presence_snapshot");
    // A client that does not answer our close frame would make shutdown wait for it.
    drop(ws);
    server.shutdown().await;
}

#[tokio::test]
async fn first_message_auth() {
    let (server, admin) = start_default().await;
    let token = access_token(&server, "alice").await;

    let mut ws = connect_bare(&server).await;
    send_json(
        &mut ws,
        json!({ "type": "auth", "payload": { "token": token } }),
    )
    .await;
    assert_eq!(next_json(&mut ws).await, json!({ "type": "auth_success" }));
    assert_eq!(next_json(&mut ws).await["type"], "presence_snapshot");
    drop(ws);

    let mut ws = connect_bare(&server).await;
    send_json(
        &mut ws,
        json!({ "type": "auth", "payload": { "token": "nope" } }),
    )
    .await;
    let reply = next_json(&mut ws).await;
    assert_eq!(reply["type"], "auth_error");
    assert!(reply["message"].is_string());
    assert_eq!(expect_close(&mut ws, WAIT).await.0, 4001);

    // Anything but auth first is refused the same way.
    let mut ws = connect_bare(&server).await;
    send_json(&mut ws, json!({ "type": "PING" })).await;
    assert_eq!(next_json(&mut ws).await["type"], "auth_error");
    assert_eq!(expect_close(&mut ws, WAIT).await.0, 4001);

    let c = admin.counters();
    assert_eq!((c.connects_accepted, c.connects_rejected), (1, 2));
    server.shutdown().await;
}

#[tokio::test]
async fn status_updates_arrive_in_order_to_friends_only() {
    let (server, admin) = start_default().await;
    let mut alice = connect(&server, &access_token(&server, "alice").await).await;
    let mut bob = connect(&server, &access_token(&server, "bob").await).await;
    let snap = next_json(&mut alice).await;
    assert_eq!(snap["seq"], 0);
    assert_eq!(next_json(&mut bob).await["type"], "presence_snapshot");

    let mut seqs = Vec::new();
    for status in ["online", "away", "offline", "online"] {
        seqs.push(admin.set_status("bob", status).expect("bob"));
        seqs.push(admin.set_status("carol", status).expect("carol"));
    }
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
    let mut got = Vec::new();
    for _ in 0..seqs.len() {
        let m = next_json(&mut alice).await;
        assert_eq!(m["type"], "status_update");
        assert!(m["last_seen"].is_string() && m["user_id"].is_u64());
        got.push(m["seq"].as_u64().expect("seq"));
    }
    assert_eq!(got, seqs);

    // bob is not carol's friend: he hears nothing about her, and alice's change reaches him.
    let seq = admin.set_status("alice", "away").expect("alice");
    let m = next_json(&mut bob).await;
    assert_eq!(
        (&m["type"], &m["username"], &m["status"], m["seq"].as_u64()),
        (
            &json!("status_update"),
            &json!("alice"),
            &json!("away"),
            Some(seq)
        )
    );

    // A friendship made while connected takes effect at once.
    admin.befriend("bob", "carol").expect("befriend");
    let seq = admin.set_status("carol", "away").expect("carol");
    assert_eq!(next_json(&mut bob).await["seq"].as_u64(), Some(seq));
    drop((alice, bob));
    server.shutdown().await;
}

#[tokio::test]
async fn ping_gets_pong_and_bad_input_is_answered() {
    let (server, _admin) = start_default().await;
    let mut ws = connect(&server, &access_token(&server, "alice").await).await;
    next_json(&mut ws).await;

    send_json(&mut ws, json!({ "type": "PING" })).await;
    assert_eq!(next_json(&mut ws).await, json!({ "type": "PONG" }));

    ws.send(Message::Text("{nope".into())).await.expect("send");
    let m = next_json(&mut ws).await;
    assert_eq!(
        (&m["type"], &m["code"]),
        (&json!("error"), &json!("malformed"))
    );

    send_json(&mut ws, json!({ "type": "dance" })).await;
    let m = next_json(&mut ws).await;
    assert_eq!(m["code"], "unknown_type");

    send_json(&mut ws, json!({ "no_type": 1 })).await;
    assert_eq!(next_json(&mut ws).await["code"], "malformed");

    // Still open and answering.
    send_json(&mut ws, json!({ "type": "PING" })).await;
    assert_eq!(next_json(&mut ws).await["type"], "PONG");
    ws.send(Message::Ping(b"hi".to_vec().into()))
        .await
        .expect("ping");
    let pong = tokio::time::timeout(WAIT, async {
        use futures_util::StreamExt;
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Pong(data) = m {
                return data;
            }
        }
        panic!("socket ended before the pong");
    })
    .await
    .expect("pong in time");
    assert_eq!(&pong[..], b"hi");

    ws.send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .expect("send");
    assert_eq!(expect_close(&mut ws, WAIT).await.0, 1003);
    server.shutdown().await;
}

#[tokio::test]
async fn oversized_message_closes_1009() {
    let (server, _admin) = start_default().await;
    let mut ws = connect(&server, &access_token(&server, "alice").await).await;
    next_json(&mut ws).await;
    let big = format!(
        "{{\"type\":\"PING\",\"pad\":\"{}\"}}",
        "x".repeat(70 * 1024)
    );
    ws.send(Message::Text(big.into())).await.expect("send");
    assert_eq!(expect_close(&mut ws, WAIT).await.0, 1009);
    server.shutdown().await;
}

#[tokio::test]
async fn expiry_closes_4001() {
    let config = ServerConfig {
        access_ttl: Duration::from_secs(1),
        ..ServerConfig::in_process()
    };
    let (server, _admin) = start(config).await;
    let token = access_token(&server, "alice").await;
    let exp = exp_of(&token);
    let mut ws = connect(&server, &token).await;
    next_json(&mut ws).await;
    let (code, reason) = expect_close(&mut ws, Duration::from_secs(3)).await;
    assert_eq!((code, reason.as_str()), (4001, "token expired"));
    assert!(now_f64() >= exp - 0.05, "closed at expiry, not before");
    server.shutdown().await;
}

#[tokio::test]
async fn inband_reauth_keeps_the_socket_past_expiry() {
    let config = ServerConfig {
        access_ttl: Duration::from_secs(1),
        ..ServerConfig::in_process()
    };
    let (server, admin) = start(config).await;
    let first = access_token(&server, "alice").await;
    let first_exp = exp_of(&first);
    let mut ws = connect(&server, &first).await;
    next_json(&mut ws).await;

    // Half a second before the first token expires, a fresh one ends a second later.
    sleep_until_unix(first_exp - 0.5).await;
    let second = access_token(&server, "alice").await;
    let second_exp = exp_of(&second);
    assert!(second_exp > first_exp);
    send_json(
        &mut ws,
        json!({ "type": "auth", "payload": { "token": second } }),
    )
    .await;
    assert_eq!(next_json(&mut ws).await, json!({ "type": "auth_success" }));

    sleep_until_unix(first_exp + 0.2).await;
    send_json(&mut ws, json!({ "type": "PING" })).await;
    assert_eq!(
        next_json(&mut ws).await["type"],
        "PONG",
        "alive past the first expiry"
    );

    let (code, _) = expect_close(&mut ws, Duration::from_secs(3)).await;
    assert_eq!(code, 4001);
    assert!(now_f64() >= second_exp - 0.05);
    assert_eq!(admin.counters().inband_reauths, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn inband_reauth_with_a_bad_or_foreign_token_closes_4001() {
    let (server, _admin) = start_default().await;
    let bob_token = access_token(&server, "bob").await;
    for bad in ["garbage".to_owned(), bob_token] {
        let mut ws = connect(&server, &access_token(&server, "alice").await).await;
        next_json(&mut ws).await;
        send_json(
            &mut ws,
            json!({ "type": "auth", "payload": { "token": bad } }),
        )
        .await;
        assert_eq!(next_json(&mut ws).await["type"], "auth_error");
        assert_eq!(expect_close(&mut ws, WAIT).await.0, 4001);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn drop_all_closes_with_the_given_code() {
    let (server, admin) = start_default().await;
    let mut a = connect(&server, &access_token(&server, "alice").await).await;
    let mut b = connect(&server, &access_token(&server, "bob").await).await;
    next_json(&mut a).await;
    next_json(&mut b).await;
    assert_eq!(admin.counters().open_sockets, 2);
    admin.drop_all(4002, "maintenance").expect("drop");
    assert_eq!(
        expect_close(&mut a, WAIT).await,
        (4002, "maintenance".into())
    );
    assert_eq!(expect_close(&mut b, WAIT).await.0, 4002);
    assert!(admin.drop_all(1006, "reserved").is_err());

    // New sockets are not affected by an earlier drop.
    let mut c = connect(&server, &access_token(&server, "carol").await).await;
    assert_eq!(next_json(&mut c).await["type"], "presence_snapshot");
    drop(c);
    server.shutdown().await;
}

#[tokio::test]
async fn silent_mode_answers_nothing() {
    let (server, admin) = start_default().await;
    let token = access_token(&server, "alice").await;
    let mut ws = connect(&server, &token).await;
    next_json(&mut ws).await;

    admin.set_silent(true);
    // Give the socket task a moment to see the switch before we talk to it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    send_json(&mut ws, json!({ "type": "PING" })).await;
    ws.send(Message::Ping(b"x".to_vec().into()))
        .await
        .expect("ping");
    admin.set_status("bob", "online").expect("status");
    // Not even a pong frame: read raw frames, nothing may arrive.
    let anything = tokio::time::timeout(Duration::from_millis(500), async {
        use futures_util::StreamExt;
        ws.next().await
    })
    .await;
    assert!(
        anything.is_err(),
        "a silent server sends nothing: {anything:?}"
    );

    // New upgrades hang while silent.
    let pending = tokio::time::timeout(
        Duration::from_millis(300),
        tokio_tungstenite::connect_async(ws_request(&server, Transport::Bearer, &token)),
    )
    .await;
    assert!(pending.is_err(), "upgrade hangs while silent");

    admin.set_silent(false);
    let mut fresh = connect(&server, &token).await;
    assert_eq!(next_json(&mut fresh).await["type"], "presence_snapshot");
    drop((ws, fresh));
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_sockets_with_1001() {
    let (server, admin) = start_default().await;
    let mut ws = connect(&server, &access_token(&server, "alice").await).await;
    next_json(&mut ws).await;
    let closing = tokio::spawn(async move { expect_close(&mut ws, WAIT).await });
    server.shutdown().await;
    let (code, _) = closing.await.expect("reader task");
    assert_eq!(code, 1001);
    assert_eq!(admin.counters().open_sockets, 0);
}
