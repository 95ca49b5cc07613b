//! The access log: one line per finished connection, built from the
//! connection's events into a [`ConnectionRecord`].
//!
//! ```text
//! 2026-11-27T10:00:00Z 127.0.0.1:50312 CONNECT example.com:443 200 ↑1.2 KiB ↓35.0 KiB 1.53 s client closed sni=example.com
//! ```

use std::collections::HashMap;

use burrow_core::log::{ConnectionRecord, LogEvent};
use burrow_core::tls::SniCheck;

use crate::events::now_ms;

/// At most this many unfinished connections are tracked; a receiver that
/// lagged may never see some `Closed` events, and their records go first.
const MAX_OPEN: usize = 100_000;

/// How each finished connection is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A readable line (see the module docs).
    Text,
    /// The whole [`ConnectionRecord`] as one JSON line.
    Json,
}

/// Builds records from events and writes a line when one closes.
#[derive(Debug)]
pub struct AccessLog {
    format: Format,
    open: HashMap<u64, ConnectionRecord>,
}

impl AccessLog {
    /// An empty log writing `format`.
    pub fn new(format: Format) -> Self {
        AccessLog {
            format,
            open: HashMap::new(),
        }
    }

    /// Applies one event; returns the connection's line when it has closed.
    pub fn apply(&mut self, e: &LogEvent) -> Option<String> {
        if !self.open.contains_key(&e.id) && self.open.len() >= MAX_OPEN {
            if let Some(oldest) = self.open.keys().min().copied() {
                self.open.remove(&oldest);
            }
        }
        let record = self
            .open
            .entry(e.id)
            .or_insert_with(|| ConnectionRecord::new(e.id));
        record.apply(e.at_ms, &e.event);
        if record.is_open() {
            return None;
        }
        let record = self.open.remove(&e.id)?;
        Some(match self.format {
            Format::Text => text_line(&record),
            Format::Json => serde_json::to_string(&record).unwrap_or_default(),
        })
    }
}

/// The readable line for a connection.
pub fn text_line(r: &ConnectionRecord) -> String {
    let now = now_ms();
    let at = r.timings.closed.or(r.timings.accepted).unwrap_or(now);
    let dash = || "-".to_string();
    // Method, target and SNI are `PeerText`: escaped in the core, so no
    // control byte can recolour a terminal or start a forged line here.
    let mut line = format!(
        "{} {} {} {} {} ↑{} ↓{} {:.2} s {}",
        rfc3339(at),
        r.client.map_or_else(dash, |c| c.to_string()),
        r.method.as_deref().unwrap_or("-"),
        r.target.as_deref().unwrap_or("-"),
        r.status.map_or_else(dash, |s| s.to_string()),
        size(r.bytes_up),
        size(r.bytes_down),
        r.duration_ms(now).unwrap_or(0) as f64 / 1000.0,
        r.close.map_or("open", |c| c.describe()),
    );
    if let Some(e) = r.error {
        line.push_str(" error=");
        line.push_str(e.token());
    }
    if let Some(sni) = &r.sni {
        line.push_str(" sni=");
        line.push_str(sni);
    }
    let tls_note = match &r.sni_check {
        Some(SniCheck::Mismatch { .. }) => Some("sni-mismatch"),
        Some(SniCheck::NoSni) => Some("no-sni"),
        Some(SniCheck::NotTls) => Some("not-tls"),
        Some(SniCheck::Ech { .. }) => Some("ech"),
        Some(SniCheck::Malformed) => Some("malformed-hello"),
        Some(SniCheck::Match | SniCheck::IpTarget) | None => None,
    };
    if let Some(note) = tls_note {
        line.push_str(" tls=");
        line.push_str(note);
    }
    if r.requests > 1 {
        line.push_str(&format!(" requests={}", r.requests));
    }
    line
}

/// A byte count for people: `512 B`, `1.2 KiB`, `35.0 MiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Unix milliseconds as an RFC 3339 UTC time to the second.
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burrow_core::log::{CloseReason, Event};
    use burrow_core::response::{After, ProxyError};
    use burrow_core::PeerText;

    fn ev(id: u64, at_ms: u64, event: Event) -> LogEvent {
        LogEvent { id, at_ms, event }
    }

    #[test]
    fn times_and_sizes() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_773_600_123), "2026-11-27T10:00:00Z");
        assert_eq!(size(512), "512 B");
        assert_eq!(size(1229), "1.2 KiB");
        assert_eq!(size(35 * 1024), "35.0 KiB");
        assert_eq!(size(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn a_tunnel_line() {
        let mut log = AccessLog::new(Format::Text);
        let t0 = 1_795_773_598_470;
        let events = [
            Event::Accepted {
                client: "127.0.0.1:50312".parse().unwrap(),
                listener: "127.0.0.1:8080".parse().unwrap(),
            },
            Event::Request {
                method: "CONNECT".into(),
                target: "example.com:443".into(),
                target_len: 15,
                version: burrow_core::head::Version::Http11,
            },
            Event::Responded {
                status: 200,
                error: None,
                rule: "connect-ok".into(),
                after: After::Tunnel,
            },
            Event::Tls {
                check: SniCheck::Match,
                sni: Some("example.com".into()),
                alpn: vec![],
            },
            Event::Traffic {
                up: 1229,
                down: 35 * 1024,
            },
        ];
        for e in events {
            assert_eq!(log.apply(&ev(7, t0, e)), None);
        }
        let closed = Event::Closed {
            reason: CloseReason::ClientFin,
        };
        let line = log.apply(&ev(7, t0 + 1530, closed)).unwrap();
        assert_eq!(
            line,
            "2026-11-27T10:00:00Z 127.0.0.1:50312 CONNECT example.com:443 200 ↑1.2 KiB ↓35.0 KiB 1.53 s client closed sni=example.com"
        );
        assert!(log.open.is_empty());
    }

    #[test]
    fn an_error_line_names_the_proxy_status_error() {
        let mut log = AccessLog::new(Format::Text);
        log.apply(&ev(
            1,
            0,
            Event::Responded {
                status: 502,
                error: Some(ProxyError::ConnectionRefused),
                rule: "connect-refused".into(),
                after: After::Close,
            },
        ));
        let line = log
            .apply(&ev(
                1,
                10,
                Event::Closed {
                    reason: CloseReason::Rejected,
                },
            ))
            .unwrap();
        assert!(line.contains(" 502 "), "{line}");
        assert!(
            line.ends_with("rejected error=connection_refused"),
            "{line}"
        );
    }

    /// A connection whose peers chose hostile text: a target, an SNI and
    /// an ALPN name that would recolour a terminal and forge a log line.
    fn hostile_connection(log: &mut AccessLog) -> String {
        let forged = b"\x1b[31m\r\n2026-11-27T10:00:00Z 10.0.0.1:1 CONNECT bank.test:443 200";
        let events = [
            Event::Request {
                method: PeerText::new(b"CONNECT\x1b[2J"),
                target: PeerText::new(&[b"example.com:443", &forged[..]].concat()),
                target_len: 15 + forged.len(),
                version: burrow_core::head::Version::Http11,
            },
            Event::Tls {
                check: SniCheck::Mismatch {
                    sni: PeerText::new(&[b"a", &forged[..], b"\xc3\xa9<b>"].concat()),
                },
                sni: Some(PeerText::new(&[b"a", &forged[..], b"\xc3\xa9<b>"].concat())),
                alpn: vec![PeerText::new(&forged[..])],
            },
            Event::Closed {
                reason: CloseReason::ClientFin,
            },
        ];
        let mut line = None;
        for e in events {
            line = log.apply(&ev(9, 0, e));
        }
        line.expect("a line once the connection closed")
    }

    #[test]
    fn a_hostile_peer_cannot_recolour_or_forge_a_readable_line() {
        let line = hostile_connection(&mut AccessLog::new(Format::Text));
        assert_eq!(line.lines().count(), 1, "{line}");
        // Only the log's own arrows are beyond ASCII; no control at all.
        assert!(
            line.chars()
                .all(|c| (' '..='~').contains(&c) || c == '↑' || c == '↓'),
            "{line:?}"
        );
        assert!(
            line.contains(" CONNECT\\x1b[2J example.com:443\\x1b[31m\\x0d\\x0a2026-"),
            "{line}"
        );
        assert!(line.contains(" sni=a\\x1b[31m\\x0d\\x0a2026-"), "{line}");
        assert!(
            line.ends_with("\\xc3\\xa9\\x3cb\\x3e tls=sni-mismatch"),
            "{line}"
        );
    }

    #[test]
    fn a_hostile_peer_cannot_break_a_json_line() {
        let line = hostile_connection(&mut AccessLog::new(Format::Json));
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(line.chars().all(|c| (' '..='~').contains(&c)), "{line:?}");
        // serde_json would write a raw control as \u00NN; there is none to write.
        assert!(!line.contains("\\u00"), "{line}");
        let record: ConnectionRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(
            record.alpn[0],
            "\\x1b[31m\\x0d\\x0a2026-11-27T10:00:00Z 10.0.0.1:1 CONNECT bank.test:443 200"
        );
    }

    #[test]
    fn json_lines_are_records() {
        let mut log = AccessLog::new(Format::Json);
        let line = log
            .apply(&ev(
                3,
                5,
                Event::Closed {
                    reason: CloseReason::ClientFin,
                },
            ))
            .unwrap();
        let record: ConnectionRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(record.id, 3);
        assert_eq!(record.close, Some(CloseReason::ClientFin));
    }
}
