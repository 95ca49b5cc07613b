//! Plain-HTTP forwarding: keep-alive connections each sending GETs one after another, counted
//! over a window after a warm-up. Through a proxy the request is in absolute form
//! (`GET http://origin/`); direct, it goes to the origin in origin form (`GET /`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burrow_tests::find;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use super::{cpu_between, per_unit, Ctx};
use crate::client::{bounded, status_ok, Via};
use crate::figures::Figure;

/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// Requests per second over `counts.forward_conns` connections.
pub async fn run(ctx: &Ctx) -> Result<Vec<(Figure, f64)>> {
    let c = &ctx.counts;
    let origin = ctx.origins.http;
    let (to, request) = match ctx.via {
        Via::Direct => (origin, format!("GET / HTTP/1.1\r\nHost: {origin}\r\n\r\n")),
        Via::Proxy(proxy) => (
            proxy,
            format!("GET http://{origin}/ HTTP/1.1\r\nHost: {origin}\r\n\r\n"),
        ),
    };
    let request: Arc<[u8]> = request.into_bytes().into();
    let begin = Instant::now() + c.warmup;
    let end = begin + c.forward_for;
    let counted = Arc::new(AtomicU64::new(0));
    let reconnects = Arc::new(AtomicU64::new(0));
    let cpu = cpu_between(ctx.pid, begin, end);
    let mut set = JoinSet::new();
    for _ in 0..c.forward_conns {
        let (request, counted, reconnects) = (request.clone(), counted.clone(), reconnects.clone());
        set.spawn(async move {
            let mut conn: Option<Conn> = None;
            while Instant::now() < end {
                let live = match &mut conn {
                    Some(live) => live,
                    None => conn.insert(Conn::open(to).await?),
                };
                let start = Instant::now();
                let keep = match live.exchange(&request).await? {
                    Some(keep) => keep,
                    // Closed after its last response without saying so (tinyproxy does):
                    // the same as a close announced in that response.
                    None if live.answered > 0 => {
                        conn = None;
                        reconnects.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    None => bail!("the target closed a new connection without answering"),
                };
                if start >= begin && Instant::now() <= end {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
                if !keep {
                    // A proxy that closes after each response (HTTP/1.0 style) pays for a new
                    // connection each time; that is part of its figure.
                    conn = None;
                    reconnects.fetch_add(1, Ordering::Relaxed);
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = set.join_next().await {
        joined.context("a forwarding client failed")??;
    }
    let n = reconnects.load(Ordering::Relaxed);
    if n > 0 {
        println!("    (forward: the target closed the connection after {n} responses)");
    }
    let n = counted.load(Ordering::Relaxed) as f64;
    let cpu = cpu.await.ok().flatten();
    Ok([(Figure::ForwardRate, n / c.forward_for.as_secs_f64())]
        .into_iter()
        .chain(per_unit(Figure::CpuPerRequest, cpu, n, 1e6))
        .collect())
}

/// One client connection and what it read past the last response.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
    /// Responses read on it.
    answered: u64,
}

impl Conn {
    async fn open(to: std::net::SocketAddr) -> Result<Conn> {
        let s = bounded("connect", TcpStream::connect(to)).await?;
        s.set_nodelay(true)?;
        Ok(Conn {
            s,
            buf: Vec::with_capacity(4096),
            answered: 0,
        })
    }

    /// Sends `request` and reads one whole response; returns whether the connection stays open,
    /// or `None` if the target had closed it before any byte of the response.
    async fn exchange(&mut self, request: &[u8]) -> Result<Option<bool>> {
        // A write to a connection the target closed may fail at once, or only the read after.
        if self.s.write_all(request).await.is_err() && self.buf.is_empty() {
            return Ok(None);
        }
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = &self.buf[..end];
                if !status_ok(head) {
                    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
                    bail!("forwarding failed: {}", String::from_utf8_lossy(line));
                }
                let (length, close) = framing(head);
                let total = end + 4 + length;
                if self.buf.len() >= total {
                    self.buf.drain(..total);
                    self.answered += 1;
                    return Ok(Some(!close));
                }
            } else if self.buf.len() > MAX_HEAD {
                bail!("a response head longer than {MAX_HEAD} bytes");
            }
            let n = match bounded("read response", self.s.read(&mut chunk)).await {
                Ok(0) | Err(_) if self.buf.is_empty() => return Ok(None),
                Ok(0) => bail!("the target closed the connection inside a response"),
                other => other?,
            };
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// A response head's body length (`Content-Length`, 0 if absent) and whether the connection
/// closes after it (HTTP/1.0 without keep-alive, or a close token in the connection header).
fn framing(head: &[u8]) -> (usize, bool) {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let http10 = lines.next().is_some_and(|l| l.starts_with("HTTP/1.0"));
    let mut length = 0;
    let mut close = http10;
    for (name, value) in lines.filter_map(|l| l.split_once(':')) {
        let (name, value) = (name.trim(), value.trim().to_ascii_lowercase());
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().unwrap_or(0);
        } else if name.eq_ignore_ascii_case("connection") {
            if value.split(',').any(|t| t.trim() == "close") {
                close = true;
            } else if value.split(',').any(|t| t.trim() == "keep-alive") {
                close = false;
            }
        }
    }
    (length, close)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framings() {
        assert_eq!(framing(b"HTTP/1.1 200 OK\r\nContent-Length: 2"), (2, false));
        assert_eq!(
            framing(b"HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 5"),
            (5, true)
        );
        assert_eq!(framing(b"HTTP/1.0 200 OK\r\nContent-Length: 2"), (2, true));
        assert_eq!(
            framing(b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive"),
            (0, false)
        );
        assert_eq!(framing(b"HTTP/1.1 200 OK\r\nContent-Length: x"), (0, false));
    }
}
