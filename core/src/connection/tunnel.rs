//! The tunnel after a 2xx to CONNECT. The caller moves the bytes; the core
//! looks at the first client bytes for the TLS ClientHello, keeps the idle
//! deadline, counts, and names how the tunnel ended.

use std::time::Duration;

use crate::log::{CloseReason, Event};
use crate::tls::{self, Peek};

use super::{Connection, Phase};

/// One side of a tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The client.
    Client,
    /// The server.
    Server,
}

/// How the caller saw a tunnel end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelEnd {
    /// Both directions finished; `first` closed its sending side first.
    Finished {
        /// Who sent FIN first.
        first: Side,
    },
    /// A side reset its connection.
    Reset(Side),
    /// Another IO error.
    Failed,
}

/// A tunnel's state in the core.
#[derive(Debug)]
pub(super) struct TunnelState {
    /// The CONNECT host (no port), for the SNI check.
    host: String,
    /// The first client bytes while the ClientHello is undecided.
    peek: Option<Peeker>,
    /// The last time a byte moved either way.
    pub(super) last_activity: Duration,
    /// Byte counts of the connection before the tunnel.
    base: (u64, u64),
}

impl TunnelState {
    pub(super) fn new(host: String, now: Duration, base: (u64, u64)) -> TunnelState {
        TunnelState {
            host,
            peek: Some(Peeker::default()),
            last_activity: now,
            base,
        }
    }
}

/// Collects the first client bytes and asks [`tls::peek`] again only when
/// enough have come to change its answer, so the cost stays linear in the
/// bytes however finely they are split.
#[derive(Debug, Default)]
struct Peeker {
    seen: Vec<u8>,
    /// Don't look again before this many bytes.
    next_look: usize,
}

impl Peeker {
    /// `None` while undecided.
    fn feed(&mut self, bytes: &[u8]) -> Option<Peek> {
        let room = tls::MAX_PEEK.saturating_sub(self.seen.len());
        self.seen.extend_from_slice(&bytes[..bytes.len().min(room)]);
        if self.seen.len() < self.next_look && self.seen.len() < tls::MAX_PEEK {
            return None;
        }
        match tls::peek(&self.seen) {
            Peek::NeedMore if self.seen.len() >= tls::MAX_PEEK => Some(Peek::Malformed),
            Peek::NeedMore => {
                self.next_look = tls::bytes_needed(&self.seen).max(self.seen.len() + 1);
                None
            }
            decided => Some(decided),
        }
    }
}

impl Connection {
    /// The CONNECT host of an open tunnel.
    pub fn tunnel_host(&self) -> Option<&str> {
        match &self.phase {
            Phase::Tunnel(t) => Some(&t.host),
            _ => None,
        }
    }

    /// Whether the core still wants to see the client's first tunnel bytes.
    pub fn tunnel_peeking(&self) -> bool {
        matches!(&self.phase, Phase::Tunnel(t) if t.peek.is_some())
    }

    /// Client bytes relayed upstream while [`Connection::tunnel_peeking`].
    pub fn handle_tunnel_peek(&mut self, now: Duration, bytes: &[u8]) {
        self.tick(now);
        let Phase::Tunnel(t) = &mut self.phase else {
            return;
        };
        let Some(peeker) = &mut t.peek else {
            return;
        };
        let Some(peek) = peeker.feed(bytes) else {
            return;
        };
        t.peek = None;
        let Some(check) = tls::check_sni(&t.host, &peek) else {
            return;
        };
        let (sni, alpn) = match peek {
            Peek::Hello(hello) => (hello.sni, hello.alpn),
            _ => (None, Vec::new()),
        };
        self.emit(Event::Tls { check, sni, alpn });
    }

    /// The first byte went from `side` to the other.
    pub fn handle_tunnel_first_byte(&mut self, now: Duration, side: Side) {
        self.tick(now);
        if let Phase::Tunnel(t) = &mut self.phase {
            t.last_activity = self.now;
        }
        self.emit(match side {
            Side::Client => Event::FirstByteUp,
            Side::Server => Event::FirstByteDown,
        });
    }

    /// Bytes relayed so far (client → server, server → client, counted from
    /// the tunnel's start) and when a byte last moved.
    pub fn handle_tunnel_progress(
        &mut self,
        now: Duration,
        up: u64,
        down: u64,
        last_activity: Duration,
    ) {
        self.tick(now);
        let Phase::Tunnel(t) = &mut self.phase else {
            return;
        };
        t.last_activity = t.last_activity.max(last_activity);
        self.traffic.up = t.base.0 + up;
        self.traffic.down = t.base.1 + down;
        self.report_traffic(false);
    }

    /// The tunnel ended as the caller saw it.
    pub fn handle_tunnel_end(&mut self, now: Duration, end: TunnelEnd) {
        self.tick(now);
        if !matches!(self.phase, Phase::Tunnel(_)) {
            return;
        }
        self.close(match end {
            TunnelEnd::Finished {
                first: Side::Client,
            } => CloseReason::ClientFin,
            TunnelEnd::Finished {
                first: Side::Server,
            } => CloseReason::ServerFin,
            TunnelEnd::Reset(Side::Client) => CloseReason::ClientReset,
            TunnelEnd::Reset(Side::Server) => CloseReason::ServerReset,
            TunnelEnd::Failed => CloseReason::Error,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peek_decides_once_and_in_linear_time() {
        let hello = tls::client_hello(Some("example.com"));
        let mut peeker = Peeker::default();
        let mut looks = 0;
        let mut decided = None;
        for b in &hello {
            let before = peeker.next_look;
            decided = peeker.feed(std::slice::from_ref(b));
            if peeker.next_look != before || decided.is_some() {
                looks += 1;
            }
            if decided.is_some() {
                break;
            }
        }
        assert!(matches!(decided, Some(Peek::Hello(_))));
        assert!(looks < 10, "{looks} looks for {} bytes", hello.len());
    }
}
