//! Handshake latency: sequential tunnels, each timed from the TCP connect to the CONNECT answer
//! (for direct, the TCP connect alone), then closed.

use anyhow::{Context, Result};

use super::Ctx;
use crate::client::open;
use crate::figures::Figure;
use crate::stats::percentile;

/// p50 and p99 over `counts.handshakes` tunnels, in µs.
pub async fn run(ctx: &Ctx) -> Result<Vec<(Figure, f64)>> {
    let mut micros = Vec::with_capacity(ctx.counts.handshakes);
    for _ in 0..ctx.counts.handshakes {
        let (s, took) = open(ctx.via, ctx.origins.bytes).await?;
        micros.push(took.as_secs_f64() * 1e6);
        drop(s);
    }
    micros.sort_by(f64::total_cmp);
    Ok(vec![
        (
            Figure::HandshakeP50,
            percentile(&micros, 0.50).context("no samples")?,
        ),
        (
            Figure::HandshakeP99,
            percentile(&micros, 0.99).context("no samples")?,
        ),
    ])
}
