//! Server-provided text (friends' names and statuses) made safe to show outside the
//! webview: control and bidirectional-override characters removed, length capped,
//! and, for notification bodies, markup escaped, since freedesktop notification
//! servers may render a body's `<b>`, `<a href>` and `<img>` tags.

/// The longest a friend's name is shown in a notification or the tray menu.
pub const NAME_MAX: usize = 64;
/// The longest notification title or body.
pub const NOTIFICATION_MAX: usize = 256;

/// `text` without control characters (line breaks and tabs become spaces) or bidi
/// overrides, and at most `max_chars` characters, the last being `…` when cut.
pub fn plain_text(text: &str, max_chars: usize) -> String {
    let mut cleaned = text
        .chars()
        .filter_map(|c| match c {
            '\n' | '\r' | '\t' => Some(' '),
            c if c.is_control() || is_bidi_control(c) => None,
            c => Some(c),
        })
        .peekable();
    let mut out = String::with_capacity(text.len().min(max_chars * 4));
    let mut taken = 0;
    while let Some(c) = cleaned.next() {
        if taken + 1 == max_chars && cleaned.peek().is_some() {
            out.push('…');
            break;
        }
        if taken == max_chars {
            break;
        }
        out.push(c);
        taken += 1;
    }
    out
}

/// [`plain_text`], then `&`, `<` and `>` escaped for a notification body.
pub fn notification_text(text: &str, max_chars: usize) -> String {
    let plain = plain_text(text, max_chars);
    let mut out = String::with_capacity(plain.len());
    for c in plain.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Characters that reorder the text around them (as in "Trojan Source").
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_and_control_characters_are_removed() {
        assert_eq!(plain_text("\x1b[2JAlice\x07", 64), "[2JAlice");
        assert_eq!(plain_text("Al\u{202E}ice\u{0085}", 64), "Alice");
        assert_eq!(plain_text("two\nlines\there", 64), "two lines here");
        assert_eq!(plain_text("Zoë 🌙", 64), "Zoë 🌙");
    }

    #[test]
    fn markup_is_escaped_not_interpreted() {
        assert_eq!(
            notification_text("<b>Mallory</b> &amp; co", 256),
            "&lt;b&gt;Mallory&lt;/b&gt; &amp;amp; co"
        );
        assert_eq!(
            notification_text("<a href=\"http://x\">x</a>\x1b[2J", 256),
            "&lt;a href=\"http://x\"&gt;x&lt;/a&gt;[2J"
        );
    }

    #[test]
    fn long_text_is_capped_with_an_ellipsis() {
        let name = "n".repeat(10_000);
        let shown = plain_text(&name, NAME_MAX);
        assert_eq!(shown.chars().count(), NAME_MAX);
        assert!(shown.ends_with('…'));
        let body = notification_text(&"<".repeat(10_000), NOTIFICATION_MAX);
        assert_eq!(body.matches("&lt;").count(), NOTIFICATION_MAX - 1);
        assert!(body.ends_with('…'));
        // Exactly at the limit: nothing is cut.
        assert_eq!(
            plain_text(&"x".repeat(NAME_MAX), NAME_MAX),
            "x".repeat(NAME_MAX)
        );
        assert_eq!(plain_text("abc", 0), "");
    }
}
