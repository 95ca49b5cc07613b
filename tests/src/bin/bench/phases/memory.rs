//! The target's resident memory: idle after one warm-up tunnel, then with `idle_few` and
//! `idle_many` used-then-idle tunnels held open. Only for targets whose process the bench knows.

use std::io::ErrorKind;
use std::time::Duration;

use anyhow::{bail, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{open_many, Ctx};
use crate::client::{bounded, open_mode};
use crate::figures::Figure;
use crate::origin::mode;
use crate::procfs::tree_rss_kib;

/// Time for a proxy to finish setting up what it just accepted before memory is read.
const SETTLE: Duration = Duration::from_millis(700);

/// Idle RSS (KiB) and KiB per tunnel at both counts; nothing for a target without a PID.
pub async fn run(ctx: &Ctx) -> Result<Vec<(Figure, f64)>> {
    let Some(pid) = ctx.pid else {
        return Ok(Vec::new());
    };
    let c = &ctx.counts;
    // One tunnel first, so the idle figure is of a proxy that has served (its runtime
    // threads and first buffers exist), as the idle proxy on someone's machine has.
    let mut warm = open_mode(ctx.via, ctx.origins.bytes, mode::ECHO, None).await?;
    bounded("warm-up write", warm.write_all(b"w")).await?;
    bounded("warm-up read", warm.read_exact(&mut [0u8; 1])).await?;
    drop(warm);
    tokio::time::sleep(SETTLE).await;
    let idle = tree_rss_kib(pid)?;

    let mut held = open_many(ctx.via, ctx.origins.bytes, mode::IDLE, c.idle_few).await?;
    tokio::time::sleep(SETTLE).await;
    let few = tree_rss_kib(pid)?;
    held.extend(
        open_many(
            ctx.via,
            ctx.origins.bytes,
            mode::IDLE,
            c.idle_many - c.idle_few,
        )
        .await?,
    );
    tokio::time::sleep(SETTLE).await;
    let many = tree_rss_kib(pid)?;

    // A tunnel the proxy closed to make room would make the figure meaningless.
    let mut probe = [0u8; 1];
    let closed = held
        .iter()
        .filter(|s| !matches!(s.try_read(&mut probe), Err(e) if e.kind() == ErrorKind::WouldBlock))
        .count();
    if closed > 0 {
        bail!(
            "{closed} of {} idle tunnels were closed or spoke while held",
            held.len()
        );
    }
    drop(held);
    let per = |rss: u64, n: usize| rss.saturating_sub(idle) as f64 / n as f64;
    Ok(vec![
        (Figure::RssIdle, idle as f64),
        (Figure::KibPerTunnelFew, per(few, c.idle_few)),
        (Figure::KibPerTunnelMany, per(many, c.idle_many)),
    ])
}
