//! Incremental request-head parsing: "need more bytes" is not "malformed".
//!
//! httparse does the grammar (it is what hyper uses, so its accept/reject
//! choices are the ones a hyper-based proxy would make); this module adds the
//! limits and the checks a proxy needs on top: lengths, Host, framing.

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
}

/// One header field as received: the name keeps its case, the value its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Field name as sent.
    pub name: String,
    /// Field value, without surrounding whitespace.
    pub value: Vec<u8>,
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
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_slice())
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
        self.values("connection")
            .chain(self.values("proxy-connection"))
            .flat_map(|v| v.split(|b| *b == b','))
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    }
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

/// Parses the bytes received so far; call again with more on `Partial`.
pub fn parse(buf: &[u8], limits: &HeadLimits) -> HeadParse {
    // Browsers may send a stray CRLF after a previous body (RFC 9112 §2.2).
    let skipped = leading_blank_lines(buf);
    let rest = &buf[skipped..];
    let line_end = rest.iter().position(|b| *b == b'\n');
    if line_end.unwrap_or(rest.len()) > limits.request_line {
        return HeadParse::Invalid(HeadError::LineTooLong);
    }
    let mut headers = vec![httparse::EMPTY_HEADER; limits.headers];
    let mut req = httparse::Request::new(&mut headers);
    let parsed = req.parse(buf);
    match parsed {
        Ok(httparse::Status::Partial) => {
            if buf.len() > limits.head_bytes {
                HeadParse::Invalid(HeadError::HeadTooLarge)
            } else {
                HeadParse::Partial
            }
        }
        Ok(httparse::Status::Complete(len)) if len > limits.head_bytes => {
            HeadParse::Invalid(HeadError::HeadTooLarge)
        }
        Ok(httparse::Status::Complete(len)) => match convert(&req) {
            Ok(head) => HeadParse::Complete(head, len),
            Err(e) => HeadParse::Invalid(e),
        },
        Err(httparse::Error::TooManyHeaders) => HeadParse::Invalid(HeadError::TooManyHeaders),
        // httparse rejects `HTTP/2` before the line ends; wait for the whole
        // line so `HTTP/2.0` (505) and garbage (400) are told apart the same
        // way however the bytes arrive.
        Err(httparse::Error::Version) if line_end.is_none() => HeadParse::Partial,
        Err(httparse::Error::Version) => HeadParse::Invalid(version_error(rest)),
        Err(e) => HeadParse::Invalid(HeadError::Malformed(describe(e))),
    }
}

fn leading_blank_lines(buf: &[u8]) -> usize {
    let mut i = 0;
    loop {
        match buf.get(i..) {
            Some([b'\r', b'\n', ..]) => i += 2,
            Some([b'\n', ..]) => i += 1,
            _ => return i,
        }
    }
}

/// `HTTP/2.0` is a version we do not speak (505); `HTTX/1.1` is garbage (400).
fn version_error(rest: &[u8]) -> HeadError {
    let line = rest.split(|b| *b == b'\n').next().unwrap_or(rest);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let last = line.rsplit(|b| *b == b' ').next().unwrap_or(line);
    match last {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            HeadError::UnsupportedVersion
        }
        _ => HeadError::Malformed("the request line is not METHOD TARGET HTTP/1.x"),
    }
}

fn describe(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "a header name is invalid (no spaces before the colon)",
        httparse::Error::HeaderValue => "a header value contains a control character",
        httparse::Error::NewLine => "a line ends with a bare CR",
        httparse::Error::Token => "the request line is not METHOD TARGET HTTP/1.x",
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
    let version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };
    let headers = req
        .headers
        .iter()
        .map(|h| Header {
            name: h.name.to_string(),
            value: h.value.trim_ascii().to_vec(),
        })
        .collect();
    Ok(RequestHead {
        method: method.to_string(),
        target: target.to_string(),
        version,
        headers,
    })
}

/// How a request's body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "length")]
pub enum BodyFraming {
    /// No body.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

/// A framing problem, with the status it earns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramingError {
    /// Bad or conflicting Content-Length / Transfer-Encoding: 400.
    Invalid(&'static str),
    /// A transfer coding other than chunked: 501.
    UnknownCoding,
}

/// Reads the body framing of a request (RFC 9112 §6), strictly.
pub fn body_framing(head: &RequestHead) -> Result<BodyFraming, FramingError> {
    let te: Vec<&[u8]> = head.values("transfer-encoding").collect();
    let cl: Vec<&[u8]> = head.values("content-length").collect();
    if !te.is_empty() {
        if !cl.is_empty() {
            return Err(FramingError::Invalid(
                "both Content-Length and Transfer-Encoding are present",
            ));
        }
        if head.version == Version::Http10 {
            return Err(FramingError::Invalid(
                "Transfer-Encoding is not allowed in HTTP/1.0",
            ));
        }
        if te.len() > 1 {
            return Err(FramingError::Invalid(
                "Transfer-Encoding is sent more than once",
            ));
        }
        let codings: Vec<&[u8]> = te[0]
            .split(|b| *b == b',')
            .map(<[u8]>::trim_ascii)
            .collect();
        return match codings.as_slice() {
            [only] if only.eq_ignore_ascii_case(b"chunked") => Ok(BodyFraming::Chunked),
            [.., last] if !last.eq_ignore_ascii_case(b"chunked") => Err(FramingError::Invalid(
                "the last transfer coding is not chunked",
            )),
            [earlier @ .., _] if earlier.iter().any(|c| c.eq_ignore_ascii_case(b"chunked")) => {
                Err(FramingError::Invalid("chunked is applied more than once"))
            }
            _ => Err(FramingError::UnknownCoding),
        };
    }
    match cl.as_slice() {
        [] => Ok(BodyFraming::Empty),
        [one] => match parse_length(one) {
            Some(0) => Ok(BodyFraming::Empty),
            Some(n) => Ok(BodyFraming::Length(n)),
            None => Err(FramingError::Invalid(
                "Content-Length is not a plain number",
            )),
        },
        _ => Err(FramingError::Invalid(
            "Content-Length is sent more than once",
        )),
    }
}

/// Digits only (no sign, no list), at most 18 of them so it cannot overflow.
fn parse_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(bytes: &[u8]) -> HeadParse {
        parse(bytes, &HeadLimits::default())
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
    fn grammar_errors() {
        for bad in [
            &b"GET http://a/ HTTP/1.1\r\nHost : a\r\n\r\n"[..],
            b"GET http://a/ HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            b"GET http://a/ HTTP/1.1\rHost: a\r\n\r\n",
            b" GET http://a/ HTTP/1.1\r\n\r\n",
            b"GET http://a/ HTTP/1.1\r\nX: a\x00b\r\n\r\n",
        ] {
            assert!(
                matches!(p(bad), HeadParse::Invalid(HeadError::Malformed(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            p(b"GET http://a/ HTTP/2.0\r\n\r\n"),
            HeadParse::Invalid(HeadError::UnsupportedVersion)
        );
    }

    #[test]
    fn framing() {
        let f = |extra: &str| {
            body_framing(&head(
                format!("POST http://a/ HTTP/1.1\r\nHost: a\r\n{extra}\r\n").as_bytes(),
            ))
        };
        assert_eq!(f(""), Ok(BodyFraming::Empty));
        assert_eq!(f("Content-Length: 0\r\n"), Ok(BodyFraming::Empty));
        assert_eq!(f("Content-Length: 12\r\n"), Ok(BodyFraming::Length(12)));
        assert_eq!(
            f("Transfer-Encoding: Chunked\r\n"),
            Ok(BodyFraming::Chunked)
        );
        for bad in [
            "Content-Length: +5\r\n",
            "Content-Length: 5, 6\r\n",
            "Content-Length: 0x5\r\n",
            "Content-Length: -1\r\n",
            "Content-Length: 99999999999999999999\r\n",
            "Content-Length: 5\r\nContent-Length: 5\r\n",
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: chunked, gzip\r\n",
            "Transfer-Encoding: chunked, chunked\r\n",
        ] {
            assert!(
                matches!(f(bad), Err(FramingError::Invalid(_))),
                "{bad:?} -> {:?}",
                f(bad)
            );
        }
        assert_eq!(
            f("Transfer-Encoding: gzip, chunked\r\n"),
            Err(FramingError::UnknownCoding)
        );
    }

    #[test]
    fn connection_tokens() {
        let h = head(b"GET http://a/ HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, Close\r\n\r\n");
        assert!(h.connection_has("close"));
        assert!(!h.connection_has("upgrade"));
    }
}
