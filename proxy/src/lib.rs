//! Burrow's engine: the IO around the sans-IO core.
//!
//! Every decision about a connection is made by [`burrow_core`]'s
//! `Connection`; this crate only moves bytes, keeps the one timer the core
//! asks for, looks names up, dials TCP and reports what happened. Every byte
//! it writes, to the client or upstream, comes from the core.
//!
//! ```text
//!  accept ─► connection ─► Connection::poll ─┬─ Read ─────────► client / upstream socket, until poll_timeout
//!  (cap:      (one task      (core)           ├─ Resolve ──────► Resolver, behind the lookup bound
//!   the core's per client)                    ├─ Connect ──────► Connector
//!   503)                                      ├─ SendClient / SendUpstream ► write
//!                                             ├─ StartTunnel ──► relay (reports progress and the end)
//!                                             └─ Close ────────► FIN, linger
//! ```
//!
//! ```no_run
//! # async fn demo() -> Result<(), burrow_proxy::StartError> {
//! let engine = burrow_proxy::Engine::new(burrow_core::Settings::default());
//! let mut events = engine.subscribe();
//! let running = engine.start().await?;
//! println!("listening on {}", running.local_addr());
//! # let _ = events.recv().await;
//! running.stop().await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod accept;
pub mod access_log;
pub mod cli;
mod connection;
pub mod descriptors;
mod engine;
mod events;
mod lookups;
mod net;
mod relay;
mod slots;

pub use engine::{Engine, OpenConnections, Running, StartError, Stats};
pub use lookups::{MAX_LOOKUPS, MAX_LOOKUPS_PER_ZONE};
pub use net::{
    BoxFuture, BoxStream, Connector, Interfaces, Resolver, Stream, SystemInterfaces,
    SystemResolver, TcpConnector,
};
