//! Starting and stopping: the port is taken and released every time, a stop
//! drains then cuts what is still open, the connection cap, the counters,
//! and the log across restarts.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use burrow_core::log::{CloseReason, Event};
use burrow_proxy::{Engine, StartError};
use burrow_tests::events::Events;
use burrow_tests::net::NoDns;
use burrow_tests::webdriver::free_port;
use burrow_tests::{latin1, settings, start, wait_until, Client, Echo, Proxy, TIMEOUT};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{timeout, Instant};

async fn refuses(addr: SocketAddr) -> bool {
    matches!(
        TcpStream::connect(addr).await,
        Err(e) if e.kind() == ErrorKind::ConnectionRefused
    )
}

/// Proves the listener answers by getting a response from the core (a 400
/// for a request that is not a proxy request); returns the client's address.
async fn answers(proxy: SocketAddr) -> SocketAddr {
    let mut client = Client::connect(proxy).await;
    client
        .send("GET /not-a-proxy-request HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let reply = latin1(&client.read_to_end().await);
    assert!(reply.starts_with("HTTP/1.1 400 "), "{reply}");
    client.local_addr()
}

#[tokio::test]
async fn start_and_stop_twenty_times_on_port_zero() {
    let engine = Engine::new(settings());
    for round in 0..20 {
        let (running, _events) = start(&engine).await;
        let addr = running.local_addr();
        assert_ne!(addr.port(), 0);
        answers(addr).await;
        timeout(TIMEOUT, running.stop())
            .await
            .unwrap_or_else(|_| panic!("round {round}: stop finishes"));
        assert!(refuses(addr).await, "round {round}: the port still answers");
    }
}

/// The same port twenty times: each time the engine can bind it again,
/// serves a tunnel, and cuts a connection still open after the grace period.
#[tokio::test]
async fn start_and_stop_twenty_times_on_one_fixed_port() {
    let origin = Echo::start().await;
    let mut s = settings();
    s.listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    s.timeouts.shutdown_grace = 0.05;
    let engine = Engine::new(s.clone()).with_resolver(Arc::new(NoDns));
    for round in 0..20 {
        let running = engine
            .start()
            .await
            .unwrap_or_else(|e| panic!("round {round}: the port is free again: {e}"));
        assert_eq!(running.local_addr(), s.listen);
        let mut client = Client::connect(s.listen).await;
        let reply = client.connect_to(&origin.addr.to_string()).await;
        assert_eq!(reply.status(), 200, "round {round}");
        client.send("round").await;
        assert_eq!(client.read_exact(5).await, b"round");
        drop(client);
        // A connection still open when stopping is cut after the grace period.
        let mut lingering = Client::connect(s.listen).await;
        lingering.send("CONNECT ").await;
        wait_until("the lingering connection to be counted", || {
            let stats = running.stats();
            stats.total_connections >= 2 && stats.open_connections >= 1
        })
        .await;
        timeout(TIMEOUT, running.stop())
            .await
            .unwrap_or_else(|_| panic!("round {round}: stop finishes"));
        assert!(
            refuses(s.listen).await,
            "round {round}: the port still answers"
        );
    }
    let rebound = TcpListener::bind(s.listen).await;
    assert!(rebound.is_ok(), "{rebound:?}");
}

#[tokio::test]
async fn stop_cuts_open_tunnels_with_reason_shutdown() {
    let origin = Echo::start().await;
    let mut s = settings();
    s.timeouts.shutdown_grace = 0.3;
    let engine = Engine::new(s).with_resolver(Arc::new(NoDns));
    let (running, mut events) = start(&engine).await;
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

#[tokio::test]
async fn stop_waits_for_open_connections_only_as_long_as_the_grace() {
    let mut s = settings();
    s.timeouts.shutdown_grace = 0.2;
    let (running, mut events) = start(&Engine::new(s)).await;
    // A request head still arriving when stopping starts is cut.
    let mut client = Client::connect(running.local_addr()).await;
    client.send("CONNECT 127.0.0.1:9 HT").await;
    wait_until("the connection to be open", || {
        running.stats().open_connections >= 1
    })
    .await;
    let started = Instant::now();
    timeout(TIMEOUT, running.stop())
        .await
        .expect("stop finishes");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(client.read_to_end().await.is_empty());
    let me = client.local_addr();
    assert_eq!(events.close_reason(me).await, CloseReason::Shutdown);
}

#[tokio::test]
async fn idle_connections_close_as_soon_as_stopping_starts() {
    let (running, mut events) = start(&Engine::new(settings())).await;
    let mut client = Client::connect(running.local_addr()).await;
    wait_until("the connection to be open", || {
        running.stats().open_connections >= 1
    })
    .await;
    timeout(TIMEOUT, running.stop())
        .await
        .expect("stop finishes");
    assert!(client.read_to_end().await.is_empty());
    let me = client.local_addr();
    assert_eq!(events.close_reason(me).await, CloseReason::Shutdown);
}

#[tokio::test]
async fn a_port_in_use_is_reported() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let taken_addr = taken.local_addr().unwrap();
    let mut s = settings();
    s.listen = taken_addr;
    let e = Engine::new(s).start().await.unwrap_err();
    assert!(
        matches!(e, StartError::AddrInUse(a) if a == taken_addr),
        "{e:?}"
    );
    assert!(e.to_string().contains("already in use"));
}

#[tokio::test]
async fn invalid_settings_do_not_start() {
    let mut s = settings();
    s.timeouts.connect = 0.0;
    let e = Engine::new(s).start().await.unwrap_err();
    assert!(matches!(e, StartError::Settings(_)), "{e:?}");
    assert!(e.to_string().contains("connect"));
}

/// `Engine::serve` on a listener the caller bound, until its token is
/// cancelled (`Proxy::stop` cancels it and waits for `serve` to return).
#[tokio::test]
async fn serve_runs_on_a_bound_listener_until_cancelled() {
    let proxy = Proxy::start(settings()).await;
    let addr = proxy.addr;
    answers(addr).await;
    proxy.stop().await;
    assert!(
        refuses(addr).await,
        "the port is closed after serve returns"
    );
}

#[tokio::test]
async fn events_share_one_channel_across_restarts_with_distinct_ids() {
    let (tx, rx) = tokio::sync::broadcast::channel(256);
    let mut events = Events::new(rx);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let running = Engine::new(settings())
            .with_events(tx.clone())
            .start()
            .await
            .unwrap();
        let client = answers(running.local_addr()).await;
        running.stop().await;
        let log = events.connection_log(client).await;
        assert!(matches!(log[0].event, Event::Accepted { .. }), "{log:?}");
        assert!(matches!(log.last().unwrap().event, Event::Closed { .. }));
        assert!(log.iter().all(|e| e.id == log[0].id));
        ids.push(log[0].id);
    }
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test]
async fn stats_follow_connections() {
    let echo = Echo::start().await;
    let (running, _events) = start(&Engine::new(settings())).await;
    assert_eq!(running.stats(), Default::default());
    let mut client = Client::connect(running.local_addr()).await;
    assert_eq!(
        client.connect_to(&echo.addr.to_string()).await.status(),
        200
    );
    wait_until("the tunnel to be counted", || {
        running.stats().open_tunnels >= 1
    })
    .await;
    let stats = running.stats();
    assert_eq!((stats.open_connections, stats.total_connections), (1, 1));
    client.shutdown_write().await;
    client.read_to_end().await;
    wait_until("the connection to be closed", || {
        running.stats().open_connections == 0
    })
    .await;
    assert_eq!(running.stats().open_tunnels, 0);
    running.stop().await;
}

/// Over `max_connections`, a client gets 503 at once; the log says it was
/// rejected and the counters count it without keeping it open.
/// Opens a tunnel through `proxy` to `echo` and proves it carries bytes:
/// a connection that is busy, so never given up to make room.
async fn busy_tunnel(proxy: SocketAddr, echo: SocketAddr, from: &str) -> Client {
    let mut client = Client::connect_from(proxy, from.parse().expect("an address")).await;
    let reply = client.connect_to(&echo.to_string()).await;
    assert_eq!(reply.status(), 200, "{}", reply.head.status_line);
    client.send("ping").await;
    assert_eq!(client.read_exact(4).await, b"ping");
    client
}

#[tokio::test]
async fn over_capacity_clients_get_503_at_once() {
    let echo = Echo::start().await;
    let mut s = settings();
    s.max_connections = 1;
    let (running, mut events) = start(&Engine::new(s)).await;
    let _busy = busy_tunnel(running.local_addr(), echo.addr, "127.0.0.1").await;
    let mut second = Client::connect(running.local_addr()).await;
    let reply = latin1(&second.read_to_end().await);
    assert!(reply.starts_with("HTTP/1.1 503 "), "{reply}");
    assert!(reply.contains("error=connection_limit_reached"), "{reply}");
    let me = second.local_addr();
    assert_eq!(events.close_reason(me).await, CloseReason::Rejected);
    let stats = running.stats();
    assert_eq!((stats.open_connections, stats.total_connections), (1, 2));
    running.stop().await;
}

#[tokio::test]
async fn a_silent_connection_makes_room_for_a_newcomer() {
    let echo = Echo::start().await;
    let mut s = settings();
    s.max_connections = 2;
    let (running, mut events) = start(&Engine::new(s)).await;
    let _busy = busy_tunnel(running.local_addr(), echo.addr, "127.0.0.1").await;
    // Opens a socket and says nothing: the slowloris that used to hold a slot.
    let mut silent = Client::connect(running.local_addr()).await;
    wait_until("both connections to be open", || {
        running.stats().open_connections >= 2
    })
    .await;
    let newcomer = busy_tunnel(running.local_addr(), echo.addr, "127.0.0.2").await;
    assert!(
        silent.is_closed().await,
        "the silent connection gave its slot up"
    );
    assert_eq!(
        events.close_reason(silent.local_addr()).await,
        CloseReason::Evicted
    );
    drop(newcomer);
    running.stop().await;
}

#[tokio::test]
async fn one_address_cannot_hold_every_slot() {
    let echo = Echo::start().await;
    let mut s = settings();
    s.max_connections = 10;
    s.max_connections_per_client = 2;
    let (running, _events) = start(&Engine::new(s)).await;
    let proxy = running.local_addr();
    let _a = busy_tunnel(proxy, echo.addr, "127.0.0.1").await;
    let _b = busy_tunnel(proxy, echo.addr, "127.0.0.1").await;
    let mut third = Client::connect_from(proxy, "127.0.0.1".parse().expect("an address")).await;
    let reply = latin1(&third.read_to_end().await);
    assert!(reply.starts_with("HTTP/1.1 503 "), "{reply}");
    assert!(
        reply.contains("too many connections from this address"),
        "{reply}"
    );
    // Everyone else is still served.
    let _c = busy_tunnel(proxy, echo.addr, "127.0.0.2").await;
    running.stop().await;
}
