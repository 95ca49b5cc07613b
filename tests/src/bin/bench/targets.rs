//! Starting and stopping the targets: Burrow, tinyproxy and Squid run as children of the bench,
//! each from a fresh start every round (so each memory reading is of a fresh process), on a
//! port picked here, with its logs in the run's directory. Ended by PID: SIGTERM, then SIGKILL.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::net::TcpStream;

use crate::args::{Args, TargetSpec};
use crate::client::Via;
use crate::peers;

/// How long a proxy may take to accept connections after it starts (Squid takes a second).
const START_LIMIT: Duration = Duration::from_secs(20);
/// How long it may take to exit after SIGTERM (Burrow's grace is 2 s, Squid's is set to 1 s).
const STOP_LIMIT: Duration = Duration::from_secs(10);
/// How much of a failed child's stderr an error shows.
const STDERR_TAIL: usize = 2000;

/// A target ready for load.
pub struct Running {
    /// How clients reach the origin through it.
    pub via: Via,
    /// The process to read memory from, when the bench started it.
    pub pid: Option<u32>,
    child: Option<Child>,
    stderr: Option<PathBuf>,
}

/// Starts `spec` for round `round`, writing its config and logs in `dir`.
pub async fn start(spec: &TargetSpec, args: &Args, dir: &Path, round: usize) -> Result<Running> {
    let (program, name) = match spec {
        TargetSpec::Direct => return Ok(external(Via::Direct)),
        TargetSpec::Addr(addr) => return Ok(external(Via::Proxy(*addr))),
        TargetSpec::Burrow => (&args.burrow_bin, "burrow"),
        TargetSpec::BurrowAt(path) => (path, "burrow-at"),
        TargetSpec::Tinyproxy => (&args.tinyproxy_bin, "tinyproxy"),
        TargetSpec::Squid => (&args.squid_bin, "squid"),
    };
    let port = free_port()?;
    let stem = dir.join(format!("{name}-r{round}"));
    let config = stem.with_extension("conf");
    let (text, argv): (String, Vec<String>) = match spec {
        TargetSpec::Burrow | TargetSpec::BurrowAt(_) => (
            peers::burrow(port),
            vec!["--config".into(), config.display().to_string()],
        ),
        TargetSpec::Tinyproxy => (
            peers::tinyproxy(port, dir),
            // -d: stay in the foreground, so the PID is the one spawned here.
            vec!["-d".into(), "-c".into(), config.display().to_string()],
        ),
        _ => (
            peers::squid(port, dir),
            // -N: no daemon, no forked kid: one process whose PID is known.
            vec!["-N".into(), "-f".into(), config.display().to_string()],
        ),
    };
    std::fs::write(&config, text).with_context(|| format!("writing {}", config.display()))?;
    let stdout = stem.with_extension("out");
    let stderr = stem.with_extension("err");
    let child = Command::new(program)
        .args(&argv)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(File::create(&stdout)?)
        .stderr(File::create(&stderr)?)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut running = Running {
        via: Via::Proxy(addr),
        pid: Some(child.id()),
        child: Some(child),
        stderr: Some(stderr),
    };
    running.wait_ready(addr).await?;
    Ok(running)
}

/// A target the bench did not start.
fn external(via: Via) -> Running {
    Running {
        via,
        pid: None,
        child: None,
        stderr: None,
    }
}

/// A port nobody listens on now. Another process could take it before the proxy binds it,
/// which the readiness wait would then report; on a private namespace nobody else is there.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

impl Running {
    /// Waits until `addr` accepts a connection, or the child exits, or [`START_LIMIT`].
    async fn wait_ready(&mut self, addr: SocketAddr) -> Result<()> {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if let Some(child) = &mut self.child {
                if let Some(status) = child.try_wait()? {
                    bail!("the proxy exited at start ({status}): {}", self.said());
                }
            }
            if let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr)).await
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the proxy did not listen on {addr} within {START_LIMIT:?}: {}",
                    self.said()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The end of what the child wrote on stderr.
    fn said(&self) -> String {
        let text = self
            .stderr
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        let start = text.len().saturating_sub(STDERR_TAIL);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        text[start..].trim().to_string()
    }

    /// Stops the child, if the bench started one: SIGTERM to its PID, then SIGKILL after
    /// [`STOP_LIMIT`]. Returns whether it stopped on SIGTERM.
    pub async fn stop(mut self) -> Result<bool> {
        let Some(mut child) = self.child.take() else {
            return Ok(true);
        };
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + STOP_LIMIT;
        while Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        Ok(false)
    }
}

impl Drop for Running {
    /// However the bench ends, no child outlives it.
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
