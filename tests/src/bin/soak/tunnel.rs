//! Tunnels through the proxy to the byte origin, ended every way: clean close, server close,
//! half-close, client reset, server reset and idle timeout. Every payload is checked byte for
//! byte, and every tunnel waits to hear that the origin's side was closed too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::http::Wire;
use crate::net::{closed_within, connect, Closing, Env, CLOSE_LIMIT, READ_LIMIT};
use crate::origin::{header, End, Mode};
use crate::payload::{first_difference, payload, size, Rng};
use crate::plan::{Kind, MAX_PAYLOAD, TUNNEL_IDLE};
use crate::stats::{Mismatch, Moved, Outcome};

/// Tunnel ids, unique in the soak, so the origin can say which tunnel ended how.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Runs one tunnel of `kind` (a tunnel kind).
pub async fn run(kind: Kind, env: &Env, rng: &mut Rng) -> Result<Outcome> {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let origin_end = env.ends.expect(id);
    let result = tunnel(kind, env, rng, id, origin_end).await;
    env.ends.forget(id);
    result
}

async fn tunnel(
    kind: Kind,
    env: &Env,
    rng: &mut Rng,
    id: u64,
    origin_end: oneshot::Receiver<End>,
) -> Result<Outcome> {
    let seed = rng.next_u64();
    let len = match kind {
        // Idle tunnels and probes are about time, not volume.
        Kind::TunnelIdle | Kind::Probe => size(rng, 4096),
        _ => size(rng, MAX_PAYLOAD),
    };
    let mut s = open(env, kind.address(rng.next_u64())).await?;
    let data = payload(seed, len);
    let moved = Moved {
        up: len as u64,
        down: len as u64,
        requests: 0,
    };
    // Which ending the origin's side must have, given how the client ended.
    let origin_must = match kind {
        Kind::TunnelClean | Kind::Probe => {
            s.write_all(&header(Mode::Echo, id, seed, 0)).await?;
            exchange(&mut s, &data, rng, false).await?;
            s.shutdown().await?;
            expect_fin(&mut s, "the client's FIN").await?;
            Some(End::Fin)
        }
        Kind::TunnelHalfClose => {
            s.write_all(&header(Mode::Echo, id, seed, 0)).await?;
            exchange(&mut s, &data, rng, true).await?;
            expect_fin(&mut s, "the echo of a half-closed tunnel").await?;
            Some(End::Fin)
        }
        Kind::TunnelServerClose => {
            s.write_all(&header(Mode::Download, id, seed, len as u64))
                .await?;
            let got = read_exactly(&mut s, len).await?;
            check(&data, &got)?;
            expect_fin(&mut s, "the origin's FIN").await?;
            drop(s);
            Some(End::Fin)
        }
        Kind::TunnelClientReset => {
            s.write_all(&header(Mode::Echo, id, seed, 0)).await?;
            exchange(&mut s, &data, rng, false).await?;
            s.set_zero_linger()?;
            drop(s);
            // A FIN or a reset: either tells the origin the client is gone.
            None
        }
        Kind::TunnelServerReset => {
            s.write_all(&header(Mode::ResetAfter, id, seed, len as u64))
                .await?;
            exchange(&mut s, &data, rng, false).await?;
            s.write_all(b"!").await?;
            closed_within(&mut s, CLOSE_LIMIT, "the origin's reset").await?;
            Some(End::OriginReset)
        }
        Kind::TunnelIdle => {
            s.write_all(&header(Mode::Echo, id, seed, 0)).await?;
            exchange(&mut s, &data, rng, false).await?;
            let quiet = Instant::now();
            let limit = Duration::from_secs_f64(TUNNEL_IDLE) + CLOSE_LIMIT;
            closed_within(&mut s, limit, "the idle timeout").await?;
            let waited = quiet.elapsed();
            env.stats.time("idle tunnel closed after", waited);
            // The timer runs from the last byte moved, which is just before `quiet`.
            if waited < Duration::from_secs_f64(TUNNEL_IDLE * 0.9) {
                bail!("an idle tunnel was closed after {waited:?}, before timeouts.tunnel_idle");
            }
            Some(End::Fin)
        }
        other => bail!("{other:?} is not a tunnel"),
    };
    let end = tokio::time::timeout(CLOSE_LIMIT, origin_end)
        .await
        .context("the proxy left the origin's side of the tunnel open")?
        .context("the origin did not report the end")?;
    let fine = match &origin_must {
        Some(must) => end == *must,
        None => matches!(end, End::Fin | End::Reset),
    };
    if !fine {
        bail!("the origin's side ended {end:?} (wanted {origin_must:?}; None: a FIN or a reset)");
    }
    Ok(Outcome::Completed(moved))
}

/// Opens a tunnel from `from` to the byte origin: CONNECT, then exactly a 200 head.
pub async fn open(env: &Env, from: std::net::Ipv4Addr) -> Result<TcpStream> {
    let s = connect(from, env.proxy).await?;
    let origin = env.tunnel_origin;
    let mut wire = Wire::new(s);
    wire.stream
        .write_all(format!("CONNECT {origin} HTTP/1.1\r\nHost: {origin}\r\n\r\n").as_bytes())
        .await?;
    let head = tokio::time::timeout(READ_LIMIT, wire.head())
        .await
        .context("no answer to CONNECT")??
        .context("the proxy closed without answering CONNECT")?;
    if head.second_word() != "200" {
        bail!("CONNECT answered {:?}", head.line);
    }
    // Nothing may follow the 200 before the origin speaks, and it has not been asked to yet.
    if wire.pending() > 0 {
        bail!("{} bytes after the 200 head", wire.pending());
    }
    Ok(wire.stream)
}

/// Writes `data` in random pieces while reading its echo, and checks the echo. With
/// `half_close`, the client's FIN follows the last piece while the echo is still coming.
async fn exchange(s: &mut TcpStream, data: &[u8], rng: &mut Rng, half_close: bool) -> Result<()> {
    let mut pieces = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let n = (rng.between(1, 64 * 1024) as usize).min(data.len() - at);
        pieces.push(&data[at..at + n]);
        at += n;
    }
    let (mut r, mut w) = s.split();
    let write = async {
        for piece in pieces {
            w.write_all(piece).await.context("writing the payload")?;
        }
        if half_close {
            w.shutdown().await.context("half-closing")?;
        }
        anyhow::Ok(())
    };
    let read = async {
        let mut got = vec![0u8; data.len()];
        tokio::time::timeout(READ_LIMIT, r.read_exact(&mut got))
            .await
            .context("the echo stopped")?
            .context("reading the echo")?;
        check(data, &got)
    };
    tokio::try_join!(write, read)?;
    Ok(())
}

async fn read_exactly(s: &mut TcpStream, len: usize) -> Result<Vec<u8>> {
    let mut got = vec![0u8; len];
    tokio::time::timeout(READ_LIMIT, s.read_exact(&mut got))
        .await
        .context("the payload stopped")?
        .context("reading the payload")?;
    Ok(got)
}

/// The proxy must pass a FIN on (a reset would lose bytes a clean close keeps).
async fn expect_fin(s: &mut TcpStream, after: &str) -> Result<()> {
    match closed_within(s, CLOSE_LIMIT, after).await? {
        Closing::Fin => Ok(()),
        Closing::Reset => bail!("a reset instead of a FIN after {after}"),
    }
}

fn check(want: &[u8], got: &[u8]) -> Result<()> {
    match first_difference(want, got) {
        None => Ok(()),
        Some(at) => Err(Mismatch {
            at,
            len: want.len(),
        }
        .into()),
    }
}
