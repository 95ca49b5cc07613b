//! Plain-HTTP forwarding of absolute-form requests to a loopback origin.

use std::sync::Arc;

use burrow_core::log::{CloseReason, Event};
use burrow_core::outcome::UpstreamFailure;
use burrow_core::simulate::OriginScript;
use burrow_tests::client::chunk;
use burrow_tests::origin::{ok, respond, Answer};
use burrow_tests::{latin1, settings, Client, HttpOrigin, Proxy, ScriptedNet};

/// An ASCII body of `n` bytes with a pattern that shows any lost or moved byte.
fn pattern(n: usize) -> String {
    (0..n).map(|i| (b'a' + (i % 23) as u8) as char).collect()
}

#[tokio::test]
async fn get_goes_upstream_in_origin_form_without_hop_by_hop_fields() {
    let origin = HttpOrigin::start(ok("hello from the origin")).await;
    let proxy = Proxy::start(settings()).await;
    let o = origin.addr();
    let mut client = Client::connect(proxy.addr).await;
    client
        .send(format!(
            "GET http://{o}/path/x?q=1&r=%20 HTTP/1.1\r\n\
             Host: wrong.example\r\n\
             User-Agent: e2e\r\n\
             Proxy-Connection: keep-alive\r\n\
             Keep-Alive: timeout=5\r\n\
             TE: trailers\r\n\
             Upgrade: h2c\r\n\
             Connection: Upgrade, X-Secret\r\n\
             X-Secret: 1\r\n\
             Proxy-Authorization: Basic Zm9vOmJhcg==\r\n\
             Accept: */*\r\n\r\n"
        ))
        .await;
    let reply = client.response().await;
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.body, b"hello from the origin");
    assert_eq!(reply.header("via"), Some("1.1 burrow"));

    let seen = origin.requests();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.request_line(), "GET /path/x?q=1&r=%20 HTTP/1.1");
    assert_eq!(r.field("host"), [o.to_string()]);
    assert_eq!(r.field("via"), ["1.1 burrow"]);
    assert_eq!(r.field("user-agent"), ["e2e"]);
    assert_eq!(r.field("accept"), ["*/*"]);
    for gone in [
        "proxy-connection",
        "keep-alive",
        "te",
        "upgrade",
        "proxy-authorization",
        "x-secret",
    ] {
        assert!(
            r.field(gone).is_empty(),
            "{gone} was forwarded: {}",
            r.head_text()
        );
    }
    for value in r.field("connection") {
        let v = value.to_ascii_lowercase();
        assert!(!v.contains("upgrade") && !v.contains("x-secret"), "{v}");
    }
}

/// Two requests on one client connection share one upstream connection;
/// the second skips DNS (the core offers reuse at its `Resolve` step).
#[tokio::test]
async fn keep_alive_reuses_one_upstream_connection() {
    let origin = HttpOrigin::start(ok("again")).await;
    let net = Arc::new(ScriptedNet::to_origin(origin.addr()));
    let mut proxy = Proxy::with_resolver(settings(), net.clone()).await;
    let o = format!("origin.localhost:{}", origin.addr().port());
    let mut client = Client::connect(proxy.addr).await;
    let me = client.local_addr();
    for path in ["/one", "/two"] {
        client
            .send(format!(
                "GET http://{o}{path} HTTP/1.1\r\nHost: {o}\r\n\r\n"
            ))
            .await;
        let reply = client.response().await;
        assert_eq!(
            (reply.status(), reply.body.as_slice()),
            (200, &b"again"[..])
        );
        assert_eq!(reply.header("connection"), None, "{:?}", reply.head);
    }
    assert!(
        !client.is_closed().await,
        "the client connection stays open"
    );
    let seen = origin.requests();
    let lines: Vec<String> = seen.iter().map(|r| r.request_line()).collect();
    assert_eq!(lines, ["GET /one HTTP/1.1", "GET /two HTTP/1.1"]);
    assert_eq!(seen[1].field("host"), [o.as_str()]);
    assert_eq!(origin.connections(), 1, "one upstream connection for both");
    assert!(seen.iter().all(|r| r.connection == 0));
    assert_eq!(
        net.lookups(),
        ["origin.localhost"],
        "the second request skips DNS"
    );
    drop(client);
    let events = proxy.events.connection(me).await;
    assert_eq!(events.iter().filter(|e| **e == Event::Reused).count(), 1);
    let requests = events.iter().filter(|e| matches!(e, Event::Request { .. }));
    assert_eq!(requests.count(), 2);
}

/// An IP-literal target never resolves, so reuse is offered at the connect
/// step instead.
#[tokio::test]
async fn keep_alive_reuses_for_ip_literal_targets() {
    let origin = HttpOrigin::start(ok("again")).await;
    let proxy = Proxy::start(settings()).await;
    let o = origin.addr();
    let mut client = Client::connect(proxy.addr).await;
    for path in ["/one", "/two", "/three"] {
        client
            .send(format!(
                "GET http://{o}{path} HTTP/1.1\r\nHost: {o}\r\n\r\n"
            ))
            .await;
        assert_eq!(client.response().await.status(), 200);
    }
    assert_eq!(origin.requests().len(), 3);
    assert_eq!(origin.connections(), 1, "one upstream connection for all");
}

#[tokio::test]
async fn chunked_upload_arrives_whole() {
    let origin = HttpOrigin::start(ok("stored")).await;
    let proxy = Proxy::start(settings()).await;
    let o = origin.addr();
    let body = pattern(200_000);
    let mut client = Client::connect(proxy.addr).await;
    let mut request = format!(
        "POST http://{o}/upload HTTP/1.1\r\nHost: {o}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    request.extend_from_slice(&chunk(body.as_bytes(), 7_000));
    client.send(&request).await;
    let reply = client.response().await;
    assert_eq!(
        (reply.status(), reply.body.as_slice()),
        (200, &b"stored"[..])
    );
    let seen = origin.requests();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].body == body.as_bytes(),
        "the body changed on the way"
    );
}

#[tokio::test]
async fn large_upload_with_content_length_arrives_whole() {
    let origin = HttpOrigin::start(ok("stored")).await;
    let proxy = Proxy::start(settings()).await;
    let o = origin.addr();
    let body = pattern(3 * 1024 * 1024);
    let mut client = Client::connect(proxy.addr).await;
    let head = format!(
        "PUT http://{o}/big HTTP/1.1\r\nHost: {o}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    client
        .send([head.as_bytes(), body.as_bytes()].concat())
        .await;
    assert_eq!(client.response().await.status(), 200);
    let seen = origin.requests();
    assert_eq!(seen[0].field("content-length"), [body.len().to_string()]);
    assert!(
        seen[0].body == body.as_bytes(),
        "the body changed on the way"
    );
}

#[tokio::test]
async fn large_responses_arrive_intact() {
    let body = pattern(5 * 1024 * 1024);
    let framings: [&[(&str, &str)]; 2] = [
        &[("Content-Type", "application/octet-stream")],
        &[("Transfer-Encoding", "chunked")],
    ];
    for headers in framings {
        let origin = HttpOrigin::start(respond(200, headers, body.clone())).await;
        let proxy = Proxy::start(settings()).await;
        let o = origin.addr();
        let mut client = Client::connect(proxy.addr).await;
        client
            .send(format!("GET http://{o}/big HTTP/1.1\r\nHost: {o}\r\n\r\n"))
            .await;
        let reply = client.response().await;
        assert_eq!(reply.status(), 200, "{headers:?}");
        assert_eq!(reply.body.len(), body.len(), "{headers:?}");
        assert!(
            reply.body == body.as_bytes(),
            "{headers:?}: the body changed"
        );
        assert!(!client.is_closed().await, "{headers:?}: kept alive");
    }
}

#[tokio::test]
async fn http10_client_gets_connection_close() {
    let origin = HttpOrigin::start(ok("old school")).await;
    let proxy = Proxy::start(settings()).await;
    let o = origin.addr();
    let mut client = Client::connect(proxy.addr).await;
    client
        .send(format!(
            "GET http://{o}/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        ))
        .await;
    let reply = client.response().await;
    assert!(
        reply.head.status_line.starts_with("HTTP/1.0 200 "),
        "{:?}",
        reply.head
    );
    assert_eq!(reply.header("connection"), Some("close"));
    assert_eq!(reply.body, b"old school");
    assert!(
        client.is_closed().await,
        "the proxy closes after an HTTP/1.0 response"
    );
    assert_eq!(origin.requests()[0].request_line(), "GET / HTTP/1.1");
}

#[tokio::test]
async fn curl_fetches_plain_http_through_the_proxy() {
    let origin = HttpOrigin::start(ok("hello, curl")).await;
    let proxy = Proxy::start(settings()).await;
    let out = crate::curl(vec![
        "-x".into(),
        format!("http://{}", proxy.addr),
        format!("http://{}/via-curl", origin.addr()),
    ])
    .await;
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello, curl");
    let seen = origin.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].request_line(), "GET /via-curl HTTP/1.1");
    assert_eq!(seen[0].field("via"), ["1.1 burrow"]);
    assert!(seen[0].field("proxy-connection").is_empty());
}

/// `Expect: 100-continue` is answered by the proxy once the origin is
/// reached: the interim response comes before the body is sent, and the
/// origin gets the body without the Expect field.
#[tokio::test]
async fn expect_continue_is_answered_before_the_body() {
    let origin = HttpOrigin::start(ok("stored")).await;
    let proxy = Proxy::start(settings()).await;
    let o = origin.addr();
    let mut client = Client::connect(proxy.addr).await;
    client
        .send(format!(
            "PUT http://{o}/f HTTP/1.1\r\nHost: {o}\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
        ))
        .await;
    let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
    assert_eq!(client.read_exact(interim.len()).await, interim);
    client.send("hello").await;
    let reply = client.response().await;
    assert_eq!(
        (reply.status(), reply.body.as_slice()),
        (200, &b"stored"[..])
    );
    let seen = origin.requests();
    assert_eq!(seen[0].body, b"hello");
    assert!(
        seen[0].field("expect").is_empty(),
        "Expect is not forwarded"
    );
}

/// The origin's hop-by-hop fields (named in its `Connection`) stay behind;
/// its own reason phrase and other fields come through, and the log has the
/// answer and the body's size.
#[tokio::test]
async fn get_is_forwarded_with_via_and_without_hop_by_hop_fields() {
    let origin = HttpOrigin::answering(|_| {
        Answer::Send(
            b"HTTP/1.1 200 Fine\r\nContent-Length: 5\r\nConnection: X-Hop\r\nX-Hop: 1\r\nServer: o\r\n\r\nhello"
                .to_vec(),
        )
    })
    .await;
    let mut proxy = Proxy::start(settings()).await;
    let o = origin.addr();
    let mut client = Client::connect(proxy.addr).await;
    let me = client.local_addr();
    client
        .send(format!(
            "GET http://{o}/path?q=1 HTTP/1.1\r\nHost: evil.test\r\nConnection: keep-alive, X-Secret\r\n\
             X-Secret: 1\r\nProxy-Connection: keep-alive\r\nAccept: */*\r\n\r\n"
        ))
        .await;
    let reply = client.response().await;
    assert_eq!(reply.head.status_line, "HTTP/1.1 200 Fine");
    assert_eq!(reply.header("via"), Some("1.1 burrow"));
    assert_eq!(reply.header("server"), Some("o"));
    assert_eq!(reply.header("x-hop"), None, "{:?}", reply.head);
    assert_eq!(reply.body, b"hello");

    let seen = origin.requests();
    let up = &seen[0];
    assert_eq!(up.request_line(), "GET /path?q=1 HTTP/1.1");
    assert_eq!(up.field("host"), [o.to_string()]);
    assert_eq!(up.field("via"), ["1.1 burrow"]);
    assert_eq!(up.field("accept"), ["*/*"]);
    for hop in ["x-secret", "proxy-connection", "connection"] {
        assert!(up.field(hop).is_empty(), "{hop} in {}", up.head_text());
    }
    drop(client);
    let events = proxy.events.connection(me).await;
    assert!(events.contains(&Event::OriginResponded {
        status: 200,
        reason: "Fine".into()
    }));
    assert!(events.contains(&Event::Traffic { up: 0, down: 5 }));
}

#[tokio::test]
async fn a_different_authority_gets_a_new_upstream_connection() {
    let origin = HttpOrigin::start(ok("x")).await;
    let net = Arc::new(ScriptedNet::to_origin(origin.addr()));
    let proxy = Proxy::with_resolver(settings(), net).await;
    let port = origin.addr().port();
    let mut client = Client::connect(proxy.addr).await;
    for host in ["a.localhost", "b.localhost"] {
        client
            .send(format!(
                "GET http://{host}:{port}/ HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n"
            ))
            .await;
        client.response().await;
    }
    let seen = origin.requests();
    assert_eq!((seen[0].connection, seen[1].connection), (0, 1));
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let origin = HttpOrigin::answering(|r| Answer::ok(r.request_line())).await;
    let proxy = Proxy::start(settings()).await;
    let o = origin.addr();
    let mut client = Client::connect(proxy.addr).await;
    client
        .send(format!(
            "GET http://{o}/a HTTP/1.1\r\nHost: {o}\r\n\r\nGET http://{o}/b HTTP/1.1\r\nHost: {o}\r\nConnection: close\r\n\r\n"
        ))
        .await;
    assert_eq!(client.response().await.body, b"GET /a HTTP/1.1");
    let second = client.response().await;
    assert_eq!(second.header("connection"), Some("close"));
    assert_eq!(second.body, b"GET /b HTTP/1.1");
}

/// Chunk extensions, a whitespace-only chunk and trailers; the body arrives
/// over several writes and goes upstream decoded.
#[tokio::test]
async fn chunked_upload_is_decoded_and_streamed_upstream() {
    let origin = HttpOrigin::answering(|r| Answer::ok(r.body.len().to_string())).await;
    let proxy = Proxy::start(settings()).await;
    let o = origin.addr();
    let mut client = Client::connect(proxy.addr).await;
    client
        .send(format!(
            "POST http://{o}/upload HTTP/1.1\r\nHost: {o}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello"
        ))
        .await;
    let big = "x".repeat(40_000);
    client
        .send(format!(
            "\r\n1;ext=1\r\n \r\n{:x}\r\n{big}\r\n0\r\nTrailer: t\r\n\r\n",
            big.len()
        ))
        .await;
    let reply = client.response().await;
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.body, b"40006");
    assert_eq!(origin.requests()[0].body, format!("hello {big}").as_bytes());
}

#[tokio::test]
async fn content_length_upload_is_forwarded() {
    let origin = HttpOrigin::answering(|r| Answer::ok(&r.body)).await;
    let proxy = Proxy::start(settings()).await;
    let o = origin.addr();
    let mut client = Client::connect(proxy.addr).await;
    client
        .send(format!(
            "PUT http://{o}/ HTTP/1.1\r\nHost: {o}\r\nContent-Length: 11\r\n\r\nhello"
        ))
        .await;
    client.send(" world").await;
    assert_eq!(client.response().await.body, b"hello world");
    assert_eq!(origin.requests()[0].field("content-length"), ["11"]);
}

#[tokio::test]
async fn a_malformed_chunk_gets_the_cores_400_and_closes() {
    let origin = HttpOrigin::start(ok("no")).await;
    let mut proxy = Proxy::start(settings()).await;
    let o = origin.addr();
    let mut client = Client::connect(proxy.addr).await;
    let me = client.local_addr();
    client
        .send_lossy(format!(
            "POST http://{o}/ HTTP/1.1\r\nHost: {o}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
        ).as_bytes())
        .await;
    let reply = latin1(&client.read_to_end().await);
    assert!(reply.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{reply}");
    assert!(reply.contains("chunked framing is invalid"), "{reply}");
    assert_eq!(proxy.events.close_reason(me).await, CloseReason::Rejected);
}

/// A response with neither Content-Length nor chunked ends when the origin
/// closes: re-chunked for an HTTP/1.1 client, until close for HTTP/1.0.
#[tokio::test]
async fn unknown_length_is_rechunked_for_http11_and_until_close_for_http10() {
    let origin = HttpOrigin::start(OriginScript::Raw(
        "HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nstreamed body".into(),
    ))
    .await;
    let proxy = Proxy::start(settings()).await;
    let o = origin.addr();
    let mut client = Client::connect(proxy.addr).await;
    client
        .send(format!("GET http://{o}/ HTTP/1.1\r\nHost: {o}\r\n\r\n"))
        .await;
    let reply = client.response().await;
    assert_eq!(
        reply.header("transfer-encoding"),
        Some("chunked"),
        "{:?}",
        reply.head
    );
    assert_eq!(reply.body, b"streamed body");

    let mut client = Client::connect(proxy.addr).await;
    client
        .send(format!("GET http://{o}/ HTTP/1.0\r\n\r\n"))
        .await;
    let reply = latin1(&client.read_to_end().await);
    assert!(reply.starts_with("HTTP/1.0 200 OK\r\n"), "{reply}");
    assert!(reply.contains("\r\nConnection: close\r\n"), "{reply}");
    assert!(reply.ends_with("\r\n\r\nstreamed body"), "{reply}");
}

#[tokio::test]
async fn an_origin_that_closes_without_answering_is_502() {
    let origin = HttpOrigin::start(OriginScript::Fails(UpstreamFailure::Closed)).await;
    let proxy = Proxy::start(settings()).await;
    let o = origin.addr();
    let mut client = Client::connect(proxy.addr).await;
    client
        .send(format!("GET http://{o}/ HTTP/1.1\r\nHost: {o}\r\n\r\n"))
        .await;
    let reply = latin1(&client.read_to_end().await);
    assert!(reply.starts_with("HTTP/1.1 502 "), "{reply}");
    assert!(reply.contains("Proxy-Status: burrow; error="), "{reply}");
}

#[tokio::test]
async fn an_origin_that_never_answers_is_504_after_the_response_timeout() {
    let origin = HttpOrigin::start(OriginScript::Fails(UpstreamFailure::Timeout)).await;
    let mut s = settings();
    s.timeouts.upstream_response = 0.2;
    let proxy = Proxy::start(s).await;
    let o = origin.addr();
    let mut client = Client::connect(proxy.addr).await;
    client
        .send(format!("GET http://{o}/ HTTP/1.1\r\nHost: {o}\r\n\r\n"))
        .await;
    let reply = latin1(&client.read_to_end().await);
    assert!(reply.starts_with("HTTP/1.1 504 "), "{reply}");
    assert!(reply.contains("error=http_response_timeout"), "{reply}");
}

#[tokio::test]
async fn head_responses_keep_their_content_length_and_send_no_body() {
    let origin = HttpOrigin::answering(|r| {
        if r.request_line().starts_with("HEAD ") {
            Answer::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n".to_vec())
        } else {
            Answer::ok("after head")
        }
    })
    .await;
    let proxy = Proxy::start(settings()).await;
    let o = origin.addr();
    let mut client = Client::connect(proxy.addr).await;
    client
        .send(format!(
            "HEAD http://{o}/ HTTP/1.1\r\nHost: {o}\r\n\r\nGET http://{o}/ HTTP/1.1\r\nHost: {o}\r\nConnection: close\r\n\r\n"
        ))
        .await;
    let head = client.head_response().await;
    assert_eq!(
        head.header("content-length"),
        Some("1234"),
        "{:?}",
        head.head
    );
    // The next thing on the wire is the second response, not a body.
    let second = client.response().await;
    assert_eq!(second.head.status_line, "HTTP/1.1 200 OK");
    assert_eq!(second.body, b"after head");
}
