//! The `burrow` binary as the soak's child: started with a settings file on `127.0.0.1:0`, its
//! stdout (the access log) read by a thread the soak can pause to stall the pipe, its stderr kept
//! for the report, and ended by its PID: SIGTERM, then SIGKILL if it does not stop.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::access_log::Tally;

/// How long the child may take to say where it listens.
const START_LIMIT: Duration = Duration::from_secs(15);
/// How long it may take to stop after SIGTERM (its shutdown grace is 2 s).
const STOP_LIMIT: Duration = Duration::from_secs(10);
/// Stderr lines kept; the rest are counted. A misbehaving child must not grow the soak.
const STDERR_KEPT: usize = 200;

/// The running child.
pub struct Burrow {
    child: Arc<Mutex<Child>>,
    /// Its process id, for `/proc` and for ending it.
    pub pid: u32,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its access log, as read so far.
    pub log: Arc<LogPipe>,
    stderr: Arc<Mutex<Stderr>>,
    stdout_thread: Option<JoinHandle<()>>,
}

/// The reading end of the child's stdout.
#[derive(Debug, Default)]
pub struct LogPipe {
    paused: AtomicBool,
    /// The lines read, tallied.
    pub tally: Mutex<Tally>,
}

/// What the child said on stderr.
#[derive(Debug, Default)]
pub struct Stderr {
    /// The first [`STDERR_KEPT`] lines.
    pub lines: Vec<String>,
    /// All lines.
    pub count: u64,
    /// Lines saying the access log fell behind and lost events, and the events they name.
    pub lag_warnings: u64,
    pub lost_events: u64,
}

impl Burrow {
    /// Starts `binary --listen 127.0.0.1:0 --config <config> --json` and waits for its listening
    /// line. An error carries what the child printed, so a refused setting can be recognised.
    pub fn start(binary: &Path, config: &Path) -> Result<Burrow> {
        let mut child = Command::new(binary)
            .args(["--listen", "127.0.0.1:0", "--json", "--config"])
            .arg(config)
            // Plain diagnostics: the lag warning is parsed below.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().context("the child's stdout")?;
        let stderr = child.stderr.take().context("the child's stderr")?;
        let (listening_tx, listening_rx) = mpsc::channel();
        let kept = Arc::new(Mutex::new(Stderr::default()));
        thread::spawn({
            let kept = kept.clone();
            move || read_stderr(stderr, listening_tx, &kept)
        });
        let log = Arc::new(LogPipe::default());
        let stdout_thread = Some(thread::spawn({
            let log = log.clone();
            move || log.run(stdout)
        }));
        let mut burrow = Burrow {
            child: Arc::new(Mutex::new(child)),
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
            stderr: kept,
            stdout_thread,
        };
        match listening_rx.recv_timeout(START_LIMIT) {
            Ok(addr) => {
                burrow.addr = addr;
                Ok(burrow)
            }
            Err(_) => {
                burrow.kill();
                let said = burrow.stderr.lock().expect("stderr lock").lines.join("\n");
                Err(anyhow!("burrow did not start listening: {said}"))
            }
        }
    }

    /// A handle that can end the child from another thread (the soak's watchdog).
    pub fn killer(&self) -> Killer {
        Killer(self.child.clone())
    }

    /// What the child printed on stderr so far.
    pub fn stderr(&self) -> std::sync::MutexGuard<'_, Stderr> {
        self.stderr.lock().expect("stderr lock")
    }

    /// Whether the child is still running.
    pub fn running(&self) -> bool {
        matches!(self.child.lock().expect("child lock").try_wait(), Ok(None))
    }

    /// Stops reading its stdout: once the pipe's buffer is full, its writes block.
    pub fn pause_log(&self) {
        self.log.paused.store(true, Ordering::SeqCst);
    }

    /// Reads its stdout again, draining what queued up.
    pub fn resume_log(&self) {
        self.log.paused.store(false, Ordering::SeqCst);
    }

    /// Asks the child to stop (SIGTERM to its PID), waits for it, and SIGKILLs it if it does not
    /// stop in time; then reads the rest of its log. Returns how it exited.
    pub fn stop(&mut self) -> Result<ExitStatus> {
        self.resume_log();
        let signalled = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("running kill -TERM")?;
        if !signalled.success() {
            bail!("kill -TERM {} failed", self.pid);
        }
        let deadline = Instant::now() + STOP_LIMIT;
        let status = loop {
            if let Some(status) = self.child.lock().expect("child lock").try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                self.kill();
                bail!("burrow did not stop within {STOP_LIMIT:?} of SIGTERM; killed it");
            }
            thread::sleep(Duration::from_millis(50));
        };
        if let Some(reader) = self.stdout_thread.take() {
            let _ = reader.join();
        }
        Ok(status)
    }

    fn kill(&self) {
        Killer(self.child.clone()).kill();
    }
}

impl Drop for Burrow {
    /// However the soak ends, the child does not outlive it.
    fn drop(&mut self) {
        self.kill();
    }
}

/// Ends the child (SIGKILL to its PID, through `Child::kill`) from any thread.
#[derive(Clone)]
pub struct Killer(Arc<Mutex<Child>>);

impl Killer {
    /// Kills and reaps the child unless it has exited already.
    pub fn kill(&self) {
        let mut child = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(child.try_wait(), Ok(None)) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl LogPipe {
    /// Reads lines until the child closes its stdout; while paused, reads nothing.
    fn run(&self, stdout: ChildStdout) {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            if self.paused.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(20));
                continue;
            }
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => self.tally.lock().expect("tally lock").add(line.trim_end()),
            }
        }
    }
}

/// Reads stderr: the first `listening on ADDR` goes to `listening`, the rest is kept.
fn read_stderr(stderr: impl Read, listening: mpsc::Sender<SocketAddr>, kept: &Mutex<Stderr>) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { return };
        let line = strip_ansi(&line);
        if let Some(addr) = line
            .split("listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
        {
            let _ = listening.send(addr);
            continue;
        }
        let mut kept = kept.lock().expect("stderr lock");
        kept.count += 1;
        if line.contains("lost events") {
            kept.lag_warnings += 1;
            kept.lost_events += missed(&line);
        }
        if kept.lines.len() < STDERR_KEPT {
            kept.lines.push(line);
        }
    }
}

/// `line` without ANSI colour sequences (`ESC [ ... m`), in case the child colours anyway.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|&c| c.is_ascii_alphabetic());
        } else {
            out.push(c);
        }
    }
    out
}

/// The `missed=N` of a lag warning (0 if absent).
fn missed(line: &str) -> u64 {
    line.split("missed=")
        .nth(1)
        .and_then(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lag_warnings() {
        let line = "2026-01-01T00:00:00Z  WARN burrow: the access log fell behind and lost events missed=37";
        assert_eq!(missed(line), 37);
        assert_eq!(missed("no count"), 0);
        assert_eq!(
            strip_ansi("\u{1b}[3mmissed\u{1b}[0m\u{1b}[2m=\u{1b}[0m5"),
            "missed=5"
        );
    }
}
