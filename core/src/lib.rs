//! Burrow's core: every decision the proxy makes about a client connection,
//! with no IO.
//!
//! No sockets, no async runtime, no clock. A [`Connection`] is fed what
//! happened, each input stamped with the time since the accept, and says
//! what to do next, when to call back, and what to log. The engine
//! (`burrow-proxy`) answers with sockets and a timer; the web simulator
//! (this crate compiled to wasm) and the conformance vectors answer with
//! scripted parties and simulated time ([`simulate`]). All of them run this
//! one piece of code.
//!
//! ```text
//!   client bytes / EOF / error ─► handle_client_*      ┐
//!   DNS answer ─────────────────► handle_resolved      │
//!   connect result ─────────────► handle_connected     ├─► poll() ─────────► Action
//!   origin bytes / EOF / error ─► handle_upstream_*    │   poll_timeout() ─► next deadline
//!   tunnel progress and end ────► handle_tunnel_*      │   poll_event() ───► (time, Event)
//!   the deadline passing ───────► handle_timeout       │
//!   the engine stopping ────────► handle_stop          ┘
//! ```
//!
//! The engine's whole loop for one connection, in outline:
//!
//! ```text
//! let mut conn = Connection::new(settings, client_addr, listener_addr);
//! let start = Instant::now();
//! loop {
//!     while let Some((at, event)) = conn.poll_event() { log(accepted_at + at, event) }
//!     let deadline = start + conn.poll_timeout();
//!     match conn.poll() {
//!         Action::Read { client, upstream } => select! {
//!             n = client_socket.read(buf), if client => conn.handle_client_data(start.elapsed(), &buf[..n]),
//!             n = upstream_socket.read(buf), if upstream => conn.handle_upstream_data(start.elapsed(), &buf[..n]),
//!             _ = sleep_until(deadline) => conn.handle_timeout(start.elapsed()),
//!         },
//!         Action::Resolve { host, port } => conn.handle_resolved(now, resolve(&host, port).await),
//!         Action::Connect { addr } => conn.handle_connected(now, connect(addr).await),
//!         Action::SendClient(bytes) => client_socket.write_all(&bytes).await,
//!         Action::SendUpstream(bytes) => upstream_socket.write_all(&bytes).await,
//!         Action::CloseUpstream => drop(upstream_socket),
//!         Action::StartTunnel { early } | Action::Relay => relay(early, &mut conn).await,
//!         Action::Close => break,
//!     }
//! }
//! ```
//!
//! (Every wait also ends at the deadline; errors go in as `handle_*_error`.)

pub mod addr;
pub mod body;
pub mod chunked;
pub mod conformance;
pub mod connection;
pub mod display;
pub mod escape;
pub mod forward;
pub mod framing;
pub mod head;
pub mod log;
pub mod origin;
pub mod outcome;
pub mod pac;
pub mod policy;
pub mod ports;
pub mod reject;
pub mod response;
pub mod settings;
pub mod simulate;
pub mod target;
pub mod tls;

pub use connection::{Action, Connection};
pub use escape::PeerText;
pub use response::{After, ProxyError, Response};
pub use settings::Settings;
