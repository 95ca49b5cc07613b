//! The in-memory connection log: the engine's events folded into
//! `ConnectionRecord`s, capped, and handed to the page in batches.
//!
//! Each engine run numbers its connections from its own counter, so a record
//! is found by `(run, id)` and shown under a `key` that is unique for the
//! life of the app and grows with accept order.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;

use burrow_core::log::{ConnectionRecord, Event, LogEvent};
use burrow_core::After;
use serde::Serialize;

/// How many records the log keeps by default.
pub const DEFAULT_CAP: usize = 10_000;

/// A record as the page sees it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// The app-wide key.
    pub key: u64,
    /// Everything known about the connection.
    #[serde(flatten)]
    pub record: ConnectionRecord,
    /// The close reason in words (core's `CloseReason::describe`).
    pub close_text: Option<&'static str>,
    /// What the Proxy-Status error means (core's `ProxyError::meaning`).
    pub error_meaning: Option<&'static str>,
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
        if let Event::Responded { error, after, .. } = &e.event {
            self.totals.errors += u64::from(error.is_some());
            self.totals.tunnels += u64::from(*after == After::Tunnel);
        }
        self.dirty.insert(key);
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
        let reset = std::mem::take(&mut self.reset);
        if !reset && self.dirty.is_empty() && self.removed.is_empty() && self.up + self.down == 0 {
            return None;
        }
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
        close_text: record.close.map(|c| c.describe()),
        error_meaning: record.error.map(|e| e.meaning()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burrow_core::log::CloseReason;
    use burrow_core::ProxyError;

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
}
