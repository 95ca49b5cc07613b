//! Failures the client must see as exact statuses: refused, DNS, timeouts,
//! malformed input, the connection cap, and RFC 9931's rule that nothing
//! after a rejected CONNECT is ever processed.

use std::sync::Arc;

use burrow_core::conformance;
use burrow_core::log::{CloseReason, Event};
use burrow_core::outcome::{ConnectFailure, DnsFailure};
use burrow_core::settings::Credentials;
use burrow_core::simulate::{ConnectScript, DnsScript};
use burrow_core::Settings;
use burrow_tests::origin::ok;
use burrow_tests::{
    closed_port, latin1, settings, Client, Echo, Ending, HttpOrigin, Proxy, Reply, ScriptedNet,
    TIMEOUT,
};
use tokio::time::{sleep, Duration, Instant};

/// Reads a rejection: `status`, `error` in Proxy-Status, `Connection:
/// close`, and then the server closes. Returns the response.
async fn expect_rejection(client: &mut Client, status: u16, error: &str) -> Reply {
    let reply = client.connect_response().await;
    assert_eq!(
        (reply.status(), reply.proxy_error()),
        (status, Some(error)),
        "{}",
        String::from_utf8_lossy(&reply.raw)
    );
    assert_eq!(reply.header("connection"), Some("close"));
    // A clean close: the read returns 0.
    assert_eq!(
        client.ending().await,
        Ending::Fin,
        "the proxy closes after a rejection"
    );
    reply
}

#[tokio::test]
async fn closed_loopback_port_is_502_connection_refused() {
    let mut proxy = Proxy::start(settings()).await;
    let mut client = Client::connect(proxy.addr).await;
    let me = client.local_addr();
    let target = format!("127.0.0.1:{}", closed_port());
    client
        .send(format!(
            "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n"
        ))
        .await;
    let reply = expect_rejection(&mut client, 502, "connection_refused").await;
    assert_eq!(reply.head.status_line, "HTTP/1.1 502 Bad Gateway");
    assert_eq!(proxy.events.close_reason(me).await, CloseReason::Rejected);
}

#[tokio::test]
async fn injected_dns_failure_is_502_dns_error() {
    let origin = Echo::start().await;
    let net = Arc::new(ScriptedNet::new(
        DnsScript::Fails(DnsFailure::NoSuchHost),
        ConnectScript::Connects,
        origin.addr,
    ));
    let mut proxy = Proxy::scripted(settings(), net.clone()).await;
    let mut client = Client::connect(proxy.addr).await;
    let me = client.local_addr();
    client
        .send("CONNECT gone.example:443 HTTP/1.1\r\nHost: gone.example:443\r\n\r\n")
        .await;
    expect_rejection(&mut client, 502, "dns_error").await;
    assert_eq!(net.lookups(), ["gone.example"]);
    assert_eq!(net.connects(), 0);
    let events = proxy.events.connection(me).await;
    assert!(events.contains(&Event::DnsFailed {
        failure: DnsFailure::NoSuchHost
    }));
}

/// The one lookup through the system resolver: a `.invalid` name (RFC 6761),
/// which never resolves; in CI's loopback-only namespace it fails at once.
#[tokio::test]
async fn invalid_name_through_the_system_resolver_is_a_dns_error() {
    let proxy = Proxy::start_system_dns(settings()).await;
    let mut client = Client::connect(proxy.addr).await;
    client
        .send("CONNECT burrow-e2e.invalid:443 HTTP/1.1\r\nHost: burrow-e2e.invalid:443\r\n\r\n")
        .await;
    let reply = client.connect_response().await;
    // dns_timeout only if a real resolver is slow to say no.
    match (reply.status(), reply.proxy_error()) {
        (502, Some("dns_error")) | (504, Some("dns_timeout")) => {}
        other => panic!("{other:?}: {}", String::from_utf8_lossy(&reply.raw)),
    }
    assert!(reply.body.windows(18).any(|w| w == b"burrow-e2e.invalid"));
    assert!(client.is_closed().await);
}

#[tokio::test]
async fn connect_timeout_is_504_after_the_configured_deadline() {
    let origin = Echo::start().await;
    let net = Arc::new(ScriptedNet::new(
        DnsScript::default(),
        ConnectScript::Fails(ConnectFailure::TimedOut),
        origin.addr,
    ));
    let mut s = settings();
    s.timeouts.connect = 0.3;
    let proxy = Proxy::scripted(s, net.clone()).await;
    let mut client = Client::connect(proxy.addr).await;
    let started = Instant::now();
    client
        .send("CONNECT slow.example:443 HTTP/1.1\r\nHost: slow.example:443\r\n\r\n")
        .await;
    expect_rejection(&mut client, 504, "connection_timeout").await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(net.dialled(), ["192.0.2.10:443".parse().unwrap()]);
}

#[tokio::test]
async fn dns_timeout_is_504_after_the_configured_deadline() {
    let origin = Echo::start().await;
    let net = Arc::new(ScriptedNet::new(
        DnsScript::Fails(DnsFailure::Timeout),
        ConnectScript::Connects,
        origin.addr,
    ));
    let mut s = settings();
    s.timeouts.dns = 0.3;
    let proxy = Proxy::scripted(s, net).await;
    let mut client = Client::connect(proxy.addr).await;
    client
        .send("CONNECT slow.example:443 HTTP/1.1\r\nHost: slow.example:443\r\n\r\n")
        .await;
    expect_rejection(&mut client, 504, "dns_timeout").await;
}

/// RFC 9931: a rejected CONNECT closes the connection; the bytes the client
/// sent optimistically after it are never parsed as a request.
#[tokio::test]
async fn optimistic_bytes_after_a_rejected_connect_are_never_processed() {
    let origin = HttpOrigin::start(ok("must never be fetched")).await;
    let stolen = format!(
        "GET http://{0}/stolen HTTP/1.1\r\nHost: {0}\r\n\r\n",
        origin.addr()
    );
    let with_auth = Settings {
        auth: Some(Credentials {
            user: "alice".into(),
            password: "s3cret".into(),
        }),
        ..settings()
    };
    let mut quick_connect = settings();
    quick_connect.timeouts.connect = 0.3;
    let refused = format!("127.0.0.1:{}", closed_port());
    let dns_fails = ScriptedNet::new(
        DnsScript::Fails(DnsFailure::NoSuchHost),
        ConnectScript::Connects,
        origin.addr(),
    );
    let never_connects = ScriptedNet::new(
        DnsScript::default(),
        ConnectScript::Fails(ConnectFailure::TimedOut),
        origin.addr(),
    );
    let cases = [
        (
            settings(),
            None,
            refused.as_str(),
            502,
            "connection_refused",
        ),
        (
            Settings::default(),
            None,
            "127.0.0.1:25",
            403,
            "http_request_denied",
        ),
        (
            with_auth,
            None,
            "example.com:443",
            407,
            "http_request_denied",
        ),
        (
            settings(),
            Some(dns_fails),
            "gone.example:443",
            502,
            "dns_error",
        ),
        (
            quick_connect,
            Some(never_connects),
            "example.com:443",
            504,
            "connection_timeout",
        ),
    ];
    for (settings, net, target, status, error) in cases {
        let mut proxy = match net {
            Some(net) => Proxy::scripted(settings, Arc::new(net)).await,
            None => Proxy::start(settings).await,
        };
        let mut client = Client::connect(proxy.addr).await;
        let me = client.local_addr();
        client
            .send(format!(
                "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n{stolen}"
            ))
            .await;
        let reply = client.connect_response().await;
        assert_eq!(reply.status(), status, "{target}");
        if status != 407 {
            assert_eq!(reply.proxy_error(), Some(error), "{target}");
        }
        assert_eq!(reply.header("connection"), Some("close"), "{target}");
        // Nothing more: no second response, just the close.
        assert_eq!(client.ending().await, Ending::Fin, "{target}: closed");
        assert_eq!(origin.connections(), 0, "{target}: the origin was reached");
        let events = proxy.events.connection(me).await;
        let requests = events.iter().filter(|e| matches!(e, Event::Request { .. }));
        assert_eq!(requests.count(), 1, "{target}: one request in the log");
    }
    assert!(origin.requests().is_empty());
}

/// Malformed heads from the vectors and from the bad-input catalogue
/// (notes/protocol.md (c)); each gets an error status and a close, and the
/// engine goes on serving the next client.
fn bad_inputs() -> Vec<(String, Vec<u8>)> {
    let vectors = conformance::all().expect("the vector files parse");
    let mut inputs: Vec<(String, Vec<u8>)> = vectors
        .into_iter()
        .filter(|v| v.expect.status == Some(400) && v.scenario.settings == Settings::default())
        .filter(|v| v.scenario.later.is_empty() && !v.scenario.request.starts_with("POST"))
        .map(|v| (v.name, v.scenario.request.into_bytes()))
        .collect();
    assert!(inputs.len() >= 10, "the vectors lost their malformed cases");
    let get = |extra: &str| {
        format!("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n{extra}\r\n")
    };
    let post = |extra: &str| {
        format!("POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\n{extra}\r\n")
    };
    let catalogue: Vec<(&str, String)> = vec![
        (
            "port 0443",
            "CONNECT h.example:0443 HTTP/1.1\r\nHost: h.example\r\n\r\n".into(),
        ),
        (
            "port overflowing u32",
            "CONNECT h.example:4294967739 HTTP/1.1\r\nHost: h.example\r\n\r\n".into(),
        ),
        (
            "space in the port",
            "CONNECT h.example: 443 HTTP/1.1\r\nHost: h.example\r\n\r\n".into(),
        ),
        (
            "bracketed IPv4",
            "CONNECT [127.0.0.1]:443 HTTP/1.1\r\nHost: h.example\r\n\r\n".into(),
        ),
        (
            "Content-Length before the colon",
            post("Content-Length : 5\r\n"),
        ),
        ("obs-fold", get("X-Folded: a\r\n b\r\n")),
        ("bare CR in a value", get("X-A: a\rb\r\n")),
        ("NUL in a value", get("X-A: a\0b\r\n")),
        ("Content-Length +5", post("Content-Length: +5\r\n")),
        ("Content-Length 5, 6", post("Content-Length: 5, 6\r\n")),
        ("Content-Length -1", post("Content-Length: -1\r\n")),
        ("Content-Length 0x5", post("Content-Length: 0x5\r\n")),
        (
            "two different Content-Lengths",
            post("Content-Length: 5\r\nContent-Length: 6\r\n"),
        ),
        (
            "chunked, then gzip",
            post("Transfer-Encoding: chunked, gzip\r\n"),
        ),
        (
            "TE on HTTP/1.0",
            "POST http://example.com/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n".into(),
        ),
        (
            "no method",
            " http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n".into(),
        ),
        (
            "no version",
            "GET http://example.com/\r\nHost: example.com\r\n\r\n".into(),
        ),
        (
            "HTTP/1.2",
            "GET http://example.com/ HTTP/1.2\r\nHost: example.com\r\n\r\n".into(),
        ),
        ("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".into()),
        (
            "whitespace after the request line",
            "GET http://example.com/ HTTP/1.1\r\n Host: example.com\r\n\r\n".into(),
        ),
        (
            "70 KiB target",
            format!(
                "GET http://example.com/{} HTTP/1.1\r\nHost: example.com\r\n\r\n",
                "a".repeat(70 * 1024)
            ),
        ),
        ("101 fields", get(&"X-Many: 1\r\n".repeat(101))),
        (
            "1 MiB head",
            get(&format!("X-Big: {}\r\n", "b".repeat(1024 * 1024))),
        ),
        (
            "a TLS ClientHello sent to the proxy itself",
            "\u{16}\u{3}\u{1}\u{0}\u{5}hello\r\n\r\n".into(),
        ),
    ];
    inputs.extend(
        catalogue
            .into_iter()
            .map(|(n, r)| (n.to_string(), r.into_bytes())),
    );
    inputs
}

#[tokio::test]
async fn bad_inputs_are_refused_and_the_next_client_is_served() {
    let origin = Echo::start().await;
    let proxy = Proxy::start(settings()).await;
    for (name, input) in bad_inputs() {
        let mut client = Client::connect(proxy.addr).await;
        client.send_lossy(&input).await;
        let reply = client.response().await;
        assert!(
            (400..=505).contains(&reply.status()),
            "{name}: {}",
            String::from_utf8_lossy(&reply.raw)
        );
        assert_eq!(reply.header("connection"), Some("close"), "{name}");
        assert_eq!(
            client.ending().await,
            Ending::Fin,
            "{name}: closed after the error"
        );

        let mut next = Client::connect(proxy.addr).await;
        let good = next.connect_to(&origin.addr.to_string()).await;
        assert_eq!(good.status(), 200, "{name}: the next client is served");
        next.send("still alive").await;
        assert_eq!(next.read_exact(11).await, b"still alive", "{name}");
    }
}

/// Over `max_connections`, clients get 503; once one leaves, others are
/// served again.
#[tokio::test]
async fn connection_cap_answers_503_and_recovers() {
    let origin = Echo::start().await;
    let mut s = settings();
    s.max_connections = 2;
    let proxy = Proxy::start(s).await;
    let target = origin.addr.to_string();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = Client::connect(proxy.addr).await;
        assert_eq!(c.connect_to(&target).await.status(), 200);
        held.push(c);
    }
    let mut over = Client::connect(proxy.addr).await;
    over.send_lossy(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await;
    let reply = over.connect_response().await;
    assert_eq!(
        reply.status(),
        503,
        "{}",
        String::from_utf8_lossy(&reply.raw)
    );
    assert_eq!(reply.proxy_error(), Some("connection_limit_reached"));
    assert_eq!(over.ending().await, Ending::Fin);

    drop(held.pop());
    // The slot frees once the engine notices the close; retry a bounded number of times.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let mut c = Client::connect(proxy.addr).await;
        c.send_lossy(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
            .await;
        let status = c.connect_response().await.status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(Instant::now() < deadline, "no slot freed in time");
        sleep(Duration::from_millis(50)).await;
    }
}

/// A head still incomplete when `request_head` runs out gets 408; a client
/// that sends nothing at all gets a plain close. Both are head timeouts.
#[tokio::test]
async fn an_incomplete_head_gets_408_and_silence_gets_a_close() {
    let mut s = settings();
    s.timeouts.request_head = 0.2;
    let mut proxy = Proxy::start(s).await;
    let mut partial = Client::connect(proxy.addr).await;
    partial.send("CONNECT exam").await;
    let reply = latin1(&partial.read_to_end().await);
    assert!(reply.starts_with("HTTP/1.1 408 "), "{reply}");
    let mut silent = Client::connect(proxy.addr).await;
    assert!(silent.read_to_end().await.is_empty());
    for client in [partial.local_addr(), silent.local_addr()] {
        assert_eq!(
            proxy.events.close_reason(client).await,
            CloseReason::HeadTimeout
        );
    }
}
