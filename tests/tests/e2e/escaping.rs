//! Text from a hostile peer through the real engine to what a person reads:
//! the `burrow` binary's readable and JSON access logs (a ClientHello whose
//! SNI and ALPN carry a terminal escape and a forged log line) and Burrow's
//! own refusal (a target with markup and a byte beyond ASCII).

use std::process::Command;

use burrow_core::log::ConnectionRecord;
use burrow_tests::{settings, Client, Echo, Proxy, TIMEOUT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cli::{spawn, Proc};

/// Recolours a terminal, then starts a line that looks like Burrow's own.
const FORGED: &[u8] = b"a\x1b[31mb\r\nFORGED 127.0.0.1 CONNECT x";
/// The SNI as the log shows it: escaped, and lowercased like every SNI.
const FORGED_SNI: &str = "a\\x1b[31mb\\x0d\\x0aforged 127.0.0.1 connect x";
/// An ALPN name as the log shows it (ALPN keeps its case).
const FORGED_ALPN: &str = "a\\x1b[31mb\\x0d\\x0aFORGED 127.0.0.1 CONNECT x";

/// A TLS 1.3 ClientHello with this SNI and these ALPN names, made by hand
/// so any bytes can go in (RFC 8446 §4.1.2, RFC 6066 §3, RFC 7301 §3.1).
fn client_hello(sni: &[u8], alpn: &[&[u8]]) -> Vec<u8> {
    fn vec16(body: &[u8]) -> Vec<u8> {
        let len = u16::try_from(body.len()).expect("a short vector");
        [&len.to_be_bytes()[..], body].concat()
    }
    let names = vec16(&[&[0u8][..], &vec16(sni)].concat());
    let protocols: Vec<u8> = alpn
        .iter()
        .flat_map(|p| [&[p.len() as u8][..], p].concat())
        .collect();
    let mut extensions = Vec::new();
    extensions.extend([0, 0]); // server_name
    extensions.extend(vec16(&names));
    extensions.extend([0, 0x10]); // ALPN
    extensions.extend(vec16(&vec16(&protocols)));
    extensions.extend([0, 0x2b, 0, 3, 2, 3, 4]); // supported_versions: TLS 1.3
    let mut body = vec![3, 3];
    body.extend([0x5a; 32]); // random
    body.push(0); // no session id
    body.extend([0, 2, 0x13, 0x01]); // one cipher suite
    body.extend([1, 0]); // null compression
    body.extend(vec16(&extensions));
    let len = u32::try_from(body.len())
        .expect("a short hello")
        .to_be_bytes();
    let handshake = [&[1u8][..], &len[1..], &body].concat();
    [&[22u8, 3, 1][..], &vec16(&handshake)].concat()
}

/// Starts `burrow` with `extra` flags, allowed to reach a loopback echo
/// server; tunnels the hostile ClientHello through it; stops it with
/// SIGINT and returns every line it wrote to stdout.
async fn log_lines_of_a_hostile_hello(extra: &[&str]) -> (Vec<String>, u16) {
    let echo = Echo::start().await;
    let port = echo.addr.port();
    let allow = port.to_string();
    let mut args = vec!["--listen", "127.0.0.1:0", "--allow-port", &allow];
    args.extend_from_slice(extra);
    let (mut proc, out, err) = spawn(&args);
    let first = tokio::task::spawn_blocking(move || err.recv_timeout(TIMEOUT))
        .await
        .unwrap()
        .expect("burrow announces its listener");
    let addr = first
        .strip_prefix("burrow listening on ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("{first}"))
        .to_string();

    let mut s = TcpStream::connect(&addr).await.unwrap();
    let target = format!("127.0.0.1:{port}");
    s.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0];
        assert_eq!(s.read(&mut byte).await.unwrap(), 1, "the 200 arrives");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200 "), "{head:?}");
    let hello = client_hello(FORGED, &[FORGED, b"h2"]);
    s.write_all(&hello).await.unwrap();
    s.shutdown().await.unwrap();
    let mut echoed = Vec::new();
    tokio::time::timeout(TIMEOUT, s.read_to_end(&mut echoed))
        .await
        .expect("the echo ends")
        .unwrap();
    assert_eq!(echoed, hello, "the tunnel relays the hello unchanged");

    let lines = tokio::task::spawn_blocking(move || {
        let first = out.recv_timeout(TIMEOUT).expect("an access-log line");
        stop(&mut proc);
        // The process has exited: every other line it wrote is in the channel.
        std::iter::once(first).chain(out.iter()).collect()
    })
    .await
    .unwrap();
    (lines, port)
}

/// SIGINT to the child this test started (by its pid), then waits for it.
fn stop(proc: &mut Proc) {
    let pid = proc.0.id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(sent.success());
    let status = proc.0.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_sni_stays_on_one_escaped_line_of_the_readable_log() {
    let (lines, port) = log_lines_of_a_hostile_hello(&[]).await;
    assert_eq!(lines.len(), 1, "one connection, one line: {lines:?}");
    let line = &lines[0];
    assert!(!line.contains('\x1b') && !line.contains('\r'), "{line:?}");
    assert!(
        line.chars()
            .all(|c| (' '..='~').contains(&c) || c == '↑' || c == '↓'),
        "{line:?}"
    );
    assert!(
        line.contains(&format!(" CONNECT 127.0.0.1:{port} 200 ")),
        "{line}"
    );
    assert!(line.ends_with(&format!(" sni={FORGED_SNI}")), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_sni_and_alpn_stay_escaped_in_the_json_log() {
    let (lines, _) = log_lines_of_a_hostile_hello(&["--json"]).await;
    assert_eq!(lines.len(), 1, "one connection, one line: {lines:?}");
    let line = &lines[0];
    // serde_json writes a raw control as \u00NN: there is none to write.
    assert!(!line.contains("\\u00"), "{line}");
    assert!(line.chars().all(|c| (' '..='~').contains(&c)), "{line:?}");
    let record: ConnectionRecord = serde_json::from_str(line).unwrap();
    assert_eq!(record.sni.as_deref(), Some(FORGED_SNI));
    let alpn: Vec<&str> = record.alpn.iter().map(|a| a.as_str()).collect();
    assert_eq!(alpn, [FORGED_ALPN, "h2"]);
}

#[tokio::test]
async fn a_refusal_shows_a_hostile_target_escaped() {
    let proxy = Proxy::start(settings()).await;
    let mut client = Client::connect(proxy.addr).await;
    client
        .send(&b"GET http://a<script>\xc3\xa9/ HTTP/1.1\r\nHost: a\r\n\r\n"[..])
        .await;
    let reply = client.response().await;
    assert_eq!(reply.status(), 400);
    let body = String::from_utf8(reply.body.clone()).expect("an ASCII body");
    assert!(
        body.contains("\"http://a\\x3cscript\\x3e\\xc3\\xa9/\""),
        "{body}"
    );
    assert!(!body.contains('<') && !body.contains('>'), "{body}");
    assert!(
        reply
            .raw
            .iter()
            .all(|&b| b == b'\r' || b == b'\n' || (b' '..=b'~').contains(&b)),
        "{:?}",
        String::from_utf8_lossy(&reply.raw)
    );
    let status = reply.header("proxy-status").expect("a Proxy-Status field");
    assert!(status.contains("error="), "{status}");
}
