//! `cargo xtask bench`: a load generator that measures any target the same way, out of process
//! (issue 10): `direct` (no proxy, the physical reference), Burrow, tinyproxy, Squid, or the
//! address of any running proxy, alternating each round, on loopback only.
//!
//! Per target and round (a fresh process for the ones the bench starts):
//!
//! 1. memory: resident KiB idle, then per tunnel with 1,000 and 5,000 idle tunnels held;
//! 2. handshake: latency p50/p99 of 2,000 sequential CONNECT tunnels (direct: TCP connect);
//! 3. rate: handshakes per second with 64 concurrent clients;
//! 4. upload, download, echo: one tunnel moving 1 GiB, MiB/s;
//! 5. pingpong: 1,000 tunnels doing 64-byte ping-pongs, ops/s and RTT p50/p99;
//! 6. forward: plain-HTTP GETs over keep-alive connections, requests/s;
//! 7. for the targets it started, the target's CPU time per unit of work in phases 3 to 6:
//!    on a shared machine rates follow the CPU share each process gets, while CPU per operation
//!    stays put, so these are the figures to compare builds with there.
//!
//! Then one table of the medians, with Burrow's ratio to direct and to the best peer. It is a
//! benchmark: nothing passes or fails on a figure. Every phase is bounded by its counts and a
//! deadline ([`counts::Counts::phase_limit`]). The origins run in this process, and on a small
//! machine this process competes with the target for CPU, the same for every target.

mod args;
mod client;
mod counts;
mod figures;
mod origin;
mod peers;
mod phases;
mod procfs;
mod stats;
mod table;
mod targets;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::args::{Args, TargetSpec};
use crate::client::{bounded, open_mode};
use crate::counts::Counts;
use crate::figures::{Figure, Phase};
use crate::table::{number, Column, Role, Table};

/// Pause between two targets, so one's closing connections do not load the next one's start.
const BETWEEN_TARGETS: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(args) if args.help => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(args) => args,
        Err(e) => {
            eprintln!("bench: {e:#}\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    let runtime = match burrow_tests::tool_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(bench(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn bench(args: Args) -> Result<()> {
    let counts = Counts::new(args.quick);
    prepare(&args, &counts);
    let dir = work_dir(&args)?;
    let origins = origin::start().await?;
    let columns = args
        .targets
        .iter()
        .map(|t| Column {
            name: t.name(),
            role: match t {
                TargetSpec::Direct => Role::Direct,
                TargetSpec::Burrow => Role::Burrow,
                _ => Role::Peer,
            },
        })
        .collect();
    let mut table = Table::new(columns);
    println!(
        "bench: {} round(s) of {}; phases {}; logs and configs in {}{}",
        args.rounds,
        args.targets
            .iter()
            .map(TargetSpec::name)
            .collect::<Vec<_>>()
            .join(", "),
        args.phases
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", "),
        dir.display(),
        if args.quick { " (--quick)" } else { "" },
    );
    let started = Instant::now();
    let mut failures = 0;
    for round in 1..=args.rounds {
        for (column, spec) in args.targets.iter().enumerate() {
            println!("round {round}/{}: {}", args.rounds, spec.name());
            match measure(
                spec, column, round, &args, &dir, &counts, origins, &mut table,
            )
            .await
            {
                Ok(failed) => failures += failed,
                Err(e) => {
                    failures += 1;
                    println!("  {}: {e:#}", spec.name());
                }
            }
            tokio::time::sleep(BETWEEN_TARGETS).await;
        }
    }
    println!(
        "\nMedians of {} round(s), {:.0} s in all{}:\n",
        args.rounds,
        started.elapsed().as_secs_f64(),
        if args.quick { ", --quick counts" } else { "" }
    );
    print!("{}", table.render(|f| label(f, &counts)));
    // Configs and logs are worth keeping when asked for or when something failed; otherwise,
    // in /dev/shm, they only hold memory.
    if failures > 0 {
        println!(
            "\n{failures} target start(s) or phase(s) failed (above); logs kept in {}",
            dir.display()
        );
    } else if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// One target in one round: start it, check a tunnel works, run every phase, stop it.
/// Returns how many phases failed (each is reported as it fails).
#[allow(clippy::too_many_arguments)]
async fn measure(
    spec: &TargetSpec,
    column: usize,
    round: usize,
    args: &Args,
    dir: &Path,
    counts: &Counts,
    origins: origin::Origins,
    table: &mut Table,
) -> Result<usize> {
    let running = targets::start(spec, args, dir, round).await?;
    // A target that cannot carry one byte would fail every phase; say so once.
    let mut s = open_mode(running.via, origins.bytes, origin::mode::ECHO, None)
        .await
        .context("a first tunnel")?;
    bounded("first tunnel write", s.write_all(b"x")).await?;
    bounded("first tunnel echo", s.read_exact(&mut [0u8; 1])).await?;
    drop(s);
    let ctx = phases::Ctx {
        via: running.via,
        origins,
        pid: running.pid,
        counts: counts.clone(),
    };
    let mut failed = 0;
    for &phase in &args.phases {
        if phase == Phase::Memory && ctx.pid.is_none() {
            continue;
        }
        let at = Instant::now();
        match phases::run(phase, &ctx).await {
            Ok(figures) => {
                let shown: Vec<String> = figures
                    .iter()
                    .map(|&(f, v)| format!("{} {}", short(f), number(v, f.decimals())))
                    .collect();
                println!(
                    "  {:<9} {}  ({:.1} s)",
                    phase.name(),
                    shown.join(", "),
                    at.elapsed().as_secs_f64()
                );
                for (f, v) in figures {
                    table.add(column, f, v);
                }
            }
            Err(e) => {
                failed += 1;
                println!("  {:<9} failed: {e:#}", phase.name());
            }
        }
    }
    if !running.stop().await? {
        println!("  (it did not stop on SIGTERM; killed)");
    }
    Ok(failed)
}

/// Raises the descriptor limit (the memory phase holds two per tunnel here) and, in the
/// bench's private network namespace, widens the ephemeral port range: thousands of
/// connections per phase, times several targets, leave many ports in TIME_WAIT.
fn prepare(args: &Args, counts: &Counts) {
    // Each held tunnel is two descriptors here: the client's end and the origin's.
    let needed = 2 * counts.idle_many as u64 + 1_000;
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) if n < needed => {
            println!(
                "bench: only {n} descriptors allowed, {needed} needed; the memory phase will fail"
            )
        }
        Ok(_) => {}
        Err(e) => println!("bench: cannot raise the descriptor limit: {e}"),
    }
    if args.tune_netns {
        for (file, value) in [
            ("/proc/sys/net/ipv4/ip_local_port_range", "10000 65000"),
            ("/proc/sys/net/ipv4/tcp_tw_reuse", "1"),
        ] {
            if let Err(e) = std::fs::write(file, value) {
                println!("bench: cannot write {file}: {e}");
            }
        }
    }
}

/// The run's directory: `--dir`, or a fresh one under the temp dir. Squid runs as its own user
/// and writes its logs here, so the directory is open to all.
fn work_dir(args: &Args) -> Result<PathBuf> {
    // On tmpfs when there is one: tinyproxy fsyncs its log after every line, and on a shared
    // disk that, not tinyproxy, would be measured. Every proxy still does its logging work.
    let name = format!("burrow-bench-{}", std::process::id());
    let shm = Path::new("/dev/shm");
    let dir = args.dir.clone().unwrap_or_else(|| {
        if shm.is_dir() {
            shm.join(name)
        } else {
            std::env::temp_dir().join(name)
        }
    });
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
    Ok(dir)
}

/// A figure's row label, with the counts it was measured with.
fn label(f: Figure, c: &Counts) -> String {
    let n = |v: usize| number(v as f64, 0);
    let mib = c.bytes >> 20;
    match f {
        Figure::HandshakeP50 => {
            format!("CONNECT handshake p50, µs ({} sequential)", n(c.handshakes))
        }
        Figure::HandshakeP99 => {
            format!("CONNECT handshake p99, µs ({} sequential)", n(c.handshakes))
        }
        Figure::HandshakeRate => format!("handshakes/s, {} concurrent", c.rate_clients),
        Figure::Upload => format!("one tunnel, upload MiB/s ({mib} MiB)"),
        Figure::Download => format!("one tunnel, download MiB/s ({mib} MiB)"),
        Figure::Echo => format!("one tunnel, echo MiB/s each way ({mib} MiB)"),
        Figure::PingPongOps => format!("{} tunnels × 64 B ping-pong, ops/s", n(c.pingpong_tunnels)),
        Figure::PingPongP50 => format!("ping-pong RTT p50, µs ({} tunnels)", n(c.pingpong_tunnels)),
        Figure::PingPongP99 => format!("ping-pong RTT p99, µs ({} tunnels)", n(c.pingpong_tunnels)),
        Figure::RssIdle => "resident KiB, idle".into(),
        Figure::KibPerTunnelFew => format!("resident KiB per idle tunnel, {} held", n(c.idle_few)),
        Figure::KibPerTunnelMany => {
            format!("resident KiB per idle tunnel, {} held", n(c.idle_many))
        }
        Figure::ForwardRate => format!("HTTP forwarding req/s, {} keep-alive", c.forward_conns),
        Figure::CpuPerHandshake => "target CPU µs per handshake (rate phase)".into(),
        Figure::CpuPerGibUp => "target CPU ms per GiB, upload".into(),
        Figure::CpuPerGibDown => "target CPU ms per GiB, download".into(),
        Figure::CpuPerGibEcho => "target CPU ms per GiB, echo (both ways)".into(),
        Figure::CpuPerPingPong => "target CPU µs per ping-pong".into(),
        Figure::CpuPerRequest => "target CPU µs per forwarded request".into(),
    }
}

/// A figure's name in the progress lines.
fn short(f: Figure) -> &'static str {
    match f {
        Figure::HandshakeP50 => "p50 µs",
        Figure::HandshakeP99 => "p99 µs",
        Figure::HandshakeRate => "per s",
        Figure::Upload | Figure::Download | Figure::Echo => "MiB/s",
        Figure::PingPongOps => "ops/s",
        Figure::PingPongP50 => "p50 µs",
        Figure::PingPongP99 => "p99 µs",
        Figure::RssIdle => "idle KiB",
        Figure::KibPerTunnelFew => "KiB/tunnel (few)",
        Figure::KibPerTunnelMany => "KiB/tunnel (many)",
        Figure::ForwardRate => "req/s",
        Figure::CpuPerHandshake | Figure::CpuPerPingPong | Figure::CpuPerRequest => "CPU µs/op",
        Figure::CpuPerGibUp | Figure::CpuPerGibDown | Figure::CpuPerGibEcho => "CPU ms/GiB",
    }
}
