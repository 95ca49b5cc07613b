//! The exchange state machine driven step by step, the way the engine does.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use burrow_core::log::Event;
use burrow_core::outcome::{ConnectFailure, DnsFailure, UpstreamFailure};
use burrow_core::{Action, After, Exchange, Settings};

fn listener() -> SocketAddr {
    "127.0.0.1:8080".parse().unwrap()
}

fn exchange() -> Exchange {
    Exchange::new(Arc::new(Settings::default()), listener())
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn respond(ex: &mut Exchange) -> burrow_core::Response {
    match ex.poll() {
        Action::Respond(r) => r,
        other => panic!("expected a response, got {other:?}"),
    }
}

#[test]
fn nothing_is_decided_before_the_head_is_complete() {
    let mut ex = exchange();
    let head = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
    for b in &head[..head.len() - 1] {
        assert_eq!(ex.poll(), Action::ReadRequest);
        ex.receive(std::slice::from_ref(b));
    }
    ex.receive(b"\n");
    assert_eq!(
        ex.poll(),
        Action::Resolve {
            host: "example.com".into(),
            port: 443
        }
    );
}

#[test]
fn connect_tries_the_next_address_and_answers_only_after_connecting() {
    let mut ex = exchange();
    ex.receive(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\nEARLY");
    ex.resolved(Ok(vec![ip("192.0.2.1"), ip("192.0.2.2")]));
    assert_eq!(
        ex.poll(),
        Action::Connect {
            addr: "192.0.2.1:443".parse().unwrap()
        }
    );
    ex.connected(Err(ConnectFailure::Refused));
    assert_eq!(
        ex.poll(),
        Action::Connect {
            addr: "192.0.2.2:443".parse().unwrap()
        }
    );
    ex.connected(Ok(()));
    let r = respond(&mut ex);
    assert_eq!(r.status, 200);
    assert_eq!(r.after, After::Tunnel);
    assert_eq!(ex.take_leftover(), b"EARLY");
    let events: Vec<Event> = std::iter::from_fn(|| ex.poll_event()).collect();
    assert!(events.iter().any(|e| matches!(
        e,
        Event::ConnectFailed {
            failure: ConnectFailure::Refused,
            ..
        }
    )));
    assert!(matches!(
        events.last(),
        Some(Event::Responded { status: 200, .. })
    ));
}

#[test]
fn last_connect_failure_decides_the_status() {
    let mut ex = exchange();
    ex.receive(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n");
    ex.resolved(Ok(vec![ip("192.0.2.1")]));
    ex.connected(Err(ConnectFailure::TimedOut));
    let r = respond(&mut ex);
    assert_eq!(r.status, 504);
    assert_eq!(r.after, After::Close);
    assert_eq!(ex.poll(), Action::Close, "a response is handed out once");
}

#[test]
fn empty_dns_answer_is_no_such_host() {
    let mut ex = exchange();
    ex.receive(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n");
    ex.resolved(Ok(vec![]));
    assert_eq!(respond(&mut ex).status, 502);
    let mut ex = exchange();
    ex.receive(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n");
    ex.resolved(Err(DnsFailure::Timeout));
    assert_eq!(respond(&mut ex).status, 504);
}

#[test]
fn mixed_answers_skip_denied_addresses() {
    let settings = Settings {
        private_destinations: burrow_core::settings::PrivateDestinations::Deny,
        ..Settings::default()
    };
    let mut ex = Exchange::new(Arc::new(settings), listener());
    ex.receive(b"CONNECT rebind.example:443 HTTP/1.1\r\nHost: rebind.example\r\n\r\n");
    ex.resolved(Ok(vec![ip("127.0.0.1"), ip("192.0.2.9")]));
    assert_eq!(
        ex.poll(),
        Action::Connect {
            addr: "192.0.2.9:443".parse().unwrap()
        }
    );
}

#[test]
fn head_timeout_answers_408_only_when_something_arrived() {
    let mut ex = exchange();
    ex.timed_out();
    assert_eq!(ex.poll(), Action::Close);
    let mut ex = exchange();
    ex.receive(b"CONNECT exa");
    ex.timed_out();
    assert_eq!(respond(&mut ex).status, 408);
}

#[test]
fn client_closing_mid_head_closes_silently() {
    let mut ex = exchange();
    ex.receive(b"GET http://a/ HT");
    ex.client_closed();
    assert_eq!(ex.poll(), Action::Close);
}

#[test]
fn forwarding_reuses_and_relays_the_origin_head() {
    let mut ex = exchange();
    ex.receive(b"GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert!(matches!(ex.poll(), Action::Resolve { .. }));
    ex.reuse();
    let Action::Forward(req) = ex.poll() else {
        panic!("expected a forward");
    };
    assert_eq!(req.path_and_query, "/x");
    let head = ex
        .origin_response(404, "Not Found", &[("Content-Length", b"0")], Some(0))
        .expect("a head");
    assert!(head.bytes.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
    assert!(head.keep_alive);
}

#[test]
fn reuse_is_ignored_for_tunnels() {
    let mut ex = exchange();
    ex.receive(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n");
    ex.reuse();
    assert!(matches!(ex.poll(), Action::Resolve { .. }));
}

#[test]
fn upstream_failure_becomes_a_gateway_error() {
    let mut ex = exchange();
    ex.receive(b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n");
    ex.resolved(Ok(vec![ip("192.0.2.1")]));
    ex.connected(Ok(()));
    assert!(matches!(ex.poll(), Action::Forward(_)));
    ex.upstream_failed(UpstreamFailure::Timeout);
    assert_eq!(respond(&mut ex).status, 504);
}

/// Deterministic garbage never panics and always ends in a decision or a
/// request for more bytes.
#[test]
fn garbage_never_panics() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let seeds: [&[u8]; 3] = [
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
        b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nabc",
        b"POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
    ];
    for i in 0..20_000 {
        let mut bytes = seeds[i % seeds.len()].to_vec();
        for _ in 0..(next() % 6) {
            let at = (next() as usize) % bytes.len();
            bytes[at] = next() as u8;
        }
        let mut ex = exchange();
        for piece in bytes.chunks(1 + (next() as usize) % 9) {
            ex.receive(piece);
        }
        match ex.poll() {
            Action::Resolve { .. } => ex.resolved(Ok(vec![ip("192.0.2.1")])),
            Action::Respond(r) => assert!(r.status >= 400 && r.after == After::Close, "{r:?}"),
            _ => {}
        }
    }
}

#[test]
fn ip_literal_forwards_can_reuse_at_the_connect_step() {
    let mut ex = exchange();
    ex.receive(b"GET http://192.0.2.4:8000/a HTTP/1.1\r\nHost: 192.0.2.4:8000\r\n\r\n");
    assert_eq!(
        ex.poll(),
        Action::Connect {
            addr: "192.0.2.4:8000".parse().unwrap()
        }
    );
    ex.reuse();
    assert!(matches!(ex.poll(), Action::Forward(_)));
    let events: Vec<Event> = std::iter::from_fn(|| ex.poll_event()).collect();
    assert!(
        !events.iter().any(|e| matches!(e, Event::Connecting { .. })),
        "{events:?}"
    );
    assert!(events.iter().any(|e| matches!(e, Event::Reused)));
}
