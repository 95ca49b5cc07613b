//! Starting, stopping, limits and counters.

use std::net::SocketAddr;
use std::time::Duration;

use burrow_core::log::{CloseReason, Event};
use burrow_proxy::{Engine, StartError};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::support::*;

/// Proves the listener answers by getting a response from the core.
async fn answers(proxy: SocketAddr) {
    let mut s = send(
        proxy,
        b"GET /not-a-proxy-request HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!(read_all(&mut s).await.starts_with("HTTP/1.1 400 "));
}

async fn refuses(addr: SocketAddr) {
    let e = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn over_capacity_clients_get_503_at_once() {
    let mut s = settings();
    s.max_connections = 1;
    let (running, mut rx) = start(Engine::new(s)).await;
    let _holder = send(running.local_addr(), b"").await;
    while running.stats().open_connections < 1 {
        tokio::task::yield_now().await;
    }
    let mut second = send(running.local_addr(), b"").await;
    let reply = read_all(&mut second).await;
    assert!(reply.starts_with("HTTP/1.1 503 "), "{reply}");
    assert!(reply.contains("error=connection_limit_reached"), "{reply}");
    let events = kinds(&events_until_closed(&mut rx, 1).await);
    assert!(events.contains(&Event::Closed {
        reason: CloseReason::Rejected
    }));
    let stats = running.stats();
    assert_eq!((stats.open_connections, stats.total_connections), (1, 2));
    running.stop().await;
}

#[tokio::test]
async fn start_and_stop_twenty_times_on_port_zero() {
    for _ in 0..20 {
        let (running, _rx) = start(Engine::new(settings())).await;
        let addr = running.local_addr();
        answers(addr).await;
        patiently(running.stop()).await;
        refuses(addr).await;
    }
}

#[tokio::test]
async fn start_and_stop_twenty_times_on_one_fixed_port() {
    let port = closed_port().await;
    let mut s = settings();
    s.listen = port;
    s.timeouts.shutdown_grace = 0.05;
    let engine = Engine::new(s);
    for _ in 0..20 {
        let running = engine.start().await.expect("the port is free again");
        assert_eq!(running.local_addr(), port);
        answers(port).await;
        // A connection still open when stopping is cut after the grace period.
        let _lingering = send(port, b"CONNECT ").await;
        while running.stats().total_connections < 2 || running.stats().open_connections < 1 {
            tokio::task::yield_now().await;
        }
        patiently(running.stop()).await;
        refuses(port).await;
    }
    let rebound = tokio::net::TcpListener::bind(port).await;
    assert!(rebound.is_ok(), "{rebound:?}");
}

#[tokio::test]
async fn stop_waits_for_open_connections_only_as_long_as_the_grace() {
    let mut s = settings();
    s.timeouts.shutdown_grace = 0.2;
    let (running, mut rx) = start(Engine::new(s)).await;
    // A request head still arriving when stopping starts is cut.
    let mut s = send(running.local_addr(), b"CONNECT 127.0.0.1:9 HT").await;
    while running.stats().open_connections < 1 {
        tokio::task::yield_now().await;
    }
    let started = std::time::Instant::now();
    patiently(running.stop()).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(read_all(&mut s).await, "");
    assert_eq!(close_reason(&mut rx).await, CloseReason::Shutdown);
}

#[tokio::test]
async fn idle_connections_close_as_soon_as_stopping_starts() {
    let (running, mut rx) = start(Engine::new(settings())).await;
    let mut s = send(running.local_addr(), b"").await;
    while running.stats().open_connections < 1 {
        tokio::task::yield_now().await;
    }
    patiently(running.stop()).await;
    assert_eq!(read_all(&mut s).await, "");
    assert_eq!(close_reason(&mut rx).await, CloseReason::Shutdown);
}

#[tokio::test]
async fn a_port_in_use_is_reported() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut s = settings();
    s.listen = taken.local_addr().unwrap();
    let e = Engine::new(s).start().await.unwrap_err();
    assert!(
        matches!(e, StartError::AddrInUse(a) if a == s_addr(&taken)),
        "{e:?}"
    );
    assert!(e.to_string().contains("already in use"));
}

fn s_addr(l: &tokio::net::TcpListener) -> SocketAddr {
    l.local_addr().unwrap()
}

#[tokio::test]
async fn invalid_settings_do_not_start() {
    let mut s = settings();
    s.timeouts.connect = 0.0;
    let e = Engine::new(s).start().await.unwrap_err();
    assert!(matches!(e, StartError::Settings(_)), "{e:?}");
    assert!(e.to_string().contains("connect"));
}

#[tokio::test]
async fn serve_runs_on_a_bound_listener_until_cancelled() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let engine = Engine::new(settings());
    let token = CancellationToken::new();
    let task = tokio::spawn({
        let (engine, token) = (engine.clone(), token.clone());
        async move { engine.serve(listener, token).await }
    });
    answers(addr).await;
    token.cancel();
    patiently(task).await.unwrap();
    refuses(addr).await;
}

#[tokio::test]
async fn events_share_one_channel_across_restarts_with_distinct_ids() {
    let (tx, mut rx) = tokio::sync::broadcast::channel(256);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let running = Engine::new(settings())
            .with_events(tx.clone())
            .start()
            .await
            .unwrap();
        answers(running.local_addr()).await;
        running.stop().await;
        let events = events_until_closed(&mut rx, 1).await;
        ids.push(events[0].id);
        assert!(events.iter().all(|e| e.id == events[0].id));
    }
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test]
async fn stats_follow_connections() {
    let echo = echo_server().await;
    let (running, _rx) = start(Engine::new(settings())).await;
    assert_eq!(running.stats(), Default::default());
    let connect = format!("CONNECT {echo} HTTP/1.1\r\nHost: {echo}\r\n\r\n");
    let mut s = send(running.local_addr(), connect.as_bytes()).await;
    while running.stats().open_tunnels < 1 {
        tokio::task::yield_now().await;
    }
    let stats = running.stats();
    assert_eq!((stats.open_connections, stats.total_connections), (1, 1));
    s.shutdown().await.unwrap();
    read_all(&mut s).await;
    while running.stats().open_connections > 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(running.stats().open_tunnels, 0);
    running.stop().await;
}
