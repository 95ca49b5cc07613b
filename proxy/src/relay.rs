//! The tunnel: bytes both ways after a 2xx to CONNECT, with half-close,
//! an idle timer, byte counts and a read-only look at the TLS ClientHello.
//!
//! One future drives both directions, each with its own fixed buffer that is
//! allocated once per tunnel. Per chunk there is no allocation, lock, timer
//! or channel send: only an `Instant` comparison decides whether a `Traffic`
//! event is due.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::{pin, Pin};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use burrow_core::log::{CloseReason, Event};
use burrow_core::tls::{self, Peek};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::events::Emitter;

/// Size of each direction's buffer.
pub(crate) const BUF_SIZE: usize = 16 * 1024;
/// `Traffic` events are sent at most this often while bytes flow.
pub(crate) const TRAFFIC_EVERY: Duration = Duration::from_millis(250);

/// What a tunnel needs besides its two streams.
pub(crate) struct Tunnel<'a> {
    /// Close both sides after this long without a byte either way.
    pub idle: Duration,
    /// Where events go.
    pub emitter: &'a Emitter,
    /// The CONNECT host (no port) to compare with the SNI; `None` skips the peek.
    pub host: Option<String>,
    /// Cancelled when the engine stops for good.
    pub cut: &'a CancellationToken,
    /// Bytes counted on this connection before the tunnel (client → server, server → client).
    pub base: (u64, u64),
}

/// How a tunnel ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Running total client → server, including `base`.
    pub up: u64,
    /// Running total server → client, including `base`.
    pub down: u64,
    /// Why it ended.
    pub reason: CloseReason,
}

/// Relays until both sides have finished, one fails, the tunnel idles out or
/// the engine stops. `early` (bytes the client sent right after the CONNECT
/// head) goes upstream before anything else. Emits `FirstByteUp`,
/// `FirstByteDown`, `Tls` and periodic `Traffic`; the caller emits the final
/// `Traffic` and `Closed` from the returned [`Outcome`].
pub(crate) async fn relay<C, U>(
    client: &mut C,
    upstream: &mut U,
    early: &[u8],
    tunnel: Tunnel<'_>,
) -> Outcome
where
    C: AsyncRead + AsyncWrite + Unpin + ?Sized,
    U: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let now = Instant::now();
    let mut watch = Watch {
        emitter: tunnel.emitter,
        peek: tunnel.host.map(Peeker::new),
        sent_first: [false, false],
        totals: [tunnel.base.0, tunnel.base.1],
        last_traffic: now,
        last_activity: now,
        unreported: false,
    };
    let mut up = Half::new(early);
    let mut down = Half::new(&[]);
    let mut first_fin = None;
    let idle = tunnel.idle;
    let mut sleep = pin!(tokio::time::sleep_until(now + idle));
    // Reports counts that arrived too soon after the last `Traffic`, so a
    // burst followed by silence still shows up while the tunnel is open.
    let mut report = pin!(tokio::time::sleep_until(now + TRAFFIC_EVERY));
    let mut report_armed = false;
    let mut cut = pin!(tunnel.cut.cancelled());
    let reason = poll_fn(|cx| {
        if cut.as_mut().poll(cx).is_ready() {
            return Poll::Ready(CloseReason::Shutdown);
        }
        if !up.done {
            let (r, w) = (Pin::new(&mut *client), Pin::new(&mut *upstream));
            match up.poll_copy(cx, r, w, Dir::Up, &mut watch) {
                Poll::Ready(Ok(())) => _ = first_fin.get_or_insert(CloseReason::ClientFin),
                Poll::Ready(Err(Fail::Read(e))) => return Poll::Ready(client_error(&e)),
                Poll::Ready(Err(Fail::Write(e))) => return Poll::Ready(server_error(&e)),
                Poll::Pending => {}
            }
        }
        if !down.done {
            let (r, w) = (Pin::new(&mut *upstream), Pin::new(&mut *client));
            match down.poll_copy(cx, r, w, Dir::Down, &mut watch) {
                Poll::Ready(Ok(())) => _ = first_fin.get_or_insert(CloseReason::ServerFin),
                Poll::Ready(Err(Fail::Read(e))) => return Poll::Ready(server_error(&e)),
                Poll::Ready(Err(Fail::Write(e))) => return Poll::Ready(client_error(&e)),
                Poll::Pending => {}
            }
        }
        if up.done && down.done {
            return Poll::Ready(first_fin.unwrap_or(CloseReason::ClientFin));
        }
        if watch.unreported && !report_armed {
            report.as_mut().reset(watch.last_traffic + TRAFFIC_EVERY);
            report_armed = true;
        }
        if report_armed && report.as_mut().poll(cx).is_ready() {
            report_armed = false;
            if watch.unreported {
                watch.report(Instant::now());
            }
        }
        // The timer is only re-armed when it fires, not per chunk.
        while sleep.as_mut().poll(cx).is_ready() {
            let deadline = watch.last_activity + idle;
            if Instant::now() >= deadline {
                return Poll::Ready(CloseReason::IdleTimeout);
            }
            sleep.as_mut().reset(deadline);
        }
        Poll::Pending
    })
    .await;
    Outcome {
        up: watch.totals[0],
        down: watch.totals[1],
        reason,
    }
}

/// A reset on the client's side, or another error.
fn client_error(e: &io::Error) -> CloseReason {
    if is_reset(e) {
        CloseReason::ClientReset
    } else {
        CloseReason::Error
    }
}

/// A reset on the server's side, or another error.
fn server_error(e: &io::Error) -> CloseReason {
    if is_reset(e) {
        CloseReason::ServerReset
    } else {
        CloseReason::Error
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    Up = 0,
    Down = 1,
}

enum Fail {
    Read(io::Error),
    Write(io::Error),
}

/// One direction: read into the buffer, write it all out, repeat; on EOF
/// shut the other side's write half down and stop.
struct Half {
    buf: Box<[u8]>,
    pos: usize,
    cap: usize,
    eof: bool,
    done: bool,
    unflushed: bool,
}

impl Half {
    fn new(pending: &[u8]) -> Self {
        let mut buf = vec![0; BUF_SIZE.max(pending.len())].into_boxed_slice();
        buf[..pending.len()].copy_from_slice(pending);
        Half {
            buf,
            pos: 0,
            cap: pending.len(),
            eof: false,
            done: false,
            unflushed: false,
        }
    }

    fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut r: Pin<&mut R>,
        mut w: Pin<&mut W>,
        dir: Dir,
        watch: &mut Watch<'_>,
    ) -> Poll<Result<(), Fail>>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        loop {
            while self.pos < self.cap {
                let n = match ready!(w.as_mut().poll_write(cx, &self.buf[self.pos..self.cap])) {
                    Ok(0) => return Poll::Ready(Err(Fail::Write(io::ErrorKind::WriteZero.into()))),
                    Ok(n) => n,
                    Err(e) => return Poll::Ready(Err(Fail::Write(e))),
                };
                watch.wrote(dir, &self.buf[self.pos..self.pos + n]);
                self.pos += n;
                self.unflushed = true;
            }
            if self.eof {
                if let Err(e) = ready!(w.as_mut().poll_flush(cx)) {
                    return Poll::Ready(Err(Fail::Write(e)));
                }
                // The other side may already be gone; its own direction will say so.
                let _ = ready!(w.as_mut().poll_shutdown(cx));
                self.done = true;
                return Poll::Ready(Ok(()));
            }
            let mut rb = ReadBuf::new(&mut self.buf);
            match r.as_mut().poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    if n == 0 {
                        self.eof = true;
                    }
                    (self.pos, self.cap) = (0, n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(Fail::Read(e))),
                Poll::Pending => {
                    if self.unflushed {
                        if let Poll::Ready(Err(e)) = w.as_mut().poll_flush(cx) {
                            return Poll::Ready(Err(Fail::Write(e)));
                        }
                        self.unflushed = false;
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

/// Counts, first-byte events, throttled `Traffic`, and the TLS peek.
struct Watch<'a> {
    emitter: &'a Emitter,
    peek: Option<Peeker>,
    sent_first: [bool; 2],
    totals: [u64; 2],
    last_traffic: Instant,
    last_activity: Instant,
    /// Bytes were counted since the last `Traffic`.
    unreported: bool,
}

impl Watch<'_> {
    fn report(&mut self, now: Instant) {
        self.last_traffic = now;
        self.unreported = false;
        self.emitter.emit(Event::Traffic {
            up: self.totals[0],
            down: self.totals[1],
        });
    }

    fn wrote(&mut self, dir: Dir, bytes: &[u8]) {
        let i = dir as usize;
        self.totals[i] += bytes.len() as u64;
        if !self.sent_first[i] {
            self.sent_first[i] = true;
            self.emitter.emit(match dir {
                Dir::Up => Event::FirstByteUp,
                Dir::Down => Event::FirstByteDown,
            });
        }
        if dir == Dir::Up {
            if let Some(peeker) = &mut self.peek {
                if let Some(decided) = peeker.feed(bytes) {
                    self.peek = None;
                    if let Some(event) = decided {
                        self.emitter.emit(event);
                    }
                }
            }
        }
        let now = Instant::now();
        self.last_activity = now;
        self.unreported = true;
        if now.duration_since(self.last_traffic) >= TRAFFIC_EVERY {
            self.report(now);
        }
    }
}

/// Looks at the first client bytes until the core can say what they are.
/// Bytes are copied aside only while a ClientHello spans several reads.
struct Peeker {
    host: String,
    seen: Vec<u8>,
}

impl Peeker {
    fn new(host: String) -> Self {
        Peeker {
            host,
            seen: Vec::new(),
        }
    }

    /// `None` while undecided; `Some(event)` once done (`Some(None)` when it
    /// gave up after `MAX_PEEK` bytes without an answer).
    fn feed(&mut self, bytes: &[u8]) -> Option<Option<Event>> {
        let peek = if self.seen.is_empty() {
            tls::peek(bytes)
        } else {
            let room = tls::MAX_PEEK.saturating_sub(self.seen.len());
            self.seen.extend_from_slice(&bytes[..bytes.len().min(room)]);
            tls::peek(&self.seen)
        };
        if let Some(check) = tls::check_sni(&self.host, &peek) {
            let (sni, alpn) = match peek {
                Peek::Hello(hello) => (hello.sni, hello.alpn),
                _ => (None, Vec::new()),
            };
            return Some(Some(Event::Tls { check, sni, alpn }));
        }
        if self.seen.is_empty() {
            self.seen
                .extend_from_slice(&bytes[..bytes.len().min(tls::MAX_PEEK)]);
        }
        (self.seen.len() >= tls::MAX_PEEK).then_some(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burrow_core::log::LogEvent;
    use burrow_core::tls::SniCheck;
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio::sync::broadcast;

    struct Setup {
        emitter: Emitter,
        rx: broadcast::Receiver<LogEvent>,
        cut: CancellationToken,
    }

    fn setup() -> Setup {
        let (tx, rx) = broadcast::channel(1024);
        Setup {
            emitter: Emitter::new(1, tx),
            rx,
            cut: CancellationToken::new(),
        }
    }

    fn tunnel<'a>(s: &'a Setup, idle: u64, host: Option<&str>) -> Tunnel<'a> {
        Tunnel {
            idle: Duration::from_secs(idle),
            emitter: &s.emitter,
            host: host.map(str::to_string),
            cut: &s.cut,
            base: (0, 0),
        }
    }

    fn events(rx: &mut broadcast::Receiver<LogEvent>) -> Vec<Event> {
        std::iter::from_fn(|| rx.try_recv().ok().map(|e| e.event)).collect()
    }

    /// (client app end, proxy's client end, proxy's upstream end, server app end)
    fn pipes() -> (DuplexStream, DuplexStream, DuplexStream, DuplexStream) {
        let (client, proxy_client) = duplex(64 * 1024);
        let (proxy_upstream, server) = duplex(64 * 1024);
        (client, proxy_client, proxy_upstream, server)
    }

    #[tokio::test]
    async fn client_half_close_then_server_finishes() {
        let s = setup();
        let (mut client, mut pc, mut pu, mut server) = pipes();
        let apps = async {
            client.write_all(b"early-next").await.unwrap();
            client.shutdown().await.unwrap();
            let mut got = Vec::new();
            server.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"EARLYearly-next");
            // The client has finished sending, but the answer still flows back.
            server.write_all(b"answer").await.unwrap();
            server.shutdown().await.unwrap();
            let mut back = Vec::new();
            client.read_to_end(&mut back).await.unwrap();
            assert_eq!(back, b"answer");
        };
        let (out, ()) = tokio::join!(
            relay(&mut pc, &mut pu, b"EARLY", tunnel(&s, 60, None)),
            apps
        );
        assert_eq!(out.reason, CloseReason::ClientFin);
        assert_eq!((out.up, out.down), (15, 6));
    }

    #[tokio::test]
    async fn server_half_close_then_client_finishes() {
        let s = setup();
        let (mut client, mut pc, mut pu, mut server) = pipes();
        let apps = async {
            server.write_all(b"banner").await.unwrap();
            server.shutdown().await.unwrap();
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"banner");
            client.write_all(b"bye").await.unwrap();
            client.shutdown().await.unwrap();
            let mut up = Vec::new();
            server.read_to_end(&mut up).await.unwrap();
            assert_eq!(up, b"bye");
        };
        let (out, ()) = tokio::join!(relay(&mut pc, &mut pu, b"", tunnel(&s, 60, None)), apps);
        assert_eq!(out.reason, CloseReason::ServerFin);
        assert_eq!((out.up, out.down), (3, 6));
    }

    #[tokio::test]
    async fn early_data_goes_first_and_events_fire_once() {
        let mut s = setup();
        let (mut client, mut pc, mut pu, mut server) = pipes();
        let hello = tls::client_hello(Some("example.com"));
        let (first, second) = hello.split_at(10);
        let apps = async {
            client.write_all(second).await.unwrap();
            let mut got = vec![0; hello.len()];
            server.read_exact(&mut got).await.unwrap();
            assert_eq!(got, hello);
            server.write_all(b"x").await.unwrap();
            drop(server);
            client.shutdown().await.unwrap();
            let mut back = Vec::new();
            client.read_to_end(&mut back).await.unwrap();
        };
        let t = tunnel(&s, 60, Some("example.com"));
        let (out, ()) = tokio::join!(relay(&mut pc, &mut pu, first, t), apps);
        assert_eq!(out.up, hello.len() as u64);
        let evs = events(&mut s.rx);
        assert_eq!(evs.iter().filter(|e| **e == Event::FirstByteUp).count(), 1);
        assert_eq!(
            evs.iter().filter(|e| **e == Event::FirstByteDown).count(),
            1
        );
        let tls: Vec<_> = evs
            .iter()
            .filter(|e| matches!(e, Event::Tls { .. }))
            .collect();
        assert_eq!(
            tls,
            [&Event::Tls {
                check: SniCheck::Match,
                sni: Some("example.com".into()),
                alpn: vec!["h2".into(), "http/1.1".into()],
            }]
        );
    }

    #[tokio::test]
    async fn not_tls_is_reported() {
        let mut s = setup();
        let (mut client, mut pc, mut pu, mut server) = pipes();
        let apps = async {
            client.write_all(b"SSH-2.0-x\r\n").await.unwrap();
            client.shutdown().await.unwrap();
            let mut got = Vec::new();
            server.read_to_end(&mut got).await.unwrap();
            drop(server);
        };
        tokio::join!(
            relay(&mut pc, &mut pu, b"", tunnel(&s, 60, Some("h"))),
            apps
        );
        assert!(events(&mut s.rx).contains(&Event::Tls {
            check: SniCheck::NotTls,
            sni: None,
            alpn: vec![]
        }));
    }

    #[tokio::test]
    async fn counts_survive_a_reset_style_error() {
        let s = setup();
        let (mut client, mut pc, mut pu, server) = pipes();
        let apps = async {
            client.write_all(b"12345").await.unwrap();
            // Let the bytes through, then the server vanishes mid-stream.
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(server);
            client.write_all(b"more").await.unwrap();
        };
        let (out, ()) = tokio::join!(relay(&mut pc, &mut pu, b"", tunnel(&s, 60, None)), apps);
        assert_eq!(out.up, 5);
        assert!(matches!(
            out.reason,
            CloseReason::ServerReset | CloseReason::ServerFin | CloseReason::Error
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_tunnel_is_closed() {
        let s = setup();
        let (mut client, mut pc, mut pu, _server) = pipes();
        let apps = async {
            client.write_all(b"x").await.unwrap();
            tokio::time::sleep(Duration::from_secs(20)).await;
            client.write_all(b"y").await.unwrap();
        };
        let start = Instant::now();
        let (out, ()) = tokio::join!(relay(&mut pc, &mut pu, b"", tunnel(&s, 30, None)), apps);
        assert_eq!(out.reason, CloseReason::IdleTimeout);
        assert_eq!(out.up, 2);
        // Activity at 20 s pushed the deadline to 50 s.
        assert_eq!(start.elapsed().as_secs(), 50);
    }

    #[tokio::test(start_paused = true)]
    async fn half_closed_tunnel_still_idles_out() {
        let s = setup();
        let (mut client, mut pc, mut pu, _server) = pipes();
        client.shutdown().await.unwrap();
        let out = relay(&mut pc, &mut pu, b"", tunnel(&s, 10, None)).await;
        assert_eq!(out.reason, CloseReason::IdleTimeout);
    }

    #[tokio::test]
    async fn cut_ends_with_shutdown() {
        let s = setup();
        let (_client, mut pc, mut pu, _server) = pipes();
        s.cut.cancel();
        let out = relay(&mut pc, &mut pu, b"", tunnel(&s, 10, None)).await;
        assert_eq!(out.reason, CloseReason::Shutdown);
    }

    #[tokio::test(start_paused = true)]
    async fn traffic_is_throttled() {
        let mut s = setup();
        let (mut client, mut pc, mut pu, mut server) = pipes();
        let apps = async {
            for _ in 0..10 {
                client.write_all(b"abc").await.unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            client.shutdown().await.unwrap();
            let mut got = Vec::new();
            server.read_to_end(&mut got).await.unwrap();
            server.shutdown().await.unwrap();
        };
        let (out, ()) = tokio::join!(relay(&mut pc, &mut pu, b"", tunnel(&s, 60, None)), apps);
        assert_eq!(out.up, 30);
        let traffic = events(&mut s.rx)
            .into_iter()
            .filter(|e| matches!(e, Event::Traffic { .. }))
            .count();
        // One second of writes every 100 ms: at most one event per 250 ms.
        assert!((1..=5).contains(&traffic), "{traffic}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_silence_is_still_reported_while_open() {
        let s = setup();
        let mut rx = s.rx.resubscribe();
        let (mut client, mut pc, mut pu, mut server) = pipes();
        let apps = async {
            client.write_all(b"abc").await.unwrap();
            let mut got = [0; 3];
            server.read_exact(&mut got).await.unwrap();
            // Well past the throttle, with the tunnel still open.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let seen = events(&mut rx);
            client.shutdown().await.unwrap();
            server.shutdown().await.unwrap();
            seen
        };
        let (_, seen) = tokio::join!(relay(&mut pc, &mut pu, b"", tunnel(&s, 60, None)), apps);
        assert!(
            seen.contains(&Event::Traffic { up: 3, down: 0 }),
            "{seen:?}"
        );
    }
}
