//! Malformed WebSocket frames, written as raw bytes after a hand-made upgrade (no client
//! library would send them): the server answers each with a close frame, 1007 for
//! invalid UTF-8 and 1002 for protocol violations, and then drops the connection.

mod common;

use common::{start_default, WAIT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens a TCP connection and upgrades it to the presence WebSocket by hand.
async fn raw_upgrade(server: &kith_server::RunningServer) -> TcpStream {
    let addr = server.addr();
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "GET /ws/friends/status/ HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let read_head = async {
        while !head.ends_with(b"\r\n\r\n") {
            head.push(tcp.read_u8().await.expect("response head"));
        }
    };
    tokio::time::timeout(WAIT, read_head)
        .await
        .expect("upgrade answer in time");
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp
}

/// A client frame: `first` is FIN/RSV/opcode, the payload is masked (unless `masked`
/// is false) with a fixed key.
fn frame(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let key = [0x37u8, 0xfa, 0x21, 0x3d];
    let mask_bit = if masked { 0x80 } else { 0 };
    let mut out = vec![first];
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&u16::try_from(n).expect("small frame").to_be_bytes());
        }
    }
    if masked {
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// Reads the server's next frame, which must be a close, and returns its code; then
/// expects the server to end the TCP connection.
async fn read_close(tcp: &mut TcpStream) -> (u16, String) {
    let read = async {
        let b0 = tcp.read_u8().await.expect("frame header");
        let b1 = tcp.read_u8().await.expect("frame header");
        assert_eq!(b0, 0x88, "a final close frame, got {b0:#04x}");
        assert_eq!(b1 & 0x80, 0, "server frames are not masked");
        let len = usize::from(b1 & 0x7f);
        assert!((2..=125).contains(&len), "close payload of {len}");
        let mut payload = vec![0u8; len];
        tcp.read_exact(&mut payload).await.expect("close payload");
        let code = u16::from_be_bytes([payload[0], payload[1]]);
        let reason = String::from_utf8(payload[2..].to_vec()).expect("UTF-8 reason");
        // Then the connection goes: EOF or a reset, and nothing else first.
        let mut rest = Vec::new();
        let _ = tcp.read_to_end(&mut rest).await;
        assert!(rest.is_empty(), "nothing after the close frame: {rest:?}");
        (code, reason)
    };
    tokio::time::timeout(WAIT, read)
        .await
        .expect("close and disconnect in time")
}

#[tokio::test]
async fn malformed_frames_get_1007_or_1002() {
    let (server, _admin) = start_default().await;
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "invalid UTF-8 in a text frame",
            frame(0x81, &[0xc3, 0x28], true),
            1007,
        ),
        (
            "invalid UTF-8 across fragments",
            [frame(0x01, &[0xe2, 0x82], true), frame(0x80, &[0x28], true)].concat(),
            1007,
        ),
        (
            "invalid UTF-8 in a close reason",
            frame(0x88, &[0x03, 0xe8, 0xff, 0xfe], true),
            1007,
        ),
        ("reserved data opcode 3", frame(0x83, b"", true), 1002),
        ("reserved control opcode 11", frame(0x8b, b"", true), 1002),
        ("RSV1 set", frame(0xc1, b"hi", true), 1002),
        ("RSV3 set", frame(0x91, b"hi", true), 1002),
        ("a 126-byte ping", frame(0x89, &[b'p'; 126], true), 1002),
        ("a fragmented ping", frame(0x09, b"p", true), 1002),
        ("an unmasked client frame", frame(0x81, b"hi", false), 1002),
        ("a one-byte close payload", frame(0x88, &[0x03], true), 1002),
        (
            "a continuation with nothing to continue",
            frame(0x80, b"x", true),
            1002,
        ),
    ];
    for (what, bytes, expected) in cases {
        let mut tcp = raw_upgrade(&server).await;
        tcp.write_all(&bytes).await.expect("write frame");
        let (code, reason) = read_close(&mut tcp).await;
        assert_eq!(code, expected, "{what}: closed with {code} {reason:?}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_well_formed_frame_is_not_closed_by_the_same_path() {
    // Control case for the helpers above: a valid text frame before auth gets the
    // usual auth_error text and then 4001, not a protocol close.
    let (server, _admin) = start_default().await;
    let mut tcp = raw_upgrade(&server).await;
    tcp.write_all(&frame(0x81, br#"{"type":"hello"}"#, true))
        .await
        .expect("write frame");
    let first = tokio::time::timeout(WAIT, tcp.read_u8())
        .await
        .expect("answer in time")
        .expect("a frame");
    assert_eq!(first, 0x81, "a text frame (auth_error) first");
    server.shutdown().await;
}
