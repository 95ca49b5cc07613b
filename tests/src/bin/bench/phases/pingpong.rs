//! Many tunnels at once, each sending 64 bytes and waiting for their echo, again and again:
//! operations per second over all tunnels, and the round trip's p50 and p99.

use std::time::Instant;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;

use super::{cpu_between, open_many, per_unit, Ctx};
use crate::client::bounded;
use crate::figures::Figure;
use crate::origin::mode;
use crate::stats::percentile;

/// The message size.
const PING: usize = 64;

/// Ops/s and RTT percentiles (µs) with `counts.pingpong_tunnels` tunnels.
pub async fn run(ctx: &Ctx) -> Result<Vec<(Figure, f64)>> {
    let c = &ctx.counts;
    let streams = open_many(ctx.via, ctx.origins.bytes, mode::ECHO, c.pingpong_tunnels).await?;
    // All tunnels are open before the clock starts: opening is the other phases' business.
    let begin = Instant::now() + c.pingpong_warmup;
    let end = begin + c.pingpong_for;
    let cpu = cpu_between(ctx.pid, begin, end);
    let mut set = JoinSet::new();
    for mut s in streams {
        set.spawn(async move {
            let ping = [0x70u8; PING];
            let mut pong = [0u8; PING];
            let mut rtts: Vec<u32> = Vec::new();
            loop {
                let start = Instant::now();
                if start >= end {
                    return anyhow::Ok(rtts);
                }
                bounded("ping write", s.write_all(&ping)).await?;
                bounded("pong read", s.read_exact(&mut pong)).await?;
                let done = Instant::now();
                if start >= begin && done <= end {
                    let micros = (done - start).as_micros();
                    rtts.push(u32::try_from(micros).unwrap_or(u32::MAX));
                }
            }
        });
    }
    let mut all = Vec::new();
    while let Some(joined) = set.join_next().await {
        all.extend(joined.context("a ping-pong task failed")??);
    }
    all.sort_unstable();
    let ops = all.len() as f64 / c.pingpong_for.as_secs_f64();
    let p50 = percentile(&all, 0.50).context("no ping-pong finished in the window")?;
    let p99 = percentile(&all, 0.99).context("no ping-pong finished in the window")?;
    let cpu = cpu.await.ok().flatten();
    Ok([
        (Figure::PingPongOps, ops),
        (Figure::PingPongP50, f64::from(p50)),
        (Figure::PingPongP99, f64::from(p99)),
    ]
    .into_iter()
    .chain(per_unit(Figure::CpuPerPingPong, cpu, all.len() as f64, 1e6))
    .collect())
}
