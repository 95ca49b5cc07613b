//! The operations a `connection` input is made of, and a writer for them
//! (the seeds). An operation is a tag byte (taken modulo 16) and its
//! arguments; one that does not fit what the connection waits for is
//! skipped, so every byte string is a valid input and a script stays
//! meaningful when the connection takes another path.

use std::net::IpAddr;

use burrow_core::outcome::{ConnectFailure, DnsFailure};

/// Client bytes: a u16 length, then the bytes.
pub const CLIENT_DATA: u8 = 0;
/// Client bytes: one byte repeated 64 × (count + 1) times.
pub const CLIENT_FILL: u8 = 1;
/// The client closes its sending side.
pub const CLIENT_EOF: u8 = 2;
/// Reading or writing the client fails (argument: reset or other).
pub const CLIENT_ERROR: u8 = 3;
/// Origin bytes: a u16 length, then the bytes.
pub const UP_DATA: u8 = 4;
/// Origin bytes: one byte repeated 64 × (count + 1) times.
pub const UP_FILL: u8 = 5;
/// The origin closes (argument: 0 closed, 1 reset, else another error).
pub const UP_END: u8 = 6;
/// DNS answers: a count, then that many addresses (see [`address`]).
pub const DNS_ANSWER: u8 = 7;
/// DNS fails (argument: the kind).
pub const DNS_FAIL: u8 = 8;
/// The connect succeeds.
pub const CONNECT_OK: u8 = 9;
/// The connect fails (argument: the kind).
pub const CONNECT_FAIL: u8 = 10;
/// The deadline passes (argument: below 128, that many ms late; else up to
/// 127 ms early, which must change nothing).
pub const TIMEOUT: u8 = 11;
/// Time passes: a u16 of milliseconds.
pub const ADVANCE: u8 = 12;
/// The engine stops (argument: odd cuts, 2 mod 4 evicts the connection if
/// it offers its slot, else drains).
pub const STOP: u8 = 13;
/// Client bytes inside a tunnel: a u16 length, then the bytes.
pub const TUNNEL_UP: u8 = 14;
/// The tunnel otherwise (argument mod 4: server bytes with a u16 count,
/// a progress report, the end with a kind byte, or a progress report).
pub const TUNNEL: u8 = 15;

/// Addresses an answer names by index; 0xfe and 0xff are followed by a raw
/// IPv4 or IPv6 address. Public, documentation, internal, metadata and
/// disguised (mapped, NAT64, 6to4) ones, and this machine's.
pub const ADDRESSES: &[&str] = &[
    "192.0.2.10",
    "198.51.100.7",
    "203.0.113.5",
    "93.184.216.34",
    "127.0.0.1",
    "10.0.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "::1",
    "fe80::1",
    "fd00::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "64:ff9b::7f00:1",
    "2002:7f00:1::",
    "2001:db8::7",
    "2606:4700::1",
    "192.0.2.99",
    "224.0.0.1",
    "255.255.255.255",
    "10.1.2.3",
    "172.16.5.4",
];

/// The address an answer's spec byte names, reading a raw one from `raw`.
pub fn address(spec: u8, raw: impl FnOnce(usize) -> Vec<u8>) -> IpAddr {
    match spec {
        0xfe => {
            let b = raw(4);
            let o: [u8; 4] = std::array::from_fn(|i| b.get(i).copied().unwrap_or(0));
            IpAddr::from(o)
        }
        0xff => {
            let b = raw(16);
            let o: [u8; 16] = std::array::from_fn(|i| b.get(i).copied().unwrap_or(0));
            IpAddr::from(o)
        }
        _ => {
            let text = ADDRESSES[usize::from(spec) % ADDRESSES.len()];
            text.parse().unwrap_or(IpAddr::from([192, 0, 2, 10]))
        }
    }
}

/// The DNS failure an argument byte names.
pub fn dns_failure(b: u8) -> DnsFailure {
    match b % 4 {
        0 => DnsFailure::NoSuchHost,
        1 => DnsFailure::ServerFailure,
        3 => DnsFailure::Busy,
        _ => DnsFailure::Timeout,
    }
}

/// The connect failure an argument byte names.
pub fn connect_failure(b: u8) -> ConnectFailure {
    match b % 4 {
        0 => ConnectFailure::Refused,
        1 => ConnectFailure::Unreachable,
        2 => ConnectFailure::TimedOut,
        _ => ConnectFailure::Other,
    }
}

/// Writes a `connection` input.
#[derive(Clone, Debug, Default)]
pub struct Script(Vec<u8>);

impl Script {
    /// An input for preset `preset` with the flags byte `flags`.
    pub fn new(preset: u8, flags: u8) -> Script {
        Script(vec![preset, flags])
    }

    /// The input.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    fn sized(&mut self, tag: u8, bytes: &[u8]) {
        for piece in bytes.chunks(usize::from(u16::MAX)) {
            self.0.push(tag);
            self.0
                .extend_from_slice(&(piece.len() as u16).to_le_bytes());
            self.0.extend_from_slice(piece);
        }
    }

    /// The client sends `bytes`.
    pub fn client(&mut self, bytes: &[u8]) -> &mut Script {
        self.sized(CLIENT_DATA, bytes);
        self
    }

    /// The client closes its side.
    pub fn client_eof(&mut self) -> &mut Script {
        self.0.push(CLIENT_EOF);
        self
    }

    /// DNS answers with `addrs` (raw, so any address can be given).
    pub fn dns(&mut self, addrs: &[IpAddr]) -> &mut Script {
        self.0.push(DNS_ANSWER);
        self.0.push(addrs.len().min(255) as u8);
        for a in addrs.iter().take(255) {
            match a {
                IpAddr::V4(v4) => {
                    self.0.push(0xfe);
                    self.0.extend_from_slice(&v4.octets());
                }
                IpAddr::V6(v6) => {
                    self.0.push(0xff);
                    self.0.extend_from_slice(&v6.octets());
                }
            }
        }
        self
    }

    /// DNS fails with `kind` (0 no such host, 1 server failure, 3 busy).
    pub fn dns_fail(&mut self, kind: u8) -> &mut Script {
        self.0.extend_from_slice(&[DNS_FAIL, kind]);
        self
    }

    /// The connect succeeds.
    pub fn connect_ok(&mut self) -> &mut Script {
        self.0.push(CONNECT_OK);
        self
    }

    /// The connect fails with `kind` (0 refused, 1 unreachable, 3 other).
    pub fn connect_fail(&mut self, kind: u8) -> &mut Script {
        self.0.extend_from_slice(&[CONNECT_FAIL, kind]);
        self
    }

    /// The origin sends `bytes`.
    pub fn upstream(&mut self, bytes: &[u8]) -> &mut Script {
        self.sized(UP_DATA, bytes);
        self
    }

    /// The origin closes.
    pub fn upstream_end(&mut self) -> &mut Script {
        self.0.extend_from_slice(&[UP_END, 0]);
        self
    }

    /// The current deadline passes.
    pub fn timeout(&mut self) -> &mut Script {
        self.0.extend_from_slice(&[TIMEOUT, 0]);
        self
    }

    /// `ms` milliseconds pass.
    pub fn advance(&mut self, ms: u16) -> &mut Script {
        self.0.push(ADVANCE);
        self.0.extend_from_slice(&ms.to_le_bytes());
        self
    }

    /// The client sends `bytes` into the tunnel.
    pub fn tunnel_up(&mut self, bytes: &[u8]) -> &mut Script {
        self.sized(TUNNEL_UP, bytes);
        self
    }

    /// The server sends `n` bytes into the tunnel.
    pub fn tunnel_down(&mut self, n: u16) -> &mut Script {
        self.0.extend_from_slice(&[TUNNEL, 0]);
        self.0.extend_from_slice(&n.to_le_bytes());
        self
    }

    /// The tunnel finishes, the client closing first.
    pub fn tunnel_end(&mut self) -> &mut Script {
        self.0.extend_from_slice(&[TUNNEL, 2, 0]);
        self
    }

    /// The engine stops: draining, or cutting.
    pub fn stop(&mut self, cut: bool) -> &mut Script {
        self.0.extend_from_slice(&[STOP, u8::from(cut)]);
        self
    }
}
