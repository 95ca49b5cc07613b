//! Burrow's engine: the IO around the sans-IO core.
//!
//! Every decision about a request is made by [`burrow_core`]; this crate
//! only moves bytes, runs timers, looks names up, dials TCP and feeds the
//! outcomes back. Response bytes come from the core's `Exchange`; the
//! engine never writes a status or a header of its own.
//!
//! ```text
//!  accept ─► connection ─► Exchange::poll ─┬─ ReadRequest ► read (head / keep-alive deadline)
//!  (cap,      (one per      (core)          ├─ Resolve ───► Resolver + timeouts.dns
//!   503)       client)                      ├─ Connect ───► Connector + timeouts.connect
//!                                           ├─ Respond ───► write; Close | Tunnel ► relay
//!                                           └─ Forward ───► hyper client ► origin_response
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
mod chunked;
pub mod cli;
mod connection;
mod engine;
mod events;
mod net;
mod relay;
mod upstream;

pub use engine::{Engine, Running, StartError, Stats};
pub use net::{BoxFuture, BoxStream, Connector, Resolver, Stream, SystemResolver, TcpConnector};
