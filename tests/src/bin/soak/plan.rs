//! What the soak does and with which settings: the kinds of client, their weights and addresses,
//! the proxy's config, and the schedule derived from `--minutes`.

use std::net::Ipv4Addr;
use std::time::Duration;

use serde_json::json;

/// `timeouts.tunnel_idle`: short, so idle tunnels are closed by the proxy within the soak.
pub const TUNNEL_IDLE: f64 = 3.0;
/// `timeouts.request_head`: short, so slowloris clients are answered within the soak.
pub const REQUEST_HEAD: f64 = 4.0;
/// `timeouts.keep_alive`: keep-alive clients send back to back, so this only ends stragglers.
pub const KEEP_ALIVE: f64 = 5.0;
/// `max_connections`: far above what the mix holds at once (about [`WORKERS`] plus the
/// slowloris clients and the probe), so only the cap client ever meets it.
pub const MAX_CONNECTIONS: usize = 256;

/// `max_connections_per_client`: well above what one address of the mix holds at once (each kind spreads over [`ADDRESSES_PER_KIND`] addresses).
pub const PER_CLIENT_CAP: usize = 16;
/// Connections the cap client opens beyond the cap, each of which must be refused (or make room
/// by closing an idle one, if that is how the engine enforces it).
pub const CAP_EXTRA: usize = 8;

/// Concurrent clients running the weighted mix.
pub const WORKERS: usize = 32;
/// Concurrent slowloris clients, on top of the mix (each holds a connection for a whole head
/// timeout, so they are kept apart rather than weighted in).
pub const SLOWLORIS: usize = 4;
/// Client addresses per kind: 127.0.<kind>.1 to 127.0.<kind>.N.
pub const ADDRESSES_PER_KIND: u8 = 16;
/// Largest payload through one tunnel or one request or response body.
pub const MAX_PAYLOAD: usize = 1 << 20;

/// Every sort of client the soak runs. Each has its own third octet of client address, so the
/// access log's client field says which kind a logged connection was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Echo through a tunnel, then the client closes (FIN) after the echo is back.
    TunnelClean,
    /// The origin sends a payload and closes (FIN) first.
    TunnelServerClose,
    /// The client closes its sending side while the echo is still on its way back.
    TunnelHalfClose,
    /// Echo, then the client resets (SO_LINGER 0).
    TunnelClientReset,
    /// Echo, then the origin resets.
    TunnelServerReset,
    /// Echo, then nothing until the proxy closes the tunnel for idleness.
    TunnelIdle,
    /// Forwarded GETs and POSTs on one keep-alive connection, bodies by length or chunked.
    Forward,
    /// Random bytes instead of a request: expects 400 and a close.
    Garbage,
    /// A request head one byte at a time, never finished: expects 408 and a close.
    Slowloris,
    /// One address opening connections up to and past the cap.
    CapClient,
    /// A short tunnel every 100 ms, timed, to see whether the proxy keeps serving.
    Probe,
}

impl Kind {
    /// The kinds the mix draws from, with their weights. Idle tunnels weigh little because each
    /// holds a worker for a whole idle timeout.
    pub const MIX: [(Kind, u64); 8] = [
        (Kind::TunnelClean, 14),
        (Kind::TunnelServerClose, 8),
        (Kind::TunnelHalfClose, 10),
        (Kind::TunnelClientReset, 8),
        (Kind::TunnelServerReset, 8),
        (Kind::TunnelIdle, 2),
        (Kind::Forward, 24),
        (Kind::Garbage, 6),
    ];

    /// Every kind, in table order.
    pub const ALL: [Kind; 11] = [
        Kind::TunnelClean,
        Kind::TunnelServerClose,
        Kind::TunnelHalfClose,
        Kind::TunnelClientReset,
        Kind::TunnelServerReset,
        Kind::TunnelIdle,
        Kind::Forward,
        Kind::Garbage,
        Kind::Slowloris,
        Kind::CapClient,
        Kind::Probe,
    ];

    /// Its name in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Kind::TunnelClean => "tunnel, clean close",
            Kind::TunnelServerClose => "tunnel, server close",
            Kind::TunnelHalfClose => "tunnel, half-close",
            Kind::TunnelClientReset => "tunnel, client reset",
            Kind::TunnelServerReset => "tunnel, server reset",
            Kind::TunnelIdle => "tunnel, idle timeout",
            Kind::Forward => "forwarded (keep-alive)",
            Kind::Garbage => "garbage client",
            Kind::Slowloris => "slowloris client",
            Kind::CapClient => "cap client",
            Kind::Probe => "latency probe",
        }
    }

    /// The third octet of its client addresses.
    pub fn octet(self) -> u8 {
        10 + Kind::ALL.iter().position(|&k| k == self).unwrap_or(0) as u8
    }

    /// The kind whose client addresses have this third octet.
    pub fn from_octet(octet: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.octet() == octet)
    }

    /// The `n`th client address of this kind (wrapping over [`ADDRESSES_PER_KIND`]).
    pub fn address(self, n: u64) -> Ipv4Addr {
        let host = 1 + (n % u64::from(ADDRESSES_PER_KIND)) as u8;
        Ipv4Addr::new(127, 0, self.octet(), host)
    }

    /// Whether a tunnel of this kind ends cleanly, so all its bytes must arrive.
    pub fn is_clean_tunnel(self) -> bool {
        matches!(
            self,
            Kind::TunnelClean | Kind::TunnelServerClose | Kind::TunnelHalfClose | Kind::Probe
        )
    }
}

/// Draws a kind from [`Kind::MIX`] by weight.
pub fn draw(rng: &mut crate::payload::Rng) -> Kind {
    let total: u64 = Kind::MIX.iter().map(|(_, w)| w).sum();
    let mut pick = rng.below(total);
    for (kind, weight) in Kind::MIX {
        if pick < weight {
            return kind;
        }
        pick -= weight;
    }
    Kind::TunnelClean
}

/// The settings file the child runs with.
pub fn config() -> String {
    let config = json!({
        // Loopback origins listen on ephemeral ports.
        "allowed_ports": "1-65535",
        "max_connections": MAX_CONNECTIONS,
        "max_connections_per_client": PER_CLIENT_CAP,
        "timeouts": {
            "tunnel_idle": TUNNEL_IDLE,
            "request_head": REQUEST_HEAD,
            "keep_alive": KEEP_ALIVE,
            "upstream_response": 10.0,
            "connect": 5.0,
            "shutdown_grace": 2.0,
        },
    });
    serde_json::to_string_pretty(&config).expect("a JSON value serialises")
}

/// When each phase happens, from `--minutes`.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// Mixed traffic before the baseline, so the baseline is of a warm process (runtime
    /// threads started, allocator arenas made, the event channel's ring filled once).
    pub warmup: Duration,
    /// The load itself.
    pub load: Duration,
    /// When, into the load, the soak stops reading the proxy's stdout.
    pub stall_at: Duration,
    /// For how long.
    pub stall_for: Duration,
    /// Most time allowed for the proxy to come back to rest after the load.
    pub settle_limit: Duration,
    /// Most time the whole soak may take before it gives up, ends the child and fails.
    pub limit: Duration,
}

impl Schedule {
    /// The schedule for a load of `minutes`.
    pub fn new(minutes: f64) -> Schedule {
        let load = Duration::from_secs_f64(minutes * 60.0);
        // Long enough to see a blocked proxy for certain, short enough to leave load on both sides.
        let stall_for = (load / 4).min(Duration::from_secs(25));
        let warmup = Duration::from_secs(if load < Duration::from_secs(60) { 4 } else { 8 });
        // Every timer the proxy runs (idle, head, keep-alive, linger) has fired by then, twice.
        let settle_limit =
            Duration::from_secs_f64(2.0 * TUNNEL_IDLE.max(REQUEST_HEAD).max(KEEP_ALIVE) + 10.0);
        Schedule {
            warmup,
            load,
            stall_at: load / 3,
            stall_for,
            settle_limit,
            limit: warmup + load + 2 * settle_limit + Duration::from_secs(90),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octets_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_octet(kind.octet()), Some(kind));
            assert_eq!(kind.address(0).octets()[2], kind.octet());
        }
    }

    #[test]
    fn config_is_settings() {
        let settings: burrow_core::Settings = serde_json::from_str(&config()).unwrap();
        settings.validate().unwrap();
        assert_eq!(settings.max_connections, MAX_CONNECTIONS);
        assert_eq!(settings.max_connections_per_client, PER_CLIENT_CAP);
    }
}
