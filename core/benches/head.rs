//! How long a 60 KiB request head takes to read whole, and one byte per
//! read: the incremental reader's cost must not depend on segmentation.
//! For contrast, the cost of re-parsing the whole buffer with httparse on
//! every read (what a non-incremental reader does) is shown too.
//!
//! `cargo bench -p burrow-core --bench head` (plain timing, no harness).

use std::hint::black_box;
use std::time::{Duration, Instant};

use burrow_core::head::{HeadParse, HeadReader};
use burrow_core::settings::HeadLimits;

fn head() -> Vec<u8> {
    let mut head = String::from("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n");
    let mut i = 0;
    while head.len() < 60 * 1024 - 1300 {
        head.push_str(&format!("X-Filler-{i}: {}\r\n", "v".repeat(1200)));
        i += 1;
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Feeds `head` `piece` bytes per read into a fresh reader.
fn incremental(head: &[u8], piece: usize, limits: &HeadLimits) {
    let mut reader = HeadReader::new();
    let mut buf = Vec::with_capacity(head.len());
    for chunk in head.chunks(piece) {
        buf.extend_from_slice(chunk);
        if let HeadParse::Complete(h, _) = reader.advance(&buf, limits) {
            black_box(h);
            return;
        }
    }
    panic!("incomplete head");
}

/// What a reader that starts over on every read pays.
fn reparse_each_time(head: &[u8], piece: usize) {
    let mut buf = Vec::with_capacity(head.len());
    for chunk in head.chunks(piece) {
        buf.extend_from_slice(chunk);
        let mut slots = [httparse::EMPTY_HEADER; 128];
        let mut req = httparse::Request::new(&mut slots);
        if let Ok(httparse::Status::Complete(n)) = req.parse(&buf) {
            black_box(n);
            return;
        }
    }
}

/// The caller's own cost of receiving a head one byte per read.
fn append_only(head: &[u8], piece: usize) {
    let mut buf = Vec::with_capacity(head.len());
    for chunk in head.chunks(piece) {
        buf.extend_from_slice(black_box(chunk));
    }
    black_box(buf);
}

/// Median time per run over `runs` runs.
fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    let head = head();
    let limits = HeadLimits::default();
    println!(
        "request head: {} bytes, {} lines",
        head.len(),
        head.split(|&b| b == b'\n').count() - 1
    );
    let whole = time(200, || incremental(&head, usize::MAX, &limits));
    let by_byte = time(50, || incremental(&head, 1, &limits));
    let by_16 = time(100, || incremental(&head, 16, &limits));
    let naive = time(3, || reparse_each_time(&head, 1));
    let floor = time(50, || append_only(&head, 1));
    let show = |name: &str, d: Duration| {
        println!(
            "{name:<44} {:>10.1} µs   {:>6.2}× whole",
            d.as_secs_f64() * 1e6,
            d.as_secs_f64() / whole.as_secs_f64()
        );
    };
    show("HeadReader, one write", whole);
    show("HeadReader, 16-byte reads", by_16);
    show("HeadReader, 1-byte reads", by_byte);
    show("(appending the bytes alone, 1-byte reads)", floor);
    show("httparse from scratch on every 1-byte read", naive);
}
