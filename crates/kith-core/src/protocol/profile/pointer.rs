//! The JSON pointers (RFC 6901) of a profile's `[messages]` mapping, in a file of their
//! own because they are read on every mapped message: each pointer is checked and split
//! into its unescaped reference tokens once, when the profile is loaded, so that
//! looking a value up allocates nothing and parses no text.

use std::fmt;
use std::hash::{Hash, Hasher};

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::mapping::MappingError;

/// The longest accepted JSON pointer, in bytes.
pub const MAX_POINTER_BYTES: usize = 256;

/// A JSON pointer (RFC 6901), checked when made: empty (the whole value), or `/`
/// followed by reference tokens in which `~` appears only as `~0` (`~`) or `~1` (`/`).
/// Array elements are named by their index (`/friends/0/id`).
///
/// It keeps the text as written (for errors, `Debug` and serialization, and for
/// equality) and its reference tokens, unescaped, for lookups.
#[derive(Clone)]
pub struct JsonPointer {
    text: String,
    tokens: Box<[ReferenceToken]>,
}

/// One reference token of a [`JsonPointer`], unescaped: an object member's key, and
/// the array index it names, if it names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceToken {
    key: Box<str>,
    index: Option<usize>,
}

impl ReferenceToken {
    fn unescaped(escaped: &str) -> Self {
        let key: Box<str> = if escaped.contains('~') {
            // `~` is always followed by `0` or `1` here (checked before), so one pass
            // left to right gives what RFC 6901 asks: `~1` to `/`, then `~0` to `~`.
            let mut key = String::with_capacity(escaped.len());
            let mut chars = escaped.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    key.push(if chars.next() == Some('1') { '/' } else { '~' });
                } else {
                    key.push(c);
                }
            }
            key.into()
        } else {
            escaped.into()
        };
        let index = array_index(&key);
        ReferenceToken { key, index }
    }

    /// The object member's key this token names.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The array element this token names: a whole number without a sign or leading
    /// zeros (`0`, `17`; not `01`, `+1`, or `-`, which names the element past the end
    /// and so never one that exists).
    pub fn index(&self) -> Option<usize> {
        self.index
    }
}

/// `token` as an array index per RFC 6901: `0`, or digits not starting with `0`.
fn array_index(token: &str) -> Option<usize> {
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    if !digits || (token.len() > 1 && token.starts_with('0')) {
        return None;
    }
    token.parse().ok()
}

impl JsonPointer {
    /// The pointer `text`, if it is one (at most [`MAX_POINTER_BYTES`]).
    pub fn new(text: &str) -> Result<Self, MappingError> {
        let reason = if text.len() > MAX_POINTER_BYTES {
            Some(format!(
                "a JSON pointer is at most {MAX_POINTER_BYTES} bytes"
            ))
        } else if !text.is_empty() && !text.starts_with('/') {
            Some("a JSON pointer is empty or starts with /".to_string())
        } else if !escapes_are_valid(text) {
            Some("in a JSON pointer ~ is written only as ~0 or ~1".to_string())
        } else if text.chars().any(char::is_control) {
            Some("a JSON pointer holds no control characters".to_string())
        } else {
            None
        };
        match reason {
            Some(reason) => Err(MappingError::new("messages", reason)),
            None => Ok(JsonPointer::checked(text)),
        }
    }

    /// The pointer `text`, already checked.
    pub(super) fn checked(text: &str) -> Self {
        let tokens = match text.strip_prefix('/') {
            None => Box::default(),
            Some(tokens) => tokens.split('/').map(ReferenceToken::unescaped).collect(),
        };
        JsonPointer {
            text: text.to_string(),
            tokens,
        }
    }

    /// The pointer as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Its reference tokens, unescaped, outermost first; none for the whole value.
    pub fn tokens(&self) -> &[ReferenceToken] {
        &self.tokens
    }

    /// The value it points at in `value`, if there is one; as
    /// [`serde_json::Value::pointer`] with this pointer's text, without allocating.
    pub fn resolve<'v>(&self, value: &'v serde_json::Value) -> Option<&'v serde_json::Value> {
        self.tokens
            .iter()
            .try_fold(value, |value, token| match value {
                serde_json::Value::Object(map) => map.get(token.key()),
                serde_json::Value::Array(items) => items.get(token.index()?),
                _ => None,
            })
    }
}

impl Default for JsonPointer {
    /// The empty pointer: the whole value.
    fn default() -> Self {
        JsonPointer::checked("")
    }
}

/// Two pointers are equal when their text is: the tokens follow from it.
impl PartialEq for JsonPointer {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for JsonPointer {}

impl Hash for JsonPointer {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

/// As the text alone, `JsonPointer("/a/b")`, as before the tokens were kept.
impl fmt::Debug for JsonPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JsonPointer").field(&self.text).finish()
    }
}

impl fmt::Display for JsonPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for JsonPointer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for JsonPointer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        JsonPointer::new(&text).map_err(|error| de::Error::custom(error.reason))
    }
}

fn escapes_are_valid(text: &str) -> bool {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pointer(text: &str) -> JsonPointer {
        JsonPointer::new(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn keys(text: &str) -> Vec<String> {
        pointer(text)
            .tokens()
            .iter()
            .map(|t| t.key().to_string())
            .collect()
    }

    #[test]
    fn tokens_are_split_and_unescaped_once() {
        assert!(keys("").is_empty());
        assert_eq!(keys("/"), [""]);
        assert_eq!(keys("//"), ["", ""]);
        assert_eq!(keys("/a/"), ["a", ""]);
        assert_eq!(keys("/a~0b/~1c/0"), ["a~b", "/c", "0"]);
        // ~1 becomes / and ~0 becomes ~, and neither makes the other: ~01 is "~1".
        assert_eq!(keys("/~01"), ["~1"]);
        assert_eq!(keys("/~10"), ["/0"]);
        assert_eq!(keys("/~0~1~1~0"), ["~//~"]);
        assert_eq!(keys("/ünï/😀"), ["ünï", "😀"]);
        // The text is kept as written, for errors, Debug and serialization.
        let written = pointer("/a~1b/~0");
        assert_eq!(written.as_str(), "/a~1b/~0");
        assert_eq!(written.to_string(), "/a~1b/~0");
        assert_eq!(format!("{written:?}"), r#"JsonPointer("/a~1b/~0")"#);
        assert_eq!(serde_json::to_string(&written).unwrap(), r#""/a~1b/~0""#);
        let back: JsonPointer = serde_json::from_str(r#""/a~1b/~0""#).unwrap();
        assert_eq!(back, written);
        assert_eq!(back.tokens(), written.tokens());
        assert_eq!(JsonPointer::default(), pointer(""));
    }

    #[test]
    fn array_indexes_follow_rfc_6901() {
        let index = |text: &str| pointer(text).tokens()[0].index();
        assert_eq!(index("/0"), Some(0));
        assert_eq!(index("/7"), Some(7));
        assert_eq!(index("/120"), Some(120));
        for not_an_index in ["/01", "/00", "/-", "/+1", "/-1", "/1a", "/", "/ 1", "/1.0"] {
            assert_eq!(index(not_an_index), None, "{not_an_index}");
        }
        assert_eq!(index("/99999999999999999999999"), None, "past usize");
    }

    /// Every lookup gives what serde_json's own `Value::pointer` gives for the text.
    #[test]
    fn lookups_agree_with_serde_json() {
        let value = json!({
            "": {"": 1, "x": 2},
            "a/b": 3,
            "a~b": 4,
            "~1": 5,
            "list": [10, 11, {"id": 12}],
            "0": "key zero",
            "obj": {"01": "leading zero key", "-": "dash key", "1": "one"},
            "null": null,
        });
        for text in [
            "",
            "/",
            "//",
            "//x",
            "/a~1b",
            "/a~0b",
            "/~01",
            "/list/0",
            "/list/2/id",
            "/list/02",
            "/list/-",
            "/list/3",
            "/list/+1",
            "/0",
            "/obj/01",
            "/obj/-",
            "/obj/1",
            "/null",
            "/null/x",
            "/list/0/x",
            "/missing",
            "/a~1b/x",
        ] {
            assert_eq!(pointer(text).resolve(&value), value.pointer(text), "{text}");
        }
        assert_eq!(pointer("/").resolve(&value), Some(&json!({"": 1, "x": 2})));
        assert_eq!(
            pointer("/obj/01").resolve(&value),
            Some(&json!("leading zero key"))
        );
        assert_eq!(pointer("/list/01").resolve(&value), None);
        assert_eq!(pointer("/list/-").resolve(&value), None);
        assert_eq!(pointer("/obj/-").resolve(&value), Some(&json!("dash key")));
    }
}
