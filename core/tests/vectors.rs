//! Runs every conformance vector through the core three ways, as h11 does:
//! whole, one byte at a time, and with bytes trailing the request.

use burrow_core::conformance::{self, Observed, Vector};
use burrow_core::simulate::{simulate, simulate_in_chunks, Transcript};

fn vectors() -> Vec<Vector> {
    let v = conformance::all().expect("the vector files parse");
    assert!(v.len() >= 100, "the vector files lost entries: {}", v.len());
    v
}

fn bytes(text: &str) -> Vec<u8> {
    text.chars().map(|c| c as u8).collect()
}

fn verdict(v: &Vector, t: &Transcript) -> Result<(), String> {
    let client = bytes(&t.client_bytes);
    let upstream = bytes(&t.upstream_bytes);
    conformance::check(
        &v.expect,
        Observed {
            client: &client,
            upstream: &upstream,
            after: t.after,
        },
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
    let mut failures = Vec::new();
    for v in vectors() {
        let s = v.scenario_for(v.scenario.settings.listen);
        let whole = simulate(&s);
        for piece in [1, 2, 7] {
            let split = simulate_in_chunks(&s, piece);
            if (&whole.client_bytes, &whole.upstream_bytes, whole.after)
                != (&split.client_bytes, &split.upstream_bytes, split.after)
            {
                failures.push(format!(
                    "{} in pieces of {piece}:\n  whole: {:?} {:?}\n  split: {:?} {:?}",
                    v.name, whole.client_bytes, whole.after, split.client_bytes, split.after
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn trailing_bytes_never_change_the_answer() {
    for v in vectors() {
        let mut s = v.scenario_for(v.scenario.settings.listen);
        // Only vectors whose requests are complete: bytes added to an
        // unfinished head or body would change the request itself.
        let unfinished = matches!(v.expect.status, Some(408) | None)
            || s.client_end != burrow_core::simulate::ClientEnd::KeepsOpen;
        if !s.later.is_empty() || unfinished {
            continue;
        }
        let whole = simulate(&s);
        let first_answer = whole.answers.first().cloned();
        s.request.push_str("\x16\x03\x01\x00\x05TRAIL");
        let trailed = simulate(&s);
        assert_eq!(
            first_answer.map(|a| a.status),
            trailed.answers.first().map(|a| a.status),
            "{}",
            v.name
        );
    }
}

#[test]
fn no_failure_is_ever_a_redirect_or_kept_open() {
    for v in vectors() {
        let t = simulate(&v.scenario_for(v.scenario.settings.listen));
        for a in &t.answers {
            assert!(
                !(300..400).contains(&a.status)
                    || a.speaker == burrow_core::connection::Speaker::Origin,
                "{}: {}",
                v.name,
                a.status
            );
            if a.speaker == burrow_core::connection::Speaker::Burrow && a.status != 200 {
                assert_eq!(a.after, burrow_core::After::Close, "{}", v.name);
                assert_eq!(
                    a.proxy_status.first().map(|p| p.name),
                    Some("error"),
                    "{}",
                    v.name
                );
            }
        }
        if t.answers.iter().any(|a| a.status == 407) {
            assert!(
                t.client_bytes.contains("Proxy-Authenticate: Basic"),
                "{}",
                v.name
            );
        }
    }
}
