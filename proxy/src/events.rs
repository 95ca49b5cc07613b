//! Stamping the core's events with the wall clock and publishing them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use burrow_core::log::{Event, LogEvent};
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
#[derive(Clone, Debug)]
pub(crate) struct Emitter {
    id: u64,
    tx: broadcast::Sender<LogEvent>,
    accepted_ms: u64,
}

impl Emitter {
    /// An emitter for connection `id`, accepted at `accepted_ms` (Unix ms).
    pub(crate) fn new(id: u64, tx: broadcast::Sender<LogEvent>, accepted_ms: u64) -> Self {
        Emitter {
            id,
            tx,
            accepted_ms,
        }
    }

    /// The connection id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Sends `event`, which happened `at` after the accept.
    pub(crate) fn emit(&self, at: Duration, event: Event) {
        tracing::trace!(id = self.id, ?event, "event");
        let at_ms = u64::try_from(at.as_millis()).unwrap_or(u64::MAX);
        // An error only means nobody is listening right now.
        let _ = self.tx.send(LogEvent {
            id: self.id,
            at_ms: self.accepted_ms.saturating_add(at_ms),
            event,
        });
    }
}
