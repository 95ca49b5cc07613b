//! The connection-log model: events that happen to a client connection, and
//! the record they build up. The core emits each event with the connection
//! time of the input that caused it; the engine adds the wall-clock time of
//! the accept, the simulator uses its simulated times as they are.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::escape::PeerText;
use crate::head::Version;
use crate::outcome::{ConnectFailure, DnsFailure, UpstreamFailure};
use crate::policy::AddressDenied;
use crate::response::{After, ProxyError};
use crate::tls::SniCheck;

/// How many bytes of a request target events and records keep (escaped,
/// at most four times as many characters).
pub const SHOWN_TARGET: usize = 1024;

/// How many bytes of a method, a forwarded path's method or an origin's
/// reason phrase events keep.
pub const SHOWN_SHORT: usize = 128;

/// Something that happened to one client connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The connection was accepted.
    Accepted {
        /// The client's address.
        client: SocketAddr,
        /// The address the client reached (our listener).
        listener: SocketAddr,
    },
    /// A complete request head was read.
    Request {
        /// The method, escaped (at most [`SHOWN_SHORT`] bytes of it).
        method: PeerText,
        /// The request target as sent, escaped: at most [`SHOWN_TARGET`]
        /// bytes of it, so a log's size does not depend on what peers send.
        target: PeerText,
        /// The target's full length in bytes.
        #[serde(default)]
        target_len: usize,
        /// The HTTP version.
        version: Version,
    },
    /// A DNS lookup started.
    Resolving {
        /// The name looked up: a host name that passed the target checks
        /// (letters, digits, `-`, `_` and dots), so nothing to escape.
        host: String,
    },
    /// The lookup answered.
    Resolved {
        /// All addresses returned.
        addrs: Vec<IpAddr>,
    },
    /// The lookup failed.
    DnsFailed {
        /// How.
        failure: DnsFailure,
    },
    /// A resolved address was refused by policy and skipped.
    AddressDenied {
        /// The address.
        addr: SocketAddr,
        /// Which rule refused it.
        reason: AddressDenied,
    },
    /// A TCP connect started.
    Connecting {
        /// To where.
        addr: SocketAddr,
    },
    /// The TCP connect succeeded.
    Connected {
        /// To where.
        addr: SocketAddr,
    },
    /// An earlier upstream connection was reused for this request.
    Reused,
    /// The TCP connect failed.
    ConnectFailed {
        /// To where.
        addr: SocketAddr,
        /// How.
        failure: ConnectFailure,
    },
    /// Burrow wrote a response of its own.
    Responded {
        /// Status code.
        status: u16,
        /// RFC 9209 error type, if any.
        error: Option<ProxyError>,
        /// The rule that fired.
        rule: String,
        /// What happens to the connection.
        after: After,
    },
    /// A forwarded request was sent upstream.
    Forwarded {
        /// Method, escaped.
        method: PeerText,
        /// Origin-form target, escaped.
        path: PeerText,
    },
    /// A 1xx went to the client: Burrow's own `100 Continue`, or the origin's relayed.
    Interim {
        /// The status.
        status: u16,
    },
    /// The origin's response head was relayed.
    OriginResponded {
        /// The origin's status.
        status: u16,
        /// The origin's reason phrase, escaped.
        reason: PeerText,
    },
    /// The origin failed to answer a forwarded request.
    UpstreamFailed {
        /// How.
        failure: UpstreamFailure,
    },
    /// What the first tunnel bytes say about TLS.
    Tls {
        /// SNI compared with the CONNECT host.
        check: SniCheck,
        /// The SNI, if any, escaped.
        sni: Option<PeerText>,
        /// ALPN protocols offered, escaped.
        alpn: Vec<PeerText>,
    },
    /// The first byte from the client went upstream.
    FirstByteUp,
    /// The first byte from the server came back.
    FirstByteDown,
    /// Running byte totals since the connection started.
    Traffic {
        /// Client to server.
        up: u64,
        /// Server to client.
        down: u64,
    },
    /// The connection ended.
    Closed {
        /// Why and by whom.
        reason: CloseReason,
    },
}

/// Who ended a connection, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The client closed its side (FIN) first.
    ClientFin,
    /// The server closed its side (FIN) first.
    ServerFin,
    /// The client reset the connection.
    ClientReset,
    /// The server reset the connection.
    ServerReset,
    /// No bytes either way for the idle timeout.
    IdleTimeout,
    /// The request head did not arrive in time.
    HeadTimeout,
    /// Burrow refused the request and closed.
    Rejected,
    /// Burrow is stopping.
    Shutdown,
    /// An IO error other than a reset.
    Error,
    /// Closed to make room: the proxy was full, and this connection was
    /// idle or had not authenticated.
    Evicted,
    /// Its last events were lost on the way to this log (the reader fell
    /// behind); the engine said it is no longer open.
    Unknown,
}

impl CloseReason {
    /// Words for the log table.
    pub fn describe(self) -> &'static str {
        match self {
            CloseReason::ClientFin => "client closed",
            CloseReason::ServerFin => "server closed",
            CloseReason::ClientReset => "client reset",
            CloseReason::ServerReset => "server reset",
            CloseReason::IdleTimeout => "idle timeout",
            CloseReason::HeadTimeout => "request head timeout",
            CloseReason::Rejected => "rejected",
            CloseReason::Shutdown => "proxy stopped",
            CloseReason::Error => "error",
            CloseReason::Evicted => "closed to make room",
            CloseReason::Unknown => "closed (events lost)",
        }
    }
}

/// An event with the connection it belongs to and when it happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogEvent {
    /// Connection id, unique within one engine run.
    pub id: u64,
    /// Milliseconds since the Unix epoch (engine) or since the start (simulator).
    pub at_ms: u64,
    /// What happened.
    pub event: Event,
}

/// Moments in a connection's life, in the same clock as [`LogEvent::at_ms`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// Accepted.
    pub accepted: Option<u64>,
    /// Request head complete.
    pub head: Option<u64>,
    /// DNS answered or failed.
    pub dns: Option<u64>,
    /// TCP connected (or failed for good).
    pub connected: Option<u64>,
    /// Burrow's response (or the origin's response head) written.
    pub responded: Option<u64>,
    /// First byte client → server.
    pub first_up: Option<u64>,
    /// First byte server → client.
    pub first_down: Option<u64>,
    /// Closed.
    pub closed: Option<u64>,
}

/// Everything known about one client connection, built from its events.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    /// Connection id.
    pub id: u64,
    /// Client address.
    pub client: Option<SocketAddr>,
    /// Method of the latest request, escaped.
    pub method: Option<PeerText>,
    /// Target of the latest request, escaped, at most [`SHOWN_TARGET`] bytes of it.
    pub target: Option<PeerText>,
    /// The full length of that target in bytes.
    #[serde(default)]
    pub target_len: usize,
    /// Version of the latest request.
    pub version: Option<Version>,
    /// Requests read on this connection (keep-alive forwarding may carry many).
    pub requests: u32,
    /// Addresses DNS returned.
    pub resolved: Vec<IpAddr>,
    /// The address connected to.
    pub remote: Option<SocketAddr>,
    /// The status the client got (Burrow's or the origin's).
    pub status: Option<u16>,
    /// The origin's reason phrase, escaped, when the status is the origin's.
    pub reason: Option<PeerText>,
    /// The RFC 9209 error, if Burrow answered with one.
    pub error: Option<ProxyError>,
    /// The rule behind Burrow's own response.
    pub rule: Option<String>,
    /// DNS failure, if any.
    pub dns_failure: Option<DnsFailure>,
    /// Last connect failure, if any.
    pub connect_failure: Option<ConnectFailure>,
    /// Upstream failure on a forwarded request, if any.
    pub upstream_failure: Option<UpstreamFailure>,
    /// Whether this became a tunnel.
    pub tunnel: bool,
    /// TLS SNI check.
    pub sni_check: Option<SniCheck>,
    /// SNI seen in the ClientHello, escaped.
    pub sni: Option<PeerText>,
    /// ALPN offered, escaped.
    pub alpn: Vec<PeerText>,
    /// Bytes client → server.
    pub bytes_up: u64,
    /// Bytes server → client.
    pub bytes_down: u64,
    /// Timings.
    pub timings: Timings,
    /// How it ended; `None` while open.
    pub close: Option<CloseReason>,
}

impl ConnectionRecord {
    /// An empty record for connection `id`.
    pub fn new(id: u64) -> Self {
        ConnectionRecord {
            id,
            ..Default::default()
        }
    }

    /// Whether the connection is still open.
    pub fn is_open(&self) -> bool {
        self.close.is_none()
    }

    /// Applies one event.
    pub fn apply(&mut self, at: u64, event: &Event) {
        let t = &mut self.timings;
        match event {
            Event::Accepted { client, .. } => {
                self.client = Some(*client);
                t.accepted = Some(at);
            }
            Event::Request {
                method,
                target,
                target_len,
                version,
            } => {
                self.method = Some(method.clone());
                self.target = Some(target.clone());
                self.target_len = *target_len;
                self.version = Some(*version);
                self.requests += 1;
                t.head = Some(at);
            }
            Event::Resolving { .. } | Event::Connecting { .. } | Event::AddressDenied { .. } => {}
            Event::Resolved { addrs } => {
                self.resolved = addrs.clone();
                t.dns = Some(at);
            }
            Event::DnsFailed { failure } => {
                self.dns_failure = Some(*failure);
                t.dns = Some(at);
            }
            Event::Connected { addr } => {
                self.remote = Some(*addr);
                t.connected = Some(at);
            }
            Event::Reused => {}
            Event::ConnectFailed { failure, .. } => {
                self.connect_failure = Some(*failure);
                t.connected = Some(at);
            }
            Event::Responded {
                status,
                error,
                rule,
                after,
            } => {
                self.status = Some(*status);
                self.reason = None;
                self.error = *error;
                self.rule = Some(rule.clone());
                self.tunnel = *after == After::Tunnel;
                t.responded = Some(at);
            }
            Event::Forwarded { .. } => {}
            Event::OriginResponded { status, reason } => {
                self.status = Some(*status);
                self.reason = Some(reason.clone());
                t.responded = Some(at);
            }
            Event::Interim { .. } => {}
            Event::UpstreamFailed { failure } => self.upstream_failure = Some(*failure),
            Event::Tls { check, sni, alpn } => {
                self.sni_check = Some(check.clone());
                self.sni = sni.clone();
                self.alpn = alpn.clone();
            }
            Event::FirstByteUp => t.first_up = t.first_up.or(Some(at)),
            Event::FirstByteDown => t.first_down = t.first_down.or(Some(at)),
            Event::Traffic { up, down } => {
                self.bytes_up = *up;
                self.bytes_down = *down;
            }
            Event::Closed { reason } => {
                self.close = Some(*reason);
                t.closed = Some(at);
            }
        }
    }

    /// Milliseconds from accept to close (or to `now` while open).
    pub fn duration_ms(&self, now: u64) -> Option<u64> {
        let start = self.timings.accepted?;
        Some(self.timings.closed.unwrap_or(now).saturating_sub(start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_follows_events() {
        let mut r = ConnectionRecord::new(7);
        let client: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let events = [
            (
                0,
                Event::Accepted {
                    client,
                    listener: "127.0.0.1:8080".parse().unwrap(),
                },
            ),
            (
                1,
                Event::Request {
                    method: "CONNECT".into(),
                    target: "a:443".into(),
                    target_len: 5,
                    version: Version::Http11,
                },
            ),
            (
                5,
                Event::Resolved {
                    addrs: vec!["192.0.2.1".parse().unwrap()],
                },
            ),
            (
                9,
                Event::Connected {
                    addr: "192.0.2.1:443".parse().unwrap(),
                },
            ),
            (
                9,
                Event::Responded {
                    status: 200,
                    error: None,
                    rule: "connect-ok".into(),
                    after: After::Tunnel,
                },
            ),
            (12, Event::FirstByteUp),
            (20, Event::Traffic { up: 10, down: 300 }),
            (
                30,
                Event::Closed {
                    reason: CloseReason::ClientFin,
                },
            ),
        ];
        for (at, e) in &events {
            assert!(r.is_open());
            r.apply(*at, e);
        }
        assert_eq!(r.client, Some(client));
        assert_eq!(r.status, Some(200));
        assert!(r.tunnel);
        assert_eq!((r.bytes_up, r.bytes_down), (10, 300));
        assert_eq!(r.timings.dns, Some(5));
        assert_eq!(r.duration_ms(100), Some(30));
        assert!(!r.is_open());
    }

    #[test]
    fn events_serialise_with_a_type_tag() {
        let e = LogEvent {
            id: 1,
            at_ms: 2,
            event: Event::Traffic { up: 3, down: 4 },
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"id":1,"at_ms":2,"event":{"type":"traffic","up":3,"down":4}}"#
        );
        let back: LogEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }
}
