//! Runs every conformance vector through the core three ways, as h11 does:
//! whole, one byte at a time, and with bytes trailing the request.

use burrow_core::conformance::{self, Vector};
use burrow_core::simulate::{simulate, simulate_in_chunks, Transcript};

const VECTORS: &str = include_str!("vectors.json");

fn vectors() -> Vec<Vector> {
    let v = conformance::load(VECTORS).expect("vectors.json parses");
    assert!(v.len() >= 40, "the vectors file lost entries: {}", v.len());
    v
}

fn verdict(v: &Vector, t: &Transcript) -> Result<(), String> {
    conformance::check(
        &v.expect,
        t.client_bytes
            .chars()
            .map(|c| c as u8)
            .collect::<Vec<_>>()
            .as_slice(),
        t.after,
    )
}

#[test]
fn every_vector_whole() {
    let mut failures = Vec::new();
    for v in vectors() {
        let s = v.scenario_for(v.scenario.settings.listen);
        if let Err(e) = verdict(&v, &simulate(&s)) {
            failures.push(format!("{}: {e}", v.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_vector_byte_by_byte_gives_identical_bytes() {
    for v in vectors() {
        let s = v.scenario_for(v.scenario.settings.listen);
        let whole = simulate(&s);
        let split = simulate_in_chunks(&s, 1);
        assert_eq!(whole.client_bytes, split.client_bytes, "{}", v.name);
        assert_eq!(whole.after, split.after, "{}", v.name);
    }
}

#[test]
fn trailing_bytes_never_change_the_answer() {
    for v in vectors() {
        let mut s = v.scenario_for(v.scenario.settings.listen);
        let whole = simulate(&s);
        s.request.push_str("\x16\x03\x01\x00\x05TRAIL");
        let trailed = simulate(&s);
        assert_eq!(whole.client_bytes, trailed.client_bytes, "{}", v.name);
        assert_eq!(whole.after, trailed.after, "{}", v.name);
    }
}

#[test]
fn no_failure_is_ever_a_redirect_or_kept_open() {
    for v in vectors() {
        let t = simulate(&v.scenario_for(v.scenario.settings.listen));
        let status = t.status.unwrap_or(0);
        assert!(!(300..400).contains(&status), "{}: {status}", v.name);
        if t.response.is_some() && status != 200 {
            assert_eq!(t.after, burrow_core::After::Close, "{}", v.name);
            assert!(
                t.client_bytes.contains("Proxy-Status: burrow; error="),
                "{}",
                v.name
            );
        }
        if status == 407 {
            assert!(
                t.client_bytes.contains("Proxy-Authenticate: Basic"),
                "{}",
                v.name
            );
        }
    }
}
