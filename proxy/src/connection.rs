//! One client connection: reads request heads, drives the core's
//! [`Exchange`] with DNS, TCP and timers, and carries out what it says
//! (write these bytes, tunnel, forward, close). Keep-alive requests loop
//! here with a fresh exchange each.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use burrow_core::log::{CloseReason, Event, LogEvent};
use burrow_core::settings::secs;
use burrow_core::{target, Action, After, Exchange, Response, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::Counters;
use crate::events::Emitter;
use crate::net::{self, BoxStream, Connector, Resolver};
use crate::relay::{self, is_reset, Tunnel};
use crate::upstream::Kept;

/// Size of the buffer client bytes are read into.
pub(crate) const READ_BUF: usize = 16 * 1024;
/// How long a closing connection keeps reading (and dropping) what the
/// client still sends, so its unread bytes do not turn our FIN into a reset
/// that could destroy the response before the client reads it.
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
}

/// Whether the client connection carries on with another request.
pub(crate) enum Next {
    /// Read the next request with a new exchange.
    KeepAlive,
    /// Close, for this reason.
    Close(CloseReason),
}

/// The state of one client connection between and during requests.
pub(crate) struct Conn {
    /// What the whole run shares.
    pub ctx: Arc<Ctx>,
    /// This connection's events.
    pub emitter: Emitter,
    /// The client's socket.
    pub client: TcpStream,
    /// The address the client reached.
    pub local: SocketAddr,
    /// The read buffer, allocated once per connection.
    pub buf: Box<[u8]>,
    /// Bytes read past the previous message: the start of the next request.
    pub pending: Vec<u8>,
    /// The upstream connection opened by the last `Connect`.
    pub dialed: Option<BoxStream>,
    /// The address of the last successful `Connect`.
    pub dialed_addr: Option<SocketAddr>,
    /// An upstream HTTP connection kept for the next forwarded request.
    pub kept: Option<Kept>,
    /// The target of the latest request, as logged.
    pub target: Option<String>,
    /// Payload bytes client → server so far.
    pub up: u64,
    /// Payload bytes server → client so far.
    pub down: u64,
    /// Whether any payload was relayed (then a final `Traffic` is sent).
    pub relayed: bool,
}

/// Serves one accepted client connection to the end.
pub(crate) async fn serve(ctx: Arc<Ctx>, client: TcpStream, local: SocketAddr, emitter: Emitter) {
    let _open = ctx.counters.open_connection();
    let mut conn = Conn {
        ctx,
        emitter,
        client,
        local,
        buf: vec![0; READ_BUF].into_boxed_slice(),
        pending: Vec::new(),
        dialed: None,
        dialed_addr: None,
        kept: None,
        target: None,
        up: 0,
        down: 0,
        relayed: false,
    };
    let reason = conn.run().await;
    tracing::debug!(id = conn.emitter.id(), ?reason, "connection closed");
    if conn.relayed {
        conn.emitter.emit(Event::Traffic {
            up: conn.up,
            down: conn.down,
        });
    }
    conn.emitter.emit(Event::Closed { reason });
}

/// What reading the client produced.
enum Read {
    Data(usize),
    Eof,
    Deadline,
    Stopping,
    Failed(std::io::Error),
}

impl Conn {
    async fn run(&mut self) -> CloseReason {
        let mut first = true;
        loop {
            let mut ex = Exchange::new(self.ctx.settings.clone(), self.local);
            match self.exchange(&mut ex, first).await {
                Next::KeepAlive => first = false,
                Next::Close(reason) => return reason,
            }
        }
    }

    /// Drives one exchange until it responds, tunnels, forwards or closes.
    async fn exchange(&mut self, ex: &mut Exchange, first: bool) -> Next {
        let settings = self.ctx.settings.clone();
        let t = &settings.timeouts;
        let head_limit = secs(t.request_head);
        let start = Instant::now();
        // The first request's head is due from the connection's start; a later
        // one may idle for keep_alive, then is due request_head after its first byte.
        let mut head_deadline = first.then(|| start + head_limit);
        let idle_deadline = start + secs(t.keep_alive);
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            ex.receive(&pending);
        }
        let mut reuse_tried = false;
        let mut connect_reuse_tried = false;
        let mut timed_out = false;
        let mut closing = CloseReason::ClientFin;
        loop {
            self.drain(ex);
            match ex.poll() {
                Action::ReadRequest => {
                    let waiting = !ex.has_bytes();
                    let deadline = match (waiting, head_deadline) {
                        (_, Some(d)) => d,
                        (true, None) => idle_deadline,
                        (false, None) => *head_deadline.insert(Instant::now() + head_limit),
                    };
                    match self.read(deadline, waiting).await {
                        Read::Data(n) => ex.receive(&self.buf[..n]),
                        Read::Eof => ex.client_closed(),
                        Read::Deadline => {
                            timed_out = true;
                            closing = if waiting && !first {
                                CloseReason::IdleTimeout
                            } else {
                                CloseReason::HeadTimeout
                            };
                            ex.timed_out();
                        }
                        Read::Stopping => return Next::Close(CloseReason::Shutdown),
                        Read::Failed(e) => return Next::Close(client_error(&e)),
                    }
                }
                Action::Resolve { host, port } => {
                    if !reuse_tried {
                        reuse_tried = true;
                        if self.kept_for(&host, port) {
                            // A no-op for CONNECT; the next poll then asks to resolve again.
                            ex.reuse();
                            continue;
                        }
                    }
                    self.kept = None;
                    // Stamp "resolving" now, not when the answer comes.
                    self.drain(ex);
                    let lookup = net::resolve(&*self.ctx.resolver, &host, port, secs(t.dns));
                    match self.ctx.cut.run_until_cancelled(lookup).await {
                        Some(answer) => ex.resolved(answer),
                        None => return Next::Close(CloseReason::Shutdown),
                    }
                }
                Action::Connect { addr } => {
                    // An IP-literal forward never resolves: offer reuse here.
                    if !connect_reuse_tried {
                        connect_reuse_tried = true;
                        if self.kept_at(addr) {
                            ex.reuse();
                            continue;
                        }
                    }
                    self.kept = None;
                    self.drain(ex);
                    let dial = net::connect(&*self.ctx.connector, addr, secs(t.connect));
                    match self.ctx.cut.run_until_cancelled(dial).await {
                        Some(Ok(stream)) => {
                            self.dialed = Some(stream);
                            self.dialed_addr = Some(addr);
                            ex.connected(Ok(()));
                        }
                        Some(Err(failure)) => ex.connected(Err(failure)),
                        None => return Next::Close(CloseReason::Shutdown),
                    }
                }
                Action::Respond(response) => return self.respond(ex, response, timed_out).await,
                Action::Forward(request) => {
                    let cut = self.ctx.cut.clone();
                    return match cut.run_until_cancelled(self.forward(ex, request)).await {
                        Some(next) => next,
                        None => Next::Close(CloseReason::Shutdown),
                    };
                }
                Action::Close => return Next::Close(closing),
            }
        }
    }

    /// Reads client bytes, or says why none came.
    async fn read(&mut self, deadline: Instant, waiting: bool) -> Read {
        tokio::select! {
            r = self.client.read(&mut self.buf) => match r {
                Ok(0) => Read::Eof,
                Ok(n) => Read::Data(n),
                Err(e) => Read::Failed(e),
            },
            () = sleep_until(deadline) => Read::Deadline,
            // Stopping closes connections that are between requests at once.
            () = self.ctx.shutdown.cancelled(), if waiting => Read::Stopping,
            () = self.ctx.cut.cancelled() => Read::Stopping,
        }
    }

    /// Sends the exchange's queued events, remembering the request target.
    pub(crate) fn drain(&mut self, ex: &mut Exchange) {
        let target = &mut self.target;
        self.emitter.drain(ex, |event| {
            if let Event::Request { target: t, .. } = event {
                *target = Some(t.clone());
            }
        });
    }

    /// Whether the kept upstream connection serves `host:port` and is idle.
    fn kept_for(&self, host: &str, port: u16) -> bool {
        self.kept
            .as_ref()
            .is_some_and(|k| k.host == host && k.port == port && k.sender.is_ready())
    }

    /// Whether the kept upstream connection was dialled to `addr` and is idle.
    fn kept_at(&self, addr: SocketAddr) -> bool {
        self.kept
            .as_ref()
            .is_some_and(|k| k.addr == Some(addr) && k.sender.is_ready())
    }

    /// Writes a response the core made, then does what it says.
    pub(crate) async fn respond(
        &mut self,
        ex: &mut Exchange,
        response: Response,
        timed_out: bool,
    ) -> Next {
        self.drain(ex);
        let idle = secs(self.ctx.settings.timeouts.tunnel_idle);
        let cut = self.ctx.cut.clone();
        let write = async {
            self.client.write_all(&response.bytes).await?;
            self.client.flush().await
        };
        if let Err(reason) = guard(&cut, idle, write).await {
            return Next::Close(reason);
        }
        match response.after {
            After::Tunnel => self.tunnel(ex).await,
            After::KeepAlive => {
                self.pending = ex.take_leftover();
                Next::KeepAlive
            }
            After::Close => {
                cut.run_until_cancelled(linger_close(&mut self.client, LINGER))
                    .await;
                Next::Close(if timed_out {
                    CloseReason::HeadTimeout
                } else {
                    CloseReason::Rejected
                })
            }
        }
    }

    /// Relays the tunnel after the 2xx has been written.
    async fn tunnel(&mut self, ex: &mut Exchange) -> Next {
        let Some(mut upstream) = self.dialed.take() else {
            tracing::error!(
                id = self.emitter.id(),
                "tunnel without an upstream connection"
            );
            return Next::Close(CloseReason::Error);
        };
        // The client may have sent its first tunnel bytes with the CONNECT head.
        let early = ex.take_leftover();
        let host = self
            .target
            .as_deref()
            .and_then(|t| target::parse_authority(t).ok())
            .map(|a| a.host.to_string());
        let _tunnel = self.ctx.counters.open_tunnel();
        self.relayed = true;
        let tunnel = Tunnel {
            idle: secs(self.ctx.settings.timeouts.tunnel_idle),
            emitter: &self.emitter,
            host,
            cut: &self.ctx.cut,
            base: (self.up, self.down),
        };
        let out = relay::relay(&mut self.client, &mut upstream, &early, tunnel).await;
        self.up = out.up;
        self.down = out.down;
        Next::Close(out.reason)
    }
}

/// A failure on the client's socket, as a close reason.
pub(crate) fn client_error(e: &std::io::Error) -> CloseReason {
    if is_reset(e) {
        CloseReason::ClientReset
    } else {
        CloseReason::Error
    }
}

/// Runs `f` unless it stalls for `limit` (`IdleTimeout`) or the engine cuts
/// connections (`Shutdown`); an IO error is the client's.
pub(crate) async fn guard<T>(
    cut: &CancellationToken,
    limit: Duration,
    f: impl Future<Output = std::io::Result<T>>,
) -> Result<T, CloseReason> {
    match cut
        .run_until_cancelled(tokio::time::timeout(limit, f))
        .await
    {
        None => Err(CloseReason::Shutdown),
        Some(Err(_elapsed)) => Err(CloseReason::IdleTimeout),
        Some(Ok(Err(e))) => Err(client_error(&e)),
        Some(Ok(Ok(v))) => Ok(v),
    }
}

/// Closes after a response: FIN first, then reads and drops whatever the
/// client still sends (never as a request) for up to `linger`.
pub(crate) async fn linger_close(stream: &mut TcpStream, linger: Duration) {
    if stream.flush().await.is_err() || stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(linger, async {
        let mut dropped = 0;
        while dropped < LINGER_BYTES {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => dropped += n,
            }
        }
    })
    .await;
}
