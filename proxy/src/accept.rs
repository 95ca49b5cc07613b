//! The accept loop: admits connections up to `max_connections`, refuses the
//! rest with the core's 503, and on shutdown drains then cuts what is left.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use burrow_core::log::{CloseReason, Event};
use burrow_core::reject;
use burrow_core::settings::secs;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::connection::{self, linger_close, Ctx};
use crate::engine::{Counters, Engine};
use crate::events::{next_id, Emitter};

/// How long to pause accepting after a resource error such as EMFILE.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How long a refused client may take to read the 503 before the socket closes.
const REFUSED_LINGER: Duration = Duration::from_millis(500);

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
    loop {
        let accepted = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((socket, peer)) => admit(&ctx, &permits, socket, peer, listen_addr),
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
    socket: TcpStream,
    peer: SocketAddr,
    listen_addr: SocketAddr,
) {
    ctx.counters.accepted();
    let _ = socket.set_nodelay(true);
    // The exact address the client reached: loop detection compares against it.
    let local = socket.local_addr().unwrap_or(listen_addr);
    let emitter = Emitter::new(next_id(), ctx.events.clone());
    emitter.emit(Event::Accepted {
        client: peer,
        listener: local,
    });
    match permits.clone().try_acquire_owned() {
        Ok(permit) => {
            let ctx2 = ctx.clone();
            ctx.tracker.spawn(async move {
                connection::serve(ctx2, socket, local, emitter).await;
                drop(permit);
            });
        }
        Err(_) => {
            let cut = ctx.cut.clone();
            ctx.tracker.spawn(refuse(socket, emitter, cut));
        }
    }
}

/// Answers with the core's over-capacity response and closes; never queues.
async fn refuse(mut socket: TcpStream, emitter: Emitter, cut: CancellationToken) {
    let response = reject::over_capacity();
    emitter.emit(Event::Responded {
        status: response.status,
        error: response.error,
        rule: response.rule.id.to_string(),
        after: response.after,
    });
    cut.run_until_cancelled(async {
        let write = tokio::time::timeout(REFUSED_LINGER, socket.write_all(&response.bytes));
        if let Ok(Ok(())) = write.await {
            linger_close(&mut socket, REFUSED_LINGER).await;
        }
    })
    .await;
    emitter.emit(Event::Closed {
        reason: CloseReason::Rejected,
    });
}
