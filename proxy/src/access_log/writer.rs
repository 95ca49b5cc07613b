//! Writing access-log lines without ever making the proxy wait.
//!
//! Lines go through a bounded queue to a thread of their own that writes
//! them out. A paused terminal (Ctrl-S) or a pipe nobody reads blocks that
//! thread only; once the queue is full, new lines are dropped and counted,
//! and the count is reported on stderr: when the output starts taking lines
//! again, every [`REPORT_EVERY`] while it does not, and at exit.

use std::io::{self, BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::pump::TICK;

/// How many lines may wait for the output. A line is one record, and a
/// record holds at most [`burrow_core::log::SHOWN_TARGET`] bytes of target
/// (escaped, up to 4 KiB), so a full queue of readable lines is a few MiB
/// at worst and about 150 KiB for typical lines: enough to ride out a
/// terminal scrolled back for a moment, small enough not to matter.
pub const QUEUE_LINES: usize = 1024;

/// How long the end of the program waits for queued lines to be written
/// before giving them up (a pipe nobody reads must not stop the exit).
pub const DRAIN_AT_EXIT: Duration = Duration::from_secs(2);

/// While lines are being dropped, how often the count is reported.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// The writing thread, and the handle that ends it.
#[derive(Debug)]
pub struct LineWriter {
    lines: Lines,
    done: Receiver<()>,
}

/// Queues lines for a [`LineWriter`]; never waits. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Lines {
    tx: SyncSender<String>,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    /// Lines taken into the queue.
    queued: AtomicU64,
    /// Queued lines the thread has finished with (written or failed).
    handled: AtomicU64,
    /// Lines not written: the queue was full, or the write failed.
    dropped: AtomicU64,
    /// Of `dropped`, those not reported yet.
    unreported: AtomicU64,
    /// When drops were last reported; `None` once the output caught up.
    reported_at: Mutex<Option<Instant>>,
}

impl LineWriter {
    /// Starts a thread writing to `out`, behind a queue of `bound` lines.
    pub fn spawn(out: impl Write + Send + 'static, bound: usize) -> io::Result<LineWriter> {
        let (tx, rx) = mpsc::sync_channel(bound);
        let (done_tx, done) = mpsc::channel();
        let counts = Arc::new(Counts::default());
        let thread_counts = counts.clone();
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || {
                write_lines(out, &rx, &thread_counts);
                let _ = done_tx.send(());
            })?;
        Ok(LineWriter {
            lines: Lines { tx, counts },
            done,
        })
    }

    /// A handle that queues lines.
    pub fn lines(&self) -> Lines {
        self.lines.clone()
    }

    /// Lets the thread write what is queued, for at most `wait` (once every
    /// [`Lines`] handle is gone), and returns how many lines were dropped in
    /// all, counting those still queued when the wait ran out.
    pub fn finish(self, wait: Duration) -> u64 {
        let LineWriter { lines, done } = self;
        let counts = lines.counts.clone();
        drop(lines);
        let unwritten = match done.recv_timeout(wait) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => 0,
            // The thread is stuck in a write; it ends with the process.
            Err(RecvTimeoutError::Timeout) => counts
                .queued
                .load(Ordering::Relaxed)
                .saturating_sub(counts.handled.load(Ordering::Relaxed)),
        };
        counts.dropped.load(Ordering::Relaxed) + unwritten
    }
}

impl Lines {
    /// Queues `line`, or drops and counts it if the queue is full.
    pub fn send(&self, line: String) {
        match self.tx.try_send(line) {
            Ok(()) => {
                self.counts.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counts.drop_lines(1);
                self.counts.report_if_due();
            }
        }
    }

    /// How many lines have been dropped so far.
    pub fn dropped(&self) -> u64 {
        self.counts.dropped.load(Ordering::Relaxed)
    }
}

impl Counts {
    fn drop_lines(&self, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
        self.unreported.fetch_add(n, Ordering::Relaxed);
    }

    /// Reports unreported drops if none were reported for [`REPORT_EVERY`].
    fn report_if_due(&self) {
        // Never wait for the lock: the writing thread holds it a moment only,
        // and the next drop will try again.
        let Ok(mut at) = self.reported_at.try_lock() else {
            return;
        };
        if at.is_some_and(|t| t.elapsed() < REPORT_EVERY) {
            return;
        }
        *at = Some(Instant::now());
        if self.unreported.swap(0, Ordering::Relaxed) > 0 {
            tracing::warn!(
                "the access log output is not being read: {} lines dropped so far",
                self.dropped.load(Ordering::Relaxed)
            );
        }
    }

    /// The output took every queued line: reports what was dropped meanwhile.
    fn caught_up(&self) {
        let Ok(mut at) = self.reported_at.lock() else {
            return;
        };
        *at = None;
        let n = self.unreported.swap(0, Ordering::Relaxed);
        if n > 0 {
            tracing::warn!(
                "the access log output is being read again: {n} more lines were dropped ({} in all)",
                self.dropped.load(Ordering::Relaxed)
            );
        }
    }
}

/// The thread: writes what is queued in batches, flushing after each so
/// someone tailing the output sees lines at once. Like the pump, while lines
/// keep coming it lets them gather for a [`TICK`] between batches: waiting in
/// `recv`, it would be woken (a futex wake and a thread switch) once per line.
/// After a full batch ([`QUEUE_LINES`]) it goes on at once: the queue may be
/// filling faster than a tick's worth of lines.
fn write_lines(out: impl Write, rx: &Receiver<String>, counts: &Counts) {
    let mut out = BufWriter::new(out);
    let mut next_batch = NextBatch::Wait;
    loop {
        let first = match next_batch {
            NextBatch::Wait => match rx.recv() {
                Ok(line) => line,
                Err(_) => return,
            },
            NextBatch::AfterTick | NextBatch::Now => {
                if next_batch == NextBatch::AfterTick {
                    std::thread::sleep(TICK);
                }
                match rx.try_recv() {
                    Ok(line) => line,
                    Err(TryRecvError::Empty) => {
                        next_batch = NextBatch::Wait;
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => return,
                }
            }
        };
        let mut batch = 0u64;
        let mut result = Ok(());
        let mut next = Some(first);
        while let Some(line) = next.take() {
            batch += 1;
            if result.is_ok() {
                result = out
                    .write_all(line.as_bytes())
                    .and_then(|()| out.write_all(b"\n"));
            }
            // A batch ends when the queue is empty, or after a queue's worth
            // so a busy proxy's lines are still flushed promptly.
            if batch < QUEUE_LINES as u64 {
                next = rx.try_recv().ok();
            }
        }
        let result = result.and_then(|()| out.flush());
        if result.is_err() {
            // A closed or broken output: the lines are gone, count them.
            counts.drop_lines(batch);
            // What failed to go out must not be retried before later lines.
            out = BufWriter::new(out.into_parts().0);
        }
        counts.handled.fetch_add(batch, Ordering::Relaxed);
        if result.is_ok() {
            counts.caught_up();
        }
        next_batch = if batch < QUEUE_LINES as u64 {
            NextBatch::AfterTick
        } else {
            NextBatch::Now
        };
    }
}

/// When the writing thread reads its next batch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NextBatch {
    /// Idle: as soon as a line comes.
    Wait,
    /// Busy: after a [`TICK`], with what gathered meanwhile.
    AfterTick,
    /// The last batch was full: at once.
    Now,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::Sender;

    /// An output that takes each write only when the test says so, like a
    /// pipe nobody reads; it tells the test when a write starts and what
    /// it was given.
    struct Stalled {
        go: Receiver<()>,
        entered: Sender<()>,
        seen: Sender<Vec<u8>>,
    }

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _ = self.entered.send(());
            self.go.recv().map_err(|_| io::ErrorKind::BrokenPipe)?;
            let _ = self.seen.send(buf.to_vec());
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct Output {
        go: Sender<()>,
        entered: Receiver<()>,
        seen: Receiver<Vec<u8>>,
    }

    fn stalled(bound: usize) -> (LineWriter, Output) {
        let (go_tx, go) = mpsc::channel();
        let (entered_tx, entered) = mpsc::channel();
        let (seen_tx, seen) = mpsc::channel();
        let out = Stalled {
            go,
            entered: entered_tx,
            seen: seen_tx,
        };
        let writer = LineWriter::spawn(out, bound).unwrap();
        let output = Output {
            go: go_tx,
            entered,
            seen,
        };
        (writer, output)
    }

    const WAIT: Duration = Duration::from_secs(10);

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        let (writer, output) = stalled(4);
        let lines = writer.lines();
        // The thread takes the first line and blocks writing it; four more
        // fill the queue; the rest are dropped at once.
        lines.send("first".into());
        output.entered.recv_timeout(WAIT).unwrap();
        let started = Instant::now();
        for i in 0..100 {
            lines.send(format!("line {i}"));
        }
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(lines.dropped(), 96);
        drop(lines);
        // The output never takes anything: the exit waits its bound only,
        // and the first line and the four queued count as dropped too.
        let started = Instant::now();
        assert_eq!(writer.finish(Duration::from_millis(200)), 101);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn queued_lines_are_written_in_order_and_flushed_at_the_end() {
        let (writer, output) = stalled(8);
        let lines = writer.lines();
        for i in 0..5 {
            lines.send(format!("line {i}"));
        }
        drop(lines);
        for _ in 0..100 {
            let _ = output.go.send(());
        }
        assert_eq!(writer.finish(WAIT), 0);
        let written: Vec<u8> = output.seen.try_iter().flatten().collect();
        assert_eq!(
            String::from_utf8(written).unwrap(),
            "line 0\nline 1\nline 2\nline 3\nline 4\n"
        );
    }

    #[test]
    fn each_batch_is_flushed_before_the_queue_refills() {
        let (writer, output) = stalled(8);
        let lines = writer.lines();
        output.go.send(()).unwrap();
        lines.send("now".into());
        // Seen while the writer is still running: flushed, not held back.
        let got = output.seen.recv_timeout(WAIT).unwrap();
        assert_eq!(got, b"now\n");
        drop(lines);
        drop(output);
        assert_eq!(writer.finish(WAIT), 0);
    }

    #[test]
    fn a_broken_output_counts_its_lines_as_dropped() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let writer = LineWriter::spawn(Broken, 8).unwrap();
        let lines = writer.lines();
        for i in 0..3 {
            lines.send(format!("line {i}"));
        }
        drop(lines);
        assert_eq!(writer.finish(WAIT), 3);
    }
}
