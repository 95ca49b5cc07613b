//! The log store's behaviour: batches, caps, totals, rows.

use super::*;
use burrow_core::log::CloseReason;
use burrow_core::tls::SniCheck;
use burrow_core::{PeerText, ProxyError};

fn ev(id: u64, at_ms: u64, event: Event) -> LogEvent {
    LogEvent { id, at_ms, event }
}

fn accepted(id: u64) -> LogEvent {
    ev(
        id,
        id * 10,
        Event::Accepted {
            client: "127.0.0.1:50000".parse().unwrap(),
            listener: "127.0.0.1:8080".parse().unwrap(),
        },
    )
}

fn closed(id: u64) -> LogEvent {
    ev(
        id,
        id * 10 + 5,
        Event::Closed {
            reason: CloseReason::ClientFin,
        },
    )
}

fn keys(b: &Batch) -> Vec<u64> {
    b.rows.iter().map(|r| r.key).collect()
}

#[test]
fn first_batch_is_a_reset_then_only_changes() {
    let mut s = LogStore::new(100);
    let b = s.take_batch().unwrap();
    assert!(b.reset && b.rows.is_empty());
    assert_eq!(s.take_batch(), None);

    s.apply(0, &accepted(1));
    s.apply(0, &accepted(2));
    s.apply(0, &ev(1, 12, Event::Traffic { up: 5, down: 7 }));
    let b = s.take_batch().unwrap();
    assert!(!b.reset);
    assert_eq!(keys(&b), vec![1, 2]);
    assert_eq!((b.up, b.down), (5, 7));
    assert_eq!(b.rows[0].record.bytes_up, 5);

    // Running totals become deltas: only the growth counts.
    s.apply(0, &ev(1, 13, Event::Traffic { up: 8, down: 7 }));
    let b = s.take_batch().unwrap();
    assert_eq!(keys(&b), vec![1]);
    assert_eq!((b.up, b.down), (3, 0));
    assert_eq!((b.totals.bytes_up, b.totals.bytes_down), (8, 7));
    assert_eq!(b.totals.connections, 2);
    assert_eq!(s.take_batch(), None);

    s.resync();
    let b = s.take_batch().unwrap();
    assert!(b.reset);
    assert_eq!(keys(&b), vec![1, 2]);
}

#[test]
fn many_events_make_one_batch_entry_per_record() {
    let mut s = LogStore::new(100);
    s.take_batch();
    s.apply(0, &accepted(1));
    for i in 1..=50 {
        s.apply(0, &ev(1, 10 + i, Event::Traffic { up: i, down: 2 * i }));
    }
    let b = s.take_batch().unwrap();
    assert_eq!(b.rows.len(), 1);
    assert_eq!(b.rows[0].record.bytes_down, 100);
    assert_eq!((b.up, b.down), (50, 100));
}

#[test]
fn runs_with_the_same_ids_are_different_records() {
    let mut s = LogStore::new(100);
    s.apply(0, &accepted(1));
    s.apply(1, &accepted(1));
    assert_eq!(s.len(), 2);
    s.apply(1, &closed(1));
    assert!(s.get(1).unwrap().is_open());
    assert!(!s.get(2).unwrap().is_open());
    assert_eq!(s.listener(2), Some("127.0.0.1:8080".parse().unwrap()));
}

#[test]
fn the_cap_drops_the_oldest_closed_record_first() {
    let mut s = LogStore::new(3);
    s.take_batch();
    s.apply(0, &accepted(1)); // stays open
    s.apply(0, &accepted(2));
    s.apply(0, &closed(2));
    s.apply(0, &accepted(3));
    s.apply(0, &closed(3));
    s.take_batch();
    s.apply(0, &accepted(4));
    assert_eq!(s.len(), 3);
    assert!(s.get(1).is_some(), "the open record is kept");
    assert!(s.get(2).is_none(), "the oldest closed record went");
    let b = s.take_batch().unwrap();
    assert_eq!(b.removed, vec![2]);
    assert_eq!(keys(&b), vec![4]);
    assert_eq!(b.totals.dropped, 1);
    assert_eq!((b.len, b.cap), (3, 3));

    // 5 pushes out 3 (closed); then only open records are left, so 6 pushes out 1.
    s.apply(0, &accepted(5));
    s.apply(0, &accepted(6));
    assert_eq!(s.len(), 3);
    assert!(s.get(1).is_none() && s.get(3).is_none());
    assert_eq!(s.totals().dropped, 3);
}

#[test]
fn ten_thousand_records_stay_capped() {
    let mut s = LogStore::new(DEFAULT_CAP);
    for id in 0..12_000 {
        s.apply(0, &accepted(id));
        s.apply(0, &closed(id));
    }
    assert_eq!(s.len(), DEFAULT_CAP);
    let b = s.take_batch().unwrap();
    assert!(b.reset);
    assert_eq!(b.rows.len(), DEFAULT_CAP);
    assert_eq!(b.rows[0].record.id, 2_000, "oldest kept first");
    assert_eq!(b.totals.dropped, 2_000);
    assert_eq!(b.totals.connections, 12_000);
}

#[test]
fn clear_keeps_open_connections() {
    let mut s = LogStore::new(10);
    s.apply(0, &accepted(1));
    s.apply(0, &accepted(2));
    s.apply(0, &closed(2));
    s.take_batch();
    s.clear();
    assert_eq!(s.len(), 1);
    let b = s.take_batch().unwrap();
    assert_eq!(b.removed, vec![2]);
    assert_eq!(b.totals.dropped, 0);
}

#[test]
fn totals_count_tunnels_and_errors() {
    let mut s = LogStore::new(10);
    s.apply(0, &accepted(1));
    let responded = |status, error, after| Event::Responded {
        status,
        error,
        rule: "r".into(),
        after,
    };
    s.apply(0, &ev(1, 11, responded(200, None, After::Tunnel)));
    s.apply(0, &accepted(2));
    s.apply(
        0,
        &ev(
            2,
            21,
            responded(502, Some(ProxyError::DnsError), After::Close),
        ),
    );
    s.lost(4);
    let t = s.totals();
    assert_eq!((t.tunnels, t.errors, t.lost_events), (1, 1, 4));
}

#[test]
fn json_lines_export_has_one_record_per_line() {
    let mut s = LogStore::new(10);
    s.apply(0, &accepted(1));
    s.apply(0, &accepted(2));
    let text = s.to_json_lines();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["key"], 1);
    assert_eq!(lines[1]["id"], 2);
    assert_eq!(lines[0]["client"], "127.0.0.1:50000");
}

#[test]
fn rows_carry_core_words_for_the_page() {
    let mut s = LogStore::new(10);
    s.apply(0, &accepted(1));
    s.apply(
        0,
        &ev(
            1,
            12,
            Event::Traffic {
                up: 1229,
                down: 35 * 1024,
            },
        ),
    );
    s.apply(0, &closed(1));
    let b = s.take_batch().unwrap();
    let row = &b.rows[0];
    assert_eq!(row.text, RecordText::of(&row.record));
    assert_eq!(
        (row.text.sent.as_str(), row.text.received.as_str()),
        ("1.2 KiB", "35.0 KiB")
    );
    assert_eq!(row.text.state, "client closed");

    // The page gets the record's fields flat, and the words under `text`.
    let v = serde_json::to_value(row).unwrap();
    assert_eq!(v["key"], 1);
    assert_eq!(v["bytes_up"], 1229);
    assert_eq!(v["text"]["sent"], "1.2 KiB");
    assert_eq!(v["text"]["received"], "35.0 KiB");
    assert_eq!(v["text"]["state"], "client closed");
    assert_eq!(v["text"]["status_class"], "none");
    assert_eq!(v["text"]["problem"], false);
    assert!(v.get("close_text").is_none() && v.get("error_meaning").is_none());
}

#[test]
fn rows_show_hostile_peer_text_escaped() {
    // What a hostile client and ClientHello chose: a control sequence,
    // a forged second line, markup and a look-alike letter.
    let hostile: &[u8] = b"x\x1b[31m\r\nFORGED <img src=x>\xc3\xa9";
    let mut s = LogStore::new(10);
    s.apply(0, &accepted(1));
    let events = [
        Event::Request {
            method: PeerText::new(hostile),
            target: PeerText::new(hostile),
            target_len: hostile.len(),
            version: burrow_core::head::Version::Http11,
        },
        Event::Tls {
            check: SniCheck::Mismatch {
                sni: PeerText::new(hostile),
            },
            sni: Some(PeerText::new(hostile)),
            alpn: vec![PeerText::new(hostile)],
        },
    ];
    for e in events {
        s.apply(0, &ev(1, 11, e));
    }
    s.apply(0, &closed(1));
    let b = s.take_batch().unwrap();
    let json = serde_json::to_string(&b.rows[0]).unwrap();
    let escaped = "x\\\\x1b[31m\\\\x0d\\\\x0aFORGED \\\\x3cimg src=x\\\\x3e\\\\xc3\\\\xa9";
    for field in ["method", "target", "sni"] {
        assert!(
            json.contains(&format!("\"{field}\":\"{escaped}\"")),
            "{field}: {json}"
        );
    }
    // What the page puts in the table: nothing but printable ASCII and
    // the core's own words, no markup, no control, no forged line.
    assert!(!json.contains("\\u00") && !json.contains('<'), "{json}");
    let row: serde_json::Value = serde_json::from_str(&json).unwrap();
    for field in ["method", "target", "sni"] {
        let text = row[field].as_str().unwrap();
        assert!(text.chars().all(|c| (' '..='~').contains(&c)), "{text:?}");
    }
    assert!(row["alpn"][0]
        .as_str()
        .unwrap()
        .chars()
        .all(|c| (' '..='~').contains(&c)));
}

#[test]
fn batches_carry_the_totals_in_words() {
    let mut s = LogStore::new(10);
    s.apply(0, &accepted(1));
    s.apply(
        0,
        &ev(
            1,
            12,
            Event::Traffic {
                up: 512,
                down: 3 * 1024 * 1024,
            },
        ),
    );
    let b = s.take_batch().unwrap();
    assert_eq!(
        b.totals_text,
        TotalsText {
            sent: "512 B".into(),
            received: "3.0 MiB".into(),
            connections: "1 connection".into(),
            tunnels: "0 tunnels".into(),
            errors: "0 errors".into(),
        }
    );
    let v = serde_json::to_value(&b).unwrap();
    assert_eq!(v["totals_text"]["sent"], "512 B");
    assert_eq!(v["totals_text"]["received"], "3.0 MiB");
    assert!(v["rate"]["up"].is_string() && v["rate"]["down"].is_string());
}

#[test]
fn the_rate_is_the_average_of_the_last_five_whole_seconds() {
    let rate = |up: &str, down: &str| Rate {
        up: up.into(),
        down: down.into(),
    };
    let mut s = LogStore::new(10);
    let first = s.take_batch_at(100_000).unwrap();
    assert_eq!(first.rate, rate("0 B/s", "0 B/s"));

    s.apply(
        0,
        &ev(
            1,
            100_000,
            Event::Accepted {
                client: "127.0.0.1:50000".parse().unwrap(),
                listener: "127.0.0.1:8080".parse().unwrap(),
            },
        ),
    );
    // 10 KiB down in each of the seconds 100..=104, and 5 × 1 KiB up in second 102.
    let mut down = 0;
    for second in 100..105 {
        down += 10 * 1024;
        let up = if second >= 102 { 5 * 1024 } else { 0 };
        s.apply(0, &ev(1, second * 1000 + 500, Event::Traffic { up, down }));
    }
    // Second 104 is not over at 104.9 s: the window is 99..=103.
    let b = s.take_batch_at(104_900).unwrap();
    assert_eq!(
        (b.up, b.down),
        (5 * 1024, 50 * 1024),
        "the graph still gets raw bytes"
    );
    assert_eq!(b.rate, rate("1.0 KiB/s", "8.0 KiB/s"));
    // At 105 s the window is 100..=104: all of it.
    let b = s.take_batch_at(105_000).unwrap();
    assert!(b.rows.is_empty(), "a moving rate alone makes a batch");
    assert_eq!(b.rate, rate("1.0 KiB/s", "10.0 KiB/s"));
    assert_eq!(s.take_batch_at(105_500), None, "nothing moved");
    // Traffic stopped: the rate falls to zero once the window has passed, then stays quiet.
    let b = s.take_batch_at(110_000).unwrap();
    assert_eq!(b.rate, rate("0 B/s", "0 B/s"));
    assert_eq!(s.take_batch_at(111_000), None);
    assert!(s.seconds.is_empty(), "old seconds are forgotten");
}

#[test]
fn only_a_few_seconds_are_kept_without_a_page() {
    let mut s = LogStore::new(10);
    s.apply(0, &accepted(1));
    for second in 0..1000 {
        s.apply(
            0,
            &ev(
                1,
                second * 1000,
                Event::Traffic {
                    up: second,
                    down: 0,
                },
            ),
        );
    }
    assert!(s.seconds.len() <= RATE_SECONDS as usize + 1);
}

// ------------------------------------------------------- budgets and lag

/// A record a hostile client stuffs as full as the engine lets it: a 16 KiB
/// request line of `<` (the first 1 KiB kept, escaped to 4 KiB), a 16 KiB
/// SNI of `<` (escaped to 64 KiB, kept twice), 16 ALPN names of 255 `<`.
fn stuffed(id: u64) -> Vec<LogEvent> {
    let lt = |n: usize| vec![b'<'; n];
    vec![
        accepted(id),
        ev(
            id,
            id * 10 + 1,
            Event::Request {
                method: PeerText::shown(&lt(16 * 1024), burrow_core::log::SHOWN_SHORT),
                target: PeerText::shown(&lt(16 * 1024), burrow_core::log::SHOWN_TARGET),
                target_len: 16 * 1024,
                version: burrow_core::head::Version::Http11,
            },
        ),
        ev(
            id,
            id * 10 + 2,
            Event::Tls {
                check: SniCheck::Mismatch {
                    sni: PeerText::new(&lt(16 * 1024)),
                },
                sni: Some(PeerText::new(&lt(16 * 1024))),
                alpn: vec![PeerText::new(&lt(255)); 16],
            },
        ),
    ]
}

#[test]
fn the_byte_budget_evicts_the_oldest_closed_record_first() {
    let one = {
        let mut s = LogStore::new(10);
        for e in stuffed(1) {
            s.apply(0, &e);
        }
        s.bytes()
    };
    assert!(one > 140 * 1024, "a stuffed record costs {one} bytes");
    // Room for three stuffed records, and rows to spare.
    let mut s = LogStore::with_budget(100, 3 * one + one / 2);
    s.take_batch();
    for id in 1..=3 {
        for e in stuffed(id) {
            s.apply(0, &e);
        }
    }
    s.apply(0, &closed(2));
    s.apply(0, &closed(3));
    assert_eq!(s.len(), 3);
    s.take_batch();
    // The fourth pushes out 2, the oldest closed one; 1 is open and stays.
    for e in stuffed(4) {
        s.apply(0, &e);
    }
    assert!(s.get(1).is_some() && s.get(2).is_none() && s.get(3).is_some());
    assert!(s.bytes() <= 3 * one + one / 2);
    let b = s.take_batch().unwrap();
    assert_eq!(b.removed, vec![2]);
    assert_eq!(b.totals.dropped, 1);
    assert_eq!(b.bytes, s.bytes());
    // Then 3 (closed), and once only open records are left, 1 (the oldest).
    for id in [5, 6] {
        for e in stuffed(id) {
            s.apply(0, &e);
        }
    }
    assert!(s.get(3).is_none() && s.get(1).is_none());
    assert_eq!(s.len(), 3);
    assert_eq!(s.totals().dropped, 3);
}

#[test]
fn a_record_that_closes_after_being_passed_over_goes_before_younger_ones() {
    let mut s = LogStore::new(3);
    s.apply(0, &accepted(1)); // open when the first eviction looks at it
    s.apply(0, &accepted(2));
    s.apply(0, &closed(2));
    s.apply(0, &accepted(3));
    s.apply(0, &closed(3));
    s.apply(0, &accepted(4)); // 2 goes; 1 is passed over, open
    assert!(s.get(2).is_none());
    s.apply(0, &closed(1)); // now 1 is the oldest closed record
    s.apply(0, &accepted(5));
    assert!(s.get(1).is_none(), "1 closed and is the oldest");
    assert!(s.get(3).is_some(), "3 is younger than 1");
    s.apply(0, &accepted(6));
    assert!(s.get(3).is_none());
    assert_eq!(s.len(), 3);
}

#[test]
fn eviction_never_scans_and_its_order_stays_small() {
    // 100 old connections stay open at the front of the log while 200,000
    // short ones pass through it: each eviction must not walk over the
    // open ones again (today's scan did, 100 times per eviction), and the
    // order must not keep a key per connection ever seen.
    let mut s = LogStore::new(1_000);
    for id in 0..100 {
        s.apply(0, &accepted(id));
    }
    for id in 100..200_100 {
        s.apply(0, &accepted(id));
        s.apply(0, &closed(id));
    }
    assert_eq!(s.len(), 1_000);
    for id in 0..100 {
        assert!(s.get(id + 1).is_some(), "open record {id} kept");
    }
    assert!(s.evict.held() <= 2 * s.len() + 64, "{}", s.evict.held());
    // Clearing keeps the order small too.
    for _ in 0..3 {
        s.clear();
        assert!(s.evict.held() <= s.len());
    }
}

#[test]
fn bytes_follow_records_in_and_out() {
    let mut s = LogStore::new(10);
    assert_eq!(s.bytes(), 0);
    for e in stuffed(1) {
        s.apply(0, &e);
    }
    let one = s.bytes();
    s.apply(0, &accepted(2));
    assert!(s.bytes() > one);
    s.apply(0, &closed(1));
    s.apply(0, &closed(2));
    s.clear();
    assert_eq!((s.len(), s.bytes()), (0, 0));
}

#[test]
fn reconcile_closes_what_the_engine_no_longer_has_open() {
    let mut s = LogStore::new(10);
    for id in 1..=4 {
        s.apply(1, &accepted(id));
    }
    s.apply(1, &closed(4));
    s.apply(2, &accepted(1)); // the same id under another run: not touched
    s.lost(7);
    s.take_batch();
    // The engine of run 1 still has 2 open; 1 and 3 lost their Closed.
    let live = HashSet::from([2]);
    assert_eq!(s.reconcile(1, &live, 99_000), 2);
    let b = s.take_batch().unwrap();
    assert_eq!(keys(&b), vec![1, 3], "only the records it closed changed");
    for row in &b.rows {
        assert_eq!(row.record.close, Some(CloseReason::Unknown));
        assert_eq!(row.record.timings.closed, Some(99_000));
        assert_eq!(row.text.state, CloseReason::Unknown.describe());
    }
    assert!(s.get(2).unwrap().is_open(), "live connection stays open");
    assert_eq!(s.get(4).unwrap().close, Some(CloseReason::ClientFin));
    assert!(s.get(5).unwrap().is_open(), "another run's record");
    assert_eq!(s.totals().lost_events, 7);
    // Nothing more to do the second time.
    assert_eq!(s.reconcile(1, &live, 99_500), 0);
    // A Closed that was only late replaces the guess.
    s.apply(1, &closed(3));
    assert_eq!(s.get(3).unwrap().close, Some(CloseReason::ClientFin));
    // Reconciled records are closed ones for the budget: they go first.
    let mut s2 = LogStore::new(2);
    s2.apply(1, &accepted(1));
    s2.apply(1, &accepted(2));
    s2.reconcile(1, &HashSet::from([1]), 5);
    s2.apply(1, &accepted(3));
    assert!(s2.get(1).is_some() && s2.get(2).is_none());
}
