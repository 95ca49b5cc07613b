//! One tunnel moving `counts.bytes`: upload (client to origin), download (origin to client),
//! and echo (both at once; the figure is MiB/s each way).

use std::time::Instant;

use anyhow::{bail, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{cpu_now, per_unit, Ctx};
use crate::client::{bounded, open_mode};
use crate::figures::Figure;
use crate::origin::{mode, BLOCK};

/// MiB/s of `bytes` in `secs`.
fn mib_per_s(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / f64::from(1u32 << 20) / secs
}

/// The rate figure, and the target's CPU ms per GiB of `relayed` bytes since `cpu_before`.
fn figures(
    rate: (Figure, f64),
    cpu_figure: Figure,
    pid: Option<u32>,
    cpu_before: Option<f64>,
    relayed: u64,
) -> Vec<(Figure, f64)> {
    let cpu = cpu_before.and_then(|b| Some(cpu_now(pid)? - b));
    let gib = relayed as f64 / f64::from(1u32 << 30);
    [rate]
        .into_iter()
        .chain(per_unit(cpu_figure, cpu, gib, 1e3))
        .collect()
}

/// Client to origin; timed until the origin's answer that it has every byte.
pub async fn upload(ctx: &Ctx) -> Result<Vec<(Figure, f64)>> {
    let n = ctx.counts.bytes;
    let mut s = open_mode(ctx.via, ctx.origins.bytes, mode::UPLOAD, Some(n)).await?;
    let buf = vec![0x5au8; BLOCK];
    let cpu = cpu_now(ctx.pid);
    let start = Instant::now();
    let mut left = n;
    while left > 0 {
        let k = left.min(BLOCK as u64) as usize;
        bounded("upload write", s.write_all(&buf[..k])).await?;
        left -= k as u64;
    }
    let mut ack = [0u8; 1];
    bounded("upload ack", s.read_exact(&mut ack)).await?;
    let rate = (Figure::Upload, mib_per_s(n, start.elapsed().as_secs_f64()));
    Ok(figures(rate, Figure::CpuPerGibUp, ctx.pid, cpu, n))
}

/// Origin to client; timed from the request to the last byte.
pub async fn download(ctx: &Ctx) -> Result<Vec<(Figure, f64)>> {
    let n = ctx.counts.bytes;
    let cpu = cpu_now(ctx.pid);
    let start = Instant::now();
    let mut s = open_mode(ctx.via, ctx.origins.bytes, mode::DOWNLOAD, Some(n)).await?;
    let mut buf = vec![0u8; BLOCK];
    let mut left = n;
    while left > 0 {
        let k = bounded("download read", s.read(&mut buf)).await?;
        if k == 0 {
            bail!("the tunnel closed with {left} bytes to come");
        }
        left = left.saturating_sub(k as u64);
    }
    let rate = (
        Figure::Download,
        mib_per_s(n, start.elapsed().as_secs_f64()),
    );
    Ok(figures(rate, Figure::CpuPerGibDown, ctx.pid, cpu, n))
}

/// Both ways at once: a writer task sends, this task reads the echo back.
pub async fn echo(ctx: &Ctx) -> Result<Vec<(Figure, f64)>> {
    let n = ctx.counts.bytes;
    let s = open_mode(ctx.via, ctx.origins.bytes, mode::ECHO, None).await?;
    let (mut read, mut write) = s.into_split();
    let cpu = cpu_now(ctx.pid);
    let start = Instant::now();
    let writer = tokio::spawn(async move {
        let buf = vec![0x5au8; BLOCK];
        let mut left = n;
        while left > 0 {
            let k = left.min(BLOCK as u64) as usize;
            bounded("echo write", write.write_all(&buf[..k])).await?;
            left -= k as u64;
        }
        anyhow::Ok(write)
    });
    let mut buf = vec![0u8; BLOCK];
    let mut left = n;
    while left > 0 {
        let k = bounded("echo read", read.read(&mut buf)).await?;
        if k == 0 {
            bail!("the tunnel closed with {left} echoed bytes to come");
        }
        left = left.saturating_sub(k as u64);
    }
    let secs = start.elapsed().as_secs_f64();
    drop(writer.await??);
    let rate = (Figure::Echo, mib_per_s(n, secs));
    Ok(figures(rate, Figure::CpuPerGibEcho, ctx.pid, cpu, 2 * n))
}
