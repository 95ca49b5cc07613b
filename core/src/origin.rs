//! The origin's side of a forwarded request: its response head, read
//! incrementally with the same care as a client's request head.
//!
//! Burrow parses the origin's bytes itself (with httparse, under its own
//! limits) rather than through an HTTP client library, so the fields keep
//! their order and repetitions and every limit is a setting with an answer.

use crate::head::{Header, Version};
use crate::settings::HeadLimits;

/// An origin's response head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    /// The origin's HTTP version.
    pub version: Version,
    /// The status code.
    pub status: u16,
    /// The reason phrase, as sent.
    pub reason: Vec<u8>,
    /// Header fields in order, repetitions kept.
    pub headers: Vec<Header>,
}

/// Why an origin's response head is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseError {
    /// The bytes do not start like an HTTP/1.x response.
    NotHttp,
    /// The head is larger than `limits.response_head_bytes`.
    TooLarge,
    /// More fields than `limits.response_headers`.
    TooManyFields,
    /// Anything else off-grammar.
    Malformed,
}

/// The result of looking at the origin's bytes so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseParse {
    /// Nothing is wrong yet; more bytes are needed.
    Partial,
    /// A complete head and its length in bytes.
    Complete(ResponseHead, usize),
    /// The bytes can never become a usable head.
    Invalid(ResponseError),
}

const PREFIX: &[u8] = b"HTTP/";

/// Finds and checks a response head in a buffer that grows as bytes arrive;
/// like [`crate::head::HeadReader`], only new bytes are looked at and the
/// answer depends on the bytes alone.
#[derive(Clone, Debug, Default)]
pub struct ResponseReader {
    scanned: usize,
    line_start: usize,
    fields: usize,
}

impl ResponseReader {
    /// A reader at the start of a response.
    pub fn new() -> Self {
        ResponseReader::default()
    }

    /// Looks at the bytes of `buf` not seen yet (`buf` only ever grows).
    pub fn advance(&mut self, buf: &[u8], limits: &HeadLimits) -> ResponseParse {
        // The status line starts with `HTTP/`: anything else is not worth waiting for.
        let known = buf.len().min(PREFIX.len());
        if buf[..known] != PREFIX[..known] {
            return ResponseParse::Invalid(ResponseError::NotHttp);
        }
        while self.scanned < buf.len() {
            let rest = &buf[self.scanned..];
            let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
                self.scanned = buf.len();
                break;
            };
            self.scanned += lf + 1;
            if self.scanned > limits.response_head_bytes {
                return ResponseParse::Invalid(ResponseError::TooLarge);
            }
            let line = &buf[self.line_start..self.scanned];
            let first = self.line_start == 0;
            self.line_start = self.scanned;
            if line == b"\r\n" || line == b"\n" {
                return finish(&buf[..self.scanned], self.fields);
            }
            if !first {
                self.fields += 1;
                if self.fields > limits.response_headers {
                    return ResponseParse::Invalid(ResponseError::TooManyFields);
                }
            }
        }
        if self.scanned > limits.response_head_bytes {
            return ResponseParse::Invalid(ResponseError::TooLarge);
        }
        ResponseParse::Partial
    }
}

fn finish(head: &[u8], fields: usize) -> ResponseParse {
    let mut slots = vec![httparse::EMPTY_HEADER; fields];
    let mut res = httparse::Response::new(&mut slots);
    match res.parse(head) {
        Ok(httparse::Status::Complete(len)) => {
            // A status below 100 has no class (RFC 9110 §15), and would be
            // relayed with fewer than three digits (found by fuzzing).
            let (Some(minor), Some(status @ 100..)) = (res.version, res.code) else {
                return ResponseParse::Invalid(ResponseError::Malformed);
            };
            let version = Version::from_minor(minor);
            let headers = Header::all_from(res.headers);
            let reason = res.reason.unwrap_or_default().as_bytes().to_vec();
            ResponseParse::Complete(
                ResponseHead {
                    version,
                    status,
                    reason,
                    headers,
                },
                len,
            )
        }
        Ok(httparse::Status::Partial) | Err(_) => ResponseParse::Invalid(ResponseError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(bytes: &[u8]) -> ResponseParse {
        ResponseReader::new().advance(bytes, &HeadLimits::default())
    }

    fn in_pieces(bytes: &[u8], piece: usize, limits: &HeadLimits) -> ResponseParse {
        let mut reader = ResponseReader::new();
        let mut buf = Vec::new();
        for chunk in bytes.chunks(piece) {
            buf.extend_from_slice(chunk);
            match reader.advance(&buf, limits) {
                ResponseParse::Partial => {}
                done => return done,
            }
        }
        ResponseParse::Partial
    }

    #[test]
    fn reads_a_head_keeping_order_and_repeats() {
        let bytes =
            b"HTTP/1.1 404 Not Here\r\nSet-Cookie: a=1\r\nX: y\r\nSet-Cookie: b=2\r\n\r\nbody";
        let ResponseParse::Complete(head, len) = whole(bytes) else {
            panic!("{:?}", whole(bytes));
        };
        assert_eq!(&bytes[len..], b"body");
        assert_eq!(head.status, 404);
        assert_eq!(head.reason, b"Not Here");
        let names: Vec<&str> = head.headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["Set-Cookie", "X", "Set-Cookie"]);
        for piece in [1, 3, 17] {
            assert_eq!(
                in_pieces(bytes, piece, &HeadLimits::default()),
                whole(bytes)
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_usable_head() {
        assert_eq!(
            whole(b"NOT HTTP"),
            ResponseParse::Invalid(ResponseError::NotHttp)
        );
        assert_eq!(whole(b"HTT"), ResponseParse::Partial);
        assert_eq!(
            whole(b"HTTP/1.1 2x0 OK\r\n\r\n"),
            ResponseParse::Invalid(ResponseError::Malformed)
        );
        assert_eq!(
            whole(b"HTTP/1.1 002 OK\r\n\r\n"),
            ResponseParse::Invalid(ResponseError::Malformed)
        );
        let limits = HeadLimits {
            response_headers: 2,
            response_head_bytes: 64,
            ..HeadLimits::default()
        };
        let many = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        assert_eq!(
            in_pieces(many, 1, &limits),
            ResponseParse::Invalid(ResponseError::TooManyFields)
        );
        let big = format!("HTTP/1.1 200 OK\r\nA: {}\r\n\r\n", "x".repeat(60));
        assert_eq!(
            in_pieces(big.as_bytes(), 1, &limits),
            ResponseParse::Invalid(ResponseError::TooLarge)
        );
        assert_eq!(
            in_pieces(big.as_bytes(), 1000, &limits),
            ResponseParse::Invalid(ResponseError::TooLarge)
        );
    }
}
