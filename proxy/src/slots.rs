//! The engine's side of the core's [`Admissions`]: the book behind a
//! mutex, the token that tells an evicted connection to close, and a guard
//! that gives a slot back however its task ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::AtomicU8;
use std::sync::{Arc, Mutex, PoisonError};

use burrow_core::connection::{Admission, Admissions, Refusal};
use burrow_core::Settings;
use tokio_util::sync::CancellationToken;

/// Every open connection of one engine run.
#[derive(Debug, Default)]
pub(crate) struct Slots {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    book: Admissions,
    evict: HashMap<u64, CancellationToken>,
}

/// A slot a connection holds: where it keeps its eviction rank, the token
/// that asks it to close, and the guard that gives the slot back.
pub(crate) struct Held {
    pub rank: Arc<AtomicU8>,
    pub evicted: CancellationToken,
    pub guard: SlotGuard,
}

impl Slots {
    /// Admits connection `id` from `client`, asking another to close if
    /// the core picks one to make room.
    pub(crate) fn admit(
        self: &Arc<Self>,
        settings: &Settings,
        id: u64,
        client: IpAddr,
    ) -> Result<Held, Refusal> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match inner.book.admit(settings, id, client) {
            Admission::Refuse(refusal) => Err(refusal),
            Admission::Admit { rank, evict } => {
                if let Some(victim) = evict.and_then(|v| inner.evict.get(&v)) {
                    victim.cancel();
                }
                let evicted = CancellationToken::new();
                inner.evict.insert(id, evicted.clone());
                Ok(Held {
                    rank,
                    evicted,
                    guard: SlotGuard {
                        id,
                        slots: self.clone(),
                    },
                })
            }
        }
    }

    /// The ids of every open connection.
    pub(crate) fn open_ids(&self) -> Vec<u64> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.book.open_ids()
    }

    fn release(&self, id: u64) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.book.release(id);
        inner.evict.remove(&id);
    }
}

/// Gives the slot back when dropped: at the end of the connection's task,
/// or while a panic unwinds it.
pub(crate) struct SlotGuard {
    id: u64,
    slots: Arc<Slots>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.slots.release(self.id);
    }
}
