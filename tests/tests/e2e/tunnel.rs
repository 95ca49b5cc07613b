//! CONNECT tunnels: real TLS through them, early data, half-close both ways,
//! resets, and the byte counts and TLS peek the log reports.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use burrow_core::log::{CloseReason, Event};
use burrow_core::outcome::ConnectFailure;
use burrow_core::tls::SniCheck;
use burrow_proxy::{BoxFuture, BoxStream, Connector, Engine};
use burrow_tests::events::traffic;
use burrow_tests::net::NoDns;
use burrow_tests::origin::RawOrigin;
use burrow_tests::tls::{handshake, TLS_BODY};
use burrow_tests::{settings, Client, Echo, Proxy, ScriptedNet, TestCert, TlsOrigin, TIMEOUT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, Notify};

/// The engine with `localhost` resolving to 127.0.0.1 and the real TCP connector.
async fn proxy_resolving_localhost() -> Proxy {
    let net = Arc::new(ScriptedNet::to_origin("127.0.0.1:9".parse().unwrap()));
    Proxy::with_resolver(settings(), net).await
}

/// A loopback origin that reads until EOF, keeps what it read, then writes
/// `reply` and closes.
async fn reply_after_eof(reply: &'static [u8]) -> (RawOrigin, Arc<Mutex<Vec<u8>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = got.clone();
    let origin = RawOrigin::start(move |mut stream, _| {
        let keep = keep.clone();
        async move {
            let mut all = Vec::new();
            let _ = stream.read_to_end(&mut all).await;
            keep.lock().unwrap().extend_from_slice(&all);
            let _ = stream.write_all(reply).await;
            let _ = stream.shutdown().await;
        }
    })
    .await;
    (origin, got)
}

#[tokio::test]
async fn rustls_client_talks_https_through_the_tunnel() {
    let cert = TestCert::new();
    let origin = TlsOrigin::start(&cert).await;
    let mut proxy = proxy_resolving_localhost().await;
    let mut client = Client::connect(proxy.addr).await;
    let me = client.local_addr();

    let reply = client
        .connect_to(&format!("localhost:{}", origin.addr().port()))
        .await;
    assert_eq!(
        reply.head.status_line,
        "HTTP/1.1 200 Connection established"
    );
    let (stream, early) = client.into_parts();
    assert!(early.is_empty(), "no proxy bytes inside the tunnel");
    let mut tls = handshake(cert.client_config(), "localhost", stream).await;
    tls.write_all(b"GET /secret HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with(TLS_BODY), "{answer}");
    drop(tls);

    let seen = origin.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].sni.as_deref(), Some("localhost"));
    assert!(seen[0].head.starts_with("GET /secret HTTP/1.1\r\n"));

    let events = proxy.events.connection(me).await;
    let tls_event = events.iter().find_map(|e| match e {
        Event::Tls { check, sni, alpn } => Some((check.clone(), sni.clone(), alpn.clone())),
        _ => None,
    });
    let (check, sni, _alpn) = tls_event.expect("a Tls event for a TLS tunnel");
    assert_eq!(check, SniCheck::Match);
    assert_eq!(sni.as_deref(), Some("localhost"));
    assert!(events.contains(&Event::FirstByteUp) && events.contains(&Event::FirstByteDown));
    let (up, down) = traffic(&events).expect("a final Traffic event");
    assert!(up > 0 && down as usize > TLS_BODY.len(), "{up} {down}");
}

#[tokio::test]
async fn curl_fetches_https_through_the_tunnel() {
    let cert = TestCert::new();
    let origin = TlsOrigin::start(&cert).await;
    let proxy = proxy_resolving_localhost().await;
    let pem = cert.pem_file();

    let out = crate::curl(vec![
        "-p".into(),
        "-x".into(),
        format!("http://{}", proxy.addr),
        "--cacert".into(),
        pem.0.display().to_string(),
        format!("https://localhost:{}/via-curl", origin.addr().port()),
    ])
    .await;
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), TLS_BODY);
    let seen = origin.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].sni.as_deref(), Some("localhost"));
    assert!(seen[0].head.starts_with("GET /via-curl HTTP/1.1\r\n"));
}

#[tokio::test]
async fn early_data_reaches_the_origin_first_and_in_order() {
    let (origin, got) = reply_after_eof(b"thanks").await;
    let mut proxy = Proxy::start(settings()).await;
    let mut client = Client::connect(proxy.addr).await;
    let me = client.local_addr();
    let target = origin.addr;

    // One write: the CONNECT head and the first tunnel bytes together.
    client
        .send(format!(
            "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\nearly-1|"
        ))
        .await;
    let reply = client.connect_response().await;
    assert_eq!(reply.status(), 200);
    client.send("later-2|").await;
    client.send("later-3").await;
    client.shutdown_write().await;
    assert_eq!(client.read_to_end().await, b"thanks");

    assert_eq!(&*got.lock().unwrap(), b"early-1|later-2|later-3");
    let events = proxy.events.connection(me).await;
    assert_eq!(traffic(&events), Some((23, 6)));
}

/// Against an echo: the 200 head, then at once the echo of the bytes sent
/// with the CONNECT; the log has the whole connection in order.
#[tokio::test]
async fn tunnel_relays_early_data_first_and_logs_the_connection() {
    let echo = Echo::start().await;
    let mut proxy = Proxy::start(settings()).await;
    let mut client = Client::connect(proxy.addr).await;
    let me = client.local_addr();
    let target = echo.addr;
    client
        .send(format!(
            "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\nearly"
        ))
        .await;
    let reply = client.connect_response().await;
    assert_eq!(
        reply.head.status_line,
        "HTTP/1.1 200 Connection established"
    );
    // The next bytes after the head are the echoed early bytes.
    assert_eq!(client.read_exact(5).await, b"early");
    client.send(" and more").await;
    client.shutdown_write().await;
    assert_eq!(client.read_to_end().await, b" and more");

    let events = proxy.events.connection(me).await;
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
}

#[tokio::test]
async fn client_half_close_reaches_the_origin_and_its_reply_still_arrives() {
    let (origin, got) = reply_after_eof(b"reply written after the client's FIN").await;
    let mut proxy = Proxy::start(settings()).await;
    let mut client = Client::connect(proxy.addr).await;
    let me = client.local_addr();

    assert_eq!(
        client.connect_to(&origin.addr.to_string()).await.status(),
        200
    );
    client.send("question").await;
    client.shutdown_write().await;
    let answer = client.read_to_end().await;
    assert_eq!(answer, b"reply written after the client's FIN");
    assert_eq!(&*got.lock().unwrap(), b"question");
    drop(client);

    let events = proxy.events.connection(me).await;
    assert_eq!(traffic(&events), Some((8, 36)));
    assert_eq!(
        events.last(),
        Some(&Event::Closed {
            reason: CloseReason::ClientFin
        })
    );
}

#[tokio::test]
async fn origin_close_reaches_the_client_after_its_data() {
    let origin = RawOrigin::start(|mut stream, _| async move {
        let _ = stream.write_all(b"last words").await;
        let _ = stream.shutdown().await;
        // Wait for the client's close, so ours is a clean FIN, not a reset.
        let _ = stream.read_to_end(&mut Vec::new()).await;
    })
    .await;
    let mut proxy = Proxy::start(settings()).await;
    let mut client = Client::connect(proxy.addr).await;
    let me = client.local_addr();

    assert_eq!(
        client.connect_to(&origin.addr.to_string()).await.status(),
        200
    );
    assert_eq!(client.read_to_end().await, b"last words");
    drop(client);

    let events = proxy.events.connection(me).await;
    assert_eq!(
        events.last(),
        Some(&Event::Closed {
            reason: CloseReason::ServerFin
        })
    );
    assert_eq!(traffic(&events), Some((0, 10)));
}

#[tokio::test]
async fn byte_totals_match_a_large_echo() {
    let origin = Echo::start().await;
    let mut proxy = Proxy::start(settings()).await;
    let mut client = Client::connect(proxy.addr).await;
    let me = client.local_addr();
    assert_eq!(
        client.connect_to(&origin.addr.to_string()).await.status(),
        200
    );

    let data: Vec<u8> = (0..3 * 1024 * 1024 + 17).map(|i| (i % 251) as u8).collect();
    let (stream, early) = client.into_parts();
    assert!(early.is_empty());
    let (mut r, mut w) = stream.into_split();
    let writer = tokio::spawn({
        let data = data.clone();
        async move {
            w.write_all(&data).await.unwrap();
            w.shutdown().await.unwrap();
            w
        }
    });
    let mut back = Vec::new();
    tokio::time::timeout(TIMEOUT, r.read_to_end(&mut back))
        .await
        .expect("echo in time")
        .unwrap();
    let _w = writer.await.unwrap();
    assert!(back == data, "the echo differs ({} bytes back)", back.len());
    drop((r, _w));

    let events = proxy.events.connection(me).await;
    let n = data.len() as u64;
    assert_eq!(traffic(&events), Some((n, n)));
    assert_eq!(
        events.last(),
        Some(&Event::Closed {
            reason: CloseReason::ClientFin
        })
    );
}

#[tokio::test]
async fn client_reset_closes_the_upstream_side() {
    let (ended_tx, ended_rx) = oneshot::channel::<()>();
    let ended_tx = Arc::new(Mutex::new(Some(ended_tx)));
    let origin = RawOrigin::start(move |mut stream, _| {
        let ended_tx = ended_tx.clone();
        async move {
            let _ = stream.read_to_end(&mut Vec::new()).await;
            if let Some(tx) = ended_tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
        }
    })
    .await;
    let mut proxy = Proxy::start(settings()).await;
    let mut client = Client::connect(proxy.addr).await;
    let me = client.local_addr();
    assert_eq!(
        client.connect_to(&origin.addr.to_string()).await.status(),
        200
    );
    client.send("some bytes").await;

    let (stream, _) = client.into_parts();
    stream.set_zero_linger().unwrap();
    drop(stream);

    tokio::time::timeout(TIMEOUT, ended_rx)
        .await
        .expect("the origin's connection ends after the client's reset")
        .unwrap();
    assert_eq!(
        proxy.events.close_reason(me).await,
        CloseReason::ClientReset
    );
}

/// A connector that reports when it is asked and connects only when released.
struct Gated {
    origin: std::net::SocketAddr,
    asked: Notify,
    release: Notify,
    released: AtomicBool,
}

impl Connector for Gated {
    fn connect(
        &self,
        _addr: std::net::SocketAddr,
    ) -> BoxFuture<'_, Result<BoxStream, ConnectFailure>> {
        Box::pin(async move {
            self.asked.notify_one();
            self.release.notified().await;
            self.released.store(true, Ordering::SeqCst);
            let s = TcpStream::connect(self.origin)
                .await
                .map_err(|_| ConnectFailure::Refused)?;
            Ok(Box::new(s) as BoxStream)
        })
    }
}

#[tokio::test]
async fn no_200_before_the_upstream_connect_completes() {
    let origin = Echo::start().await;
    let gate = Arc::new(Gated {
        origin: origin.addr,
        asked: Notify::new(),
        release: Notify::new(),
        released: AtomicBool::new(false),
    });
    let engine = Engine::new(settings()).with_resolver(Arc::new(NoDns));
    let proxy = Proxy::serve(engine.with_connector(gate.clone())).await;
    let mut client = Client::connect(proxy.addr).await;
    client
        .send("CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n")
        .await;
    tokio::time::timeout(TIMEOUT, gate.asked.notified())
        .await
        .expect("the engine dials");
    // The dial is pending: the client must have nothing yet, not even a 200.
    assert!(
        !client.is_closed().await,
        "the connection stays open while dialling"
    );
    gate.release.notify_one();
    let reply = client.connect_response().await;
    assert!(gate.released.load(Ordering::SeqCst));
    assert_eq!(reply.status(), 200);
    client.send("ping").await;
    assert_eq!(client.read_exact(4).await, b"ping");
}
