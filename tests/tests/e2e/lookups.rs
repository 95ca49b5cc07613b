//! Lookups that cannot pile up: a zone that never answers, flooded with
//! random names, takes only its share of the lookups in flight, so a good
//! name still resolves and every stuck client gets an answer.

use std::sync::Arc;

use burrow_proxy::{Engine, MAX_LOOKUPS_PER_ZONE};
use burrow_tests::blocking_dns::{BlockingDns, ReleaseOnDrop};
use burrow_tests::{settings, Client, Echo, Proxy, ScriptedNet, TIMEOUT};
use tokio::time::{sleep, timeout, Duration};

/// Smaller than tokio's 512 so the test can fill it, but larger than the
/// engine's per-zone bound, as 512 is larger than its global one.
const BLOCKING_THREADS: usize = 16;

/// More stuck lookups than the blocking pool has threads.
const FLOOD: usize = 40;

/// On main this fails: the flood blocks every thread of the pool, the good
/// lookup queues behind them, and the client gets a 504 `dns_timeout`.
#[test]
fn a_flooded_zone_leaves_room_for_a_good_name() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(BLOCKING_THREADS)
        .enable_all()
        .build()
        .expect("a runtime");
    let dns = Arc::new(BlockingDns::default());
    // Dropped before the runtime, whose drop waits for its blocking threads.
    let _release = ReleaseOnDrop(dns.clone());
    runtime.block_on(flood_then_good_name(dns));
}

async fn flood_then_good_name(dns: Arc<BlockingDns>) {
    let origin = Echo::start().await;
    let mut s = settings();
    s.timeouts.dns = 1.0;
    let engine = Engine::new(s)
        .with_resolver(dns.clone())
        .with_connector(Arc::new(ScriptedNet::to_origin(origin.addr)));
    let proxy = Proxy::serve(engine).await;

    let mut stuck = Vec::new();
    for i in 0..FLOOD {
        let mut client = Client::connect(proxy.addr).await;
        let target = format!("r{i}.stuck.test:443");
        client
            .send(format!(
                "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n"
            ))
            .await;
        stuck.push(client);
    }
    // Every stuck lookup has started or been refused before the good one.
    let mut waited = Duration::ZERO;
    while dns.calls() < MAX_LOOKUPS_PER_ZONE && waited < TIMEOUT {
        sleep(Duration::from_millis(5)).await;
        waited += Duration::from_millis(5);
    }
    sleep(Duration::from_millis(100)).await;

    let mut good = Client::connect(proxy.addr).await;
    let reply = good.connect_to("hosts.localhost:443").await;
    assert_eq!(
        reply.status(),
        200,
        "a good name resolves beside a flooded zone: {}",
        String::from_utf8_lossy(&reply.raw)
    );

    let (mut busy, mut timed_out) = (0, 0);
    for client in &mut stuck {
        let reply = timeout(TIMEOUT, client.connect_response())
            .await
            .expect("a stuck lookup is answered, never left hanging");
        match (reply.status(), reply.proxy_error()) {
            (503, Some("dns_error")) => {
                assert_eq!(reply.header("retry-after"), Some("10"));
                busy += 1;
            }
            (504, Some("dns_timeout")) => timed_out += 1,
            other => panic!("a stuck lookup answered {other:?}"),
        }
    }
    assert_eq!(
        (busy, timed_out),
        (FLOOD - MAX_LOOKUPS_PER_ZONE, MAX_LOOKUPS_PER_ZONE)
    );
    assert_eq!(
        dns.calls(),
        MAX_LOOKUPS_PER_ZONE + 1,
        "refused lookups never reach the OS"
    );
    proxy.stop().await;
}
