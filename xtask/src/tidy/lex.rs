//! Marks every byte of a source file as code, literal or commentary.
//!
//! The tidy rules look at code and literals but never at comments or prose, since those decide
//! nothing. This is a lexer just good enough for Burrow's own files: Rust strings, raw strings,
//! char literals and lifetimes, nested block comments; JS strings, template literals with `${}`,
//! regular expression literals and comments; HTML comments, tags with quoted attribute values,
//! `<script>` (lexed as JS) and `<style>`. It works on bytes: every delimiter is ASCII, and a byte
//! of a multi-byte UTF-8 character never equals an ASCII one.

/// What a byte of a source file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Code outside any literal, including the quotes and `${ }` around literals.
    Code,
    /// The text of a Rust or JS string or template literal, escapes as written.
    Str,
    /// The text of a quoted HTML attribute value.
    Attr,
    /// The body of a JS regular expression literal, between its slashes.
    Regex,
    /// A comment, or HTML text and `<style>`: written for people, it decides nothing.
    Skip,
}

/// The languages tidy reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// `*.rs`
    Rust,
    /// `*.js`
    Js,
    /// `*.html`
    Html,
}

/// The kind of every byte of `text`.
pub fn kinds(lang: Lang, text: &str) -> Vec<Kind> {
    let b = text.as_bytes();
    let mut out = vec![Kind::Code; b.len()];
    match lang {
        Lang::Rust => rust(b, &mut out),
        Lang::Js => js(b, 0, b.len(), &mut out),
        Lang::Html => html(b, &mut out),
    }
    out
}

fn rust(b: &[u8], out: &mut [Kind]) {
    let mut i = 0;
    while i < b.len() {
        i = match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => skip(out, i, line_end(b, i)),
            b'/' if b.get(i + 1) == Some(&b'*') => skip(out, i, rust_block_comment_end(b, i)),
            b'"' => quoted(b, i + 1, b.len(), b'"', out),
            b'r' | b'b' if !ident_byte_before(b, i) => rust_prefixed_string(b, i, out),
            b'\'' => rust_char_or_lifetime_end(b, i),
            _ => i + 1,
        };
    }
}

/// `/* … */` nests in Rust; returns the index after the outermost `*/`.
fn rust_block_comment_end(b: &[u8], start: usize) -> usize {
    let (mut depth, mut i) = (0usize, start);
    while i + 1 < b.len() {
        match (b[i], b[i + 1]) {
            (b'/', b'*') => (depth, i) = (depth + 1, i + 2),
            (b'*', b'/') if depth == 1 => return i + 2,
            (b'*', b'/') => (depth, i) = (depth - 1, i + 2),
            _ => i += 1,
        }
    }
    b.len()
}

/// `b"…"`, `r"…"`, `r#"…"#` and `br#"…"#` at `i`; anything else (`r#ident`, `b'x'`, a plain
/// identifier) moves on by one byte.
fn rust_prefixed_string(b: &[u8], i: usize, out: &mut [Kind]) -> usize {
    let mut j = i + usize::from(b[i] == b'b');
    if b[i] == b'b' && b.get(j) == Some(&b'"') {
        return quoted(b, j + 1, b.len(), b'"', out);
    }
    if b.get(j) != Some(&b'r') {
        return i + 1;
    }
    j += 1;
    let hashes = b[j..].iter().take_while(|&&c| c == b'#').count();
    j += hashes;
    if b.get(j) != Some(&b'"') {
        return i + 1;
    }
    let start = j + 1;
    let mut close = b"\"".to_vec();
    close.resize(1 + hashes, b'#');
    let end = find(b, start, &close).unwrap_or(b.len());
    mark(out, start, end, Kind::Str);
    (end + close.len()).min(b.len())
}

/// A char literal (`'x'`, `'\''`, `'é'`) is skipped whole so its quote starts nothing; a lifetime
/// or label (`'a`, `'static`) is just a quote.
fn rust_char_or_lifetime_end(b: &[u8], i: usize) -> usize {
    if b.get(i + 1) == Some(&b'\\') {
        return find(b, i + 3, b"'").map_or(b.len(), |e| e + 1);
    }
    let len = b.get(i + 1).map_or(1, |&c| utf8_len(c));
    if b.get(i + 1 + len) == Some(&b'\'') {
        i + 2 + len
    } else {
        i + 1
    }
}

/// JS keywords after which a `/` starts a regular expression rather than a division.
const REGEX_AFTER_WORD: &[&[u8]] = &[
    b"return", b"typeof", b"case", b"of", b"in", b"delete", b"void", b"throw", b"new", b"else",
    b"do", b"yield", b"await",
];

/// Lexes `b[start..end]` as JS.
fn js(b: &[u8], start: usize, end: usize, out: &mut [Kind]) {
    // One entry per `${` we are inside: how many `{` are open within it.
    let mut templates: Vec<usize> = Vec::new();
    // What came before, to tell a regex from a division: the last byte, or the last word.
    let mut prev: Option<u8> = None;
    let mut word: Option<&[u8]> = None;
    let mut i = start;
    while i < end {
        let c = b[i];
        let next = if i + 1 < end { Some(b[i + 1]) } else { None };
        let before = (prev, word);
        if !c.is_ascii_whitespace() {
            (prev, word) = (Some(c), None);
        }
        i = match c {
            b'/' if next == Some(b'/') => skip(out, i, line_end(b, i).min(end)),
            b'/' if next == Some(b'*') => skip(
                out,
                i,
                find(b, i + 2, b"*/").map_or(end, |e| (e + 2).min(end)),
            ),
            b'/' if regex_allowed(before) => {
                // A regex is a value: a `/` after it divides.
                (prev, word) = (Some(b')'), None);
                js_regex(b, i, end, out)
            }
            b'"' | b'\'' => quoted(b, i + 1, end, c, out),
            b'`' => template(b, i + 1, end, &mut templates, out),
            b'{' => {
                if let Some(open) = templates.last_mut() {
                    *open += 1;
                }
                i + 1
            }
            b'}' => match templates.last_mut() {
                Some(0) => {
                    templates.pop();
                    (prev, word) = (Some(b'`'), None);
                    template(b, i + 1, end, &mut templates, out)
                }
                Some(open) => {
                    *open -= 1;
                    i + 1
                }
                None => i + 1,
            },
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' => {
                let len = b[i..end]
                    .iter()
                    .take_while(|&&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$')
                    .count();
                word = Some(&b[i..i + len]);
                i + len
            }
            _ => i + 1,
        };
    }
}

fn regex_allowed((prev, word): (Option<u8>, Option<&[u8]>)) -> bool {
    if let Some(word) = word {
        return REGEX_AFTER_WORD.contains(&word);
    }
    match prev {
        None => true,
        Some(c) => b"(,=:[!&|?{};+-*%<>~^".contains(&c) || c == b'}',
    }
}

/// A regex literal from the `/` at `i`: the body is marked, the flags skipped.
fn js_regex(b: &[u8], i: usize, end: usize, out: &mut [Kind]) -> usize {
    let mut j = i + 1;
    let mut in_class = false;
    while j < end {
        match b[j] {
            b'\\' => j += 1,
            b'[' => in_class = true,
            b']' => in_class = false,
            b'/' if !in_class => break,
            // Unterminated: it was not a regex after all; stop at the line end.
            b'\n' => return i + 1,
            _ => {}
        }
        j += 1;
    }
    mark(out, i + 1, j.min(end), Kind::Regex);
    j += 1;
    while j < end && b[j].is_ascii_alphabetic() {
        j += 1;
    }
    j.min(end)
}

/// The text of a template literal from `start`, up to the closing backtick (returns after it) or
/// a `${` (enters it as code and returns after it).
fn template(
    b: &[u8],
    start: usize,
    end: usize,
    templates: &mut Vec<usize>,
    out: &mut [Kind],
) -> usize {
    let mut j = start;
    while j < end {
        match b[j] {
            b'\\' => j += 2,
            b'`' => {
                mark(out, start, j, Kind::Str);
                return j + 1;
            }
            b'$' if j + 1 < end && b[j + 1] == b'{' => {
                mark(out, start, j, Kind::Str);
                templates.push(0);
                return j + 2;
            }
            _ => j += 1,
        }
    }
    mark(out, start, end, Kind::Str);
    end
}

fn html(b: &[u8], out: &mut [Kind]) {
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"<!--") {
            i = skip(out, i, find(b, i + 4, b"-->").map_or(b.len(), |e| e + 3));
        } else if b[i] == b'<'
            && b.get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || b"/!".contains(c))
        {
            let (name, after) = html_tag(b, i, out);
            i = match name.as_str() {
                "script" => {
                    let close = find_ignore_case(b, after, b"</script").unwrap_or(b.len());
                    js(b, after, close, out);
                    close
                }
                "style" => skip(
                    out,
                    after,
                    find_ignore_case(b, after, b"</style").unwrap_or(b.len()),
                ),
                _ => after,
            };
        } else {
            out[i] = Kind::Skip;
            i += 1;
        }
    }
}

/// The tag at `i`: its lower-case name and the index after its `>`; quoted values are marked.
fn html_tag(b: &[u8], i: usize, out: &mut [Kind]) -> (String, usize) {
    let name_len = b[i + 1..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    let name = String::from_utf8_lossy(&b[i + 1..i + 1 + name_len]).to_ascii_lowercase();
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'>' => return (name, j + 1),
            q @ (b'"' | b'\'') => {
                let close = find(b, j + 1, &[q]).unwrap_or(b.len());
                mark(out, j + 1, close, Kind::Attr);
                j = close + 1;
            }
            _ => j += 1,
        }
    }
    (name, b.len())
}

/// A string from `start` (after its opening quote) to the closing `quote`, with backslash escapes;
/// returns the index after the closing quote.
fn quoted(b: &[u8], start: usize, end: usize, quote: u8, out: &mut [Kind]) -> usize {
    let mut j = start;
    while j < end && b[j] != quote {
        j += if b[j] == b'\\' { 2 } else { 1 };
    }
    let j = j.min(end);
    mark(out, start, j, Kind::Str);
    (j + 1).min(end)
}

fn skip(out: &mut [Kind], start: usize, end: usize) -> usize {
    mark(out, start, end, Kind::Skip);
    end
}

fn mark(out: &mut [Kind], start: usize, end: usize, kind: Kind) {
    out[start..end].fill(kind);
}

fn line_end(b: &[u8], i: usize) -> usize {
    find(b, i, b"\n").unwrap_or(b.len())
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn find_ignore_case(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|p| p + from)
}

fn ident_byte_before(b: &[u8], i: usize) -> bool {
    i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')
}

/// The length of the UTF-8 character that starts with `lead`.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` as the rules see it: comments and prose dropped, string text in «», attribute
    /// values in ‹›, regex bodies in ⟨⟩.
    fn check(lang: Lang, text: &str, expected: &str) {
        let kinds = kinds(lang, text);
        let mut got = String::new();
        let mut open = Kind::Code;
        for (i, c) in text.char_indices() {
            let kind = kinds[i];
            if kind != open {
                got.push_str(match open {
                    Kind::Str => "»",
                    Kind::Attr => "›",
                    Kind::Regex => "⟩",
                    Kind::Code | Kind::Skip => "",
                });
                got.push_str(match kind {
                    Kind::Str => "«",
                    Kind::Attr => "‹",
                    Kind::Regex => "⟨",
                    Kind::Code | Kind::Skip => "",
                });
                open = kind;
            }
            if kind != Kind::Skip {
                got.push(c);
            }
        }
        assert_eq!(got, expected, "\n{text}");
    }

    #[test]
    fn rust() {
        check(Lang::Rust, r#"f("ab") // "x""#, r#"f("«ab»") "#);
        check(Lang::Rust, r#"'"' "a""#, r#"'"' "«a»""#);
        check(Lang::Rust, r#"<'a> x"b""#, r#"<'a> x"«b»""#);
        check(Lang::Rust, "'é' \"c\"", "'é' \"«c»\"");
        check(Lang::Rust, r###"r#"a"b"# "c""###, r###"r#"«a"b»"# "«c»""###);
        check(
            Lang::Rust,
            r#"b"x" br"y" r#type"#,
            r#"b"«x»" br"«y»" r#type"#,
        );
        check(Lang::Rust, "/* /* */ \"a\" */b", "b");
        check(Lang::Rust, r#""a\"b" c"#, r#""«a\"b»" c"#);
    }

    #[test]
    fn js() {
        check(Lang::Js, "x = 'a' // b", "x = '«a»' ");
        check(Lang::Js, "`a${b + `c${d}`}e`", "`«a»${b + `«c»${d}`}«e»`");
        check(Lang::Js, "`${ {a: 1}.a }x`", "`${ {a: 1}.a }«x»`");
        check(
            Lang::Js,
            r#"s.replace(/["']/g, "")"#,
            r#"s.replace(/⟨["']⟩/g, "")"#,
        );
        check(
            Lang::Js,
            "return /a\\/b/.test(x)",
            "return /⟨a\\/b⟩/.test(x)",
        );
        check(Lang::Js, "a / 2 / b", "a / 2 / b");
        check(Lang::Js, "f(x) / 'y'", "f(x) / '«y»'");
        check(Lang::Js, "/* 'x' */ y", " y");
    }

    #[test]
    fn html() {
        check(
            Lang::Html,
            r#"<p id="x">hi</p><!-- "c" -->"#,
            r#"<p id="‹x›"></p>"#,
        );
        check(
            Lang::Html,
            "<script>'a' // b\n</script>",
            "<script>'«a»' \n</script>",
        );
        check(Lang::Html, "<style>a{}</style>", "<style></style>");
    }
}
