//! The accept loop: admits connections as the core's `Admissions` decide
//! (closing an idle one to make room when a cap is reached), answers the
//! rest a 503 from the core without holding their socket a moment longer,
//! and on shutdown drains then cuts what is left.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use burrow_core::connection::Refusal;
use burrow_core::connection::Shared;
use burrow_core::settings::secs;
use burrow_core::Action;
use burrow_core::Connection;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::connection::{self, Ctx, LINGER};
use crate::engine::{Counters, Engine};
use crate::events::{next_id, now_ms, Emitter};
use crate::slots::Slots;

/// How long to pause accepting after a resource error such as EMFILE.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How often this machine's address list is read again (interfaces come and
/// go with Wi-Fi, VPNs and containers).
const INTERFACES_EVERY: Duration = Duration::from_secs(10);

/// What the accept loop keeps between connections: the core's shared state
/// and when the interface list was last read.
struct Neighbourhood {
    shared: Arc<Shared>,
    epoch: Instant,
    read_at: Option<Instant>,
}

impl Neighbourhood {
    fn refresh(&mut self, engine: &Engine) {
        if self
            .read_at
            .is_some_and(|at| at.elapsed() < INTERFACES_EVERY)
        {
            return;
        }
        self.shared.set_host_addrs(engine.interfaces.addrs());
        self.read_at = Some(Instant::now());
    }
}

/// Accepts until `shutdown` is cancelled, then closes the listener, gives
/// open connections `shutdown_grace` to finish, cuts the rest and waits for
/// every task.
pub(crate) async fn serve(
    engine: Engine,
    listener: TcpListener,
    shutdown: CancellationToken,
    counters: Arc<Counters>,
    slots: Arc<Slots>,
) {
    // Never admit more connections than there are descriptors for.
    let mut settings = (*engine.settings).clone();
    settings.max_connections = crate::descriptors::connection_cap(settings.max_connections);
    let ctx = Arc::new(Ctx {
        settings: Arc::new(settings),
        resolver: engine.resolver.clone(),
        connector: engine.connector.clone(),
        events: engine.events.clone(),
        counters,
        tracker: TaskTracker::new(),
        shutdown: shutdown.clone(),
        cut: CancellationToken::new(),
        pool: Default::default(),
        relay_pool: crate::relay::Pool::for_tunnels(),
        pipes: crate::relay::Pipes::default(),
    });
    let listen_addr = listener.local_addr().unwrap_or(engine.settings.listen);
    let mut near = Neighbourhood {
        shared: Arc::new(Shared::new()),
        epoch: Instant::now(),
        read_at: None,
    };
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((socket, peer)) => {
                near.refresh(&engine);
                admit(&ctx, &slots, &near, socket, peer, listen_addr);
            }
            Err(e) if is_per_connection(&e) => {
                tracing::debug!(error = %e, "accept failed for one connection");
            }
            Err(e) => {
                // Out of descriptors or memory: wait rather than spin.
                tracing::warn!(error = %e, "accept failed; pausing");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                }
            }
        }
    }
    // The port refuses new connections from here on.
    drop(listener);
    ctx.tracker.close();
    let grace = secs(ctx.settings.timeouts.shutdown_grace);
    if tokio::time::timeout(grace, ctx.tracker.wait())
        .await
        .is_err()
    {
        tracing::debug!(open = ctx.tracker.len(), "grace over; cutting connections");
        ctx.cut.cancel();
        ctx.tracker.wait().await;
    }
}

/// Errors that concern one connection only; the next accept may succeed.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

fn admit(
    ctx: &Arc<Ctx>,
    slots: &Arc<Slots>,
    near: &Neighbourhood,
    socket: TcpStream,
    peer: SocketAddr,
    listen_addr: SocketAddr,
) {
    ctx.counters.accepted();
    let _ = socket.set_nodelay(true);
    // The exact address the client reached: loop detection compares against it.
    let local = socket.local_addr().unwrap_or(listen_addr);
    let id = next_id();
    let emitter = Emitter::new(id, ctx.events.clone(), now_ms());
    let settings = ctx.settings.clone();
    match slots.admit(&settings, id, peer.ip()) {
        Ok(held) => {
            let conn = Connection::new(settings, peer, local)
                .with_shared(near.shared.clone(), near.epoch.elapsed());
            let ctx2 = ctx.clone();
            ctx.tracker.spawn(async move {
                let _open = ctx2.counters.open_connection();
                connection::serve(ctx2.clone(), conn, socket, emitter, LINGER, held).await;
            });
        }
        Err(refusal) => refuse(settings, peer, local, refusal, socket, &emitter),
    }
}

/// Answers a refused client the core's 503 with whatever fits in the
/// socket's send buffer right now (all of it, on a fresh socket) and closes
/// at once: refusals cost no task and no descriptor time, so a connect
/// flood cannot grow descriptors past the cap.
fn refuse(
    settings: Arc<burrow_core::Settings>,
    peer: SocketAddr,
    local: SocketAddr,
    refusal: Refusal,
    socket: TcpStream,
    emitter: &Emitter,
) {
    let mut conn = Connection::over_capacity(settings, peer, local, refusal);
    while let Action::SendClient(bytes) = conn.poll() {
        let _ = socket.try_write(&bytes);
    }
    // Unread request bytes would turn the close into a reset that can
    // destroy the 503 in flight; take what has arrived.
    let mut sink = [0u8; 4096];
    while matches!(socket.try_read(&mut sink), Ok(n) if n > 0) {}
    while let Some((at, event)) = conn.poll_event() {
        emitter.emit(at, event);
    }
    drop(socket);
}
