//! The accept loop: admits connections up to `max_connections`, hands the
//! rest a core connection that refuses them (503), and on shutdown drains
//! then cuts what is left.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use burrow_core::connection::Shared;
use burrow_core::settings::secs;
use burrow_core::Connection;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::connection::{self, Ctx, LINGER};
use crate::engine::{Counters, Engine};
use crate::events::{next_id, now_ms, Emitter};

/// How long to pause accepting after a resource error such as EMFILE.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How long a refused client may take to read the 503 before the socket closes.
const REFUSED_LINGER: Duration = Duration::from_millis(500);
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
) {
    let ctx = Arc::new(Ctx {
        settings: engine.settings.clone(),
        resolver: engine.resolver.clone(),
        connector: engine.connector.clone(),
        events: engine.events.clone(),
        counters,
        tracker: TaskTracker::new(),
        shutdown: shutdown.clone(),
        cut: CancellationToken::new(),
    });
    let listen_addr = listener.local_addr().unwrap_or(engine.settings.listen);
    let permits = Arc::new(Semaphore::new(engine.settings.max_connections));
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
                admit(&ctx, &permits, &near, socket, peer, listen_addr);
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
    permits: &Arc<Semaphore>,
    near: &Neighbourhood,
    socket: TcpStream,
    peer: SocketAddr,
    listen_addr: SocketAddr,
) {
    ctx.counters.accepted();
    let _ = socket.set_nodelay(true);
    // The exact address the client reached: loop detection compares against it.
    let local = socket.local_addr().unwrap_or(listen_addr);
    let emitter = Emitter::new(next_id(), ctx.events.clone(), now_ms());
    let settings = ctx.settings.clone();
    match permits.clone().try_acquire_owned() {
        Ok(permit) => {
            let conn = Connection::new(settings, peer, local)
                .with_shared(near.shared.clone(), near.epoch.elapsed());
            let ctx2 = ctx.clone();
            ctx.tracker.spawn(async move {
                let _open = ctx2.counters.open_connection();
                connection::serve(ctx2.clone(), conn, socket, emitter, LINGER).await;
                drop(permit);
            });
        }
        Err(_) => {
            // Never queued: the core answers 503 and closes.
            let conn = Connection::over_capacity(settings, peer, local);
            let ctx2 = ctx.clone();
            ctx.tracker.spawn(connection::serve(
                ctx2,
                conn,
                socket,
                emitter,
                REFUSED_LINGER,
            ));
        }
    }
}
