//! How much work each phase does, and the bounds every wait and phase respects.

use std::time::Duration;

/// Most time any one connect, read or write may take: loopback answers in milliseconds, so
/// this only catches a target that stopped answering.
pub const IO_LIMIT: Duration = Duration::from_secs(10);

/// How much work each phase does.
#[derive(Clone, Debug)]
pub struct Counts {
    /// Sequential handshakes timed.
    pub handshakes: usize,
    /// Concurrent clients of the handshake-rate phase.
    pub rate_clients: usize,
    /// How long the handshake-rate phase measures (after its warm-up).
    pub rate_for: Duration,
    /// Most handshakes the rate phase makes, whatever the time.
    pub rate_max: u64,
    /// Bytes moved each way by each throughput phase.
    pub bytes: u64,
    /// Concurrent tunnels of the ping-pong phase.
    pub pingpong_tunnels: usize,
    /// Ping-pongs before measuring starts: connections and runtime warm up.
    pub pingpong_warmup: Duration,
    /// How long the ping-pong phase measures.
    pub pingpong_for: Duration,
    /// Idle tunnels held for the first memory reading.
    pub idle_few: usize,
    /// Idle tunnels held for the second (includes the first).
    pub idle_many: usize,
    /// Keep-alive connections of the forwarding phase.
    pub forward_conns: usize,
    /// How long the forwarding phase measures.
    pub forward_for: Duration,
    /// Time before measuring in the rate and forwarding phases, for the same reason.
    pub warmup: Duration,
}

impl Counts {
    /// The counts of issue 10, or small ones for `--quick`.
    pub fn new(quick: bool) -> Counts {
        if quick {
            Counts {
                handshakes: 200,
                rate_clients: 64,
                rate_for: Duration::from_secs(1),
                rate_max: 100_000,
                bytes: 64 << 20,
                pingpong_tunnels: 100,
                pingpong_warmup: Duration::from_millis(200),
                pingpong_for: Duration::from_secs(1),
                idle_few: 100,
                idle_many: 500,
                forward_conns: 16,
                forward_for: Duration::from_secs(1),
                warmup: Duration::from_millis(200),
            }
        } else {
            Counts {
                handshakes: 2_000,
                rate_clients: 64,
                rate_for: Duration::from_secs(3),
                rate_max: 1_000_000,
                bytes: 1 << 30,
                pingpong_tunnels: 1_000,
                pingpong_warmup: Duration::from_secs(1),
                pingpong_for: Duration::from_secs(5),
                idle_few: 1_000,
                idle_many: 5_000,
                forward_conns: 16,
                forward_for: Duration::from_secs(3),
                warmup: Duration::from_millis(500),
            }
        }
    }

    /// The most one phase may take before the bench gives up on it: its own time, plus
    /// moving the bytes at a crawling 20 MiB/s, plus setting up every tunnel it holds at a
    /// slow 1 ms each.
    pub fn phase_limit(&self) -> Duration {
        let bytes = Duration::from_secs(self.bytes / (20 << 20));
        let tunnels = Duration::from_millis((self.handshakes + self.idle_many) as u64);
        Duration::from_secs(30) + bytes + tunnels + self.pingpong_for + self.rate_for
    }
}
