//! Request heads: the parsed form, and an incremental reader that finds and
//! checks a head as its bytes arrive.
//!
//! httparse does the grammar (it is what hyper uses, so its accept/reject
//! choices are the ones a hyper-based proxy would make); [`HeadReader`] adds
//! what a proxy needs on top: limits, and an answer that depends only on the
//! bytes, never on how they were split into reads.
//!
//! The reader looks at every byte once as it arrives and checks each line
//! with httparse when its LF arrives, so a 60 KiB head sent one byte at a
//! time costs about what it costs in one write. Problems are found in byte
//! order: the first byte that makes the prefix unacceptable decides the
//! answer, whatever the segmentation.

use serde::{Deserialize, Serialize};

use crate::settings::HeadLimits;

/// The HTTP version of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Version {
    /// HTTP/1.0: no keep-alive by default, no Host required.
    #[serde(rename = "HTTP/1.0")]
    Http10,
    /// HTTP/1.1.
    #[serde(rename = "HTTP/1.1")]
    Http11,
}

impl Version {
    /// The version as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }

    /// The version httparse read as `HTTP/1.<minor>` (it accepts 0 and 1 only).
    pub(crate) fn from_minor(minor: u8) -> Version {
        if minor == 0 {
            Version::Http10
        } else {
            Version::Http11
        }
    }
}

/// One header field as received: the name keeps its case, the value its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Field name as sent.
    pub name: String,
    /// Field value, without surrounding whitespace.
    pub value: Vec<u8>,
}

impl Header {
    /// Owned copies of the fields httparse read, values trimmed.
    pub(crate) fn all_from(parsed: &[httparse::Header<'_>]) -> Vec<Header> {
        parsed
            .iter()
            .map(|h| Header {
                name: h.name.to_string(),
                value: h.value.trim_ascii().to_vec(),
            })
            .collect()
    }
}

/// A complete, syntactically valid request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// The method token, case preserved (`connect` is not `CONNECT`).
    pub method: String,
    /// The request target exactly as sent.
    pub target: String,
    /// The HTTP version.
    pub version: Version,
    /// Header fields in order.
    pub headers: Vec<Header>,
}

impl RequestHead {
    /// All values of the fields called `name` (case-insensitive), in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        values(&self.headers, name)
    }

    /// Whether the field called `name` is absent, sent once, or repeated.
    pub fn single<'a>(&'a self, name: &'a str) -> Field<'a> {
        let mut it = self.values(name);
        match (it.next(), it.next()) {
            (None, _) => Field::Absent,
            (Some(v), None) => Field::One(v),
            (Some(_), Some(_)) => Field::Repeated,
        }
    }

    /// Whether any `Connection` (or `Proxy-Connection`) field lists `token`.
    pub fn connection_has(&self, token: &str) -> bool {
        connection_has(&self.headers, token)
    }
}

/// All values of the fields called `name` (case-insensitive), in order.
pub fn values<'a>(headers: &'a [Header], name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_slice())
}

/// Whether any `Connection` (or `Proxy-Connection`) field in `headers` lists `token`.
pub fn connection_has(headers: &[Header], token: &str) -> bool {
    values(headers, "connection")
        .chain(values(headers, "proxy-connection"))
        .flat_map(|v| v.split(|b| *b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// A field that must appear at most once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field<'a> {
    /// Not sent.
    Absent,
    /// Sent once, with this value.
    One(&'a [u8]),
    /// Sent more than once.
    Repeated,
}

/// Why a head was refused, with the status it earns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// The request line is longer than the limit: 414.
    LineTooLong,
    /// The head is larger than the limit: 431.
    HeadTooLarge,
    /// More header fields than the limit: 431.
    TooManyHeaders,
    /// An HTTP version other than 1.0 or 1.1: 505.
    UnsupportedVersion,
    /// Anything off-grammar: 400, with what was wrong.
    Malformed(&'static str),
}

/// The result of looking at the bytes received so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeadParse {
    /// The head is not complete yet and nothing is wrong so far.
    Partial,
    /// A complete head, and how many bytes it took (what follows is body or tunnel data).
    Complete(RequestHead, usize),
    /// The bytes can never become a valid head.
    Invalid(HeadError),
}

/// Parses a whole buffer at once (the same answer [`HeadReader`] gives however the bytes arrive).
pub fn parse(buf: &[u8], limits: &HeadLimits) -> HeadParse {
    HeadReader::new().advance(buf, limits)
}

/// Where the reader is within the head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// Blank lines before the request line (RFC 9112 §2.2 lets us skip them).
    Blank,
    /// The request line; `in_method` until its first space.
    RequestLine { in_method: bool },
    /// Header field lines.
    Fields,
}

/// Finds and checks a request head in a buffer that grows as bytes arrive.
///
/// Call [`HeadReader::advance`] with the whole buffer each time bytes are
/// appended; only the new bytes are looked at.
#[derive(Clone, Debug)]
pub struct HeadReader {
    part: Part,
    /// Bytes already looked at.
    scanned: usize,
    /// Where the current line starts.
    line_start: usize,
    /// Header field lines seen.
    fields: usize,
    /// Bytes examined so far, counting every pass (see [`HeadReader::work`]).
    work: u64,
}

impl Default for HeadReader {
    fn default() -> Self {
        HeadReader::new()
    }
}

impl HeadReader {
    /// A reader at the start of a head.
    pub fn new() -> Self {
        HeadReader {
            part: Part::Blank,
            scanned: 0,
            line_start: 0,
            fields: 0,
            work: 0,
        }
    }

    /// How many bytes the reader has examined so far, every pass counted
    /// (the scan, each line's check, the final parse): the cost measure the
    /// tests hold linear in the head's length, however the bytes arrived.
    pub fn work(&self) -> u64 {
        self.work
    }

    /// Whether any byte of this head has been seen (blank lines included).
    pub fn started(&self) -> bool {
        self.scanned > 0
    }

    /// Looks at the bytes of `buf` not seen yet. `buf` must be the earlier
    /// buffer with bytes appended.
    pub fn advance(&mut self, buf: &[u8], limits: &HeadLimits) -> HeadParse {
        while self.scanned < buf.len() {
            let rest = &buf[self.scanned..];
            let lf = rest.iter().position(|&b| b == b'\n');
            let upto = lf.map_or(buf.len(), |i| self.scanned + i + 1);
            self.work += (upto - self.scanned) as u64;
            // Inside a field line only the size can go wrong before its LF:
            // the common case, kept cheap for heads that come a byte at a time.
            let quiet = self.part == Part::Fields && upto <= limits.head_bytes;
            // Bytes of the current line before its LF (or all that came).
            if !quiet {
                if let Some(e) = self.check_prefix(buf, upto, lf.is_some(), limits) {
                    return HeadParse::Invalid(e);
                }
            }
            self.scanned = upto;
            if lf.is_none() {
                break;
            }
            match self.end_of_line(buf, limits) {
                Ok(None) => {}
                Ok(Some(end)) => {
                    self.work += end as u64;
                    return finish(&buf[..end], self.fields, end);
                }
                Err(e) => return HeadParse::Invalid(e),
            }
        }
        HeadParse::Partial
    }

    /// The checks a byte can fail before its line is complete, in byte order.
    fn check_prefix(
        &mut self,
        buf: &[u8],
        upto: usize,
        has_lf: bool,
        limits: &HeadLimits,
    ) -> Option<HeadError> {
        let new = self.scanned..upto;
        // The earliest byte that breaks a rule decides which rule it is.
        let mut first: Option<(usize, HeadError)> = None;
        let mut note = |at: usize, e: HeadError| {
            if first.is_none_or(|(f, _)| at < f) {
                first = Some((at, e));
            }
        };
        // A head byte at index `head_bytes` or later: the head is too large.
        if upto > limits.head_bytes {
            note(limits.head_bytes.max(new.start), HeadError::HeadTooLarge);
        }
        // Where the method check starts: the new bytes, or the whole line
        // when it only now turns out not to be blank (it began with a CR).
        let mut method_from = new.start;
        if self.part == Part::Blank {
            let line = &buf[self.line_start..upto];
            let blank = line == b"\r" || line == b"\r\n" || line == b"\n";
            if !blank {
                self.part = Part::RequestLine { in_method: true };
                method_from = self.line_start;
            }
        }
        if let Part::RequestLine { in_method } = self.part {
            // The request line's length, not counting its line end (LF or
            // CR LF). A CR that may still turn out to be a line end's is not
            // counted yet, so the answer does not depend on where reads split.
            let mut end = if has_lf { upto - 1 } else { upto };
            if end > self.line_start && buf[end - 1] == b'\r' {
                end -= 1;
            }
            if end - self.line_start > limits.request_line {
                note(
                    self.line_start + limits.request_line,
                    HeadError::LineTooLong,
                );
            }
            if in_method {
                for (i, &b) in buf.iter().enumerate().take(upto).skip(method_from) {
                    match b {
                        b' ' => {
                            self.part = Part::RequestLine { in_method: false };
                            break;
                        }
                        // Bad line ends are httparse's to judge at the LF,
                        // and so is the rest of the line: a later read must
                        // not look at what this one did not (found by fuzzing).
                        b'\r' | b'\n' => {
                            self.part = Part::RequestLine { in_method: false };
                            break;
                        }
                        _ if is_tchar(b) => {}
                        _ => {
                            note(i, HeadError::Malformed(NOT_A_REQUEST_LINE));
                            break;
                        }
                    }
                }
            }
        }
        first.map(|(_, e)| e)
    }

    /// A line has just been completed at `self.scanned`; returns the head's
    /// length when this was the blank line that ends it.
    fn end_of_line(&mut self, buf: &[u8], limits: &HeadLimits) -> Result<Option<usize>, HeadError> {
        let line = &buf[self.line_start..self.scanned];
        self.line_start = self.scanned;
        self.work += line.len() as u64;
        let blank = line == b"\r\n" || line == b"\n";
        match self.part {
            Part::Blank => Ok(None),
            Part::RequestLine { .. } => {
                self.part = Part::Fields;
                check_request_line(line).map(|()| None)
            }
            Part::Fields if blank => Ok(Some(self.scanned)),
            Part::Fields => {
                self.fields += 1;
                if self.fields > limits.headers {
                    return Err(HeadError::TooManyHeaders);
                }
                check_field_line(line).map(|()| None)
            }
        }
    }
}

const NOT_A_REQUEST_LINE: &str = "the request line is not METHOD TARGET HTTP/1.x";

/// RFC 9110 §5.6.2 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Checks one request line (with its line end) with httparse.
fn check_request_line(line: &[u8]) -> Result<(), HeadError> {
    let mut req = httparse::Request::new(&mut []);
    match req.parse(line) {
        // Partial: the line is fine and the fields have not come yet.
        Ok(_) => Ok(()),
        Err(httparse::Error::Version) => Err(version_error(line)),
        Err(e) => Err(HeadError::Malformed(describe(e))),
    }
}

/// Checks one header field line (with its line end) with httparse.
fn check_field_line(line: &[u8]) -> Result<(), HeadError> {
    let mut one = [httparse::EMPTY_HEADER; 1];
    match httparse::parse_headers(line, &mut one) {
        Ok(_) => Ok(()),
        Err(e) => Err(HeadError::Malformed(describe(e))),
    }
}

/// Parses the complete head `head` (every line already checked).
fn finish(head: &[u8], fields: usize, len: usize) -> HeadParse {
    let mut slots = vec![httparse::EMPTY_HEADER; fields];
    let mut req = httparse::Request::new(&mut slots);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => match convert(&req) {
            Ok(head) => HeadParse::Complete(head, len),
            Err(e) => HeadParse::Invalid(e),
        },
        // Every line passed on its own; the whole can still fail in ways a
        // line cannot show, and that is malformed too.
        Ok(httparse::Status::Partial) => {
            HeadParse::Invalid(HeadError::Malformed("the request head is malformed"))
        }
        Err(e) => HeadParse::Invalid(HeadError::Malformed(describe(e))),
    }
}

/// `HTTP/2.0` is a version we do not speak (505); `HTTX/1.1` is garbage (400).
fn version_error(line: &[u8]) -> HeadError {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let last = line.rsplit(|b| *b == b' ').next().unwrap_or(line);
    match last {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            HeadError::UnsupportedVersion
        }
        _ => HeadError::Malformed(NOT_A_REQUEST_LINE),
    }
}

fn describe(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "a header name is invalid (no spaces before the colon)",
        httparse::Error::HeaderValue => "a header value contains a control character",
        httparse::Error::NewLine => "a line ends with a bare CR",
        httparse::Error::Token => NOT_A_REQUEST_LINE,
        _ => "the request head is malformed",
    }
}

fn convert(req: &httparse::Request<'_, '_>) -> Result<RequestHead, HeadError> {
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(HeadError::Malformed("the request line is incomplete"));
    };
    if target.is_empty() {
        return Err(HeadError::Malformed("the request target is empty"));
    }
    let version = Version::from_minor(minor);
    let headers = Header::all_from(req.headers);
    Ok(RequestHead {
        method: method.to_string(),
        target: target.to_string(),
        version,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(bytes: &[u8]) -> HeadParse {
        parse(bytes, &HeadLimits::default())
    }

    /// Feeds `bytes` in pieces of `piece`, as an engine would.
    fn in_pieces(bytes: &[u8], piece: usize, limits: &HeadLimits) -> HeadParse {
        let mut reader = HeadReader::new();
        let mut buf = Vec::new();
        for chunk in bytes.chunks(piece.max(1)) {
            buf.extend_from_slice(chunk);
            match reader.advance(&buf, limits) {
                HeadParse::Partial => {}
                done => return done,
            }
        }
        HeadParse::Partial
    }

    fn head(bytes: &[u8]) -> RequestHead {
        match p(bytes) {
            HeadParse::Complete(h, _) => h,
            other => panic!("expected a head, got {other:?}"),
        }
    }

    #[test]
    fn complete_partial_and_length() {
        let req = b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\nEARLY";
        match p(req) {
            HeadParse::Complete(h, n) => {
                assert_eq!(h.method, "CONNECT");
                assert_eq!(h.target, "a.example:443");
                assert_eq!(h.version, Version::Http11);
                assert_eq!(&req[n..], b"EARLY");
            }
            other => panic!("{other:?}"),
        }
        for cut in 0..req.len() - 5 {
            assert_eq!(p(&req[..cut]), HeadParse::Partial, "cut at {cut}");
        }
    }

    #[test]
    fn leading_crlf_and_bare_lf_are_accepted() {
        let h = head(b"\r\n\nGET http://a/ HTTP/1.0\nHost: a\n\n");
        assert_eq!(h.version, Version::Http10);
        assert_eq!(h.headers.len(), 1);
    }

    #[test]
    fn limits() {
        let long = format!("GET http://a/{} HTTP/1.1\r\n", "x".repeat(20_000));
        assert_eq!(
            p(long.as_bytes()),
            HeadParse::Invalid(HeadError::LineTooLong)
        );
        let mut many = String::from("GET http://a/ HTTP/1.1\r\n");
        for i in 0..101 {
            many.push_str(&format!("X-{i}: y\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(
            p(many.as_bytes()),
            HeadParse::Invalid(HeadError::TooManyHeaders)
        );
        let mut big = String::from("GET http://a/ HTTP/1.1\r\n");
        for _ in 0..20 {
            big.push_str(&format!("X: {}\r\n", "v".repeat(4000)));
        }
        assert_eq!(
            p(big.as_bytes()),
            HeadParse::Invalid(HeadError::HeadTooLarge)
        );
    }

    #[test]
    fn a_head_of_exactly_the_limit_is_accepted() {
        let limits = HeadLimits {
            head_bytes: 1024,
            ..HeadLimits::default()
        };
        let start = "GET http://a/ HTTP/1.1\r\nX: ";
        let filler = "v".repeat(1024 - start.len() - 4);
        let exact = format!("{start}{filler}\r\n\r\nBODY");
        assert!(matches!(
            parse(exact.as_bytes(), &limits),
            HeadParse::Complete(_, 1024)
        ));
        let over = format!("{start}{filler}v\r\n\r\n");
        assert_eq!(
            parse(over.as_bytes(), &limits),
            HeadParse::Invalid(HeadError::HeadTooLarge)
        );
    }

    #[test]
    fn grammar_errors() {
        for bad in [
            &b"GET http://a/ HTTP/1.1\r\nHost : a\r\n\r\n"[..],
            b"GET http://a/ HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            b"GET http://a/ HTTP/1.1\rHost: a\r\n\r\n",
            b" GET http://a/ HTTP/1.1\r\n\r\n",
            b"GET http://a/ HTTP/1.1\r\nX: a\x00b\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01",
        ] {
            assert!(
                matches!(p(bad), HeadParse::Invalid(HeadError::Malformed(_))),
                "{:?} -> {:?}",
                String::from_utf8_lossy(bad),
                p(bad)
            );
        }
        assert_eq!(
            p(b"GET http://a/ HTTP/2.0\r\n\r\n"),
            HeadParse::Invalid(HeadError::UnsupportedVersion)
        );
    }

    #[test]
    fn garbage_is_refused_at_its_first_byte() {
        // A TLS ClientHello sent to the proxy port: no need to wait for a line end.
        assert!(matches!(
            in_pieces(b"\x16\x03\x01", 1, &HeadLimits::default()),
            HeadParse::Invalid(HeadError::Malformed(_))
        ));
    }

    /// A 60 KiB head costs the same work whether it comes whole or one byte
    /// at a time (the time it takes is measured by `cargo bench --bench head`).
    #[test]
    fn work_is_linear_whatever_the_segmentation() {
        let mut head = String::from("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n");
        while head.len() < 60 * 1024 {
            head.push_str(&format!(
                "X-Filler-{}: {}\r\n",
                head.len(),
                "v".repeat(1200)
            ));
        }
        head.push_str("\r\n");
        let work = |piece: usize| {
            let mut reader = HeadReader::new();
            let mut buf = Vec::new();
            for chunk in head.as_bytes().chunks(piece) {
                buf.extend_from_slice(chunk);
                if let HeadParse::Complete(..) = reader.advance(&buf, &HeadLimits::default()) {
                    return reader.work();
                }
            }
            panic!("the head did not complete in pieces of {piece}");
        };
        let whole = work(usize::MAX);
        assert!(
            whole <= 3 * head.len() as u64,
            "{whole} for {} bytes",
            head.len()
        );
        assert_eq!(work(1), whole);
        assert_eq!(work(7), whole);
    }

    /// The answer is a function of the bytes alone, near every limit.
    #[test]
    fn segmentation_never_changes_the_answer() {
        let limits = HeadLimits {
            request_line: 1024,
            headers: 16,
            head_bytes: 2048,
            ..HeadLimits::default()
        };
        let mut cases: Vec<Vec<u8>> = vec![
            format!("GET http://a/{} HTTP/1.1\r\n\r\n", "x".repeat(1000)).into_bytes(),
            format!("GET http://a/{} HTTP/1.1\r\n\r\n", "x".repeat(1010)).into_bytes(),
            format!("GET http://a/{}\x01 HTTP/1.1\r\n\r\n", "x".repeat(1020)).into_bytes(),
            format!("G\x01T http://a/{} HTTP/1.1\r\n", "x".repeat(3000)).into_bytes(),
            format!("GET http://a/ HTTP/1.1\r\nX: {}\r\n\r\n", "v".repeat(2030)).into_bytes(),
            format!("GET http://a/ HTTP/1.1\r\nX : {}\r\n\r\n", "v".repeat(2030)).into_bytes(),
            b"GET http://a/ HTTP/2.0\r\nHost: a\r\n\r\n".to_vec(),
            b"\r\n\r\n\r\nGET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(),
            b"\nun\rtil\x00".to_vec(),
        ];
        let mut many = b"GET http://a/ HTTP/1.1\r\n".to_vec();
        for i in 0..17 {
            many.extend_from_slice(format!("X-{i}: {}\r\n", "y".repeat(100)).as_bytes());
        }
        cases.push(many);
        for case in &cases {
            let whole = parse(case, &limits);
            for piece in [1, 2, 3, 7, 64, 1000] {
                assert_eq!(
                    in_pieces(case, piece, &limits),
                    whole,
                    "{:?} in pieces of {piece}",
                    String::from_utf8_lossy(&case[..case.len().min(60)])
                );
            }
        }
    }
}
