//! The invariants of the `connection` target, checked after every step.

use std::net::{IpAddr, SocketAddr};

use burrow_core::log::Event;
use burrow_core::pac;
use burrow_core::target::{self, Authority, Host};
use burrow_core::{Action, Connection};

use super::client::{ClientView, Expected, Who};
use super::presets::{self, Preset};
use crate::alloc;

/// An action without its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `SendClient`.
    SendClient,
    /// `SendUpstream`.
    SendUpstream,
    /// `CloseUpstream`.
    CloseUpstream,
    /// `StartTunnel`.
    StartTunnel,
    /// `Close`.
    Close,
    /// A waiting action.
    Wait,
}

/// The kind of `action`.
pub fn kind(action: &Action) -> Kind {
    match action {
        Action::SendClient(_) => Kind::SendClient,
        Action::SendUpstream(_) => Kind::SendUpstream,
        Action::CloseUpstream => Kind::CloseUpstream,
        Action::StartTunnel { .. } => Kind::StartTunnel,
        Action::Close => Kind::Close,
        Action::Read { .. } | Action::Resolve { .. } | Action::Connect { .. } | Action::Relay => {
            Kind::Wait
        }
    }
}

/// What one step (an input and the polls after it) produced.
#[derive(Debug, Default)]
pub struct Step {
    /// Every action polled, in order.
    pub actions: Vec<Kind>,
    /// The bytes written to the client.
    pub client: Vec<u8>,
}

/// What the checks remember between steps.
pub struct Checker<'p> {
    preset: &'p Preset,
    view: ClientView,
    /// The current request's method and where it goes.
    method: Option<String>,
    authority: Option<Authority>,
    /// Addresses DNS gave for the current request.
    offered: Vec<IpAddr>,
    /// Addresses the core refused for it.
    denied: Vec<SocketAddr>,
    /// The connect the engine just reported as successful.
    connected: Option<SocketAddr>,
    baseline: usize,
    bound: usize,
}

impl<'p> Checker<'p> {
    /// Checks under `preset`.
    pub fn new(preset: &'p Preset) -> Checker<'p> {
        Checker {
            preset,
            view: ClientView::default(),
            method: None,
            authority: None,
            offered: Vec::new(),
            denied: Vec::new(),
            connected: None,
            baseline: 0,
            bound: presets::memory_bound(&preset.settings),
        }
    }

    /// Takes the heap as it is now as the zero for the memory bound.
    pub fn baseline(&mut self) {
        self.baseline = alloc::live().unwrap_or(0);
    }

    /// DNS is about to answer with `addrs`.
    pub fn offered(&mut self, addrs: &[IpAddr]) {
        self.offered.extend_from_slice(addrs);
    }

    /// The engine's connect to `addr` is about to be reported as successful.
    pub fn connected(&mut self, addr: SocketAddr) {
        self.connected = Some(addr);
    }

    /// Checks a step; `wait` is what the core waits for after it (`None`: closed).
    pub fn step(&mut self, conn: &mut Connection, step: &Step, wait: Option<&Action>) {
        let mut responded = Vec::new();
        let mut connected = None;
        while let Some((_, event)) = conn.poll_event() {
            match event {
                Event::Request { method, target, .. } => {
                    self.request(method.as_str(), target.as_str())
                }
                Event::AddressDenied { addr, .. } => self.denied.push(addr),
                Event::Connected { addr } => {
                    assert_eq!(
                        self.connected.take(),
                        Some(addr),
                        "connected where the engine did not"
                    );
                    connected = Some(addr);
                }
                Event::Interim { status } => self.view.expect(Expected {
                    status,
                    who: Who::Interim,
                }),
                Event::Responded {
                    status,
                    after,
                    rule,
                    ..
                } if rule == pac::RULE.id => {
                    // The one answer Burrow gives as an origin: to a GET or
                    // HEAD, without going anywhere.
                    let method = self.method.as_deref();
                    assert!(
                        matches!(method, Some("GET" | "HEAD")),
                        "the PAC file for {method:?}"
                    );
                    assert!(connected.is_none(), "the PAC file after a connect");
                    self.view.expect(Expected {
                        status,
                        who: Who::Pac {
                            head_only: method == Some("HEAD"),
                            after,
                        },
                    });
                }
                Event::Responded { status, after, .. } => {
                    responded.push(status);
                    self.view.expect(Expected {
                        status,
                        who: Who::Burrow(after),
                    });
                }
                Event::OriginResponded { status, .. } => {
                    let method = self.method.clone().unwrap_or_default();
                    self.view.expect(Expected {
                        status,
                        who: Who::Origin(method),
                    });
                }
                _ => {}
            }
        }
        if let Err(e) = self.view.feed(&step.client) {
            panic!("{e} (preset {})", self.preset.name);
        }
        for status in responded {
            if (200..300).contains(&status) {
                self.success(step, connected);
            } else {
                refusal_closes(conn, step, wait, status);
            }
        }
        match wait {
            Some(Action::Connect { addr }) => self.dial(*addr),
            Some(Action::Resolve { port, .. }) => self.port(*port),
            _ => {}
        }
        if wait.is_some() && !conn.is_closed() {
            assert!(
                conn.poll_timeout().is_some(),
                "waiting for {wait:?} with no deadline"
            );
        }
        self.memory();
    }

    fn request(&mut self, method: &str, target: &str) {
        self.method = Some(method.to_string());
        // Only a target that parses can be dialled; a target that is peer text
        // escaped keeps its authority as is (names, digits, brackets, colons).
        self.authority = if method == "CONNECT" {
            target::parse_authority(target).ok()
        } else {
            target::parse_absolute(target).ok().map(|u| u.authority)
        };
        self.offered.clear();
        self.denied.clear();
    }

    /// A 2xx: only to a CONNECT, right after its connect, opening the tunnel.
    fn success(&self, step: &Step, connected: Option<SocketAddr>) {
        assert_eq!(
            self.method.as_deref(),
            Some("CONNECT"),
            "a 2xx of Burrow's to a non-CONNECT"
        );
        let Some(addr) = connected else {
            panic!("a 2xx with no connect in the same step");
        };
        assert!(
            step.actions.contains(&Kind::StartTunnel),
            "a 2xx without a tunnel"
        );
        assert!(self.preset.settings.allowed_ports.contains(addr.port()));
    }

    /// The port rule for the current request.
    fn port(&self, port: u16) {
        let s = &self.preset.settings;
        match self.method.as_deref() {
            Some("CONNECT") => assert!(s.allowed_ports.contains(port), "CONNECT to port {port}"),
            Some(_) => assert!(
                !s.forward_blocked_ports.contains(port),
                "forwarded to port {port}"
            ),
            None => panic!("a lookup or connect with no request"),
        }
    }

    /// Every rule a connect must pass, as the preset states them.
    fn dial(&self, addr: SocketAddr) {
        self.port(addr.port());
        let p = self.preset;
        let s = &p.settings;
        let ip = addr.ip();
        let Some(authority) = &self.authority else {
            panic!("a connect to {addr} for a target that does not parse");
        };
        let literal = authority.host.ip();
        assert!(
            literal == Some(ip) || self.offered.contains(&ip),
            "a connect to {addr}, which is neither the target nor a DNS answer"
        );
        assert!(
            !self.denied.contains(&addr),
            "a connect to {addr}, which was refused"
        );
        let canon = presets::unwrap_v4(ip);
        let listener = p.listener;
        let every_interface = s.listen.ip().is_unspecified();
        let own = p.host_addrs.iter().any(|a| presets::unwrap_v4(*a) == canon);
        let loops = addr.port() == listener.port()
            && (canon == presets::unwrap_v4(listener.ip())
                || canon.is_unspecified()
                || (every_interface && (canon.is_loopback() || own)));
        assert!(!loops, "a connect to {addr} loops to {listener}");
        let metadata = presets::is_metadata(ip);
        assert!(
            !metadata || p.metadata_listed,
            "a connect to metadata {addr}"
        );
        let internal =
            presets::certainly_internal(ip, &p.host_addrs) && !(metadata && p.metadata_listed);
        assert!(
            !internal || s.private_allowed(),
            "a connect to internal {addr} under {}",
            p.name
        );
        assert!(
            !p.denied_nets.iter().any(|n| presets::in_net(ip, *n)),
            "denied {addr}"
        );
        let name = match &authority.host {
            Host::Name(n) => Some(n.as_str()),
            Host::Ip(_) => None,
        };
        if let Some(n) = name {
            assert!(
                !p.denied_suffixes.iter().any(|sfx| n.ends_with(sfx)),
                "denied {n}"
            );
            let local = presets::local_by_definition(n)
                || p.local_names.contains(&n)
                || p.local_nets.iter().any(|net| presets::in_net(ip, *net));
            assert!(!internal || local, "{n} rebound to {addr}");
        }
        if let Some(allowed) = p.allowed {
            let by_name = name.is_some_and(|n| {
                allowed.names.contains(&n) || allowed.suffixes.iter().any(|sfx| n.ends_with(sfx))
            });
            let by_addr = allowed.nets.iter().any(|net| presets::in_net(ip, *net));
            assert!(by_name || by_addr, "{addr} is not in allow_hosts");
        }
    }

    /// The connection's heap stays under the preset's bound.
    fn memory(&self) {
        let Some(live) = alloc::live() else {
            return;
        };
        let held = live
            .saturating_sub(self.baseline)
            .saturating_sub(self.view.held());
        assert!(
            held <= self.bound,
            "the connection holds {held} bytes, over the bound of {} for {}",
            self.bound,
            self.preset.name
        );
    }

    /// A deadline that has not passed changed nothing.
    pub fn unchanged(&self, conn: &mut Connection, wait: &Action) {
        if let Some((_, event)) = conn.poll_event() {
            panic!("an early deadline logged {event:?}");
        }
        assert_eq!(
            &conn.poll(),
            wait,
            "an early deadline changed what the core waits for"
        );
    }

    /// The connection said `Close`: everything logged was sent, and it stays closed.
    pub fn finish(&self, conn: &mut Connection) {
        if let Err(e) = self.view.finish() {
            panic!("{e}");
        }
        assert_eq!(conn.poll(), Action::Close, "closed, then not");
        assert!(conn.is_closed());
    }
}

/// A refusal: the core has closed, `Close` ends the step, and nothing goes
/// upstream or into a tunnel after the refusal was written.
fn refusal_closes(conn: &Connection, step: &Step, wait: Option<&Action>, status: u16) {
    assert!(
        conn.is_closed(),
        "Burrow's {status} left the connection open"
    );
    assert!(
        wait.is_none(),
        "Burrow's {status} is followed by a wait: {wait:?}"
    );
    let last_write = step.actions.iter().rposition(|k| *k == Kind::SendClient);
    let Some(last_write) = last_write else {
        panic!("Burrow's {status} was never written");
    };
    let after = &step.actions[last_write..];
    assert!(
        !after.contains(&Kind::SendUpstream) && !after.contains(&Kind::StartTunnel),
        "after Burrow's {status}: {after:?}"
    );
}
