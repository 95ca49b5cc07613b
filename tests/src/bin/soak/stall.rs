//! The stalled log pipe: the soak stops reading the proxy's stdout for a while, as a paused
//! terminal or a stuck log shipper would, and meanwhile times a small tunnel every 100 ms (the
//! probe). The proxy must keep serving (issue 9, finding 5: the access log was written
//! synchronously from a runtime task, so a full pipe stopped a worker thread).

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::child::Burrow;
use crate::net::Env;
use crate::payload::Rng;
use crate::plan::Kind;
use crate::procfs::pipe_writers;
use crate::stats::Outcome;
use crate::tunnel;

/// Most time one probe may take before it counts as "the proxy did not serve".
pub const PROBE_LIMIT: Duration = Duration::from_secs(5);
/// Pause between probes.
const PROBE_EVERY: Duration = Duration::from_millis(100);

/// One probe: when it started (since the soak started) and how long it took, or why it failed.
#[derive(Clone, Debug)]
pub struct Sample {
    pub at: Duration,
    pub took: Duration,
    pub failure: Option<String>,
}

/// Every probe so far.
#[derive(Default)]
pub struct Probes(Mutex<Vec<Sample>>);

/// What the stall did.
#[derive(Clone, Debug, Default)]
pub struct Stall {
    /// When reading stopped and started again (since the soak started).
    pub paused_at: Duration,
    pub resumed_at: Duration,
    /// When a thread of the proxy was first seen blocked writing to the pipe.
    pub full_at: Option<Duration>,
    /// The names of the threads seen blocked there.
    pub writers: BTreeSet<String>,
    /// For how long a runtime worker was seen blocked there (to the nearest poll).
    pub worker_blocked: Duration,
}

/// Tokio names its runtime threads `tokio-runtime-worker` (`tokio-rt-worker` in newer
/// versions; the kernel keeps 15 bytes). A thread of this name blocked on the log pipe is a
/// runtime worker not running tasks: finding 5. A dedicated log writer thread must have its own
/// name (`std::thread::Builder::name`), or it inherits its spawner's, which may be a worker's.
pub fn is_runtime_worker(name: &str) -> bool {
    name.starts_with("tokio-")
}

/// Probes summed over a window.
#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    pub count: usize,
    pub failed: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Probes {
    /// Probes until `until`.
    pub async fn run(&self, env: &Env, until: Instant, seed: u64) {
        let mut rng = Rng::new(seed);
        while Instant::now() < until {
            let at = env.stats.elapsed();
            env.stats.opened(Kind::Probe);
            let result =
                tokio::time::timeout(PROBE_LIMIT, tunnel::run(Kind::Probe, env, &mut rng)).await;
            let took = env.stats.elapsed() - at;
            let outcome = match result {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(e)) => Outcome::Unexpected(format!("{e:#}")),
                Err(_) => Outcome::Unexpected(format!("no answer within {PROBE_LIMIT:?}")),
            };
            let failure = match &outcome {
                Outcome::Completed(_) => None,
                other => Some(format!("{other:?}")),
            };
            env.stats.record(Kind::Probe, outcome);
            self.0
                .lock()
                .expect("probes lock")
                .push(Sample { at, took, failure });
            tokio::time::sleep(PROBE_EVERY).await;
        }
    }

    /// The `n` slowest probes, slowest first.
    pub fn slowest(&self, n: usize) -> Vec<Sample> {
        let mut samples = self.0.lock().expect("probes lock").clone();
        samples.sort_by_key(|s| std::cmp::Reverse(s.took));
        samples.truncate(n);
        samples
    }

    /// The probes that ran during `[from, to)`, even in part: one that started before a stall
    /// and hung in it counts.
    pub fn summary(&self, from: Duration, to: Duration) -> Summary {
        let samples = self.0.lock().expect("probes lock");
        let window: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.at < to && s.at + s.took >= from)
            .collect();
        let mut took: Vec<Duration> = window.iter().map(|s| s.took).collect();
        took.sort();
        let at = |q: f64| {
            took.get(((took.len() as f64 * q) as usize).min(took.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        Summary {
            count: window.len(),
            failed: window.iter().filter(|s| s.failure.is_some()).count(),
            p50: at(0.5),
            p99: at(0.99),
            max: took.last().copied().unwrap_or_default(),
        }
    }
}

/// Waits until `at` (since the soak started), stops reading the child's stdout for `stall_for`,
/// watching for its threads to block on the full pipe, then reads again.
pub async fn stall(burrow: &Burrow, env: &Env, at: Duration, stall_for: Duration) -> Stall {
    tokio::time::sleep(at.saturating_sub(env.stats.elapsed())).await;
    burrow.pause_log();
    let mut stall = Stall {
        paused_at: env.stats.elapsed(),
        ..Stall::default()
    };
    let until = stall.paused_at + stall_for;
    // When a worker was last seen blocked: the time to the next sighting counts as blocked.
    let mut blocked_since: Option<Duration> = None;
    while env.stats.elapsed() < until {
        let writers = pipe_writers(burrow.pid);
        let now = env.stats.elapsed();
        if !writers.is_empty() {
            stall.full_at.get_or_insert(now);
        }
        if writers.iter().any(|w| is_runtime_worker(w)) {
            stall.worker_blocked += blocked_since.map_or(Duration::ZERO, |since| now - since);
            blocked_since = Some(now);
        } else {
            blocked_since = None;
        }
        stall.writers.extend(writers);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    burrow.resume_log();
    stall.resumed_at = env.stats.elapsed();
    stall
}
