//! Who gets a connection slot: the global cap (`max_connections`), a cap
//! per client address (`max_connections_per_client`), and which open
//! connection gives way when a cap is reached.
//!
//! A slot is not first come, first served for ever: a client that opens
//! sockets and says nothing, or never authenticates, would otherwise hold
//! everyone else out. When a cap is reached, the open connection most
//! willing to go (its [`Connection::eviction_rank`](super::Connection::eviction_rank))
//! is closed to make room; only when every one is busy is the newcomer
//! refused (503).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use crate::addr::client_key;
use crate::settings::Settings;

/// The rank of a connection that is doing something: never evicted.
pub const BUSY: u8 = 0;

/// Why a newcomer is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Its address holds `max_connections_per_client` busy connections.
    PerClient,
    /// The proxy holds `max_connections` busy connections.
    Global,
}

/// What to do with a newcomer.
#[derive(Debug)]
pub enum Admission {
    /// Serve it; its driver keeps `rank` current. `evict` names an open
    /// connection to close now to make room.
    Admit {
        /// Where the connection's driver stores its eviction rank.
        rank: Arc<AtomicU8>,
        /// A connection to close to make room.
        evict: Option<u64>,
    },
    /// Answer 503 and close.
    Refuse(Refusal),
}

#[derive(Debug)]
struct Slot {
    client: IpAddr,
    rank: Arc<AtomicU8>,
    /// Admission order: among equals, the oldest goes first.
    order: u64,
    /// Already asked to close: does not count against the caps any more.
    evicting: bool,
}

/// The open connections of one engine, by id.
#[derive(Debug, Default)]
pub struct Admissions {
    slots: HashMap<u64, Slot>,
    per_client: HashMap<IpAddr, usize>,
    /// The sum of `per_client`: connections that count against the caps.
    counted: usize,
    admitted: u64,
}

impl Admissions {
    /// No connection open.
    pub fn new() -> Admissions {
        Admissions::default()
    }

    /// Decides on connection `id` from `client`, and records it when admitted.
    pub fn admit(&mut self, settings: &Settings, id: u64, client: IpAddr) -> Admission {
        let key = client_key(client);
        let from_client = self.counted(key);
        let evict = if from_client >= settings.max_connections_per_client {
            match self.victim(Some(key)) {
                Some(victim) => Some(victim),
                None => return Admission::Refuse(Refusal::PerClient),
            }
        } else if self.counted_all() >= settings.max_connections {
            match self.victim(None) {
                Some(victim) => Some(victim),
                None => return Admission::Refuse(Refusal::Global),
            }
        } else {
            None
        };
        if let Some(victim) = evict {
            self.mark_evicting(victim);
        }
        let rank = Arc::new(AtomicU8::new(BUSY));
        self.admitted += 1;
        self.slots.insert(
            id,
            Slot {
                client: key,
                rank: rank.clone(),
                order: self.admitted,
                evicting: false,
            },
        );
        *self.per_client.entry(key).or_insert(0) += 1;
        self.counted += 1;
        Admission::Admit { rank, evict }
    }

    /// Connection `id` has ended.
    pub fn release(&mut self, id: u64) {
        let Some(slot) = self.slots.remove(&id) else {
            return;
        };
        if !slot.evicting {
            self.uncount(slot.client);
        }
    }

    /// The ids of every open connection, for a log that lost events to
    /// find the records it must close.
    pub fn open_ids(&self) -> Vec<u64> {
        self.slots.keys().copied().collect()
    }

    /// How many connections are open (evicted ones still closing included).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    fn counted(&self, key: IpAddr) -> usize {
        self.per_client.get(&key).copied().unwrap_or(0)
    }

    fn counted_all(&self) -> usize {
        self.counted
    }

    fn uncount(&mut self, key: IpAddr) {
        if let Some(n) = self.per_client.get_mut(&key) {
            self.counted = self.counted.saturating_sub(1);
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_client.remove(&key);
            }
        }
    }

    fn mark_evicting(&mut self, id: u64) {
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        slot.evicting = true;
        let client = slot.client;
        self.uncount(client);
    }

    /// The open connection most willing to go (from `client` only, if
    /// given): the highest rank, then the oldest. Busy ones never go.
    fn victim(&self, client: Option<IpAddr>) -> Option<u64> {
        self.slots
            .iter()
            .filter(|(_, s)| !s.evicting && client.is_none_or(|c| s.client == c))
            .map(|(id, s)| {
                (
                    s.rank.load(Ordering::Relaxed),
                    std::cmp::Reverse(s.order),
                    *id,
                )
            })
            .filter(|(rank, _, _)| *rank != BUSY)
            .max()
            .map(|(_, _, id)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(global: usize, per_client: usize) -> Settings {
        Settings {
            max_connections: global,
            max_connections_per_client: per_client,
            ..Settings::default()
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn admit(
        book: &mut Admissions,
        s: &Settings,
        id: u64,
        client: &str,
    ) -> (Option<Arc<AtomicU8>>, Option<u64>, Option<Refusal>) {
        match book.admit(s, id, ip(client)) {
            Admission::Admit { rank, evict } => (Some(rank), evict, None),
            Admission::Refuse(r) => (None, None, Some(r)),
        }
    }

    #[test]
    fn one_address_cannot_take_every_slot() {
        let s = settings(10, 3);
        let mut book = Admissions::new();
        for id in 0..3 {
            assert!(admit(&mut book, &s, id, "192.0.2.1").2.is_none());
        }
        assert_eq!(
            admit(&mut book, &s, 3, "192.0.2.1").2,
            Some(Refusal::PerClient)
        );
        assert!(admit(&mut book, &s, 4, "192.0.2.2").2.is_none());
    }

    #[test]
    fn idle_and_silent_connections_make_room() {
        let s = settings(3, 3);
        let mut book = Admissions::new();
        let a = admit(&mut book, &s, 1, "192.0.2.1").0.unwrap();
        let b = admit(&mut book, &s, 2, "192.0.2.2").0.unwrap();
        let _c = admit(&mut book, &s, 3, "192.0.2.3").0.unwrap();
        assert_eq!(
            admit(&mut book, &s, 4, "192.0.2.4").2,
            Some(Refusal::Global),
            "all busy"
        );
        a.store(1, Ordering::Relaxed); // idle between requests
        b.store(3, Ordering::Relaxed); // never said a word
        let (_, evict, refused) = admit(&mut book, &s, 5, "192.0.2.4");
        assert_eq!(
            (evict, refused),
            (Some(2), None),
            "the silent one goes first"
        );
        let (_, evict, _) = admit(&mut book, &s, 6, "192.0.2.5");
        assert_eq!(evict, Some(1));
        book.release(2);
        book.release(1);
        assert_eq!(book.len(), 3);
    }

    #[test]
    fn at_the_per_client_cap_a_client_makes_room_from_its_own() {
        let s = settings(100, 2);
        let mut book = Admissions::new();
        let a = admit(&mut book, &s, 1, "2001:db8::1").0.unwrap();
        admit(&mut book, &s, 2, "2001:db8::2");
        a.store(1, Ordering::Relaxed);
        let other = admit(&mut book, &s, 3, "2001:db8:0:1::1").0.unwrap();
        other.store(3, Ordering::Relaxed);
        let (_, evict, _) = admit(&mut book, &s, 4, "2001:db8::ffff");
        assert_eq!(evict, Some(1), "same /64, its own idle connection");
    }

    #[test]
    fn released_ids_leave_no_trace() {
        let s = settings(10, 10);
        let mut book = Admissions::new();
        for id in 0..5 {
            admit(&mut book, &s, id, "192.0.2.1");
        }
        for id in 0..5 {
            book.release(id);
        }
        book.release(99);
        assert!(book.is_empty() && book.per_client.is_empty() && book.open_ids().is_empty());
    }
}
