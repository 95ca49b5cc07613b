//! Plain-HTTP forwarding through hyper's client.

use std::sync::Arc;

use burrow_core::log::{CloseReason, Event};
use burrow_proxy::Engine;
use tokio::io::{AsyncWriteExt, BufReader};

use crate::support::*;

#[tokio::test]
async fn get_is_forwarded_with_via_and_without_hop_by_hop_fields() {
    let origin = Origin::start(|_| {
        Reply::Send(
            b"HTTP/1.1 200 Fine\r\nContent-Length: 5\r\nConnection: X-Hop\r\nX-Hop: 1\r\nServer: o\r\n\r\nhello"
                .to_vec(),
        )
    })
    .await;
    let (running, mut rx) = start(Engine::new(settings())).await;
    let o = origin.addr;
    let raw = format!(
        "GET http://{o}/path?q=1 HTTP/1.1\r\nHost: evil.test\r\nConnection: keep-alive, X-Secret\r\n\
         X-Secret: 1\r\nProxy-Connection: keep-alive\r\nAccept: */*\r\n\r\n"
    );
    let s = send(running.local_addr(), raw.as_bytes()).await;
    let mut s = BufReader::new(s);
    let head = read_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 200 Fine\r\n"), "{head}");
    assert_eq!(header(&head, "via"), Some("1.1 burrow"));
    assert_eq!(header(&head, "server"), Some("o"));
    assert_eq!(header(&head, "x-hop"), None, "{head}");
    assert_eq!(read_body(&mut s, &head).await, b"hello");

    let seen = origin.seen();
    let up = &seen[0].head;
    assert!(up.starts_with("GET /path?q=1 HTTP/1.1\r\n"), "{up}");
    assert_eq!(header(up, "host"), Some(o.to_string().as_str()));
    assert_eq!(header(up, "via"), Some("1.1 burrow"));
    assert_eq!(header(up, "accept"), Some("*/*"));
    for hop in ["x-secret", "proxy-connection", "connection"] {
        assert_eq!(header(up, hop), None, "{hop} in {up}");
    }
    drop(s);
    let events = kinds(&events_until_closed(&mut rx, 1).await);
    assert!(events.contains(&Event::OriginResponded {
        status: 200,
        reason: "Fine".into()
    }));
    assert!(events.contains(&Event::Traffic { up: 0, down: 5 }));
    running.stop().await;
}

#[tokio::test]
async fn keep_alive_reuses_one_upstream_connection() {
    let origin = Origin::start(|r| Reply::Send(ok(&format!("#{}", r.head.len())))).await;
    // The core offers reuse when it would resolve a name (an IP literal skips DNS).
    let engine = Engine::new(settings())
        .with_resolver(Arc::new(FixedResolver("127.0.0.1".parse().unwrap())));
    let (running, mut rx) = start(engine).await;
    let authority = format!("origin.test:{}", origin.addr.port());
    let mut s = BufReader::new(send(running.local_addr(), b"").await);
    for path in ["/one", "/two"] {
        let raw = format!("GET http://{authority}{path} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
        s.get_mut().write_all(raw.as_bytes()).await.unwrap();
        let head = read_head(&mut s).await;
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert_eq!(header(&head, "connection"), None, "{head}");
        read_body(&mut s, &head).await;
    }
    drop(s);
    let seen = origin.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!((seen[0].conn, seen[1].conn), (0, 0));
    assert_eq!(header(&seen[1].head, "host"), Some(authority.as_str()));
    let events = kinds(&events_until_closed(&mut rx, 1).await);
    assert_eq!(events.iter().filter(|e| **e == Event::Reused).count(), 1);
    let requests = events.iter().filter(|e| matches!(e, Event::Request { .. }));
    assert_eq!(requests.count(), 2);
    running.stop().await;
}

#[tokio::test]
async fn a_different_authority_gets_a_new_upstream_connection() {
    let origin = Origin::start(|_| Reply::Send(ok("x"))).await;
    let engine = Engine::new(settings())
        .with_resolver(Arc::new(FixedResolver("127.0.0.1".parse().unwrap())));
    let (running, _rx) = start(engine).await;
    let port = origin.addr.port();
    let mut s = BufReader::new(send(running.local_addr(), b"").await);
    for host in ["a.test", "b.test"] {
        let raw = format!("GET http://{host}:{port}/ HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n");
        s.get_mut().write_all(raw.as_bytes()).await.unwrap();
        let head = read_head(&mut s).await;
        read_body(&mut s, &head).await;
    }
    let seen = origin.seen();
    assert_eq!((seen[0].conn, seen[1].conn), (0, 1));
    running.stop().await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let origin = Origin::start(|r| Reply::Send(ok(r.head.lines().next().unwrap()))).await;
    let (running, _rx) = start(Engine::new(settings())).await;
    let o = origin.addr;
    let raw = format!(
        "GET http://{o}/a HTTP/1.1\r\nHost: {o}\r\n\r\nGET http://{o}/b HTTP/1.1\r\nHost: {o}\r\nConnection: close\r\n\r\n"
    );
    let mut s = BufReader::new(send(running.local_addr(), raw.as_bytes()).await);
    let head = read_head(&mut s).await;
    assert_eq!(read_body(&mut s, &head).await, b"GET /a HTTP/1.1");
    let head = read_head(&mut s).await;
    assert_eq!(header(&head, "connection"), Some("close"));
    assert_eq!(read_body(&mut s, &head).await, b"GET /b HTTP/1.1");
    running.stop().await;
}

#[tokio::test]
async fn chunked_upload_is_decoded_and_streamed_upstream() {
    let origin = Origin::start(|r| Reply::Send(ok(&r.body.len().to_string()))).await;
    let (running, _rx) = start(Engine::new(settings())).await;
    let o = origin.addr;
    let head = format!(
        "POST http://{o}/upload HTTP/1.1\r\nHost: {o}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello"
    );
    let mut s = BufReader::new(send(running.local_addr(), head.as_bytes()).await);
    let big = "x".repeat(40_000);
    let rest = format!(
        "\r\n1;ext=1\r\n \r\n{:x}\r\n{big}\r\n0\r\nTrailer: t\r\n\r\n",
        big.len()
    );
    s.get_mut().write_all(rest.as_bytes()).await.unwrap();
    let head = read_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert_eq!(read_body(&mut s, &head).await, b"40006");
    let seen = origin.seen();
    assert_eq!(seen[0].body, format!("hello {big}").as_bytes());
    running.stop().await;
}

#[tokio::test]
async fn content_length_upload_is_forwarded() {
    let origin = Origin::start(|r| Reply::Send(ok(std::str::from_utf8(&r.body).unwrap()))).await;
    let (running, _rx) = start(Engine::new(settings())).await;
    let o = origin.addr;
    let raw = format!("PUT http://{o}/ HTTP/1.1\r\nHost: {o}\r\nContent-Length: 11\r\n\r\nhello");
    let mut s = BufReader::new(send(running.local_addr(), raw.as_bytes()).await);
    s.get_mut().write_all(b" world").await.unwrap();
    let head = read_head(&mut s).await;
    assert_eq!(read_body(&mut s, &head).await, b"hello world");
    assert_eq!(header(&origin.seen()[0].head, "content-length"), Some("11"));
    running.stop().await;
}

#[tokio::test]
async fn a_malformed_chunk_gets_the_cores_400_and_closes() {
    let origin = Origin::start(|_| Reply::Send(ok("no"))).await;
    let (running, mut rx) = start(Engine::new(settings())).await;
    let o = origin.addr;
    let raw = format!(
        "POST http://{o}/ HTTP/1.1\r\nHost: {o}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
    );
    let mut s = send(running.local_addr(), raw.as_bytes()).await;
    let reply = read_all(&mut s).await;
    assert!(reply.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{reply}");
    assert!(reply.contains("chunked framing is invalid"), "{reply}");
    assert_eq!(close_reason(&mut rx).await, CloseReason::Rejected);
    running.stop().await;
}

#[tokio::test]
async fn unknown_length_is_rechunked_for_http11_and_until_close_for_http10() {
    let origin = Origin::start(|_| {
        Reply::SendAndClose(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nstreamed body".to_vec())
    })
    .await;
    let (running, _rx) = start(Engine::new(settings())).await;
    let o = origin.addr;
    let raw = format!("GET http://{o}/ HTTP/1.1\r\nHost: {o}\r\n\r\n");
    let mut s = BufReader::new(send(running.local_addr(), raw.as_bytes()).await);
    let head = read_head(&mut s).await;
    assert_eq!(
        header(&head, "transfer-encoding"),
        Some("chunked"),
        "{head}"
    );
    assert_eq!(read_body(&mut s, &head).await, b"streamed body");

    let raw = format!("GET http://{o}/ HTTP/1.0\r\n\r\n");
    let mut s = send(running.local_addr(), raw.as_bytes()).await;
    let reply = read_all(&mut s).await;
    assert!(reply.starts_with("HTTP/1.0 200 OK\r\n"), "{reply}");
    assert!(reply.contains("\r\nConnection: close\r\n"), "{reply}");
    assert!(reply.ends_with("\r\n\r\nstreamed body"), "{reply}");
    running.stop().await;
}

#[tokio::test]
async fn an_origin_that_closes_without_answering_is_502() {
    let origin = Origin::start(|_| Reply::Close).await;
    let (running, _rx) = start(Engine::new(settings())).await;
    let o = origin.addr;
    let raw = format!("GET http://{o}/ HTTP/1.1\r\nHost: {o}\r\n\r\n");
    let mut s = send(running.local_addr(), raw.as_bytes()).await;
    let reply = read_all(&mut s).await;
    assert!(reply.starts_with("HTTP/1.1 502 "), "{reply}");
    assert!(reply.contains("Proxy-Status: burrow; error="), "{reply}");
    running.stop().await;
}

#[tokio::test]
async fn an_origin_that_never_answers_is_504_after_the_response_timeout() {
    let origin = Origin::start(|_| Reply::Hang).await;
    let mut settings = settings();
    settings.timeouts.upstream_response = 0.2;
    let (running, _rx) = start(Engine::new(settings)).await;
    let o = origin.addr;
    let raw = format!("GET http://{o}/ HTTP/1.1\r\nHost: {o}\r\n\r\n");
    let mut s = send(running.local_addr(), raw.as_bytes()).await;
    let reply = read_all(&mut s).await;
    assert!(reply.starts_with("HTTP/1.1 504 "), "{reply}");
    assert!(reply.contains("error=http_response_timeout"), "{reply}");
    running.stop().await;
}

#[tokio::test]
async fn head_responses_keep_their_content_length_and_send_no_body() {
    let origin = Origin::start(|r| {
        if r.head.starts_with("HEAD ") {
            Reply::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n".to_vec())
        } else {
            Reply::Send(ok("after head"))
        }
    })
    .await;
    let (running, _rx) = start(Engine::new(settings())).await;
    let o = origin.addr;
    let raw = format!(
        "HEAD http://{o}/ HTTP/1.1\r\nHost: {o}\r\n\r\nGET http://{o}/ HTTP/1.1\r\nHost: {o}\r\nConnection: close\r\n\r\n"
    );
    let mut s = BufReader::new(send(running.local_addr(), raw.as_bytes()).await);
    let head = read_head(&mut s).await;
    assert_eq!(header(&head, "content-length"), Some("1234"), "{head}");
    // The next thing on the wire is the second response, not a body.
    let second = read_head(&mut s).await;
    assert!(second.starts_with("HTTP/1.1 200 OK\r\n"), "{second}");
    assert_eq!(read_body(&mut s, &second).await, b"after head");
    running.stop().await;
}
