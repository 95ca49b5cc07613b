//! The in-memory connection log: the engine's events folded into
//! `ConnectionRecord`s, capped, and handed to the page in batches.
//!
//! Connection ids are unique within the process (the engine numbers them
//! from one counter, whatever run), and the store still files a record under
//! `(run, id)` so events that reach it through different engine runs can
//! never be folded into one record. Each record is shown under a `key` that
//! is unique for the life of the app and grows with accept order.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use burrow_core::display::{connections, errors, format_bytes, tunnels, RecordText};
use burrow_core::log::{ConnectionRecord, Event, LogEvent};
use burrow_core::After;
use serde::Serialize;

/// How many records the log keeps by default.
pub const DEFAULT_CAP: usize = 10_000;

/// The throughput shown beside the graph is the average over this many whole seconds.
pub const RATE_SECONDS: u64 = 5;

/// A record as the page sees it: the record, plus everything the page writes
/// about it already in words (core's `RecordText`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// The app-wide key.
    pub key: u64,
    /// Everything known about the connection.
    #[serde(flatten)]
    pub record: ConnectionRecord,
    /// The record in words: status class, byte counts, SNI verdict, state…
    pub text: RecordText,
}

/// The running byte totals in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TotalsText {
    /// All bytes client → server, e.g. `1.2 KiB`.
    pub sent: String,
    /// All bytes server → client.
    pub received: String,
    /// Connections seen, e.g. `12 connections`.
    pub connections: String,
    /// Tunnels opened, e.g. `1 tunnel`.
    pub tunnels: String,
    /// Burrow's own error answers, e.g. `3 errors`.
    pub errors: String,
}

/// The throughput over the last [`RATE_SECONDS`] whole seconds, in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rate {
    /// Client → server, e.g. `1.2 KiB/s`.
    pub up: String,
    /// Server → client.
    pub down: String,
}

/// Counts over everything seen since the app started (dropped records included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Connections seen.
    pub connections: u64,
    /// Connections that became tunnels.
    pub tunnels: u64,
    /// Burrow's own error responses (with a Proxy-Status error).
    pub errors: u64,
    /// Bytes client → server.
    pub bytes_up: u64,
    /// Bytes server → client.
    pub bytes_down: u64,
    /// Records dropped because the log was full.
    pub dropped: u64,
    /// Engine events lost because the app fell behind.
    pub lost_events: u64,
}

/// What changed since the previous batch.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Batch {
    /// The page must forget what it has: `rows` is the whole log.
    pub reset: bool,
    /// New and changed records, oldest first.
    pub rows: Vec<Row>,
    /// Keys of records that left the log (the cap or "clear").
    pub removed: Vec<u64>,
    /// Running totals.
    pub totals: Totals,
    /// The byte totals in words.
    pub totals_text: TotalsText,
    /// The throughput over the last [`RATE_SECONDS`] seconds, in words.
    pub rate: Rate,
    /// Bytes client → server since the previous batch.
    pub up: u64,
    /// Bytes server → client since the previous batch.
    pub down: u64,
    /// Records in the log now.
    pub len: usize,
    /// The most records the log keeps.
    pub cap: usize,
}

/// One connection in the log.
#[derive(Debug)]
struct Entry {
    /// The engine run it belongs to.
    run: u64,
    /// The listener address it reached.
    listener: Option<SocketAddr>,
    record: ConnectionRecord,
}

/// The connection log.
#[derive(Debug)]
pub struct LogStore {
    cap: usize,
    /// key → entry, in accept order.
    records: BTreeMap<u64, Entry>,
    keys: HashMap<(u64, u64), u64>,
    next_key: u64,
    dirty: BTreeSet<u64>,
    removed: Vec<u64>,
    reset: bool,
    totals: Totals,
    up: u64,
    down: u64,
    /// Unix second (of the events' clock) → bytes (up, down) in it; only the last few seconds.
    seconds: BTreeMap<u64, (u64, u64)>,
    /// The rate the page was last sent, so a changed rate alone makes a batch.
    sent_rate: Option<Rate>,
}

impl LogStore {
    /// An empty log keeping at most `cap` records.
    pub fn new(cap: usize) -> LogStore {
        LogStore {
            cap: cap.max(1),
            records: BTreeMap::new(),
            keys: HashMap::new(),
            next_key: 1,
            dirty: BTreeSet::new(),
            removed: Vec::new(),
            reset: true,
            totals: Totals::default(),
            up: 0,
            down: 0,
            seconds: BTreeMap::new(),
            sent_rate: None,
        }
    }

    /// Folds one engine event of engine run `run` into its record.
    pub fn apply(&mut self, run: u64, e: &LogEvent) {
        let key = match self.keys.get(&(run, e.id)) {
            Some(&key) => key,
            None => self.insert(run, e.id),
        };
        let Some(entry) = self.records.get_mut(&key) else {
            return;
        };
        if let Event::Accepted { listener, .. } = &e.event {
            entry.listener = Some(*listener);
        }
        let record = &mut entry.record;
        let (up, down) = (record.bytes_up, record.bytes_down);
        record.apply(e.at_ms, &e.event);
        let (d_up, d_down) = (
            record.bytes_up.saturating_sub(up),
            record.bytes_down.saturating_sub(down),
        );
        self.up += d_up;
        self.down += d_down;
        self.totals.bytes_up += d_up;
        self.totals.bytes_down += d_down;
        if d_up + d_down > 0 {
            self.count_bytes(e.at_ms / 1000, d_up, d_down);
        }
        if let Event::Responded { error, after, .. } = &e.event {
            self.totals.errors += u64::from(error.is_some());
            self.totals.tunnels += u64::from(*after == After::Tunnel);
        }
        self.dirty.insert(key);
    }

    /// Adds bytes to the per-second buckets, keeping only the seconds the rate can still use.
    fn count_bytes(&mut self, second: u64, up: u64, down: u64) {
        let bucket = self.seconds.entry(second).or_default();
        bucket.0 += up;
        bucket.1 += down;
        if let Some(&newest) = self.seconds.keys().next_back() {
            self.seconds = self.seconds.split_off(&newest.saturating_sub(RATE_SECONDS));
        }
    }

    /// The average throughput over the [`RATE_SECONDS`] whole seconds before `now_ms`.
    fn rate(&mut self, now_ms: u64) -> Rate {
        let now = now_ms / 1000;
        let first = now.saturating_sub(RATE_SECONDS);
        self.seconds = self.seconds.split_off(&first);
        let (up, down) = self
            .seconds
            .range(first..now)
            .fold((0, 0), |(u, d), (_, &(bu, bd))| (u + bu, d + bd));
        let per_second = |bytes: u64| format!("{}/s", format_bytes(bytes / RATE_SECONDS));
        Rate {
            up: per_second(up),
            down: per_second(down),
        }
    }

    /// Notes that `n` engine events were lost (a lagging broadcast receiver).
    pub fn lost(&mut self, n: u64) {
        self.totals.lost_events += n;
    }

    fn insert(&mut self, run: u64, id: u64) -> u64 {
        while self.records.len() >= self.cap {
            self.drop_oldest();
        }
        let key = self.next_key;
        self.next_key += 1;
        let entry = Entry {
            run,
            listener: None,
            record: ConnectionRecord::new(id),
        };
        self.records.insert(key, entry);
        self.keys.insert((run, id), key);
        self.totals.connections += 1;
        key
    }

    /// Drops the oldest closed record, or the oldest of all when every one is open.
    fn drop_oldest(&mut self) {
        let oldest_closed = self.records.iter().find(|(_, e)| !e.record.is_open());
        let Some(key) = oldest_closed
            .or_else(|| self.records.iter().next())
            .map(|(&k, _)| k)
        else {
            return;
        };
        self.forget(key);
        self.totals.dropped += 1;
    }

    fn forget(&mut self, key: u64) {
        if let Some(e) = self.records.remove(&key) {
            self.keys.remove(&(e.run, e.record.id));
            self.dirty.remove(&key);
            self.removed.push(key);
        }
    }

    /// Removes the closed records; open connections stay until they close.
    pub fn clear(&mut self) {
        let closed: Vec<u64> = self
            .records
            .iter()
            .filter(|(_, e)| !e.record.is_open())
            .map(|(&k, _)| k)
            .collect();
        for key in closed {
            self.forget(key);
        }
    }

    /// Makes the next batch carry the whole log (a page (re)subscribed).
    pub fn resync(&mut self) {
        self.reset = true;
    }

    /// The record under `key`.
    pub fn get(&self, key: u64) -> Option<&ConnectionRecord> {
        self.records.get(&key).map(|e| &e.record)
    }

    /// The listener address connection `key` reached.
    pub fn listener(&self, key: u64) -> Option<SocketAddr> {
        self.records.get(&key).and_then(|e| e.listener)
    }

    /// Records in the log now.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the log is empty.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The totals so far.
    pub fn totals(&self) -> Totals {
        self.totals
    }

    /// Everything that changed since the last call; `None` when nothing did.
    pub fn take_batch(&mut self) -> Option<Batch> {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.take_batch_at(now_ms)
    }

    /// [`take_batch`](Self::take_batch) at `now_ms`, in the events' clock (Unix milliseconds
    /// for the engine). A rate that changed since the last batch is a change too, so the
    /// page's rate falls back to zero when the traffic stops.
    pub fn take_batch_at(&mut self, now_ms: u64) -> Option<Batch> {
        let rate = self.rate(now_ms);
        let reset = std::mem::take(&mut self.reset);
        if !reset
            && self.dirty.is_empty()
            && self.removed.is_empty()
            && self.up + self.down == 0
            && self.sent_rate.as_ref() == Some(&rate)
        {
            return None;
        }
        self.sent_rate = Some(rate.clone());
        let rows = if reset {
            self.dirty.clear();
            self.records
                .iter()
                .map(|(&key, e)| row(key, &e.record))
                .collect()
        } else {
            let dirty = std::mem::take(&mut self.dirty);
            dirty
                .into_iter()
                .filter_map(|key| self.records.get(&key).map(|e| row(key, &e.record)))
                .collect()
        };
        let removed = std::mem::take(&mut self.removed);
        Some(Batch {
            reset,
            rows,
            removed: if reset { Vec::new() } else { removed },
            totals: self.totals,
            totals_text: TotalsText {
                sent: format_bytes(self.totals.bytes_up),
                received: format_bytes(self.totals.bytes_down),
                connections: connections(self.totals.connections),
                tunnels: tunnels(self.totals.tunnels),
                errors: errors(self.totals.errors),
            },
            rate,
            up: std::mem::take(&mut self.up),
            down: std::mem::take(&mut self.down),
            len: self.records.len(),
            cap: self.cap,
        })
    }

    /// The log as JSON Lines: one record per line, oldest first.
    pub fn to_json_lines(&self) -> String {
        let mut out = String::new();
        for (&key, e) in &self.records {
            out.push_str(
                &serde_json::to_string(&row(key, &e.record)).expect("records always serialise"),
            );
            out.push('\n');
        }
        out
    }
}

fn row(key: u64, record: &ConnectionRecord) -> Row {
    Row {
        key,
        record: record.clone(),
        text: RecordText::of(record),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burrow_core::log::CloseReason;
    use burrow_core::tls::SniCheck;
    use burrow_core::{PeerText, ProxyError};

    fn ev(id: u64, at_ms: u64, event: Event) -> LogEvent {
        LogEvent { id, at_ms, event }
    }

    fn accepted(id: u64) -> LogEvent {
        ev(
            id,
            id * 10,
            Event::Accepted {
                client: "127.0.0.1:50000".parse().unwrap(),
                listener: "127.0.0.1:8080".parse().unwrap(),
            },
        )
    }

    fn closed(id: u64) -> LogEvent {
        ev(
            id,
            id * 10 + 5,
            Event::Closed {
                reason: CloseReason::ClientFin,
            },
        )
    }

    fn keys(b: &Batch) -> Vec<u64> {
        b.rows.iter().map(|r| r.key).collect()
    }

    #[test]
    fn first_batch_is_a_reset_then_only_changes() {
        let mut s = LogStore::new(100);
        let b = s.take_batch().unwrap();
        assert!(b.reset && b.rows.is_empty());
        assert_eq!(s.take_batch(), None);

        s.apply(0, &accepted(1));
        s.apply(0, &accepted(2));
        s.apply(0, &ev(1, 12, Event::Traffic { up: 5, down: 7 }));
        let b = s.take_batch().unwrap();
        assert!(!b.reset);
        assert_eq!(keys(&b), vec![1, 2]);
        assert_eq!((b.up, b.down), (5, 7));
        assert_eq!(b.rows[0].record.bytes_up, 5);

        // Running totals become deltas: only the growth counts.
        s.apply(0, &ev(1, 13, Event::Traffic { up: 8, down: 7 }));
        let b = s.take_batch().unwrap();
        assert_eq!(keys(&b), vec![1]);
        assert_eq!((b.up, b.down), (3, 0));
        assert_eq!((b.totals.bytes_up, b.totals.bytes_down), (8, 7));
        assert_eq!(b.totals.connections, 2);
        assert_eq!(s.take_batch(), None);

        s.resync();
        let b = s.take_batch().unwrap();
        assert!(b.reset);
        assert_eq!(keys(&b), vec![1, 2]);
    }

    #[test]
    fn many_events_make_one_batch_entry_per_record() {
        let mut s = LogStore::new(100);
        s.take_batch();
        s.apply(0, &accepted(1));
        for i in 1..=50 {
            s.apply(0, &ev(1, 10 + i, Event::Traffic { up: i, down: 2 * i }));
        }
        let b = s.take_batch().unwrap();
        assert_eq!(b.rows.len(), 1);
        assert_eq!(b.rows[0].record.bytes_down, 100);
        assert_eq!((b.up, b.down), (50, 100));
    }

    #[test]
    fn runs_with_the_same_ids_are_different_records() {
        let mut s = LogStore::new(100);
        s.apply(0, &accepted(1));
        s.apply(1, &accepted(1));
        assert_eq!(s.len(), 2);
        s.apply(1, &closed(1));
        assert!(s.get(1).unwrap().is_open());
        assert!(!s.get(2).unwrap().is_open());
        assert_eq!(s.listener(2), Some("127.0.0.1:8080".parse().unwrap()));
    }

    #[test]
    fn the_cap_drops_the_oldest_closed_record_first() {
        let mut s = LogStore::new(3);
        s.take_batch();
        s.apply(0, &accepted(1)); // stays open
        s.apply(0, &accepted(2));
        s.apply(0, &closed(2));
        s.apply(0, &accepted(3));
        s.apply(0, &closed(3));
        s.take_batch();
        s.apply(0, &accepted(4));
        assert_eq!(s.len(), 3);
        assert!(s.get(1).is_some(), "the open record is kept");
        assert!(s.get(2).is_none(), "the oldest closed record went");
        let b = s.take_batch().unwrap();
        assert_eq!(b.removed, vec![2]);
        assert_eq!(keys(&b), vec![4]);
        assert_eq!(b.totals.dropped, 1);
        assert_eq!((b.len, b.cap), (3, 3));

        // 5 pushes out 3 (closed); then only open records are left, so 6 pushes out 1.
        s.apply(0, &accepted(5));
        s.apply(0, &accepted(6));
        assert_eq!(s.len(), 3);
        assert!(s.get(1).is_none() && s.get(3).is_none());
        assert_eq!(s.totals().dropped, 3);
    }

    #[test]
    fn ten_thousand_records_stay_capped() {
        let mut s = LogStore::new(DEFAULT_CAP);
        for id in 0..12_000 {
            s.apply(0, &accepted(id));
            s.apply(0, &closed(id));
        }
        assert_eq!(s.len(), DEFAULT_CAP);
        let b = s.take_batch().unwrap();
        assert!(b.reset);
        assert_eq!(b.rows.len(), DEFAULT_CAP);
        assert_eq!(b.rows[0].record.id, 2_000, "oldest kept first");
        assert_eq!(b.totals.dropped, 2_000);
        assert_eq!(b.totals.connections, 12_000);
    }

    #[test]
    fn clear_keeps_open_connections() {
        let mut s = LogStore::new(10);
        s.apply(0, &accepted(1));
        s.apply(0, &accepted(2));
        s.apply(0, &closed(2));
        s.take_batch();
        s.clear();
        assert_eq!(s.len(), 1);
        let b = s.take_batch().unwrap();
        assert_eq!(b.removed, vec![2]);
        assert_eq!(b.totals.dropped, 0);
    }

    #[test]
    fn totals_count_tunnels_and_errors() {
        let mut s = LogStore::new(10);
        s.apply(0, &accepted(1));
        let responded = |status, error, after| Event::Responded {
            status,
            error,
            rule: "r".into(),
            after,
        };
        s.apply(0, &ev(1, 11, responded(200, None, After::Tunnel)));
        s.apply(0, &accepted(2));
        s.apply(
            0,
            &ev(
                2,
                21,
                responded(502, Some(ProxyError::DnsError), After::Close),
            ),
        );
        s.lost(4);
        let t = s.totals();
        assert_eq!((t.tunnels, t.errors, t.lost_events), (1, 1, 4));
    }

    #[test]
    fn json_lines_export_has_one_record_per_line() {
        let mut s = LogStore::new(10);
        s.apply(0, &accepted(1));
        s.apply(0, &accepted(2));
        let text = s.to_json_lines();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["key"], 1);
        assert_eq!(lines[1]["id"], 2);
        assert_eq!(lines[0]["client"], "127.0.0.1:50000");
    }

    #[test]
    fn rows_carry_core_words_for_the_page() {
        let mut s = LogStore::new(10);
        s.apply(0, &accepted(1));
        s.apply(
            0,
            &ev(
                1,
                12,
                Event::Traffic {
                    up: 1229,
                    down: 35 * 1024,
                },
            ),
        );
        s.apply(0, &closed(1));
        let b = s.take_batch().unwrap();
        let row = &b.rows[0];
        assert_eq!(row.text, RecordText::of(&row.record));
        assert_eq!(
            (row.text.sent.as_str(), row.text.received.as_str()),
            ("1.2 KiB", "35.0 KiB")
        );
        assert_eq!(row.text.state, "client closed");

        // The page gets the record's fields flat, and the words under `text`.
        let v = serde_json::to_value(row).unwrap();
        assert_eq!(v["key"], 1);
        assert_eq!(v["bytes_up"], 1229);
        assert_eq!(v["text"]["sent"], "1.2 KiB");
        assert_eq!(v["text"]["received"], "35.0 KiB");
        assert_eq!(v["text"]["state"], "client closed");
        assert_eq!(v["text"]["status_class"], "none");
        assert_eq!(v["text"]["problem"], false);
        assert!(v.get("close_text").is_none() && v.get("error_meaning").is_none());
    }

    #[test]
    fn rows_show_hostile_peer_text_escaped() {
        // What a hostile client and ClientHello chose: a control sequence,
        // a forged second line, markup and a look-alike letter.
        let hostile: &[u8] = b"x\x1b[31m\r\nFORGED <img src=x>\xc3\xa9";
        let mut s = LogStore::new(10);
        s.apply(0, &accepted(1));
        let events = [
            Event::Request {
                method: PeerText::new(hostile),
                target: PeerText::new(hostile),
                target_len: hostile.len(),
                version: burrow_core::head::Version::Http11,
            },
            Event::Tls {
                check: SniCheck::Mismatch {
                    sni: PeerText::new(hostile),
                },
                sni: Some(PeerText::new(hostile)),
                alpn: vec![PeerText::new(hostile)],
            },
        ];
        for e in events {
            s.apply(0, &ev(1, 11, e));
        }
        s.apply(0, &closed(1));
        let b = s.take_batch().unwrap();
        let json = serde_json::to_string(&b.rows[0]).unwrap();
        let escaped = "x\\\\x1b[31m\\\\x0d\\\\x0aFORGED \\\\x3cimg src=x\\\\x3e\\\\xc3\\\\xa9";
        for field in ["method", "target", "sni"] {
            assert!(
                json.contains(&format!("\"{field}\":\"{escaped}\"")),
                "{field}: {json}"
            );
        }
        // What the page puts in the table: nothing but printable ASCII and
        // the core's own words, no markup, no control, no forged line.
        assert!(!json.contains("\\u00") && !json.contains('<'), "{json}");
        let row: serde_json::Value = serde_json::from_str(&json).unwrap();
        for field in ["method", "target", "sni"] {
            let text = row[field].as_str().unwrap();
            assert!(text.chars().all(|c| (' '..='~').contains(&c)), "{text:?}");
        }
        assert!(row["alpn"][0]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| (' '..='~').contains(&c)));
    }

    #[test]
    fn batches_carry_the_totals_in_words() {
        let mut s = LogStore::new(10);
        s.apply(0, &accepted(1));
        s.apply(
            0,
            &ev(
                1,
                12,
                Event::Traffic {
                    up: 512,
                    down: 3 * 1024 * 1024,
                },
            ),
        );
        let b = s.take_batch().unwrap();
        assert_eq!(
            b.totals_text,
            TotalsText {
                sent: "512 B".into(),
                received: "3.0 MiB".into(),
                connections: "1 connection".into(),
                tunnels: "0 tunnels".into(),
                errors: "0 errors".into(),
            }
        );
        let v = serde_json::to_value(&b).unwrap();
        assert_eq!(v["totals_text"]["sent"], "512 B");
        assert_eq!(v["totals_text"]["received"], "3.0 MiB");
        assert!(v["rate"]["up"].is_string() && v["rate"]["down"].is_string());
    }

    #[test]
    fn the_rate_is_the_average_of_the_last_five_whole_seconds() {
        let rate = |up: &str, down: &str| Rate {
            up: up.into(),
            down: down.into(),
        };
        let mut s = LogStore::new(10);
        let first = s.take_batch_at(100_000).unwrap();
        assert_eq!(first.rate, rate("0 B/s", "0 B/s"));

        s.apply(
            0,
            &ev(
                1,
                100_000,
                Event::Accepted {
                    client: "127.0.0.1:50000".parse().unwrap(),
                    listener: "127.0.0.1:8080".parse().unwrap(),
                },
            ),
        );
        // 10 KiB down in each of the seconds 100..=104, and 5 × 1 KiB up in second 102.
        let mut down = 0;
        for second in 100..105 {
            down += 10 * 1024;
            let up = if second >= 102 { 5 * 1024 } else { 0 };
            s.apply(0, &ev(1, second * 1000 + 500, Event::Traffic { up, down }));
        }
        // Second 104 is not over at 104.9 s: the window is 99..=103.
        let b = s.take_batch_at(104_900).unwrap();
        assert_eq!(
            (b.up, b.down),
            (5 * 1024, 50 * 1024),
            "the graph still gets raw bytes"
        );
        assert_eq!(b.rate, rate("1.0 KiB/s", "8.0 KiB/s"));
        // At 105 s the window is 100..=104: all of it.
        let b = s.take_batch_at(105_000).unwrap();
        assert!(b.rows.is_empty(), "a moving rate alone makes a batch");
        assert_eq!(b.rate, rate("1.0 KiB/s", "10.0 KiB/s"));
        assert_eq!(s.take_batch_at(105_500), None, "nothing moved");
        // Traffic stopped: the rate falls to zero once the window has passed, then stays quiet.
        let b = s.take_batch_at(110_000).unwrap();
        assert_eq!(b.rate, rate("0 B/s", "0 B/s"));
        assert_eq!(s.take_batch_at(111_000), None);
        assert!(s.seconds.is_empty(), "old seconds are forgotten");
    }

    #[test]
    fn only_a_few_seconds_are_kept_without_a_page() {
        let mut s = LogStore::new(10);
        s.apply(0, &accepted(1));
        for second in 0..1000 {
            s.apply(
                0,
                &ev(
                    1,
                    second * 1000,
                    Event::Traffic {
                        up: second,
                        down: 0,
                    },
                ),
            );
        }
        assert!(s.seconds.len() <= RATE_SECONDS as usize + 1);
    }
}
