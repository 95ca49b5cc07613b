//! Runs an [`Exchange`] against scripted network outcomes instead of
//! sockets: the web simulator, the conformance vectors and the
//! "open in simulator" of the desktop log all go through here.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::exchange::{Action, Exchange};
use crate::forward::{ForwardRequest, ResponseFraming};
use crate::log::{CloseReason, ConnectionRecord, Event, LogEvent};
use crate::outcome::{ConnectFailure, DnsFailure, UpstreamFailure};
use crate::response::{After, Response};
use crate::settings::{secs, Settings};
use crate::tls;

/// What DNS answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsScript {
    /// These addresses.
    Resolves(Vec<IpAddr>),
    /// A failure.
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
    /// It fails this way.
    Fails(ConnectFailure),
}

/// What the client sends first inside a tunnel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientTls {
    /// Nothing is shown: the simulation stops at the 200.
    #[default]
    Nothing,
    /// A TLS ClientHello with this SNI (matching the target or not).
    Sni(String),
    /// A TLS ClientHello without SNI.
    NoSni,
    /// Bytes that are not TLS.
    NotTls,
}

/// How the origin answers a forwarded request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OriginScript {
    /// A response.
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
    /// A failure before the response head.
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

/// Everything a simulation needs: the request bytes, the settings and what
/// the network does.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Scenario {
    /// The raw request as text, line ends as the client sends them.
    pub request: String,
    /// Burrow's settings (policy).
    pub settings: Settings,
    /// The client's address; defaults to 127.0.0.1:50000.
    pub client: Option<SocketAddr>,
    /// The address the client reached; defaults to `settings.listen`. (A
    /// proxy listening on 0.0.0.0 is reached at one concrete address.)
    pub listener: Option<SocketAddr>,
    /// DNS outcome.
    pub dns: DnsScript,
    /// TCP connect outcome, for every attempt.
    pub connect: ConnectScript,
    /// What the client sends first in a tunnel.
    pub client_tls: ClientTls,
    /// The origin's answer to a forwarded request.
    pub origin: OriginScript,
}

/// One arrow of the sequence diagram.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Simulated time, milliseconds from the start.
    pub at_ms: u64,
    /// Who sends.
    pub from: Actor,
    /// Who receives.
    pub to: Actor,
    /// A short label for the arrow.
    pub label: String,
    /// A longer explanation.
    pub note: String,
}

/// The parties in the sequence diagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The client.
    Browser,
    /// The proxy.
    Burrow,
    /// The DNS resolver.
    Dns,
    /// The destination server.
    Server,
}

/// What the simulation found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Transcript {
    /// Burrow's own response, when it made one.
    pub response: Option<Response>,
    /// The request sent upstream, when the request was forwarded.
    pub forwarded: Option<ForwardRequest>,
    /// The exact bytes the client receives from Burrow (response head and
    /// body; for a forwarded request the relayed origin response).
    pub client_bytes: String,
    /// The status the client sees.
    pub status: Option<u16>,
    /// What happens to the connection.
    pub after: After,
    /// What the RFC 9209 error means, in words.
    pub error_meaning: Option<&'static str>,
    /// The log events, as the engine would report them.
    pub events: Vec<LogEvent>,
    /// The sequence diagram, derived from the events.
    pub steps: Vec<Step>,
    /// The connection record the desktop log would show.
    pub record: ConnectionRecord,
}

/// The client address a scenario uses unless it names one.
pub const DEFAULT_CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 50000);

/// Simulated latencies, so the diagram shows plausible times.
const DNS_MS: u64 = 18;
const CONNECT_MS: u64 = 24;
const ORIGIN_MS: u64 = 40;

/// Runs the scenario, feeding the request in one piece.
pub fn simulate(scenario: &Scenario) -> Transcript {
    simulate_in_chunks(scenario, usize::MAX)
}

/// Runs the scenario, feeding the request `chunk` bytes at a time (the
/// result must not depend on how the bytes arrive).
pub fn simulate_in_chunks(scenario: &Scenario, chunk: usize) -> Transcript {
    let settings = Arc::new(scenario.settings.clone());
    let listener = scenario.listener.unwrap_or(settings.listen);
    let client = scenario.client.unwrap_or(DEFAULT_CLIENT);
    let mut run = Run {
        now: 0,
        events: Vec::new(),
    };
    run.log(Event::Accepted { client, listener });
    let mut ex = Exchange::new(settings.clone(), listener);
    let mut bytes = scenario.request.as_bytes().chunks(chunk.max(1));
    let mut out = Outcome::default();
    loop {
        let action = ex.poll();
        run.drain(&mut ex);
        match action {
            Action::ReadRequest => match bytes.next() {
                Some(piece) => ex.receive(piece),
                None => {
                    // Silence: the request-head deadline passes.
                    run.now += (secs(settings.timeouts.request_head).as_millis()) as u64;
                    ex.timed_out();
                }
            },
            Action::Resolve { .. } => {
                let answer = match &scenario.dns {
                    DnsScript::Resolves(addrs) => {
                        run.now += DNS_MS;
                        Ok(addrs.clone())
                    }
                    DnsScript::Fails(DnsFailure::Timeout) => {
                        run.now += secs(settings.timeouts.dns).as_millis() as u64;
                        Err(DnsFailure::Timeout)
                    }
                    DnsScript::Fails(f) => {
                        run.now += DNS_MS;
                        Err(*f)
                    }
                };
                ex.resolved(answer);
            }
            Action::Connect { .. } => {
                let result = match scenario.connect {
                    ConnectScript::Connects => {
                        run.now += CONNECT_MS;
                        Ok(())
                    }
                    ConnectScript::Fails(ConnectFailure::TimedOut) => {
                        run.now += secs(settings.timeouts.connect).as_millis() as u64;
                        Err(ConnectFailure::TimedOut)
                    }
                    ConnectScript::Fails(f) => {
                        run.now += CONNECT_MS;
                        Err(f)
                    }
                };
                ex.connected(result);
            }
            Action::Forward(req) => {
                run.drain(&mut ex);
                run.now += ORIGIN_MS;
                let expect_continue = req.expect_continue;
                out.forwarded = Some(req);
                match &scenario.origin {
                    OriginScript::Responds {
                        status,
                        reason,
                        headers,
                        body,
                    } => {
                        let pairs: Vec<(&str, &[u8])> = headers
                            .iter()
                            .map(|(n, v)| (n.as_str(), v.as_bytes()))
                            .collect();
                        if let Some(head) =
                            ex.origin_response(*status, reason, &pairs, Some(body.len() as u64))
                        {
                            out.client_bytes = head.bytes.iter().map(|&b| b as char).collect();
                            if expect_continue {
                                // The engine lets the body come before the origin answers.
                                let interim = crate::forward::CONTINUE.iter().map(|&b| b as char);
                                out.client_bytes.insert_str(0, &interim.collect::<String>());
                            }
                            if let ResponseFraming::Length(_) = head.framing {
                                out.client_bytes.push_str(body);
                            }
                            out.status = Some(*status);
                            out.after = if head.keep_alive {
                                After::KeepAlive
                            } else {
                                After::Close
                            };
                        }
                    }
                    OriginScript::Fails(f) => ex.upstream_failed(*f),
                }
                if out.status.is_some() {
                    break;
                }
            }
            Action::Respond(response) => {
                out.client_bytes = response.bytes.iter().map(|&b| b as char).collect();
                out.status = Some(response.status);
                out.after = response.after;
                out.response = Some(response);
                break;
            }
            Action::Close => break,
        }
        run.drain(&mut ex);
    }
    run.drain(&mut ex);
    let host = target_host(&scenario.request);
    if out.after == After::Tunnel {
        run.tunnel(&scenario.client_tls, host.as_deref().unwrap_or(""));
    } else {
        let reason = match (&out.response, out.status) {
            (Some(_), _) => CloseReason::Rejected,
            (None, Some(_)) => CloseReason::ClientFin,
            (None, None) => CloseReason::ClientFin,
        };
        if out.after == After::Close || out.status.is_none() {
            run.now += 1;
            run.log(Event::Closed { reason });
        }
    }
    let mut record = ConnectionRecord::new(1);
    for e in &run.events {
        record.apply(e.at_ms, &e.event);
    }
    let steps = run.events.iter().filter_map(step_for).collect();
    Transcript {
        error_meaning: out
            .response
            .as_ref()
            .and_then(|r| r.error)
            .map(|e| e.meaning()),
        response: out.response,
        forwarded: out.forwarded,
        client_bytes: out.client_bytes,
        status: out.status,
        after: out.after,
        events: run.events,
        steps,
        record,
    }
}

#[derive(Default)]
struct Outcome {
    response: Option<Response>,
    forwarded: Option<ForwardRequest>,
    client_bytes: String,
    status: Option<u16>,
    after: After,
}

struct Run {
    now: u64,
    events: Vec<LogEvent>,
}

impl Run {
    fn log(&mut self, event: Event) {
        self.events.push(LogEvent {
            id: 1,
            at_ms: self.now,
            event,
        });
    }

    fn drain(&mut self, ex: &mut Exchange) {
        while let Some(e) = ex.poll_event() {
            self.log(e);
        }
    }

    /// What happens after a 200: the client's first bytes, the SNI check,
    /// a little traffic, and the client closing.
    fn tunnel(&mut self, client_tls: &ClientTls, host: &str) {
        let first: Vec<u8> = match client_tls {
            ClientTls::Nothing => return,
            ClientTls::Sni(name) => tls::client_hello(Some(name)),
            ClientTls::NoSni => tls::client_hello(None),
            ClientTls::NotTls => b"SSH-2.0-OpenSSH_9.6\r\n".to_vec(),
        };
        self.now += 2;
        self.log(Event::FirstByteUp);
        let peek = tls::peek(&first);
        if let Some(check) = tls::check_sni(host, &peek) {
            let (sni, alpn) = match &peek {
                tls::Peek::Hello(h) => (h.sni.clone(), h.alpn.clone()),
                _ => (None, Vec::new()),
            };
            self.log(Event::Tls { check, sni, alpn });
        }
        self.now += CONNECT_MS;
        self.log(Event::FirstByteDown);
        self.log(Event::Traffic {
            up: first.len() as u64,
            down: 4096,
        });
        self.now += 100;
        self.log(Event::Closed {
            reason: CloseReason::ClientFin,
        });
    }
}

/// The CONNECT host (without port) of a request text, for the SNI check.
fn target_host(request: &str) -> Option<String> {
    let line = request.trim_start().lines().next()?;
    let target = line.split(' ').nth(1)?;
    let authority = crate::target::parse_authority(target).ok()?;
    Some(authority.host.to_string())
}

/// The diagram arrow for a log event, if it has one.
pub fn step_for(e: &LogEvent) -> Option<Step> {
    use Actor::*;
    let (from, to, label, note) = match &e.event {
        Event::Accepted { client, listener } => (
            Browser, Burrow, "TCP connect".to_string(),
            format!("The client {client} opens a connection to Burrow at {listener}."),
        ),
        Event::Request { method, target, version } => (
            Browser, Burrow, format!("{method} {target} {}", version.as_str()),
            "The request head is complete; Burrow parses it and checks it against its settings.".to_string(),
        ),
        Event::Resolving { host } => (
            Burrow, Dns, format!("lookup {host}"),
            "Burrow asks the resolver for the destination's addresses.".to_string(),
        ),
        Event::Resolved { addrs } => (
            Dns, Burrow,
            addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            "The resolver answers; Burrow checks every address against its policy.".to_string(),
        ),
        Event::DnsFailed { failure } => (
            Dns, Burrow, format!("lookup failed: {}", dns_words(*failure)),
            "No address: Burrow cannot reach the destination.".to_string(),
        ),
        Event::AddressDenied { addr, loop_detected } => (
            Burrow, Burrow, format!("refuse {addr}"),
            if *loop_detected { "The address is Burrow's own listener.".to_string() }
            else { "The address is loopback, private or link-local, which the settings do not allow.".to_string() },
        ),
        Event::Connecting { addr } => (
            Burrow, Server, format!("SYN → {addr}"),
            "Burrow opens TCP to the exact address it checked.".to_string(),
        ),
        Event::Connected { addr } => (
            Server, Burrow, "SYN-ACK".to_string(),
            format!("{addr} accepted the connection."),
        ),
        Event::ConnectFailed { addr, failure } => (
            Server, Burrow, connect_words(*failure).to_string(),
            format!("Connecting to {addr} failed."),
        ),
        Event::Reused => (
            Burrow, Server, "reuse connection".to_string(),
            "An idle connection to the same origin is reused.".to_string(),
        ),
        Event::Responded { status, error, .. } => (
            Burrow, Browser,
            format!("{status} {}", crate::response::reason(*status)),
            match error {
                Some(e) => format!("Proxy-Status error {}: {}", e.token(), e.meaning()),
                None => "The tunnel is open: from now on Burrow relays bytes blindly.".to_string(),
            },
        ),
        Event::Forwarded { method, path } => (
            Burrow, Server, format!("{method} {path}"),
            "The request goes upstream in origin-form, with Host regenerated, hop-by-hop fields removed and Via added.".to_string(),
        ),
        Event::OriginResponded { status } => (
            Burrow, Browser, format!("{status} (from the origin)"),
            "The origin's response is relayed with its own hop-by-hop fields removed.".to_string(),
        ),
        Event::UpstreamFailed { .. } => (
            Server, Burrow, "no valid response".to_string(),
            "The origin did not answer properly.".to_string(),
        ),
        Event::Tls { check, sni, .. } => (
            Browser, Server, "TLS ClientHello".to_string(),
            format!("Burrow peeks without decrypting: SNI {} ({check:?}).", sni.as_deref().unwrap_or("absent")),
        ),
        Event::FirstByteDown => (
            Server, Browser, "TLS ServerHello…".to_string(),
            "The server's bytes are relayed back unchanged.".to_string(),
        ),
        Event::Closed { reason } => (
            Burrow, Browser, "close".to_string(),
            format!("The connection ends: {}.", reason.describe()),
        ),
        Event::FirstByteUp | Event::Traffic { .. } => return None,
    };
    Some(Step {
        at_ms: e.at_ms,
        from,
        to,
        label,
        note,
    })
}

fn dns_words(f: DnsFailure) -> &'static str {
    match f {
        DnsFailure::NoSuchHost => "no such host",
        DnsFailure::Timeout => "timed out",
        DnsFailure::ServerFailure => "resolver failure",
    }
}

fn connect_words(f: ConnectFailure) -> &'static str {
    match f {
        ConnectFailure::Refused => "RST (refused)",
        ConnectFailure::TimedOut => "no answer (timed out)",
        ConnectFailure::Unreachable => "no route",
        ConnectFailure::Other => "error",
    }
}
