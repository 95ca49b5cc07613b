//! Reading the engine's connection log.

use std::net::SocketAddr;

use burrow_core::log::{CloseReason, Event, LogEvent};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{timeout_at, Instant};

use crate::TIMEOUT;

/// A subscription to the engine's `LogEvent`s that keeps what it has read,
/// so several connections can be inspected in any order.
pub struct Events {
    rx: broadcast::Receiver<LogEvent>,
    seen: Vec<LogEvent>,
}

impl Events {
    /// Wraps a receiver from `Engine::subscribe`.
    pub fn new(rx: broadcast::Receiver<LogEvent>) -> Events {
        Events {
            rx,
            seen: Vec::new(),
        }
    }

    /// Every event of the connection accepted from `client`, up to and
    /// including its `Closed`. Panics if that does not happen in time or if
    /// events were lost.
    pub async fn connection(&mut self, client: SocketAddr) -> Vec<Event> {
        let log = self.connection_log(client).await;
        log.into_iter().map(|e| e.event).collect()
    }

    /// Like [`Events::connection`], with each event's connection id and time.
    pub async fn connection_log(&mut self, client: SocketAddr) -> Vec<LogEvent> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(events) = self.closed_connection(client) {
                return events;
            }
            self.receive(deadline).await;
        }
    }

    /// The `Closed` reason of the connection from `client`.
    pub async fn close_reason(&mut self, client: SocketAddr) -> CloseReason {
        let events = self.connection(client).await;
        match events.last() {
            Some(Event::Closed { reason }) => *reason,
            other => panic!("the last event is not Closed: {other:?}"),
        }
    }

    async fn receive(&mut self, deadline: Instant) {
        match timeout_at(deadline, self.rx.recv()).await {
            Ok(Ok(e)) => self.seen.push(e),
            Ok(Err(RecvError::Lagged(n))) => panic!("the log lost {n} events"),
            Ok(Err(RecvError::Closed)) => panic!("the engine's event channel closed"),
            Err(_) => panic!(
                "no Closed event within {TIMEOUT:?}; seen so far: {:#?}",
                self.seen
            ),
        }
    }

    fn closed_connection(&self, client: SocketAddr) -> Option<Vec<LogEvent>> {
        let id = self.seen.iter().find_map(|e| match e.event {
            Event::Accepted { client: c, .. } if c == client => Some(e.id),
            _ => None,
        })?;
        let events: Vec<LogEvent> = self.seen.iter().filter(|e| e.id == id).cloned().collect();
        let closed = matches!(events.last(), Some(e) if matches!(e.event, Event::Closed { .. }));
        closed.then_some(events)
    }
}

/// The final `Traffic` totals `(up, down)` among `events`.
pub fn traffic(events: &[Event]) -> Option<(u64, u64)> {
    events.iter().rev().find_map(|e| match e {
        Event::Traffic { up, down } => Some((*up, *down)),
        _ => None,
    })
}
