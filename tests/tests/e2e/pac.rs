//! The PAC file through the real engine: the engine only carries out what
//! the core decides, so these check the bytes on the wire, the address the
//! file names (the one the client reached), and the log.

use std::net::{IpAddr, SocketAddr};

use burrow_core::log::{CloseReason, Event};
use burrow_core::settings::Credentials;
use burrow_proxy::Engine;
use burrow_tests::events::Events;
use burrow_tests::{latin1, settings, Client};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Fetches the PAC file from `proxy` on a connection to `reached`.
async fn fetch(reached: SocketAddr) -> (String, SocketAddr) {
    let mut client = Client::connect(reached).await;
    client
        .send(format!(
            "GET /proxy.pac HTTP/1.1\r\nHost: {reached}\r\nConnection: close\r\n\r\n"
        ))
        .await;
    let reply = latin1(&client.read_to_end().await);
    (reply, client.local_addr())
}

/// A listener on every interface with a password set: the PAC file is
/// served without credentials, and names the address each client reached.
#[tokio::test]
async fn the_file_names_the_address_the_client_reached() {
    let listener = TcpListener::bind("0.0.0.0:0")
        .await
        .expect("bind 0.0.0.0:0");
    let port = listener.local_addr().expect("bound address").port();
    let mut s = settings();
    s.listen = SocketAddr::from(([0, 0, 0, 0], port));
    s.auth = Some(Credentials {
        user: "alice".into(),
        password: "s3cret".into(),
    });
    s.pac_bypass = vec!["*.corp.example".into()];
    let engine = Engine::new(s);
    let mut events = Events::new(engine.subscribe());
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let (engine, shutdown) = (engine.clone(), shutdown.clone());
        async move { engine.serve(listener, shutdown).await }
    });

    for last in [1u8, 3] {
        let reached = SocketAddr::new(IpAddr::from([127, 0, 0, last]), port);
        let (reply, client) = fetch(reached).await;
        let (head, body) = reply.split_once("\r\n\r\n").expect("a whole response");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
        assert!(head.contains("\r\nContent-Type: application/x-ns-proxy-autoconfig\r\n"));
        assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())));
        assert!(head.contains("\r\nCache-Control: no-store\r\n"));
        assert!(
            body.contains(&format!("var PROXY = \"PROXY {reached}; DIRECT\";\n")),
            "{body}"
        );
        assert!(body.contains("var BYPASS_SUFFIXES = [\".corp.example\"];\n"));
        assert!(body.contains("function FindProxyForURL(url, host)"));

        let log = events.connection(client).await;
        assert!(
            log.iter()
                .any(|e| matches!(e, Event::Request { method, target, .. }
                if method.as_str() == "GET" && target.as_str() == "/proxy.pac")),
            "{log:?}"
        );
        assert!(
            log.iter().any(
                |e| matches!(e, Event::Responded { status: 200, error: None, rule, .. }
                if rule == "pac-served")
            ),
            "{log:?}"
        );
        assert!(
            !log.iter()
                .any(|e| matches!(e, Event::Resolving { .. } | Event::Connecting { .. })),
            "the PAC file goes nowhere: {log:?}"
        );
        assert!(log.contains(&Event::Closed {
            reason: CloseReason::ClientFin
        }));
    }
    shutdown.cancel();
    task.await.expect("serve returns");
}

/// The same engine byte for byte as the core: a GET and a HEAD pipelined on
/// one kept-alive connection, then a proxy request, which still needs
/// credentials.
#[tokio::test]
async fn kept_alive_then_a_proxy_request_needs_credentials() {
    let mut s = settings();
    s.auth = Some(Credentials {
        user: "alice".into(),
        password: "s3cret".into(),
    });
    let proxy = burrow_tests::Proxy::start(s).await;
    let mut client = Client::connect(proxy.addr).await;
    let host = proxy.addr;
    client
        .send(format!(
            "GET /proxy.pac HTTP/1.1\r\nHost: {host}\r\n\r\nHEAD /proxy.pac HTTP/1.1\r\nHost: {host}\r\n\r\n"
        ))
        .await;
    let get = client.response().await;
    assert_eq!(get.status(), 200);
    let length = get.header("content-length").expect("a length").to_string();
    let head = client.head_response().await;
    assert_eq!(head.status(), 200);
    assert_eq!(head.header("content-length"), Some(length.as_str()));
    client
        .send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        .await;
    assert_eq!(client.response().await.status(), 407);
}

/// Where each host goes by the served file, evaluated in Node (the file is
/// plain JavaScript with no PAC helpers, so any engine runs it): local names
/// and addresses in every IPv6 spelling DIRECT, `pac_bypass` DIRECT, the
/// rest through Burrow. Chromium runs it in `tests/pac_browser.rs`.
#[tokio::test]
async fn the_file_sends_each_host_where_it_should() {
    let mut s = settings();
    s.pac_bypass = vec![
        "*.corp.example".into(),
        "intranet.example".into(),
        "203.0.113.0/24".into(),
        "2001:db8::/32".into(),
    ];
    let proxy = burrow_tests::Proxy::start(s).await;
    let (reply, _) = fetch(proxy.addr).await;
    let (_, script) = reply.split_once("\r\n\r\n").expect("a whole response");
    let proxied = format!("PROXY {}; DIRECT", proxy.addr);
    let cases: &[(&str, bool)] = &[
        ("example.com", false),
        ("site.test", false),
        ("localhost", true),
        ("a.localhost", true),
        ("nas", true),
        ("printer.local", true),
        ("home.arpa", true),
        ("x.home.arpa", true),
        ("box.lan", true),
        ("svc.internal", true),
        ("LOCALHOST.", true),
        ("127.0.0.1", true),
        ("127.9.9.9", true),
        ("10.1.2.3", true),
        ("172.31.0.1", true),
        ("172.32.0.1", false),
        ("192.168.1.1", true),
        ("169.254.1.1", true),
        ("100.100.1.1", true),
        ("100.128.0.1", false),
        ("8.8.8.8", false),
        ("::1", true),
        ("[::1]", true),
        ("fe80::1", true),
        ("fd12:3456::1", true),
        ("2606:4700::1111", false),
        ("::ffff:127.0.0.1", true),
        ("::ffff:7f00:1", true),
        ("64:ff9b::10.0.0.1", true),
        ("2002:c0a8:101::1", true),
        ("::ffff:8.8.8.8", false),
        ("a.corp.example", true),
        ("corp.example", false),
        ("xcorp.example", false),
        ("intranet.example", true),
        ("www.intranet.example", false),
        ("203.0.113.9", true),
        ("203.0.114.9", false),
        ("2001:db8:1::5", true),
        ("2001:db9::1", false),
        ("1.2.3", false),
        ("01.2.3.4", false),
    ];
    let hosts: Vec<&str> = cases.iter().map(|(h, _)| *h).collect();
    let program = format!(
        "{script}\nconst hosts = {};\nconsole.log(JSON.stringify(hosts.map(h => FindProxyForURL('http://' + h + '/', h))));\n",
        serde_json::to_string(&hosts).expect("JSON")
    );
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let mut node = Command::new("node")
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node must be installed to run this test (the wasm tests need it too)");
        node.stdin
            .take()
            .expect("node's stdin")
            .write_all(program.as_bytes())
            .expect("writing the program to node");
        node.wait_with_output().expect("node runs")
    })
    .await
    .expect("the node task does not panic");
    assert!(
        out.status.success(),
        "node: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<String> = serde_json::from_slice(&out.stdout).expect("node prints JSON");
    let wrong: Vec<String> = cases
        .iter()
        .zip(&answers)
        .filter(|((_, direct), got)| {
            let want = if *direct { "DIRECT" } else { proxied.as_str() };
            got.as_str() != want
        })
        .map(|((host, _), got)| format!("{host} -> {got}"))
        .collect();
    assert!(wrong.is_empty(), "{wrong:?}");
}
