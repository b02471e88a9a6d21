//! Server-provided text made safe to show: in an error message, a terminal, the tray
//! menu or a notification. Names, statuses and error bodies come from the backend, so
//! they may hold terminal escape sequences (ESC, BEL, C1 codes) or bidirectional
//! overrides that reorder what is shown ("Trojan Source"). One cleaning rule for every
//! place Kith shows such text; markup escaping for notification bodies stays with the
//! app, which is the only place that needs it.

/// No length limit, for [`plain_text`].
pub const UNLIMITED: usize = usize::MAX;

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
    let mut out = String::with_capacity(text.len().min(max_chars.saturating_mul(4)));
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

/// Characters that reorder the text around them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_and_control_characters_are_removed() {
        assert_eq!(plain_text("\x1b[2JAlice\x07", 64), "[2JAlice");
        assert_eq!(
            plain_text("\x1b[2J\x1b]0;pwned\x07alice", UNLIMITED),
            "[2J]0;pwnedalice"
        );
        assert_eq!(plain_text("Al\u{202E}ice\u{0085}", 64), "Alice");
        assert_eq!(plain_text("<b>bob</b>\u{9b}31m", 64), "<b>bob</b>31m");
        assert_eq!(plain_text("two\nlines\there", 64), "two lines here");
        assert_eq!(plain_text("Zoë 🌙", 64), "Zoë 🌙");
    }

    #[test]
    fn long_text_is_capped_with_an_ellipsis() {
        let shown = plain_text(&"n".repeat(10_000), 64);
        assert_eq!(shown.chars().count(), 64);
        assert!(shown.ends_with('…'));
        // Exactly at the limit: nothing is cut.
        assert_eq!(plain_text(&"x".repeat(64), 64), "x".repeat(64));
        assert_eq!(plain_text("abc", 0), "");
        let long = "x".repeat(10_000);
        assert_eq!(plain_text(&long, UNLIMITED), long);
    }
}
