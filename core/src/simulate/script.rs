//! What a simulation is told: the client's bytes and what the client, DNS,
//! the server and the origin do.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::outcome::{ConnectFailure, DnsFailure, UpstreamFailure};
use crate::settings::Settings;

/// What DNS answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsScript {
    /// These addresses.
    Resolves(Vec<IpAddr>),
    /// A failure (`timeout`: no answer before Burrow's DNS deadline).
    Fails(DnsFailure),
}

impl Default for DnsScript {
    fn default() -> Self {
        // TEST-NET-1 (RFC 5737): a public-looking address that is never real.
        DnsScript::Resolves(vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))])
    }
}

/// What each TCP connect attempt does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectScript {
    /// It connects.
    #[default]
    Connects,
    /// It fails this way (`timed_out`: no answer before Burrow's connect deadline).
    Fails(ConnectFailure),
}

/// What the client sends first inside a tunnel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientTls {
    /// Nothing is shown: the simulation stops at the 200.
    #[default]
    Nothing,
    /// A TLS ClientHello whose SNI is the CONNECT host.
    MatchingSni,
    /// A TLS ClientHello with this SNI.
    Sni(String),
    /// A TLS ClientHello without SNI.
    NoSni,
    /// Bytes that are not TLS.
    NotTls,
}

/// What the client does once it has sent everything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientEnd {
    /// It keeps the connection open: the simulation ends once Burrow waits
    /// for its next request (or runs into a deadline mid-request).
    #[default]
    KeepsOpen,
    /// It closes its sending side (FIN).
    Closes,
    /// It keeps the connection open and silent until Burrow's deadline passes.
    GoesIdle,
}

/// How the origin answers each forwarded request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OriginScript {
    /// A response: the fields as given, then the body. A Content-Length is
    /// added unless a framing field is given; `Transfer-Encoding: chunked`
    /// chunks the body. The origin closes afterwards only if a
    /// `Connection: close` field says so.
    Responds {
        /// Status code.
        status: u16,
        /// Reason phrase.
        reason: String,
        /// Header fields.
        headers: Vec<(String, String)>,
        /// Body.
        body: String,
    },
    /// Exactly these bytes (each char one byte), then the origin closes.
    Raw(String),
    /// A failure before a usable response head.
    Fails(UpstreamFailure),
}

impl Default for OriginScript {
    fn default() -> Self {
        OriginScript::Responds {
            status: 200,
            reason: "OK".into(),
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: "Hello from the origin.\n".into(),
        }
    }
}

impl OriginScript {
    /// The bytes the origin writes for one request; `None` when it writes
    /// nothing (it closes, or never answers).
    pub fn response_bytes(&self, settings: &Settings) -> Option<Vec<u8>> {
        match self {
            OriginScript::Responds {
                status,
                reason,
                headers,
                body,
            } => Some(respond(*status, reason, headers, body)),
            OriginScript::Raw(text) => Some(text.chars().map(|c| c as u32 as u8).collect()),
            OriginScript::Fails(UpstreamFailure::Protocol) => {
                Some(b"NOT HTTP AT ALL\r\n\r\n".to_vec())
            }
            OriginScript::Fails(UpstreamFailure::TooLarge) => {
                // One field more than Burrow accepts.
                let fields: Vec<(String, String)> = (0..=settings.limits.response_headers)
                    .map(|i| (format!("X-Filler-{i}"), "x".into()))
                    .collect();
                Some(respond(200, "OK", &fields, ""))
            }
            OriginScript::Fails(UpstreamFailure::Closed | UpstreamFailure::Timeout) => None,
        }
    }

    /// Whether the origin closes its connection after answering.
    pub fn closes_after(&self) -> bool {
        match self {
            OriginScript::Responds { headers, .. } => headers.iter().any(|(n, v)| {
                n.eq_ignore_ascii_case("connection") && v.to_ascii_lowercase().contains("close")
            }),
            OriginScript::Raw(_) | OriginScript::Fails(_) => true,
        }
    }
}

fn respond(status: u16, reason: &str, headers: &[(String, String)], body: &str) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    let chunked = has("transfer-encoding");
    if !chunked && !has("content-length") {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if chunked && !body.is_empty() {
        bytes.extend_from_slice(format!("{:x}\r\n{body}\r\n", body.len()).as_bytes());
    }
    if chunked {
        bytes.extend_from_slice(b"0\r\n\r\n");
    } else {
        bytes.extend_from_slice(body.as_bytes());
    }
    bytes
}

/// Everything a simulation needs: the request bytes, the settings and what
/// the network does.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Scenario {
    /// The raw bytes the client sends first (one char per byte), line ends as
    /// the client sends them. Several requests here are pipelined.
    pub request: String,
    /// Further requests the client sends, each once Burrow has answered
    /// everything before it and waits for the next.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub later: Vec<String>,
    /// What the client does after its last bytes.
    #[serde(skip_serializing_if = "is_default")]
    pub client_end: ClientEnd,
    /// Burrow's settings (policy).
    pub settings: Settings,
    /// The client's address; defaults to 127.0.0.1:50000.
    pub client: Option<SocketAddr>,
    /// The address the client reached; defaults to `settings.listen`. (A
    /// proxy listening on 0.0.0.0 is reached at one concrete address.)
    pub listener: Option<SocketAddr>,
    /// This machine's interface addresses, as the engine lists them: they
    /// count as internal, and when listening on every interface a request
    /// to any of them at the proxy's port would loop.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub host_addrs: Vec<IpAddr>,
    /// Wrong proxy passwords this client's address sent just before (within
    /// `auth_throttle.window`), as if from earlier connections.
    #[serde(skip_serializing_if = "is_default")]
    pub auth_failures: u32,
    /// DNS outcome.
    pub dns: DnsScript,
    /// TCP connect outcome, for every attempt.
    pub connect: ConnectScript,
    /// What the client sends first in a tunnel.
    pub client_tls: ClientTls,
    /// The origin's answer to each forwarded request.
    pub origin: OriginScript,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_bytes() {
        let plain = OriginScript::default()
            .response_bytes(&Settings::default())
            .unwrap();
        assert_eq!(
            String::from_utf8(plain).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 23\r\n\r\nHello from the origin.\n"
        );
        let chunked = OriginScript::Responds {
            status: 200,
            reason: "OK".into(),
            headers: vec![("Transfer-Encoding".into(), "chunked".into())],
            body: "hello".into(),
        };
        assert_eq!(
            chunked.response_bytes(&Settings::default()).unwrap(),
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        );
        assert!(!chunked.closes_after());
        assert!(OriginScript::Raw("x".into()).closes_after());
        assert_eq!(
            OriginScript::Fails(UpstreamFailure::Timeout).response_bytes(&Settings::default()),
            None
        );
    }
}
