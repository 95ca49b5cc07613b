//! Plain-HTTP forwarding: the exact head sent to the origin and the exact
//! head sent back to the client, with hop-by-hop fields removed, `Via`
//! added and the framing chosen here.

use std::fmt::Write as _;

use crate::body::BodyWriter;
use crate::framing::{BodyFraming, ResponseBody};
use crate::head::{Header, RequestHead, Version};
use crate::origin::ResponseHead;
use crate::response::PROXY_NAME;
use crate::target::{AbsoluteUri, Authority};

/// A request to send to the origin in origin-form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardRequest {
    /// The method, unchanged.
    pub method: String,
    /// Where to send it.
    pub authority: Authority,
    /// Origin-form target: path and query.
    pub path_and_query: String,
    /// Fields to send, in order: Host first, end-to-end fields, the framing
    /// field chosen here, Via.
    pub headers: Vec<(String, Vec<u8>)>,
    /// How the client framed its body.
    pub body: BodyFraming,
    /// How the body is framed upstream.
    pub upstream_body: BodyWriter,
    /// The client's HTTP version.
    pub client_version: Version,
    /// Whether the client connection may carry another request afterwards.
    pub keep_alive: bool,
    /// The client sent `Expect: 100-continue`: Burrow answers `100 Continue`
    /// itself once the origin is reached, and does not forward the expectation.
    pub expect_continue: bool,
}

impl ForwardRequest {
    /// The exact head bytes sent upstream.
    pub fn head_bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.path_and_query).into_bytes();
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
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

/// Names listed in the Connection (and Proxy-Connection) fields, lowercased.
fn listed_in_connection(headers: &[Header]) -> Vec<String> {
    headers
        .iter()
        .filter(|h| {
            h.name.eq_ignore_ascii_case("connection")
                || h.name.eq_ignore_ascii_case("proxy-connection")
        })
        .flat_map(|h| h.value.split(|b| *b == b','))
        .filter_map(|t| std::str::from_utf8(t.trim_ascii()).ok())
        .filter(|t| !t.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Keeps the end-to-end fields, dropping hop-by-hop ones, those named in
/// Connection, and the ones in `also_drop` that are regenerated.
fn end_to_end<'a>(
    headers: &'a [Header],
    also_drop: &'a [&str],
) -> impl Iterator<Item = &'a Header> + 'a {
    let listed = listed_in_connection(headers);
    headers.iter().filter(move |h| {
        let lower = h.name.to_ascii_lowercase();
        !HOP_BY_HOP.contains(&lower.as_str())
            && !also_drop.contains(&lower.as_str())
            && !listed.contains(&lower)
    })
}

fn via(received: Version) -> (String, Vec<u8>) {
    let proto = match received {
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
    // RFC 9112 §3.2.2: ignore the received Host and generate it from the target.
    let mut headers = vec![("Host".to_string(), host_field.into_bytes())];
    let expect_continue = head.version == Version::Http11
        && body.has_body()
        && head
            .values("expect")
            .any(|v| v.eq_ignore_ascii_case(b"100-continue"));
    let also_drop: &[&str] = if expect_continue {
        &["host", "content-length", "expect"]
    } else {
        &["host", "content-length"]
    };
    headers.extend(end_to_end(&head.headers, also_drop).map(|h| (h.name.clone(), h.value.clone())));
    // The body is decoded and framed anew: a length stays a length, chunks
    // are re-chunked.
    let upstream_body = match body {
        BodyFraming::Empty => BodyWriter::Nothing,
        BodyFraming::Length(n) => {
            headers.push(("Content-Length".into(), n.to_string().into_bytes()));
            BodyWriter::Plain
        }
        BodyFraming::Chunked => {
            headers.push(("Transfer-Encoding".into(), b"chunked".to_vec()));
            BodyWriter::SameChunks
        }
    };
    headers.push(via(head.version));
    let keep_alive = head.version == Version::Http11 && !head.connection_has("close");
    ForwardRequest {
        method: head.method.clone(),
        authority: uri.authority.clone(),
        path_and_query: uri.path_and_query.clone(),
        headers,
        body,
        upstream_body,
        client_version: head.version,
        keep_alive,
        expect_continue,
    }
}

/// `content-type` → `Content-Type`. Field names are case-insensitive; relayed
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

/// How the response body reaches the client, in words for the transcript.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientFraming {
    /// No body.
    Empty,
    /// With a Content-Length.
    Length,
    /// Re-chunked (an HTTP/1.1 client, unknown length).
    Chunked,
    /// Until the connection closes (an HTTP/1.0 client, unknown length).
    UntilClose,
}

impl ClientFraming {
    /// The framing in words.
    pub fn describe(self) -> &'static str {
        match self {
            ClientFraming::Empty => "no body",
            ClientFraming::Length => "a body of announced length",
            ClientFraming::Chunked => "a chunked body (length unknown in advance)",
            ClientFraming::UntilClose => "a body that ends when the connection closes",
        }
    }
}

/// The response head to write to the client, and how to frame what follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientHead {
    /// The exact head bytes.
    pub bytes: Vec<u8>,
    /// How the body is framed towards the client.
    pub framing: ClientFraming,
    /// The writer that frames it.
    pub writer: BodyWriter,
    /// Whether the client connection stays open for another request.
    pub keep_alive: bool,
}

/// Builds the head relayed to the client from the origin's final response.
/// `body` is the origin's framing; `request_complete` says whether the
/// client's request body has been read to its end (if not, the connection
/// cannot carry another request).
pub fn client_head(
    req: &ForwardRequest,
    origin: &ResponseHead,
    body: ResponseBody,
    request_complete: bool,
) -> ClientHead {
    let (framing, writer) = match body {
        ResponseBody::Empty => (ClientFraming::Empty, BodyWriter::Nothing),
        ResponseBody::Length(_) => (ClientFraming::Length, BodyWriter::Plain),
        ResponseBody::Chunked if req.client_version == Version::Http11 => {
            (ClientFraming::Chunked, BodyWriter::SameChunks)
        }
        _ if req.client_version == Version::Http11 => (ClientFraming::Chunked, BodyWriter::Chunked),
        _ => (ClientFraming::UntilClose, BodyWriter::Plain),
    };
    let keep_alive = req.keep_alive && request_complete && framing != ClientFraming::UntilClose;
    let bodiless = body == ResponseBody::Empty;
    // A HEAD or 304 answer keeps the origin's Content-Length (it describes the
    // representation); otherwise the length is written anew to match the body.
    let drop: &[&str] = if bodiless && origin.status != 204 {
        &[]
    } else {
        &["content-length"]
    };
    let mut out = status_line(req.client_version, origin);
    for h in end_to_end(&origin.headers, drop) {
        write_field(&mut out, &title_case(&h.name), &h.value);
    }
    let (name, value) = via(origin.version);
    write_field(&mut out, &name, &value);
    match body {
        ResponseBody::Length(n) => {
            write_field(&mut out, "Content-Length", n.to_string().as_bytes())
        }
        ResponseBody::Chunked | ResponseBody::UntilClose if framing == ClientFraming::Chunked => {
            write_field(&mut out, "Transfer-Encoding", b"chunked");
        }
        _ => {}
    }
    if !keep_alive {
        write_field(&mut out, "Connection", b"close");
    } else if req.client_version == Version::Http10 {
        write_field(&mut out, "Connection", b"keep-alive");
    }
    out.extend_from_slice(b"\r\n");
    ClientHead {
        bytes: out,
        framing,
        writer,
        keep_alive,
    }
}

/// What to do with an origin's 1xx response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Interim {
    /// Relay these bytes to the client (e.g. 103 Early Hints).
    Relay(Vec<u8>),
    /// Drop it: a 100 (Burrow answers expectations itself), or a client
    /// speaking HTTP/1.0, which must not get a 1xx (RFC 9110 §15.2).
    Drop,
    /// 101 Switching Protocols: Burrow never asked to switch (it removes
    /// Upgrade), so this is a protocol error.
    Refuse,
}

/// Decides what happens to an origin's 1xx response.
pub fn interim(req: &ForwardRequest, origin: &ResponseHead) -> Interim {
    match origin.status {
        101 => Interim::Refuse,
        100 => Interim::Drop,
        _ if req.client_version == Version::Http10 => Interim::Drop,
        _ => {
            let mut out = status_line(req.client_version, origin);
            for h in end_to_end(&origin.headers, &["content-length"]) {
                write_field(&mut out, &title_case(&h.name), &h.value);
            }
            out.extend_from_slice(b"\r\n");
            Interim::Relay(out)
        }
    }
}

fn status_line(version: Version, origin: &ResponseHead) -> Vec<u8> {
    // The reason phrase is the origin's own, kept to visible characters.
    let reason: Vec<u8> = origin
        .reason
        .iter()
        .copied()
        .filter(|&b| b == b' ' || b == b'\t' || b.is_ascii_graphic() || b >= 0x80)
        .collect();
    let mut out = String::new();
    let _ = write!(out, "{} {} ", version.as_str(), origin.status);
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&reason);
    bytes.extend_from_slice(b"\r\n");
    bytes
}

/// Writes `name: value` CRLF; httparse has already refused CR, LF and NUL in values.
fn write_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::request_framing;
    use crate::head::{parse, HeadParse};
    use crate::target::parse_absolute;

    fn request(raw: &str) -> ForwardRequest {
        let HeadParse::Complete(head, _) = parse(raw.as_bytes(), &Default::default()) else {
            panic!("bad test head");
        };
        let uri = parse_absolute(&head.target).unwrap();
        let body = request_framing(&head).unwrap();
        upstream_request(&head, &uri, body)
    }

    fn names(req: &ForwardRequest) -> Vec<String> {
        req.headers
            .iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect()
    }

    fn origin(status: u16, fields: &[(&str, &str)]) -> ResponseHead {
        ResponseHead {
            version: Version::Http11,
            status,
            reason: b"OK".to_vec(),
            headers: fields
                .iter()
                .map(|(n, v)| Header {
                    name: n.to_string(),
                    value: v.as_bytes().to_vec(),
                })
                .collect(),
        }
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn strips_hop_by_hop_and_regenerates_host() {
        let req = request(
            "GET http://Example.com:8080/p?q HTTP/1.1\r\nHost: evil.test\r\nConnection: keep-alive, X-Secret\r\n\
             X-Secret: 1\r\nProxy-Connection: keep-alive\r\nKeep-Alive: 5\r\nTE: trailers\r\nTrailer: X\r\n\
             Upgrade: h2c\r\nProxy-Authorization: Basic eA==\r\nAccept: */*\r\n\r\n",
        );
        assert_eq!(
            text(&req.head_bytes()),
            "GET /p?q HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\nVia: 1.1 burrow\r\n\r\n"
        );
        assert!(req.keep_alive);
    }

    #[test]
    fn body_framing_is_chosen_here() {
        let req = request("POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(names(&req), ["host", "content-length", "via"]);
        assert_eq!(req.upstream_body, BodyWriter::Plain);
        let req =
            request("POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(names(&req), ["host", "transfer-encoding", "via"]);
        assert_eq!(req.upstream_body, BodyWriter::SameChunks);
        let req = request("POST http://a/ HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
        assert!(text(&req.head_bytes()).contains("Content-Length: 0\r\n"));
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
        let head = client_head(&req, &origin(200, &[]), ResponseBody::UntilClose, true);
        assert_eq!(head.framing, ClientFraming::UntilClose);
        assert_eq!(
            text(&head.bytes),
            "HTTP/1.0 200 OK\r\nVia: 1.1 burrow\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn response_head_reframes_and_keeps_order() {
        let req = request("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n");
        let o = origin(
            200,
            &[
                ("set-cookie", "a=1"),
                ("Content-Length", "5"),
                ("Connection", "x-hop"),
                ("X-Hop", "1"),
                ("Server", "o"),
                ("Set-Cookie", "b=2"),
            ],
        );
        let h = client_head(&req, &o, ResponseBody::Length(5), true);
        assert_eq!(
            text(&h.bytes),
            "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nServer: o\r\nSet-Cookie: b=2\r\nVia: 1.1 burrow\r\nContent-Length: 5\r\n\r\n"
        );
        assert!(h.keep_alive);
        let h = client_head(
            &req,
            &origin(200, &[("Transfer-Encoding", "chunked")]),
            ResponseBody::Chunked,
            true,
        );
        assert_eq!(h.framing, ClientFraming::Chunked);
        assert!(text(&h.bytes).ends_with("Transfer-Encoding: chunked\r\n\r\n"));
        // The origin closing its hop does not close the client's.
        let h = client_head(
            &req,
            &origin(200, &[("Connection", "close")]),
            ResponseBody::Length(0),
            true,
        );
        assert!(h.keep_alive);
        // An unread request body does.
        let h = client_head(&req, &origin(200, &[]), ResponseBody::Length(0), false);
        assert!(!h.keep_alive && text(&h.bytes).ends_with("Connection: close\r\n\r\n"));
    }

    #[test]
    fn head_and_304_keep_content_length() {
        let req = request("HEAD http://a/ HTTP/1.1\r\nHost: a\r\n\r\n");
        let h = client_head(
            &req,
            &origin(200, &[("Content-Length", "1234")]),
            ResponseBody::Empty,
            true,
        );
        assert_eq!(h.framing, ClientFraming::Empty);
        assert!(text(&h.bytes).contains("Content-Length: 1234\r\n"));
    }

    #[test]
    fn interim_responses() {
        let req = request("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            interim(&req, &origin(103, &[("Link", "</s.css>; rel=preload")])),
            Interim::Relay(b"HTTP/1.1 103 OK\r\nLink: </s.css>; rel=preload\r\n\r\n".to_vec())
        );
        assert_eq!(interim(&req, &origin(100, &[])), Interim::Drop);
        assert_eq!(interim(&req, &origin(101, &[])), Interim::Refuse);
        let old = request("GET http://a/ HTTP/1.0\r\n\r\n");
        assert_eq!(interim(&old, &origin(103, &[])), Interim::Drop);
    }

    #[test]
    fn relayed_names_are_title_cased() {
        assert_eq!(title_case("content-type"), "Content-Type");
        assert_eq!(title_case("X-FOO-bar"), "X-Foo-Bar");
        assert_eq!(title_case("etag"), "Etag");
    }
}
