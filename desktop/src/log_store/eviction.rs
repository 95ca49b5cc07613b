//! Which record leaves first when the log is over a budget: the oldest
//! closed record (in accept order), or the oldest of all when every record
//! is open. Found without scanning the log.
//!
//! Keys grow with accept order, so the keys not yet looked at wait in a
//! queue that is already sorted. Looking for the oldest closed record walks
//! that queue from the front; an open record met on the way is parked, and
//! is never walked over again. A parked record that closes later is older
//! than every key still in the queue, so it goes into a small min-heap that
//! is served first. Each key is queued once and parked at most once, so a
//! pick costs O(1) amortised (O(log n) for the rare record that was open
//! when passed over and closed later). Keys of records that left some other
//! way (clear, a pick) are skipped when met, and swept out when they
//! outnumber the live ones.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// What the store says about a key: gone, open, or closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Seen {
    /// No record under the key any more.
    Gone,
    /// The connection is open.
    Open,
    /// The connection has ended.
    Closed,
}

/// The eviction order of the log's records.
#[derive(Debug, Default)]
pub(super) struct Eviction {
    /// Keys not yet looked at, ascending.
    fresh: VecDeque<u64>,
    /// Every key below this has left `fresh`.
    passed: u64,
    /// Keys found open when looked at, ascending; all below `passed`.
    parked: VecDeque<u64>,
    /// Parked keys whose record has closed since, smallest first.
    closed_parked: BinaryHeap<Reverse<u64>>,
}

impl Eviction {
    /// A new record, newer than every other.
    pub(super) fn inserted(&mut self, key: u64) {
        self.fresh.push_back(key);
    }

    /// Record `key` has just closed.
    pub(super) fn closed(&mut self, key: u64) {
        // A key still in `fresh` will be seen closed when its turn comes.
        if key < self.passed {
            self.closed_parked.push(Reverse(key));
        }
    }

    /// The key to evict next, or `None` when the log is empty. The key is
    /// taken out of the order: the caller must remove its record.
    pub(super) fn pick(&mut self, seen: impl Fn(u64) -> Seen) -> Option<u64> {
        // Parked records that closed since are older than every fresh key.
        while let Some(Reverse(key)) = self.closed_parked.pop() {
            if seen(key) == Seen::Closed {
                return Some(key);
            }
        }
        while let Some(key) = self.fresh.pop_front() {
            self.passed = key + 1;
            match seen(key) {
                Seen::Gone => {}
                Seen::Open => self.parked.push_back(key),
                Seen::Closed => return Some(key),
            }
        }
        // Every record is open (a closed parked one would have been in the heap).
        while let Some(key) = self.parked.pop_front() {
            if seen(key) != Seen::Gone {
                return Some(key);
            }
        }
        None
    }

    /// Sweeps out keys whose records left, once they outnumber the `live`
    /// records: linear, but at most once per `live` removals, so O(1)
    /// amortised, and the order never holds more than about three keys per
    /// record.
    pub(super) fn tidy(&mut self, live: usize, seen: impl Fn(u64) -> Seen) {
        let held = self.fresh.len() + self.parked.len() + self.closed_parked.len();
        if held <= 2 * live + 64 {
            return;
        }
        self.fresh.retain(|&k| seen(k) != Seen::Gone);
        self.parked.retain(|&k| seen(k) != Seen::Gone);
        self.closed_parked
            .retain(|&Reverse(k)| seen(k) == Seen::Closed);
    }

    /// Starts again from `keys` (ascending), all of them not yet looked at.
    pub(super) fn reset(&mut self, keys: impl Iterator<Item = u64>) {
        *self = Eviction {
            fresh: keys.collect(),
            ..Eviction::default()
        };
    }

    /// Keys held, stale ones included (for tests).
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.fresh.len() + self.parked.len() + self.closed_parked.len()
    }
}
