//! The answers of a connection in a form a view can show as is: the request
//! as parsed, who answered and with what, the rule behind it, the
//! `Proxy-Status` parameters, what went upstream. Kept only when asked for
//! (the simulator's transcript); the engine never pays for it.

use serde::Serialize;

use crate::display::StatusClass;
use crate::escape::{escape, PeerText};
use crate::forward::{ClientHead, ForwardRequest};
use crate::head::{RequestHead, Version};
use crate::origin::ResponseHead;
use crate::reject;
use crate::response::{After, ProxyError, ProxyStatusParam, Response, Rule};
use crate::target::Authority;

use super::Connection;

/// A request as parsed, every text escaped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RequestView {
    /// The method.
    pub method: PeerText,
    /// The target.
    pub target: PeerText,
    /// The version.
    pub version: Version,
    /// The fields in order (credentials masked).
    pub fields: Vec<(String, String)>,
}

impl RequestView {
    /// The view of `head`.
    pub fn of(head: &RequestHead) -> RequestView {
        let fields = head
            .headers
            .iter()
            .map(|h| {
                let value = if h.name.eq_ignore_ascii_case("proxy-authorization") {
                    mask_credentials(&h.value)
                } else {
                    escape(&h.value)
                };
                (escape(h.name.as_bytes()), value)
            })
            .collect();
        RequestView {
            method: PeerText::new(head.method.as_bytes()),
            target: PeerText::new(head.target.as_bytes()),
            version: head.version,
            fields,
        }
    }
}

/// `Basic dXNlcjpwdw==` → `Basic ••••••`: the scheme stays, the secret does not.
fn mask_credentials(value: &[u8]) -> String {
    let scheme = value.split(|b| *b == b' ').next().unwrap_or_default();
    format!("{} ••••••", escape(scheme))
}

/// Who answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    /// Burrow itself.
    Burrow,
    /// The origin, relayed by Burrow.
    Origin,
}

/// What went upstream for a forwarded request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ForwardView {
    /// Where it went.
    pub to: String,
    /// The exact head bytes sent, as text.
    pub head: String,
    /// How the body went upstream, in words.
    pub body: &'static str,
}

impl ForwardView {
    /// The view of a request sent to `authority` with head bytes `head`.
    pub fn new(authority: &Authority, head: &[u8], req: &ForwardRequest) -> ForwardView {
        use crate::body::BodyWriter;
        ForwardView {
            to: authority.to_string(),
            head: head.iter().map(|&b| b as char).collect(),
            body: match req.upstream_body {
                BodyWriter::Nothing => "no body",
                BodyWriter::Plain => "the body as is, with its Content-Length",
                BodyWriter::Chunked | BodyWriter::SameChunks => "the body decoded and chunked anew",
            },
        }
    }
}

/// One answer to one request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Answer {
    /// The request answered; `None` when no head could be read.
    pub request: Option<RequestView>,
    /// Who answered.
    pub speaker: Speaker,
    /// The status.
    pub status: u16,
    /// The reason phrase as sent (escaped).
    pub reason: String,
    /// How the status reads at a glance.
    pub class: StatusClass,
    /// The rule behind the answer.
    pub rule: Rule,
    /// The `Proxy-Status` field as written, for Burrow's own answers.
    pub proxy_status_field: Option<String>,
    /// The `Proxy-Status` parameters, for Burrow's own answers.
    pub proxy_status: Vec<ProxyStatusParam>,
    /// The RFC 9209 error.
    pub error: Option<ProxyError>,
    /// What the error means.
    pub error_meaning: Option<&'static str>,
    /// What was sent upstream, for a forwarded request.
    pub forwarded: Option<ForwardView>,
    /// How the body reaches the client, in words (origin answers).
    pub framing: Option<&'static str>,
    /// What happens to the connection after this answer.
    pub after: After,
    /// That, as a title.
    pub after_title: &'static str,
    /// That, in a sentence.
    pub after_text: &'static str,
}

impl Connection {
    /// Notes Burrow's own answer to the current request.
    pub(super) fn record_answer(&mut self, response: &Response) {
        if self.trace.is_none() {
            return;
        }
        let answer = Answer {
            request: self.current.take(),
            speaker: Speaker::Burrow,
            status: response.status,
            reason: response.reason.to_string(),
            class: StatusClass::of(Some(response.status)),
            rule: response.rule,
            // The PAC file is answered as an origin: no Proxy-Status.
            proxy_status_field: Some(response.proxy_status_field.clone())
                .filter(|field| !field.is_empty()),
            proxy_status: response.proxy_status.clone(),
            error: response.error,
            error_meaning: response.error.map(ProxyError::meaning),
            forwarded: self.forwarded.take(),
            framing: None,
            after: response.after,
            after_title: response.after.title(),
            after_text: response.after.explain(),
        };
        if let Some(trace) = &mut self.trace {
            trace.push(answer);
        }
    }

    /// Notes the origin's answer, relayed under `client`.
    pub(super) fn record_origin_answer(&mut self, head: &ResponseHead, client: &ClientHead) {
        if self.trace.is_none() {
            return;
        }
        let after = if client.keep_alive {
            After::KeepAlive
        } else {
            After::Close
        };
        let answer = Answer {
            request: self.current.take(),
            speaker: Speaker::Origin,
            status: head.status,
            reason: escape(&head.reason),
            class: StatusClass::of(Some(head.status)),
            rule: reject::FORWARD_OK,
            proxy_status_field: None,
            proxy_status: Vec::new(),
            error: None,
            error_meaning: None,
            forwarded: self.forwarded.take(),
            framing: Some(client.framing.describe()),
            after,
            after_title: after.title(),
            after_text: after.explain(),
        };
        if let Some(trace) = &mut self.trace {
            trace.push(answer);
        }
    }
}
