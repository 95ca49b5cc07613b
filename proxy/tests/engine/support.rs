//! Helpers: engines on port 0, raw clients, a scripted origin, event capture.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use burrow_core::log::{CloseReason, Event, LogEvent};
use burrow_core::outcome::{ConnectFailure, DnsFailure};
use burrow_core::Settings;
use burrow_proxy::{BoxFuture, BoxStream, Connector, Engine, Resolver, Running};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;

/// Upper bound on any wait, so a bug fails a test instead of hanging it.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Loopback settings on port 0 that may reach any loopback port.
pub fn settings() -> Settings {
    let mut s = Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        allowed_ports: "1-65535".parse().unwrap(),
        ..Settings::default()
    };
    s.timeouts.shutdown_grace = 0.5;
    s
}

/// Starts `engine` and subscribes to its events first.
pub async fn start(engine: Engine) -> (Running, broadcast::Receiver<LogEvent>) {
    let rx = engine.subscribe();
    let running = engine.start().await.expect("engine starts");
    (running, rx)
}

/// Runs `f` with the patience limit.
pub async fn patiently<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(PATIENCE, f).await.expect("timed out")
}

/// Connects to the proxy and sends `raw`.
pub async fn send(proxy: SocketAddr, raw: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(proxy).await.unwrap();
    s.write_all(raw).await.unwrap();
    s
}

/// Reads until the peer closes.
pub async fn read_all(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    patiently(s.read_to_end(&mut out)).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads one response head (through the blank line).
pub async fn read_head<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> String {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = patiently(r.read_line(&mut line)).await.unwrap();
        head.push_str(&line);
        if n == 0 || line == "\r\n" {
            return head;
        }
    }
}

/// The value of header `name` in `head`, compared case-insensitively.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Reads a body framed by `head`: Content-Length or chunked.
pub async fn read_body<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R, head: &str) -> Vec<u8> {
    if let Some(n) = header(head, "content-length") {
        let mut body = vec![0; n.parse().unwrap()];
        patiently(r.read_exact(&mut body)).await.unwrap();
        return body;
    }
    assert_eq!(header(head, "transfer-encoding"), Some("chunked"), "{head}");
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        patiently(r.read_line(&mut line)).await.unwrap();
        let size = usize::from_str_radix(line.trim_end().split(';').next().unwrap(), 16).unwrap();
        if size == 0 {
            let mut end = String::new();
            patiently(r.read_line(&mut end)).await.unwrap();
            assert_eq!(end, "\r\n");
            return body;
        }
        let mut chunk = vec![0; size + 2];
        patiently(r.read_exact(&mut chunk)).await.unwrap();
        assert!(chunk.ends_with(b"\r\n"));
        body.extend_from_slice(&chunk[..size]);
    }
}

/// Collects events until `closed` connections have sent `Closed`.
pub async fn events_until_closed(
    rx: &mut broadcast::Receiver<LogEvent>,
    closed: usize,
) -> Vec<LogEvent> {
    let mut out = Vec::new();
    let mut seen = 0;
    while seen < closed {
        let e = patiently(rx.recv()).await.unwrap();
        if matches!(e.event, Event::Closed { .. }) {
            seen += 1;
        }
        out.push(e);
    }
    out
}

/// Just the events, without ids and times.
pub fn kinds(events: &[LogEvent]) -> Vec<Event> {
    events.iter().map(|e| e.event.clone()).collect()
}

/// How the next connection to close ended (the last event it sent).
pub async fn close_reason(rx: &mut broadcast::Receiver<LogEvent>) -> CloseReason {
    match events_until_closed(rx, 1).await.pop().map(|e| e.event) {
        Some(Event::Closed { reason }) => reason,
        other => panic!("expected a Closed event, got {other:?}"),
    }
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// A loopback server that echoes every byte until the client closes, then closes.
pub async fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    addr
}

/// A resolver that always fails the same way.
pub struct FailingResolver(pub DnsFailure);

impl Resolver for FailingResolver {
    fn resolve(&self, _: &str, _: u16) -> BoxFuture<'_, Result<Vec<IpAddr>, DnsFailure>> {
        let f = self.0;
        Box::pin(async move { Err(f) })
    }
}

/// A resolver that answers every name with one address.
pub struct FixedResolver(pub IpAddr);

impl Resolver for FixedResolver {
    fn resolve(&self, _: &str, _: u16) -> BoxFuture<'_, Result<Vec<IpAddr>, DnsFailure>> {
        let ip = self.0;
        Box::pin(async move { Ok(vec![ip]) })
    }
}

/// A connector whose connects never complete.
pub struct HangingConnector;

impl Connector for HangingConnector {
    fn connect(&self, _: SocketAddr) -> BoxFuture<'_, Result<BoxStream, ConnectFailure>> {
        Box::pin(std::future::pending())
    }
}

/// One request as the origin received it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Which upstream connection (0-based, in accept order) carried it.
    pub conn: usize,
    /// The head, as text.
    pub head: String,
    /// The decoded body.
    pub body: Vec<u8>,
}

/// What the origin does with a request.
pub enum Reply {
    /// Write these bytes and keep the connection for more requests.
    Send(Vec<u8>),
    /// Write these bytes, then close.
    SendAndClose(Vec<u8>),
    /// Close without answering.
    Close,
    /// Never answer.
    Hang,
}

/// A hand-written HTTP/1.1 origin on loopback that records what it receives.
pub struct Origin {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub connections: Arc<AtomicUsize>,
}

impl Origin {
    pub async fn start(reply: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Origin {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = Origin {
            addr: l.local_addr().unwrap(),
            seen: Arc::default(),
            connections: Arc::default(),
        };
        let (seen, connections, reply) = (
            origin.seen.clone(),
            origin.connections.clone(),
            Arc::new(reply),
        );
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let conn = connections.fetch_add(1, Ordering::SeqCst);
                let (seen, reply) = (seen.clone(), reply.clone());
                tokio::spawn(async move {
                    let mut s = BufReader::new(s);
                    loop {
                        let head = read_head(&mut s).await;
                        if head.is_empty() {
                            return;
                        }
                        let chunked = header(&head, "transfer-encoding").is_some();
                        let body = if chunked || header(&head, "content-length").is_some() {
                            read_body(&mut s, &head).await
                        } else {
                            Vec::new()
                        };
                        let request = Seen { conn, head, body };
                        seen.lock().unwrap().push(request.clone());
                        match reply(&request) {
                            Reply::Send(bytes) => s.get_mut().write_all(&bytes).await.unwrap(),
                            Reply::SendAndClose(bytes) => {
                                s.get_mut().write_all(&bytes).await.unwrap();
                                return;
                            }
                            Reply::Close => return,
                            Reply::Hang => std::future::pending::<()>().await,
                        }
                    }
                });
            }
        });
        origin
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A simple 200 with a Content-Length body.
pub fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
