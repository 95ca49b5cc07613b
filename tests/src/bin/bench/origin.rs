//! The loopback origins every target reaches: a byte origin for tunnels and an HTTP origin for
//! forwarding. Both run in the generator's process, the same for every target.

use std::net::SocketAddr;

use anyhow::Result;
use burrow_tests::find;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Write and read size of the byte origin's bulk modes.
pub const BLOCK: usize = 256 * 1024;
/// Its echo buffer: large enough for bulk echo, small enough for a thousand ping-pong tunnels.
const ECHO_BUFFER: usize = 64 * 1024;

/// What a tunnel asks the byte origin for, as its first byte.
pub mod mode {
    /// `U` + u64 n (big-endian): read n bytes, then answer [`super::mode::ACK`].
    pub const UPLOAD: u8 = b'U';
    /// `D` + u64 n: write n bytes.
    pub const DOWNLOAD: u8 = b'D';
    /// `E`: echo everything until the peer closes.
    pub const ECHO: u8 = b'E';
    /// `I`: answer [`super::mode::ACK`] once, then hold the connection until the peer closes.
    pub const IDLE: u8 = b'I';
    /// The one-byte answer of upload and idle.
    pub const ACK: u8 = b'k';
}

/// Both origins' addresses.
#[derive(Clone, Copy, Debug)]
pub struct Origins {
    /// The byte origin.
    pub bytes: SocketAddr,
    /// The HTTP origin.
    pub http: SocketAddr,
}

/// Starts both on `127.0.0.1:0`; they serve until the process ends.
pub async fn start() -> Result<Origins> {
    let bytes = serve(byte_origin).await?;
    let http = serve(http_origin).await?;
    Ok(Origins { bytes, http })
}

/// Accepts on a fresh loopback listener, each connection in a task of its own.
async fn serve<F, Fut>(handle: F) -> Result<SocketAddr>
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    // A long backlog: the rate phase opens 64 connections at once and the memory phase
    // thousands in a row; a short one would measure the origin's accept queue, not the target.
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let listener: TcpListener = socket.listen(4096)?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    // Small writes (ping-pong, HTTP answers) must leave at once, as a client's would.
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(handle(stream));
                }
                // Out of descriptors for a moment: the phase that caused it will report it.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
            }
        }
    });
    Ok(addr)
}

/// The byte origin: the first byte picks the mode (see [`mode`]); anything else, or nothing,
/// and the connection is held until the peer closes (handshake phases open and close at once).
async fn byte_origin(mut s: TcpStream) {
    let mut first = [0u8; 1];
    match s.read(&mut first).await {
        Ok(1) => {}
        _ => return,
    }
    match first[0] {
        mode::UPLOAD | mode::DOWNLOAD => {
            let mut len = [0u8; 8];
            if s.read_exact(&mut len).await.is_err() {
                return;
            }
            let n = u64::from_be_bytes(len);
            let mut buf = vec![0x5au8; BLOCK];
            if first[0] == mode::UPLOAD {
                let mut left = n;
                while left > 0 {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => left = left.saturating_sub(k as u64),
                    }
                }
                if s.write_all(&[mode::ACK]).await.is_err() {
                    return;
                }
            } else {
                let mut left = n;
                while left > 0 {
                    let k = left.min(BLOCK as u64) as usize;
                    if s.write_all(&buf[..k]).await.is_err() {
                        return;
                    }
                    left -= k as u64;
                }
            }
        }
        mode::ECHO => {
            let mut buf = vec![0u8; ECHO_BUFFER];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(k) => {
                        if s.write_all(&buf[..k]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
        mode::IDLE if s.write_all(&[mode::ACK]).await.is_err() => return,
        _ => {}
    }
    // Hold until the peer closes; whatever else arrives is discarded.
    let mut sink = [0u8; 64];
    while let Ok(n) = s.read(&mut sink).await {
        if n == 0 {
            return;
        }
    }
}

/// The HTTP origin: answers every request head with a 2-byte body, keeping the connection.
async fn http_origin(mut s: TcpStream) {
    const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = find(&buf, b"\r\n\r\n") {
            // Requests are GETs without a body: the head is the whole request.
            buf.drain(..end + 4);
            if s.write_all(ANSWER).await.is_err() {
                return;
            }
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
