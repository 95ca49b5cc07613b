//! Words and formatted numbers for what the views show: the access log, the
//! desktop log and the simulator all take them from here, so a byte count or
//! an SNI verdict reads the same everywhere.

use serde::Serialize;

use crate::log::{CloseReason, ConnectionRecord};
use crate::outcome::{ConnectFailure, DnsFailure, UpstreamFailure};
use crate::tls::SniCheck;

/// A byte count for people: `512 B`, `1.2 KiB`, `35.0 MiB`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Integer arithmetic in tenths, rounded half up: no float formatting
    // code in the simulator's wasm for one decimal.
    let mut unit = 0;
    let mut scale: u128 = 1024;
    while u128::from(bytes) >= scale * 1024 && unit + 1 < UNITS.len() {
        scale *= 1024;
        unit += 1;
    }
    let tenths = (u128::from(bytes) * 10 + scale / 2) / scale;
    format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
}

/// `1 connection`, `1,204 connections`: a count with its noun.
pub fn count(n: u64, singular: &str) -> String {
    let digits = n.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let s = if n == 1 { "" } else { "s" };
    format!("{grouped} {singular}{s}")
}

/// `12 connections`.
pub fn connections(n: u64) -> String {
    count(n, "connection")
}

/// `1 tunnel`.
pub fn tunnels(n: u64) -> String {
    count(n, "tunnel")
}

/// `3 errors`.
pub fn errors(n: u64) -> String {
    count(n, "error")
}

/// How a status reads at a glance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusClass {
    /// No status yet (or none was sent).
    None,
    /// A tunnel, or an origin's answer that is not an error.
    Success,
    /// Refused as the client's fault or by policy (4xx).
    Refused,
    /// The destination could not be reached or failed (5xx).
    Failed,
}

impl StatusClass {
    /// The class of `status`.
    pub fn of(status: Option<u16>) -> StatusClass {
        match status {
            None => StatusClass::None,
            Some(s) if s < 400 => StatusClass::Success,
            Some(s) if s < 500 => StatusClass::Refused,
            Some(_) => StatusClass::Failed,
        }
    }
}

impl SniCheck {
    /// What the check found, as a sentence fragment.
    pub fn describe(&self) -> &'static str {
        match self {
            SniCheck::Match => "matches the CONNECT host",
            SniCheck::Mismatch { .. } => "names another host than the CONNECT target",
            SniCheck::NoSni => "TLS without a server name",
            SniCheck::NotTls => "not TLS: the tunnel carries another protocol",
            SniCheck::Ech { .. } => "Encrypted Client Hello: only the outer name is visible",
            SniCheck::IpTarget => "IP-literal target: nothing to compare",
            SniCheck::Malformed => "a malformed ClientHello",
        }
    }

    /// A one- or two-word badge for a table cell; `None` when a plain match says it all.
    pub fn badge(&self) -> Option<&'static str> {
        match self {
            SniCheck::Match => None,
            SniCheck::Mismatch { .. } => Some("mismatch"),
            SniCheck::NoSni => Some("no SNI"),
            SniCheck::NotTls => Some("not TLS"),
            SniCheck::Ech { .. } => Some("ECH"),
            SniCheck::IpTarget => Some("IP target"),
            SniCheck::Malformed => Some("bad hello"),
        }
    }

    /// Whether the check points at something unusual (a mismatch or a broken hello).
    pub fn is_suspicious(&self) -> bool {
        matches!(self, SniCheck::Mismatch { .. } | SniCheck::Malformed)
    }
}

impl DnsFailure {
    /// The failure in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            DnsFailure::NoSuchHost => "no such host",
            DnsFailure::Timeout => "timed out",
            DnsFailure::ServerFailure => "resolver failure",
            DnsFailure::Busy => "too many lookups",
        }
    }
}

impl ConnectFailure {
    /// The failure in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            ConnectFailure::Refused => "RST (refused)",
            ConnectFailure::TimedOut => "no answer (timed out)",
            ConnectFailure::Unreachable => "no route",
            ConnectFailure::Other => "local error",
        }
    }
}

impl UpstreamFailure {
    /// The failure in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            UpstreamFailure::Closed => "closed without answering",
            UpstreamFailure::Protocol => "answered with something that is not HTTP",
            UpstreamFailure::Timeout => "did not answer in time",
            UpstreamFailure::TooLarge => "sent a response head larger than allowed",
        }
    }
}

impl CloseReason {
    /// Whether this ending is worth a second look (resets, timeouts, refusals, errors).
    pub fn is_problem(self) -> bool {
        !matches!(
            self,
            CloseReason::ClientFin | CloseReason::ServerFin | CloseReason::Shutdown
        )
    }
}

/// Everything a view writes about one record, already in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordText {
    /// How the status reads at a glance.
    pub status_class: StatusClass,
    /// Bytes client → server, e.g. `1.2 KiB`.
    pub sent: String,
    /// Bytes server → client.
    pub received: String,
    /// The SNI check as a badge, when there is more to say than "match".
    pub sni_badge: Option<&'static str>,
    /// The SNI check as a sentence fragment.
    pub sni_verdict: Option<&'static str>,
    /// Whether the SNI check is worth a warning colour.
    pub sni_suspicious: bool,
    /// `open`, `open tunnel`, or how it ended.
    pub state: &'static str,
    /// Whether the ending is worth a second look.
    pub problem: bool,
    /// What the RFC 9209 error means, when Burrow answered with one.
    pub error_meaning: Option<&'static str>,
    /// The DNS failure in words.
    pub dns_failure: Option<&'static str>,
    /// The last connect failure in words.
    pub connect_failure: Option<&'static str>,
    /// The origin's failure in words.
    pub upstream_failure: Option<&'static str>,
}

impl RecordText {
    /// The words for `r`.
    pub fn of(r: &ConnectionRecord) -> RecordText {
        let state = match (r.close, r.tunnel) {
            (Some(reason), _) => reason.describe(),
            (None, true) => "open tunnel",
            (None, false) => "open",
        };
        RecordText {
            status_class: StatusClass::of(r.status),
            sent: format_bytes(r.bytes_up),
            received: format_bytes(r.bytes_down),
            sni_badge: r.sni_check.as_ref().and_then(SniCheck::badge),
            sni_verdict: r.sni_check.as_ref().map(SniCheck::describe),
            sni_suspicious: r.sni_check.as_ref().is_some_and(SniCheck::is_suspicious),
            state,
            problem: r.close.is_some_and(CloseReason::is_problem),
            error_meaning: r.error.map(|e| e.meaning()),
            dns_failure: r.dns_failure.map(DnsFailure::describe),
            connect_failure: r.connect_failure.map(ConnectFailure::describe),
            upstream_failure: r.upstream_failure.map(UpstreamFailure::describe),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1229), "1.2 KiB");
        assert_eq!(format_bytes(35 * 1024), "35.0 KiB");
        assert_eq!(format_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(format_bytes(u64::MAX), "16384.0 PiB");
    }

    #[test]
    fn counts() {
        assert_eq!(count(1, "tunnel"), "1 tunnel");
        assert_eq!(count(0, "error"), "0 errors");
        assert_eq!(count(1204, "connection"), "1,204 connections");
        assert_eq!(count(1_000_000, "byte"), "1,000,000 bytes");
    }

    #[test]
    fn status_classes() {
        assert_eq!(StatusClass::of(None), StatusClass::None);
        assert_eq!(StatusClass::of(Some(200)), StatusClass::Success);
        assert_eq!(StatusClass::of(Some(304)), StatusClass::Success);
        assert_eq!(StatusClass::of(Some(407)), StatusClass::Refused);
        assert_eq!(StatusClass::of(Some(504)), StatusClass::Failed);
    }

    #[test]
    fn a_record_in_words() {
        let mut r = ConnectionRecord::new(1);
        r.bytes_up = 1229;
        r.tunnel = true;
        r.sni_check = Some(SniCheck::Mismatch { sni: "x".into() });
        let t = RecordText::of(&r);
        assert_eq!(t.sent, "1.2 KiB");
        assert_eq!(t.state, "open tunnel");
        assert_eq!(t.sni_badge, Some("mismatch"));
        assert!(t.sni_suspicious && !t.problem);
        r.close = Some(CloseReason::ClientReset);
        let t = RecordText::of(&r);
        assert_eq!(t.state, "client reset");
        assert!(t.problem);
    }
}
