//! The small values every presence message carries: friend ids, statuses and
//! timestamps.
//!
//! Every live update passes through these, so they are shaped to be copied cheaply:
//! each is a [`SmolStr`], which keeps text of up to 23 bytes inline (ids, status
//! words, names, second-precision timestamps) and shares longer text by reference
//! count. Parsing an update, passing it to another task and storing it then allocate
//! nothing, and the friends map compares ids without following a pointer.

use std::borrow::{Borrow, Cow};
use std::cmp::Ordering;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize};
use smol_str::SmolStr;

/// What a text value shares with plain text: `as_str`, Debug and Display as the text,
/// comparison with `str`, and construction from `&str` or `String`.
macro_rules! text_value {
    ($name:ident) => {
        impl $name {
            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.as_str(), f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                $name(smol(value))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                $name(SmolStr::from(value))
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

/// A friend's user id. Backends send numbers or strings; both become text.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct FriendId(SmolStr);

text_value!(FriendId);

/// Lets the friends map be searched with the text of a borrowed id.
impl Borrow<str> for FriendId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<u64> for FriendId {
    fn from(value: u64) -> Self {
        FriendId(decimal(value))
    }
}

impl<'de> Deserialize<'de> for FriendId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        text_or_number(deserializer).map(FriendId)
    }
}

/// A presence status as the backend names it ("online", "away", "offline", …).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Status(SmolStr);

text_value!(Status);

impl Status {
    /// The status named `text`.
    pub fn new(text: &str) -> Status {
        Status::from(text)
    }

    /// Whether a friend with this status counts as online: see [`is_online`].
    pub fn is_online(&self) -> bool {
        is_online(&self.0)
    }
}

/// Kith's one rule for who counts as online: any status but "offline". The tray's
/// count, the friend list's order and the CLI all ask this.
pub fn is_online(status: &str) -> bool {
    status != "offline"
}

impl Deref for Status {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Text::deserialize(deserializer).map(|text| Status(text.into_smol()))
    }
}

/// When a friend was last seen, as the backend wrote it (RFC 3339 text or epoch number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct LastSeen(pub SmolStr);

impl<'de> Deserialize<'de> for LastSeen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        text_or_number(deserializer).map(LastSeen)
    }
}

impl From<&str> for LastSeen {
    fn from(value: &str) -> Self {
        LastSeen(smol(value))
    }
}

impl LastSeen {
    /// The text as the backend wrote it (a number becomes its decimal text).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The moment it names, in milliseconds since the Unix epoch, read once here so no
    /// UI has to guess: RFC 3339 text (any UTC offset), or a number of seconds, or of
    /// milliseconds from 10¹² on (10¹² s is in the year 33658; 10¹² ms is in 2001).
    /// `None` for anything else, for a moment before 1970 or after the year 9999.
    pub fn unix_ms(&self) -> Option<u64> {
        const LAST_MS: f64 = 253_402_300_799_999.0; // 9999-12-31T23:59:59.999Z
        let text = self.0.trim();
        let ms = match text.parse::<f64>() {
            Ok(n) if n.is_finite() && n > 0.0 => {
                if n < 1e12 {
                    n * 1000.0
                } else {
                    n
                }
            }
            Ok(_) => return None,
            Err(_) => {
                let at = time::OffsetDateTime::parse(
                    text,
                    &time::format_description::well_known::Rfc3339,
                )
                .ok()?;
                (at.unix_timestamp_nanos() / 1_000_000) as f64
            }
        };
        (0.0..=LAST_MS).contains(&ms).then_some(ms as u64)
    }
}

/// The key friends are ordered by, for the CLI, the tray and the UI alike: the name
/// with case and accents folded ("Chloé" and "chloe" sort together), and runs of digits
/// padded so that "friend9" sorts before "friend10". Compare keys as plain strings.
pub fn collation_key(name: &str) -> String {
    use unicode_normalization::char::is_combining_mark;
    use unicode_normalization::UnicodeNormalization;
    let folded: String = name
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect();
    let mut key = String::with_capacity(folded.len() + 8);
    let mut digits = String::new();
    let flush = |digits: &mut String, key: &mut String| {
        if !digits.is_empty() {
            // Leading zeros do not count; the width leaves room for any u64.
            let trimmed = digits.trim_start_matches('0');
            for _ in trimmed.len()..20 {
                key.push('0');
            }
            key.push_str(trimmed);
            digits.clear();
        }
    };
    for c in folded.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut key);
            key.push(c);
        }
    }
    flush(&mut digits, &mut key);
    key
}

/// Orders two timestamps when that can be done reliably: both numeric (epoch), or
/// both RFC 3339 text of the same shape (which sorts lexicographically).
pub fn compare_timestamps(a: &str, b: &str) -> Option<Ordering> {
    let looks_rfc3339 = |s: &str| s.len() >= 20 && s.as_bytes().get(10) == Some(&b'T');
    if a.len() == b.len() && looks_rfc3339(a) && looks_rfc3339(b) {
        return Some(a.cmp(b));
    }
    if let (Ok(a), Ok(b)) = (a.parse::<f64>(), b.parse::<f64>()) {
        return a.partial_cmp(&b);
    }
    None
}

/// `text` as a [`SmolStr`]. Short text goes through `new_inline`, which copies into
/// the inline buffer byte by byte: for the few bytes of an id or a status word that is
/// faster than the general constructor's copy (measured on the parse path).
pub(crate) fn smol(text: &str) -> SmolStr {
    if text.len() <= INLINE_MAX {
        SmolStr::new_inline(text)
    } else {
        SmolStr::new(text)
    }
}

/// The longest text a [`SmolStr`] keeps inline.
const INLINE_MAX: usize = 23;

/// A JSON string, borrowed from the input when it has no escapes: read without a copy,
/// then kept as a [`SmolStr`] or compared and dropped.
pub(crate) struct Text<'a>(pub(crate) Cow<'a, str>);

impl Text<'_> {
    pub(crate) fn into_smol(self) -> SmolStr {
        match self.0 {
            Cow::Borrowed(text) => smol(text),
            Cow::Owned(text) => SmolStr::from(text),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}

struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> serde::de::Visitor<'de> for TextVisitor<'a> {
    type Value = Text<'a>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
        Ok(Text(Cow::Borrowed(v)))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'a>, E> {
        Ok(Text(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Text<'a>, E> {
        Ok(Text(Cow::Owned(v)))
    }
}

/// The decimal text of `value`, inline: numeric ids arrive with every update.
pub(crate) fn decimal(value: u64) -> SmolStr {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = value;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    smol(std::str::from_utf8(&digits[at..]).unwrap_or_default())
}

/// Reads text that backends send as a JSON string or a number.
fn text_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SmolStr, D::Error> {
    deserializer.deserialize_any(TextOrNumber)
}

struct TextOrNumber;

impl serde::de::Visitor<'_> for TextOrNumber {
    type Value = SmolStr;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or a number")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SmolStr, E> {
        Ok(smol(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SmolStr, E> {
        Ok(decimal(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SmolStr, E> {
        Ok(SmolStr::from(v.to_string()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<SmolStr, E> {
        Ok(SmolStr::from(v.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_their_decimal_text() {
        for n in [0, 7, 10, 4999, 1_000_000, u64::MAX] {
            assert_eq!(FriendId::from(n).as_str(), n.to_string());
            let parsed: FriendId = serde_json::from_str(&n.to_string()).unwrap();
            assert_eq!(parsed, FriendId::from(n));
        }
        let negative: LastSeen = serde_json::from_str("-3").unwrap();
        assert_eq!(negative.as_str(), "-3");
        let epoch: LastSeen = serde_json::from_str("1763805600.5").unwrap();
        assert_eq!(epoch.as_str(), "1763805600.5");
        assert!(serde_json::from_str::<FriendId>("true").is_err());
        assert!(serde_json::from_str::<Status>("3").is_err());
    }

    #[test]
    fn short_values_are_kept_inline() {
        assert!(!Status::new("away").0.is_heap_allocated());
        assert!(!FriendId::from(u64::MAX).0.is_heap_allocated());
        assert!(!LastSeen::from("2026-11-22T10:00:00Z").0.is_heap_allocated());
        let custom = Status::new("on a plane, back on Monday");
        assert!(custom.0.is_heap_allocated());
        assert_eq!(custom, "on a plane, back on Monday");
        assert!(custom.is_online());
        assert!(!Status::new("offline").is_online());
        assert!(is_online("dnd"));
    }

    #[test]
    fn last_seen_is_read_as_epoch_milliseconds() {
        let ms = |text: &str| LastSeen::from(text).unix_ms();
        assert_eq!(ms("2025-11-22T10:00:00Z"), Some(1_763_805_600_000));
        assert_eq!(ms("2025-11-22T11:00:00.250+01:00"), Some(1_763_805_600_250));
        // Seconds, fractional seconds, and milliseconds are told apart by size.
        assert_eq!(ms("1763805600"), Some(1_763_805_600_000));
        assert_eq!(ms("1763805600.5"), Some(1_763_805_600_500));
        assert_eq!(ms("1763805600000"), Some(1_763_805_600_000));
        // Nonsense, the past before 1970 and the far future are nothing to show.
        for bad in [
            "",
            "soon",
            "-3",
            "0",
            "NaN",
            "inf",
            "1e300",
            "99999999999999999",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn collation_folds_case_and_accents_and_counts_numbers() {
        assert_eq!(collation_key("Chloé"), collation_key("chloe"));
        let mut names = ["friend10", "Zoë", "friend9", "alice", "Émile", "bob"];
        names.sort_by_cached_key(|n| collation_key(n));
        assert_eq!(
            names,
            ["alice", "bob", "Émile", "friend9", "friend10", "Zoë"]
        );
        // Leading zeros do not reorder, and a huge number is still a number.
        assert!(collation_key("f007") < collation_key("f10"));
        assert!(collation_key("f99999999999999999999") > collation_key("f10"));
    }

    #[test]
    fn timestamps_order_only_when_comparable() {
        let (a, b) = ("2026-11-22T09:00:00Z", "2026-11-22T09:00:05Z");
        assert_eq!(compare_timestamps(a, b), Some(Ordering::Less));
        assert_eq!(compare_timestamps("100", "99.5"), Some(Ordering::Greater));
        assert_eq!(compare_timestamps(a, "yesterday"), None);
    }

    #[test]
    fn ids_look_up_by_their_text() {
        let mut map = std::collections::HashMap::new();
        map.insert(FriendId::from(42), "x");
        assert_eq!(map.get("42"), Some(&"x"));
        assert_eq!(format!("{:?}", FriendId::from("u1")), "\"u1\"");
    }
}
