//! Server-provided text (friends' names and statuses) made safe to show outside the
//! webview: cleaned and capped by kith-core's [`plain_text`], and, for notification
//! bodies, markup escaped, since freedesktop notification servers may render a body's
//! `<b>`, `<a href>` and `<img>` tags.

/// The longest a friend's name is shown in a notification or the tray menu.
pub const NAME_MAX: usize = 64;
/// The longest notification title or body.
pub const NOTIFICATION_MAX: usize = 256;

pub use kith_core::text::plain_text;

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

#[cfg(test)]
mod tests {
    use super::*;

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
