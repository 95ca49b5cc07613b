//! One client connection: the IO around the core's [`Connection`].
//!
//! The loop asks the core what to do, does it with sockets, and reports
//! back what happened and when. Every deadline comes from
//! [`Connection::poll_timeout`]; every byte written comes from the core;
//! every close reason is the core's. This file only moves bytes and keeps
//! the timer.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use burrow_core::connection::{IoFailure, Stop, BUSY};
use burrow_core::log::LogEvent;
use burrow_core::{Action, Connection, Settings};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::Counters;
use crate::events::Emitter;
use crate::net::{self, BoxStream, Connector, Resolver};
use crate::relay::{self, pool, Pool};
use crate::slots::Held;

/// How long a closing connection keeps reading (and dropping) what the
/// client still sends, so unread bytes do not turn our FIN into a reset that
/// could destroy the response before the client reads it.
pub(crate) const LINGER: Duration = Duration::from_secs(1);
/// The most bytes dropped while lingering.
const LINGER_BYTES: usize = 256 * 1024;

/// What every connection of one engine run shares.
pub(crate) struct Ctx {
    /// The settings of this run.
    pub settings: Arc<Settings>,
    /// Name lookups.
    pub resolver: Arc<dyn Resolver>,
    /// Upstream connections.
    pub connector: Arc<dyn Connector>,
    /// Where events go.
    pub events: broadcast::Sender<LogEvent>,
    /// Live counters behind `Running::stats`.
    pub counters: Arc<Counters>,
    /// Every task of this run, so stopping can wait for all of them.
    pub tracker: TaskTracker,
    /// Cancelled when stopping starts: idle connections close.
    pub shutdown: CancellationToken,
    /// Cancelled when the grace period is over: everything closes.
    pub cut: CancellationToken,
    /// Read buffers for every connection and tunnel of this run, lent only
    /// while a socket has bytes (one read's worth each, the core's read size).
    pub pool: Pool,
    /// Larger buffers for tunnels, lent to a direction only while it moves
    /// bytes (see [`Pool::for_tunnels`]).
    pub relay_pool: Pool,
    /// Pipes for tunnels between two TCP sockets on Linux, lent like the
    /// relay's buffers (see [`relay::Pipes`]).
    pub pipes: relay::Pipes,
}

/// Serves one accepted client connection to the end; `conn` is the core's
/// state for it (a fresh one, or one that refuses at once).
pub(crate) async fn serve(
    ctx: Arc<Ctx>,
    conn: Connection,
    client: TcpStream,
    emitter: Emitter,
    linger: Duration,
    held: Held,
) {
    let Held {
        rank,
        evicted,
        guard: _slot,
    } = held;
    let mut driver = Driver {
        rank,
        evicted,
        start: Instant::now(),
        ctx,
        conn,
        emitter,
        client,
        upstream: None,
        draining: false,
        linger,
    };
    driver.run().await;
}

/// The IO side of one connection.
struct Driver {
    /// Where the core's eviction rank is published for the accept loop.
    rank: Arc<AtomicU8>,
    /// Cancelled when the accept loop needs this slot.
    evicted: CancellationToken,
    ctx: Arc<Ctx>,
    conn: Connection,
    /// The connection's time zero.
    start: Instant,
    emitter: Emitter,
    client: TcpStream,
    upstream: Option<BoxStream>,
    /// The engine's drain has been reported.
    draining: bool,
    /// How long to linger after the close.
    linger: Duration,
}

/// Which socket an IO result came from; bytes come in a buffer lent by the pool.
enum Io<'p> {
    Client(io::Result<(pool::Lease<'p>, usize)>),
    Upstream(io::Result<(pool::Lease<'p>, usize)>),
    Deadline,
    Drain,
    Cut,
    Evict,
}

impl Driver {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn deadline(&self) -> Instant {
        deadline_of(self.start, &self.conn)
    }

    fn flush_events(&mut self) {
        while let Some((at, event)) = self.conn.poll_event() {
            self.emitter.emit(at, event);
        }
    }

    async fn run(&mut self) {
        loop {
            self.flush_events();
            let action = self.conn.poll();
            let rank = match action {
                Action::Read { .. } => self.conn.eviction_rank(),
                _ => BUSY,
            };
            self.rank.store(rank, Ordering::Relaxed);
            match action {
                Action::Read { client, upstream } => self.read(client, upstream).await,
                Action::Resolve { host, port } => self.resolve(&host, port).await,
                Action::Connect { addr } => self.connect(addr).await,
                Action::SendClient(bytes) => {
                    if !self.write_client(&bytes).await {
                        break;
                    }
                }
                Action::SendUpstream(bytes) => self.write_upstream(&bytes).await,
                Action::CloseUpstream => self.upstream = None,
                Action::StartTunnel { early } => self.tunnel(early).await,
                // A tunnel is relayed to its end by `tunnel`.
                Action::Relay => self.tunnel(Vec::new()).await,
                Action::Close => {
                    self.flush_events();
                    let cut = self.ctx.cut.clone();
                    let linger = linger_close(&mut self.client, self.linger, &self.ctx.pool);
                    cut.run_until_cancelled(linger).await;
                    return;
                }
            }
        }
        self.flush_events();
    }

    /// Waits for bytes from the sides the core wants read, the deadline, or
    /// the engine stopping. A buffer is taken only once a side has bytes, and
    /// goes back once the core has them, so a connection waiting between
    /// requests holds none.
    async fn read(&mut self, client: bool, upstream: bool) {
        let deadline = self.deadline();
        let upstream = upstream && self.upstream.is_some();
        let io = {
            // `ctx` is borrowed shared: the lent buffer in `io` outlives this block.
            let Driver {
                client: ref mut socket,
                upstream: ref mut up,
                ref ctx,
                ref draining,
                ref evicted,
                ..
            } = *self;
            let pool = &ctx.pool;
            // Biased: bytes that arrived by the deadline are read before
            // the deadline is acted on, so the answer never depends on
            // which of two ready futures the runtime happened to pick.
            tokio::select! {
                biased;
                () = ctx.cut.cancelled() => Io::Cut,
                r = pool::read(socket, pool), if client => Io::Client(r),
                r = read_upstream(up, pool), if upstream => Io::Upstream(r),
                () = evicted.cancelled() => Io::Evict,
                () = ctx.shutdown.cancelled(), if !*draining => Io::Drain,
                () = sleep_until(deadline) => Io::Deadline,
            }
        };
        let now = self.now();
        match io {
            Io::Client(Ok((_, 0))) => self.conn.handle_client_eof(now),
            Io::Client(Ok((buf, n))) => self.conn.handle_client_data(now, &buf[..n]),
            Io::Client(Err(e)) => self.conn.handle_client_error(now, failure(&e)),
            Io::Upstream(Ok((_, 0))) => {
                self.upstream = None;
                self.conn.handle_upstream_end(now, None);
            }
            Io::Upstream(Ok((buf, n))) => self.conn.handle_upstream_data(now, &buf[..n]),
            Io::Upstream(Err(e)) => {
                self.upstream = None;
                self.conn.handle_upstream_end(now, Some(failure(&e)));
            }
            Io::Deadline => self.conn.handle_timeout(now),
            Io::Drain => {
                self.draining = true;
                self.conn.handle_stop(now, Stop::Drain);
            }
            Io::Cut => self.conn.handle_stop(now, Stop::Cut),
            Io::Evict => self.conn.handle_evict(now),
        }
    }

    async fn resolve(&mut self, host: &str, port: u16) {
        let deadline = self.deadline();
        let resolver = self.ctx.resolver.clone();
        let cut = self.ctx.cut.clone();
        let answer = tokio::select! {
            answer = resolver.resolve(host, port) => Some(answer),
            () = sleep_until(deadline) => None,
            () = cut.cancelled() => return self.conn.handle_stop(self.now(), Stop::Cut),
        };
        let now = self.now();
        match answer {
            Some(answer) => self.conn.handle_resolved(now, answer),
            None => self.conn.handle_timeout(now),
        }
    }

    async fn connect(&mut self, addr: SocketAddr) {
        let deadline = self.deadline();
        let connector = self.ctx.connector.clone();
        let cut = self.ctx.cut.clone();
        let result = tokio::select! {
            result = connector.connect(addr) => Some(result),
            () = sleep_until(deadline) => None,
            () = cut.cancelled() => return self.conn.handle_stop(self.now(), Stop::Cut),
        };
        let now = self.now();
        match result {
            Some(Ok(stream)) => {
                self.upstream = Some(stream);
                self.conn.handle_connected(now, Ok(()));
            }
            Some(Err(failure)) => self.conn.handle_connected(now, Err(failure)),
            None => self.conn.handle_timeout(now),
        }
    }

    /// Writes to the client; `false` when the client is gone (the core knows why).
    async fn write_client(&mut self, bytes: &[u8]) -> bool {
        let mut written = 0;
        while written < bytes.len() {
            let deadline = self.deadline();
            let result = tokio::select! {
                r = self.client.write(&bytes[written..]) => Some(r),
                () = sleep_until(deadline) => None,
                () = self.ctx.cut.cancelled() => {
                    self.conn.handle_stop(self.start.elapsed(), Stop::Cut);
                    return false;
                }
            };
            let now = self.now();
            match result {
                Some(Ok(0)) => {
                    self.conn.handle_client_error(now, IoFailure::Other);
                    return false;
                }
                Some(Ok(n)) => written += n,
                Some(Err(e)) => {
                    self.conn.handle_client_error(now, failure(&e));
                    return false;
                }
                None => {
                    // Stalled: the core decides whether that ends the connection.
                    self.conn.handle_timeout(now);
                    if self.conn.is_closed() {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Writes to the upstream connection; a failure is the origin's end.
    async fn write_upstream(&mut self, bytes: &[u8]) {
        let deadline = self.deadline();
        let Some(up) = self.upstream.as_mut() else {
            return;
        };
        let result = tokio::select! {
            r = up.write_all(bytes) => Some(r),
            () = sleep_until(deadline) => None,
        };
        let now = self.now();
        match result {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                self.upstream = None;
                self.conn.handle_upstream_end(now, Some(failure(&e)));
            }
            None => self.conn.handle_timeout(now),
        }
    }

    /// Relays the tunnel the core has opened, to its end.
    async fn tunnel(&mut self, early: Vec<u8>) {
        let Some(mut upstream) = self.upstream.take() else {
            // The core opens a tunnel only over the connection just dialled.
            tracing::error!(
                id = self.emitter.id(),
                "tunnel without an upstream connection"
            );
            self.conn
                .handle_tunnel_end(self.now(), burrow_core::connection::TunnelEnd::Failed);
            return;
        };
        let _tunnel = self.ctx.counters.open_tunnel();
        self.flush_events();
        let cut = self.ctx.cut.clone();
        relay::relay(
            &mut self.client,
            &mut *upstream,
            &early,
            relay::Link {
                conn: &mut self.conn,
                start: self.start,
                emitter: &self.emitter,
                cut: &cut,
                pool: &self.ctx.relay_pool,
                pipes: &self.ctx.pipes,
            },
        )
        .await;
    }
}

async fn read_upstream<'p>(
    up: &mut Option<BoxStream>,
    pool: &'p Pool,
) -> io::Result<(pool::Lease<'p>, usize)> {
    match up {
        Some(stream) => pool::read(stream, pool).await,
        None => std::future::pending().await,
    }
}

/// The core's next deadline as an instant (far away when it has none).
pub(crate) fn deadline_of(start: Instant, conn: &Connection) -> Instant {
    let far = Duration::from_secs(365 * 24 * 3600);
    start + conn.poll_timeout().unwrap_or(far)
}

/// What an IO error means for the core.
pub(crate) fn failure(e: &io::Error) -> IoFailure {
    if net::is_reset(e) {
        IoFailure::Reset
    } else {
        IoFailure::Other
    }
}

/// Closes after a response: FIN first, then reads and drops whatever the
/// client still sends (never as a request) for up to `linger`. Reads go
/// through the pool: a buffer kept in this future would be part of every
/// connection's task, idle tunnels included.
pub(crate) async fn linger_close(stream: &mut TcpStream, linger: Duration, pool: &Pool) {
    if stream.flush().await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(linger, async {
        let mut dropped = 0;
        while dropped < LINGER_BYTES {
            match pool::read(stream, pool).await {
                Ok((_, 0)) | Err(_) => break,
                Ok((_, n)) => dropped += n,
            }
        }
    })
    .await;
}
