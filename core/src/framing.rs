//! Message framing (RFC 9112 §6): how long a request's or a response's body
//! is, read strictly from Content-Length and Transfer-Encoding.

use serde::{Deserialize, Serialize};

use crate::head::{self, Header, RequestHead, Version};

/// How a request's body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "length")]
pub enum BodyFraming {
    /// No body, and no framing field.
    Empty,
    /// Exactly this many bytes (`Content-Length`, possibly 0).
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
}

impl BodyFraming {
    /// Whether a body byte can follow the head.
    pub fn has_body(self) -> bool {
        !matches!(self, BodyFraming::Empty | BodyFraming::Length(0))
    }
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
pub fn request_framing(head: &RequestHead) -> Result<BodyFraming, FramingError> {
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
        let codings = codings(te[0]);
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

fn codings(value: &[u8]) -> Vec<&[u8]> {
    value
        .split(|b| *b == b',')
        .map(<[u8]>::trim_ascii)
        .collect()
}

/// Digits only (no sign, no list), at most 18 of them so it cannot overflow.
fn parse_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// How an origin's response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "length")]
pub enum ResponseBody {
    /// No body: a HEAD request, or a 1xx, 204 or 304 status.
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Everything until the origin closes the connection.
    UntilClose,
}

/// The origin's framing is unusable (RFC 9112 §6.3): a proxy answers 502.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadResponseFraming(pub &'static str);

/// Reads an origin response's body framing (RFC 9112 §6.3), given the
/// request method and the response status and fields.
pub fn response_framing(
    method: &str,
    status: u16,
    headers: &[Header],
) -> Result<ResponseBody, BadResponseFraming> {
    let bodiless =
        method == "HEAD" || (100..200).contains(&status) || status == 204 || status == 304;
    if bodiless {
        return Ok(ResponseBody::Empty);
    }
    let te: Vec<&[u8]> = head::values(headers, "transfer-encoding").collect();
    if let Some(last) = te.last() {
        // The final coding decides; anything else is read until the close.
        let chunked = codings(last)
            .last()
            .is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"));
        return Ok(if chunked {
            ResponseBody::Chunked
        } else {
            ResponseBody::UntilClose
        });
    }
    let mut length = None;
    for value in head::values(headers, "content-length") {
        // `42, 42` or repeated identical fields may be accepted (§6.3 item 5).
        for item in codings(value) {
            let n = parse_length(item).ok_or(BadResponseFraming(
                "the origin's Content-Length is not a number",
            ))?;
            if length.is_some_and(|l| l != n) {
                return Err(BadResponseFraming(
                    "the origin sent conflicting Content-Length values",
                ));
            }
            length = Some(n);
        }
    }
    Ok(length.map_or(ResponseBody::UntilClose, ResponseBody::Length))
}

/// Whether the origin's response framing forbids reusing its connection:
/// a close-delimited body, or Transfer-Encoding sent beside Content-Length
/// (RFC 9112 §6.3 item 3: read as chunked, then close).
pub fn response_ends_connection(framing: ResponseBody, headers: &[Header]) -> bool {
    framing == ResponseBody::UntilClose
        || (head::values(headers, "transfer-encoding").next().is_some()
            && head::values(headers, "content-length").next().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::{parse, HeadParse};

    fn head(bytes: &[u8]) -> RequestHead {
        match parse(bytes, &Default::default()) {
            HeadParse::Complete(h, _) => h,
            other => panic!("expected a head, got {other:?}"),
        }
    }

    #[test]
    fn request_framing_is_strict() {
        let f = |extra: &str| {
            request_framing(&head(
                format!("POST http://a/ HTTP/1.1\r\nHost: a\r\n{extra}\r\n").as_bytes(),
            ))
        };
        assert_eq!(f(""), Ok(BodyFraming::Empty));
        assert_eq!(f("Content-Length: 0\r\n"), Ok(BodyFraming::Length(0)));
        assert!(!BodyFraming::Length(0).has_body());
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

    fn fields(pairs: &[(&str, &str)]) -> Vec<Header> {
        pairs
            .iter()
            .map(|(n, v)| Header {
                name: n.to_string(),
                value: v.as_bytes().to_vec(),
            })
            .collect()
    }

    #[test]
    fn response_framing_follows_rfc_9112_section_6_3() {
        let r = |method, status, pairs: &[(&str, &str)]| {
            response_framing(method, status, &fields(pairs))
        };
        assert_eq!(
            r("HEAD", 200, &[("Content-Length", "9")]),
            Ok(ResponseBody::Empty)
        );
        assert_eq!(r("GET", 204, &[]), Ok(ResponseBody::Empty));
        assert_eq!(
            r("GET", 304, &[("Content-Length", "9")]),
            Ok(ResponseBody::Empty)
        );
        assert_eq!(
            r("GET", 200, &[("Content-Length", "9")]),
            Ok(ResponseBody::Length(9))
        );
        assert_eq!(
            r("GET", 200, &[("Content-Length", "9, 9")]),
            Ok(ResponseBody::Length(9))
        );
        assert_eq!(r("GET", 200, &[]), Ok(ResponseBody::UntilClose));
        assert_eq!(
            r("GET", 200, &[("Transfer-Encoding", "gzip, chunked")]),
            Ok(ResponseBody::Chunked)
        );
        assert_eq!(
            r("GET", 200, &[("Transfer-Encoding", "gzip")]),
            Ok(ResponseBody::UntilClose)
        );
        assert!(r(
            "GET",
            200,
            &[("Content-Length", "9"), ("Content-Length", "8")]
        )
        .is_err());
        assert!(r("GET", 200, &[("Content-Length", "nine")]).is_err());
        let both = fields(&[("Content-Length", "9"), ("Transfer-Encoding", "chunked")]);
        let framing = response_framing("GET", 200, &both).unwrap();
        assert_eq!(framing, ResponseBody::Chunked);
        assert!(response_ends_connection(framing, &both));
    }
}
