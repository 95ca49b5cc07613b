//! CONNECT: tunnels, the core's error responses, head deadlines.

use std::sync::Arc;
use std::time::{Duration, Instant};

use burrow_core::log::{CloseReason, Event};
use burrow_core::outcome::DnsFailure;
use burrow_proxy::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

#[tokio::test]
async fn tunnel_relays_early_data_first_and_logs_the_connection() {
    let echo = echo_server().await;
    let (running, mut rx) = start(Engine::new(settings())).await;
    let connect = format!("CONNECT {echo} HTTP/1.1\r\nHost: {echo}\r\n\r\nearly");
    let mut s = send(running.local_addr(), connect.as_bytes()).await;
    let mut reply = vec![0; 1024];
    let mut got = Vec::new();
    // The 200 head, then the echoed early bytes.
    while !got.ends_with(b"early") {
        let n = patiently(s.read(&mut reply)).await.unwrap();
        assert_ne!(n, 0, "closed early: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&reply[..n]);
    }
    let text = String::from_utf8(got).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 200 Connection established\r\n"),
        "{text}"
    );
    assert!(text.ends_with("\r\n\r\nearly"), "{text}");
    s.write_all(b" and more").await.unwrap();
    s.shutdown().await.unwrap();
    assert_eq!(read_all(&mut s).await, " and more");

    let events = kinds(&events_until_closed(&mut rx, 1).await);
    assert!(matches!(events[0], Event::Accepted { .. }), "{events:?}");
    assert!(matches!(events[1], Event::Request { .. }), "{events:?}");
    assert!(events.contains(&Event::FirstByteUp));
    assert!(events.contains(&Event::FirstByteDown));
    // IP target: the peek reports that there is nothing to compare.
    assert!(events.iter().any(|e| matches!(e, Event::Tls { .. })));
    let n = events.len();
    assert_eq!(events[n - 2], Event::Traffic { up: 14, down: 14 });
    assert_eq!(
        events[n - 1],
        Event::Closed {
            reason: CloseReason::ClientFin
        }
    );
    running.stop().await;
}

#[tokio::test]
async fn connect_to_a_closed_port_is_502_connection_refused() {
    let target = closed_port().await;
    let (running, mut rx) = start(Engine::new(settings())).await;
    let connect = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
    let mut s = send(running.local_addr(), connect.as_bytes()).await;
    // read_all returning at all shows the proxy closed the connection.
    let reply = read_all(&mut s).await;
    assert!(reply.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{reply}");
    assert!(reply.contains("error=connection_refused"), "{reply}");
    assert!(reply.contains("\r\nConnection: close\r\n"), "{reply}");
    assert_eq!(close_reason(&mut rx).await, CloseReason::Rejected);
    running.stop().await;
}

#[tokio::test]
async fn bytes_after_a_refused_connect_are_never_read_as_a_request() {
    let target = closed_port().await;
    let (running, mut rx) = start(Engine::new(settings())).await;
    let raw = format!(
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\nGET http://127.0.0.1:1/ HTTP/1.1\r\nHost: x\r\n\r\n"
    );
    let mut s = send(running.local_addr(), raw.as_bytes()).await;
    let reply = read_all(&mut s).await;
    assert_eq!(reply.matches("HTTP/1.1").count(), 1, "{reply}");
    let events = kinds(&events_until_closed(&mut rx, 1).await);
    let requests = events
        .iter()
        .filter(|e| matches!(e, Event::Request { .. }))
        .count();
    assert_eq!(requests, 1);
    running.stop().await;
}

#[tokio::test]
async fn dns_failure_is_502_dns_error() {
    let engine =
        Engine::new(settings()).with_resolver(Arc::new(FailingResolver(DnsFailure::NoSuchHost)));
    let (running, mut rx) = start(engine).await;
    let raw = b"CONNECT nowhere.test:443 HTTP/1.1\r\nHost: nowhere.test:443\r\n\r\n";
    let mut s = send(running.local_addr(), raw).await;
    let reply = read_all(&mut s).await;
    assert!(reply.starts_with("HTTP/1.1 502 "), "{reply}");
    assert!(reply.contains("error=dns_error"), "{reply}");
    let events = kinds(&events_until_closed(&mut rx, 1).await);
    assert!(events.contains(&Event::DnsFailed {
        failure: DnsFailure::NoSuchHost
    }));
    running.stop().await;
}

#[tokio::test]
async fn a_connect_that_never_completes_is_504_after_the_connect_timeout() {
    let mut s = settings();
    s.timeouts.connect = 0.2;
    let engine = Engine::new(s)
        .with_resolver(Arc::new(FixedResolver("127.0.0.1".parse().unwrap())))
        .with_connector(Arc::new(HangingConnector));
    let (running, _rx) = start(engine).await;
    let started = Instant::now();
    let raw = b"CONNECT slow.test:443 HTTP/1.1\r\nHost: slow.test:443\r\n\r\n";
    let mut c = send(running.local_addr(), raw).await;
    let reply = read_all(&mut c).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(reply.starts_with("HTTP/1.1 504 "), "{reply}");
    assert!(reply.contains("error=connection_timeout"), "{reply}");
    running.stop().await;
}

#[tokio::test]
async fn an_incomplete_head_gets_408_and_silence_gets_a_close() {
    let mut s = settings();
    s.timeouts.request_head = 0.2;
    let (running, mut rx) = start(Engine::new(s)).await;
    let mut partial = send(running.local_addr(), b"CONNECT exam").await;
    let reply = read_all(&mut partial).await;
    assert!(reply.starts_with("HTTP/1.1 408 "), "{reply}");
    let mut silent = send(running.local_addr(), b"").await;
    assert_eq!(read_all(&mut silent).await, "");
    let events = kinds(&events_until_closed(&mut rx, 2).await);
    let closes: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Event::Closed { .. }))
        .collect();
    assert!(closes.iter().all(|e| **e
        == Event::Closed {
            reason: CloseReason::HeadTimeout
        }));
    running.stop().await;
}

#[tokio::test]
async fn stopping_cuts_a_tunnel_after_the_grace_period() {
    let echo = echo_server().await;
    let (running, mut rx) = start(Engine::new(settings())).await;
    let connect = format!("CONNECT {echo} HTTP/1.1\r\nHost: {echo}\r\n\r\n");
    let mut s = send(running.local_addr(), connect.as_bytes()).await;
    let mut buf = [0; 256];
    let n = patiently(s.read(&mut buf)).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    while running.stats().open_tunnels == 0 {
        tokio::task::yield_now().await;
    }
    assert_eq!(running.stats().open_tunnels, 1);
    patiently(running.stop()).await;
    assert_eq!(close_reason(&mut rx).await, CloseReason::Shutdown);
    assert_eq!(read_all(&mut s).await, "");
}
