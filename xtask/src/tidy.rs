//! Tidy: the architecture rule "nothing outside `core/` decides a status code, a Proxy-Status
//! error or a hop-by-hop header", checked by ordinary tests so `cargo test --workspace` enforces
//! it (rust-analyzer keeps its tidy checks the same way).
//!
//! # Where
//!
//! `*.rs` under `proxy/src`, `desktop/src` and `web/src`, `desktop/build.rs`, and `*.js` and
//! `*.html` under `desktop/ui` and `web/www`. Exempt, because they decide nothing: any file with
//! a `tests` directory in its path, `*.md`, a Rust file from its first line starting with
//! `#[cfg(test)]` to its end, a module's own `tests.rs`, comments (`//`, `///`, `//!`, `/* */`, `<!-- -->`), and in HTML the
//! text between tags and `<style>` (words for people; attribute values and `<script>` are
//! checked). `core/` and `xtask/` are not read.
//!
//! # Rules
//!
//! The names come from the core itself, read at test time (see [`core_lists`]), so there is one
//! list of each.
//!
//! **Status code.** A *number* is a run of exactly three digits touching no letter, digit, `_`,
//! `#` or decimal point (so `1.500`, `0x200`, `200ms`, `127.0.0.1` and a colour `#404` are not
//! numbers), and it must be a registered status: 100–103, 200–208, 226, 300–308, 400–418,
//! 421–426, 428, 429, 431, 451, 500–508, 510, 511. A string literal holding only a number
//! (`"407"`) counts as that number (an HTML attribute value only by the line rule: HTML has no
//! comparisons, and `value="502">` is not `502 >`). A number in code is a status when
//! - it is compared: right after `==`, `!=`, `<`, `<=`, `>`, `>=` (so also `===`, `!==`) or
//!   right before one of them or `=>` (a match arm), as in `status == 407`, `code < 300`;
//! - or its line, outside comments, mentions `status`, `code` or `reason` as an identifier word
//!   (`status`, `statusCode`, `status_code`, `reason`) or `HTTP/`, as in `Some(407)` next to
//!   `record.status`.
//!
//! Also a status: a string literal that starts with a number, a space and a letter
//! (`"404 Not Found"`) or holds `HTTP/<version> <number>` (`"HTTP/1.1 200"`), and a JS regular
//! expression that reads a status: one holding `\d{3}`, `\d\d\d`, or a `[1-5]` class followed by
//! `\d`. Durations and sizes pass, because they are neither compared nor on a line about
//! statuses: `Duration::from_millis(500)`, `LogStore::new(100)`.
//!
//! **Proxy-Status error.** Any error type `ProxyError::token` writes (`dns_error`,
//! `connection_refused`, …) as a whole word (letters, digits, `_`) in code or in a literal:
//! `"dns_error"`, `{ dns_error: … }`, `error=dns_error`. Part of a longer word
//! (`is_a_dns_timeout`) passes.
//!
//! **Hop-by-hop header.** A name from the core's `HOP_BY_HOP`, plus `keep-alive` and
//! `proxy-connection`, compared ignoring case, where it stands as a header name:
//! - a Rust or JS string literal that is just the name: `"Upgrade"`, `'transfer-encoding'`;
//! - a header line inside any literal: the name at the literal's start or after a newline
//!   (real or `\n`), then a colon: `"Connection: close"`, `"…\r\nTE: trailers"`;
//! - in code, the name capitalised like a header and followed by one colon: `{ Connection: x }`.
//!
//! Identifiers (`fn upgrade()`, `let connection`, `open_connections`), the word inside longer
//! text ("an upstream connection") and HTML ids and classes (`class="upgrade"`) pass. A literal
//! that is just the word counts even when it means the noun (`plural(n, 'connection')`): no
//! rule can tell the two apart, so such words come from the core or are phrased differently.

mod lex;

use std::{
    fmt, fs,
    ops::Range,
    path::{Path, PathBuf},
};

use lex::{Kind, Lang};

/// The directories and files checked, relative to the repository root.
const ROOTS: &[&str] = &[
    "proxy/src",
    "desktop/src",
    "desktop/build.rs",
    "desktop/ui",
    "web/src",
    "web/www",
];

/// Registered HTTP status codes (IANA), as inclusive ranges.
const REGISTERED: &[(u16, u16)] = &[
    (100, 103),
    (200, 208),
    (226, 226),
    (300, 308),
    (400, 418),
    (421, 426),
    (428, 429),
    (431, 431),
    (451, 451),
    (500, 508),
    (510, 511),
];

/// Identifier words that make a line about statuses.
const STATUS_WORDS: &[&str] = &["status", "statuses", "code", "codes", "reason"];

/// Spelled lower-case in the core or not, these two are always hop-by-hop (RFC 9110 §7.6.1).
const ALWAYS_HOP_BY_HOP: &[&str] = &["keep-alive", "proxy-connection"];

/// What to do about a violation, printed after the list.
const HOW_TO_FIX: &str = "\
Each line above decides, outside core/, what only the core may decide (ARCHITECTURE.md,
Invariants). Move the decision into burrow-core and have this code take the result from it:
the status, its reason and its class, the Proxy-Status error and its words, and which headers
are hop-by-hop all come from the core (through the engine's API, the simulator's JSON or the
desktop's record rows), never from a literal written here. Tests, comments and *.md are exempt.";

/// The names the core decides, read from its source.
#[derive(Debug)]
struct Lists {
    /// Proxy-Status error types, e.g. `dns_error`.
    errors: Vec<String>,
    /// Hop-by-hop header names, lower case.
    hop_by_hop: Vec<String>,
}

/// Which architecture rule a violation breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
    /// An HTTP status code.
    Status,
    /// An RFC 9209 Proxy-Status error type.
    ProxyError,
    /// A hop-by-hop header name.
    HopByHop,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rule::Status => "status code",
            Rule::ProxyError => "Proxy-Status error",
            Rule::HopByHop => "hop-by-hop header",
        })
    }
}

/// One decision found outside the core; sorts by path, then line.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Violation {
    /// Relative to the repository root, `/`-separated.
    path: String,
    /// 1-based.
    line: usize,
    /// The offending text, quoted, and why it counts.
    what: String,
    /// The rule it breaks.
    rule: Rule,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {} ({})",
            self.path, self.line, self.what, self.rule
        )
    }
}

/// Reads the error types from the `=> "…"` arms of `ProxyError::token` and the headers from
/// `HOP_BY_HOP`. If either moves, change only this function; until then every tidy test fails
/// saying where it looked.
fn core_lists(root: &Path) -> Result<Lists, String> {
    let errors = quoted_between(root, "core/src/response.rs", "fn token(", "fn ", "=> \"")?;
    let mut hop_by_hop =
        quoted_between(root, "core/src/forward.rs", "const HOP_BY_HOP", "];", "\"")?;
    hop_by_hop.iter_mut().for_each(|h| h.make_ascii_lowercase());
    for &name in ALWAYS_HOP_BY_HOP {
        if !hop_by_hop.iter().any(|h| h == name) {
            hop_by_hop.push(name.to_string());
        }
    }
    Ok(Lists { errors, hop_by_hop })
}

/// In `file`, between the first `start` and the next `end`, the text after each `open` (which
/// ends with a quote) up to the closing quote.
fn quoted_between(
    root: &Path,
    file: &str,
    start: &str,
    end: &str,
    open: &str,
) -> Result<Vec<String>, String> {
    let moved = |what: String| {
        format!(
            "tidy: {what} in {file}, where the core's list after `{start}` was. \
             If it moved, point `core_lists` in xtask/src/tidy.rs at its new home."
        )
    };
    let text =
        fs::read_to_string(root.join(file)).map_err(|e| moved(format!("cannot read ({e})")))?;
    let from = text
        .find(start)
        .ok_or_else(|| moved(format!("found no `{start}`")))?
        + start.len();
    let len = text[from..]
        .find(end)
        .ok_or_else(|| moved(format!("found no `{end}` after it")))?;
    let mut rest = &text[from..from + len];
    let mut names = Vec::new();
    while let Some(at) = rest.find(open) {
        rest = &rest[at + open.len()..];
        let close = rest.find('"').unwrap_or(rest.len());
        names.push(rest[..close].to_string());
        rest = rest.get(close + 1..).unwrap_or_default();
    }
    if names.is_empty() {
        return Err(moved(format!("found no `{open}…\"` before `{end}`")));
    }
    Ok(names)
}

/// The language of `path` (relative, `/`-separated) if tidy checks it, `None` if it is out of
/// scope or exempt.
fn language(path: &str) -> Option<Lang> {
    let in_scope = ROOTS.iter().any(|root| {
        path == *root
            || path
                .strip_prefix(root)
                .is_some_and(|rest| rest.starts_with('/'))
    });
    // A `tests` directory, or a module's `tests.rs` (declared `#[cfg(test)] mod tests;`).
    let test_code = path
        .split('/')
        .any(|part| part == "tests" || part == "tests.rs");
    if !in_scope || test_code {
        return None;
    }
    match path.rsplit_once('.')?.1 {
        "rs" => Some(Lang::Rust),
        "js" | "mjs" => Some(Lang::Js),
        "html" => Some(Lang::Html),
        _ => None,
    }
}

/// Every violation in the file at `path` (relative to the root) with contents `text`.
fn check(path: &str, text: &str, lists: &Lists) -> Vec<Violation> {
    let Some(lang) = language(path) else {
        return Vec::new();
    };
    let text = match lang {
        Lang::Rust => before_tests(text),
        Lang::Js | Lang::Html => text,
    };
    let src = Source {
        text,
        kinds: lex::kinds(lang, text),
    };
    let mut hits = status_codes(&src);
    hits.extend(proxy_errors(&src, &lists.errors));
    hits.extend(hop_by_hop(&src, &lists.hop_by_hop));
    let mut found: Vec<Violation> = hits
        .into_iter()
        .map(|(at, what, rule)| Violation {
            path: path.to_string(),
            line: src.line_of(at),
            what,
            rule,
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

/// `text` up to its first line starting with `#[cfg(test)]`: the rest is tests.
fn before_tests(text: &str) -> &str {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with("#[cfg(test)]") {
            return &text[..at];
        }
        at += line.len();
    }
    text
}

/// A byte offset, what sits there, and the rule it breaks.
type Hit = (usize, String, Rule);

/// A file's text and the kind of each of its bytes.
struct Source<'a> {
    text: &'a str,
    kinds: Vec<Kind>,
}

impl Source<'_> {
    /// The 1-based line of byte offset `at`.
    fn line_of(&self, at: usize) -> usize {
        self.text.as_bytes()[..at]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// Whether every byte in `range` is of `kind`.
    fn all(&self, range: Range<usize>, kind: Kind) -> bool {
        self.kinds[range].iter().all(|&k| k == kind)
    }

    /// Each literal's byte range and kind: the maximal runs of `Str`, `Attr` or `Regex`.
    fn literals(&self) -> Vec<(Range<usize>, Kind)> {
        let mut out: Vec<(Range<usize>, Kind)> = Vec::new();
        for (i, &kind) in self.kinds.iter().enumerate() {
            if matches!(kind, Kind::Code | Kind::Skip) {
                continue;
            }
            match out.last_mut() {
                Some((range, k)) if range.end == i && *k == kind => range.end = i + 1,
                _ => out.push((i..i + 1, kind)),
            }
        }
        out
    }

    /// Each line's start offset and text with comments and prose blanked (same length).
    fn masked_lines(&self) -> Vec<(usize, String)> {
        let masked: String = self
            .text
            .char_indices()
            .flat_map(|(i, c)| {
                let blank = self.kinds[i] == Kind::Skip && c != '\n';
                let (c, n) = if blank { (' ', c.len_utf8()) } else { (c, 1) };
                std::iter::repeat_n(c, n)
            })
            .collect();
        let mut at = 0;
        masked
            .split_inclusive('\n')
            .map(|line| {
                at += line.len();
                (at - line.len(), line.to_string())
            })
            .collect()
    }
}

/// Whether `n` is a registered HTTP status code.
fn registered(n: u16) -> bool {
    REGISTERED.iter().any(|&(lo, hi)| (lo..=hi).contains(&n))
}

/// Rule (a): numbers compared or on a line about statuses, status lines in literals, regexes
/// that read a status.
fn status_codes(src: &Source) -> Vec<Hit> {
    let literals = src.literals();
    let mut hits = Vec::new();
    for (start, line) in src.masked_lines() {
        let about_status = mentions_status(&line);
        for (range, n) in numbers(&line) {
            let abs = start + range.start..start + range.end;
            let literal = literals.iter().find(|(r, _)| *r == abs).map(|&(_, k)| k);
            let compared = match literal {
                None if src.all(abs.clone(), Kind::Code) => {
                    compared(&line[..range.start], &line[range.end..])
                }
                Some(Kind::Str) => compared(
                    unquote_end(&line[..range.start]),
                    unquote_start(&line[range.end..]),
                ),
                // HTML has no comparisons: `value="502">` is not `502 >`.
                Some(Kind::Attr) => false,
                _ => continue,
            };
            if compared {
                hits.push((abs.start, format!("`{n}` compared"), Rule::Status));
            } else if about_status {
                hits.push((
                    abs.start,
                    format!("`{n}` on a line about statuses"),
                    Rule::Status,
                ));
            }
        }
    }
    for (range, kind) in literals {
        let text = &src.text[range.clone()];
        match kind {
            Kind::Str | Kind::Attr => {
                if let Some((at, n)) = status_line(text) {
                    hits.push((
                        range.start + at,
                        format!("`{n}` in the text \"{}\"", first_line(text)),
                        Rule::Status,
                    ));
                }
            }
            Kind::Regex if reads_status(text) => {
                hits.push((
                    range.start,
                    format!("/{text}/ reads a status"),
                    Rule::Status,
                ));
            }
            _ => {}
        }
    }
    hits
}

/// The three-digit registered statuses in `line`, with their byte ranges.
fn numbers(line: &str) -> Vec<(Range<usize>, u16)> {
    let b = line.as_bytes();
    let touches = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'#';
    let digit_at = |i: Option<usize>| i.and_then(|i| b.get(i)).is_some_and(u8::is_ascii_digit);
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let len = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            i += 1;
            continue;
        }
        let end = i + len;
        let before_ok =
            i == 0 || !(touches(b[i - 1]) || (b[i - 1] == b'.' && digit_at(i.checked_sub(2))));
        let after_ok = b
            .get(end)
            .is_none_or(|&c| !(touches(c) || (c == b'.' && digit_at(Some(end + 1)))));
        if len == 3 && before_ok && after_ok {
            if let Some(n) = line[i..end].parse().ok().filter(|&n| registered(n)) {
                out.push((i..end, n));
            }
        }
        i = end;
    }
    out
}

/// Whether a number between `before` and `after` is an operand of a comparison or a match arm.
fn compared(before: &str, after: &str) -> bool {
    let before = before.trim_end();
    let after = after.trim_start();
    let op_before = ["==", "!=", "<=", ">=", "<"]
        .iter()
        .any(|op| before.ends_with(op))
        || (before.ends_with('>') && !["=>", "->", ">>"].iter().any(|op| before.ends_with(op)));
    let op_after = ["==", "!=", "<", ">", "=>"]
        .iter()
        .any(|op| after.starts_with(op));
    op_before || op_after
}

/// `s` without the quote that ends it, if any: what comes before a `"407"`.
fn unquote_end(s: &str) -> &str {
    s.strip_suffix(['"', '\'', '`']).unwrap_or(s)
}

/// `s` without the quote that starts it, if any: what comes after a `"407"`.
fn unquote_start(s: &str) -> &str {
    s.strip_prefix(['"', '\'', '`']).unwrap_or(s)
}

/// Whether `line` mentions `status`, `code` or `reason` as an identifier word, or `HTTP/`.
fn mentions_status(line: &str) -> bool {
    line.to_ascii_lowercase().contains("http/")
        || line
            .split(|c: char| !c.is_ascii_alphanumeric())
            .flat_map(camel_words)
            .any(|w| STATUS_WORDS.iter().any(|s| w.eq_ignore_ascii_case(s)))
}

/// `statusCode` → `status`, `Code`.
fn camel_words(word: &str) -> Vec<&str> {
    let b = word.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..b.len() {
        if b[i].is_ascii_uppercase() && b[i - 1].is_ascii_lowercase() {
            out.push(&word[start..i]);
            start = i;
        }
    }
    out.push(&word[start..]);
    out
}

/// Where a literal's text reads as a status line: `404 Not Found…` at its start, or
/// `HTTP/1.1 200` anywhere.
fn status_line(text: &str) -> Option<(usize, u16)> {
    let status_at = |at: usize| {
        let n: u16 = text.get(at..at + 3)?.parse().ok()?;
        let next = text.as_bytes().get(at + 3);
        (registered(n) && next.is_none_or(|c| !c.is_ascii_digit())).then_some((at, n))
    };
    if let Some(hit) = status_at(0).filter(|_| {
        text[3..].starts_with(' ') && text[4..].starts_with(|c: char| c.is_ascii_alphabetic())
    }) {
        return Some(hit);
    }
    let upper = text.to_ascii_uppercase();
    upper.match_indices("HTTP/").find_map(|(at, _)| {
        let version = upper[at + 5..]
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        let space = at + 5 + version;
        (version > 0 && upper[space..].starts_with(' '))
            .then(|| status_at(space + 1))
            .flatten()
    })
}

/// Whether a regex body matches a three-digit status.
fn reads_status(regex: &str) -> bool {
    ["\\d{3}", "\\d\\d\\d", "[1-5]\\d", "[1-5])\\d"]
        .iter()
        .any(|p| regex.contains(p))
}

/// The first line of a literal, to name it in a message.
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// Rule (b): the Proxy-Status error types as whole words outside comments and prose.
fn proxy_errors(src: &Source, errors: &[String]) -> Vec<Hit> {
    let b = src.text.as_bytes();
    let word = |i: usize| {
        b.get(i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    };
    let mut hits = Vec::new();
    for error in errors {
        for (at, _) in src.text.match_indices(error.as_str()) {
            let end = at + error.len();
            let whole = !word(end) && (at == 0 || !word(at - 1));
            if whole && src.kinds[at..end].iter().all(|&k| k != Kind::Skip) {
                hits.push((at, format!("`{error}`"), Rule::ProxyError));
            }
        }
    }
    hits
}

/// Rule (c): hop-by-hop header names as whole literals, header lines or capitalised keys.
fn hop_by_hop(src: &Source, names: &[String]) -> Vec<Hit> {
    let is_name = |s: &str| names.iter().any(|n| n.eq_ignore_ascii_case(s));
    let mut hits = Vec::new();
    for (range, kind) in src.literals() {
        let text = &src.text[range.clone()];
        if kind == Kind::Str && is_name(text.trim()) {
            hits.push((range.start, format!("\"{}\"", text.trim()), Rule::HopByHop));
            continue;
        }
        if kind == Kind::Regex {
            continue;
        }
        for at in line_starts(text) {
            if let Some(name) = header_line_name(&text[at..], names) {
                hits.push((range.start + at, format!("\"{name}:\""), Rule::HopByHop));
            }
        }
    }
    hits.extend(capitalised_keys(src, &is_name));
    hits
}

/// Where lines start inside a literal: at 0, after a newline, after a written `\n`.
fn line_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
    starts.extend(text.match_indices("\\n").map(|(i, _)| i + 2));
    starts
}

/// The header name `line` starts with, if it is a hop-by-hop one followed by a colon.
fn header_line_name<'t>(line: &'t str, names: &[String]) -> Option<&'t str> {
    names.iter().find_map(|n| {
        let head = line.get(..n.len()).filter(|h| h.eq_ignore_ascii_case(n))?;
        line[n.len()..]
            .trim_start_matches([' ', '\t'])
            .starts_with(':')
            .then_some(head)
    })
}

/// `Connection:` in code: a header-cased name used as a key.
fn capitalised_keys(src: &Source, is_name: &dyn Fn(&str) -> bool) -> Vec<Hit> {
    let b = src.text.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$';
    let mut hits = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let len = b[i..].iter().take_while(|&&c| ident(c)).count();
        if len == 0 {
            i += 1;
            continue;
        }
        let end = i + len;
        let word = &src.text[i..end];
        let rest = src.text[end..].trim_start_matches([' ', '\t']);
        let key = rest.starts_with(':') && !rest.starts_with("::");
        let capital = b[i].is_ascii_uppercase();
        let starts_word = i == 0 || !ident(b[i - 1]);
        if starts_word && capital && key && is_name(word) && src.all(i..end, Kind::Code) {
            hits.push((i, format!("`{word}:`"), Rule::HopByHop));
        }
        i = end;
    }
    hits
}

/// Every file under the roots that tidy checks, relative to `root`, sorted.
fn checked_files(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for dir in ROOTS {
        collect(root, &root.join(dir), &mut files);
    }
    files.retain(|f| language(f).is_some());
    files.sort();
    files
}

/// Adds `path`, or every file under it, to `files` relative to `root`.
fn collect(root: &Path, path: &Path, files: &mut Vec<String>) {
    if path.is_dir() {
        let entries =
            fs::read_dir(path).unwrap_or_else(|e| panic!("tidy: reading {}: {e}", path.display()));
        for entry in entries {
            let entry = entry.unwrap_or_else(|e| panic!("tidy: reading {}: {e}", path.display()));
            collect(root, &entry.path(), files);
        }
    } else if let Ok(rel) = path.strip_prefix(root) {
        files.push(rel.to_string_lossy().replace('\\', "/"));
    }
}

/// The failure message: every violation, one a line, then how to fix them.
fn report(violations: &[Violation]) -> String {
    let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
    format!(
        "\n{} decision(s) outside core/:\n\n{}\n\n{HOW_TO_FIX}\n",
        violations.len(),
        list.join("\n")
    )
}

/// The lists of the real tree; a missing list fails the test with `core_lists`'s message.
fn root_lists(root: &Path) -> Lists {
    core_lists(root).unwrap_or_else(|e| panic!("{e}"))
}

/// The real tree: fails until every decision outside core/ has moved into it.
#[test]
fn no_decisions_outside_core() {
    let root: PathBuf = crate::project_root();
    let lists = root_lists(&root);
    let mut violations = Vec::new();
    for file in checked_files(&root) {
        let text = fs::read_to_string(root.join(&file))
            .unwrap_or_else(|e| panic!("tidy: reading {file}: {e}"));
        violations.extend(check(&file, &text, &lists));
    }
    violations.sort();
    assert!(violations.is_empty(), "{}", report(&violations));
}

/// The lookup still finds both lists where the core keeps them.
#[test]
fn lists_come_from_the_core() {
    let lists = root_lists(&crate::project_root());
    assert!(lists.errors.iter().any(|e| e == "dns_error"), "{lists:?}");
    for header in [
        "connection",
        "transfer-encoding",
        "keep-alive",
        "proxy-connection",
    ] {
        assert!(
            lists.hop_by_hop.iter().any(|h| h == header),
            "{header}: {lists:?}"
        );
    }
}

/// Every rule on synthetic files, so they are proven whatever the tree holds.
mod tests;
