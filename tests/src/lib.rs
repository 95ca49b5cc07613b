//! The shared harness of Burrow's end-to-end tests and benchmark.
//!
//! Everything here talks to loopback only. A test starts the real engine
//! ([`burrow_proxy::Engine`]) on `127.0.0.1:0`, optionally with a scripted
//! resolver and connector ([`net::ScriptedNet`]), runs loopback origins
//! ([`origin`], [`tls`]) and drives the proxy with raw bytes ([`client`]),
//! then reads the connection log ([`events`]). Unless a test asks for the
//! system resolver, lookups fail at once ([`net::NoDns`]), so no name ever
//! leaves the machine by accident.
//!
//! ```text
//!   client::Client ──TCP──► Engine (127.0.0.1:0) ──ScriptedNet or TCP──► origin::HttpOrigin
//!        ▲                        │                                      origin::Echo
//!        └── exact bytes          └── LogEvents ──► events::Events        tls::TlsOrigin
//! ```
//!
//! Every wait is bounded by [`TIMEOUT`], so a broken engine fails a test
//! instead of hanging it.
//!
//! Tests of starting and stopping use [`proxy::start`] (the engine binds the
//! listener itself, as the binary does) and read [`burrow_proxy::Stats`];
//! tests of the `burrow` binary run it as a child process ([`cli`]).
//!
//! The two UI tests (the web simulator in headless Chromium, the desktop app
//! under tauri-driver) share one small WebDriver client: [`webdriver`].

use std::net::SocketAddr;
use std::time::Duration;

use burrow_core::Settings;

pub mod blocking_dns;
pub mod cli;
pub mod client;
pub mod events;
pub mod net;
pub mod origin;
pub mod proxy;
pub mod tls;
pub mod webdriver;

pub use client::{Client, Ending, Reply};
pub use events::Events;
pub use net::{ScriptedNet, StaticInterfaces};
pub use origin::{Echo, HttpOrigin};
pub use proxy::{start, Proxy};
pub use tls::{TestCert, TlsOrigin};

/// The longest any single wait in a test may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// How long a read waits before concluding the peer keeps the connection
/// open (used only to tell "kept open" from "closed", never as an assertion
/// on speed).
pub const QUIET: Duration = Duration::from_millis(500);

/// Default settings with every CONNECT port allowed, so loopback origins on
/// ephemeral ports can be reached, listening on `127.0.0.1:0` (for
/// `Engine::start`; [`Proxy`] binds its own listener).
pub fn settings() -> Settings {
    Settings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        allowed_ports: "1-65535".parse().expect("a valid port list"),
        ..Settings::default()
    }
}

/// Waits until `done` holds, checking every millisecond (for counters such as
/// `Running::stats`, which no event announces); fails the test naming `what`
/// after [`TIMEOUT`].
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {TIMEOUT:?} for {what}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A loopback port with nothing listening on it, for the rest of the test
/// process: a socket is bound to it and kept, never listening, so connects
/// are refused. A port merely bound and released could be handed to a
/// listener of a test running alongside (or to an outgoing connection's
/// source port), which then answers, or never does, in its place.
pub fn closed_port() -> u16 {
    static HELD: std::sync::Mutex<Vec<tokio::net::TcpSocket>> = std::sync::Mutex::new(Vec::new());
    let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind 127.0.0.1:0");
    let port = socket.local_addr().expect("bound address").port();
    HELD.lock().unwrap_or_else(|e| e.into_inner()).push(socket);
    port
}

/// Finds `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Bytes as text, each byte one char (how the simulator stores bytes).
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

/// The runtime of the bench and soak binaries: one worker per core. Sized here rather
/// than by `TOKIO_WORKER_THREADS`, which those tools may set for the proxy they start.
pub fn tool_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
}
