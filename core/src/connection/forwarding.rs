//! A forwarded request: the client's body decoded and framed anew upstream,
//! the origin's response head read and judged, its body relayed under the
//! framing chosen for the client, and what the connection does afterwards.

use std::time::Duration;

use crate::body::{payload_len, BodyError, BodyReader, BodyWriter};
use crate::escape::PeerText;
use crate::forward::{client_head, interim, ForwardRequest, Interim, CONTINUE};
use crate::framing::{response_ends_connection, response_framing, BadResponseFraming};
use crate::head::{connection_has, Version};
use crate::log::{CloseReason, Event, SHOWN_SHORT, SHOWN_TARGET};
use crate::origin::{ResponseError, ResponseParse, ResponseReader};
use crate::outcome::UpstreamFailure;
use crate::reject;
use crate::settings::{secs, Settings};
use crate::target::Authority;

use super::request::{Kind, Plan};
use super::trace::ForwardView;
use super::{Connection, HeadState, IoFailure, Phase};

/// One forwarded request in flight.
#[derive(Debug)]
pub(super) struct Forwarding {
    version: Version,
    authority: Authority,
    req: ForwardRequest,
    /// The client's request body.
    body: BodyReader,
    /// When the request was sent upstream in full: the response deadline runs from here.
    sent_at: Option<Duration>,
    response: ResponseSide,
    /// The last time a body byte moved either way.
    last_progress: Duration,
    /// Whether the final response head has gone to the client.
    answered: bool,
    /// Whether the upstream connection was reused (it may have closed while idle).
    reused: bool,
}

#[derive(Debug)]
enum ResponseSide {
    /// Reading the origin's head (1xx heads are handled and skipped).
    Head {
        buf: Vec<u8>,
        reader: ResponseReader,
    },
    /// Relaying the body.
    Body {
        reader: BodyReader,
        writer: BodyWriter,
        keep_alive: bool,
        reusable: bool,
    },
}

impl Forwarding {
    /// Whether the client should be read: its body is still coming, or (so a
    /// reset or the next pipelined request is seen) there is room to buffer.
    pub(super) fn wants_client(
        &self,
        client_eof: bool,
        buffered: usize,
        settings: &Settings,
    ) -> bool {
        !client_eof && (!self.body.is_done() || buffered < settings.limits.head_bytes)
    }

    /// The response is not complete yet.
    pub(super) fn wants_upstream(&self) -> bool {
        true
    }

    /// The request is sent in full and the origin's head has not come.
    pub(super) fn awaiting_head(&self) -> bool {
        self.sent_at.is_some() && matches!(self.response, ResponseSide::Head { .. })
    }

    /// The deadline that applies now: body progress while a body moves,
    /// `upstream_response` from the moment the request was sent in full.
    pub(super) fn deadline(&self, settings: &Settings) -> Duration {
        let t = &settings.timeouts;
        match (&self.response, self.sent_at) {
            (ResponseSide::Head { .. }, Some(sent)) => sent + secs(t.upstream_response),
            _ => self.last_progress + secs(t.tunnel_idle),
        }
    }
}

impl Connection {
    /// Sends the request head upstream and starts on the body.
    pub(super) fn start_forward(
        &mut self,
        version: Version,
        authority: Authority,
        req: ForwardRequest,
        reused: bool,
    ) {
        self.emit(Event::Forwarded {
            method: PeerText::shown(req.method.as_bytes(), SHOWN_SHORT),
            path: PeerText::shown(req.path_and_query.as_bytes(), SHOWN_TARGET),
        });
        let head = req.head_bytes();
        if self.trace.is_some() {
            self.forwarded = Some(ForwardView::new(&authority, &head, &req));
        }
        self.send_upstream(head);
        if req.expect_continue {
            // The origin has been reached: the client may send its body.
            self.send_client(CONTINUE.to_vec());
            self.emit(Event::Interim { status: 100 });
        }
        let body = BodyReader::for_request(req.body);
        let sent_at = body.is_done().then_some(self.now);
        self.phase = Phase::Forward(Box::new(Forwarding {
            version,
            authority,
            req,
            body,
            sent_at,
            response: ResponseSide::Head {
                buf: Vec::new(),
                reader: ResponseReader::new(),
            },
            last_progress: self.now,
            answered: false,
            reused,
        }));
        if !self.inbox.is_empty() {
            // Body bytes that came with the head.
            let early = std::mem::take(&mut self.inbox);
            self.forward_client_data(&early);
        }
    }

    fn take_forward(&mut self) -> Option<Box<Forwarding>> {
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Forward(f) => Some(f),
            other => {
                self.phase = other;
                None
            }
        }
    }

    /// Puts the exchange back unless it ended meanwhile.
    fn keep_forward(&mut self, f: Box<Forwarding>) {
        if matches!(self.phase, Phase::Closed) && self.closed_at.is_none() {
            self.phase = Phase::Forward(f);
        }
    }

    /// Client bytes during a forwarded request: body first, the rest is the next request.
    pub(super) fn forward_client_data(&mut self, bytes: &[u8]) {
        let Some(mut f) = self.take_forward() else {
            return;
        };
        if f.body.is_done() {
            self.inbox.extend_from_slice(bytes);
            return self.keep_forward(f);
        }
        let writer = f.req.upstream_body;
        let mut framed = Vec::new();
        let mut payload = 0;
        let read = f.body.read(bytes, |p| {
            writer.write(p, &mut framed);
            payload += payload_len(p);
        });
        f.last_progress = self.now;
        match read {
            Ok(used) => {
                let done = f.body.is_done();
                if done {
                    writer.finish(&mut framed);
                    f.sent_at = Some(self.now);
                }
                self.send_upstream(framed);
                self.count_up(payload);
                self.inbox.extend_from_slice(&bytes[used..]);
                self.keep_forward(f);
            }
            Err(e) => {
                // What came before the bad byte goes out as it would have in smaller reads.
                self.send_upstream(framed);
                self.count_up(payload);
                self.body_failed(&f, e);
            }
        }
    }

    /// The client stopped sending: fine once its body is complete.
    pub(super) fn forward_client_eof(&mut self) {
        let Some(f) = self.take_forward() else {
            return;
        };
        if f.body.is_done() {
            // A half-close after the request: the answer still goes back.
            return self.keep_forward(f);
        }
        self.body_failed(&f, BodyError::Incomplete);
    }

    fn body_failed(&mut self, f: &Forwarding, error: BodyError) {
        if f.answered {
            self.close(CloseReason::Rejected);
        } else {
            self.refuse(reject::bad_body(f.version, error), CloseReason::Rejected);
        }
    }

    /// Origin bytes: the response head, then its body.
    pub(super) fn forward_upstream_data(&mut self, bytes: &[u8]) {
        let Some(mut f) = self.take_forward() else {
            return;
        };
        f.last_progress = self.now;
        let ResponseSide::Head { buf, .. } = &mut f.response else {
            return self.read_response_body(f, bytes);
        };
        buf.extend_from_slice(bytes);
        match self.read_response_head(f) {
            HeadStep::Wait(f) => self.keep_forward(f),
            HeadStep::Failed => {}
            HeadStep::Final(f, rest) => self.read_response_body(f, &rest),
        }
    }

    /// Reads heads until the final one (1xx heads are relayed or dropped).
    fn read_response_head(&mut self, mut f: Box<Forwarding>) -> HeadStep {
        loop {
            let ResponseSide::Head { buf, reader } = &mut f.response else {
                return HeadStep::Final(f, Vec::new());
            };
            let (head, len) = match reader.advance(buf, &self.settings.limits) {
                ResponseParse::Partial => return HeadStep::Wait(f),
                ResponseParse::Invalid(e) => {
                    let (failure, details) = match e {
                        ResponseError::NotHttp => (
                            UpstreamFailure::Protocol,
                            "the response does not start with HTTP/",
                        ),
                        ResponseError::Malformed => {
                            (UpstreamFailure::Protocol, "the response head is malformed")
                        }
                        ResponseError::TooLarge => (
                            UpstreamFailure::TooLarge,
                            "the response head is larger than limits.response_head_bytes",
                        ),
                        ResponseError::TooManyFields => (
                            UpstreamFailure::TooLarge,
                            "the response has more fields than limits.response_headers",
                        ),
                    };
                    self.origin_failed(&f, failure, Some(details));
                    return HeadStep::Failed;
                }
                ResponseParse::Complete(head, len) => (head, len),
            };
            let rest = buf.split_off(len);
            if (100..200).contains(&head.status) {
                match interim(&f.req, &head) {
                    Interim::Relay(bytes) => {
                        self.send_client(bytes);
                        self.emit(Event::Interim {
                            status: head.status,
                        });
                    }
                    Interim::Drop => {}
                    Interim::Refuse => {
                        let why = "the origin switched protocols without being asked";
                        self.origin_failed(&f, UpstreamFailure::Protocol, Some(why));
                        return HeadStep::Failed;
                    }
                }
                *buf = rest;
                *reader = ResponseReader::new();
                continue;
            }
            let framing = match response_framing(&f.req.method, head.status, &head.headers) {
                Ok(framing) => framing,
                Err(BadResponseFraming(what)) => {
                    self.origin_failed(&f, UpstreamFailure::Protocol, Some(what));
                    return HeadStep::Failed;
                }
            };
            let client = client_head(&f.req, &head, framing, f.body.is_done());
            let reusable = head.version == Version::Http11
                && !connection_has(&head.headers, "close")
                && !response_ends_connection(framing, &head.headers);
            self.emit(Event::OriginResponded {
                status: head.status,
                reason: PeerText::shown(&head.reason, SHOWN_SHORT),
            });
            self.record_origin_answer(&head, &client);
            self.send_client(client.bytes);
            f.answered = true;
            f.response = ResponseSide::Body {
                reader: BodyReader::for_response(framing),
                writer: client.writer,
                keep_alive: client.keep_alive,
                reusable,
            };
            return HeadStep::Final(f, rest);
        }
    }

    fn read_response_body(&mut self, mut f: Box<Forwarding>, bytes: &[u8]) {
        let ResponseSide::Body {
            reader,
            writer,
            reusable,
            ..
        } = &mut f.response
        else {
            return self.keep_forward(f);
        };
        let writer = *writer;
        let mut out = Vec::new();
        let mut payload = 0;
        let read = reader.read(bytes, |p| {
            writer.write(p, &mut out);
            payload += payload_len(p);
        });
        self.send_client(out);
        self.count_down(payload);
        match read {
            Ok(used) => {
                if used < bytes.len() {
                    // Bytes after the response: this origin cannot be trusted with another request.
                    *reusable = false;
                }
                if reader.is_done() {
                    self.response_done(f);
                } else {
                    self.keep_forward(f);
                }
            }
            Err(_) => {
                // The head has gone out: all that can be said is to cut the response short.
                self.emit(Event::UpstreamFailed {
                    failure: UpstreamFailure::Protocol,
                });
                self.close(CloseReason::Error);
            }
        }
    }

    /// The response is complete: reuse what can be reused, then the next
    /// request or the close.
    fn response_done(&mut self, f: Box<Forwarding>) {
        let ResponseSide::Body {
            writer,
            keep_alive,
            reusable,
            ..
        } = f.response
        else {
            return;
        };
        let mut end = Vec::new();
        writer.finish(&mut end);
        self.send_client(end);
        self.answered += 1;
        let request_complete = f.body.is_done();
        match &mut self.upstream {
            Some(u) if reusable && request_complete => u.idle = true,
            _ => self.drop_upstream(),
        }
        // Requests the client sent before it closed its side are still answered.
        let more = !self.client_eof || !self.inbox.is_empty();
        if keep_alive && !self.stopping && more {
            self.phase = Phase::Head(HeadState::new(self.now));
            self.current = None;
            // Reads a pipelined request, or closes when the client has
            // closed and what is left can never become one.
            self.advance_head();
            return;
        }
        let reason = if self.stopping {
            CloseReason::Shutdown
        } else if self.client_eof || !f.req.keep_alive {
            // The client asked for the close (HTTP/1.0, `Connection: close`, or its FIN).
            CloseReason::ClientFin
        } else {
            // The origin's framing (until close) or an unread body ended it.
            CloseReason::ServerFin
        };
        self.close(reason);
    }

    /// The origin closed (or reset) its connection; the caller has dropped it.
    pub(super) fn forward_upstream_end(&mut self, failure: Option<IoFailure>) {
        let Some(mut f) = self.take_forward() else {
            return;
        };
        self.upstream = None;
        match &mut f.response {
            ResponseSide::Head { buf, .. } => {
                let partial = !buf.is_empty();
                // A reused connection the origin closed while it sat idle: dial
                // again, once, when only a bodiless request was sent on it.
                if f.reused && !partial && !f.req.body.has_body() {
                    // It passed the name check before; only the allow flag is needed again.
                    let allowed_by_name = crate::policy::check_target(
                        &self.settings,
                        &f.authority.host,
                        f.authority.port,
                        crate::policy::Route::Forward,
                    )
                    .is_ok_and(|p| p.allowed_by_name);
                    let plan = Plan {
                        version: f.version,
                        authority: f.authority.clone(),
                        kind: Kind::Forward(f.req.clone()),
                        allowed_by_name,
                    };
                    return self.route(Box::new(plan));
                }
                let details =
                    partial.then_some("the origin closed in the middle of its response head");
                self.origin_failed(&f, UpstreamFailure::Closed, details);
            }
            ResponseSide::Body { reader, .. } => {
                // A body read until the close is complete now; any other is cut short.
                let complete = reader.end_of_input().is_ok() && failure.is_none();
                if complete {
                    self.response_done(f);
                } else {
                    // The client sees a truncated response, never a last chunk.
                    self.close(if failure == Some(IoFailure::Reset) {
                        CloseReason::ServerReset
                    } else {
                        CloseReason::ServerFin
                    });
                }
            }
        }
    }

    /// The deadline passed during a forwarded request.
    pub(super) fn forward_timeout(&mut self, f: Box<Forwarding>) {
        if !f.body.is_done() {
            if f.answered {
                self.close(CloseReason::IdleTimeout);
            } else {
                self.refuse(reject::body_timeout(f.version), CloseReason::IdleTimeout);
            }
            return;
        }
        match f.response {
            ResponseSide::Head { .. } => {
                self.origin_failed(&f, UpstreamFailure::Timeout, None);
            }
            ResponseSide::Body { .. } => self.close(CloseReason::IdleTimeout),
        }
    }

    /// The origin gave no usable answer: Burrow answers for it, if nothing was sent yet.
    fn origin_failed(&mut self, f: &Forwarding, failure: UpstreamFailure, details: Option<&str>) {
        self.emit(Event::UpstreamFailed { failure });
        self.drop_upstream();
        if f.answered {
            self.close(CloseReason::Error);
            return;
        }
        let authority = f.authority.to_string();
        self.refuse(
            reject::upstream_failed(f.version, &authority, failure, details),
            CloseReason::Rejected,
        );
    }
}

/// Where reading the origin's head got to.
enum HeadStep {
    /// More bytes are needed.
    Wait(Box<Forwarding>),
    /// The origin failed and Burrow has answered (or closed).
    Failed,
    /// The final head went to the client; these bytes follow it.
    Final(Box<Forwarding>, Vec<u8>),
}
