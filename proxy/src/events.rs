//! Stamping the core's events with the wall clock and publishing them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use burrow_core::log::{CloseReason, Event, LogEvent};
use tokio::sync::broadcast;

/// Connection ids come from one counter per process, so ids stay unique
/// when several engine runs share one event channel.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh connection id.
pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Sends one connection's events on the broadcast channel.
///
/// The core stamps each event with the connection's own time; the emitter
/// adds the wall-clock time of the accept, so every event of a connection
/// is on one clock. Sending never waits: a receiver that lags loses events,
/// a missing one loses them all, and neither slows the connection down.
///
/// Every connection's events end with `Closed`: if it is dropped before
/// the core said so (a bug, a panic unwinding its task), the emitter sends
/// `Closed { reason: Error }` itself, so no log keeps a record open for ever.
#[derive(Debug)]
pub(crate) struct Emitter {
    id: u64,
    tx: broadcast::Sender<LogEvent>,
    accepted_ms: u64,
    /// The accept, on the monotonic clock, for the time of a forced `Closed`.
    accepted: Instant,
    closed: AtomicBool,
}

impl Emitter {
    /// An emitter for connection `id`, accepted at `accepted_ms` (Unix ms).
    pub(crate) fn new(id: u64, tx: broadcast::Sender<LogEvent>, accepted_ms: u64) -> Self {
        Emitter {
            id,
            tx,
            accepted_ms,
            accepted: Instant::now(),
            closed: AtomicBool::new(false),
        }
    }

    /// The connection id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Sends `event`, which happened `at` after the accept.
    pub(crate) fn emit(&self, at: Duration, event: Event) {
        tracing::trace!(id = self.id, ?event, "event");
        if matches!(event, Event::Closed { .. }) {
            self.closed.store(true, Ordering::Relaxed);
        }
        let at_ms = u64::try_from(at.as_millis()).unwrap_or(u64::MAX);
        // An error only means nobody is listening right now.
        let _ = self.tx.send(LogEvent {
            id: self.id,
            at_ms: self.accepted_ms.saturating_add(at_ms),
            event,
        });
    }
}

impl Drop for Emitter {
    fn drop(&mut self) {
        if !self.closed.load(Ordering::Relaxed) {
            tracing::warn!(
                id = self.id,
                "connection ended without closing; logging it closed"
            );
            self.emit(
                self.accepted.elapsed(),
                Event::Closed {
                    reason: CloseReason::Error,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_emitter_closes_its_connection() {
        let (tx, mut rx) = broadcast::channel(8);
        let emitter = Emitter::new(7, tx, 1000);
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _owned = emitter;
            panic!("a bug in a connection task");
        }));
        assert!(unwound.is_err());
        let last = rx.try_recv().expect("a Closed was sent");
        assert_eq!(last.id, 7);
        assert_eq!(
            last.event,
            Event::Closed {
                reason: CloseReason::Error
            }
        );
    }

    #[test]
    fn a_closed_connection_is_not_closed_twice() {
        let (tx, mut rx) = broadcast::channel(8);
        let emitter = Emitter::new(1, tx, 0);
        emitter.emit(
            Duration::ZERO,
            Event::Closed {
                reason: CloseReason::ClientFin,
            },
        );
        drop(emitter);
        assert!(rx.try_recv().is_ok());
        assert!(rx.try_recv().is_err(), "only the core's Closed");
    }
}
