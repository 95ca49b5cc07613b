//! Plain-HTTP forwarding of absolute-form requests to a loopback origin.

use std::sync::Arc;

use burrow_tests::client::chunk;
use burrow_tests::origin::{ok, respond};
use burrow_tests::{settings, Client, HttpOrigin, Proxy, ScriptedNet};

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
    let proxy = Proxy::with_resolver(settings(), net.clone()).await;
    let o = format!("origin.test:{}", origin.addr().port());
    let mut client = Client::connect(proxy.addr).await;
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
        ["origin.test"],
        "the second request skips DNS"
    );
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
