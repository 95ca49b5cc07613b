//! From a request head to where it goes: the checks made on the head alone,
//! then reuse, lookup and connect, and the address policy in between.

use std::net::{IpAddr, SocketAddr};

use crate::escape::PeerText;
use crate::forward::{upstream_request, ForwardRequest};
use crate::framing::request_framing;
use crate::head::{Field, HeadParse, RequestHead, Version};
use crate::log::{CloseReason, Event, SHOWN_SHORT, SHOWN_TARGET};
use crate::pac;
use crate::policy::{self, AddressDenied, AuthCheck, Destination, Route, Standing, TargetDenied};
use crate::reject;
use crate::response::Response;
use crate::target::{self, Authority, Host};

use super::trace::RequestView;
use super::tunnel::TunnelState;
use super::{Connection, HeadState, Output, Phase, MAX_ADDRESSES_TRIED};

/// What was decided from a request head: where it goes and how.
#[derive(Debug)]
pub(super) struct Plan {
    pub version: Version,
    pub authority: Authority,
    pub kind: Kind,
    /// The name itself matched `allow_hosts` (or the list is empty).
    pub allowed_by_name: bool,
}

/// What a head leads to.
enum Decided {
    /// Somewhere to go.
    Route(Plan),
    /// The PAC file, answered by Burrow itself.
    Pac { wanted: pac::Wanted, has_body: bool },
}

/// A tunnel, or a request to forward.
#[derive(Debug)]
pub(super) enum Kind {
    Tunnel,
    Forward(ForwardRequest),
}

impl Connection {
    /// Reads what the inbox holds of the current head. A head answered in
    /// place (the PAC file) leaves the connection reading the next one: it
    /// is read once that answer is handed out (`poll` calls back), so the
    /// output stays one answer and nothing recurses, however many requests
    /// are pipelined.
    pub(super) fn advance_head(&mut self) {
        self.head_pending = false;
        loop {
            let Phase::Head(h) = &mut self.phase else {
                return;
            };
            let parsed = h.reader.advance(&self.inbox, &self.settings.limits);
            if h.started_at.is_none() && h.reader.started() {
                h.started_at = Some(self.now);
            }
            match parsed {
                HeadParse::Partial => {
                    if self.client_eof {
                        // What is left can never become a request.
                        self.close(CloseReason::ClientFin);
                    }
                    return;
                }
                HeadParse::Invalid(e) => {
                    return self.refuse(reject::bad_head(e), CloseReason::Rejected)
                }
                HeadParse::Complete(head, len) => {
                    self.inbox.drain(..len);
                    self.on_head(&head);
                    if matches!(self.phase, Phase::Head(_)) && !self.out.is_empty() {
                        self.head_pending = true;
                        return;
                    }
                }
            }
        }
    }

    fn on_head(&mut self, head: &RequestHead) {
        self.emit(Event::Request {
            method: PeerText::shown(head.method.as_bytes(), SHOWN_SHORT),
            target: PeerText::shown(head.target.as_bytes(), SHOWN_TARGET),
            target_len: head.target.len(),
            version: head.version,
        });
        if self.trace.is_some() {
            self.current = Some(RequestView::of(head));
        }
        match self.plan(head) {
            Ok(Decided::Route(plan)) => self.route(Box::new(plan)),
            Ok(Decided::Pac { wanted, has_body }) => self.serve_pac(head, wanted, has_body),
            Err(response) => self.refuse(*response, CloseReason::Rejected),
        }
    }

    /// Answers with the PAC file, then reads the next request under the
    /// same keep-alive rule as a forwarded response: HTTP/1.1 without
    /// `Connection: close`, and not while stopping. A request body is never
    /// read, so one that comes with a body ends the connection.
    fn serve_pac(&mut self, head: &RequestHead, wanted: pac::Wanted, has_body: bool) {
        let client_keeps = head.version == Version::Http11 && !head.connection_has("close");
        let keep_alive = client_keeps && !has_body && !self.stopping;
        let response = pac::response(
            head.version,
            self.listener,
            &self.settings,
            wanted,
            keep_alive,
        );
        self.answer(response);
        self.answered += 1;
        if keep_alive {
            self.phase = Phase::Head(HeadState::new(self.now));
            self.current = None;
            return;
        }
        self.close(if self.stopping {
            CloseReason::Shutdown
        } else if client_keeps {
            // Burrow ends it: the body it will not read.
            CloseReason::ServerFin
        } else {
            CloseReason::ClientFin
        });
    }

    /// Everything decided from the head alone, in the order that reveals the
    /// least to an unauthenticated client.
    fn plan(&mut self, head: &RequestHead) -> Result<Decided, Box<Response>> {
        let v = head.version;
        let body = request_framing(head).map_err(|e| Box::new(reject::bad_framing(v, e)))?;
        let connect = head.method == "CONNECT";
        if connect && body.has_body() {
            return Err(Box::new(reject::connect_with_body(v)));
        }
        check_host_field(head)?;
        // The PAC file needs no credentials: browsers fetch it without any.
        if let Some(wanted) = pac::wanted(head) {
            if !pac::host_is_local(head, &self.settings) {
                return Err(Box::new(reject::pac_host_not_local(v)));
            }
            let has_body = body.has_body();
            return Ok(Decided::Pac { wanted, has_body });
        }
        self.authenticate(head)?;
        let bad_target = |e| Box::new(reject::bad_target(v, e, head.target.as_bytes()));
        let (authority, kind) = if connect {
            let authority = target::parse_authority(&head.target).map_err(bad_target)?;
            (authority, Kind::Tunnel)
        } else {
            let uri = target::parse_absolute(&head.target).map_err(bad_target)?;
            let request = upstream_request(head, &uri, body);
            (uri.authority, Kind::Forward(request))
        };
        let route = if connect {
            Route::Tunnel
        } else {
            Route::Forward
        };
        let passed = policy::check_target(&self.settings, &authority.host, authority.port, route)
            .map_err(|d| {
            Box::new(match d {
                TargetDenied::Port(p) => reject::port_denied(v, p),
                TargetDenied::ForwardPort(p) => reject::forward_port_denied(v, p),
                TargetDenied::DeniedHost | TargetDenied::NotAllowedHost => {
                    reject::host_denied(v, &authority.host.to_string())
                }
            })
        })?;
        Ok(Decided::Route(Plan {
            version: v,
            authority,
            kind,
            allowed_by_name: passed.allowed_by_name,
        }))
    }

    /// Checks Proxy-Authorization, keeping the book of wrong passwords. A
    /// blocked client address gets 429 whatever it sends (so a block cannot
    /// be used to test passwords), and its wrong guesses still count.
    fn authenticate(&mut self, head: &RequestHead) -> Result<(), Box<Response>> {
        let Some(expected) = self.settings.auth.as_ref() else {
            self.authenticated = true;
            return Ok(());
        };
        let v = head.version;
        let client = self.client.ip();
        let throttle = &self.shared.throttle;
        let now = self.accepted_at + self.now;
        let check = policy::check_auth(Some(expected), head);
        let standing = match check {
            AuthCheck::Wrong => throttle.failed(&self.settings.auth_throttle, client, now),
            AuthCheck::Ok | AuthCheck::Missing => throttle.standing(client, now),
        };
        match (check, standing) {
            (_, Standing::Blocked { retry_after }) => {
                Err(Box::new(reject::auth_throttled(v, retry_after)))
            }
            (AuthCheck::Ok, Standing::Clear) => {
                throttle.passed(client);
                self.authenticated = true;
                Ok(())
            }
            (AuthCheck::Missing, Standing::Clear) => Err(Box::new(reject::auth_required(v, false))),
            (AuthCheck::Wrong, Standing::Clear) => Err(Box::new(reject::auth_required(v, true))),
        }
    }

    /// Sends the plan on its way: over the held upstream connection when it
    /// may be reused, else through a lookup (or straight to the address
    /// check for an IP literal).
    pub(super) fn route(&mut self, plan: Box<Plan>) {
        let reusable = matches!(plan.kind, Kind::Forward(_))
            && self
                .upstream
                .as_ref()
                .is_some_and(|u| u.idle && u.authority == plan.authority);
        if reusable {
            if let Some(u) = &mut self.upstream {
                u.idle = false;
            }
            self.emit(Event::Reused);
            self.upstream_ready(*plan, None);
            return;
        }
        self.drop_upstream();
        match plan.authority.host.ip() {
            Some(ip) => self.check_addresses(plan, &[ip]),
            None => {
                self.emit(Event::Resolving {
                    host: plan.authority.host.to_string(),
                });
                self.phase = Phase::Resolve {
                    plan,
                    since: self.now,
                };
            }
        }
    }

    /// Keeps the addresses policy allows (at most [`MAX_ADDRESSES_TRIED`]),
    /// or refuses when none is left, for the most telling reason found.
    pub(super) fn check_addresses(&mut self, plan: Box<Plan>, ips: &[IpAddr]) {
        let mut allowed = Vec::new();
        let mut refused: Option<(AddressDenied, IpAddr)> = None;
        for ip in ips {
            let addr = SocketAddr::new(*ip, plan.authority.port);
            let verdict = self.shared.with_host_addrs(|host_addrs| {
                let dest = Destination {
                    host: &plan.authority.host,
                    addr,
                    listener: self.listener,
                    host_addrs,
                };
                policy::check_address(&self.settings, dest, plan.allowed_by_name)
            });
            match verdict {
                Ok(()) => allowed.push(addr),
                Err(reason) => {
                    self.emit(Event::AddressDenied { addr, reason });
                    // A loop outranks every other reason: it is certainly a mistake.
                    if refused.is_none() || reason == AddressDenied::Loop {
                        refused = Some((reason, *ip));
                    }
                }
            }
        }
        allowed.truncate(MAX_ADDRESSES_TRIED);
        let Some(&first) = allowed.first() else {
            let v = plan.version;
            let host = plan.authority.host.to_string();
            let response = match refused {
                Some((AddressDenied::Loop, _)) => reject::loop_detected(v),
                Some((AddressDenied::DeniedHost | AddressDenied::NotAllowedHost, _)) => {
                    reject::host_denied(v, &host)
                }
                Some((AddressDenied::Metadata, ip)) => reject::metadata_prohibited(v, ip),
                Some((AddressDenied::Rebinding, ip)) => reject::rebinding(v, &host, ip),
                Some((AddressDenied::Internal, _)) | None => {
                    reject::address_prohibited(v, &host, !self.settings.listen_is_loopback())
                }
            };
            return self.refuse(response, CloseReason::Rejected);
        };
        self.emit(Event::Connecting { addr: first });
        self.phase = Phase::Connect {
            plan,
            addrs: allowed,
            next: 0,
            since: self.now,
        };
    }

    /// The upstream connection is there (`addr` is where it was just dialled;
    /// `None` when a held one is reused).
    pub(super) fn upstream_ready(&mut self, plan: Plan, addr: Option<SocketAddr>) {
        let Plan {
            version,
            authority,
            kind,
            ..
        } = plan;
        match kind {
            Kind::Tunnel => {
                let Some(addr) = addr else {
                    // Tunnels always dial; there is nothing to reuse.
                    return self.close(CloseReason::Error);
                };
                let response = reject::established(version, addr);
                self.answer(response);
                self.answered += 1;
                // The upstream belongs to the tunnel now, not to reuse.
                self.upstream = None;
                let early = std::mem::take(&mut self.inbox);
                self.out.push_back(Output::StartTunnel(early));
                let base = (self.traffic.up, self.traffic.down);
                self.phase =
                    Phase::Tunnel(TunnelState::new(authority.host.to_string(), self.now, base));
            }
            Kind::Forward(request) => {
                self.start_forward(version, authority, request, addr.is_none())
            }
        }
    }
}

fn check_host_field(head: &RequestHead) -> Result<(), Box<Response>> {
    let v = head.version;
    let problem = match head.single("host") {
        Field::Repeated => "Host is sent more than once",
        Field::Absent if v == Version::Http11 => "Host is missing",
        Field::Absent => return Ok(()),
        Field::One(value) if valid_host_value(value) => return Ok(()),
        Field::One(_) => "Host is not a valid host[:port]",
    };
    Err(Box::new(reject::bad_host_field(v, problem)))
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
