//! Handshakes per second: concurrent clients each opening a tunnel and closing it, again and
//! again, counted over a window after a warm-up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use tokio::task::JoinSet;

use super::{cpu_between, per_unit, Ctx};
use crate::client::open;
use crate::figures::Figure;

/// Handshakes per second with `counts.rate_clients` clients.
pub async fn run(ctx: &Ctx) -> Result<Vec<(Figure, f64)>> {
    let c = &ctx.counts;
    let begin = Instant::now() + c.warmup;
    let end = begin + c.rate_for;
    let counted = Arc::new(AtomicU64::new(0));
    let cpu = cpu_between(ctx.pid, begin, end);
    let mut set = JoinSet::new();
    for _ in 0..c.rate_clients {
        let (via, origin, counted, max) = (ctx.via, ctx.origins.bytes, counted.clone(), c.rate_max);
        set.spawn(async move {
            loop {
                let now = Instant::now();
                if now >= end || counted.load(Ordering::Relaxed) >= max {
                    return anyhow::Ok(());
                }
                let (s, _) = open(via, origin).await?;
                drop(s);
                if now >= begin && Instant::now() <= end {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while let Some(joined) = set.join_next().await {
        joined.context("a client task failed")??;
    }
    // The window ends early only if the count cap was reached.
    let window = (Instant::now().min(end) - begin).as_secs_f64();
    let n = counted.load(Ordering::Relaxed) as f64;
    let cpu = cpu.await.ok().flatten();
    Ok([(Figure::HandshakeRate, n / window)]
        .into_iter()
        .chain(per_unit(Figure::CpuPerHandshake, cpu, n, 1e6))
        .collect())
}
