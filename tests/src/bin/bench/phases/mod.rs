//! The phases of a round, each measuring one target the same way, each bounded by its counts
//! and by [`Counts::phase_limit`].

mod forward;
mod handshake;
mod memory;
mod pingpong;
mod rate;
mod throughput;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use crate::client::{bounded, open_mode, Via};
use crate::counts::Counts;
use crate::figures::{Figure, Phase};
use crate::origin::Origins;
use crate::procfs::tree_cpu_secs;

/// What every phase needs to know about the target and the origins.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// How to reach the origins through the target.
    pub via: Via,
    /// The origins.
    pub origins: Origins,
    /// The target's process, for memory; `None` for direct and external proxies.
    pub pid: Option<u32>,
    /// How much work to do.
    pub counts: Counts,
}

/// Tunnels being opened at once when a phase needs many: enough to be quick, few enough that a
/// proxy's accept queue is not what is measured.
const OPEN_CONCURRENCY: usize = 64;

/// Runs `phase` against the target and returns its figures, under the phase's time limit.
pub async fn run(phase: Phase, ctx: &Ctx) -> Result<Vec<(Figure, f64)>> {
    let limit = ctx.counts.phase_limit();
    let work = async {
        match phase {
            Phase::Memory => memory::run(ctx).await,
            Phase::Handshake => handshake::run(ctx).await,
            Phase::Rate => rate::run(ctx).await,
            Phase::Upload => throughput::upload(ctx).await,
            Phase::Download => throughput::download(ctx).await,
            Phase::Echo => throughput::echo(ctx).await,
            Phase::PingPong => pingpong::run(ctx).await,
            Phase::Forward => forward::run(ctx).await,
        }
    };
    tokio::time::timeout(limit, work)
        .await
        .with_context(|| format!("phase {} ran past its limit of {limit:?}", phase.name()))?
}

/// Opens `n` streams to the byte origin in `mode`, [`OPEN_CONCURRENCY`] at a time; for the
/// idle mode also waits for the origin's one-byte answer, so each tunnel has carried a byte
/// both ways, as a used tunnel has.
async fn open_many(via: Via, origin: SocketAddr, mode: u8, n: usize) -> Result<Vec<TcpStream>> {
    let gate = Arc::new(Semaphore::new(OPEN_CONCURRENCY));
    let mut set = JoinSet::new();
    for _ in 0..n {
        let gate = gate.clone();
        set.spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let mut s = open_mode(via, origin, mode, None).await?;
            if mode == crate::origin::mode::IDLE {
                let mut ack = [0u8; 1];
                bounded("read idle ack", s.read_exact(&mut ack)).await?;
            }
            anyhow::Ok(s)
        });
    }
    let mut streams = Vec::with_capacity(n);
    while let Some(joined) = set.join_next().await {
        streams.push(joined.context("an opening task failed")??);
    }
    Ok(streams)
}

/// The target's CPU seconds between `begin` and `end`, read by a task that waits for both, so a
/// phase measured over a time window can divide it by the operations in the same window.
/// `None` without a PID, or if `/proc` could not be read.
fn cpu_between(pid: Option<u32>, begin: Instant, end: Instant) -> JoinHandle<Option<f64>> {
    tokio::spawn(async move {
        let pid = pid?;
        tokio::time::sleep_until(begin.into()).await;
        let before = tree_cpu_secs(pid).ok()?;
        tokio::time::sleep_until(end.into()).await;
        Some(tree_cpu_secs(pid).ok()? - before)
    })
}

/// The target's CPU time so far, when the bench knows its process.
fn cpu_now(pid: Option<u32>) -> Option<f64> {
    tree_cpu_secs(pid?).ok()
}

/// `(figure, cpu / units × scale)`, when there was CPU time to read and work to divide it by.
fn per_unit(figure: Figure, cpu: Option<f64>, units: f64, scale: f64) -> Option<(Figure, f64)> {
    match cpu {
        Some(cpu) if units > 0.0 => Some((figure, cpu / units * scale)),
        _ => None,
    }
}
