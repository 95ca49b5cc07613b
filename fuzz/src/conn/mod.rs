//! The `connection` target: one [`Connection`] driven the way the engine
//! drives it (`proxy/src/connection.rs`, `proxy/src/relay.rs`), by a script
//! of client bytes, DNS answers, connect results, origin bytes, tunnel
//! traffic, deadlines and stops decoded from the input, with the
//! invariants checked after every step:
//!
//! - every response logged is the response the client reads, in order;
//! - a 407 always carries `Proxy-Authenticate`;
//! - every refusal (a 4xx or 5xx of Burrow's own) closes the connection;
//! - a 2xx only answers a CONNECT, right after a connect to an address and
//!   port the settings allow, and carries no body framing;
//! - no connect to a port, address or name the settings refuse (checked
//!   against each preset's rules written out in [`presets`]);
//! - a deadline that has not passed changes nothing, and with only
//!   deadlines passing every connection closes;
//! - the heap the connection holds stays under [`presets::memory_bound`];
//! - and no panic.

mod check;
mod client;
pub mod ops;
pub mod presets;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use burrow_core::connection::{IoFailure, Refusal, Shared, Side, Stop, TunnelEnd, BUSY, READ_SIZE};
use burrow_core::{Action, Connection};

use crate::input::Input;
use check::Checker;

/// Most bytes fed to one connection, so one input stays fast.
const MAX_FED: usize = 4 * 1024 * 1024;
/// Most polls in a row that are not a wait: more means the core loops.
const MAX_POLLS: usize = 10_000;
/// Deadlines passing, with nothing else happening, that must close any connection.
const MAX_TIMEOUTS: usize = 64;

/// Runs one input: a preset byte, a flags byte, then operations (see [`ops`]).
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let presets = presets::all();
    let preset = &presets[usize::from(input.byte()) % presets.len()];
    let flags = input.byte();
    let client = match (flags >> 1) & 3 {
        0 => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 50000),
        1 => SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 77)), 50001),
        2 => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 50002),
        _ => SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)), 50003),
    };
    let settings = Arc::new(preset.settings.clone());
    let shared = Arc::new(Shared::new());
    shared.set_host_addrs(preset.host_addrs.clone());
    // Wrong passwords from earlier connections of this client.
    for _ in 0..(flags >> 3) & 7 {
        shared
            .throttle
            .failed(&settings.auth_throttle, client.ip(), Duration::ZERO);
    }
    let conn = if flags & 1 == 1 {
        let refusal = if flags & 0x40 == 0 {
            Refusal::Global
        } else {
            Refusal::PerClient
        };
        Connection::over_capacity(settings.clone(), client, preset.listener, refusal)
    } else {
        Connection::new(settings.clone(), client, preset.listener)
    };
    let conn = conn.with_shared(shared, Duration::ZERO);
    let mut driver = Driver {
        conn,
        check: Checker::new(preset),
        now: Duration::ZERO,
        upstream: false,
        tunnel: None,
        fed: 0,
    };
    driver.check.baseline();
    driver.run(&mut input);
}

/// What the engine's relay knows of a tunnel.
#[derive(Debug, Default)]
struct Tunnel {
    up: u64,
    down: u64,
    first_up: bool,
    first_down: bool,
    /// Bytes moved since the last report.
    unreported: bool,
}

struct Driver<'p> {
    conn: Connection,
    check: Checker<'p>,
    now: Duration,
    /// The engine holds an upstream connection (dialled, not closed, not a tunnel's).
    upstream: bool,
    tunnel: Option<Tunnel>,
    fed: usize,
}

impl Driver<'_> {
    fn run(&mut self, input: &mut Input<'_>) {
        let mut wait = match self.settle() {
            Some(w) => w,
            None => return self.closed(),
        };
        while !input.is_empty() {
            let next = self.op(input, &wait);
            wait = match next {
                Some(w) => w,
                None => return self.closed(),
            };
        }
        // Nothing more happens but time: every connection must close.
        for _ in 0..MAX_TIMEOUTS {
            let late = self.timeout(0, &wait);
            wait = match late {
                Some(w) => w,
                None => return self.closed(),
            };
        }
        panic!("still open after {MAX_TIMEOUTS} deadlines: {wait:?}");
    }

    fn closed(&mut self) {
        self.check.finish(&mut self.conn);
    }

    /// Polls until the core waits for something, carrying out what it asks
    /// as the engine would; `None` once it says `Close`.
    fn settle(&mut self) -> Option<Action> {
        let mut step = check::Step::default();
        let mut early = None;
        let wait = loop {
            assert!(step.actions.len() < MAX_POLLS, "the core does not settle");
            let action = self.conn.poll();
            step.actions.push(check::kind(&action));
            match action {
                Action::SendClient(bytes) => step.client.extend_from_slice(&bytes),
                Action::SendUpstream(_) => {
                    assert!(
                        self.upstream,
                        "bytes for an upstream connection the engine does not hold"
                    );
                }
                Action::CloseUpstream => self.upstream = false,
                Action::StartTunnel { early: bytes } => {
                    assert!(self.upstream, "a tunnel without an upstream connection");
                    assert!(self.tunnel.is_none(), "a second tunnel");
                    self.upstream = false;
                    self.tunnel = Some(Tunnel::default());
                    early = Some(bytes);
                }
                Action::Close => break None,
                w @ (Action::Read { .. }
                | Action::Resolve { .. }
                | Action::Connect { .. }
                | Action::Relay) => break Some(w),
            }
        };
        self.check.step(&mut self.conn, &step, wait.as_ref());
        match early {
            // The relay writes the client's early bytes upstream first, as tunnel traffic.
            Some(bytes) if !bytes.is_empty() => {
                self.tunnel_up(&bytes);
                self.settle()
            }
            _ => wait,
        }
    }

    /// Reads one operation and carries it out if it fits `wait`.
    fn op(&mut self, input: &mut Input<'_>, wait: &Action) -> Option<Action> {
        let tag = input.byte() % 16;
        let (client, upstream) = match *wait {
            Action::Read { client, upstream } => (client, upstream && self.upstream),
            _ => (false, false),
        };
        let reading = matches!(wait, Action::Read { .. });
        let now = self.now;
        match tag {
            ops::CLIENT_DATA | ops::CLIENT_FILL => {
                let bytes = data(input, tag == ops::CLIENT_FILL);
                if client {
                    return self.client_data(&bytes, wait);
                }
            }
            ops::CLIENT_EOF if client => self.conn.handle_client_eof(now),
            ops::CLIENT_ERROR => {
                let failure = io_failure(input.byte());
                if reading {
                    self.conn.handle_client_error(now, failure);
                } else {
                    return Some(wait.clone());
                }
            }
            ops::UP_DATA | ops::UP_FILL => {
                let bytes = data(input, tag == ops::UP_FILL);
                if upstream {
                    return self.upstream_data(&bytes, wait);
                }
            }
            ops::UP_END => {
                let kind = input.byte();
                if !(reading && self.upstream) {
                    return Some(wait.clone());
                }
                self.upstream = false;
                let failure = (kind % 3 != 0).then(|| io_failure(kind));
                self.conn.handle_upstream_end(now, failure);
            }
            ops::DNS_ANSWER => {
                let count = usize::from(input.byte() % 17);
                let addrs: Vec<IpAddr> = (0..count)
                    .map(|_| {
                        let spec = input.byte();
                        ops::address(spec, |n| input.bytes(n).to_vec())
                    })
                    .collect();
                if !matches!(wait, Action::Resolve { .. }) {
                    return Some(wait.clone());
                }
                self.check.offered(&addrs);
                self.conn.handle_resolved(now, Ok(addrs));
            }
            ops::DNS_FAIL => {
                let failure = ops::dns_failure(input.byte());
                if !matches!(wait, Action::Resolve { .. }) {
                    return Some(wait.clone());
                }
                self.conn.handle_resolved(now, Err(failure));
            }
            ops::CONNECT_OK | ops::CONNECT_FAIL => {
                let failure =
                    (tag == ops::CONNECT_FAIL).then(|| ops::connect_failure(input.byte()));
                let Action::Connect { addr } = *wait else {
                    return Some(wait.clone());
                };
                match failure {
                    None => {
                        self.check.connected(addr);
                        self.upstream = true;
                        self.conn.handle_connected(now, Ok(()));
                    }
                    Some(f) => self.conn.handle_connected(now, Err(f)),
                }
            }
            ops::TIMEOUT => return self.timeout(input.byte(), wait),
            ops::ADVANCE => {
                self.now += Duration::from_millis(u64::from(input.u16()));
                return Some(wait.clone());
            }
            ops::STOP => {
                let arg = input.byte();
                let cut = arg & 1 == 1;
                if arg & 3 == 2 {
                    // The engine asks only a connection that offers its slot.
                    if self.conn.eviction_rank() == BUSY {
                        return Some(wait.clone());
                    }
                    self.conn.handle_evict(now);
                } else {
                    // The engine notices a drain only while it waits to read.
                    if !cut && !reading {
                        return Some(wait.clone());
                    }
                    let stop = if cut { Stop::Cut } else { Stop::Drain };
                    self.conn.handle_stop(now, stop);
                }
            }
            ops::TUNNEL_UP => {
                let bytes = data(input, false);
                if self.tunnel.is_none() {
                    return Some(wait.clone());
                }
                self.tunnel_up(&bytes);
            }
            ops::TUNNEL => return self.tunnel_op(input, wait),
            _ => return Some(wait.clone()),
        }
        self.settle()
    }

    /// Client bytes, handed over in reads of at most [`READ_SIZE`] while the core reads the client.
    fn client_data(&mut self, bytes: &[u8], wait: &Action) -> Option<Action> {
        let mut wait = wait.clone();
        for piece in bytes.chunks(READ_SIZE) {
            if !matches!(wait, Action::Read { client: true, .. }) || !self.budget(piece.len()) {
                break;
            }
            self.conn.handle_client_data(self.now, piece);
            wait = self.settle()?;
        }
        Some(wait)
    }

    /// Origin bytes, in reads of at most [`READ_SIZE`] while the core reads the upstream.
    fn upstream_data(&mut self, bytes: &[u8], wait: &Action) -> Option<Action> {
        let mut wait = wait.clone();
        for piece in bytes.chunks(READ_SIZE) {
            let reading = matches!(wait, Action::Read { upstream: true, .. });
            if !(reading && self.upstream) || !self.budget(piece.len()) {
                break;
            }
            self.conn.handle_upstream_data(self.now, piece);
            wait = self.settle()?;
        }
        Some(wait)
    }

    fn budget(&mut self, n: usize) -> bool {
        self.fed += n;
        self.fed <= MAX_FED
    }

    /// The deadline passes, `jitter` ms late (below 128) or up to 127 ms early.
    fn timeout(&mut self, jitter: u8, wait: &Action) -> Option<Action> {
        let Some(deadline) = self.conn.poll_timeout() else {
            panic!("open with no deadline while waiting: {wait:?}");
        };
        let target = if jitter < 0x80 {
            deadline + Duration::from_millis(u64::from(jitter))
        } else {
            deadline.saturating_sub(Duration::from_millis(u64::from(jitter - 0x7f)))
        };
        self.now = self.now.max(target);
        if self.now < deadline {
            // Too early: the core must not act, whatever it is waiting for.
            self.conn.handle_timeout(self.now);
            self.check.unchanged(&mut self.conn, wait);
            return Some(wait.clone());
        }
        // The relay hands over its counts before it looks at the deadline.
        self.report();
        self.conn.handle_timeout(self.now);
        self.settle()
    }

    /// Client bytes in the tunnel, reported as the relay does.
    fn tunnel_up(&mut self, bytes: &[u8]) {
        if self.tunnel.is_none() || bytes.is_empty() || !self.budget(bytes.len()) {
            return;
        }
        if let Some(t) = self.tunnel.as_mut().filter(|t| !t.first_up) {
            t.first_up = true;
            self.conn.handle_tunnel_first_byte(self.now, Side::Client);
        }
        if self.conn.tunnel_peeking() {
            self.conn.handle_tunnel_peek(self.now, bytes);
        }
        if let Some(t) = &mut self.tunnel {
            t.up += bytes.len() as u64;
            t.unreported = true;
        }
    }

    /// Byte counts so far, with activity now, if bytes moved since the last
    /// report (the relay's rule: a report is activity).
    fn report(&mut self) {
        if let Some(t) = self.tunnel.as_mut().filter(|t| t.unreported) {
            t.unreported = false;
            self.conn
                .handle_tunnel_progress(self.now, t.up, t.down, self.now);
        }
    }

    fn tunnel_op(&mut self, input: &mut Input<'_>, wait: &Action) -> Option<Action> {
        let sub = input.byte() % 4;
        let n = if sub == 0 { input.u16() } else { 0 };
        let kind = if sub == 2 { input.byte() } else { 0 };
        if self.tunnel.is_none() || !matches!(wait, Action::Relay) {
            return Some(wait.clone());
        }
        match sub {
            0 => {
                if let Some(t) = &mut self.tunnel {
                    t.down += u64::from(n);
                    t.unreported |= n > 0;
                    if !t.first_down && n > 0 {
                        t.first_down = true;
                        self.conn.handle_tunnel_first_byte(self.now, Side::Server);
                    }
                }
            }
            2 => {
                self.report();
                let end = match kind % 5 {
                    0 => TunnelEnd::Finished {
                        first: Side::Client,
                    },
                    1 => TunnelEnd::Finished {
                        first: Side::Server,
                    },
                    2 => TunnelEnd::Reset(Side::Client),
                    3 => TunnelEnd::Reset(Side::Server),
                    _ => TunnelEnd::Failed,
                };
                self.conn.handle_tunnel_end(self.now, end);
            }
            _ => self.report(),
        }
        self.settle()
    }
}

/// The bytes of a data operation: sized, or one byte repeated.
fn data(input: &mut Input<'_>, fill: bool) -> Vec<u8> {
    if fill {
        let byte = input.byte();
        let count = usize::from(input.byte()) + 1;
        vec![byte; 64 * count]
    } else {
        let len = usize::from(input.u16());
        input.bytes(len).to_vec()
    }
}

fn io_failure(b: u8) -> IoFailure {
    if b % 2 == 1 {
        IoFailure::Reset
    } else {
        IoFailure::Other
    }
}
