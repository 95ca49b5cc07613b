//! Plain-HTTP forwarding: the request sent upstream and the response head
//! sent back, with hop-by-hop fields removed and `Via` added.

use std::fmt::Write as _;

use serde::Serialize;

use crate::head::{BodyFraming, RequestHead, Version};
use crate::response::PROXY_NAME;
use crate::target::{AbsoluteUri, Authority};

/// A request to send to the origin in origin-form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ForwardRequest {
    /// The method, unchanged.
    pub method: String,
    /// Where to send it.
    pub authority: Authority,
    /// Origin-form target: path and query.
    pub path_and_query: String,
    /// Fields to send, Host first, hop-by-hop removed, Via added.
    pub headers: Vec<(String, Vec<u8>)>,
    /// How the client's body is framed (the engine re-frames it upstream).
    pub body: BodyFraming,
    /// The client's HTTP version.
    pub client_version: Version,
    /// Whether the client connection may carry another request afterwards.
    pub keep_alive: bool,
    /// The client sent `Expect: 100-continue`: write [`CONTINUE`] to it
    /// before reading the body. (Expect is answered here, not forwarded:
    /// the upstream client would swallow the origin's 100.)
    pub expect_continue: bool,
}

/// The interim response that lets a client waiting on `Expect: 100-continue` send its body.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Fields that describe one hop, never the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "transfer-encoding",
    "proxy-authorization",
    "proxy-authenticate",
];

fn listed_in_connection(headers: &[(&str, &[u8])]) -> Vec<String> {
    headers
        .iter()
        .filter(|(n, _)| {
            n.eq_ignore_ascii_case("connection") || n.eq_ignore_ascii_case("proxy-connection")
        })
        .flat_map(|(_, v)| v.split(|b| *b == b','))
        .filter_map(|t| std::str::from_utf8(t.trim_ascii()).ok())
        .filter(|t| !t.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Keeps the end-to-end fields, dropping hop-by-hop ones, those named in
/// Connection, and the ones in `also_drop` that are regenerated.
fn end_to_end(headers: &[(&str, &[u8])], also_drop: &[&str]) -> Vec<(String, Vec<u8>)> {
    let listed = listed_in_connection(headers);
    headers
        .iter()
        .filter(|(n, _)| {
            let lower = n.to_ascii_lowercase();
            !HOP_BY_HOP.contains(&lower.as_str())
                && !also_drop.contains(&lower.as_str())
                && !listed.contains(&lower)
        })
        .map(|(n, v)| (n.to_string(), v.to_vec()))
        .collect()
}

fn via(version: Version) -> (String, Vec<u8>) {
    let proto = match version {
        Version::Http10 => "1.0",
        Version::Http11 => "1.1",
    };
    ("Via".into(), format!("{proto} {PROXY_NAME}").into_bytes())
}

/// Builds the upstream request for a forwarded `head`.
pub fn upstream_request(
    head: &RequestHead,
    uri: &AbsoluteUri,
    body: BodyFraming,
) -> ForwardRequest {
    let host_field = if uri.explicit_port {
        uri.authority.to_string()
    } else {
        uri.authority.host.to_string()
    };
    let pairs: Vec<(&str, &[u8])> = head
        .headers
        .iter()
        .map(|h| (h.name.as_str(), h.value.as_slice()))
        .collect();
    // RFC 9112 §3.2.2: ignore the received Host and generate it from the target.
    let mut headers = vec![("Host".to_string(), host_field.into_bytes())];
    let expect_continue = head.version == Version::Http11
        && body != BodyFraming::Empty
        && head
            .values("expect")
            .any(|v| v.eq_ignore_ascii_case(b"100-continue"));
    let also_drop: &[&str] = if expect_continue {
        &["host", "content-length", "expect"]
    } else {
        &["host", "content-length"]
    };
    headers.extend(end_to_end(&pairs, also_drop));
    if let BodyFraming::Length(n) = body {
        headers.push(("Content-Length".into(), n.to_string().into_bytes()));
    }
    headers.push(via(head.version));
    let keep_alive = head.version == Version::Http11 && !head.connection_has("close");
    ForwardRequest {
        method: head.method.clone(),
        authority: uri.authority.clone(),
        path_and_query: uri.path_and_query.clone(),
        headers,
        body,
        client_version: head.version,
        keep_alive,
        expect_continue,
    }
}

/// `content-type` → `Content-Type`. HTTP field names are case-insensitive,
/// and an HTTP client library may hand them over lowercased, so relayed
/// names are written in one canonical form whatever the origin sent.
pub fn title_case(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// How the response body is written to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "length")]
pub enum ResponseFraming {
    /// No body (HEAD, 1xx, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked (HTTP/1.1 client, unknown length).
    Chunked,
    /// Until the connection closes (HTTP/1.0 client, unknown length).
    UntilClose,
}

/// The response head to write to the client, and how to frame what follows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClientResponseHead {
    /// The exact head bytes.
    pub bytes: Vec<u8>,
    /// Body framing towards the client.
    pub framing: ResponseFraming,
    /// Whether the client connection stays open for another request.
    pub keep_alive: bool,
}

/// Builds the head relayed to the client from the origin's response.
///
/// `body_length` is the origin body's exact length when known.
pub fn client_response(
    req: &ForwardRequest,
    status: u16,
    reason: &str,
    headers: &[(&str, &[u8])],
    body_length: Option<u64>,
) -> ClientResponseHead {
    let bodiless =
        req.method == "HEAD" || (100..200).contains(&status) || status == 204 || status == 304;
    let origin_wants_close = listed_in_connection(headers).iter().any(|t| t == "close");
    let framing = match (bodiless, body_length) {
        (true, _) => ResponseFraming::Empty,
        (false, Some(n)) => ResponseFraming::Length(n),
        (false, None) if req.client_version == Version::Http11 => ResponseFraming::Chunked,
        (false, None) => ResponseFraming::UntilClose,
    };
    let keep_alive =
        req.keep_alive && !origin_wants_close && framing != ResponseFraming::UntilClose;
    // A bodiless response keeps the origin's Content-Length (HEAD, 304 describe
    // the representation); otherwise it is regenerated to match what we send.
    let drop: &[&str] = if bodiless { &[] } else { &["content-length"] };
    let reason: String = reason
        .chars()
        .filter(|c| matches!(c, ' ' | '\t' | '!'..='~'))
        .collect();
    let mut out = format!("{} {status} {reason}\r\n", req.client_version.as_str());
    let mut write_field = |name: &str, value: &[u8]| {
        out.push_str(name);
        out.push_str(": ");
        for &b in value {
            // hyper has already refused CR, LF and NUL; keep other bytes as sent.
            out.push(b as char);
        }
        out.push_str("\r\n");
    };
    for (name, value) in end_to_end(headers, drop) {
        write_field(&title_case(&name), &value);
    }
    let (via_name, via_value) = via(Version::Http11);
    write_field(&via_name, &via_value);
    match framing {
        ResponseFraming::Length(n) => {
            let _ = write!(out, "Content-Length: {n}\r\n");
        }
        ResponseFraming::Chunked => out.push_str("Transfer-Encoding: chunked\r\n"),
        ResponseFraming::Empty | ResponseFraming::UntilClose => {}
    }
    if !keep_alive {
        out.push_str("Connection: close\r\n");
    } else if req.client_version == Version::Http10 {
        out.push_str("Connection: keep-alive\r\n");
    }
    out.push_str("\r\n");
    let bytes = out.chars().map(|c| c as u32 as u8).collect();
    ClientResponseHead {
        bytes,
        framing,
        keep_alive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::{parse, HeadParse};
    use crate::target::parse_absolute;

    fn request(raw: &str) -> ForwardRequest {
        let HeadParse::Complete(head, _) = parse(raw.as_bytes(), &Default::default()) else {
            panic!("bad test head");
        };
        let uri = parse_absolute(&head.target).unwrap();
        let body = crate::head::body_framing(&head).unwrap();
        upstream_request(&head, &uri, body)
    }

    fn names(req: &ForwardRequest) -> Vec<String> {
        req.headers
            .iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect()
    }

    #[test]
    fn strips_hop_by_hop_and_regenerates_host() {
        let req = request(
            "GET http://Example.com:8080/p?q HTTP/1.1\r\nHost: evil.test\r\nConnection: keep-alive, X-Secret\r\n\
             X-Secret: 1\r\nProxy-Connection: keep-alive\r\nKeep-Alive: 5\r\nTE: trailers\r\nTrailer: X\r\n\
             Upgrade: h2c\r\nProxy-Authorization: Basic eA==\r\nAccept: */*\r\n\r\n",
        );
        assert_eq!(req.path_and_query, "/p?q");
        assert_eq!(names(&req), ["host", "accept", "via"]);
        assert_eq!(req.headers[0].1, b"example.com:8080");
        assert_eq!(req.headers[2].1, b"1.1 burrow");
        assert!(req.keep_alive);
    }

    #[test]
    fn body_framing_goes_upstream() {
        let req = request("POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n");
        assert!(req
            .headers
            .contains(&("Content-Length".into(), b"3".to_vec())));
        let req =
            request("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(req.body, BodyFraming::Chunked);
        assert_eq!(names(&req), ["host", "via"]);
    }

    #[test]
    fn expect_continue_is_answered_not_forwarded() {
        let req = request(
            "PUT http://a/ HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
        );
        assert!(req.expect_continue);
        assert_eq!(names(&req), ["host", "content-length", "via"]);
        let req = request("GET http://a/ HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n");
        assert!(!req.expect_continue);
    }

    #[test]
    fn http10_client_is_not_kept_alive() {
        let req = request("GET http://a/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert!(!req.keep_alive);
        let head = client_response(&req, 200, "OK", &[], None);
        assert_eq!(head.framing, ResponseFraming::UntilClose);
        assert_eq!(
            String::from_utf8(head.bytes).unwrap(),
            "HTTP/1.0 200 OK\r\nVia: 1.1 burrow\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn response_head_reframes() {
        let req = request("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n");
        let h = client_response(
            &req,
            200,
            "OK",
            &[
                ("Content-Length", b"5"),
                ("Connection", b"x-hop"),
                ("X-Hop", b"1"),
                ("Server", b"o"),
            ],
            Some(5),
        );
        assert_eq!(
            String::from_utf8(h.bytes).unwrap(),
            "HTTP/1.1 200 OK\r\nServer: o\r\nVia: 1.1 burrow\r\nContent-Length: 5\r\n\r\n"
        );
        assert!(h.keep_alive);
        let h = client_response(&req, 200, "OK", &[("Transfer-Encoding", b"chunked")], None);
        assert_eq!(h.framing, ResponseFraming::Chunked);
        let h = client_response(&req, 200, "OK", &[("Connection", b"close")], Some(0));
        assert!(!h.keep_alive);
        assert!(String::from_utf8(h.bytes)
            .unwrap()
            .ends_with("Connection: close\r\n\r\n"));
    }

    #[test]
    fn relayed_names_are_title_cased() {
        assert_eq!(title_case("content-type"), "Content-Type");
        assert_eq!(title_case("X-FOO-bar"), "X-Foo-Bar");
        assert_eq!(title_case("etag"), "Etag");
    }

    #[test]
    fn head_and_304_keep_content_length() {
        let req = request("HEAD http://a/ HTTP/1.1\r\nHost: a\r\n\r\n");
        let h = client_response(&req, 200, "OK", &[("Content-Length", b"1234")], Some(0));
        assert_eq!(h.framing, ResponseFraming::Empty);
        assert!(String::from_utf8(h.bytes)
            .unwrap()
            .contains("Content-Length: 1234\r\n"));
    }
}
