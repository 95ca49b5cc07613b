//! The pump against in-memory pipes, with a real core connection in its
//! tunnel phase on the other side of the [`Link`].

use std::net::SocketAddr;
use std::sync::Arc;

use burrow_core::log::{CloseReason, Event, LogEvent};
use burrow_core::settings::Settings;
use burrow_core::tls::{self, SniCheck};
use burrow_core::{Action, Connection};
use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::broadcast;

use super::*;

struct Setup {
    conn: Connection,
    emitter: Emitter,
    rx: broadcast::Receiver<LogEvent>,
    cut: CancellationToken,
    start: Instant,
    pool: Arc<Pool>,
    pipes: Arc<Pipes>,
}

/// A connection whose CONNECT to `target` was answered 200, idling out after `idle` seconds.
fn setup(target: &str, idle: f64) -> Setup {
    let mut settings = Settings::default();
    settings.timeouts.tunnel_idle = idle;
    let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let mut conn = Connection::new(Arc::new(settings), addr, addr);
    let head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
    conn.handle_client_data(Duration::ZERO, head.as_bytes());
    if let Action::Resolve { .. } = conn.poll() {
        conn.handle_resolved(Duration::ZERO, Ok(vec!["192.0.2.1".parse().unwrap()]));
    }
    conn.handle_connected(Duration::ZERO, Ok(()));
    loop {
        match conn.poll() {
            Action::Relay => break,
            Action::SendClient(_) | Action::StartTunnel { .. } => {}
            other => panic!("not a tunnel: {other:?}"),
        }
    }
    while conn.poll_event().is_some() {}
    let (tx, rx) = broadcast::channel(1024);
    Setup {
        conn,
        emitter: Emitter::new(1, tx, 0),
        rx,
        cut: CancellationToken::new(),
        start: Instant::now(),
        pool: Arc::new(Pool::default()),
        pipes: Arc::default(),
    }
}

impl Leg for DuplexStream {
    fn tcp(&self) -> Option<&TcpStream> {
        None
    }
}

fn link(s: &mut Setup) -> Link<'_> {
    Link {
        conn: &mut s.conn,
        start: s.start,
        emitter: &s.emitter,
        cut: &s.cut,
        pool: &s.pool,
        pipes: &s.pipes,
    }
}

fn events(rx: &mut broadcast::Receiver<LogEvent>) -> Vec<Event> {
    std::iter::from_fn(|| rx.try_recv().ok().map(|e| e.event)).collect()
}

fn closed(evs: &[Event]) -> Option<CloseReason> {
    evs.iter().find_map(|e| match e {
        Event::Closed { reason } => Some(*reason),
        _ => None,
    })
}

fn last_traffic(evs: &[Event]) -> Option<(u64, u64)> {
    evs.iter().rev().find_map(|e| match e {
        Event::Traffic { up, down } => Some((*up, *down)),
        _ => None,
    })
}

/// (client app end, proxy's client end, proxy's upstream end, server app end)
fn pipes() -> (DuplexStream, DuplexStream, DuplexStream, DuplexStream) {
    let (client, proxy_client) = duplex(64 * 1024);
    let (proxy_upstream, server) = duplex(64 * 1024);
    (client, proxy_client, proxy_upstream, server)
}

#[tokio::test]
async fn client_half_close_then_server_finishes() {
    let mut s = setup("example.com:443", 60.0);
    let (mut client, mut pc, mut pu, mut server) = pipes();
    let apps = async {
        client.write_all(b"early-next").await.unwrap();
        client.shutdown().await.unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"EARLYearly-next");
        // The client has finished sending, but the answer still flows back.
        server.write_all(b"answer").await.unwrap();
        server.shutdown().await.unwrap();
        let mut back = Vec::new();
        client.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"answer");
    };
    tokio::join!(relay(&mut pc, &mut pu, b"EARLY", link(&mut s)), apps);
    let evs = events(&mut s.rx);
    assert_eq!(closed(&evs), Some(CloseReason::ClientFin));
    assert_eq!(last_traffic(&evs), Some((15, 6)));
}

#[tokio::test]
async fn server_half_close_then_client_finishes() {
    let mut s = setup("example.com:443", 60.0);
    let (mut client, mut pc, mut pu, mut server) = pipes();
    let apps = async {
        server.write_all(b"banner").await.unwrap();
        server.shutdown().await.unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"banner");
        client.write_all(b"bye").await.unwrap();
        client.shutdown().await.unwrap();
        let mut up = Vec::new();
        server.read_to_end(&mut up).await.unwrap();
        assert_eq!(up, b"bye");
    };
    tokio::join!(relay(&mut pc, &mut pu, b"", link(&mut s)), apps);
    let evs = events(&mut s.rx);
    assert_eq!(closed(&evs), Some(CloseReason::ServerFin));
    assert_eq!(last_traffic(&evs), Some((3, 6)));
}

#[tokio::test]
async fn early_data_goes_first_and_the_core_reads_the_hello_once() {
    let mut s = setup("example.com:443", 60.0);
    let (mut client, mut pc, mut pu, mut server) = pipes();
    let hello = tls::client_hello(Some("example.com"));
    let (first, second) = hello.split_at(10);
    let apps = async {
        client.write_all(second).await.unwrap();
        let mut got = vec![0; hello.len()];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(got, hello);
        server.write_all(b"x").await.unwrap();
        drop(server);
        client.shutdown().await.unwrap();
        let mut back = Vec::new();
        client.read_to_end(&mut back).await.unwrap();
    };
    tokio::join!(relay(&mut pc, &mut pu, first, link(&mut s)), apps);
    let evs = events(&mut s.rx);
    assert_eq!(evs.iter().filter(|e| **e == Event::FirstByteUp).count(), 1);
    assert_eq!(
        evs.iter().filter(|e| **e == Event::FirstByteDown).count(),
        1
    );
    let tls: Vec<_> = evs
        .iter()
        .filter(|e| matches!(e, Event::Tls { .. }))
        .collect();
    assert_eq!(
        tls,
        [&Event::Tls {
            check: SniCheck::Match,
            sni: Some("example.com".into()),
            alpn: vec!["h2".into(), "http/1.1".into()],
        }]
    );
    assert_eq!(last_traffic(&evs).map(|t| t.0), Some(hello.len() as u64));
}

#[tokio::test]
async fn not_tls_is_reported() {
    let mut s = setup("example.com:443", 60.0);
    let (mut client, mut pc, mut pu, mut server) = pipes();
    let apps = async {
        client.write_all(b"SSH-2.0-x\r\n").await.unwrap();
        client.shutdown().await.unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        drop(server);
    };
    tokio::join!(relay(&mut pc, &mut pu, b"", link(&mut s)), apps);
    assert!(events(&mut s.rx).contains(&Event::Tls {
        check: SniCheck::NotTls,
        sni: None,
        alpn: vec![]
    }));
}

#[tokio::test]
async fn counts_survive_a_broken_server() {
    let mut s = setup("example.com:443", 60.0);
    let (mut client, mut pc, mut pu, server) = pipes();
    let apps = async {
        client.write_all(b"12345").await.unwrap();
        // Let the bytes through, then the server vanishes mid-stream.
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(server);
        client.write_all(b"more").await.unwrap();
    };
    tokio::join!(relay(&mut pc, &mut pu, b"", link(&mut s)), apps);
    let evs = events(&mut s.rx);
    assert_eq!(last_traffic(&evs).map(|t| t.0), Some(5));
    assert!(matches!(
        closed(&evs),
        Some(CloseReason::ServerReset | CloseReason::ServerFin | CloseReason::Error)
    ));
}

#[tokio::test(start_paused = true)]
async fn an_idle_tunnel_is_closed_on_the_cores_deadline() {
    let mut s = setup("example.com:443", 30.0);
    let (mut client, mut pc, mut pu, _server) = pipes();
    let apps = async {
        client.write_all(b"x").await.unwrap();
        tokio::time::sleep(Duration::from_secs(20)).await;
        client.write_all(b"y").await.unwrap();
    };
    let start = Instant::now();
    tokio::join!(relay(&mut pc, &mut pu, b"", link(&mut s)), apps);
    let evs = events(&mut s.rx);
    assert_eq!(closed(&evs), Some(CloseReason::IdleTimeout));
    assert_eq!(last_traffic(&evs).map(|t| t.0), Some(2));
    // Activity at 20 s (reported within TRAFFIC_EVERY) pushed the deadline to about 50 s.
    let took = start.elapsed().as_secs_f64();
    assert!((50.0..50.5).contains(&took), "{took}");
}

#[tokio::test(start_paused = true)]
async fn a_half_closed_tunnel_still_idles_out() {
    let mut s = setup("example.com:443", 10.0);
    let (mut client, mut pc, mut pu, _server) = pipes();
    client.shutdown().await.unwrap();
    relay(&mut pc, &mut pu, b"", link(&mut s)).await;
    assert_eq!(closed(&events(&mut s.rx)), Some(CloseReason::IdleTimeout));
}

#[tokio::test]
async fn the_cut_ends_with_shutdown() {
    let mut s = setup("example.com:443", 10.0);
    let (_client, mut pc, mut pu, _server) = pipes();
    s.cut.cancel();
    relay(&mut pc, &mut pu, b"", link(&mut s)).await;
    assert_eq!(closed(&events(&mut s.rx)), Some(CloseReason::Shutdown));
}

#[tokio::test(start_paused = true)]
async fn traffic_is_reported_at_most_every_quarter_second() {
    let mut s = setup("example.com:443", 60.0);
    let (mut client, mut pc, mut pu, mut server) = pipes();
    let apps = async {
        for _ in 0..10 {
            client.write_all(b"abc").await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        client.shutdown().await.unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        server.shutdown().await.unwrap();
    };
    tokio::join!(relay(&mut pc, &mut pu, b"", link(&mut s)), apps);
    let evs = events(&mut s.rx);
    let traffic = evs
        .iter()
        .filter(|e| matches!(e, Event::Traffic { .. }))
        .count();
    assert_eq!(last_traffic(&evs), Some((30, 0)));
    // One second of writes every 100 ms: at most one event per 250 ms, plus the last.
    assert!((2..=6).contains(&traffic), "{traffic}");
}

#[tokio::test(start_paused = true)]
async fn a_burst_then_silence_is_still_reported_while_open() {
    let mut s = setup("example.com:443", 60.0);
    let mut rx = s.rx.resubscribe();
    let (mut client, mut pc, mut pu, mut server) = pipes();
    let apps = async {
        client.write_all(b"abc").await.unwrap();
        let mut got = [0; 3];
        server.read_exact(&mut got).await.unwrap();
        // Well past the throttle, with the tunnel still open.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let seen = events(&mut rx);
        client.shutdown().await.unwrap();
        server.shutdown().await.unwrap();
        seen
    };
    let ((), seen) = tokio::join!(relay(&mut pc, &mut pu, b"", link(&mut s)), apps);
    assert!(
        seen.contains(&Event::Traffic { up: 3, down: 0 }),
        "{seen:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_idle_tunnel_holds_no_buffer() {
    let mut s = setup("example.com:443", 60.0);
    let pool = s.pool.clone();
    let (mut client, pc) = duplex(64 * 1024);
    // A small upstream pipe, so a burst the server does not read yet stalls
    // the relay with bytes in hand.
    let (pu, mut server) = duplex(1024);
    let (mut pc, mut pu) = (pc, pu);
    let settle = || tokio::time::sleep(Duration::from_millis(10));
    let apps = async {
        settle().await;
        assert_eq!(pool.lent(), 0, "idle before any byte");
        client.write_all(b"hello").await.unwrap();
        server.write_all(b"world").await.unwrap();
        let mut got = [0; 5];
        server.read_exact(&mut got).await.unwrap();
        client.read_exact(&mut got).await.unwrap();
        settle().await;
        assert_eq!(pool.lent(), 0, "idle after bytes moved both ways");

        client.write_all(&[7; 8 * 1024]).await.unwrap();
        settle().await;
        assert_eq!(pool.lent(), 1, "bytes in flight hold one buffer");
        let mut burst = vec![0; 8 * 1024];
        server.read_exact(&mut burst).await.unwrap();
        settle().await;
        assert_eq!(pool.lent(), 0, "drained: the buffer is back");

        client.shutdown().await.unwrap();
        server.shutdown().await.unwrap();
    };
    tokio::join!(relay(&mut pc, &mut pu, b"", link(&mut s)), apps);
    assert_eq!(pool.lent(), 0);
    assert_eq!(last_traffic(&events(&mut s.rx)), Some((5 + 8 * 1024, 5)));
}

#[tokio::test]
async fn early_data_needs_no_buffer_and_goes_first() {
    let mut s = setup("example.com:443", 60.0);
    let pool = s.pool.clone();
    let (mut client, mut pc, mut pu, mut server) = pipes();
    let apps = async {
        let mut got = [0; 5];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"EARLY");
        assert_eq!(pool.lent(), 0);
        client.write_all(b"later").await.unwrap();
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"later");
        client.shutdown().await.unwrap();
        server.shutdown().await.unwrap();
    };
    tokio::join!(relay(&mut pc, &mut pu, b"EARLY", link(&mut s)), apps);
    assert_eq!(pool.lent(), 0);
}

/// The same pump between real TCP sockets, where Linux splices bulk bytes.
#[cfg(target_os = "linux")]
mod over_tcp {
    use tokio::net::TcpStream;

    use super::super::pipe::tests::pair;
    use super::*;

    /// (client app end, proxy's client end, proxy's upstream end, server app end)
    async fn sockets() -> (TcpStream, TcpStream, TcpStream, TcpStream) {
        let (client, proxy_client) = pair().await;
        let (proxy_upstream, server) = pair().await;
        (client, proxy_client, proxy_upstream, server)
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
    }

    #[tokio::test]
    async fn bulk_bytes_are_spliced_both_ways_and_the_core_still_sees_the_hello() {
        let mut s = setup("example.com:443", 60.0);
        let (mut client, mut pc, mut pu, mut server) = sockets().await;
        let hello = tls::client_hello(Some("example.com"));
        let (first, rest) = hello.split_at(10);
        let up = pattern(4 << 20, 1);
        let down = pattern(3 << 20, 2);
        let apps = async {
            let to_server = async {
                client.write_all(rest).await.unwrap();
                client.write_all(&up).await.unwrap();
                client.shutdown().await.unwrap();
                let mut back = Vec::new();
                client.read_to_end(&mut back).await.unwrap();
                assert!(back == down, "downstream bytes differ");
            };
            let from_client = async {
                let mut got = Vec::new();
                server.read_to_end(&mut got).await.unwrap();
                assert!(got[..hello.len()] == hello[..], "hello differs");
                assert!(got[hello.len()..] == up[..], "upstream bytes differ");
                // The client has finished sending; the answer still flows back.
                server.write_all(&down).await.unwrap();
                server.shutdown().await.unwrap();
            };
            tokio::join!(to_server, from_client);
        };
        tokio::join!(relay(&mut pc, &mut pu, first, link(&mut s)), apps);
        assert!(s.pipes.kept() >= 1, "no pipe was used");
        assert_eq!((s.pipes.lent(), s.pool.lent()), (0, 0));
        let evs = events(&mut s.rx);
        assert_eq!(closed(&evs), Some(CloseReason::ClientFin));
        let sent = (hello.len() + up.len()) as u64;
        assert_eq!(last_traffic(&evs), Some((sent, down.len() as u64)));
        assert!(evs.iter().any(|e| matches!(
            e,
            Event::Tls {
                check: SniCheck::Match,
                ..
            }
        )));
    }

    #[tokio::test]
    async fn small_messages_are_copied_and_an_idle_tunnel_holds_no_pipe() {
        let mut s = setup("example.com:443", 60.0);
        let (mut client, mut pc, mut pu, mut server) = sockets().await;
        let pipes = s.pipes.clone();
        let apps = async {
            let mut got = [0; 64];
            for i in 0..100u8 {
                client.write_all(&[i; 64]).await.unwrap();
                server.read_exact(&mut got).await.unwrap();
                assert_eq!(got, [i; 64]);
                server.write_all(&got).await.unwrap();
                client.read_exact(&mut got).await.unwrap();
            }
            assert_eq!(
                (pipes.lent(), pipes.kept()),
                (0, 0),
                "small reads splice nothing"
            );
            // A bulk burst, then silence: the pipe goes back.
            let burst = pattern(1 << 20, 3);
            let mut echoed = vec![0; burst.len()];
            let (w, r) = tokio::join!(client.write_all(&burst), server.read_exact(&mut echoed));
            w.unwrap();
            r.unwrap();
            assert!(echoed == burst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(pipes.lent(), 0, "idle after a burst");
            assert!(pipes.kept() >= 1, "the burst was spliced");
            // The first read after the burst is still spliced, and small:
            // the direction goes back to copying and gives its pipe back.
            client.write_all(b"ping").await.unwrap();
            server.read_exact(&mut got[..4]).await.unwrap();
            assert_eq!(&got[..4], b"ping");
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(pipes.lent(), 0, "idle after a small read");
            client.shutdown().await.unwrap();
            server.shutdown().await.unwrap();
        };
        tokio::join!(relay(&mut pc, &mut pu, b"", link(&mut s)), apps);
        assert_eq!(
            last_traffic(&events(&mut s.rx)),
            Some((100 * 64 + (1 << 20) + 4, 100 * 64))
        );
    }

    #[tokio::test]
    async fn a_server_reset_mid_bulk_transfer_ends_the_tunnel() {
        let mut s = setup("example.com:443", 60.0);
        let (mut client, mut pc, mut pu, mut server) = sockets().await;
        let sender = tokio::spawn(async move {
            let chunk = pattern(1 << 20, 4);
            for _ in 0..64 {
                if client.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            client
        });
        let apps = async {
            let mut got = vec![0; 1 << 20];
            server.read_exact(&mut got).await.unwrap();
            // Closing with unread bytes sends a reset, mid-splice.
            drop(server);
        };
        tokio::join!(relay(&mut pc, &mut pu, b"", link(&mut s)), apps);
        drop(pc);
        drop(sender.await.unwrap());
        let evs = events(&mut s.rx);
        assert!(
            matches!(
                closed(&evs),
                Some(CloseReason::ServerReset | CloseReason::Error)
            ),
            "{evs:?}"
        );
        let up = last_traffic(&evs).map_or(0, |t| t.0);
        assert!(up >= 1 << 20, "{up} bytes counted");
        assert_eq!((s.pipes.lent(), s.pool.lent()), (0, 0));
    }
}
