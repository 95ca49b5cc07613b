//! Name lookups, upstream connections and this machine's own addresses,
//! behind small traits so tests can inject failures and addresses.
//!
//! The traits only report what the network did; the core keeps the
//! deadlines around them and turns every outcome into an answer.

use std::any::Any;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

use burrow_core::outcome::{ConnectFailure, DnsFailure};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A boxed, sendable future, as returned by [`Resolver`] and [`Connector`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Any bidirectional byte stream: a `TcpStream` in production; tests may
/// return a loopback stream or an in-memory duplex.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The stream as its concrete type, so a tunnel between two TCP sockets
    /// can splice (Linux) rather than copy.
    fn as_any(&self) -> &dyn Any;
}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A boxed [`Stream`], as returned by a [`Connector`].
pub type BoxStream = Box<dyn Stream>;

/// Looks names up. The default, [`SystemResolver`], asks the operating system.
pub trait Resolver: Send + Sync + 'static {
    /// Returns every address `host` has; the core's DNS deadline bounds the wait.
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'_, Result<Vec<IpAddr>, DnsFailure>>;
}

/// Opens upstream connections. The default, [`TcpConnector`], dials TCP.
pub trait Connector: Send + Sync + 'static {
    /// Connects to exactly `addr`; the core's connect deadline bounds the wait.
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, Result<BoxStream, ConnectFailure>>;
}

/// Lists this machine's own addresses. The default, [`SystemInterfaces`],
/// asks the operating system.
pub trait Interfaces: Send + Sync + 'static {
    /// Every address of every interface; empty when they cannot be listed.
    fn addrs(&self) -> Vec<IpAddr>;
}

/// The operating system's interface list (`getifaddrs`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemInterfaces;

impl Interfaces for SystemInterfaces {
    fn addrs(&self) -> Vec<IpAddr> {
        match if_addrs::get_if_addrs() {
            Ok(list) => list.into_iter().map(|i| i.ip()).collect(),
            Err(e) => {
                // The checks still know loopback and the listener's address.
                tracing::warn!(error = %e, "cannot list this machine's addresses");
                Vec::new()
            }
        }
    }
}

/// The system resolver (`getaddrinfo` through `tokio::net::lookup_host`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'_, Result<Vec<IpAddr>, DnsFailure>> {
        let host = host.to_string();
        Box::pin(async move {
            match tokio::net::lookup_host((host.as_str(), port)).await {
                Ok(addrs) => {
                    let mut ips: Vec<IpAddr> = Vec::new();
                    for addr in addrs {
                        if !ips.contains(&addr.ip()) {
                            ips.push(addr.ip());
                        }
                    }
                    Ok(ips)
                }
                Err(e) => Err(dns_failure(&e)),
            }
        })
    }
}

/// `getaddrinfo` errors carry no kind, only text: "Name or service not
/// known" (EAI_NONAME) and "No address associated with hostname"
/// (EAI_NODATA) mean the name has no address; anything else is a resolver
/// failure.
fn dns_failure(e: &io::Error) -> DnsFailure {
    let text = e.to_string().to_ascii_lowercase();
    let no_such = [
        "not known",
        "no address associated",
        "nodename nor servname",
        "no such host",
    ];
    if no_such.iter().any(|s| text.contains(s)) {
        DnsFailure::NoSuchHost
    } else {
        DnsFailure::ServerFailure
    }
}

/// Plain TCP with `TCP_NODELAY`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpConnector;

impl Connector for TcpConnector {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, Result<BoxStream, ConnectFailure>> {
        Box::pin(async move {
            let stream = dial(addr).await.map_err(|e| connect_failure(&e))?;
            Ok(Box::new(stream) as BoxStream)
        })
    }
}

/// Opens a TCP connection to `addr` without blocking, with `TCP_NODELAY`
/// (small writes, TLS records and HTTP heads, should leave at once).
///
/// Unlike `TcpStream::connect`, it asks the socket whether it is already
/// connected before waiting for the event loop to say so: to a loopback or
/// LAN origin the kernel has usually finished the handshake by the time
/// `connect` returns "in progress", and the wait costs a trip through the
/// runtime, often to another worker thread (about 25 µs per CONNECT here).
async fn dial(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if in_progress(&e) => {}
        Err(e) => return Err(e),
    }
    let stream = TcpStream::from_std(std::net::TcpStream::from(socket))?;
    if stream.peer_addr().is_err() {
        // Not connected yet (or failed): wait, then ask how it went.
        stream.writable().await?;
    }
    match stream.take_error()? {
        Some(e) => Err(e),
        None => Ok(stream),
    }
}

/// A non-blocking connect that has started but not finished.
fn in_progress(e: &io::Error) -> bool {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::EINPROGRESS) {
        return true;
    }
    // Windows reports WSAEWOULDBLOCK.
    e.kind() == io::ErrorKind::WouldBlock
}

fn connect_failure(e: &io::Error) -> ConnectFailure {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ConnectFailure::Refused,
        io::ErrorKind::TimedOut => ConnectFailure::TimedOut,
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
            ConnectFailure::Unreachable
        }
        _ => ConnectFailure::Other,
    }
}

/// Whether the peer reset the connection (a write after its reset is EPIPE).
pub(crate) fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getaddrinfo_texts_are_classified() {
        let e = |t: &str| io::Error::other(t.to_string());
        assert_eq!(
            dns_failure(&e(
                "failed to lookup address information: Name or service not known"
            )),
            DnsFailure::NoSuchHost
        );
        assert_eq!(
            dns_failure(&e(
                "failed to lookup address information: Temporary failure in name resolution"
            )),
            DnsFailure::ServerFailure
        );
    }

    #[tokio::test]
    async fn dialling_connects_with_nodelay_or_says_refused() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = dial(addr).await.unwrap();
        assert!(stream.nodelay().unwrap());
        assert_eq!(stream.peer_addr().unwrap(), addr);
        let (accepted, from) = listener.accept().await.unwrap();
        assert_eq!(from, stream.local_addr().unwrap());
        drop((accepted, listener));
        // Nothing listens there any more.
        let refused = TcpConnector.connect(addr).await.err();
        assert_eq!(refused, Some(ConnectFailure::Refused));
    }

    #[test]
    fn connect_errors_are_classified() {
        let e = |k| io::Error::from(k);
        assert_eq!(
            connect_failure(&e(io::ErrorKind::ConnectionRefused)),
            ConnectFailure::Refused
        );
        assert_eq!(
            connect_failure(&e(io::ErrorKind::HostUnreachable)),
            ConnectFailure::Unreachable
        );
        assert_eq!(
            connect_failure(&e(io::ErrorKind::PermissionDenied)),
            ConnectFailure::Other
        );
    }
}
