//! Device-supplied text made safe for a terminal: control characters escaped, length capped.

/// Longest device name, id or platform printed in a log line.
pub(super) const LABEL_CHARS: usize = 64;

/// Longest device-supplied text (log message, error) printed in a log line.
pub(crate) const TEXT_CHARS: usize = 2048;

/// Device-supplied text made safe for the developer's terminal: control
/// characters (ANSI escapes, carriage returns, newlines that would forge
/// log lines) are written as escapes, and the text is cut at `max_chars`.
pub(crate) fn printable(s: &str, max_chars: usize) -> std::borrow::Cow<'_, str> {
    let short = s.len() <= max_chars;
    if short && !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len().min(max_chars) + 8);
    for (i, c) in s.chars().enumerate() {
        if i == max_chars {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

pub(super) fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
}

#[cfg(test)]
mod printable_tests {
    use super::printable;

    #[test]
    fn device_text_cannot_drive_the_terminal_or_forge_lines() {
        assert_eq!(printable("Pixel 8 ✓", 64), "Pixel 8 ✓");
        assert_eq!(
            printable("\u{1b}[2J\rINFO fake\nline", 64),
            "\\u{1b}[2J\\rINFO fake\\nline"
        );
        assert_eq!(printable("ééééé", 3), "ééé…");
        assert_eq!(printable(&"x".repeat(10_000), 5), "xxxxx…");
    }
}
