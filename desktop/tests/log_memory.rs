//! The connection log's memory under abuse, counted exactly: a global
//! allocator counts the heap this thread holds, so the figures are the
//! store's own bytes, whatever other tests do meanwhile.
//!
//! `cargo test -p burrow-desktop --test log_memory -- --nocapture` prints
//! the worst-case figures quoted in ARCHITECTURE.md.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use burrow_core::log::{CloseReason, Event, LogEvent, SHOWN_SHORT, SHOWN_TARGET};
use burrow_core::tls::SniCheck;
use burrow_core::PeerText;
use burrow_desktop::log_store::{LogStore, DEFAULT_CAP};

/// The store's byte budget, written out so this file states the promise
/// on its own: 16 MiB of records.
const BUDGET: usize = 16 * 1024 * 1024;

/// What the store holds besides its records, whatever they contain: the
/// maps' first nodes, the rate's buckets, and the keys of dropped records
/// waiting for the next batch (at most the row budget's 10,000, in a vector
/// that doubles: 128 KiB).
const FIXED: usize = 256 * 1024;

/// Counts every allocation of the thread that makes it.
struct Counting;

thread_local! {
    /// Bytes this thread holds now, as glibc's malloc lays them out.
    static HELD: Cell<usize> = const { Cell::new(0) };
    /// The most it has held since the last [`reset_peak`].
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

/// What glibc's malloc takes for `size` bytes: an 8-byte header, rounded
/// up to 16, at least 32.
fn chunk(size: usize) -> usize {
    ((size + 8 + 15) & !15).max(32)
}

fn count(add: usize, sub: usize) {
    // `try_with`: no counting while the thread's storage is torn down.
    let _ = HELD.try_with(|h| {
        let now = h.get() + add - sub.min(h.get() + add);
        h.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

// SAFETY: every call is passed to `System` unchanged; only counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(chunk(layout.size()), 0);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        count(0, chunk(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(chunk(new_size), chunk(layout.size()));
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn held() -> usize {
    HELD.with(Cell::get)
}

fn reset_peak() -> usize {
    PEAK.with(|p| p.set(held()));
    held()
}

fn peak() -> usize {
    PEAK.with(Cell::get)
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The events of one connection a hostile client stuffs as full as the
/// engine lets it: a 16 KiB request line of `<` (the first 1 KiB kept,
/// escaped to 4 KiB), a 16 KiB SNI of `<` (escaped to 64 KiB, kept twice),
/// 16 ALPN names of 255 `<`, 256 resolved addresses, the origin's longest
/// reason phrase, then the close.
fn stuffed() -> Vec<LogEvent> {
    let lt = |n: usize| vec![b'<'; n];
    let ev = |event| LogEvent {
        id: 0,
        at_ms: 1,
        event,
    };
    vec![
        ev(Event::Accepted {
            client: "[2001:db8::1]:50000".parse().unwrap(),
            listener: "127.0.0.1:8080".parse().unwrap(),
        }),
        ev(Event::Request {
            method: PeerText::shown(&lt(16 * 1024), SHOWN_SHORT),
            target: PeerText::shown(&lt(16 * 1024), SHOWN_TARGET),
            target_len: 16 * 1024,
            version: burrow_core::head::Version::Http11,
        }),
        ev(Event::Resolved {
            addrs: (0..256u16)
                .map(|i| {
                    std::net::IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i))
                })
                .collect(),
        }),
        ev(Event::OriginResponded {
            status: 599,
            reason: PeerText::shown(&lt(16 * 1024), SHOWN_SHORT),
        }),
        ev(Event::Tls {
            check: SniCheck::Mismatch {
                sni: PeerText::new(&lt(16 * 1024)),
            },
            sni: Some(PeerText::new(&lt(16 * 1024))),
            alpn: vec![PeerText::new(&lt(255)); 16],
        }),
        ev(Event::Closed {
            reason: CloseReason::ClientReset,
        }),
    ]
}

/// Feeds `n` connections of `events` to `s`, checking after each that the
/// store holds no more than `limit` bytes of heap; returns the most it held.
fn fill(s: &mut LogStore, events: &mut [LogEvent], n: u64, base: usize, limit: usize) -> usize {
    let mut most = 0;
    for id in 1..=n {
        for e in events.iter_mut() {
            e.id = id;
            s.apply(0, e);
        }
        let now = held() - base;
        most = most.max(now);
        assert!(
            now <= limit,
            "after {id} connections the log holds {now} bytes ({}), over {limit}",
            mib(now)
        );
    }
    most
}

#[test]
fn ten_thousand_stuffed_connections_stay_under_the_byte_budget() {
    let mut events = stuffed();
    let base = held();
    let mut s = LogStore::new(DEFAULT_CAP);
    let most = fill(&mut s, &mut events, 10_500, base, BUDGET + FIXED);
    let kept = held() - base;

    // The newest connections are the ones kept.
    let t = s.totals();
    assert_eq!(t.connections, 10_500);
    assert_eq!(t.dropped + s.len() as u64, 10_500);
    assert!(s.len() >= 90, "only {} stuffed records kept", s.len());

    // The page's first batch: every row cloned with its words, then JSON
    // (what the channel to the page carries), at its peak.
    let before = reset_peak();
    let batch = s.take_batch().expect("a first batch");
    assert_eq!(batch.rows.last().map(|r| r.record.id), Some(10_500));
    let json = serde_json::to_string(&batch).expect("a batch serialises");
    let batch_peak = peak() - before;
    println!(
        "stuffed: {} records kept of 10,500; log heap {} (most {}); \
         a whole-log batch peaks at {} more, its JSON is {}",
        s.len(),
        mib(kept),
        mib(most),
        mib(batch_peak),
        mib(json.len()),
    );
}

#[test]
fn ordinary_connections_fill_the_rows_not_the_bytes() {
    // A typical tunnel: a host name, an address, an SNI that matches, h2.
    let mut events = vec![
        LogEvent {
            id: 0,
            at_ms: 1,
            event: Event::Accepted {
                client: "127.0.0.1:50000".parse().unwrap(),
                listener: "127.0.0.1:8080".parse().unwrap(),
            },
        },
        LogEvent {
            id: 0,
            at_ms: 2,
            event: Event::Request {
                method: PeerText::new(b"CONNECT"),
                target: PeerText::new(b"www.example-cdn-host.com:443"),
                target_len: 28,
                version: burrow_core::head::Version::Http11,
            },
        },
        LogEvent {
            id: 0,
            at_ms: 3,
            event: Event::Resolved {
                addrs: vec![
                    "93.184.215.14".parse().unwrap(),
                    "2606:2800:21f::1".parse().unwrap(),
                ],
            },
        },
        LogEvent {
            id: 0,
            at_ms: 4,
            event: Event::Tls {
                check: SniCheck::Match,
                sni: Some(PeerText::new(b"www.example-cdn-host.com")),
                alpn: vec![PeerText::new(b"h2"), PeerText::new(b"http/1.1")],
            },
        },
        LogEvent {
            id: 0,
            at_ms: 5,
            event: Event::Closed {
                reason: CloseReason::ClientFin,
            },
        },
    ];
    let base = held();
    let mut s = LogStore::new(DEFAULT_CAP);
    let most = fill(&mut s, &mut events, 12_000, base, BUDGET + FIXED);
    assert_eq!(s.len(), DEFAULT_CAP, "the row budget binds first");
    assert_eq!(s.totals().dropped, 2_000);
    println!(
        "ordinary: {} records, log heap {} (most {})",
        s.len(),
        mib(held() - base),
        mib(most)
    );
}

#[test]
fn the_estimate_is_never_below_the_real_heap() {
    let mut events = stuffed();
    let mut seen = Vec::new();
    for n in [1, 10, 100] {
        let base = held();
        let mut s = LogStore::new(DEFAULT_CAP);
        fill(&mut s, &mut events, n, base, usize::MAX);
        let real = held() - base;
        println!("{n} stuffed records: estimated {} real {real}", s.bytes());
        // The store's fixed part (a map's first node is sized for 11
        // entries) is not the records'.
        assert!(
            s.bytes() + 16 * 1024 >= real,
            "{n} records: estimated {}, real {real}",
            s.bytes()
        );
        seen.push((s.bytes(), real));
    }
    // And what each further record costs is never underestimated.
    let (est, real) = (seen[2].0 - seen[1].0, seen[2].1 - seen[1].1);
    assert!(est >= real, "90 records: estimated {est}, real {real}");
}
