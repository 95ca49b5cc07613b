//! The engine under test: serving on a loopback listener the harness binds
//! ([`Proxy`]), or started as the binary starts it ([`start`]).

use std::net::SocketAddr;
use std::sync::Arc;

use burrow_core::Settings;
use burrow_proxy::{Connector, Engine, Resolver, Running};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::events::Events;
use crate::net::NoDns;
use crate::TIMEOUT;

/// A running engine: `Engine::serve` on `127.0.0.1:0`, stopped on drop.
pub struct Proxy {
    /// Where the engine listens.
    pub addr: SocketAddr,
    /// The engine itself (for `settings()` or another `subscribe()`).
    pub engine: Engine,
    /// The connection log, subscribed before the first connection.
    pub events: Events,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Serves `settings` with the TCP connector and no name lookups (they
    /// all fail: see [`NoDns`]); targets are loopback IP literals.
    pub async fn start(settings: Settings) -> Proxy {
        Proxy::with_resolver(settings, Arc::new(NoDns)).await
    }

    /// Serves `settings` with the system resolver and TCP connector. Only
    /// for the one test that looks a `.invalid` name up.
    pub async fn start_system_dns(settings: Settings) -> Proxy {
        Proxy::serve(Engine::new(settings)).await
    }

    /// Serves `settings` with `net` as both resolver and connector.
    pub async fn scripted<N: Resolver + Connector>(settings: Settings, net: Arc<N>) -> Proxy {
        let engine = Engine::new(settings)
            .with_resolver(net.clone())
            .with_connector(net);
        Proxy::serve(engine).await
    }

    /// Serves `settings` with `resolver` and the real TCP connector.
    pub async fn with_resolver(settings: Settings, resolver: Arc<dyn Resolver>) -> Proxy {
        Proxy::serve(Engine::new(settings).with_resolver(resolver)).await
    }

    /// Serves a configured engine on a fresh loopback listener.
    pub async fn serve(engine: Engine) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("bound address");
        let events = Events::new(engine.subscribe());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let engine = engine.clone();
            let shutdown = shutdown.clone();
            async move { engine.serve(listener, shutdown).await }
        });
        Proxy {
            addr,
            engine,
            events,
            shutdown,
            task: Some(task),
        }
    }

    /// Cancels `serve` and waits until it has returned.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(TIMEOUT, task)
                .await
                .expect("serve returns after shutdown")
                .expect("serve does not panic");
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts `engine` with `Engine::start`, which validates its settings and
/// binds `settings.listen` itself (see [`crate::settings`]: port 0), with
/// its log subscribed first. For tests of starting, stopping and `Stats`;
/// the caller stops it.
pub async fn start(engine: &Engine) -> (Running, Events) {
    let events = Events::new(engine.subscribe());
    let running = engine.start().await.expect("the engine starts");
    (running, events)
}
