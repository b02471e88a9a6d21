//! A direct reader for the one message that arrives at line rate: a `status_update`
//! written as a flat JSON object of strings, whole numbers and nulls.
//!
//! Why by hand: every live update is parsed once, and serde_json's visitor machinery
//! costs more per update than reading the socket does (measured by `cargo xtask
//! bench`; jiter, the other crate that reads JSON field by field, was slower still).
//! This reader only says yes when it is sure: on anything else (an escape in a string,
//! a negative or fractional number, a nested value, a repeated key, another message
//! type, a name or status over the length cap, malformed input) it says "not mine",
//! and serde_json parses the frame as before, errors included. A property test checks that whenever this reader accepts
//! a frame, serde_json reads it to the same record.

use smol_str::SmolStr;

use crate::protocol::messages::{is_too_long, FriendRecord};
use crate::protocol::values::{smol, FriendId, LastSeen, Status};

/// The record of a flat `status_update` frame, or `None` when the frame is anything
/// else or is not plainly written (serde_json then decides).
pub(crate) fn read_flat_update(text: &str) -> Option<FriendRecord> {
    let mut cursor = Cursor { text, at: 0 };
    let mut fields = Fields::default();
    cursor.skip_space();
    cursor.expect(b'{')?;
    loop {
        cursor.skip_space();
        let key = cursor.string()?;
        cursor.skip_space();
        cursor.expect(b':')?;
        cursor.skip_space();
        let value = cursor.scalar()?;
        fields.take(key, value)?;
        cursor.skip_space();
        match cursor.next()? {
            b',' => continue,
            b'}' => break,
            _ => return None,
        }
    }
    cursor.skip_space();
    if cursor.at != text.len() || !fields.is_update {
        return None;
    }
    Some(FriendRecord {
        user_id: fields.user_id?,
        username: fields.username.unwrap_or_default(),
        status: fields.status?,
        last_seen: fields.last_seen,
        seq: fields.seq,
    })
}

/// A value this reader understands.
#[derive(Clone, Copy)]
enum Scalar<'a> {
    /// A string without escapes.
    Text(&'a str),
    /// A non-negative whole number that fits in a `u64`, and its digits as written
    /// (the same as its decimal text, since JSON allows no leading zeros).
    Whole(u64, &'a str),
    Null,
}

#[derive(Default)]
struct Fields {
    is_update: bool,
    seen: u8,
    user_id: Option<FriendId>,
    username: Option<SmolStr>,
    status: Option<Status>,
    last_seen: Option<LastSeen>,
    seq: Option<u64>,
}

impl Fields {
    /// Takes one key and value; `None` when the frame is not one this reader handles.
    fn take(&mut self, key: &str, value: Scalar<'_>) -> Option<()> {
        let bit = match key {
            "type" => 1,
            "user_id" => 2,
            "username" => 4,
            "status" => 8,
            "last_seen" => 16,
            "seq" => 32,
            // Anything else is ignored, as serde_json ignores it.
            _ => return Some(()),
        };
        if self.seen & bit != 0 {
            return None;
        }
        self.seen |= bit;
        match (key, value) {
            ("type", Scalar::Text(kind)) => {
                // Any other type is not an update: stop here.
                if kind != "status_update" {
                    return None;
                }
                self.is_update = true;
            }
            ("user_id", Scalar::Text(id)) => self.user_id = Some(FriendId::from(id)),
            ("user_id", Scalar::Whole(_, digits)) => self.user_id = Some(FriendId::from(digits)),
            // Over the cap: serde_json refuses the frame with a typed error.
            ("username" | "status", Scalar::Text(text)) if is_too_long(text) => return None,
            ("username", Scalar::Text(name)) => self.username = Some(smol(name)),
            ("username", Scalar::Null) => {}
            ("status", Scalar::Text(status)) => self.status = Some(Status::new(status)),
            ("last_seen", Scalar::Text(seen)) => self.last_seen = Some(LastSeen::from(seen)),
            ("last_seen", Scalar::Whole(_, digits)) => {
                self.last_seen = Some(LastSeen::from(digits))
            }
            ("last_seen", Scalar::Null) => {}
            ("seq", Scalar::Whole(seq, _)) => self.seq = Some(seq),
            ("seq", Scalar::Null) => {}
            _ => return None,
        }
        Some(())
    }
}

struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// A string with no escapes and no control characters. Its ends are ASCII quotes,
    /// so the slice between them is valid UTF-8.
    fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.at;
        let bytes = self.text.as_bytes();
        let mut end = start;
        loop {
            match *bytes.get(end)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => end += 1,
            }
        }
        self.at = end + 1;
        self.text.get(start..end)
    }

    fn scalar(&mut self) -> Option<Scalar<'a>> {
        match self.peek()? {
            b'"' => self.string().map(Scalar::Text),
            b'0'..=b'9' => {
                let start = self.at;
                let value = self.whole()?;
                Some(Scalar::Whole(value, self.text.get(start..self.at)?))
            }
            b'n' => {
                let null = self.text.get(self.at..self.at + 4)?;
                self.at += 4;
                (null == "null").then_some(Scalar::Null)
            }
            _ => None,
        }
    }

    /// Digits only, as JSON writes them (no leading zero), not followed by a fraction
    /// or an exponent.
    fn whole(&mut self) -> Option<u64> {
        let start = self.at;
        let mut value: u64 = 0;
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            value = value
                .checked_mul(10)?
                .checked_add(u64::from(digit - b'0'))?;
            self.at += 1;
        }
        let digits = self.at - start;
        if digits > 1 && self.text.as_bytes()[start] == b'0' {
            return None;
        }
        match self.peek() {
            Some(b'.' | b'e' | b'E') => None,
            _ => Some(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::{parse_with_serde, ServerMessage};
    use proptest::prelude::*;

    #[test]
    fn reads_the_usual_update() {
        let text = r#"{"type":"status_update","user_id":7,"username":"alice","status":"away","last_seen":"2026-11-22T10:00:00Z","seq":3}"#;
        let record = read_flat_update(text).expect("a plain update is read directly");
        assert_eq!(
            parse_with_serde(text),
            Ok(ServerMessage::StatusUpdate(record.clone()))
        );
        assert_eq!(record.user_id, "7");
        assert_eq!(record.seq, Some(3));
        let spaced = "{ \"status\" : \"online\" ,\n \"user_id\" : \"u1\", \"type\": \"status_update\", \"mood\": 3 }";
        assert_eq!(read_flat_update(spaced).unwrap().status, "online");
    }

    #[test]
    fn leaves_everything_else_to_serde() {
        for text in [
            r#"{"type":"presence_snapshot","seq":1,"friends":[]}"#,
            r#"{"type":"status_update","user_id":7,"status":"a\"b"}"#,
            r#"{"type":"status_update","user_id":-7,"status":"away"}"#,
            r#"{"type":"status_update","user_id":7,"status":"away","seq":1.5}"#,
            r#"{"type":"status_update","user_id":7,"status":"away","extra":{"a":1}}"#,
            r#"{"type":"status_update","user_id":7,"status":"away","status":"busy"}"#,
            r#"{"type":"status_update","user_id":7}"#,
            r#"{"type":"status_update","user_id":07,"status":"away"}"#,
            r#"{"type":"status_update","user_id":99999999999999999999,"status":"away"}"#,
            r#"{"type":"status_update","user_id":7,"status":"away"} x"#,
            r#"{"type":"status_update","user_id":7,"status":"away","#,
            r#"{"user_id":7,"status":"away"}"#,
            "",
        ]
        .into_iter()
        .map(str::to_string)
        .chain([
            format!(
                r#"{{"type":"status_update","user_id":7,"status":"{}"}}"#,
                "a".repeat(257)
            ),
            format!(
                r#"{{"type":"status_update","user_id":7,"status":"a","username":"{}"}}"#,
                "é".repeat(257)
            ),
        ]) {
            let text = text.as_str();
            assert_eq!(read_flat_update(text), None, "{text}");
        }
    }

    /// One JSON value, sometimes one this reader declines.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9 é:._-]{0,30}".prop_map(|s| format!("\"{s}\"")),
            // Around the length cap of names and statuses.
            (250usize..262, "[aé]").prop_map(|(n, c)| format!("\"{}\"", c.repeat(n))),
            "[a-z\\\\\"]{0,6}".prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
            any::<u64>().prop_map(|n| n.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            (0u32..100).prop_map(|n| format!("{n}.5")),
            Just("null".to_string()),
            Just("true".to_string()),
            Just("[1]".to_string()),
            Just("\"status_update\"".to_string()),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("type"),
            Just("user_id"),
            Just("username"),
            Just("status"),
            Just("last_seen"),
            Just("seq"),
            Just("mood"),
        ]
        .prop_map(str::to_string)
    }

    proptest! {
        #[test]
        fn agrees_with_serde_whenever_it_reads(
            mut pairs in proptest::collection::vec((key(), value(), "[ \n]{0,2}"), 0..9),
            required_at in proptest::option::of(0usize..9),
            tail in "[ ]{0,2}",
        ) {
            // Often an update's required fields, so that many frames are accepted.
            if let Some(at) = required_at {
                let at = at.min(pairs.len());
                for (k, v) in [("status", "\"away\""), ("user_id", "1"), ("type", "\"status_update\"")] {
                    pairs.insert(at, (k.to_string(), v.to_string(), String::new()));
                }
            }
            let body: Vec<String> = pairs
                .iter()
                .map(|(k, v, space)| format!("{space}\"{k}\"{space}:{space}{v}"))
                .collect();
            let text = format!("{{{}}}{tail}", body.join(","));
            if let Some(record) = read_flat_update(&text) {
                prop_assert_eq!(parse_with_serde(&text), Ok(ServerMessage::StatusUpdate(record)));
            }
        }

        #[test]
        fn reads_every_plain_update(
            id in any::<u64>(),
            name in "[a-zA-Z0-9_ é]{0,40}",
            status in "[a-z_]{1,30}",
            seen in "[0-9T:Z-]{0,32}",
            seq in proptest::option::of(any::<u64>()),
        ) {
            let seq_text = seq.map_or("null".to_string(), |s| s.to_string());
            let text = format!(
                r#"{{"type":"status_update","user_id":{id},"username":"{name}","status":"{status}","last_seen":"{seen}","seq":{seq_text}}}"#
            );
            let record = read_flat_update(&text);
            prop_assert!(record.is_some(), "declined {}", text);
            prop_assert_eq!(parse_with_serde(&text), Ok(ServerMessage::StatusUpdate(record.unwrap())));
        }

        #[test]
        fn never_panics(text in ".{0,200}") {
            let _ = read_flat_update(&text);
        }
    }
}
