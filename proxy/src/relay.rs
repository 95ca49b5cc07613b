//! The tunnel's byte pump: both directions after a 2xx to CONNECT, with
//! half-close. What the bytes mean (the ClientHello, the counts, the idle
//! deadline, how it ended) is the core's; this only moves them and reports.
//!
//! One future drives both directions. A direction holds a buffer only while
//! it has bytes to move: it takes one from the engine's [`Pool`] for a read,
//! and gives it back as soon as a read finds nothing (everything read before
//! was written out), so an idle tunnel holds its sockets and a small state.
//! Per chunk there is no allocation, clock read or channel send (a busy
//! direction keeps its buffer; the pool's lock is taken when a direction
//! wakes and when it drains): counts go up and a flag is set; a timer armed
//! at most every [`TRAFFIC_EVERY`] hands the counts to the core.
//!
//! On Linux, when both legs are TCP sockets, a direction whose last read was
//! bulk ([`SPLICE_FROM`] or more) moves its next bytes through a lent pipe
//! with `splice(2)` instead of a buffer (see [`pipe`]); small reads, the
//! bytes the core must see (the client's first bytes, while it looks for the
//! TLS ClientHello) and bytes sent before the tunnel opened are copied.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::{pin, Pin};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use burrow_core::connection::{Side, Stop, TunnelEnd, TRAFFIC_EVERY};
use burrow_core::Connection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::connection::deadline_of;
use crate::events::Emitter;
use crate::net::{is_reset, Stream};
use pipe::PipeLease;
pub(crate) use pipe::{Pipes, DESCRIPTORS as PIPE_DESCRIPTORS};
use pool::Lease;
pub(crate) use pool::Pool;

mod free_list;
#[cfg(target_os = "linux")]
mod pipe;
#[cfg(not(target_os = "linux"))]
#[path = "relay/no_pipe.rs"]
mod pipe;
pub(crate) mod pool;

/// One leg of a tunnel: a byte stream, and the TCP socket under it when
/// there is one, so bytes can be spliced between two such legs.
pub(crate) trait Leg: AsyncRead + AsyncWrite + Unpin {
    /// The TCP socket this leg is, if it is one.
    fn tcp(&self) -> Option<&TcpStream>;
}

impl Leg for TcpStream {
    fn tcp(&self) -> Option<&TcpStream> {
        Some(self)
    }
}

impl Leg for dyn Stream {
    fn tcp(&self) -> Option<&TcpStream> {
        self.as_any().downcast_ref()
    }
}

/// The core's side of a tunnel, as the pump reports to it.
pub(crate) struct Link<'a> {
    /// The connection, in its tunnel phase.
    pub conn: &'a mut Connection,
    /// The connection's time zero.
    pub start: Instant,
    /// Where the core's events go.
    pub emitter: &'a Emitter,
    /// Cancelled when the engine stops for good.
    pub cut: &'a CancellationToken,
    /// Where both directions take their buffers from (the engine's
    /// tunnel pool, [`Pool::for_tunnels`]).
    pub pool: &'a Pool,
    /// Where both directions take their pipes from, when they splice.
    pub pipes: &'a Pipes,
}

impl Link<'_> {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn flush(&mut self) {
        while let Some((at, event)) = self.conn.poll_event() {
            self.emitter.emit(at, event);
        }
    }
}

/// Relays until both directions have finished, one fails, the core closes
/// the tunnel (idle deadline) or the engine stops. `early` (bytes the client
/// sent right after the CONNECT head) goes upstream before anything else.
pub(crate) async fn relay<C, U>(client: &mut C, upstream: &mut U, early: &[u8], mut link: Link<'_>)
where
    C: Leg + ?Sized,
    U: Leg + ?Sized,
{
    let mut counts = Counts::default();
    let (pool, pipes) = (link.pool, link.pipes);
    let splice = client.tcp().is_some() && upstream.tcp().is_some();
    let mut up = Half::new(early, pool, pipes, splice);
    let mut down = Half::new(&[], pool, pipes, splice);
    let mut first_fin = None;
    let mut idle = pin!(tokio::time::sleep_until(deadline_of(link.start, link.conn)));
    // Reports counts that arrived since the last report, at most every
    // TRAFFIC_EVERY, so a burst followed by silence still shows while open.
    let mut report = pin!(tokio::time::sleep_until(link.start));
    let mut report_armed = false;
    let cut = link.cut.clone();
    let mut cut = pin!(cut.cancelled());
    let end = poll_fn(|cx| {
        if cut.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        if !up.done {
            let (r, w) = (Pin::new(&mut *client), Pin::new(&mut *upstream));
            match up.poll_copy(cx, r, w, Side::Client, &mut counts, &mut link) {
                Poll::Ready(Ok(())) => _ = first_fin.get_or_insert(Side::Client),
                Poll::Ready(Err(Fail::Read(e))) => {
                    return Poll::Ready(Some(broken(&e, Side::Client)))
                }
                Poll::Ready(Err(Fail::Write(e))) => {
                    return Poll::Ready(Some(broken(&e, Side::Server)))
                }
                Poll::Pending => {}
            }
        }
        if !down.done {
            let (r, w) = (Pin::new(&mut *upstream), Pin::new(&mut *client));
            match down.poll_copy(cx, r, w, Side::Server, &mut counts, &mut link) {
                Poll::Ready(Ok(())) => _ = first_fin.get_or_insert(Side::Server),
                Poll::Ready(Err(Fail::Read(e))) => {
                    return Poll::Ready(Some(broken(&e, Side::Server)))
                }
                Poll::Ready(Err(Fail::Write(e))) => {
                    return Poll::Ready(Some(broken(&e, Side::Client)))
                }
                Poll::Pending => {}
            }
        }
        if up.done && down.done {
            let first = first_fin.unwrap_or(Side::Client);
            return Poll::Ready(Some(TunnelEnd::Finished { first }));
        }
        if counts.unreported && !report_armed {
            report.as_mut().reset(Instant::now() + TRAFFIC_EVERY);
            report_armed = true;
        }
        if report_armed && report.as_mut().poll(cx).is_ready() {
            report_armed = false;
            counts.report(&mut link);
        }
        // The idle timer is re-armed only when it fires, never per chunk.
        while idle.as_mut().poll(cx).is_ready() {
            counts.report(&mut link);
            let now = link.now();
            link.conn.handle_timeout(now);
            link.flush();
            if link.conn.is_closed() {
                return Poll::Ready(None);
            }
            idle.as_mut().reset(deadline_of(link.start, link.conn));
        }
        Poll::Pending
    })
    .await;
    counts.report(&mut link);
    let now = link.now();
    match end {
        Some(end) => link.conn.handle_tunnel_end(now, end),
        // The core closed it (idle), or the engine cut it.
        None if link.conn.is_closed() => {}
        None => link.conn.handle_stop(now, Stop::Cut),
    }
    link.flush();
}

/// A failed direction: a reset on `side`, or another error.
fn broken(e: &io::Error, side: Side) -> TunnelEnd {
    if is_reset(e) {
        TunnelEnd::Reset(side)
    } else {
        TunnelEnd::Failed
    }
}

enum Fail {
    Read(io::Error),
    Write(io::Error),
}

/// Byte counts from the tunnel's start, and whether they moved since the last report.
#[derive(Default)]
struct Counts {
    up: u64,
    down: u64,
    first: [bool; 2],
    unreported: bool,
}

impl Counts {
    fn report(&mut self, link: &mut Link<'_>) {
        if !self.unreported {
            return;
        }
        self.unreported = false;
        let now = link.now();
        // Bytes moved since the last report: activity counts from now.
        link.conn
            .handle_tunnel_progress(now, self.up, self.down, now);
        link.flush();
    }

    /// `n` bytes from `side` were written to the other side.
    fn moved(&mut self, side: Side, n: usize, link: &mut Link<'_>) {
        let i = side as usize;
        if side == Side::Client {
            self.up += n as u64;
        } else {
            self.down += n as u64;
        }
        self.unreported = true;
        if !self.first[i] {
            self.first[i] = true;
            let now = link.now();
            link.conn.handle_tunnel_first_byte(now, side);
            link.flush();
        }
    }

    /// `bytes` from `side` were written to the other side; the core may
    /// want to look at them.
    fn wrote(&mut self, side: Side, bytes: &[u8], link: &mut Link<'_>) {
        self.moved(side, bytes.len(), link);
        if side == Side::Client && link.conn.tunnel_peeking() {
            let now = link.now();
            link.conn.handle_tunnel_peek(now, bytes);
            link.flush();
        }
    }
}

/// A read at least this large switches its direction to splicing (when
/// both legs are TCP sockets on Linux); a smaller one switches it back to
/// copying. Measured on loopback: splicing halved the CPU per GiB of a bulk
/// transfer (655 → 315 ms) but cost a quarter more per 64-byte ping-pong
/// (46 → 57 µs).
const SPLICE_FROM: usize = 16 * 1024;

/// One direction: read into a lent buffer (or pipe), write it all out,
/// repeat; give the buffer back when the socket has nothing more; on EOF
/// shut the other side's write half down and stop.
struct Half<'e, 'p> {
    /// Bytes the client sent before the tunnel opened, written first.
    early: &'e [u8],
    pool: &'p Pool,
    pipes: &'p Pipes,
    /// Both legs are TCP sockets: bytes the core need not see may be spliced.
    splice: bool,
    /// The last read was large ([`SPLICE_FROM`] or more), so the next one
    /// is spliced; small reads (keystrokes, pings, short TLS records) are
    /// copied, which costs fewer system calls than a pipe in between.
    bulk: bool,
    /// Held only while bytes are being moved.
    buf: Option<Lease<'p>>,
    /// Held only while bytes are being spliced.
    pipe: Option<PipeLease<'p>>,
    /// The held buffer's bytes `pos..cap` are still to be written.
    pos: usize,
    cap: usize,
    eof: bool,
    done: bool,
    unflushed: bool,
}

impl<'e, 'p> Half<'e, 'p> {
    fn new(early: &'e [u8], pool: &'p Pool, pipes: &'p Pipes, splice: bool) -> Self {
        Half {
            early,
            pool,
            pipes,
            splice,
            bulk: false,
            buf: None,
            pipe: None,
            pos: 0,
            cap: 0,
            eof: false,
            done: false,
            unflushed: false,
        }
    }

    /// Moves bytes from `r` to `w`; `from` is the side `r` belongs to.
    fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut r: Pin<&mut R>,
        mut w: Pin<&mut W>,
        from: Side,
        counts: &mut Counts,
        link: &mut Link<'_>,
    ) -> Poll<Result<(), Fail>>
    where
        R: Leg + ?Sized,
        W: Leg + ?Sized,
    {
        loop {
            while !self.early.is_empty() {
                let n = match ready!(w.as_mut().poll_write(cx, self.early)) {
                    Ok(0) => return Poll::Ready(Err(Fail::Write(io::ErrorKind::WriteZero.into()))),
                    Ok(n) => n.min(self.early.len()),
                    Err(e) => return Poll::Ready(Err(Fail::Write(e))),
                };
                counts.wrote(from, &self.early[..n], link);
                self.early = &self.early[n..];
                self.unflushed = true;
            }
            if let Some(buf) = &self.buf {
                while self.pos < self.cap {
                    let n = match ready!(w.as_mut().poll_write(cx, &buf[self.pos..self.cap])) {
                        Ok(0) => {
                            return Poll::Ready(Err(Fail::Write(io::ErrorKind::WriteZero.into())))
                        }
                        Ok(n) => n.min(self.cap - self.pos),
                        Err(e) => return Poll::Ready(Err(Fail::Write(e))),
                    };
                    counts.wrote(from, &buf[self.pos..self.pos + n], link);
                    self.pos += n;
                    self.unflushed = true;
                }
            }
            if let Some(pipe) = &mut self.pipe {
                while pipe.held() > 0 {
                    let Some(to) = w.as_ref().get_ref().tcp() else {
                        return Poll::Ready(Err(Fail::Write(io::ErrorKind::Unsupported.into())));
                    };
                    match ready!(pipe::poll_drain(cx, to, pipe)) {
                        Ok(n) => counts.moved(from, n, link),
                        Err(e) => return Poll::Ready(Err(Fail::Write(e))),
                    }
                }
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
            if self.splice && self.bulk && !(from == Side::Client && link.conn.tunnel_peeking()) {
                if let Some(source) = r.as_ref().get_ref().tcp() {
                    match self.poll_splice_in(cx, source) {
                        Splice::Moved(n) => {
                            self.bulk = n >= SPLICE_FROM;
                            continue;
                        }
                        Splice::Drained => return self.wait(cx, w),
                        Splice::Failed(e) => return Poll::Ready(Err(Fail::Read(e))),
                        Splice::NoPipe => {}
                    }
                }
            }
            // Copying from here: a pipe kept from a bulk read (empty now,
            // its bytes were written above) goes back, or an idle tunnel
            // would hold it.
            self.pipe = None;
            // A TCP socket says without a system call whether it has bytes
            // (tokio's readiness flag), so a direction with nothing to read
            // does not take and give back a buffer each time the tunnel's
            // task wakes for the other one.
            if self.buf.is_none() {
                if let Some(source) = r.as_ref().get_ref().tcp() {
                    match source.poll_read_ready(cx) {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(Fail::Read(e))),
                        Poll::Pending => return self.wait(cx, w),
                    }
                }
            }
            // Lent for this read; see `pool::read` for why not after a
            // zero-length read as a probe.
            let pool = self.pool;
            let buf = self.buf.get_or_insert_with(|| pool.take());
            let mut rb = ReadBuf::new(buf);
            match r.as_mut().poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    if n == 0 {
                        self.eof = true;
                        self.buf = None;
                    }
                    (self.pos, self.cap) = (0, n);
                    self.bulk = n >= SPLICE_FROM;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(Fail::Read(e))),
                Poll::Pending => {
                    // Drained: the buffer goes back until the socket is readable again.
                    self.buf = None;
                    return self.wait(cx, w);
                }
            }
        }
    }

    /// Reads what `source` has into a lent pipe. The pipe is taken only once
    /// the socket is readable, and given back (empty) when it has nothing more.
    fn poll_splice_in(&mut self, cx: &mut Context<'_>, source: &TcpStream) -> Splice {
        // Bytes copied earlier (the client's first ones) have all been written.
        self.buf = None;
        if self.pipe.is_none() {
            match source.poll_read_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Splice::Failed(e),
                Poll::Pending => return Splice::Drained,
            }
            match self.pipes.take() {
                Some(pipe) => self.pipe = Some(pipe),
                None => return Splice::NoPipe,
            }
        }
        let Some(pipe) = &mut self.pipe else {
            return Splice::NoPipe;
        };
        match pipe::poll_fill(cx, source, pipe) {
            Poll::Ready(Ok(0)) => {
                self.eof = true;
                self.pipe = None;
                Splice::Moved(0)
            }
            Poll::Ready(Ok(n)) => Splice::Moved(n),
            Poll::Ready(Err(e)) => Splice::Failed(e),
            Poll::Pending => {
                self.pipe = None;
                Splice::Drained
            }
        }
    }

    /// Nothing to read for now: flush what was written since the last wait.
    fn wait<W>(&mut self, cx: &mut Context<'_>, w: Pin<&mut W>) -> Poll<Result<(), Fail>>
    where
        W: AsyncWrite + ?Sized,
    {
        if self.unflushed {
            if let Poll::Ready(Err(e)) = w.poll_flush(cx) {
                return Poll::Ready(Err(Fail::Write(e)));
            }
            self.unflushed = false;
        }
        Poll::Pending
    }
}

/// What one splice read did.
enum Splice {
    /// This many bytes are in the pipe; 0: the source ended.
    Moved(usize),
    /// Nothing to read now; the waker is registered and no pipe is held.
    Drained,
    /// The source failed.
    Failed(io::Error),
    /// No pipe could be had: copy this read instead.
    NoPipe,
}

#[cfg(test)]
mod tests;
