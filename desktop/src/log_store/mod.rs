//! The in-memory connection log: the engine's events folded into
//! `ConnectionRecord`s, kept under a row budget and a byte budget, and
//! handed to the page in batches.
//!
//! When either budget is exceeded the oldest closed record goes first, the
//! oldest of all only when every record is open ([`eviction`]); what a
//! record costs is estimated by [`size`]. Events lost on the way (a
//! lagging receiver) are counted, and [`LogStore::reconcile`] closes the
//! records the engine no longer has open.
//!
//! Connection ids are unique within the process (the engine numbers them
//! from one counter, whatever run), and the store still files a record under
//! `(run, id)` so events that reach it through different engine runs can
//! never be folded into one record. Each record is shown under a `key` that
//! is unique for the life of the app and grows with accept order.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use burrow_core::display::{connections, errors, format_bytes, tunnels, RecordText};
use burrow_core::log::{CloseReason, ConnectionRecord, Event, LogEvent};
use burrow_core::After;
use serde::Serialize;

mod eviction;
mod size;

use eviction::{Eviction, Seen};

/// How many records the log keeps by default.
pub const DEFAULT_CAP: usize = 10_000;

/// How many bytes of records (estimated heap, see [`size`]) the log keeps
/// by default. An ordinary record costs about 1.25 KiB here (a host
/// name, a few addresses, an SNI, a rule; measured), so 10,000 of them fit
/// (12.2 MiB) and the row budget is the one that binds; records stuffed by
/// a hostile peer (a 1 KiB target escaped to 4 KiB, a 16 KiB SNI escaped to
/// 64 KiB and kept twice, 16 ALPN names, 256 addresses) cost up to about
/// 155 KiB each, and then this budget binds instead, after about a hundred. 16 MiB is small
/// next to a WebView, and a reset batch (the whole log cloned, with its
/// words, then serialised) stays a few times that at its peak.
pub const DEFAULT_MAX_BYTES: usize = 16 * 1024 * 1024;

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
    /// What the records in the log cost now (estimated heap bytes).
    pub bytes: usize,
    /// The most bytes of records the log keeps, in words, e.g. `16.0 MiB`.
    pub max_bytes_text: String,
}

/// One connection in the log.
#[derive(Debug)]
struct Entry {
    /// The engine run it belongs to.
    run: u64,
    /// The listener address it reached.
    listener: Option<SocketAddr>,
    record: ConnectionRecord,
    /// What it costs, as last counted into [`LogStore::bytes`].
    bytes: usize,
}

/// The connection log.
#[derive(Debug)]
pub struct LogStore {
    cap: usize,
    max_bytes: usize,
    /// What every record costs together (the sum of `Entry::bytes`).
    bytes: usize,
    /// Which record goes first when a budget is exceeded.
    evict: Eviction,
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
    /// An empty log keeping at most `cap` records and [`DEFAULT_MAX_BYTES`].
    pub fn new(cap: usize) -> LogStore {
        LogStore::with_budget(cap, DEFAULT_MAX_BYTES)
    }

    /// An empty log keeping at most `cap` records and `max_bytes` of them.
    pub fn with_budget(cap: usize, max_bytes: usize) -> LogStore {
        LogStore {
            cap: cap.max(1),
            max_bytes,
            bytes: 0,
            evict: Eviction::default(),
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
        let (up, down) = (entry.record.bytes_up, entry.record.bytes_down);
        let Some((d_up, d_down)) = self.fold(key, e.at_ms, &e.event).map(|r| {
            (
                r.bytes_up.saturating_sub(up),
                r.bytes_down.saturating_sub(down),
            )
        }) else {
            return;
        };
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
        self.keep_budgets();
    }

    /// Applies `event` to record `key` and counts its new size and, if it
    /// just closed, its new place in the eviction order.
    fn fold(&mut self, key: u64, at_ms: u64, event: &Event) -> Option<&ConnectionRecord> {
        let entry = self.records.get_mut(&key)?;
        let was_open = entry.record.is_open();
        entry.record.apply(at_ms, event);
        let bytes = size::record_bytes(&entry.record);
        self.bytes = self.bytes - entry.bytes + bytes;
        entry.bytes = bytes;
        if was_open && !entry.record.is_open() {
            self.evict.closed(key);
        }
        Some(&entry.record)
    }

    /// Evicts records until both budgets hold (never emptying the log: one
    /// record alone is far below any sensible budget).
    fn keep_budgets(&mut self) {
        while self.records.len() > 1
            && (self.records.len() > self.cap || self.bytes > self.max_bytes)
        {
            self.drop_oldest();
        }
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
    /// Some may have been `Closed`: follow with [`reconcile`](Self::reconcile).
    pub fn lost(&mut self, n: u64) {
        self.totals.lost_events += n;
    }

    /// Closes, as [`CloseReason::Unknown`] at `at_ms`, every open record of
    /// engine run `run` whose id is not in `live`, the ids the engine has
    /// open now; returns how many. Call it after lost events, with `live`
    /// read after the last event applied: an id that is not live then has
    /// ended, since the engine holds a connection's slot before it emits
    /// anything for it. A `Closed` still on its way replaces the reason.
    pub fn reconcile(&mut self, run: u64, live: &HashSet<u64>, at_ms: u64) -> usize {
        // Linear, but only after a loss, and never more than the log holds.
        let stale: Vec<u64> = self
            .records
            .iter()
            .filter(|(_, e)| e.run == run && e.record.is_open() && !live.contains(&e.record.id))
            .map(|(&key, _)| key)
            .collect();
        let closed = Event::Closed {
            reason: CloseReason::Unknown,
        };
        for &key in &stale {
            self.fold(key, at_ms, &closed);
            self.dirty.insert(key);
        }
        stale.len()
    }

    fn insert(&mut self, run: u64, id: u64) -> u64 {
        // Room for one more row; the bytes are checked once the event is in.
        while self.records.len() >= self.cap {
            self.drop_oldest();
        }
        let key = self.next_key;
        self.next_key += 1;
        let record = ConnectionRecord::new(id);
        let bytes = size::record_bytes(&record);
        let entry = Entry {
            run,
            listener: None,
            record,
            bytes,
        };
        self.records.insert(key, entry);
        self.bytes += bytes;
        self.evict.inserted(key);
        self.keys.insert((run, id), key);
        self.totals.connections += 1;
        key
    }

    /// Drops the oldest closed record, or the oldest of all when every one is open.
    fn drop_oldest(&mut self) {
        let records = &self.records;
        let Some(key) = self.evict.pick(|k| seen(records, k)) else {
            return;
        };
        self.forget(key);
        self.totals.dropped += 1;
        let records = &self.records;
        self.evict.tidy(records.len(), |k| seen(records, k));
    }

    fn forget(&mut self, key: u64) {
        if let Some(e) = self.records.remove(&key) {
            self.bytes -= e.bytes;
            self.keys.remove(&(e.run, e.record.id));
            self.dirty.remove(&key);
            // Without a page taking batches this list would grow with every
            // connection ever dropped: past the row budget, a reset batch
            // (the whole log, no removals) is the smaller message anyway.
            if !self.reset {
                self.removed.push(key);
            }
            if self.removed.len() > self.cap {
                self.removed = Vec::new();
                self.reset = true;
            }
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
        // Linear anyway: start the order again from what is left.
        self.evict.reset(self.records.keys().copied());
    }

    /// What the records cost now, in estimated heap bytes (see [`size`]).
    pub fn bytes(&self) -> usize {
        self.bytes
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
            bytes: self.bytes,
            max_bytes_text: format_bytes(self.max_bytes as u64),
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

/// Where record `key` stands, for the eviction order.
fn seen(records: &BTreeMap<u64, Entry>, key: u64) -> Seen {
    match records.get(&key) {
        None => Seen::Gone,
        Some(e) if e.record.is_open() => Seen::Open,
        Some(_) => Seen::Closed,
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
mod tests;
