//! Runs a [`Connection`] against scripted network outcomes and simulated
//! time instead of sockets and a clock: the web simulator, the conformance
//! vectors and the desktop's "Open in simulator" all go through here.
//!
//! The driver only plays the other parties (the client, DNS, the server):
//! every answer, deadline and close comes from the same `Connection` the
//! engine drives.

mod replay;
mod script;
mod steps;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::connection::{Action, Answer, Connection, Shared, Side, TunnelEnd, READ_SIZE};
use crate::display::RecordText;
use crate::log::{ConnectionRecord, LogEvent};
use crate::outcome::{ConnectFailure, DnsFailure, UpstreamFailure};
use crate::reject;
use crate::response::After;
use crate::settings::MAX_AUTH_FAILURES;
use crate::tls;

pub use replay::{fragment, link_for, scenario_for, SimulatorLink};
pub use script::{ClientEnd, ClientTls, ConnectScript, DnsScript, OriginScript, Scenario};
pub use steps::{step_for, Actor, Step};

/// What the simulation found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Transcript {
    /// Every answer, in order, as the views show it.
    pub answers: Vec<Answer>,
    /// The exact bytes the client receives (interim responses, heads, bodies).
    pub client_bytes: String,
    /// The exact bytes Burrow sends upstream (forwarded heads and bodies).
    pub upstream_bytes: String,
    /// The status of the first answer.
    pub status: Option<u16>,
    /// Where the connection ended up.
    pub after: After,
    /// That state's title.
    pub after_title: &'static str,
    /// That state in a sentence.
    pub after_text: &'static str,
    /// The log events, as the engine would report them.
    pub events: Vec<LogEvent>,
    /// The sequence diagram, derived from the events.
    pub steps: Vec<Step>,
    /// The connection record the desktop log would show.
    pub record: ConnectionRecord,
    /// The record in words.
    pub record_text: RecordText,
    /// What the listen address means for who can connect.
    pub listen_note: &'static str,
    /// Why a failed CONNECT is never a redirect, when one failed.
    pub no_redirect: Option<&'static str>,
    /// For each of the scenario's later requests that the client sent, how
    /// many response bytes it had received by then (the engine's tests send
    /// them at the same points).
    pub later_sent: Vec<usize>,
}

/// The client address a scenario uses unless it names one.
pub const DEFAULT_CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 50000);

/// Simulated latencies, so the diagram shows plausible times.
const DNS: Duration = Duration::from_millis(18);
const CONNECT: Duration = Duration::from_millis(24);
const ORIGIN: Duration = Duration::from_millis(40);
const CLIENT_PAUSE: Duration = Duration::from_millis(5);
/// Bytes the simulated server sends back through a tunnel.
const TUNNEL_DOWN: u64 = 4096;
/// A simulation never takes more steps than this (a guard, not a limit anyone meets).
const MAX_STEPS: usize = 100_000;

/// Runs the scenario, feeding the client's bytes in one piece.
pub fn simulate(scenario: &Scenario) -> Transcript {
    simulate_in_chunks(scenario, usize::MAX)
}

/// Runs the scenario, feeding the client's bytes `chunk` at a time (the
/// answer must not depend on how the bytes arrive).
pub fn simulate_in_chunks(scenario: &Scenario, chunk: usize) -> Transcript {
    let settings = Arc::new(scenario.settings.clone());
    let listener = scenario.listener.unwrap_or(settings.listen);
    let client = scenario.client.unwrap_or(DEFAULT_CLIENT);
    let shared = Arc::new(Shared::new());
    shared.set_host_addrs(scenario.host_addrs.clone());
    // Bounded: a typed count beyond what any throttle setting reacts to changes nothing.
    for _ in 0..scenario.auth_failures.min(MAX_AUTH_FAILURES * 2) {
        shared
            .throttle
            .failed(&settings.auth_throttle, client.ip(), Duration::ZERO);
    }
    let mut conn = Connection::new(settings.clone(), client, listener)
        .with_shared(shared, Duration::ZERO)
        .with_trace();
    let mut run = Run {
        scenario,
        chunk: chunk.max(1),
        now: Duration::ZERO,
        pending: scenario.request.chars().map(|c| c as u32 as u8).collect(),
        sent: 0,
        later: 0,
        origin: None,
        client_bytes: Vec::new(),
        upstream_bytes: Vec::new(),
        events: Vec::new(),
        tunnel: false,
        later_sent: Vec::new(),
    };
    for _ in 0..MAX_STEPS {
        let go_on = run.step(&mut conn);
        run.drain(&mut conn);
        if !go_on {
            break;
        }
    }
    run.drain(&mut conn);
    let after = if run.tunnel {
        After::Tunnel
    } else if conn.is_closed() {
        After::Close
    } else {
        After::KeepAlive
    };
    let mut record = ConnectionRecord::new(1);
    for e in &run.events {
        record.apply(e.at_ms, &e.event);
    }
    let steps = run.events.iter().filter_map(step_for).collect();
    let answers = conn.answers().to_vec();
    let failed_connect = answers
        .iter()
        .any(|a| a.request.as_ref().is_some_and(|r| r.method == "CONNECT") && a.status >= 300);
    Transcript {
        status: answers.first().map(|a| a.status),
        answers,
        client_bytes: latin1(&run.client_bytes),
        upstream_bytes: latin1(&run.upstream_bytes),
        after,
        after_title: after.title(),
        after_text: after.explain(),
        events: run.events,
        steps,
        record_text: RecordText::of(&record),
        record,
        listen_note: settings.listen_note(),
        no_redirect: failed_connect.then_some(reject::NO_REDIRECT),
        later_sent: run.later_sent,
    }
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

/// The simulated upstream connection.
#[derive(Debug, Default)]
struct OriginConn {
    /// Responses written on it so far.
    answered: usize,
    /// It closed after its last response.
    closed: bool,
}

/// The simulation's state: the other parties and the clock.
struct Run<'a> {
    scenario: &'a Scenario,
    chunk: usize,
    now: Duration,
    /// The client's bytes, as bytes.
    pending: Vec<u8>,
    /// How many of them were sent.
    sent: usize,
    /// How many of `scenario.later` were sent.
    later: usize,
    origin: Option<OriginConn>,
    client_bytes: Vec<u8>,
    upstream_bytes: Vec<u8>,
    events: Vec<LogEvent>,
    tunnel: bool,
    later_sent: Vec<usize>,
}

impl Run<'_> {
    fn drain(&mut self, conn: &mut Connection) {
        while let Some((at, event)) = conn.poll_event() {
            self.events.push(LogEvent {
                id: 1,
                at_ms: u64::try_from(at.as_millis()).unwrap_or(u64::MAX),
                event,
            });
        }
    }

    /// Carries out one action; `false` when the simulation is over.
    fn step(&mut self, conn: &mut Connection) -> bool {
        match conn.poll() {
            Action::SendClient(bytes) => self.client_bytes.extend_from_slice(&bytes),
            Action::SendUpstream(bytes) => self.upstream_bytes.extend_from_slice(&bytes),
            Action::CloseUpstream => self.origin = None,
            Action::StartTunnel { early } => {
                self.tunnel = true;
                self.relay(conn, early);
            }
            Action::Relay => return false,
            Action::Close => return false,
            Action::Resolve { .. } => self.resolve(conn),
            Action::Connect { .. } => self.connect(conn),
            Action::Read { client, upstream } => return self.read(conn, client, upstream),
        }
        true
    }

    fn resolve(&mut self, conn: &mut Connection) {
        let answer = match &self.scenario.dns {
            DnsScript::Resolves(addrs) => Ok(addrs.clone()),
            DnsScript::Fails(DnsFailure::Timeout) => return self.wait(conn),
            DnsScript::Fails(f) => Err(*f),
        };
        self.now += DNS;
        conn.handle_resolved(self.now, answer);
    }

    fn connect(&mut self, conn: &mut Connection) {
        let result = match self.scenario.connect {
            ConnectScript::Connects => Ok(()),
            ConnectScript::Fails(ConnectFailure::TimedOut) => return self.wait(conn),
            ConnectScript::Fails(f) => Err(f),
        };
        self.now += CONNECT;
        if result.is_ok() {
            self.origin = Some(OriginConn::default());
        }
        conn.handle_connected(self.now, result);
    }

    /// Nothing happens until the connection's next deadline.
    fn wait(&mut self, conn: &mut Connection) {
        if let Some(deadline) = conn.poll_timeout() {
            self.now = self.now.max(deadline);
        }
        conn.handle_timeout(self.now);
    }

    fn read(&mut self, conn: &mut Connection, client: bool, upstream: bool) -> bool {
        if client && self.sent < self.pending.len() {
            let end = self.pending.len().min(self.sent.saturating_add(self.chunk));
            let piece = self.pending[self.sent..end].to_vec();
            self.sent = end;
            conn.handle_client_data(self.now, &piece);
            return true;
        }
        if upstream && conn.awaiting_response() {
            if let Some(bytes) = self.origin_answer() {
                self.now += ORIGIN;
                // In the engine's read size, as the engine reads them.
                for piece in bytes.chunks(READ_SIZE) {
                    conn.handle_upstream_data(self.now, piece);
                }
                if self.origin.as_ref().is_some_and(|o| o.closed) {
                    conn.handle_upstream_end(self.now, None);
                    self.origin = None;
                }
                return true;
            }
            if matches!(
                self.scenario.origin,
                OriginScript::Fails(UpstreamFailure::Closed)
            ) {
                self.now += ORIGIN;
                self.origin = None;
                conn.handle_upstream_end(self.now, None);
                return true;
            }
        }
        if client && conn.is_idle() && self.later < self.scenario.later.len() {
            self.now += CLIENT_PAUSE;
            let next = &self.scenario.later[self.later];
            self.pending.extend(next.chars().map(|c| c as u32 as u8));
            self.later += 1;
            self.later_sent.push(self.client_bytes.len());
            return true;
        }
        if client && self.scenario.client_end == ClientEnd::Closes {
            self.now += CLIENT_PAUSE;
            conn.handle_client_eof(self.now);
            return true;
        }
        if conn.is_idle()
            && !conn.answers().is_empty()
            && self.scenario.client_end == ClientEnd::KeepsOpen
        {
            // Answered, and the client keeps the connection: nothing more to show.
            return false;
        }
        self.wait(conn);
        true
    }

    /// What the scripted origin sends for the request it just got, if anything.
    fn origin_answer(&mut self) -> Option<Vec<u8>> {
        let origin = self.origin.as_mut()?;
        let bytes = self
            .scenario
            .origin
            .response_bytes(&self.scenario.settings)?;
        origin.answered += 1;
        origin.closed = self.scenario.origin.closes_after();
        Some(bytes)
    }

    /// What happens after a 2xx to CONNECT: the client's first bytes, the
    /// SNI check, a little traffic, and the client closing.
    fn relay(&mut self, conn: &mut Connection, early: Vec<u8>) {
        // Past the 200, whatever the client sends is tunnel payload: the
        // bytes that came with the CONNECT head, then any later requests.
        let mut payload = early;
        for later in &self.scenario.later[self.later..] {
            payload.extend(later.chars().map(|c| c as u32 as u8));
            self.later_sent.push(self.client_bytes.len());
        }
        self.later = self.scenario.later.len();
        self.upstream_bytes.extend_from_slice(&payload);
        let host = conn.tunnel_host().unwrap_or_default().to_string();
        let mut first = payload;
        match &self.scenario.client_tls {
            ClientTls::Nothing => {}
            ClientTls::Sni(name) => first.extend(tls::client_hello(Some(name))),
            ClientTls::MatchingSni => first.extend(tls::client_hello(Some(&host))),
            ClientTls::NoSni => first.extend(tls::client_hello(None)),
            ClientTls::NotTls => first.extend_from_slice(b"SSH-2.0-OpenSSH_9.6\r\n"),
        }
        if !first.is_empty() {
            self.now += Duration::from_millis(2);
            conn.handle_tunnel_first_byte(self.now, Side::Client);
            for piece in first.chunks(self.chunk) {
                if !conn.tunnel_peeking() {
                    break;
                }
                conn.handle_tunnel_peek(self.now, piece);
            }
        }
        match self.scenario.client_end {
            // The client closes its side; the destination answers in kind.
            ClientEnd::Closes => {
                self.now += CLIENT_PAUSE;
                conn.handle_tunnel_progress(self.now, first.len() as u64, 0, self.now);
                conn.handle_tunnel_end(
                    self.now,
                    TunnelEnd::Finished {
                        first: Side::Client,
                    },
                );
                self.tunnel = false;
            }
            // Nothing more either way until the tunnel's idle deadline.
            ClientEnd::GoesIdle => {
                if !first.is_empty() {
                    conn.handle_tunnel_progress(self.now, first.len() as u64, 0, self.now);
                }
                self.wait(conn);
                self.tunnel = false;
            }
            // Shown for what it teaches: the server answers, a little
            // traffic, and the client closing; the tunnel counts as open.
            ClientEnd::KeepsOpen if !first.is_empty() => {
                self.now += CONNECT;
                conn.handle_tunnel_first_byte(self.now, Side::Server);
                conn.handle_tunnel_progress(self.now, first.len() as u64, TUNNEL_DOWN, self.now);
                self.now += Duration::from_millis(100);
                conn.handle_tunnel_end(
                    self.now,
                    TunnelEnd::Finished {
                        first: Side::Client,
                    },
                );
            }
            // Nothing is shown past the 200: the tunnel stays open.
            ClientEnd::KeepsOpen => {}
        }
    }
}
