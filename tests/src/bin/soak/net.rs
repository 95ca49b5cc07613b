//! What every client of the soak shares: where things are, how to connect from a chosen
//! loopback address, and the bounds on each wait.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};

use crate::origin::Ends;
use crate::stats::Stats;

/// Most time for a TCP connect on loopback.
pub const CONNECT_LIMIT: Duration = Duration::from_secs(5);
/// Most time for any one answer (a head, a payload's echo): loopback answers in milliseconds,
/// so this only catches a proxy that stopped.
pub const READ_LIMIT: Duration = Duration::from_secs(20);
/// Most time between a close on one side and the proxy passing it on.
pub const CLOSE_LIMIT: Duration = Duration::from_secs(5);
/// Most time for one whole operation, whatever it does.
pub const OP_LIMIT: Duration = Duration::from_secs(60);

/// Where the proxy and the origins are, and where results go.
#[derive(Clone)]
pub struct Env {
    /// The proxy.
    pub proxy: SocketAddr,
    /// The byte origin (tunnels).
    pub tunnel_origin: SocketAddr,
    /// The HTTP origin (forwarding).
    pub http_origin: SocketAddr,
    /// Tunnel ends, as the byte origin saw them.
    pub ends: Arc<Ends>,
    /// Counts per kind.
    pub stats: Arc<Stats>,
}

/// Connects to `to` from `from` (any 127.0.0.0/8 address is this machine's loopback), so the
/// proxy sees many clients and a per-client cap is spread over them.
pub async fn connect(from: Ipv4Addr, to: SocketAddr) -> Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket
        .bind(SocketAddr::from((from, 0)))
        .with_context(|| format!("bind {from}"))?;
    let stream = tokio::time::timeout(CONNECT_LIMIT, socket.connect(to))
        .await
        .with_context(|| format!("connect {from} → {to}: no answer in {CONNECT_LIMIT:?}"))?
        .with_context(|| format!("connect {from} → {to}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Whether an IO error is a reset (or its cousins: the peer is gone).
pub fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// How the proxy closed a connection the soak was reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closing {
    /// A FIN: the read returned 0.
    Fin,
    /// A reset.
    Reset,
}

/// Waits up to `limit` for the proxy to close `s`; any byte before that is an error.
pub async fn closed_within(s: &mut TcpStream, limit: Duration, after: &str) -> Result<Closing> {
    let mut one = [0u8; 1];
    match tokio::time::timeout(limit, s.read(&mut one)).await {
        Err(_) => bail!("the proxy kept the connection open {limit:?} after {after}"),
        Ok(Ok(0)) => Ok(Closing::Fin),
        Ok(Ok(_)) => bail!("a byte arrived after {after}"),
        Ok(Err(e)) if is_reset(&e) => Ok(Closing::Reset),
        Ok(Err(e)) => Err(e).with_context(|| format!("reading after {after}")),
    }
}
