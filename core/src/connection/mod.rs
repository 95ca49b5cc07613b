//! One client connection, from accept to close, as a state machine that does
//! no IO: the core's one decision point.
//!
//! In the style of quinn-proto's `Connection`: inputs go in through
//! `handle_*` methods, each stamped with the time it happened (a `Duration`
//! since the connection was accepted; the core never reads a clock), and the
//! caller asks [`Connection::poll`] what to do next, [`Connection::poll_timeout`]
//! when to wake it, and [`Connection::poll_event`] what to log.
//!
//! ```text
//!   client bytes / EOF / error ──► handle_client_*   ┐
//!   DNS answer ─────────────────► handle_resolved    │
//!   connect result ─────────────► handle_connected   ├─► poll() ──► Action
//!   origin bytes / EOF / error ─► handle_upstream_*  │   poll_timeout() ──► next deadline
//!   tunnel progress and end ────► handle_tunnel_*    │   poll_event() ──► (time, Event)
//!   the deadline passing ───────► handle_timeout     │
//!   the engine stopping ────────► handle_stop        ┘
//! ```
//!
//! It owns every rule about the connection: head parsing and limits,
//! policy, which deadline applies, keep-alive and pipelining, request and
//! response bodies (decoded and framed anew), `100 Continue`, reuse of the
//! upstream connection, the close reason and who closed. The engine and the
//! simulator both drive exactly this code.

mod admission;
mod forwarding;
mod request;
mod shared;
mod trace;
mod tunnel;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::head::HeadReader;
use crate::log::{CloseReason, Event};
use crate::outcome::{ConnectFailure, DnsFailure};
use crate::reject;
use crate::response::Response;
use crate::settings::{secs, Settings};
use crate::target::Authority;

pub use admission::{Admission, Admissions, Refusal, BUSY};
pub use shared::{Shared, MAX_HOST_ADDRS};
pub use trace::{Answer, ForwardView, RequestView, Speaker};
pub use tunnel::{Side, TunnelEnd};

use forwarding::Forwarding;
use request::Plan;
use tunnel::TunnelState;

/// At most this many resolved addresses are tried, so one name cannot hold a
/// client for many connect timeouts.
pub const MAX_ADDRESSES_TRIED: usize = 4;

/// How many bytes the engine reads from a socket at a time; the simulator
/// hands the origin's bytes over in pieces of the same size, so a body whose
/// framing depends on how it arrives (read until the origin closes, chunked
/// anew for the client) comes out the same in both.
pub const READ_SIZE: usize = 16 * 1024;

/// Once a connection has closed, what is still queued for the client must be
/// written within this long.
pub const CLOSING: Duration = Duration::from_secs(2);

/// Traffic events are sent at most this often while bytes flow.
pub const TRAFFIC_EVERY: Duration = Duration::from_millis(250);

/// What the caller should do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Wait for bytes from the sides marked `true` (or the deadline).
    Read {
        /// Read the client, and report with `handle_client_*`.
        client: bool,
        /// Read the upstream connection, and report with `handle_upstream_*`.
        upstream: bool,
    },
    /// Look `host` up and report with [`Connection::handle_resolved`].
    Resolve {
        /// The name to look up.
        host: String,
        /// The port that will be dialled.
        port: u16,
    },
    /// Open TCP to exactly `addr` and report with [`Connection::handle_connected`].
    Connect {
        /// The checked address.
        addr: SocketAddr,
    },
    /// Write these bytes to the client.
    SendClient(Vec<u8>),
    /// Write these bytes to the upstream connection.
    SendUpstream(Vec<u8>),
    /// Close the upstream connection; it will not be used again.
    CloseUpstream,
    /// The tunnel is open: relay both ways, sending `early` (bytes the client
    /// sent right after its CONNECT head) upstream first.
    StartTunnel {
        /// Client bytes that came with the head.
        early: Vec<u8>,
    },
    /// Keep relaying the tunnel, reporting with `handle_tunnel_*`.
    Relay,
    /// Close the client connection, letting it read what was written.
    Close,
}

/// What an IO error on a socket was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoFailure {
    /// The peer reset the connection.
    Reset,
    /// Anything else.
    Other,
}

/// The engine is stopping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// New requests are refused: idle connections close, busy ones finish.
    Drain,
    /// The grace period is over: everything closes now.
    Cut,
}

/// Something queued for the caller, handed out by `poll` in order.
#[derive(Debug)]
enum Output {
    Client(Vec<u8>),
    Upstream(Vec<u8>),
    CloseUpstream,
    StartTunnel(Vec<u8>),
    Close,
}

/// Where the connection is.
#[derive(Debug)]
enum Phase {
    /// Waiting for (the rest of) a request head.
    Head(HeadState),
    /// Looking the destination up.
    Resolve { plan: Box<Plan>, since: Duration },
    /// Connecting to `addrs[next]`.
    Connect {
        plan: Box<Plan>,
        addrs: Vec<SocketAddr>,
        next: usize,
        since: Duration,
    },
    /// A request is being forwarded.
    Forward(Box<Forwarding>),
    /// A tunnel is being relayed.
    Tunnel(TunnelState),
    /// Done.
    Closed,
}

#[derive(Debug)]
struct HeadState {
    reader: HeadReader,
    /// When the connection became idle, waiting for this request.
    idle_since: Duration,
    /// When this request's first byte arrived.
    started_at: Option<Duration>,
}

impl HeadState {
    fn new(now: Duration) -> HeadState {
        HeadState {
            reader: HeadReader::new(),
            idle_since: now,
            started_at: None,
        }
    }
}

/// The upstream connection the caller holds for this client.
#[derive(Debug)]
struct Upstream {
    authority: Authority,
    /// Between requests and fit for another one.
    idle: bool,
}

/// Payload byte counts and their throttled reporting.
#[derive(Debug, Default)]
struct Traffic {
    up: u64,
    down: u64,
    reported: (u64, u64),
    last_report: Option<Duration>,
}

/// One client connection. See the module docs.
#[derive(Debug)]
pub struct Connection {
    settings: Arc<Settings>,
    client: SocketAddr,
    listener: SocketAddr,
    /// Shared with the engine's other connections.
    shared: Arc<Shared>,
    /// When this connection was accepted, on the clock `shared` keeps time by.
    accepted_at: Duration,
    now: Duration,
    events: VecDeque<(Duration, Event)>,
    out: VecDeque<Output>,
    /// Client bytes not used yet: a head being read, or what came after one.
    inbox: Vec<u8>,
    phase: Phase,
    upstream: Option<Upstream>,
    traffic: Traffic,
    /// Requests answered so far.
    answered: u32,
    /// The engine is draining: no request after the current one.
    stopping: bool,
    /// A request passed authentication (or none is configured).
    authenticated: bool,
    /// The client has closed its sending side.
    client_eof: bool,
    /// Every answer, for the simulator's transcript (off in the engine).
    trace: Option<Vec<Answer>>,
    /// The request being answered, when tracing.
    current: Option<RequestView>,
    /// What went upstream for it, when tracing.
    forwarded: Option<ForwardView>,
    /// `close` has run, at this time: nothing more happens.
    closed_at: Option<Duration>,
    /// A pipelined head waits in the inbox until the answer before it
    /// (the PAC file, answered in place) is handed out, so one read queues
    /// one answer however many requests it held.
    head_pending: bool,
}

impl Connection {
    /// A connection accepted from `client` at `listener`; its clock starts now (zero).
    pub fn new(settings: Arc<Settings>, client: SocketAddr, listener: SocketAddr) -> Connection {
        let mut conn = Connection {
            settings,
            client,
            listener,
            shared: Arc::new(Shared::new()),
            accepted_at: Duration::ZERO,
            now: Duration::ZERO,
            events: VecDeque::new(),
            out: VecDeque::new(),
            inbox: Vec::new(),
            phase: Phase::Head(HeadState::new(Duration::ZERO)),
            upstream: None,
            traffic: Traffic::default(),
            answered: 0,
            stopping: false,
            authenticated: false,
            client_eof: false,
            trace: None,
            current: None,
            forwarded: None,
            closed_at: None,
            head_pending: false,
        };
        conn.emit(Event::Accepted { client, listener });
        conn
    }

    /// A connection refused because the proxy (or this client) holds as
    /// many busy connections as it may: it answers 503 and closes.
    pub fn over_capacity(
        settings: Arc<Settings>,
        client: SocketAddr,
        listener: SocketAddr,
        refusal: Refusal,
    ) -> Connection {
        let mut conn = Connection::new(settings, client, listener);
        conn.refuse(reject::over_capacity(refusal), CloseReason::Rejected);
        conn
    }

    /// Shares `shared` with the engine's other connections; `accepted_at` is
    /// when this one was accepted, on the clock the engine keeps `shared` by.
    pub fn with_shared(mut self, shared: Arc<Shared>, accepted_at: Duration) -> Connection {
        self.shared = shared;
        self.accepted_at = accepted_at;
        self
    }

    /// Keeps a structured [`Answer`] for every response (the simulator's transcript).
    pub fn with_trace(mut self) -> Connection {
        self.trace = Some(Vec::new());
        self
    }

    /// The answers recorded so far (empty unless [`Connection::with_trace`]).
    pub fn answers(&self) -> &[Answer] {
        self.trace.as_deref().unwrap_or_default()
    }

    /// What to do next. Waiting actions (`Read`, `Resolve`, `Connect`,
    /// `Relay`) repeat until an input changes them; the others are handed out once.
    pub fn poll(&mut self) -> Action {
        if self.out.is_empty() && self.head_pending {
            self.advance_head();
        }
        if let Some(out) = self.out.pop_front() {
            return match out {
                Output::Client(bytes) => Action::SendClient(bytes),
                Output::Upstream(bytes) => Action::SendUpstream(bytes),
                Output::CloseUpstream => Action::CloseUpstream,
                Output::StartTunnel(early) => Action::StartTunnel { early },
                Output::Close => Action::Close,
            };
        }
        let upstream_idle = self.upstream.as_ref().is_some_and(|u| u.idle);
        match &self.phase {
            Phase::Head(_) => Action::Read {
                client: true,
                upstream: upstream_idle,
            },
            Phase::Resolve { plan, .. } => Action::Resolve {
                host: plan.authority.host.to_string(),
                port: plan.authority.port,
            },
            Phase::Connect { addrs, next, .. } => Action::Connect { addr: addrs[*next] },
            Phase::Forward(f) => Action::Read {
                client: f.wants_client(self.client_eof, self.inbox.len(), &self.settings),
                upstream: f.wants_upstream(),
            },
            Phase::Tunnel(_) => Action::Relay,
            Phase::Closed => Action::Close,
        }
    }

    /// When [`Connection::handle_timeout`] must be called, if nothing else happens first.
    pub fn poll_timeout(&self) -> Option<Duration> {
        let t = &self.settings.timeouts;
        if let Some(closed) = self.closed_at {
            return Some(closed + CLOSING);
        }
        match &self.phase {
            Phase::Head(h) => Some(match (self.answered, h.started_at) {
                // The first request's head is due from the connection's start.
                (0, _) => secs(t.request_head),
                (_, Some(started)) => started + secs(t.request_head),
                (_, None) => h.idle_since + secs(t.keep_alive),
            }),
            Phase::Resolve { since, .. } => Some(*since + secs(t.dns)),
            Phase::Connect { since, .. } => Some(*since + secs(t.connect)),
            Phase::Forward(f) => Some(f.deadline(&self.settings)),
            Phase::Tunnel(tunnel) => Some(tunnel.last_activity + secs(t.tunnel_idle)),
            Phase::Closed => None,
        }
    }

    /// The next log event with the time it happened, oldest first.
    pub fn poll_event(&mut self) -> Option<(Duration, Event)> {
        self.events.pop_front()
    }

    /// Whether the connection is between requests with nothing buffered: the
    /// client may send another request or go away.
    pub fn is_idle(&self) -> bool {
        matches!(&self.phase, Phase::Head(h) if !h.reader.started()) && self.inbox.is_empty()
    }

    /// Whether a forwarded request has been sent in full and its response
    /// head is awaited (when a scripted origin may answer).
    pub fn awaiting_response(&self) -> bool {
        matches!(&self.phase, Phase::Forward(f) if f.awaiting_head())
    }

    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.closed_at.is_some()
    }

    /// Bytes read from the client.
    pub fn handle_client_data(&mut self, now: Duration, bytes: &[u8]) {
        self.tick(now);
        match self.phase {
            Phase::Head(_) => {
                self.inbox.extend_from_slice(bytes);
                self.advance_head();
            }
            Phase::Forward(_) => self.forward_client_data(bytes),
            Phase::Resolve { .. } | Phase::Connect { .. } => self.inbox.extend_from_slice(bytes),
            Phase::Tunnel(_) | Phase::Closed => {}
        }
    }

    /// The client closed its sending side.
    pub fn handle_client_eof(&mut self, now: Duration) {
        self.tick(now);
        self.client_eof = true;
        match &self.phase {
            Phase::Head(_) => self.close(CloseReason::ClientFin),
            Phase::Forward(_) => self.forward_client_eof(),
            _ => {}
        }
    }

    /// Reading from or writing to the client failed.
    pub fn handle_client_error(&mut self, now: Duration, failure: IoFailure) {
        self.tick(now);
        self.close(match failure {
            IoFailure::Reset => CloseReason::ClientReset,
            IoFailure::Other => CloseReason::Error,
        });
    }

    /// The answer to the last `Resolve`.
    pub fn handle_resolved(&mut self, now: Duration, answer: Result<Vec<IpAddr>, DnsFailure>) {
        self.tick(now);
        let Phase::Resolve { .. } = self.phase else {
            return;
        };
        let Phase::Resolve { plan, .. } = std::mem::replace(&mut self.phase, Phase::Closed) else {
            return;
        };
        match answer {
            Ok(addrs) if !addrs.is_empty() => {
                self.emit(Event::Resolved {
                    addrs: addrs.clone(),
                });
                self.check_addresses(plan, &addrs);
            }
            Ok(_) => self.dns_failed(&plan, DnsFailure::NoSuchHost),
            Err(failure) => self.dns_failed(&plan, failure),
        }
    }

    /// The result of the last `Connect`.
    pub fn handle_connected(&mut self, now: Duration, result: Result<(), ConnectFailure>) {
        self.tick(now);
        if !matches!(self.phase, Phase::Connect { .. }) {
            return;
        }
        let Phase::Connect {
            plan, addrs, next, ..
        } = std::mem::replace(&mut self.phase, Phase::Closed)
        else {
            return;
        };
        let addr = addrs[next];
        match result {
            Ok(()) => {
                self.emit(Event::Connected { addr });
                self.upstream = Some(Upstream {
                    authority: plan.authority.clone(),
                    idle: false,
                });
                self.upstream_ready(*plan, Some(addr));
            }
            Err(failure) => {
                self.emit(Event::ConnectFailed { addr, failure });
                if next + 1 < addrs.len() {
                    self.emit(Event::Connecting {
                        addr: addrs[next + 1],
                    });
                    self.phase = Phase::Connect {
                        plan,
                        addrs,
                        next: next + 1,
                        since: self.now,
                    };
                } else {
                    let authority = plan.authority.to_string();
                    self.refuse(
                        reject::connect_failed(plan.version, &authority, failure),
                        CloseReason::Rejected,
                    );
                }
            }
        }
    }

    /// Bytes read from the upstream connection.
    pub fn handle_upstream_data(&mut self, now: Duration, bytes: &[u8]) {
        self.tick(now);
        match self.phase {
            Phase::Forward(_) => self.forward_upstream_data(bytes),
            // An idle origin has nothing to say; one that talks cannot be trusted with the next request.
            Phase::Head(_) => self.drop_upstream(),
            _ => {}
        }
    }

    /// The upstream connection was closed (`None`) or failed.
    pub fn handle_upstream_end(&mut self, now: Duration, failure: Option<IoFailure>) {
        self.tick(now);
        match self.phase {
            Phase::Forward(_) => self.forward_upstream_end(failure),
            Phase::Head(_) => self.drop_upstream(),
            _ => {}
        }
    }

    /// The deadline from [`Connection::poll_timeout`] may have passed.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.tick(now);
        match self.poll_timeout() {
            Some(deadline) if now >= deadline => {}
            _ => return,
        }
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Head(h) => {
                if h.reader.started() {
                    self.refuse(reject::head_timeout(), CloseReason::HeadTimeout);
                } else if self.answered == 0 {
                    self.close(CloseReason::HeadTimeout);
                } else {
                    self.close(CloseReason::IdleTimeout);
                }
            }
            Phase::Resolve { plan, .. } => self.dns_failed(&plan, DnsFailure::Timeout),
            Phase::Connect {
                plan,
                addrs,
                next,
                since,
            } => {
                self.phase = Phase::Connect {
                    plan,
                    addrs,
                    next,
                    since,
                };
                self.handle_connected(now, Err(ConnectFailure::TimedOut));
            }
            Phase::Forward(f) => self.forward_timeout(f),
            Phase::Tunnel(_) => self.close(CloseReason::IdleTimeout),
            Phase::Closed => {}
        }
    }

    /// The engine needs this connection's slot for a newcomer (see
    /// [`Admissions`]): it closes without a word, as an idle keep-alive
    /// connection may (RFC 9112 §9.6).
    pub fn handle_evict(&mut self, now: Duration) {
        self.tick(now);
        self.close(CloseReason::Evicted);
    }

    /// How willing this connection is to give its slot up, for
    /// [`Admissions`]: 3 when it has not sent a byte of a first request,
    /// 2 while the first head is still arriving and the client has not
    /// authenticated, 1 when idle between requests, [`BUSY`] otherwise.
    pub fn eviction_rank(&self) -> u8 {
        match &self.phase {
            Phase::Head(h) if self.answered == 0 && !h.reader.started() => 3,
            Phase::Head(_) if self.answered == 0 && !self.authenticated => 2,
            Phase::Head(h) if !h.reader.started() && self.inbox.is_empty() => 1,
            _ => BUSY,
        }
    }

    /// The engine is stopping.
    pub fn handle_stop(&mut self, now: Duration, stop: Stop) {
        self.tick(now);
        self.stopping = true;
        let between_requests = matches!(&self.phase, Phase::Head(h) if !h.reader.started());
        if stop == Stop::Cut || between_requests {
            self.close(CloseReason::Shutdown);
        }
    }

    fn tick(&mut self, now: Duration) {
        self.now = self.now.max(now);
    }

    fn emit(&mut self, event: Event) {
        self.events.push_back((self.now, event));
    }

    fn send_client(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        // Consecutive writes go out as one.
        if let Some(Output::Client(queued)) = self.out.back_mut() {
            queued.extend_from_slice(&bytes);
        } else {
            self.out.push_back(Output::Client(bytes));
        }
    }

    fn send_upstream(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        if let Some(Output::Upstream(queued)) = self.out.back_mut() {
            queued.extend_from_slice(&bytes);
        } else {
            self.out.push_back(Output::Upstream(bytes));
        }
    }

    /// Tells the caller to close the upstream connection, if it holds one.
    fn drop_upstream(&mut self) {
        if self.upstream.take().is_some() {
            self.out.push_back(Output::CloseUpstream);
        }
    }

    /// Records, logs and sends one of Burrow's own responses.
    fn answer(&mut self, response: Response) {
        self.record_answer(&response);
        self.emit(Event::Responded {
            status: response.status,
            error: response.error,
            rule: response.rule.id.to_string(),
            after: response.after,
        });
        self.send_client(response.bytes);
    }

    /// Writes Burrow's own response and closes.
    fn refuse(&mut self, response: Response, reason: CloseReason) {
        self.answer(response);
        self.close(reason);
    }

    /// Ends the connection: the upstream goes, the last counts are reported,
    /// and the caller closes after writing what is queued.
    fn close(&mut self, reason: CloseReason) {
        if self.closed_at.is_some() {
            return;
        }
        self.closed_at = Some(self.now);
        self.phase = Phase::Closed;
        self.drop_upstream();
        self.report_traffic(true);
        self.emit(Event::Closed { reason });
        self.out.push_back(Output::Close);
    }

    fn count_up(&mut self, n: usize) {
        self.traffic.up += n as u64;
        self.report_traffic(false);
    }

    fn count_down(&mut self, n: usize) {
        self.traffic.down += n as u64;
        self.report_traffic(false);
    }

    /// Sends running totals, at most every [`TRAFFIC_EVERY`] unless `last`.
    fn report_traffic(&mut self, last: bool) {
        let t = &mut self.traffic;
        let totals = (t.up, t.down);
        if totals == t.reported {
            return;
        }
        let due = t
            .last_report
            .is_none_or(|at| self.now.saturating_sub(at) >= TRAFFIC_EVERY);
        if last || due {
            t.reported = totals;
            t.last_report = Some(self.now);
            self.emit(Event::Traffic {
                up: totals.0,
                down: totals.1,
            });
        }
    }

    fn dns_failed(&mut self, plan: &Plan, failure: DnsFailure) {
        self.emit(Event::DnsFailed { failure });
        let host = plan.authority.host.to_string();
        self.refuse(
            reject::dns_failed(plan.version, &host, failure),
            CloseReason::Rejected,
        );
    }
}
