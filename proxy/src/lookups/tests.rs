use std::future::Future;
use std::time::Duration;

use tokio::time::timeout;

use super::*;

/// Names with a `stuck` or `slow` label wait until [`Net::release`], like
/// `getaddrinfo` for a zone whose servers never answer; then `stuck` names
/// fail and `slow` names answer. A `boom` name panics. Every other name
/// answers at once, as `/etc/hosts` would.
struct Net {
    calls: Mutex<Vec<String>>,
    gate: watch::Sender<bool>,
}

const ANSWER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

impl Net {
    fn new() -> Arc<Net> {
        Arc::new(Net {
            calls: Mutex::new(Vec::new()),
            gate: watch::channel(false).0,
        })
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("lock").clone()
    }

    fn release(&self) {
        self.gate.send_replace(true);
    }
}

impl Resolver for Net {
    fn resolve(&self, host: &str, _port: u16) -> BoxFuture<'_, Answer> {
        self.calls.lock().expect("lock").push(host.to_string());
        let has = |label: &str| host.split('.').any(|l| l == label);
        let (stuck, slow, boom) = (has("stuck"), has("slow"), has("boom"));
        let mut gate = self.gate.subscribe();
        Box::pin(async move {
            assert!(!boom, "the resolver panicked");
            if stuck || slow {
                let _ = gate.wait_for(|open| *open).await;
            }
            if stuck {
                Err(DnsFailure::ServerFailure)
            } else {
                Ok(vec![ANSWER])
            }
        })
    }
}

fn bounded(net: &Arc<Net>) -> BoundedResolver {
    BoundedResolver::new(net.clone(), Bounds::default())
}

/// Polls `lookup` once: `None` while it waits.
async fn now<F: Future + Unpin>(lookup: &mut F) -> Option<F::Output> {
    timeout(Duration::ZERO, lookup).await.ok()
}

/// Lookups of `names`: those refused at once (`Busy`) and those still waiting.
async fn flood(
    r: &BoundedResolver,
    names: impl Iterator<Item = String>,
) -> (usize, Vec<BoxFuture<'_, Answer>>) {
    let (mut busy, mut waiting) = (0, Vec::new());
    for name in names {
        let mut lookup = r.resolve(&name, 443);
        match now(&mut lookup).await {
            Some(Err(DnsFailure::Busy)) => busy += 1,
            None => waiting.push(lookup),
            Some(other) => panic!("{name}: {other:?} before the resolver answered"),
        }
    }
    (busy, waiting)
}

/// Lets spawned lookup tasks run until the table is empty.
async fn drained(r: &BoundedResolver) {
    for _ in 0..1000 {
        if lock(&r.table).in_flight.is_empty() && lock(&r.table).zones.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("lookups still in flight after the resolver answered");
}

#[tokio::test]
async fn a_zone_that_never_answers_cannot_take_every_place() {
    let net = Net::new();
    let r = bounded(&net);
    let (busy, waiting) = flood(&r, (0..1000).map(|i| format!("r{i}.stuck.test"))).await;
    assert_eq!(waiting.len(), MAX_LOOKUPS_PER_ZONE);
    assert_eq!(busy, 1000 - MAX_LOOKUPS_PER_ZONE);

    let good = timeout(Duration::from_secs(1), r.resolve("hosts.example", 443)).await;
    assert_eq!(
        good,
        Ok(Ok(vec![ANSWER])),
        "a good name answers beside the stuck zone"
    );
    let mut elsewhere = r.resolve("a.stuck.other", 443);
    assert_eq!(
        now(&mut elsewhere).await,
        None,
        "another zone has places of its own"
    );
    let mut again = r.resolve("R0.Stuck.Test", 443);
    assert_eq!(
        now(&mut again).await,
        None,
        "a name in flight is joined, not refused"
    );

    assert_eq!(net.calls().len(), MAX_LOOKUPS_PER_ZONE + 2);
    net.release();
}

#[tokio::test]
async fn the_global_bound_holds_across_zones() {
    let net = Net::new();
    let r = bounded(&net);
    let (busy, waiting) = flood(&r, (0..1000).map(|i| format!("n.stuck.z{i}"))).await;
    assert_eq!(waiting.len(), MAX_LOOKUPS);
    assert_eq!(busy, 1000 - MAX_LOOKUPS);
    assert_eq!(net.calls().len(), MAX_LOOKUPS);
    {
        let table = lock(&r.table);
        assert!(table.in_flight.len() <= MAX_LOOKUPS && table.zones.len() <= MAX_LOOKUPS);
    }
    // The backstop: past it even a good name waits for a place.
    assert_eq!(r.resolve("hosts.example", 443).await, Err(DnsFailure::Busy));

    net.release();
    for lookup in waiting {
        assert_eq!(lookup.await, Err(DnsFailure::ServerFailure));
    }
    drained(&r).await;
    assert_eq!(r.resolve("hosts.example", 443).await, Ok(vec![ANSWER]));
}

#[tokio::test]
async fn concurrent_lookups_of_one_name_make_one_call() {
    let net = Net::new();
    let r = bounded(&net);
    let mut lookups: Vec<_> = (0..100)
        .map(|i| {
            r.resolve(
                if i % 2 == 0 {
                    "slow.example"
                } else {
                    "SLOW.example"
                },
                443,
            )
        })
        .collect();
    for lookup in &mut lookups {
        assert_eq!(now(lookup).await, None);
    }
    net.release();
    for lookup in lookups {
        assert_eq!(lookup.await, Ok(vec![ANSWER]));
    }
    assert_eq!(net.calls(), ["slow.example"]);
}

#[tokio::test]
async fn a_place_is_freed_only_when_the_lookup_returns() {
    let net = Net::new();
    let r = bounded(&net);
    let (_, waiting) = flood(
        &r,
        (0..MAX_LOOKUPS_PER_ZONE).map(|i| format!("r{i}.stuck.test")),
    )
    .await;
    assert_eq!(waiting.len(), MAX_LOOKUPS_PER_ZONE);
    // Every client gives up, as at the core's DNS deadline...
    drop(waiting);
    tokio::time::sleep(Duration::from_millis(20)).await;
    // ...but the OS lookups still block their threads, so they keep their places.
    assert_eq!(
        r.resolve("late.stuck.test", 443).await,
        Err(DnsFailure::Busy)
    );

    net.release();
    drained(&r).await;
    assert_eq!(
        r.resolve("late.stuck.test", 443).await,
        Err(DnsFailure::ServerFailure)
    );
    assert_eq!(net.calls().len(), MAX_LOOKUPS_PER_ZONE + 1);
}

#[tokio::test]
async fn a_lookup_that_panics_frees_its_place_and_fails() {
    let net = Net::new();
    let r = BoundedResolver::new(
        net.clone(),
        Bounds {
            total: 1,
            per_zone: 1,
        },
    );
    assert_eq!(
        r.resolve("boom.test", 443).await,
        Err(DnsFailure::ServerFailure)
    );
    drained(&r).await;
    assert_eq!(r.resolve("hosts.example", 443).await, Ok(vec![ANSWER]));
}

#[test]
fn a_zone_is_the_last_two_labels() {
    for (name, zone_of) in [
        ("a.b.stuck.test", "stuck.test"),
        ("stuck.test", "stuck.test"),
        ("www.example.com.", "example.com"),
        ("x.local", "x.local"),
        ("localhost", "localhost"),
        ("", ""),
        ("..", ""),
    ] {
        assert_eq!(zone(name), zone_of, "{name}");
    }
}
