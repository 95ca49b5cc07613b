//! The figures the bench reports, which phase measures each, and which way is better.

/// Which way a figure improves: the "best peer" column and the ratios depend on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    /// Rates: more is better.
    Higher,
    /// Latency and memory: less is better.
    Lower,
}

/// One phase of a round; `--only` names these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Resident memory idle and with idle tunnels held. Runs first, on the fresh process.
    Memory,
    /// Sequential handshakes, timed one by one.
    Handshake,
    /// Handshakes per second with concurrent clients.
    Rate,
    /// One tunnel, client to origin.
    Upload,
    /// One tunnel, origin to client.
    Download,
    /// One tunnel, both ways at once.
    Echo,
    /// Many tunnels doing small ping-pongs.
    PingPong,
    /// Plain-HTTP forwarding over keep-alive connections.
    Forward,
}

impl Phase {
    /// Every phase, in the order a round runs them.
    pub const ALL: [Phase; 8] = [
        Phase::Memory,
        Phase::Handshake,
        Phase::Rate,
        Phase::Upload,
        Phase::Download,
        Phase::Echo,
        Phase::PingPong,
        Phase::Forward,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Memory => "memory",
            Phase::Handshake => "handshake",
            Phase::Rate => "rate",
            Phase::Upload => "upload",
            Phase::Download => "download",
            Phase::Echo => "echo",
            Phase::PingPong => "pingpong",
            Phase::Forward => "forward",
        }
    }

    /// The phase called `name` on the command line.
    pub fn parse(name: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// One row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Figure {
    /// Handshake latency, median, µs.
    HandshakeP50,
    /// Handshake latency, 99th percentile, µs.
    HandshakeP99,
    /// Handshakes per second with concurrent clients.
    HandshakeRate,
    /// One tunnel, upload, MiB/s.
    Upload,
    /// One tunnel, download, MiB/s.
    Download,
    /// One tunnel, echo, MiB/s each way.
    Echo,
    /// Ping-pongs per second over all tunnels.
    PingPongOps,
    /// Ping-pong round trip, median, µs.
    PingPongP50,
    /// Ping-pong round trip, 99th percentile, µs.
    PingPongP99,
    /// Resident memory of the fresh, idle target, KiB.
    RssIdle,
    /// Resident KiB per tunnel with the smaller number of idle tunnels held.
    KibPerTunnelFew,
    /// Resident KiB per tunnel with the larger number held.
    KibPerTunnelMany,
    /// Forwarded requests per second.
    ForwardRate,
    /// Target CPU µs per handshake, in the rate phase.
    CpuPerHandshake,
    /// Target CPU ms per GiB uploaded.
    CpuPerGibUp,
    /// Target CPU ms per GiB downloaded.
    CpuPerGibDown,
    /// Target CPU ms per GiB echoed (counted once per direction: 2 GiB for 1 GiB each way).
    CpuPerGibEcho,
    /// Target CPU µs per ping-pong.
    CpuPerPingPong,
    /// Target CPU µs per forwarded request.
    CpuPerRequest,
}

impl Figure {
    /// Every figure, in table order.
    pub const ALL: [Figure; 19] = [
        Figure::HandshakeP50,
        Figure::HandshakeP99,
        Figure::HandshakeRate,
        Figure::Upload,
        Figure::Download,
        Figure::Echo,
        Figure::PingPongOps,
        Figure::PingPongP50,
        Figure::PingPongP99,
        Figure::RssIdle,
        Figure::KibPerTunnelFew,
        Figure::KibPerTunnelMany,
        Figure::ForwardRate,
        Figure::CpuPerHandshake,
        Figure::CpuPerGibUp,
        Figure::CpuPerGibDown,
        Figure::CpuPerGibEcho,
        Figure::CpuPerPingPong,
        Figure::CpuPerRequest,
    ];

    /// Which way is better.
    pub fn better(self) -> Better {
        match self {
            Figure::HandshakeRate
            | Figure::Upload
            | Figure::Download
            | Figure::Echo
            | Figure::PingPongOps
            | Figure::ForwardRate => Better::Higher,
            _ => Better::Lower,
        }
    }

    /// Decimals shown: per-tunnel memory and per-message CPU are small enough that tenths matter.
    pub fn decimals(self) -> usize {
        match self {
            Figure::KibPerTunnelFew
            | Figure::KibPerTunnelMany
            | Figure::CpuPerPingPong
            | Figure::CpuPerRequest => 1,
            _ => 0,
        }
    }
}
