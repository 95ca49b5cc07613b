//! The soak's loopback origins, in-process: a byte origin for tunnels and an HTTP origin for
//! forwarded requests. Both count their open connections, so after the load the soak can tell
//! whether the proxy closed every upstream connection; the byte origin also reports, per
//! tunnel, how its side ended.
//!
//! A tunnel's first 25 bytes tell the byte origin what to do: a mode byte, the operation's id,
//! a seed and a length (each u64, big-endian).
//! - `E`: echo every byte until the proxy closes, then close too.
//! - `D`: send `length` bytes made from `seed`, close the sending side, wait for the close.
//! - `R`: echo `length` bytes, wait for one more byte, then reset the connection.
//!
//! The HTTP origin answers `GET /get/<seed>/<length>/<cl|chunked>` with that payload, and
//! `POST /post/<cl|chunked>` with the request body, framed as the path says.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use burrow_tests::origin::RawOrigin;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::http::{frame, Wire};
use crate::net::is_reset;
use crate::payload::{payload, Rng};

/// Length of a tunnel's first bytes.
pub const HEADER: usize = 25;
/// How long an origin waits for a byte before giving up on a connection: longer than any
/// timeout the proxy runs, so it is the proxy that closes, and the soak sees it did.
const ORIGIN_PATIENCE: Duration = Duration::from_secs(60);

/// What a tunnel asks the byte origin to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Echo until closed.
    Echo,
    /// Send a payload, then close.
    Download,
    /// Echo a payload, then reset on the next byte.
    ResetAfter,
}

/// How the byte origin's side of a tunnel ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// The proxy closed (FIN).
    Fin,
    /// The proxy reset.
    Reset,
    /// The origin reset, as asked.
    OriginReset,
    /// Anything else: an error, the origin's patience ran out, a bad first line.
    Other(String),
}

/// The first bytes of a tunnel.
pub fn header(mode: Mode, id: u64, seed: u64, len: u64) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[0] = match mode {
        Mode::Echo => b'E',
        Mode::Download => b'D',
        Mode::ResetAfter => b'R',
    };
    h[1..9].copy_from_slice(&id.to_be_bytes());
    h[9..17].copy_from_slice(&seed.to_be_bytes());
    h[17..25].copy_from_slice(&len.to_be_bytes());
    h
}

/// Operations waiting to hear how the origin's side of their tunnel ended.
#[derive(Default)]
pub struct Ends(Mutex<HashMap<u64, oneshot::Sender<End>>>);

impl Ends {
    /// Registers operation `id` (before it connects); the receiver gets the end.
    pub fn expect(&self, id: u64) -> oneshot::Receiver<End> {
        let (tx, rx) = oneshot::channel();
        self.0.lock().expect("ends lock").insert(id, tx);
        rx
    }

    /// Drops `id`'s registration (an operation that never reached the origin leaves one).
    pub fn forget(&self, id: u64) {
        self.0.lock().expect("ends lock").remove(&id);
    }

    fn finish(&self, id: u64, end: End) {
        if let Some(tx) = self.0.lock().expect("ends lock").remove(&id) {
            let _ = tx.send(end);
        }
    }
}

/// Both origins.
pub struct Origins {
    /// The byte origin, for tunnels.
    pub tunnel: RawOrigin,
    /// The HTTP origin, for forwarded requests.
    pub http: RawOrigin,
    /// Where tunnels report their end.
    pub ends: Arc<Ends>,
    open: Arc<AtomicI64>,
}

impl Origins {
    /// Starts both on `127.0.0.1:0`.
    pub async fn start() -> Origins {
        let open = Arc::new(AtomicI64::new(0));
        let ends = Arc::new(Ends::default());
        let tunnel = RawOrigin::start({
            let (open, ends) = (open.clone(), ends.clone());
            move |stream, _| {
                let (open, ends) = (Gauge::enter(&open), ends.clone());
                async move {
                    tunnel(stream, &ends).await;
                    drop(open);
                }
            }
        })
        .await;
        let http = RawOrigin::start({
            let open = open.clone();
            move |stream, n| {
                let open = Gauge::enter(&open);
                async move {
                    http(stream, n as u64).await;
                    drop(open);
                }
            }
        })
        .await;
        Origins {
            tunnel,
            http,
            ends,
            open,
        }
    }

    /// Connections either origin holds open right now.
    pub fn open(&self) -> i64 {
        self.open.load(Ordering::SeqCst)
    }
}

/// One open connection on the gauge, until dropped.
struct Gauge(Arc<AtomicI64>);

impl Gauge {
    fn enter(open: &Arc<AtomicI64>) -> Gauge {
        open.fetch_add(1, Ordering::SeqCst);
        Gauge(open.clone())
    }
}

impl Drop for Gauge {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One tunnel, as its first bytes ask.
async fn tunnel(mut s: TcpStream, ends: &Ends) {
    let mut h = [0u8; HEADER];
    if !matches!(
        tokio::time::timeout(ORIGIN_PATIENCE, s.read_exact(&mut h)).await,
        Ok(Ok(_))
    ) {
        return;
    }
    let word = |at: usize| u64::from_be_bytes(h[at..at + 8].try_into().expect("8 bytes"));
    let (id, seed, len) = (word(1), word(9), word(17));
    let end = match h[0] {
        b'E' => echo(&mut s, u64::MAX)
            .await
            .unwrap_or_else(|| End::Other("echoed 2^64 bytes".into())),
        b'D' => download(&mut s, seed, len).await,
        b'R' => match echo(&mut s, len).await {
            Some(end) => end,
            None => reset_after(s).await,
        },
        other => End::Other(format!("unknown mode {other:#x}")),
    };
    ends.finish(id, end);
}

/// Echoes up to `limit` bytes. `None` when `limit` were echoed; otherwise how the stream ended
/// (after a FIN, the origin closes its side too: the half-close travels back).
async fn echo(s: &mut TcpStream, limit: u64) -> Option<End> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = limit;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match tokio::time::timeout(ORIGIN_PATIENCE, s.read(&mut buf[..want])).await {
            Err(_) => return Some(End::Other("the origin's patience ran out".into())),
            Ok(Err(e)) => return Some(ended(&e)),
            Ok(Ok(0)) => {
                let _ = s.shutdown().await;
                return Some(End::Fin);
            }
            Ok(Ok(n)) => n,
        };
        if let Err(e) = s.write_all(&buf[..n]).await {
            return Some(ended(&e));
        }
        left -= n as u64;
    }
    None
}

/// Sends `len` bytes from `seed`, closes the sending side, and waits for the proxy to close.
async fn download(s: &mut TcpStream, seed: u64, len: u64) -> End {
    let bytes = payload(seed, usize::try_from(len).unwrap_or(0));
    if let Err(e) = s.write_all(&bytes).await {
        return ended(&e);
    }
    if let Err(e) = s.shutdown().await {
        return ended(&e);
    }
    drained(s).await
}

/// Waits for one byte, then resets (SO_LINGER 0 and close).
async fn reset_after(mut s: TcpStream) -> End {
    let mut one = [0u8; 1];
    match tokio::time::timeout(ORIGIN_PATIENCE, s.read(&mut one)).await {
        Ok(Ok(1)) => {}
        Ok(Ok(_)) => return End::Fin,
        Ok(Err(e)) => return ended(&e),
        Err(_) => return End::Other("no byte asked for the reset".into()),
    }
    match s.set_zero_linger() {
        Ok(()) => End::OriginReset,
        Err(e) => End::Other(format!("SO_LINGER: {e}")),
    }
}

/// Reads and drops bytes until the proxy closes.
async fn drained(s: &mut TcpStream) -> End {
    let mut sink = [0u8; 4096];
    loop {
        match tokio::time::timeout(ORIGIN_PATIENCE, s.read(&mut sink)).await {
            Err(_) => return End::Other("the origin's patience ran out".into()),
            Ok(Ok(0)) => return End::Fin,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return ended(&e),
        }
    }
}

fn ended(e: &std::io::Error) -> End {
    if is_reset(e) {
        End::Reset
    } else {
        End::Other(e.to_string())
    }
}

/// One keep-alive HTTP connection: answers requests until the proxy closes it.
async fn http(stream: TcpStream, n: u64) {
    let mut wire = Wire::new(stream);
    let mut rng = Rng::new(n);
    loop {
        let Ok(Ok(Some(head))) = tokio::time::timeout(ORIGIN_PATIENCE, wire.head()).await else {
            return;
        };
        let Ok(Ok(body)) = tokio::time::timeout(ORIGIN_PATIENCE, wire.body(head.framing())).await
        else {
            return;
        };
        // The path, whether the proxy sent origin-form or absolute-form.
        let target = head.second_word();
        let path = target
            .strip_prefix("http://")
            .and_then(|t| t.find('/').map(|i| &t[i..]))
            .unwrap_or(target);
        let parts: Vec<&str> = path.split('/').collect();
        let (answer, chunked) = match parts.as_slice() {
            ["", "get", seed, len, framing] => match (seed.parse(), len.parse()) {
                (Ok(seed), Ok(len)) => (Some(payload(seed, len)), *framing == "chunked"),
                _ => (None, false),
            },
            ["", "post", framing] => (Some(body), *framing == "chunked"),
            _ => (None, false),
        };
        let response = match answer {
            Some(body) => {
                let (field, framed) = frame(&body, chunked, &mut rng);
                let mut r = format!("HTTP/1.1 200 OK\r\n{field}\r\n").into_bytes();
                r.extend(framed);
                r
            }
            None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
        };
        if wire.stream.write_all(&response).await.is_err() {
            return;
        }
    }
}
