//! The traffic every benchmark replays: `presence_snapshot` and `status_update` JSON as
//! kith-server writes it, and server-to-client WebSocket framing for the blaster.
//!
//! Updates cycle each user through three statuses in order, starting from the
//! snapshot's, so every update is a real change: a consumer that counts changes
//! counts frames.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Instant;

/// Statuses in cycling order; snapshots start everyone at the first.
pub const STATUSES: [&str; 3] = ["online", "away", "offline"];
/// `last_seen` of every frame in throughput runs.
pub const LAST_SEEN: &str = "2026-11-22T10:00:00Z";

/// Status of update number `i` (0-based) when updates go round-robin over `users`.
pub fn status_of_update(i: u64, users: u64) -> &'static str {
    STATUSES[((i / users + 1) % 3) as usize]
}

/// Update number `i`: user `i % users`, `seq` `i + 1`.
pub fn status_update(i: u64, users: u64, last_seen: &str) -> String {
    let user = i % users;
    format!(
        r#"{{"type":"status_update","user_id":{user},"username":"user{user}","status":"{}","last_seen":"{last_seen}","seq":{}}}"#,
        status_of_update(i, users),
        i + 1
    )
}

/// A snapshot of `users` friends; `entry(i)` gives friend `i`'s status and `seq`.
pub fn snapshot(users: u64, entry: impl Fn(u64) -> (&'static str, u64)) -> String {
    let mut text = String::with_capacity(users as usize * 110 + 64);
    text.push_str(r#"{"type":"presence_snapshot","seq":0,"friends":["#);
    for i in 0..users {
        if i > 0 {
            text.push(',');
        }
        let (status, seq) = entry(i);
        let _ = write!(
            text,
            r#"{{"user_id":{i},"username":"user{i}","status":"{status}","last_seen":"{LAST_SEEN}","seq":{seq}}}"#
        );
    }
    text.push_str("]}");
    text
}

/// The snapshot the throughput and latency clients start from: everyone online, seq 0.
pub fn start_snapshot(users: u64) -> String {
    snapshot(users, |_| (STATUSES[0], 0))
}

/// Appends `payload` as one unmasked text frame (server to client).
pub fn push_text_frame(out: &mut Vec<u8>, payload: &[u8]) {
    out.push(0x81);
    let len = payload.len();
    if len < 126 {
        out.push(len as u8);
    } else if len <= u16::MAX as usize {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

pub fn text_frame(payload: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    push_text_frame(&mut out, payload.as_bytes());
    out
}

/// Updates `0..count` as one buffer of frames, ready to be written in one go.
pub fn update_burst(count: u64, users: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(count as usize * 125);
    for i in 0..count {
        push_text_frame(&mut out, status_update(i, users, LAST_SEEN).as_bytes());
    }
    out
}

/// Nanoseconds since a process-wide epoch: the shared clock of latency runs. The
/// blaster writes it into `last_seen`; the consumer subtracts it from its own reading.
pub fn clock_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use kith_core::protocol::{parse_server_message, ServerMessage};

    #[test]
    fn frames_parse_as_kith_messages_and_every_update_changes_the_status() {
        let users = 3;
        let mut last: Vec<&str> = vec![STATUSES[0]; users as usize];
        for i in 0..10 {
            let text = status_update(i, users, LAST_SEEN);
            let Ok(ServerMessage::StatusUpdate(record)) = parse_server_message(&text, 1 << 20)
            else {
                panic!("not a status update: {text}");
            };
            let user = (i % users) as usize;
            assert_ne!(record.status, last[user]);
            last[user] = status_of_update(i, users);
            assert_eq!(record.seq, Some(i + 1));
        }
        let Ok(ServerMessage::Snapshot { friends, .. }) =
            parse_server_message(&start_snapshot(users), 1 << 20)
        else {
            panic!("not a snapshot");
        };
        assert_eq!(friends.len(), users as usize);
    }

    #[test]
    fn frame_lengths() {
        assert_eq!(text_frame("hi"), vec![0x81, 2, b'h', b'i']);
        assert_eq!(&text_frame(&"x".repeat(300))[..4], &[0x81, 126, 1, 44]);
        assert_eq!(&text_frame(&"x".repeat(70_000))[..2], &[0x81, 127]);
    }
}
