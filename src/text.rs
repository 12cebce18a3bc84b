//! Text that someone else wrote, made safe to print.
//!
//! Values from a server (a key's type, an error's words, the lock holder's name) and from
//! messages (payloads) are written by whoever can write to that server. Printed as they
//! are, a value could forge an `error:` line or a whole fake plan with a newline, move the
//! cursor with an escape sequence, or print 50 MB. [`untrusted`] escapes every control
//! character (as `\n`, `\u{1b}`, ...) and cuts long values, saying how much was cut.

use std::borrow::Cow;
use std::fmt::Write;

/// The longest untrusted value printed whole, in characters; longer ones are cut.
pub const MAX_SHOWN_CHARS: usize = 200;

/// `value` on one line, control characters escaped, cut after [`MAX_SHOWN_CHARS`]
/// characters (with the number of bytes left out).
pub fn untrusted(value: &str) -> Cow<'_, str> {
    untrusted_within(value, MAX_SHOWN_CHARS)
}

/// Like [`untrusted`], with its own limit (e.g. a payload excerpt).
pub fn untrusted_within(value: &str, max_chars: usize) -> Cow<'_, str> {
    // The common case, printable ASCII no longer than the limit, in one pass over the bytes:
    // a plan of 10,000 streams prints 150,000 pieces of text through here.
    if value.len() <= max_chars && value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Cow::Borrowed(value);
    }
    let safe = |c: char| !c.is_control() && !is_bidi_control(c);
    let cut = value.char_indices().nth(max_chars).map(|(at, _)| at);
    if cut.is_none() && value.chars().all(safe) {
        return Cow::Borrowed(value);
    }
    let shown = &value[..cut.unwrap_or(value.len())];
    let mut out = String::with_capacity(shown.len() + 16);
    for c in shown.chars() {
        if safe(c) {
            out.push(c);
        } else {
            // `escape_default` writes `\n`, `\t`, `\u{1b}`: readable, and never a control.
            let _ = write!(out, "{}", c.escape_default());
        }
    }
    if let Some(at) = cut {
        let _ = write!(out, "… ({} more bytes)", value.len() - at);
    }
    Cow::Owned(out)
}

/// Like [`untrusted`], for bytes that may not be UTF-8 (invalid sequences shown as `\xNN`).
pub fn untrusted_bytes(value: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(value) {
        Ok(text) => untrusted(text),
        Err(_) => {
            let mut text = String::new();
            for chunk in value.utf8_chunks() {
                text.push_str(chunk.valid());
                for byte in chunk.invalid() {
                    let _ = write!(text, "\\x{byte:02x}");
                }
            }
            Cow::Owned(untrusted(&text).into_owned())
        }
    }
}

/// `text` with every character [`untrusted`] would escape (but tabs and line ends) replaced
/// by a visible character of the same UTF-8 length (`?`, `¿`, `�`), for text whose byte
/// offsets must stay as they are: a file's lines shown under a diagnostic, whose labels point
/// at byte offsets. A lone `\r` (one not ending a line) is replaced too: it would move the
/// cursor back over the line.
pub fn printable_in_place(text: &str) -> Cow<'_, str> {
    let keep = |(at, c): (usize, char)| match c {
        '\n' | '\t' => true,
        '\r' => text.as_bytes().get(at + 1) == Some(&b'\n'),
        c => !c.is_control() && !is_bidi_control(c),
    };
    if text.char_indices().all(keep) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for (at, c) in text.char_indices() {
        if keep((at, c)) {
            out.push(c);
        } else {
            out.push(match c.len_utf8() {
                1 => '?',
                2 => '¿',
                _ => '\u{fffd}',
            });
        }
    }
    Cow::Owned(out)
}

/// `1 change`, `2 changes`: a count and its noun, for messages.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Characters that reorder how a terminal shows the text around them (the "Trojan Source"
/// characters): they are not `is_control`, but can make printed text say something else.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_as_is() {
        assert!(matches!(untrusted("stream"), Cow::Borrowed("stream")));
        assert_eq!(untrusted("héllo wörld"), "héllo wörld");
    }

    #[test]
    fn control_characters_cannot_start_a_new_line_or_an_escape_sequence() {
        let forged = "string\nerror: the plan was approved\r\u{1b}[2K\u{202e}";
        let shown = untrusted(forged);
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert!(!shown.contains('\u{202e}'), "{shown:?}");
        assert_eq!(
            shown,
            "string\\nerror: the plan was approved\\r\\u{1b}[2K\\u{202e}"
        );
    }

    #[test]
    fn long_values_are_cut_and_say_how_much() {
        let long = "x".repeat(50 * 1024 * 1024);
        let shown = untrusted(&long);
        assert!(shown.len() < 300, "{}", shown.len());
        assert!(shown.ends_with(&format!("… ({} more bytes)", long.len() - 200)));
        // A cut never splits a character.
        let wide = "é".repeat(300);
        assert!(untrusted(&wide).starts_with(&"é".repeat(200)));
    }

    #[test]
    fn printable_in_place_keeps_every_byte_offset() {
        let text = "a: 1 # \u{1b}[31mred\u{7}\r\nb: \u{85}x\u{202e}y\rz\n\tc";
        let shown = printable_in_place(text);
        assert_eq!(shown, "a: 1 # ?[31mred?\r\nb: ¿x\u{fffd}y?z\n\tc");
        assert_eq!(shown.len(), text.len());
        assert_eq!(shown.chars().count(), text.chars().count());
        assert!(matches!(printable_in_place("plain\r\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn bytes_that_are_not_utf8_are_shown_as_hex() {
        assert_eq!(untrusted_bytes(b"ok\xff\n"), "ok\\xff\\n");
        assert_eq!(untrusted_bytes(b"plain"), "plain");
    }
}
