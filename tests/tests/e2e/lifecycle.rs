//! Starting and stopping: the port is taken and released every time, and a
//! stop cuts open tunnels after the grace period.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;

use burrow_core::log::CloseReason;
use burrow_proxy::Engine;
use burrow_tests::events::Events;
use burrow_tests::net::NoDns;
use burrow_tests::{closed_port, settings, Client, Echo, TIMEOUT};
use tokio::net::TcpStream;
use tokio::time::timeout;

async fn refuses(addr: SocketAddr) -> bool {
    matches!(
        TcpStream::connect(addr).await,
        Err(e) if e.kind() == ErrorKind::ConnectionRefused
    )
}

#[tokio::test]
async fn start_and_stop_ten_times_on_one_port() {
    let origin = Echo::start().await;
    let mut s = settings();
    s.listen = SocketAddr::from(([127, 0, 0, 1], closed_port()));
    let engine = Engine::new(s.clone()).with_resolver(Arc::new(NoDns));
    for round in 0..10 {
        let running = engine
            .start()
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(running.local_addr(), s.listen);
        let mut client = Client::connect(s.listen).await;
        let reply = client.connect_to(&origin.addr.to_string()).await;
        assert_eq!(reply.status(), 200, "round {round}");
        client.send("round").await;
        assert_eq!(client.read_exact(5).await, b"round");
        drop(client);
        timeout(TIMEOUT, running.stop())
            .await
            .unwrap_or_else(|_| panic!("round {round}: stop finishes"));
        assert!(
            refuses(s.listen).await,
            "round {round}: the port still answers"
        );
    }
}

#[tokio::test]
async fn stop_cuts_open_tunnels_with_reason_shutdown() {
    let origin = Echo::start().await;
    let mut s = settings();
    s.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    s.timeouts.shutdown_grace = 0.3;
    let engine = Engine::new(s).with_resolver(Arc::new(NoDns));
    let mut events = Events::new(engine.subscribe());
    let running = engine.start().await.expect("start on port 0");
    let addr = running.local_addr();
    assert_ne!(addr.port(), 0);

    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut c = Client::connect(addr).await;
        assert_eq!(c.connect_to(&origin.addr.to_string()).await.status(), 200);
        c.send("open").await;
        assert_eq!(c.read_exact(4).await, b"open");
        clients.push(c);
    }
    assert_eq!(running.stats().open_tunnels, 3);

    // The tunnels stay idle, so only the end of the grace period ends them.
    timeout(TIMEOUT, running.stop())
        .await
        .expect("stop finishes once the grace period cuts the tunnels");
    assert!(refuses(addr).await, "the port is closed after stop");
    for mut c in clients {
        let me = c.local_addr();
        assert!(c.read_to_end().await.is_empty(), "cut without bytes");
        assert_eq!(events.close_reason(me).await, CloseReason::Shutdown);
    }
}
