//! The sequence diagram: one arrow per log event that crosses between the
//! parties, with the words and the status a view draws as they are.

use serde::Serialize;

use crate::display::StatusClass;
use crate::log::{Event, LogEvent};
use crate::outcome::DnsFailure;
use crate::response::Status;

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
    /// The status the arrow carries, for answers.
    pub status: Option<u16>,
    /// How that status reads at a glance.
    pub class: StatusClass,
    /// Bytes relayed as they are (tunnel traffic), not made by Burrow.
    pub relayed: bool,
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

/// The diagram arrow for a log event, if it has one.
pub fn step_for(e: &LogEvent) -> Option<Step> {
    use Actor::*;
    let mut status = None;
    let mut relayed = false;
    let (from, to, label, note) = match &e.event {
        Event::Accepted { client, listener } => (
            Browser, Burrow, "TCP connect".to_string(),
            format!("The client {client} opens a connection to Burrow at {listener}."),
        ),
        Event::Request { method, target, target_len, version } => (
            Browser, Burrow,
            if *target_len > crate::log::SHOWN_TARGET {
                format!("{method} {target}… ({target_len} bytes) {}", version.as_str())
            } else {
                format!("{method} {target} {}", version.as_str())
            },
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
        // Refused at the engine's own bound: the resolver was never asked.
        Event::DnsFailed { failure: DnsFailure::Busy } => (
            Burrow, Burrow, format!("lookup not started: {}", DnsFailure::Busy.describe()),
            "Burrow already waits for as many DNS answers as it allows (in all, or under this name's zone), so it answers at once instead of queueing.".to_string(),
        ),
        Event::DnsFailed { failure } => (
            Dns, Burrow, format!("lookup failed: {}", failure.describe()),
            "No address: Burrow cannot reach the destination.".to_string(),
        ),
        Event::AddressDenied { addr, reason } => (
            Burrow, Burrow, format!("refuse {addr}"),
            reason.describe().to_string(),
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
            Server, Burrow, failure.describe().to_string(),
            format!("Connecting to {addr} failed."),
        ),
        Event::Reused => (
            Burrow, Server, "reuse connection".to_string(),
            "The idle connection to the same origin, kept from the previous request, carries this one.".to_string(),
        ),
        Event::Responded { status: code, rule, .. } if rule == crate::pac::RULE.id => {
            status = Some(*code);
            (
                Burrow, Browser, format!("{code} OK (PAC file)"),
                "Burrow answers as a web server: its proxy auto-config file, which sends the browser through Burrow and straight to the site (DIRECT) when Burrow is off.".to_string(),
            )
        }
        Event::Responded { status: code, error, rule, .. } => {
            status = Some(*code);
            (
                Burrow, Browser,
                match Status::from_code(*code) {
                    Some(status) => format!("{code} {}", status.reason()),
                    None => format!("{code} ({rule})"),
                },
                match error {
                    Some(e) => format!("Proxy-Status error {}: {}", e.token(), e.meaning()),
                    None => "The tunnel is open: from now on Burrow relays bytes blindly.".to_string(),
                },
            )
        }
        Event::Interim { status: code } => {
            status = Some(*code);
            (
                Burrow, Browser, format!("{code} interim"),
                "An interim response: the client may go on (100 Continue), or gets early hints from the origin.".to_string(),
            )
        }
        Event::Forwarded { method, path } => (
            Burrow, Server, format!("{method} {path}"),
            "The request goes upstream in origin-form, with Host regenerated, hop-by-hop fields removed, Via added and the body framed anew.".to_string(),
        ),
        Event::OriginResponded { status: code, reason } => {
            status = Some(*code);
            (
                Burrow, Browser, format!("{code} {reason} (from the origin)"),
                "The origin's response is relayed with its own hop-by-hop fields removed and its body framed for the client.".to_string(),
            )
        }
        Event::UpstreamFailed { failure } => (
            Server, Burrow, failure.describe().to_string(),
            "The origin did not answer properly.".to_string(),
        ),
        Event::Tls { check, sni, .. } => {
            relayed = true;
            (
                Browser, Server, "TLS ClientHello".to_string(),
                format!(
                    "Burrow peeks without decrypting: SNI {}, which {}.",
                    sni.as_deref().unwrap_or("absent"),
                    check.describe()
                ),
            )
        }
        Event::FirstByteDown => {
            relayed = true;
            (
                Server, Browser, "TLS ServerHello…".to_string(),
                "The server's bytes are relayed back unchanged.".to_string(),
            )
        }
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
        status,
        class: StatusClass::of(status),
        relayed,
    })
}
