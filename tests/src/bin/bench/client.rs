//! How the generator reaches the origin through a target: straight (`direct`) or by a CONNECT
//! tunnel through a proxy. Every wait is bounded by [`IO_LIMIT`].

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use burrow_tests::find;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::counts::IO_LIMIT;

/// The way to the origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// No proxy: connect to the origin itself.
    Direct,
    /// CONNECT through the proxy at this address.
    Proxy(SocketAddr),
}

/// Largest CONNECT answer head accepted: proxies answer in well under 1 KiB.
const MAX_ANSWER: usize = 8 * 1024;

/// Runs `work` under [`IO_LIMIT`], naming `what` if it runs out.
pub async fn bounded<T>(
    what: &str,
    work: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T> {
    tokio::time::timeout(IO_LIMIT, work)
        .await
        .with_context(|| format!("{what}: no progress in {IO_LIMIT:?}"))?
        .with_context(|| what.to_string())
}

/// Opens a stream to `origin` via `via`, ready for tunnel bytes, and how long it took: the TCP
/// connect, and through a proxy also the CONNECT request and its answer head. This is what a
/// client waits before it can send its first byte to the origin.
pub async fn open(via: Via, origin: SocketAddr) -> Result<(TcpStream, Duration)> {
    let start = Instant::now();
    let to = match via {
        Via::Direct => origin,
        Via::Proxy(proxy) => proxy,
    };
    let mut s = bounded("connect", TcpStream::connect(to)).await?;
    // Every client of the bench sends small messages it waits on (CONNECT, pings, requests).
    s.set_nodelay(true)?;
    if let Via::Proxy(_) = via {
        let head = format!("CONNECT {origin} HTTP/1.1\r\nHost: {origin}\r\n\r\n");
        bounded("write CONNECT", s.write_all(head.as_bytes())).await?;
        let mut got = Vec::with_capacity(256);
        let mut chunk = [0u8; 512];
        let end = loop {
            if let Some(end) = find(&got, b"\r\n\r\n") {
                break end + 4;
            }
            if got.len() > MAX_ANSWER {
                bail!("the CONNECT answer head is longer than {MAX_ANSWER} bytes");
            }
            let n = bounded("read CONNECT answer", s.read(&mut chunk)).await?;
            if n == 0 {
                bail!("the proxy closed before answering CONNECT");
            }
            got.extend_from_slice(&chunk[..n]);
        };
        if !status_ok(&got) {
            let line = got.split(|&b| b == b'\r').next().unwrap_or_default();
            bail!("CONNECT refused: {}", String::from_utf8_lossy(line));
        }
        // The origin speaks only when spoken to, so nothing may follow the answer head yet.
        if got.len() != end {
            bail!(
                "the proxy sent {} bytes after its CONNECT answer",
                got.len() - end
            );
        }
    }
    Ok((s, start.elapsed()))
}

/// Whether an answer head's status line says 2xx (`HTTP/1.x 2.. `).
pub fn status_ok(head: &[u8]) -> bool {
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut words = line.split(|&b| b == b' ');
    let version = words.next().unwrap_or_default();
    let code = words.next().unwrap_or_default();
    version.starts_with(b"HTTP/1.") && code.len() == 3 && code[0] == b'2'
}

/// Opens a stream and sends `mode` and, for the bulk modes, the byte count.
pub async fn open_mode(
    via: Via,
    origin: SocketAddr,
    mode: u8,
    count: Option<u64>,
) -> Result<TcpStream> {
    let (mut s, _) = open(via, origin).await?;
    let mut request = vec![mode];
    if let Some(n) = count {
        request.extend_from_slice(&n.to_be_bytes());
    }
    bounded("write mode", s.write_all(&request)).await?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert!(status_ok(b"HTTP/1.1 200 Connection established\r\n\r\n"));
        assert!(status_ok(b"HTTP/1.0 200 Connection established\r\n\r\n"));
        assert!(!status_ok(b"HTTP/1.1 403 Forbidden\r\n\r\n"));
        assert!(!status_ok(b"HTTP/1.1 2000 x\r\n\r\n"));
        assert!(!status_ok(b"garbage"));
        assert!(!status_ok(b""));
    }
}
