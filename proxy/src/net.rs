//! Name lookups and upstream connections, behind two small traits so tests
//! can inject failures, plus the deadlines the engine puts around them.
//!
//! The traits only report what the network did; the core turns that into a
//! response.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

use burrow_core::outcome::{ConnectFailure, DnsFailure};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// A boxed, sendable future, as returned by [`Resolver`] and [`Connector`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Any bidirectional byte stream: a `TcpStream` in production; tests may
/// return a loopback stream or an in-memory duplex.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// A boxed [`Stream`], as returned by a [`Connector`].
pub type BoxStream = Box<dyn Stream>;

/// Looks names up. The default, [`SystemResolver`], asks the operating system.
pub trait Resolver: Send + Sync + 'static {
    /// Returns every address `host` has; the engine applies `timeouts.dns`.
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'_, Result<Vec<IpAddr>, DnsFailure>>;
}

/// Opens upstream connections. The default, [`TcpConnector`], dials TCP.
pub trait Connector: Send + Sync + 'static {
    /// Connects to exactly `addr`; the engine applies `timeouts.connect`.
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, Result<BoxStream, ConnectFailure>>;
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
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|e| connect_failure(&e))?;
            // Small writes (TLS records, HTTP heads) should leave at once.
            let _ = stream.set_nodelay(true);
            Ok(Box::new(stream) as BoxStream)
        })
    }
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

/// Resolves with the DNS deadline: running out of time is `DnsFailure::Timeout`.
pub(crate) async fn resolve(
    resolver: &dyn Resolver,
    host: &str,
    port: u16,
    limit: Duration,
) -> Result<Vec<IpAddr>, DnsFailure> {
    tokio::time::timeout(limit, resolver.resolve(host, port))
        .await
        .unwrap_or(Err(DnsFailure::Timeout))
}

/// Connects with the connect deadline: running out of time is `ConnectFailure::TimedOut`.
pub(crate) async fn connect(
    connector: &dyn Connector,
    addr: SocketAddr,
    limit: Duration,
) -> Result<BoxStream, ConnectFailure> {
    tokio::time::timeout(limit, connector.connect(addr))
        .await
        .unwrap_or(Err(ConnectFailure::TimedOut))
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

    struct Never;
    impl Resolver for Never {
        fn resolve(&self, _: &str, _: u16) -> BoxFuture<'_, Result<Vec<IpAddr>, DnsFailure>> {
            Box::pin(std::future::pending())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn resolve_deadline_is_a_dns_timeout() {
        let r = resolve(&Never, "example.com", 443, Duration::from_secs(5)).await;
        assert_eq!(r, Err(DnsFailure::Timeout));
    }
}
