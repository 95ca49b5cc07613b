//! Watching the child from `/proc`: peaks while the load runs, and waiting for it to come to
//! rest (the baseline before the load, the figures after it).

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::origin::Origins;
use crate::procfs::{snapshot, Snapshot};

/// Readings of the child in a row that must show rest before it counts as at rest.
const REST_READINGS: usize = 4;
/// Time between readings while settling.
const SETTLE_EVERY: Duration = Duration::from_millis(250);

/// The highest of each figure seen while the load ran.
#[derive(Clone, Copy, Debug, Default)]
pub struct Peaks {
    /// Each field the highest it was.
    pub max: Snapshot,
    /// Most connections the origins held at once.
    pub origin_open: i64,
}

/// The child at rest, or as close as it came.
#[derive(Clone, Copy, Debug)]
pub struct Rest {
    /// The last reading.
    pub snap: Snapshot,
    /// How long it took to get there.
    pub took: Duration,
    /// Whether it did come to rest within the limit.
    pub reached: bool,
    /// Connections the origins still held.
    pub origin_open: i64,
}

/// Reads the child every 500 ms until `until`.
pub async fn peaks(pid: u32, origins: &Origins, until: Instant) -> Result<Peaks> {
    let mut p = Peaks::default();
    while Instant::now() < until {
        let s = snapshot(pid)?;
        let m = &mut p.max;
        m.fds = m.fds.max(s.fds);
        m.sockets = m.sockets.max(s.sockets);
        m.established = m.established.max(s.established);
        m.listening = m.listening.max(s.listening);
        m.close_wait = m.close_wait.max(s.close_wait);
        m.threads = m.threads.max(s.threads);
        m.rss_kib = m.rss_kib.max(s.rss_kib);
        m.hwm_kib = m.hwm_kib.max(s.hwm_kib);
        p.origin_open = p.origin_open.max(origins.open());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(p)
}

/// Waits up to `limit` for the child to be at rest: no connection on it (nothing ESTABLISHED,
/// nothing in CLOSE_WAIT), none on the origins, and its descriptors steady (without a
/// `baseline`) or back to the baseline's (with one), in [`REST_READINGS`] readings in a row.
pub async fn settle(
    pid: u32,
    origins: &Origins,
    limit: Duration,
    baseline: Option<&Snapshot>,
) -> Result<Rest> {
    let start = Instant::now();
    let mut previous: Option<Snapshot> = None;
    let mut streak = 0;
    loop {
        let snap = snapshot(pid)?;
        let steady = match (baseline, previous) {
            (Some(b), _) => snap.fds <= b.fds && snap.sockets <= b.sockets,
            (None, Some(p)) => p.fds == snap.fds,
            (None, None) => false,
        };
        let origin_open = origins.open();
        let quiet = snap.established == 0 && snap.close_wait == 0 && origin_open == 0;
        streak = if steady && quiet { streak + 1 } else { 0 };
        let took = start.elapsed();
        if streak >= REST_READINGS || took > limit {
            return Ok(Rest {
                snap,
                took,
                reached: streak >= REST_READINGS,
                origin_open,
            });
        }
        previous = Some(snap);
        tokio::time::sleep(SETTLE_EVERY).await;
    }
}
