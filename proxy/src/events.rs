//! Stamping the core's events with the wall clock and publishing them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use burrow_core::log::{Event, LogEvent};
use burrow_core::Exchange;
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
/// Sending never waits: a receiver that lags loses events, a missing one
/// loses them all, and neither slows the connection down.
#[derive(Clone, Debug)]
pub(crate) struct Emitter {
    id: u64,
    tx: broadcast::Sender<LogEvent>,
}

impl Emitter {
    /// An emitter for connection `id`.
    pub(crate) fn new(id: u64, tx: broadcast::Sender<LogEvent>) -> Self {
        Emitter { id, tx }
    }

    /// The connection id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Stamps and sends one event.
    pub(crate) fn emit(&self, event: Event) {
        tracing::trace!(id = self.id, ?event, "event");
        // An error only means nobody is listening right now.
        let _ = self.tx.send(LogEvent {
            id: self.id,
            at_ms: now_ms(),
            event,
        });
    }

    /// Sends every event the exchange has queued, oldest first, and hands
    /// each to `seen` too.
    pub(crate) fn drain(&self, ex: &mut Exchange, mut seen: impl FnMut(&Event)) {
        while let Some(event) = ex.poll_event() {
            seen(&event);
            self.emit(event);
        }
    }
}

/// Byte totals of a forwarded exchange, shared by the request-body pump and
/// the response writer (which run in one task), sending `Traffic` at most
/// every [`TRAFFIC_EVERY`](crate::relay::TRAFFIC_EVERY) while bytes flow.
pub(crate) struct Meter<'a> {
    emitter: &'a Emitter,
    up: AtomicU64,
    down: AtomicU64,
    start: tokio::time::Instant,
    last_ms: AtomicU64,
}

impl<'a> Meter<'a> {
    /// A meter continuing from the connection's totals so far.
    pub(crate) fn new(emitter: &'a Emitter, up: u64, down: u64) -> Self {
        Meter {
            emitter,
            up: AtomicU64::new(up),
            down: AtomicU64::new(down),
            start: tokio::time::Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    /// Counts `n` bytes client → server.
    pub(crate) fn up(&self, n: usize) {
        self.up.fetch_add(n as u64, Ordering::Relaxed);
        self.tick();
    }

    /// Counts `n` bytes server → client.
    pub(crate) fn down(&self, n: usize) {
        self.down.fetch_add(n as u64, Ordering::Relaxed);
        self.tick();
    }

    /// The totals: (client → server, server → client).
    pub(crate) fn totals(&self) -> (u64, u64) {
        (
            self.up.load(Ordering::Relaxed),
            self.down.load(Ordering::Relaxed),
        )
    }

    fn tick(&self) {
        let every = crate::relay::TRAFFIC_EVERY.as_millis() as u64;
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_ms.load(Ordering::Relaxed);
        if now >= last + every
            && self
                .last_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let (up, down) = self.totals();
            self.emit(Event::Traffic { up, down });
        }
    }

    fn emit(&self, event: Event) {
        self.emitter.emit(event);
    }
}
