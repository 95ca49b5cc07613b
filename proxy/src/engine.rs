//! The public face of the engine: configure an [`Engine`], [`Engine::start`]
//! it, read [`Running::stats`], and [`Running::stop`] it.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use burrow_core::log::LogEvent;
use burrow_core::settings::SettingsError;
use burrow_core::Settings;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::accept;
use crate::lookups::bounded;
use crate::net::{Connector, Interfaces, Resolver, SystemInterfaces, SystemResolver, TcpConnector};
use crate::slots::Slots;

/// How many events a receiver may fall behind before it loses some.
const EVENT_CAPACITY: usize = 4096;

/// A configured engine, not yet listening. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) settings: Arc<Settings>,
    pub(crate) resolver: Arc<dyn Resolver>,
    pub(crate) connector: Arc<dyn Connector>,
    pub(crate) interfaces: Arc<dyn Interfaces>,
    pub(crate) events: broadcast::Sender<LogEvent>,
}

impl Engine {
    /// An engine with the system resolver, the TCP connector and a fresh event channel.
    pub fn new(settings: Settings) -> Engine {
        Engine {
            settings: Arc::new(settings),
            resolver: bounded(Arc::new(SystemResolver)),
            connector: Arc::new(TcpConnector),
            interfaces: Arc::new(SystemInterfaces),
            events: broadcast::channel(EVENT_CAPACITY).0,
        }
    }

    /// Uses `r` for name lookups, under the same bound on lookups in
    /// flight as the system resolver.
    pub fn with_resolver(mut self, r: Arc<dyn Resolver>) -> Engine {
        self.resolver = bounded(r);
        self
    }

    /// Uses `c` to open upstream connections.
    pub fn with_connector(mut self, c: Arc<dyn Connector>) -> Engine {
        self.connector = c;
        self
    }

    /// Uses `i` to list this machine's own addresses.
    pub fn with_interfaces(mut self, i: Arc<dyn Interfaces>) -> Engine {
        self.interfaces = i;
        self
    }

    /// Sends events on `tx`, so one channel can outlive several engine runs.
    pub fn with_events(mut self, tx: broadcast::Sender<LogEvent>) -> Engine {
        self.events = tx;
        self
    }

    /// The settings this engine runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A new receiver of every connection's events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LogEvent> {
        self.events.subscribe()
    }

    /// Validates the settings, binds `settings.listen` and spawns the accept loop.
    pub async fn start(&self) -> Result<Running, StartError> {
        self.settings.validate()?;
        let addr = self.settings.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| StartError::from_bind(addr, e))?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| StartError::Io { addr, source })?;
        let shutdown = CancellationToken::new();
        let counters = Arc::new(Counters::default());
        let slots = Arc::new(Slots::default());
        let task = tokio::spawn(accept::serve(
            self.clone(),
            listener,
            shutdown.clone(),
            counters.clone(),
            slots.clone(),
        ));
        tracing::info!(%local_addr, "listening");
        Ok(Running {
            local_addr,
            counters,
            slots,
            shutdown,
            task: Some(task),
        })
    }

    /// Serves on an already bound listener until `shutdown` is cancelled,
    /// then drains like [`Running::stop`] and returns when every task has ended.
    pub async fn serve(&self, listener: TcpListener, shutdown: CancellationToken) {
        accept::serve(
            self.clone(),
            listener,
            shutdown,
            Arc::new(Counters::default()),
            Arc::new(Slots::default()),
        )
        .await;
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A listening engine. Dropping it without [`Running::stop`] still stops
/// accepting and drains in the background.
#[derive(Debug)]
pub struct Running {
    local_addr: SocketAddr,
    counters: Arc<Counters>,
    slots: Arc<Slots>,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// The address actually bound (the real port when `listen` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Live counters.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// The ids of the connections open now. A log that fell behind the
    /// event channel (and so may have missed some `Closed` events) closes
    /// every record not in this list.
    pub fn open_connection_ids(&self) -> Vec<u64> {
        self.slots.open_ids()
    }

    /// [`Running::open_connection_ids`] for a task that outlives a borrow
    /// of `self`, such as the binary's access log.
    pub fn open_connections(&self) -> OpenConnections {
        OpenConnections {
            slots: self.slots.clone(),
        }
    }

    /// Stops accepting (the port closes at once), lets open connections drain
    /// for `settings.timeouts.shutdown_grace`, then cuts them; resolves when
    /// every task has ended.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "accept task failed");
            }
        }
    }
}

/// Lists the connections open now; cheap to clone. After the engine has
/// stopped the list is empty.
#[derive(Clone, Debug)]
pub struct OpenConnections {
    slots: Arc<Slots>,
}

impl OpenConnections {
    /// The ids of the connections open now.
    pub fn ids(&self) -> Vec<u64> {
        self.slots.open_ids()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Live counters of one engine run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Client connections being served now.
    pub open_connections: usize,
    /// Of those, connections relaying a tunnel.
    pub open_tunnels: usize,
    /// Client connections accepted since the start, including refused ones.
    pub total_connections: u64,
}

/// The atomics behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    open_connections: AtomicUsize,
    open_tunnels: AtomicUsize,
    total_connections: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> Stats {
        Stats {
            open_connections: self.open_connections.load(Ordering::Relaxed),
            open_tunnels: self.open_tunnels.load(Ordering::Relaxed),
            total_connections: self.total_connections.load(Ordering::Relaxed),
        }
    }

    /// Counts an accepted connection.
    pub(crate) fn accepted(&self) {
        self.total_connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an open connection until the guard drops.
    pub(crate) fn open_connection(self: &Arc<Self>) -> OpenGuard {
        self.open_connections.fetch_add(1, Ordering::Relaxed);
        OpenGuard {
            counters: self.clone(),
            tunnel: false,
        }
    }

    /// Counts an open tunnel until the guard drops.
    pub(crate) fn open_tunnel(self: &Arc<Self>) -> OpenGuard {
        self.open_tunnels.fetch_add(1, Ordering::Relaxed);
        OpenGuard {
            counters: self.clone(),
            tunnel: true,
        }
    }
}

/// Decrements its counter when dropped, however the task ends.
#[derive(Debug)]
pub(crate) struct OpenGuard {
    counters: Arc<Counters>,
    tunnel: bool,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        let counter = if self.tunnel {
            &self.counters.open_tunnels
        } else {
            &self.counters.open_connections
        };
        counter.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why the engine could not start; `Display` is a one-line message that says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is not usable.
    #[error("{0}")]
    Settings(#[from] SettingsError),
    /// Another program already listens on the port.
    #[error("port {0} is already in use: stop the other program or choose another port")]
    AddrInUse(SocketAddr),
    /// The system refused the address (a port below 1024 without privileges).
    #[error("not allowed to listen on {0}: use a port above 1023")]
    PermissionDenied(SocketAddr),
    /// Any other failure to listen.
    #[error("cannot listen on {addr}: {source}")]
    Io {
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        source: io::Error,
    },
}

impl StartError {
    fn from_bind(addr: SocketAddr, e: io::Error) -> StartError {
        match e.kind() {
            io::ErrorKind::AddrInUse => StartError::AddrInUse(addr),
            io::ErrorKind::PermissionDenied => StartError::PermissionDenied(addr),
            _ => StartError::Io { addr, source: e },
        }
    }
}
