//! The access log: one line per finished connection, built from the
//! connection's events into a [`ConnectionRecord`].
//!
//! ```text
//! 2026-11-27T10:00:00Z 127.0.0.1:50312 CONNECT example.com:443 200 ↑1.2 KiB ↓35.0 KiB 1.53 s client closed sni=example.com
//! ```
//!
//! [`AccessLog`] folds events into records; [`pump`] feeds it from the
//! engine's channel and reconciles after lost events; [`LineWriter`] writes
//! the lines on a thread of its own behind a bounded queue, so a stalled
//! output drops (and counts) lines instead of stopping the proxy.

mod line;
mod open;
mod pump;
mod writer;

use std::collections::HashSet;

use burrow_core::log::{CloseReason, ConnectionRecord, Event, LogEvent};

pub use line::{rfc3339, size, text_line};
pub use pump::{pump, Pumped};
pub use writer::{LineWriter, Lines, DRAIN_AT_EXIT, QUEUE_LINES};

use crate::events::now_ms;
use open::OpenRecords;

/// At most this many unfinished connections are tracked (the engine's
/// `max_connections` is at most as many); past it the record whose first
/// event came earliest is dropped without a line.
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
    open: OpenRecords,
    /// Connections already logged as closed with their end unknown: a late
    /// event of theirs must not open a second record. At most [`MAX_OPEN`].
    ended_unknown: HashSet<u64>,
}

/// Open records that may have lost their `Closed`: the engine did not list
/// their connection as open when the loss was noticed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Suspects {
    ids: Vec<u64>,
}

impl Suspects {
    /// Adds the suspects of a later loss.
    pub fn extend(&mut self, more: Suspects) {
        self.ids.extend(more.ids);
    }

    /// How many records are suspected.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no record is suspected.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

impl AccessLog {
    /// An empty log writing `format`.
    pub fn new(format: Format) -> Self {
        AccessLog {
            format,
            open: OpenRecords::new(MAX_OPEN),
            ended_unknown: HashSet::new(),
        }
    }

    /// How many connections have a record and no line yet.
    pub fn open_records(&self) -> usize {
        self.open.len()
    }

    /// Applies one event; returns the connection's line when it has closed.
    pub fn apply(&mut self, e: &LogEvent) -> Option<String> {
        if !self.open.contains(e.id) && self.ended_unknown.contains(&e.id) {
            // Its line is written; what was late is dropped.
            if matches!(e.event, Event::Closed { .. }) {
                self.ended_unknown.remove(&e.id);
            }
            return None;
        }
        let (record, _evicted) = self.open.entry(e.id);
        record.apply(e.at_ms, &e.event);
        if record.is_open() {
            return None;
        }
        let record = self.open.remove(e.id)?;
        Some(self.line(&record))
    }

    /// Which open records may have lost their `Closed`, given the ids of the
    /// connections open now (`Running::open_connections`), taken after the
    /// loss was noticed.
    ///
    /// A connection sends its `Closed` before it gives its slot back, so a
    /// record whose connection is not open any more has its `Closed` on the
    /// way or lost. Pass the suspects to [`AccessLog::close_lost`] once every
    /// event sent before this call has been received (or lost too).
    pub fn suspects(&self, open_now: &[u64]) -> Suspects {
        let open_now: HashSet<u64> = open_now.iter().copied().collect();
        let mut ids: Vec<u64> = self
            .open
            .ids()
            .filter(|id| !open_now.contains(id))
            .collect();
        ids.sort_unstable();
        Suspects { ids }
    }

    /// Closes every suspect still open (its `Closed` was lost) as
    /// [`CloseReason::Unknown`] and returns their lines, oldest first.
    pub fn close_lost(&mut self, suspects: Suspects) -> Vec<String> {
        suspects
            .ids
            .into_iter()
            .filter_map(|id| self.close_unknown(id))
            .collect()
    }

    /// Closes every open record as [`CloseReason::Unknown`]: the event
    /// stream has ended, so their `Closed` will never come.
    pub fn close_all(&mut self) -> Vec<String> {
        let mut ids: Vec<u64> = self.open.ids().collect();
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| self.close_unknown(id))
            .collect()
    }

    fn close_unknown(&mut self, id: u64) -> Option<String> {
        let mut record = self.open.remove(id)?;
        record.apply(
            now_ms(),
            &Event::Closed {
                reason: CloseReason::Unknown,
            },
        );
        if self.ended_unknown.len() >= MAX_OPEN {
            // Late events come within moments of the loss; old ids can go.
            self.ended_unknown.clear();
        }
        self.ended_unknown.insert(id);
        Some(self.line(&record))
    }

    fn line(&self, record: &ConnectionRecord) -> String {
        match self.format {
            Format::Text => text_line(record),
            Format::Json => serde_json::to_string(record).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burrow_core::log::{CloseReason, Event};
    use burrow_core::response::{After, ProxyError};
    use burrow_core::tls::SniCheck;
    use burrow_core::PeerText;

    fn ev(id: u64, at_ms: u64, event: Event) -> LogEvent {
        LogEvent { id, at_ms, event }
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
        assert_eq!(log.open_records(), 0);
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

    fn accepted(id: u64) -> LogEvent {
        ev(
            id,
            1_000,
            Event::Accepted {
                client: "127.0.0.1:40000".parse().unwrap(),
                listener: "127.0.0.1:8080".parse().unwrap(),
            },
        )
    }

    fn closed(id: u64) -> LogEvent {
        ev(
            id,
            2_000,
            Event::Closed {
                reason: CloseReason::ClientFin,
            },
        )
    }

    #[test]
    fn records_whose_connection_ended_unseen_are_closed_as_unknown() {
        let mut log = AccessLog::new(Format::Text);
        for id in 1..=4 {
            log.apply(&accepted(id));
        }
        // The engine still has 2 and 4 open; 1 and 3 ended, and their
        // Closed events may be on the way or lost.
        let suspects = log.suspects(&[2, 4, 9]);
        assert_eq!(suspects.len(), 2);
        // 3's Closed was on the way: it gets its real line.
        let line = log.apply(&closed(3)).expect("3 closed");
        assert!(line.ends_with(" client closed"), "{line}");
        // 1's was lost.
        let lines = log.close_lost(suspects);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains(" 127.0.0.1:40000 "), "{}", lines[0]);
        assert!(lines[0].ends_with(" closed (events lost)"), "{}", lines[0]);
        // The open ones stay open and end as usual.
        assert_eq!(log.open_records(), 2);
        assert!(log.apply(&closed(2)).is_some());
    }

    #[test]
    fn a_late_event_of_a_connection_closed_as_unknown_is_dropped() {
        let mut log = AccessLog::new(Format::Json);
        log.apply(&accepted(5));
        let suspects = log.suspects(&[]);
        assert_eq!(log.close_lost(suspects).len(), 1);
        // Its Closed was late, not lost: no second line, no new record.
        let traffic = ev(5, 1_500, Event::Traffic { up: 1, down: 2 });
        assert_eq!(log.apply(&traffic), None);
        assert_eq!(log.apply(&closed(5)), None);
        assert_eq!(log.open_records(), 0);
        // Once its Closed has come, the id is forgotten.
        assert!(log.ended_unknown.is_empty());
    }

    #[test]
    fn suspects_of_an_empty_loss_close_nothing() {
        let mut log = AccessLog::new(Format::Text);
        log.apply(&accepted(1));
        let suspects = log.suspects(&[1]);
        assert!(suspects.is_empty());
        assert!(log.close_lost(suspects).is_empty());
        assert_eq!(log.open_records(), 1);
    }

    #[test]
    fn the_end_of_the_stream_closes_what_is_left_as_unknown() {
        let mut log = AccessLog::new(Format::Json);
        log.apply(&accepted(8));
        log.apply(&accepted(7));
        let lines = log.close_all();
        let ids: Vec<u64> = lines
            .iter()
            .map(|l| serde_json::from_str::<ConnectionRecord>(l).unwrap())
            .inspect(|r| assert_eq!(r.close, Some(CloseReason::Unknown)))
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, [7, 8]);
        assert_eq!(log.open_records(), 0);
    }
}
