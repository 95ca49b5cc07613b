//! The exact bytes of every response Burrow makes itself, with the RFC 9209
//! `Proxy-Status` that says which error it was.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::escape::{header_value, sf_string};
use crate::head::Version;

/// The name Burrow gives itself in `Proxy-Status` and `Via`.
pub const PROXY_NAME: &str = "burrow";

/// RFC 9209 proxy error types that Burrow reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProxyError {
    /// The name did not resolve.
    DnsError,
    /// The lookup took too long.
    DnsTimeout,
    /// The destination refused the TCP connection.
    ConnectionRefused,
    /// The TCP connect took too long.
    ConnectionTimeout,
    /// The destination address is not allowed.
    DestinationIpProhibited,
    /// No route to the destination address.
    DestinationIpUnroutable,
    /// Policy refused the request.
    HttpRequestDenied,
    /// The request itself is wrong.
    HttpRequestError,
    /// The request would reach Burrow itself.
    ProxyLoopDetected,
    /// Too many client connections.
    ConnectionLimitReached,
    /// The origin closed the connection before answering.
    ConnectionTerminated,
    /// The origin's response was cut short.
    HttpResponseIncomplete,
    /// The origin's response was not valid HTTP.
    HttpProtocolError,
    /// The origin took too long to answer.
    HttpResponseTimeout,
    /// The origin's response head is larger than Burrow accepts.
    HttpResponseHeaderSectionSize,
    /// Something failed inside Burrow.
    ProxyInternalError,
}

impl ProxyError {
    /// The token as written in `Proxy-Status`.
    pub fn token(self) -> &'static str {
        match self {
            ProxyError::DnsError => "dns_error",
            ProxyError::DnsTimeout => "dns_timeout",
            ProxyError::ConnectionRefused => "connection_refused",
            ProxyError::ConnectionTimeout => "connection_timeout",
            ProxyError::DestinationIpProhibited => "destination_ip_prohibited",
            ProxyError::DestinationIpUnroutable => "destination_ip_unroutable",
            ProxyError::HttpRequestDenied => "http_request_denied",
            ProxyError::HttpRequestError => "http_request_error",
            ProxyError::ProxyLoopDetected => "proxy_loop_detected",
            ProxyError::ConnectionLimitReached => "connection_limit_reached",
            ProxyError::ConnectionTerminated => "connection_terminated",
            ProxyError::HttpResponseIncomplete => "http_response_incomplete",
            ProxyError::HttpProtocolError => "http_protocol_error",
            ProxyError::HttpResponseTimeout => "http_response_timeout",
            ProxyError::HttpResponseHeaderSectionSize => "http_response_header_section_size",
            ProxyError::ProxyInternalError => "proxy_internal_error",
        }
    }

    /// What the error type means, in words (RFC 9209 §2.3).
    pub fn meaning(self) -> &'static str {
        match self {
            ProxyError::DnsError => "The proxy could not resolve the destination's name: the DNS answered that it does not exist or failed.",
            ProxyError::DnsTimeout => "The proxy's DNS lookup of the destination did not finish in time.",
            ProxyError::ConnectionRefused => "The destination host answered, but nothing accepts connections on that port.",
            ProxyError::ConnectionTimeout => "The destination did not answer the proxy's TCP connection attempt in time.",
            ProxyError::DestinationIpProhibited => "The destination resolves to an address the proxy's policy does not allow (local or private networks).",
            ProxyError::DestinationIpUnroutable => "The proxy has no route to the destination's address.",
            ProxyError::HttpRequestDenied => "The proxy's policy refused this request (port, host or authentication).",
            ProxyError::HttpRequestError => "The request is malformed, so the proxy refused it without contacting anyone.",
            ProxyError::ProxyLoopDetected => "The request points back at the proxy itself, which would loop forever.",
            ProxyError::ConnectionLimitReached => "The proxy is serving as many connections as it allows; try again shortly.",
            ProxyError::ConnectionTerminated => "The destination closed the connection before sending a complete response.",
            ProxyError::HttpResponseIncomplete => "The destination's response ended before it was complete.",
            ProxyError::HttpProtocolError => "The destination's response was not valid HTTP.",
            ProxyError::HttpResponseTimeout => "The destination did not send its response in time.",
            ProxyError::HttpResponseHeaderSectionSize => "The destination's response head is larger than the proxy accepts.",
            ProxyError::ProxyInternalError => "Something failed inside the proxy.",
        }
    }
}

/// The rule that produced a response, with where the rule comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// A stable short name, e.g. `connect-port-denied`.
    pub id: &'static str,
    /// One sentence saying why.
    pub why: &'static str,
    /// The specification section behind it.
    pub spec: &'static str,
}

/// What happens to the client connection once the response is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum After {
    /// Relay bytes blindly both ways (after a 2xx to CONNECT).
    Tunnel,
    /// Close the connection; nothing more the client sent is read.
    #[default]
    Close,
    /// Read the next request on the same connection.
    KeepAlive,
}

impl After {
    /// A title for the connection's state.
    pub fn title(self) -> &'static str {
        match self {
            After::Tunnel => "Tunnel open",
            After::Close => "Connection closed",
            After::KeepAlive => "Connection kept alive",
        }
    }

    /// What the state means, in a sentence.
    pub fn explain(self) -> &'static str {
        match self {
            After::Tunnel => "Burrow now relays bytes blindly both ways until one side closes.",
            After::Close => "Burrow closes the connection; nothing more the client sent is read.",
            After::KeepAlive => "The client may send its next request on the same connection.",
        }
    }
}

/// A response Burrow makes itself, as exact bytes plus what they mean.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: &'static str,
    /// The RFC 9209 error, for anything but success.
    pub error: Option<ProxyError>,
    /// Extra detail for the log and the `details` parameter.
    pub details: Option<String>,
    /// The rule that fired.
    pub rule: Rule,
    /// What happens to the connection afterwards.
    pub after: After,
    /// The `Proxy-Status` field value exactly as written.
    pub proxy_status_field: String,
    /// The `Proxy-Status` parameters written, in order.
    pub proxy_status: Vec<ProxyStatusParam>,
    /// The exact bytes to write: status line, fields, body.
    #[serde(with = "lossless_text")]
    pub bytes: Vec<u8>,
}

/// Everything Burrow's responses are built from.
#[derive(Clone, Debug)]
pub struct ResponseSpec<'a> {
    /// Version of the status line (follows the request).
    pub version: Version,
    /// The status.
    pub status: Status,
    /// RFC 9209 error type, `None` for success.
    pub error: Option<ProxyError>,
    /// Detail for the `details` parameter.
    pub details: Option<String>,
    /// Extra `Proxy-Status` parameters, e.g. `rcode="NXDOMAIN"` or `next-hop="…"`.
    pub params: Vec<(&'static str, String)>,
    /// Extra fields, e.g. `Proxy-Authenticate`.
    pub fields: Vec<(&'static str, String)>,
    /// Plain-text body: what happened and what to do. Empty for a 2xx to CONNECT.
    pub body: &'a str,
    /// The rule behind it.
    pub rule: Rule,
    /// What happens to the connection afterwards.
    pub after: After,
}

/// Every status Burrow answers with itself; origin statuses are relayed as
/// numbers with the origin's own reason phrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// 200: the tunnel is open.
    ConnectionEstablished,
    /// 400.
    BadRequest,
    /// 403.
    Forbidden,
    /// 407.
    ProxyAuthenticationRequired,
    /// 408.
    RequestTimeout,
    /// 414.
    UriTooLong,
    /// 429: too many wrong passwords from this address.
    TooManyRequests,
    /// 431.
    RequestHeaderFieldsTooLarge,
    /// 501.
    NotImplemented,
    /// 502.
    BadGateway,
    /// 503.
    ServiceUnavailable,
    /// 504.
    GatewayTimeout,
    /// 505.
    HttpVersionNotSupported,
}

impl Status {
    /// The status code.
    pub fn code(self) -> u16 {
        match self {
            Status::ConnectionEstablished => 200,
            Status::BadRequest => 400,
            Status::Forbidden => 403,
            Status::ProxyAuthenticationRequired => 407,
            Status::RequestTimeout => 408,
            Status::UriTooLong => 414,
            Status::TooManyRequests => 429,
            Status::RequestHeaderFieldsTooLarge => 431,
            Status::NotImplemented => 501,
            Status::BadGateway => 502,
            Status::ServiceUnavailable => 503,
            Status::GatewayTimeout => 504,
            Status::HttpVersionNotSupported => 505,
        }
    }

    /// The reason phrase Burrow writes.
    pub fn reason(self) -> &'static str {
        match self {
            Status::ConnectionEstablished => "Connection established",
            Status::BadRequest => "Bad Request",
            Status::Forbidden => "Forbidden",
            Status::ProxyAuthenticationRequired => "Proxy Authentication Required",
            Status::RequestTimeout => "Request Timeout",
            Status::UriTooLong => "URI Too Long",
            Status::TooManyRequests => "Too Many Requests",
            Status::RequestHeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::NotImplemented => "Not Implemented",
            Status::BadGateway => "Bad Gateway",
            Status::ServiceUnavailable => "Service Unavailable",
            Status::GatewayTimeout => "Gateway Timeout",
            Status::HttpVersionNotSupported => "HTTP Version Not Supported",
        }
    }

    /// Whether it is a 2xx.
    pub fn is_success(self) -> bool {
        self == Status::ConnectionEstablished
    }

    /// The status Burrow answers with under this code, if it is one of its own.
    pub fn from_code(code: u16) -> Option<Status> {
        ALL_STATUSES.iter().copied().find(|s| s.code() == code)
    }
}

const ALL_STATUSES: [Status; 13] = [
    Status::ConnectionEstablished,
    Status::BadRequest,
    Status::Forbidden,
    Status::ProxyAuthenticationRequired,
    Status::RequestTimeout,
    Status::UriTooLong,
    Status::TooManyRequests,
    Status::RequestHeaderFieldsTooLarge,
    Status::NotImplemented,
    Status::BadGateway,
    Status::ServiceUnavailable,
    Status::GatewayTimeout,
    Status::HttpVersionNotSupported,
];

/// One `Proxy-Status` parameter as written, e.g. `("next-hop", "192.0.2.1:443")`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProxyStatusParam {
    /// The parameter name.
    pub name: &'static str,
    /// Its value, unquoted.
    pub value: String,
    /// What the parameter is, in words.
    pub meaning: &'static str,
    /// What its value means, when Burrow knows (the error type's meaning).
    pub detail: Option<&'static str>,
}

/// What a `Proxy-Status` parameter is (RFC 9209 §2.1 and §2.3.2).
fn param_meaning(name: &str) -> &'static str {
    match name {
        "error" => "the error type",
        "next-hop" => "the address Burrow connected to",
        "rcode" => "the DNS response code",
        "details" => "details",
        _ => "a parameter",
    }
}

impl ResponseSpec<'_> {
    /// Serialises the response.
    pub fn build(self) -> Response {
        let mut head = format!(
            "{} {} {}\r\n",
            self.version.as_str(),
            self.status.code(),
            self.status.reason()
        );
        let mut params = Vec::new();
        if let Some(e) = self.error {
            params.push(("error", e.token().to_string()));
        }
        params.extend(self.params.iter().cloned());
        if let Some(d) = &self.details {
            params.push(("details", d.clone()));
        }
        let mut status_field = String::from(PROXY_NAME);
        for (i, (k, v)) in params.iter().enumerate() {
            // The error type is a Token; every other value here is a String.
            if i == 0 && self.error.is_some() {
                let _ = write!(status_field, "; {k}={v}");
            } else {
                let _ = write!(status_field, "; {k}={}", sf_string(v));
            }
        }
        let _ = write!(head, "Proxy-Status: {status_field}\r\n");

        for (k, v) in &self.fields {
            let _ = write!(head, "{k}: {}\r\n", header_value(v));
        }
        let success = self.status.is_success();
        // RFC 9110 §9.3.6: a 2xx to CONNECT has no framing fields and no body.
        if !success {
            head.push_str("Content-Type: text/plain; charset=utf-8\r\n");
            head.push_str("X-Content-Type-Options: nosniff\r\n");
            head.push_str("Cache-Control: no-store\r\n");
            let _ = write!(head, "Content-Length: {}\r\n", self.body.len());
        }
        if self.after == After::Close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if !success {
            bytes.extend_from_slice(self.body.as_bytes());
        }
        let proxy_status = params
            .into_iter()
            .enumerate()
            .map(|(i, (name, value))| ProxyStatusParam {
                name,
                // The value as a reader of the field gets it back.
                value: header_value(&value),
                meaning: param_meaning(name),
                // The error type comes first when there is one.
                detail: self.error.filter(|_| i == 0).map(ProxyError::meaning),
            })
            .collect();
        Response {
            status: self.status.code(),
            reason: self.status.reason(),
            proxy_status_field: status_field,
            error: self.error,
            details: self.details,
            rule: self.rule,
            after: self.after,
            proxy_status,
            bytes,
        }
    }
}

/// Response bytes are ASCII; serialise them as text so JSON stays readable,
/// with any other byte kept as the Latin-1 character of the same value.
mod lossless_text {
    use serde::Serializer;

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let text: String = bytes.iter().map(|&b| b as char).collect();
        s.serialize_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: Rule = Rule {
        id: "test",
        why: "testing",
        spec: "none",
    };

    #[test]
    fn error_response_bytes() {
        let r = ResponseSpec {
            version: Version::Http10,
            status: Status::BadGateway,
            error: Some(ProxyError::DnsError),
            details: Some("no \"such\" host".into()),
            params: vec![("rcode", "NXDOMAIN".into())],
            fields: vec![],
            body: "oops\n",
            rule: RULE,
            after: After::Close,
        }
        .build();
        let text = String::from_utf8(r.bytes).unwrap();
        assert_eq!(
            text,
            "HTTP/1.0 502 Bad Gateway\r\n\
             Proxy-Status: burrow; error=dns_error; rcode=\"NXDOMAIN\"; details=\"no \\\"such\\\" host\"\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             X-Content-Type-Options: nosniff\r\n\
             Cache-Control: no-store\r\n\
             Content-Length: 5\r\n\
             Connection: close\r\n\r\noops\n"
        );
    }

    #[test]
    fn success_has_no_framing_and_no_body() {
        let r = ResponseSpec {
            version: Version::Http11,
            status: Status::ConnectionEstablished,
            error: None,
            details: None,
            params: vec![("next-hop", "192.0.2.1:443".into())],
            fields: vec![],
            body: "ignored",
            rule: RULE,
            after: After::Tunnel,
        }
        .build();
        assert_eq!(
            r.bytes,
            b"HTTP/1.1 200 Connection established\r\nProxy-Status: burrow; next-hop=\"192.0.2.1:443\"\r\n\r\n"
        );
    }

    #[test]
    fn text_cannot_break_out_of_proxy_status_or_a_field() {
        let hostile = "x\x1b[31m\r\nSet-Cookie: a=b\u{e9}\\\"";
        let r = ResponseSpec {
            version: Version::Http11,
            status: Status::BadRequest,
            error: Some(ProxyError::HttpRequestError),
            details: Some(hostile.into()),
            params: vec![("next-hop", hostile.into())],
            fields: vec![("Proxy-Authenticate", hostile.into())],
            body: "bad\n",
            rule: RULE,
            after: After::Close,
        }
        .build();
        let text = String::from_utf8(r.bytes).unwrap();
        let (head, _) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.lines().all(|l| !l.starts_with("Set-Cookie")), "{head}");
        assert!(head
            .bytes()
            .all(|b| b == b'\r' || b == b'\n' || (b' '..=b'~').contains(&b)));
        let escaped = "x\\\\x1b[31m\\\\x0d\\\\x0aSet-Cookie: a=b\\\\xc3\\\\xa9\\\\\\\"";
        assert!(
            head.contains(&format!(
                "next-hop=\"{escaped}\"; details=\"{escaped}\"\r\n"
            )),
            "{head}"
        );
        assert!(
            head.contains(
                "\r\nProxy-Authenticate: x\\x1b[31m\\x0d\\x0aSet-Cookie: a=b\\xc3\\xa9\\\"\r\n"
            ),
            "{head}"
        );
        assert_eq!(
            r.proxy_status[2].value,
            "x\\x1b[31m\\x0d\\x0aSet-Cookie: a=b\\xc3\\xa9\\\""
        );
        assert!(r
            .proxy_status_field
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b)));
    }

    #[test]
    fn bytes_serialise_as_text() {
        let r = ResponseSpec {
            version: Version::Http11,
            status: Status::BadRequest,
            error: Some(ProxyError::HttpRequestError),
            details: None,
            params: vec![],
            fields: vec![],
            body: "bad\n",
            rule: RULE,
            after: After::Close,
        }
        .build();
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("HTTP/1.1 400 Bad Request\\r\\n"));
    }
}
