//! Feeding the access log from the engine's event channel, and making up
//! for events the channel dropped because the log fell behind.

use std::time::Duration;

use burrow_core::log::LogEvent;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

use super::{AccessLog, Suspects};

/// How long the pump lets events gather once it is busy. Woken for every
/// event, it cost about 60 µs of CPU per CONNECT handshake (each wake of its
/// task also wakes an idle runtime worker to steal it): a quarter of the
/// engine's handshake cost. Waiting a tick while busy, it wakes at most 100
/// times a second under load, still at once for the first event after a
/// quiet spell, and never while idle. 10 ms of events at 5,000 handshakes a
/// second (about 400) fit well in the engine's event channel.
pub(super) const TICK: Duration = Duration::from_millis(10);

/// What a [`pump`] saw go wrong, for the report at exit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pumped {
    /// Events the channel dropped before the log read them.
    pub lost_events: u64,
    /// Connections logged as `closed (events lost)`: their end was among
    /// the lost events.
    pub closed_unknown: u64,
}

/// A loss being reconciled: the records that may have lost their `Closed`,
/// and how many events must still be read before every event sent before
/// the loss was noticed has been read (or lost as well).
struct Reconciling {
    suspects: Suspects,
    left: usize,
}

/// Feeds every event from `rx` into `log` and passes each finished
/// connection's line to `out`, until the channel closes. While events keep
/// coming it reads them a [`TICK`] at a time.
///
/// When the channel reports lost events, `open_ids` (the engine's
/// `Running::open_connections`) says which connections are still open;
/// once the events queued at that moment have been read, every record whose
/// connection had ended and whose `Closed` never came is written as
/// `closed (events lost)`. When the channel closes, no connection is left,
/// so every record still open is written that way too.
pub async fn pump(
    mut rx: broadcast::Receiver<LogEvent>,
    mut log: AccessLog,
    open_ids: impl Fn() -> Vec<u64>,
    mut out: impl FnMut(String),
) -> Pumped {
    let mut pumped = Pumped::default();
    let mut reconciling: Option<Reconciling> = None;
    // Events were read since the last tick.
    let mut busy = false;
    loop {
        let next = match rx.try_recv() {
            Ok(event) => Ok(event),
            Err(TryRecvError::Empty) if busy => {
                busy = false;
                tokio::time::sleep(TICK).await;
                continue;
            }
            Err(TryRecvError::Empty) => rx.recv().await,
            Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
            Err(TryRecvError::Closed) => Err(RecvError::Closed),
        };
        busy = true;
        match next {
            Ok(event) => {
                if let Some(line) = log.apply(&event) {
                    out(line);
                }
                if let Some(r) = &mut reconciling {
                    r.left = r.left.saturating_sub(1);
                }
            }
            Err(RecvError::Lagged(n)) => {
                pumped.lost_events += n;
                tracing::warn!("the access log fell behind and lost {n} events; reconciling");
                // The open list first, then the queue's length: every
                // `Closed` sent before the list was taken is then among the
                // next `left` events, or lost.
                let suspects = log.suspects(&open_ids());
                let left = rx.len();
                match &mut reconciling {
                    Some(r) => {
                        r.suspects.extend(suspects);
                        r.left = left;
                    }
                    None => reconciling = Some(Reconciling { suspects, left }),
                }
            }
            Err(RecvError::Closed) => break,
        }
        if let Some(r) = reconciling.take_if(|r| r.left == 0) {
            for line in log.close_lost(r.suspects) {
                pumped.closed_unknown += 1;
                out(line);
            }
        }
    }
    for line in log.close_all() {
        pumped.closed_unknown += 1;
        out(line);
    }
    pumped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access_log::Format;
    use burrow_core::log::{CloseReason, Event};
    use tokio::sync::mpsc;

    fn send(tx: &broadcast::Sender<LogEvent>, id: u64, event: Event) {
        tx.send(LogEvent {
            id,
            at_ms: 0,
            event,
        })
        .unwrap();
    }

    fn accepted() -> Event {
        Event::Accepted {
            client: "127.0.0.1:40000".parse().unwrap(),
            listener: "127.0.0.1:8080".parse().unwrap(),
        }
    }

    fn closed() -> Event {
        Event::Closed {
            reason: CloseReason::ClientFin,
        }
    }

    /// The words after a readable line's duration: how the connection ended.
    fn ending(line: &str) -> &str {
        line.rsplit(" s ").next().unwrap_or_default()
    }

    #[tokio::test]
    async fn lost_closes_are_reconciled_with_the_engines_open_list() {
        let (tx, rx) = broadcast::channel(8);
        let (lines_tx, mut lines) = mpsc::unbounded_channel();
        // Connections 1 and 2 end while the log is behind; 3 ends too, but
        // its Closed is still queued when the loss is noticed.
        let pump = tokio::spawn(pump(
            rx,
            AccessLog::new(Format::Json),
            Vec::new,
            move |line| {
                let _ = lines_tx.send(line);
            },
        ));
        for id in 1..=3 {
            send(&tx, id, accepted());
        }
        // A connection that closes at once: once its line is out, the pump
        // has read everything before it.
        send(&tx, 9, accepted());
        send(&tx, 9, closed());
        let first = lines.recv().await.unwrap();
        assert!(first.contains("\"id\":9"), "{first}");

        // Ten events into a channel of eight, with the pump not reading:
        // the two Closed events go.
        send(&tx, 1, closed());
        send(&tx, 2, closed());
        for _ in 0..7 {
            send(&tx, 3, Event::Traffic { up: 1, down: 1 });
        }
        send(&tx, 3, closed());
        drop(tx);

        let pumped = pump.await.unwrap();
        assert_eq!(
            pumped,
            Pumped {
                lost_events: 2,
                closed_unknown: 2
            }
        );
        let mut rest = Vec::new();
        while let Ok(line) = lines.try_recv() {
            let r: burrow_core::log::ConnectionRecord = serde_json::from_str(&line).unwrap();
            rest.push((r.id, r.close));
        }
        assert_eq!(
            rest,
            [
                (3, Some(CloseReason::ClientFin)),
                (1, Some(CloseReason::Unknown)),
                (2, Some(CloseReason::Unknown)),
            ]
        );
    }

    #[tokio::test]
    async fn a_connection_still_open_after_a_loss_is_not_closed() {
        let (tx, rx) = broadcast::channel(2);
        let (lines_tx, mut lines) = mpsc::unbounded_channel();
        let pump = tokio::spawn(pump(
            rx,
            AccessLog::new(Format::Text),
            || vec![1],
            move |line| {
                let _ = lines_tx.send(line);
            },
        ));
        send(&tx, 1, accepted());
        send(&tx, 9, closed());
        lines.recv().await.unwrap();
        for _ in 0..5 {
            send(&tx, 1, Event::Traffic { up: 1, down: 1 });
        }
        send(&tx, 9, closed());
        // The pump has noticed the loss and caught up; 1 is still open.
        let line = lines.recv().await.unwrap();
        assert!(line.contains(" - - - "), "connection 9: {line}");
        send(&tx, 1, closed());
        let line = lines.recv().await.unwrap();
        assert_eq!(ending(&line), "client closed", "{line}");
        drop(tx);
        let pumped = pump.await.unwrap();
        assert_eq!(pumped.closed_unknown, 0);
        assert!(pumped.lost_events > 0);
    }
}
