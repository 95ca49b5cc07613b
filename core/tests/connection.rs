//! The connection state machine driven step by step, the way the engine
//! drives it: bytes and outcomes in, actions and events out, time as an input.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use burrow_core::connection::{IoFailure, Side, Stop, TunnelEnd};
use burrow_core::log::{CloseReason, Event};
use burrow_core::outcome::{ConnectFailure, DnsFailure};
use burrow_core::{Action, Connection, Settings};

fn listener() -> SocketAddr {
    "127.0.0.1:8080".parse().unwrap()
}

fn client() -> SocketAddr {
    "127.0.0.1:50000".parse().unwrap()
}

fn conn_with(settings: Settings) -> Connection {
    Connection::new(Arc::new(settings), client(), listener())
}

fn conn() -> Connection {
    conn_with(Settings::default())
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Everything queued until the connection waits or closes: (to the client, to the origin).
fn drain(c: &mut Connection) -> (String, String) {
    let (mut client, mut upstream) = (Vec::new(), Vec::new());
    loop {
        match c.poll() {
            Action::SendClient(b) => client.extend(b),
            Action::SendUpstream(b) => upstream.extend(b),
            Action::CloseUpstream => {}
            _ => {
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                return (text(&client), text(&upstream));
            }
        }
    }
}

fn to_client(c: &mut Connection) -> String {
    drain(c).0
}

fn to_upstream(c: &mut Connection) -> String {
    drain(c).1
}

fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event())
        .map(|(_, e)| e)
        .collect()
}

fn closed_with(c: &mut Connection) -> Option<CloseReason> {
    events(c).into_iter().find_map(|e| match e {
        Event::Closed { reason } => Some(reason),
        _ => None,
    })
}

/// Drives a forwarded GET to the point where the origin's answer is awaited.
fn forwarding(c: &mut Connection, request: &[u8]) -> (String, String) {
    c.handle_client_data(ms(1), request);
    if let Action::Resolve { .. } = c.poll() {
        c.handle_resolved(ms(2), Ok(vec![ip("192.0.2.1")]));
    }
    assert!(matches!(c.poll(), Action::Connect { .. }));
    c.handle_connected(ms(3), Ok(()));
    drain(c)
}

#[test]
fn nothing_is_decided_before_the_head_is_complete() {
    let mut c = conn();
    let head = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
    for b in &head[..head.len() - 1] {
        assert_eq!(
            c.poll(),
            Action::Read {
                client: true,
                upstream: false
            }
        );
        c.handle_client_data(ms(1), std::slice::from_ref(b));
    }
    c.handle_client_data(ms(1), b"\n");
    assert_eq!(
        c.poll(),
        Action::Resolve {
            host: "example.com".into(),
            port: 443
        }
    );
}

#[test]
fn connect_tries_the_next_address_and_answers_only_after_connecting() {
    let mut c = conn();
    c.handle_client_data(
        ms(1),
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\nEARLY",
    );
    c.handle_resolved(ms(2), Ok(vec![ip("192.0.2.1"), ip("192.0.2.2")]));
    assert_eq!(
        c.poll(),
        Action::Connect {
            addr: "192.0.2.1:443".parse().unwrap()
        }
    );
    c.handle_connected(ms(3), Err(ConnectFailure::Refused));
    assert_eq!(
        c.poll(),
        Action::Connect {
            addr: "192.0.2.2:443".parse().unwrap()
        }
    );
    c.handle_connected(ms(4), Ok(()));
    let Action::SendClient(bytes) = c.poll() else {
        panic!("the 200 comes first");
    };
    assert!(bytes.starts_with(b"HTTP/1.1 200 Connection established\r\n"));
    assert_eq!(
        c.poll(),
        Action::StartTunnel {
            early: b"EARLY".to_vec()
        }
    );
    assert_eq!(c.poll(), Action::Relay);
    let ev = events(&mut c);
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::ConnectFailed {
            failure: ConnectFailure::Refused,
            ..
        }
    )));
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::Responded { status: 200, .. })));
}

#[test]
fn every_event_carries_the_time_of_its_input() {
    let mut c = conn();
    c.handle_client_data(
        ms(5),
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    c.handle_resolved(ms(23), Ok(vec![ip("192.0.2.1")]));
    let times: Vec<(u128, String)> = std::iter::from_fn(|| c.poll_event())
        .map(|(at, e)| (at.as_millis(), format!("{e:?}")))
        .collect();
    assert_eq!(times[0].0, 0, "accepted at zero");
    assert!(times[1].1.starts_with("Request") && times[1].0 == 5);
    assert!(
        times[2].1.starts_with("Resolving") && times[2].0 == 5,
        "announced when asked: {times:?}"
    );
    assert!(times[3].1.starts_with("Resolved") && times[3].0 == 23);
    assert!(times[4].1.starts_with("Connecting") && times[4].0 == 23);
}

#[test]
fn the_dns_and_connect_deadlines_are_the_cores() {
    let settings = Settings::default();
    let mut c = conn();
    c.handle_client_data(
        ms(1),
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    let dns = c.poll_timeout().unwrap();
    assert_eq!(dns, ms(1) + Duration::from_secs_f64(settings.timeouts.dns));
    // Too early: nothing happens.
    c.handle_timeout(dns - ms(1));
    assert!(matches!(c.poll(), Action::Resolve { .. }));
    c.handle_timeout(dns);
    assert!(to_client(&mut c)
        .starts_with("HTTP/1.1 504 Gateway Timeout\r\nProxy-Status: burrow; error=dns_timeout"));

    let mut c = conn();
    c.handle_client_data(
        ms(1),
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    c.handle_resolved(ms(2), Ok(vec![ip("192.0.2.1"), ip("192.0.2.2")]));
    let first = c.poll_timeout().unwrap();
    assert_eq!(
        first,
        ms(2) + Duration::from_secs_f64(settings.timeouts.connect)
    );
    c.handle_timeout(first);
    // The next address gets a fresh deadline.
    assert_eq!(
        c.poll(),
        Action::Connect {
            addr: "192.0.2.2:443".parse().unwrap()
        }
    );
    assert_eq!(
        c.poll_timeout(),
        Some(first + Duration::from_secs_f64(settings.timeouts.connect))
    );
}

#[test]
fn empty_dns_answer_is_no_such_host() {
    let mut c = conn();
    c.handle_client_data(
        ms(1),
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    c.handle_resolved(ms(2), Ok(vec![]));
    assert!(to_client(&mut c).starts_with("HTTP/1.1 502 "));
    let mut c = conn();
    c.handle_client_data(
        ms(1),
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    c.handle_resolved(ms(2), Err(DnsFailure::Timeout));
    assert!(to_client(&mut c).starts_with("HTTP/1.1 504 "));
}

#[test]
fn mixed_answers_skip_denied_addresses() {
    let settings = Settings {
        private_destinations: burrow_core::settings::PrivateDestinations::Deny,
        ..Settings::default()
    };
    let mut c = conn_with(settings);
    c.handle_client_data(
        ms(1),
        b"CONNECT rebind.example:443 HTTP/1.1\r\nHost: rebind.example\r\n\r\n",
    );
    c.handle_resolved(ms(2), Ok(vec![ip("127.0.0.1"), ip("192.0.2.9")]));
    assert_eq!(
        c.poll(),
        Action::Connect {
            addr: "192.0.2.9:443".parse().unwrap()
        }
    );
}

#[test]
fn head_deadlines_first_request_then_keep_alive() {
    let settings = Settings::default();
    let head = Duration::from_secs_f64(settings.timeouts.request_head);
    // Silence from the start: closed without a word at the head deadline.
    let mut c = conn();
    assert_eq!(c.poll_timeout(), Some(head));
    c.handle_timeout(head);
    assert_eq!(to_client(&mut c), "");
    assert_eq!(c.poll(), Action::Close);
    assert_eq!(closed_with(&mut c), Some(CloseReason::HeadTimeout));
    // Part of a head: 408.
    let mut c = conn();
    c.handle_client_data(secs(1), b"CONNECT exa");
    c.handle_timeout(head);
    assert!(to_client(&mut c).starts_with("HTTP/1.1 408 Request Timeout\r\n"));
}

#[test]
fn client_closing_mid_head_closes_silently() {
    let mut c = conn();
    c.handle_client_data(ms(1), b"GET http://a/ HT");
    c.handle_client_eof(ms(2));
    assert_eq!(c.poll(), Action::Close);
    assert_eq!(closed_with(&mut c), Some(CloseReason::ClientFin));
}

#[test]
fn a_forwarded_request_is_framed_by_the_core_both_ways() {
    let mut c = conn();
    let (_, up) = forwarding(
        &mut c,
        b"POST http://example.com/x HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
    );
    assert_eq!(
        up,
        "POST /x HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nVia: 1.1 burrow\r\n\r\n5\r\nhel"
    );
    assert_eq!(
        c.poll(),
        Action::Read {
            client: true,
            upstream: true
        }
    );
    c.handle_client_data(ms(4), b"lo\r\n0\r\n\r\n");
    // The client's own chunk sizes are kept, so the bytes never depend on the split.
    assert_eq!(to_upstream(&mut c), "lo\r\n0\r\n\r\n");
    assert!(c.awaiting_response());
    c.handle_upstream_data(ms(5), b"HTTP/1.1 201 Made\r\nServer: o\r\n\r\nabc");
    assert_eq!(
        to_client(&mut c),
        "HTTP/1.1 201 Made\r\nServer: o\r\nVia: 1.1 burrow\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
    );
    // A close-delimited body ends with the origin's close, and is chunked for the client.
    c.handle_upstream_end(ms(6), None);
    assert_eq!(to_client(&mut c), "0\r\n\r\n");
    assert!(c.is_idle(), "kept alive for the next request");
}

#[test]
fn a_malformed_chunked_body_gets_a_400_before_any_answer() {
    let mut c = conn();
    let (text, _) = forwarding(
        &mut c,
        b"POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX",
    );
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    assert!(
        text.contains("details=\"chunk data or a trailer line is not followed by CRLF\""),
        "{text}"
    );
    assert_eq!(c.poll(), Action::Close);
}

#[test]
fn expect_continue_is_an_action_after_the_head_goes_upstream() {
    let mut c = conn();
    c.handle_client_data(ms(1), b"PUT http://192.0.2.1/ HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    assert!(matches!(c.poll(), Action::Connect { .. }));
    c.handle_connected(ms(2), Ok(()));
    assert!(matches!(c.poll(), Action::SendUpstream(_)));
    assert_eq!(
        c.poll(),
        Action::SendClient(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec())
    );
    assert_eq!(
        c.poll(),
        Action::Read {
            client: true,
            upstream: true
        }
    );
}

#[test]
fn keep_alive_reuses_the_upstream_for_the_same_authority_only() {
    let mut c = conn();
    forwarding(
        &mut c,
        b"GET http://example.com/1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    c.handle_upstream_data(ms(5), b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    to_client(&mut c);
    assert_eq!(
        c.poll(),
        Action::Read {
            client: true,
            upstream: true
        }
    );
    c.handle_client_data(
        ms(6),
        b"GET http://example.com/2 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    assert_eq!(
        to_upstream(&mut c),
        "GET /2 HTTP/1.1\r\nHost: example.com\r\nVia: 1.1 burrow\r\n\r\n"
    );
    assert!(events(&mut c).contains(&Event::Reused));
    c.handle_upstream_data(ms(7), b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    to_client(&mut c);
    c.handle_client_data(
        ms(8),
        b"GET http://other.example/ HTTP/1.1\r\nHost: other.example\r\n\r\n",
    );
    assert_eq!(c.poll(), Action::CloseUpstream);
    assert!(matches!(c.poll(), Action::Resolve { .. }));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut c = conn();
    let two = b"GET http://example.com/1 HTTP/1.1\r\nHost: example.com\r\n\r\nGET http://example.com/2 HTTP/1.1\r\nHost: example.com\r\n\r\n";
    let (_, up) = forwarding(&mut c, two);
    assert!(
        up.starts_with("GET /1 ") && !up.contains("GET /2"),
        "one at a time: {up}"
    );
    c.handle_upstream_data(ms(5), b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na");
    let (client, up) = drain(&mut c);
    assert!(client.ends_with("\r\n\r\na"));
    // The second was buffered and goes out over the kept connection.
    assert!(up.starts_with("GET /2 "), "{up}");
}

#[test]
fn the_response_deadline_starts_once_the_body_is_sent() {
    let settings = Settings::default();
    let mut c = conn();
    forwarding(
        &mut c,
        b"POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\n\r\nab",
    );
    // Mid-upload: the idle-progress deadline applies.
    assert_eq!(
        c.poll_timeout(),
        Some(ms(3) + Duration::from_secs_f64(settings.timeouts.tunnel_idle))
    );
    c.handle_client_data(secs(100), b"cd");
    to_upstream(&mut c);
    assert_eq!(
        c.poll_timeout(),
        Some(secs(100) + Duration::from_secs_f64(settings.timeouts.upstream_response))
    );
}

#[test]
fn a_reused_connection_closed_while_idle_is_dialled_again() {
    let mut c = conn();
    forwarding(
        &mut c,
        b"GET http://example.com/1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    c.handle_upstream_data(ms(5), b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    to_client(&mut c);
    c.handle_client_data(
        ms(6),
        b"GET http://example.com/2 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    to_upstream(&mut c);
    c.handle_upstream_end(ms(7), None);
    assert!(
        matches!(c.poll(), Action::Resolve { .. }),
        "retried, not a 502"
    );
}

#[test]
fn tunnels_end_as_the_relay_saw_them_and_idle_out_on_the_cores_deadline() {
    let settings = Settings::default();
    let mut c = conn();
    c.handle_client_data(
        ms(1),
        b"CONNECT 192.0.2.7:443 HTTP/1.1\r\nHost: 192.0.2.7:443\r\n\r\n",
    );
    c.handle_connected(ms(2), Ok(()));
    to_client(&mut c);
    assert_eq!(c.poll(), Action::Relay);
    assert!(c.tunnel_peeking());
    c.handle_tunnel_first_byte(ms(3), Side::Client);
    c.handle_tunnel_peek(ms(3), &burrow_core::tls::client_hello(Some("192.0.2.7")));
    assert!(!c.tunnel_peeking());
    c.handle_tunnel_progress(ms(300), 10, 20, ms(250));
    let idle = Duration::from_secs_f64(settings.timeouts.tunnel_idle);
    assert_eq!(c.poll_timeout(), Some(ms(250) + idle));
    c.handle_timeout(ms(250) + idle);
    assert_eq!(c.poll(), Action::Close);
    let ev = events(&mut c);
    assert!(ev.contains(&Event::Traffic { up: 10, down: 20 }));
    assert!(ev.contains(&Event::Closed {
        reason: CloseReason::IdleTimeout
    }));

    let mut c = conn();
    c.handle_client_data(
        ms(1),
        b"CONNECT 192.0.2.7:443 HTTP/1.1\r\nHost: 192.0.2.7:443\r\n\r\n",
    );
    c.handle_connected(ms(2), Ok(()));
    to_client(&mut c);
    c.handle_tunnel_end(ms(9), TunnelEnd::Reset(Side::Server));
    assert_eq!(closed_with(&mut c), Some(CloseReason::ServerReset));
}

#[test]
fn stopping_closes_idle_connections_and_lets_busy_ones_finish() {
    let mut c = conn();
    c.handle_stop(ms(1), Stop::Drain);
    assert_eq!(closed_with(&mut c), Some(CloseReason::Shutdown));
    let mut c = conn();
    forwarding(
        &mut c,
        b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    c.handle_stop(ms(4), Stop::Drain);
    assert!(!c.is_closed());
    c.handle_upstream_data(ms(5), b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert!(to_client(&mut c).starts_with("HTTP/1.1 200 OK"));
    assert_eq!(closed_with(&mut c), Some(CloseReason::Shutdown));
    c.handle_stop(ms(6), Stop::Cut);
    assert!(c.is_closed());
}

#[test]
fn a_client_reset_closes_with_its_reason() {
    let mut c = conn();
    c.handle_client_error(ms(1), IoFailure::Reset);
    assert_eq!(closed_with(&mut c), Some(CloseReason::ClientReset));
}

/// Deterministic garbage never panics, and whole and split feeds agree.
#[test]
fn garbage_never_panics_and_segmentation_never_matters() {
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
        b"POST http://a/ HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ];
    let run = |bytes: &[u8], piece: usize| {
        let mut c = conn();
        for p in bytes.chunks(piece) {
            c.handle_client_data(ms(1), p);
        }
        if let Action::Resolve { .. } = c.poll() {
            c.handle_resolved(ms(2), Ok(vec![ip("192.0.2.1")]));
        }
        if let Action::Connect { .. } = c.poll() {
            c.handle_connected(ms(3), Ok(()));
        }
        (to_client(&mut c), to_upstream(&mut c), c.is_closed())
    };
    for i in 0..20_000 {
        let mut bytes = seeds[i % seeds.len()].to_vec();
        for _ in 0..(next() % 6) {
            let at = (next() as usize) % bytes.len();
            bytes[at] = next() as u8;
        }
        let piece = 1 + (next() as usize) % 9;
        assert_eq!(
            run(&bytes, usize::MAX),
            run(&bytes, piece),
            "{:?} / {piece}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

#[test]
fn over_capacity_answers_503_and_closes() {
    use burrow_core::connection::Refusal;
    for (refusal, words) in [
        (Refusal::Global, "max_connections"),
        (Refusal::PerClient, "max_connections_per_client"),
    ] {
        let mut c =
            Connection::over_capacity(Arc::new(Settings::default()), client(), listener(), refusal);
        let answer = to_client(&mut c);
        assert!(answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(answer.contains(words), "{answer}");
        assert_eq!(c.poll(), Action::Close);
    }
}

#[test]
fn a_connection_says_how_willing_it_is_to_make_room() {
    use burrow_core::connection::BUSY;
    let auth = Settings {
        auth: Some(burrow_core::settings::Credentials {
            user: "alice".into(),
            password: "s3cret".into(),
        }),
        ..Settings::default()
    };
    let mut c = conn_with(auth);
    assert_eq!(c.eviction_rank(), 3, "silent since the accept");
    c.handle_client_data(ms(1), b"CONNECT a.example:443 HTTP/1.1\r\n");
    assert_eq!(
        c.eviction_rank(),
        2,
        "a first head from a client that has not authenticated"
    );
    let mut c = conn();
    forwarding(
        &mut c,
        b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
    );
    assert_eq!(c.eviction_rank(), BUSY, "waiting for the origin");
    c.handle_upstream_data(ms(5), b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    to_client(&mut c);
    assert_eq!(c.eviction_rank(), 1, "idle between requests");
    c.handle_evict(ms(6));
    assert_eq!(closed_with(&mut c), Some(CloseReason::Evicted));
}

#[test]
fn a_log_keeps_a_bounded_piece_of_a_long_target() {
    use burrow_core::log::SHOWN_TARGET;
    let mut c = conn_with(Settings {
        limits: burrow_core::settings::HeadLimits {
            request_line: 64 * 1024,
            ..Default::default()
        },
        ..Settings::default()
    });
    let target = format!("http://example.com/{}", "<".repeat(16 * 1024));
    c.handle_client_data(
        ms(1),
        format!("GET {target} HTTP/1.1\r\nHost: example.com\r\n\r\n").as_bytes(),
    );
    let request = events(&mut c).into_iter().find_map(|e| match e {
        Event::Request {
            target, target_len, ..
        } => Some((target, target_len)),
        _ => None,
    });
    let (shown, len) = request.expect("a Request event");
    assert_eq!(len, target.len());
    assert!(
        shown.len() <= 4 * SHOWN_TARGET,
        "{} bytes kept",
        shown.len()
    );
    assert!(shown.starts_with("http://example.com/\\x3c"));
}

/// However many PAC requests one read holds, each poll hands out one
/// answer, and the next head is read only once it has gone: the output a
/// read can queue stays one PAC file.
#[test]
fn pipelined_pac_requests_are_answered_one_at_a_time() {
    let mut c = conn();
    let one = "GET /proxy.pac HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
    c.handle_client_data(ms(1), one.repeat(200).as_bytes());
    let mut answers = 0;
    loop {
        match c.poll() {
            Action::SendClient(bytes) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 1, "{text}");
                answers += 1;
            }
            Action::Read { client: true, .. } => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(answers, 200);
    assert!(c.is_idle());
    c.handle_client_eof(ms(2));
    assert_eq!(c.poll(), Action::Close);
}

/// The client closes right after pipelined PAC requests: every one is
/// answered, then the connection closes as the client asked.
#[test]
fn pac_requests_before_the_clients_fin_are_answered() {
    let mut c = conn();
    let one = "GET /proxy.pac HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
    c.handle_client_data(ms(1), one.repeat(3).as_bytes());
    let first = c.poll();
    assert!(matches!(first, Action::SendClient(_)), "{first:?}");
    let text = to_client(&mut c);
    assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{text}");
    c.handle_client_eof(ms(2));
    assert_eq!(c.poll(), Action::Close);
    let reasons: Vec<_> = std::iter::from_fn(|| c.poll_event())
        .filter_map(|(_, e)| match e {
            Event::Closed { reason } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, [CloseReason::ClientFin]);
}
