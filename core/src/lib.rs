//! Burrow's core: every decision the proxy makes about a request, with no IO.
//!
//! No sockets, no async runtime, no clock. The caller feeds bytes and
//! network outcomes in and gets decisions and exact response bytes out, so
//! the engine (`burrow-proxy`), the desktop app and the web simulator
//! (compiled to wasm) all answer from this one piece of code.
//!
//! ```text
//!   client bytes ──► Exchange::receive ─┐
//!   DNS answer ────► Exchange::resolved ├──► Exchange::poll ──► Action
//!   connect result ► Exchange::connected┘      ReadRequest | Resolve | Connect
//!                                              Respond(bytes, after) | Forward | Close
//! ```
//!
//! The engine's loop for one request, in outline:
//!
//! ```text
//! let mut ex = Exchange::new(settings, listener_addr);
//! loop {
//!     match ex.poll() {
//!         Action::ReadRequest => ex.receive(&read_with_deadline(&mut client)?),
//!         Action::Resolve { host, port } => ex.resolved(resolve(&host, port).await),
//!         Action::Connect { addr } => ex.connected(connect(addr).await),
//!         Action::Respond(r) => { client.write_all(&r.bytes).await?; break r.after }
//!         Action::Forward(req) => { /* send upstream, then ex.origin_response(..) */ }
//!         Action::Close => break After::Close,
//!     }
//!     while let Some(event) = ex.poll_event() { log(now(), event) }
//! }
//! ```
//!
//! [`simulate::simulate`] runs the same loop against scripted outcomes.

pub mod body;
pub mod chunked;
pub mod conformance;
pub mod connection;
pub mod display;
pub mod forward;
pub mod framing;
pub mod head;
pub mod log;
pub mod origin;
pub mod outcome;
pub mod policy;
pub mod ports;
pub mod reject;
pub mod response;
pub mod settings;
pub mod simulate;
pub mod target;
pub mod tls;

pub use connection::{Action, Connection};
pub use response::{After, ProxyError, Response};
pub use settings::Settings;
