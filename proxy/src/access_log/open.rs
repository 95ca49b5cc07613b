//! The records of connections that have not closed yet, with the oldest
//! found in O(1) amortized time.

use std::collections::{HashMap, VecDeque};

use burrow_core::log::ConnectionRecord;

/// Open records by id, plus the ids in the order their first event came.
///
/// `order` may still hold ids whose record has closed: they are skipped when
/// they reach the front, and the queue is compacted once more than half of
/// it is such ids. Each id is pushed once and dropped at most once, so
/// evicting the oldest costs O(1) amortized, not a scan of every record.
#[derive(Debug)]
pub(super) struct OpenRecords {
    records: HashMap<u64, ConnectionRecord>,
    order: VecDeque<u64>,
    cap: usize,
}

/// Below this many queued ids, compaction is not worth a pass.
const COMPACT_MIN: usize = 64;

impl OpenRecords {
    /// An empty set holding at most `cap` records.
    pub(super) fn new(cap: usize) -> Self {
        OpenRecords {
            records: HashMap::new(),
            order: VecDeque::new(),
            cap,
        }
    }

    /// How many records are open.
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether `id` has an open record.
    pub(super) fn contains(&self, id: u64) -> bool {
        self.records.contains_key(&id)
    }

    /// The ids of every open record, in no particular order.
    pub(super) fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.records.keys().copied()
    }

    /// The record for `id`, made if it is new; making one when full first
    /// evicts the oldest, which is returned.
    pub(super) fn entry(&mut self, id: u64) -> (&mut ConnectionRecord, Option<ConnectionRecord>) {
        let mut evicted = None;
        if !self.records.contains_key(&id) {
            if self.records.len() >= self.cap {
                evicted = self.pop_oldest();
            }
            self.order.push_back(id);
        }
        let record = self
            .records
            .entry(id)
            .or_insert_with(|| ConnectionRecord::new(id));
        (record, evicted)
    }

    /// Takes the record for `id` out.
    pub(super) fn remove(&mut self, id: u64) -> Option<ConnectionRecord> {
        let record = self.records.remove(&id)?;
        self.tidy();
        Some(record)
    }

    /// Takes out the record whose first event came earliest.
    fn pop_oldest(&mut self) -> Option<ConnectionRecord> {
        while let Some(id) = self.order.pop_front() {
            if let Some(record) = self.records.remove(&id) {
                return Some(record);
            }
        }
        None
    }

    /// Drops the ids of closed records from the front, and from everywhere
    /// once they are more than half of the queue, so it stays within twice
    /// the number of open records.
    fn tidy(&mut self) {
        while self
            .order
            .front()
            .is_some_and(|id| !self.records.contains_key(id))
        {
            self.order.pop_front();
        }
        if self.order.len() > COMPACT_MIN.max(2 * self.records.len()) {
            let records = &self.records;
            self.order.retain(|id| records.contains_key(id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(set: &mut OpenRecords, id: u64) -> Option<u64> {
        set.entry(id).1.map(|r| r.id)
    }

    #[test]
    fn a_full_set_evicts_in_arrival_order() {
        let mut set = OpenRecords::new(3);
        for id in [5, 3, 9] {
            assert_eq!(open(&mut set, id), None);
        }
        // Touching an open record neither evicts nor reorders.
        assert_eq!(open(&mut set, 5), None);
        assert_eq!(open(&mut set, 10), Some(5));
        assert_eq!(open(&mut set, 11), Some(3));
        assert_eq!(open(&mut set, 12), Some(9));
        assert_eq!(set.len(), 3);
    }

    #[test]
    fn closed_records_are_skipped_when_evicting() {
        let mut set = OpenRecords::new(3);
        for id in 1..=3 {
            open(&mut set, id);
        }
        // 2 closes: its id stays queued behind 1 until 1 leaves.
        assert!(set.remove(2).is_some());
        open(&mut set, 4);
        assert_eq!(open(&mut set, 5), Some(1));
        assert_eq!(open(&mut set, 6), Some(3), "2 closed, so 3 is next");
        assert!(!set.contains(2));
    }

    #[test]
    fn the_queue_stays_within_twice_the_open_records() {
        let mut set = OpenRecords::new(100_000);
        // One connection that never closes, ahead of a million that do.
        open(&mut set, 0);
        for id in 1..200_000 {
            open(&mut set, id);
            set.remove(id);
            assert!(set.order.len() <= COMPACT_MIN.max(2 * set.len()) + 1);
        }
        assert_eq!(set.order.front(), Some(&0));
        assert!(set.order.len() <= COMPACT_MIN);
    }

    #[test]
    fn eviction_at_the_cap_is_not_a_scan() {
        // At the real cap, evicting a record per event used to scan every
        // key (100k × 100k); in arrival order it is a pop.
        let cap = 100_000;
        let mut set = OpenRecords::new(cap);
        for id in 0..cap as u64 {
            open(&mut set, id);
        }
        let started = std::time::Instant::now();
        for id in cap as u64..3 * cap as u64 {
            assert_eq!(open(&mut set, id), Some(id - cap as u64));
        }
        assert_eq!(set.len(), cap);
        // Generous for a debug build; the scan took minutes.
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
}
