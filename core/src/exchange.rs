//! One request on a client connection, as a state machine that does no IO.
//!
//! The caller feeds it bytes and network outcomes and asks [`Exchange::poll`]
//! what to do next. The engine answers with sockets; the simulator answers
//! with the outcomes a user picked. Both run exactly this code.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::forward::{client_response, upstream_request, ClientResponseHead, ForwardRequest};
use crate::head::{self, BodyFraming, Field, HeadParse, RequestHead, Version};
use crate::log::Event;
use crate::outcome::{ConnectFailure, DnsFailure, UpstreamFailure};
use crate::policy::{self, AddressDenied, AuthCheck, TargetDenied};
use crate::reject;
use crate::response::{After, Response, ResponseSpec};
use crate::settings::Settings;
use crate::target::{self, Authority, Host};

/// At most this many resolved addresses are tried, so one name cannot hold a
/// client for many connect timeouts.
pub const MAX_ADDRESSES_TRIED: usize = 4;

/// What the caller should do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Read more bytes from the client and pass them to [`Exchange::receive`].
    ReadRequest,
    /// Look `host` up and pass the result to [`Exchange::resolved`]. For a
    /// forwarded request the caller may instead call [`Exchange::reuse`] when
    /// it holds an idle connection to the same authority.
    Resolve {
        /// The name to look up.
        host: String,
        /// The port that will be dialled.
        port: u16,
    },
    /// Open TCP to `addr` and pass the result to [`Exchange::connected`].
    Connect {
        /// The exact, already checked address.
        addr: SocketAddr,
    },
    /// Write these bytes to the client, then do what `after` says.
    Respond(Response),
    /// Send this request upstream, then call [`Exchange::origin_response`]
    /// or [`Exchange::upstream_failed`].
    Forward(ForwardRequest),
    /// Close the client connection without writing anything.
    Close,
}

#[derive(Clone, Debug)]
enum Kind {
    Tunnel,
    Forward(ForwardRequest),
}

#[derive(Clone, Debug)]
struct Plan {
    version: Version,
    authority: Authority,
    kind: Kind,
}

#[derive(Debug)]
enum State {
    Head,
    Resolve(Plan),
    Dial {
        plan: Plan,
        addrs: Vec<SocketAddr>,
        next: usize,
    },
    Forwarding(Plan),
    Respond(Response),
    Finished,
}

/// One request's journey from bytes to a response or a tunnel.
#[derive(Debug)]
pub struct Exchange {
    settings: Arc<Settings>,
    listener: SocketAddr,
    buf: Vec<u8>,
    head_len: usize,
    state: State,
    events: VecDeque<Event>,
    /// The last lookup or connect announced as an event, so each is logged once.
    announced: Option<Action>,
}

impl Exchange {
    /// Starts an exchange for a client that reached us at `listener`.
    pub fn new(settings: Arc<Settings>, listener: SocketAddr) -> Self {
        Exchange {
            settings,
            listener,
            buf: Vec::new(),
            head_len: 0,
            state: State::Head,
            events: VecDeque::new(),
            announced: None,
        }
    }

    /// What to do next. Calling it again without new input returns the same
    /// action, except that a `Respond` is handed out only once.
    ///
    /// Drain [`Exchange::poll_event`] right after polling and before doing
    /// the IO asked for, so each event is stamped when it happened.
    pub fn poll(&mut self) -> Action {
        let action = match &self.state {
            State::Head => Action::ReadRequest,
            State::Resolve(plan) => Action::Resolve {
                host: plan.authority.host.to_string(),
                port: plan.authority.port,
            },
            State::Dial { addrs, next, .. } => Action::Connect { addr: addrs[*next] },
            State::Forwarding(Plan {
                kind: Kind::Forward(req),
                ..
            }) => Action::Forward(req.clone()),
            State::Forwarding(_) | State::Finished => Action::Close,
            State::Respond(_) => match std::mem::replace(&mut self.state, State::Finished) {
                State::Respond(r) => Action::Respond(r),
                _ => Action::Close,
            },
        };
        self.announce(&action);
        action
    }

    /// Logs the start of a lookup or connect the first time it is asked for.
    fn announce(&mut self, action: &Action) {
        let event = match action {
            Action::Resolve { host, .. } => Event::Resolving { host: host.clone() },
            Action::Connect { addr } => Event::Connecting { addr: *addr },
            _ => return,
        };
        if self.announced.as_ref() != Some(action) {
            self.announced = Some(action.clone());
            self.events.push_back(event);
        }
    }

    /// The next log event, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether any request byte has arrived yet.
    pub fn has_bytes(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Bytes the client sent after the request head: the first tunnel bytes
    /// of a CONNECT, or the start of a forwarded request's body.
    pub fn take_leftover(&mut self) -> Vec<u8> {
        let rest = self.buf.split_off(self.head_len.min(self.buf.len()));
        self.buf.clear();
        rest
    }

    /// Feeds bytes read from the client.
    pub fn receive(&mut self, bytes: &[u8]) {
        if !matches!(self.state, State::Head) {
            // After the head, bytes belong to the body or the tunnel.
            self.buf.extend_from_slice(bytes);
            return;
        }
        self.buf.extend_from_slice(bytes);
        match head::parse(&self.buf, &self.settings.limits) {
            HeadParse::Partial => {}
            HeadParse::Invalid(e) => self.respond(reject::bad_head(e)),
            HeadParse::Complete(head, len) => {
                self.head_len = len;
                self.events.push_back(Event::Request {
                    method: crate::response::escape(head.method.as_bytes()),
                    target: crate::response::escape(head.target.as_bytes()),
                    version: head.version,
                });
                self.decide(&head);
            }
        }
    }

    /// The client closed (or half-closed) before its head was complete.
    pub fn client_closed(&mut self) {
        if matches!(self.state, State::Head) {
            self.state = State::Finished;
        }
    }

    /// The request-head or keep-alive deadline passed.
    pub fn timed_out(&mut self) {
        if matches!(self.state, State::Head) {
            if self.buf.is_empty() {
                self.state = State::Finished;
            } else {
                self.respond(reject::head_timeout());
            }
        }
    }

    fn respond(&mut self, response: Response) {
        self.events.push_back(Event::Responded {
            status: response.status,
            error: response.error,
            rule: response.rule.id.to_string(),
            after: response.after,
        });
        self.state = State::Respond(response);
    }

    fn decide(&mut self, head: &RequestHead) {
        match self.plan(head) {
            Ok(plan) => match plan.authority.host.ip() {
                Some(ip) => self.check_addresses(plan, &[ip]),
                None => self.state = State::Resolve(plan),
            },
            Err(response) => self.respond(response),
        }
    }

    /// Everything decided from the head alone, in the order that reveals the
    /// least to an unauthenticated client.
    fn plan(&self, head: &RequestHead) -> Result<Plan, Response> {
        let v = head.version;
        let body = head::body_framing(head).map_err(|e| reject::bad_framing(v, e))?;
        let connect = head.method == "CONNECT";
        if connect && body != BodyFraming::Empty {
            return Err(reject::connect_with_body(v));
        }
        check_host_field(head)?;
        match policy::check_auth(self.settings.auth.as_ref(), head) {
            AuthCheck::Ok => {}
            AuthCheck::Missing => return Err(reject::auth_required(v, false)),
            AuthCheck::Wrong => return Err(reject::auth_required(v, true)),
        }
        let bad_target = |e| reject::bad_target(v, e, head.target.as_bytes());
        let (authority, kind) = if connect {
            let authority = target::parse_authority(&head.target).map_err(bad_target)?;
            (authority, Kind::Tunnel)
        } else {
            let uri = target::parse_absolute(&head.target).map_err(bad_target)?;
            let request = upstream_request(head, &uri, body);
            (uri.authority, Kind::Forward(request))
        };
        let port = connect.then_some(authority.port);
        policy::check_target(&self.settings, &authority.host, port).map_err(|d| match d {
            TargetDenied::Port(p) => reject::port_denied(v, p),
            TargetDenied::DeniedHost | TargetDenied::NotAllowedHost => {
                reject::host_denied(v, &authority.host.to_string())
            }
        })?;
        Ok(Plan {
            version: v,
            authority,
            kind,
        })
    }

    /// Feeds the DNS answer.
    pub fn resolved(&mut self, answer: Result<Vec<IpAddr>, DnsFailure>) {
        let State::Resolve(plan) = std::mem::replace(&mut self.state, State::Finished) else {
            return;
        };
        match answer {
            Ok(addrs) if !addrs.is_empty() => {
                self.events.push_back(Event::Resolved {
                    addrs: addrs.clone(),
                });
                self.check_addresses(plan, &addrs);
            }
            Ok(_) | Err(_) => {
                let failure = answer.err().unwrap_or(DnsFailure::NoSuchHost);
                self.events.push_back(Event::DnsFailed { failure });
                let host = plan.authority.host.to_string();
                self.respond(reject::dns_failed(plan.version, &host, failure));
            }
        }
    }

    fn check_addresses(&mut self, plan: Plan, ips: &[IpAddr]) {
        let mut allowed = Vec::new();
        let mut looped = false;
        for ip in ips {
            let addr = SocketAddr::new(*ip, plan.authority.port);
            match policy::check_address(&self.settings, addr, self.listener) {
                Ok(()) => allowed.push(addr),
                Err(reason) => {
                    looped |= reason == AddressDenied::Loop;
                    self.events.push_back(Event::AddressDenied {
                        addr,
                        loop_detected: reason == AddressDenied::Loop,
                    });
                }
            }
        }
        allowed.truncate(MAX_ADDRESSES_TRIED);
        if allowed.is_empty() {
            let response = if looped {
                reject::loop_detected(plan.version)
            } else {
                reject::address_prohibited(plan.version, &plan.authority.host.to_string())
            };
            return self.respond(response);
        }
        self.state = State::Dial {
            plan,
            addrs: allowed,
            next: 0,
        };
    }

    /// Feeds the result of the connect asked for by the last `Connect`.
    pub fn connected(&mut self, result: Result<(), ConnectFailure>) {
        let State::Dial {
            plan, addrs, next, ..
        } = std::mem::replace(&mut self.state, State::Finished)
        else {
            return;
        };
        let addr = addrs[next];
        match result {
            Ok(()) => {
                self.events.push_back(Event::Connected { addr });
                self.on_upstream_ready(plan, Some(addr));
            }
            Err(failure) => {
                self.events
                    .push_back(Event::ConnectFailed { addr, failure });
                if next + 1 < addrs.len() {
                    self.state = State::Dial {
                        plan,
                        addrs,
                        next: next + 1,
                    };
                } else {
                    let authority = plan.authority.to_string();
                    self.respond(reject::connect_failed(plan.version, &authority, failure));
                }
            }
        }
    }

    /// Uses an idle upstream connection the caller already holds, instead of
    /// resolving and connecting again: valid for a forwarded request when
    /// asked to `Resolve` the same host and port, or to `Connect` (first
    /// attempt) to the same address. Ignored anywhere else.
    pub fn reuse(&mut self) {
        let reusable = match &self.state {
            State::Resolve(plan) => matches!(plan.kind, Kind::Forward(_)),
            State::Dial { plan, next, .. } => *next == 0 && matches!(plan.kind, Kind::Forward(_)),
            _ => false,
        };
        if !reusable {
            return;
        }
        let plan = match std::mem::replace(&mut self.state, State::Finished) {
            State::Resolve(plan) | State::Dial { plan, .. } => plan,
            _ => return,
        };
        // No lookup or connect happens after all: withdraw its announcement.
        if matches!(
            self.events.back(),
            Some(Event::Resolving { .. } | Event::Connecting { .. })
        ) {
            self.events.pop_back();
        }
        self.events.push_back(Event::Reused);
        self.on_upstream_ready(plan, None);
    }

    fn on_upstream_ready(&mut self, plan: Plan, addr: Option<SocketAddr>) {
        match &plan.kind {
            Kind::Tunnel => {
                let next_hop = addr.map(|a| ("next-hop", a.to_string()));
                self.respond(
                    ResponseSpec {
                        version: plan.version,
                        status: 200,
                        error: None,
                        details: None,
                        params: next_hop.into_iter().collect(),
                        fields: Vec::new(),
                        body: "",
                        rule: reject::CONNECT_OK,
                        after: After::Tunnel,
                    }
                    .build(),
                );
            }
            Kind::Forward(req) => {
                self.events.push_back(Event::Forwarded {
                    method: crate::response::escape(req.method.as_bytes()),
                    path: crate::response::escape(req.path_and_query.as_bytes()),
                });
                self.state = State::Forwarding(plan);
            }
        }
    }

    /// The origin answered a forwarded request: returns the head to write
    /// to the client and how to frame the body.
    pub fn origin_response(
        &mut self,
        status: u16,
        reason: &str,
        headers: &[(&str, &[u8])],
        body_length: Option<u64>,
    ) -> Option<ClientResponseHead> {
        let State::Forwarding(Plan {
            kind: Kind::Forward(req),
            ..
        }) = &self.state
        else {
            return None;
        };
        let head = client_response(req, status, reason, headers, body_length);
        self.events.push_back(Event::OriginResponded { status });
        self.state = State::Finished;
        Some(head)
    }

    /// The origin failed before a response head.
    pub fn upstream_failed(&mut self, failure: UpstreamFailure) {
        let State::Forwarding(plan) = std::mem::replace(&mut self.state, State::Finished) else {
            return;
        };
        self.events.push_back(Event::UpstreamFailed { failure });
        let authority = plan.authority.to_string();
        self.respond(reject::upstream_failed(plan.version, &authority, failure));
    }
}

fn check_host_field(head: &RequestHead) -> Result<(), Response> {
    let v = head.version;
    match head.single("host") {
        Field::Repeated => Err(reject::bad_host_field(v, "Host is sent more than once")),
        Field::Absent if v == Version::Http11 => Err(reject::bad_host_field(v, "Host is missing")),
        Field::Absent => Ok(()),
        Field::One(value) if valid_host_value(value) => Ok(()),
        Field::One(_) => Err(reject::bad_host_field(v, "Host is not a valid host[:port]")),
    }
}

fn valid_host_value(value: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(value) else {
        return false;
    };
    if text.starts_with('[') {
        return target::parse_authority(text).is_ok()
            || text
                .strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok());
    }
    match text.rsplit_once(':') {
        Some((host, port)) => {
            matches!(target::parse_host(host), Ok(Host::Name(_) | Host::Ip(_)))
                && !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && port.len() <= 5
        }
        None => target::parse_host(text).is_ok(),
    }
}
