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

use anyhow::{Context, Result};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::client::{bounded, open_mode, Via};
use crate::counts::Counts;
use crate::figures::{Figure, Phase};
use crate::origin::Origins;

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
