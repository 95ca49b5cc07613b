//! The one rule for text that came from a peer.
//!
//! A client chooses its request's method, target and header values; an
//! origin chooses its reason phrase; a ClientHello chooses its SNI and ALPN
//! names. Any of them may be hostile, and all of them end up somewhere a
//! person reads: the readable access log in a terminal, the JSON log, a
//! response body or header, the desktop table, the simulator page. So every
//! such text goes through [`escape`] in the core, once, before it is stored:
//!
//! - printable ASCII stays as it is, except `<`, `>`, `&` and `\`;
//! - every other byte, and those four, is written `\xNN` (two lowercase hex
//!   digits).
//!
//! Why each part:
//!
//! - ESC and the other controls: a terminal showing the log would obey them
//!   (recolour the screen, move the cursor, set the window title).
//! - CR and LF: a forged line in the readable log, or a header field split
//!   in two (response splitting).
//! - Bytes above 0x7f: invalid UTF-8, bidirectional overrides and look-alike
//!   letters that make a name read as another.
//! - `<`, `>`, `&`: markup, should any view ever build HTML from it.
//! - `\`: so the result reads back without ambiguity (every `\` starts a
//!   `\xNN`), and a peer cannot write something that looks escaped.
//!
//! [`PeerText`] holds text escaped by this rule and can only be made by
//! escaping, so unescaped text cannot be stored in an event, a record or a
//! view by mistake. [`header_value`] and [`sf_string`] are for the fields
//! Burrow writes itself: they hold Burrow's own words (in which `<` and `>`
//! may appear) around peer text that is already escaped, and use the same
//! `\xNN` for anything that could break the field's line.

use std::fmt::{self, Write as _};
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize};

/// Makes text taken from a peer safe for every sink: printable ASCII stays,
/// except `<`, `>`, `&` and `\`, which become `\xNN` like every other byte.
pub fn escape(bytes: &[u8]) -> String {
    escape_where(bytes, shown_as_is)
}

/// Whether `text` is already in the form [`escape`] writes: nothing that
/// escape would change, and every `\` followed by `x` and two lowercase hex
/// digits.
pub fn is_escaped(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'\\' {
            let hex = |j: usize| {
                bytes
                    .get(j)
                    .is_some_and(|d| matches!(d, b'0'..=b'9' | b'a'..=b'f'))
            };
            if bytes.get(i + 1) != Some(&b'x') || !hex(i + 2) || !hex(i + 3) {
                return false;
            }
            i += 4;
        } else if shown_as_is(b) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// A header field value on one line of printable ASCII: any other byte
/// becomes `\xNN`, so no CR, LF or control can end the field or start a new
/// one. For values Burrow composes; peer text in them is escaped already.
pub fn header_value(text: &str) -> String {
    escape_where(text.as_bytes(), printable)
}

/// A Structured Fields string (RFC 8941 §3.3.3), e.g. `Proxy-Status`'s
/// `details`: [`header_value`] in quotes, with `"` and `\` backslashed as
/// the syntax asks.
pub fn sf_string(text: &str) -> String {
    let value = header_value(text);
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Printable ASCII, space included.
fn printable(b: u8) -> bool {
    matches!(b, b' '..=b'~')
}

/// What [`escape`] leaves as it is.
fn shown_as_is(b: u8) -> bool {
    printable(b) && !matches!(b, b'<' | b'>' | b'&' | b'\\')
}

/// The `\xNN` notation for every byte `keep` refuses.
fn escape_where(bytes: &[u8], keep: fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if keep(b) {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// Text that came from a peer, escaped by [`escape`]. It serialises as a
/// plain string; read back, a string not in escaped form is escaped again,
/// so even a hand-edited log file cannot put raw bytes in one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct PeerText(String);

impl PeerText {
    /// The peer's `bytes`, escaped.
    pub fn new(bytes: &[u8]) -> PeerText {
        PeerText(escape(bytes))
    }

    /// The first `max` of the peer's `bytes`, escaped: what a log keeps of
    /// text whose length only the peer limits (a 16 KiB target escapes to
    /// 64 KiB, and a log holds thousands of them).
    pub fn shown(bytes: &[u8], max: usize) -> PeerText {
        PeerText::new(&bytes[..bytes.len().min(max)])
    }

    /// The escaped text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The escaped text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Escapes `text` (text that is escaped already gets its `\` escaped again:
/// safe, only less readable).
impl From<&str> for PeerText {
    fn from(text: &str) -> PeerText {
        PeerText::new(text.as_bytes())
    }
}

impl Deref for PeerText {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for PeerText {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PeerText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for PeerText {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for PeerText {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl<'de> Deserialize<'de> for PeerText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        // Escaped text round-trips as it is; anything else is peer text again.
        Ok(if is_escaped(&text) {
            PeerText(text)
        } else {
            PeerText::new(text.as_bytes())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &[u8] = b"a\x1b[31m\r\nFORGED <b>&\\x\x7f\xc3\xa9\x00";

    #[test]
    fn the_rule() {
        assert_eq!(
            escape(HOSTILE),
            "a\\x1b[31m\\x0d\\x0aFORGED \\x3cb\\x3e\\x26\\x5cx\\x7f\\xc3\\xa9\\x00"
        );
        assert_eq!(escape(b"example.com:443"), "example.com:443");
        assert_eq!(escape(b"GET /a?b=1 \"q\""), "GET /a?b=1 \"q\"");
    }

    #[test]
    fn every_byte_comes_out_printable_and_free_of_markup() {
        let all: Vec<u8> = (0..=255).collect();
        let out = escape(&all);
        assert!(
            out.bytes().all(|b| printable(b) && !b"<>&".contains(&b)),
            "{out}"
        );
        assert!(is_escaped(&out));
    }

    #[test]
    fn escaped_form_is_recognised() {
        assert!(is_escaped("example.com"));
        assert!(is_escaped("a\\x0d\\x0ab"));
        assert!(is_escaped(""));
        for raw in ["a\nb", "a\\nb", "\\x0", "\\x0D", "<b>", "é", "\\", "a&b"] {
            assert!(!is_escaped(raw), "{raw:?}");
        }
    }

    #[test]
    fn header_values_stay_on_one_line() {
        assert_eq!(
            header_value("x\r\nSet-Cookie: a"),
            "x\\x0d\\x0aSet-Cookie: a"
        );
        assert_eq!(header_value("Basic realm=\"b\""), "Basic realm=\"b\"");
        assert_eq!(header_value("< > or é"), "< > or \\xc3\\xa9");
    }

    #[test]
    fn structured_field_strings_quote_what_the_syntax_needs() {
        assert_eq!(sf_string("no \"such\" host"), "\"no \\\"such\\\" host\"");
        assert_eq!(sf_string("a\u{7}b\\"), "\"a\\\\x07b\\\\\"");
        assert_eq!(sf_string("such as < >"), "\"such as < >\"");
    }

    #[test]
    fn peer_text_is_escaped_and_reads_back_as_written() {
        let text = PeerText::new(HOSTILE);
        assert_eq!(text.as_str(), escape(HOSTILE));
        assert_eq!(PeerText::from("a\r\n"), "a\\x0d\\x0a");
        let json = serde_json::to_string(&text).unwrap();
        assert_eq!(serde_json::from_str::<PeerText>(&json).unwrap(), text);
    }

    #[test]
    fn raw_text_read_from_json_is_escaped_on_the_way_in() {
        let back: PeerText = serde_json::from_str(r#""a\u001b[31m\r\nb""#).unwrap();
        assert_eq!(back, "a\\x1b[31m\\x0d\\x0ab");
        let back: PeerText = serde_json::from_str(r#""<i>\\x0d""#).unwrap();
        assert_eq!(back, "\\x3ci\\x3e\\x5cx0d");
    }
}
