//! What the clients saw: per kind, connections opened, completed, failed as expected and
//! unexpected, and the checked bytes; plus completions per second (for throughput while the log
//! pipe is stalled) and the spread of the waits the soak times (idle closes, 408s).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::plan::Kind;

/// Bytes and requests one completed operation moved, all checked.
#[derive(Clone, Copy, Debug, Default)]
pub struct Moved {
    /// Client → origin.
    pub up: u64,
    /// Origin → client.
    pub down: u64,
    /// Forwarded requests answered.
    pub requests: u64,
}

/// How one connection (or operation) ended, judged by its client.
#[derive(Debug)]
pub enum Outcome {
    /// Did what it set out to do, every byte checked.
    Completed(Moved),
    /// Refused or closed the way it should be (a garbage client's 400, a slowloris' 408).
    Expected(&'static str),
    /// Anything else.
    Unexpected(String),
    /// Bytes came back different (a [`Mismatch`]): unexpected, and counted on its own.
    Corrupted(String),
}

/// A payload that came back different: the one failure that must never happen.
#[derive(Debug)]
pub struct Mismatch {
    /// The first differing offset.
    pub at: usize,
    /// The payload's length.
    pub len: usize,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bytes differ at offset {} of {}", self.at, self.len)
    }
}

impl std::error::Error for Mismatch {}

/// One kind's counts.
#[derive(Clone, Debug, Default)]
pub struct KindStats {
    /// Connections opened.
    pub opened: u64,
    /// Completed.
    pub completed: u64,
    /// Ended as expected, by how.
    pub expected: BTreeMap<&'static str, u64>,
    /// Ended otherwise.
    pub unexpected: u64,
    /// Of those, payloads that came back different.
    pub mismatches: u64,
    /// Checked bytes each way.
    pub up: u64,
    pub down: u64,
    /// Forwarded requests answered.
    pub requests: u64,
    /// The first few distinct unexpected endings with how often each came, for the report.
    pub examples: Vec<(String, u64)>,
}

impl KindStats {
    /// Keeps `what` as an example, or counts it again if it is one already.
    fn example(&mut self, what: String) {
        if let Some((_, n)) = self.examples.iter_mut().find(|(w, _)| *w == what) {
            *n += 1;
        } else if self.examples.len() < EXAMPLES {
            self.examples.push((what, 1));
        }
    }

    /// Expected endings in all.
    pub fn expected_total(&self) -> u64 {
        self.expected.values().sum()
    }
}

/// Distinct unexpected endings kept per kind for the report.
const EXAMPLES: usize = 5;

/// Shortest, longest and count of one timed wait.
#[derive(Clone, Copy, Debug)]
pub struct Spread {
    pub min: Duration,
    pub max: Duration,
    pub count: u64,
}

/// Everything the clients recorded.
pub struct Stats {
    start: Instant,
    kinds: Mutex<BTreeMap<Kind, KindStats>>,
    per_second: Mutex<Vec<u64>>,
    spreads: Mutex<BTreeMap<&'static str, Spread>>,
}

impl Stats {
    /// Empty, counting seconds from `start`.
    pub fn new(start: Instant) -> Stats {
        Stats {
            start,
            kinds: Mutex::default(),
            per_second: Mutex::default(),
            spreads: Mutex::default(),
        }
    }

    /// Time since the soak started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// A connection of `kind` is being opened.
    pub fn opened(&self, kind: Kind) {
        self.kinds
            .lock()
            .expect("stats lock")
            .entry(kind)
            .or_default()
            .opened += 1;
    }

    /// A connection of `kind` ended with `outcome`.
    pub fn record(&self, kind: Kind, outcome: Outcome) {
        {
            let mut kinds = self.kinds.lock().expect("stats lock");
            let k = kinds.entry(kind).or_default();
            match outcome {
                Outcome::Completed(m) => {
                    k.completed += 1;
                    k.up += m.up;
                    k.down += m.down;
                    k.requests += m.requests;
                }
                Outcome::Expected(how) => *k.expected.entry(how).or_default() += 1,
                Outcome::Corrupted(what) => {
                    k.unexpected += 1;
                    k.mismatches += 1;
                    k.example(what);
                }
                Outcome::Unexpected(what) => {
                    k.unexpected += 1;
                    k.example(what);
                }
            }
        }
        let second = self.elapsed().as_secs() as usize;
        let mut per_second = self.per_second.lock().expect("stats lock");
        if per_second.len() <= second {
            per_second.resize(second + 1, 0);
        }
        per_second[second] += 1;
    }

    /// Notes how long one `what` took.
    pub fn time(&self, what: &'static str, took: Duration) {
        let mut spreads = self.spreads.lock().expect("stats lock");
        let s = spreads.entry(what).or_insert(Spread {
            min: took,
            max: took,
            count: 0,
        });
        s.min = s.min.min(took);
        s.max = s.max.max(took);
        s.count += 1;
    }

    /// Every kind's counts.
    pub fn kinds(&self) -> BTreeMap<Kind, KindStats> {
        self.kinds.lock().expect("stats lock").clone()
    }

    /// Every timed wait.
    pub fn spreads(&self) -> BTreeMap<&'static str, Spread> {
        self.spreads.lock().expect("stats lock").clone()
    }

    /// Connections ended per second over whole seconds in `[from, to)` (since the start), and
    /// the fewest in any one of those seconds.
    pub fn rate(&self, from: Duration, to: Duration) -> (f64, u64) {
        let per_second = self.per_second.lock().expect("stats lock");
        let (a, b) = (from.as_secs_f64().ceil() as usize, to.as_secs() as usize);
        if b <= a {
            return (0.0, 0);
        }
        let seconds: Vec<u64> = (a..b)
            .map(|s| per_second.get(s).copied().unwrap_or(0))
            .collect();
        let total: u64 = seconds.iter().sum();
        (
            total as f64 / seconds.len() as f64,
            seconds.iter().copied().min().unwrap_or(0),
        )
    }
}
