//! Text from a hostile peer, followed to every sink the core feeds: a
//! response body and its `Proxy-Status`, the JSON of the log events, and
//! the simulator's transcript. Each test fails if the escaping in
//! `burrow_core::escape` is taken out of the path to its sink.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use burrow_core::log::Event;
use burrow_core::simulate::{simulate, ClientEnd, ClientTls, DnsScript, OriginScript, Scenario};
use burrow_core::{Action, Connection, Settings};
use serde_json::Value;

/// An SNI that would recolour a terminal and forge a second log line.
const HOSTILE_SNI: &str = "a\x1b[31mb\r\nFORGED 127.0.0.1 CONNECT x";
const HOSTILE_SNI_ESCAPED: &str = "a\\x1b[31mb\\x0d\\x0aforged 127.0.0.1 connect x";

/// A public address for the simulated lookups (nothing is dialled: the core does no IO).
fn public() -> IpAddr {
    "93.184.215.14".parse().unwrap()
}

fn conn() -> Connection {
    let listener: SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let client: SocketAddr = "127.0.0.1:50000".parse().unwrap();
    Connection::new(Arc::new(Settings::default()), client, listener)
}

/// The bytes Burrow sends the client until it waits or closes.
fn to_client(c: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        match c.poll() {
            Action::SendClient(bytes) => out.extend(bytes),
            Action::SendUpstream(_) | Action::CloseUpstream => {}
            _ => return out,
        }
    }
}

/// A text that holds nothing a peer could use against a reader: no control
/// (line breaks only where `lines_ok`), no byte beyond ASCII, no markup.
fn assert_inert(what: &str, text: &str, lines_ok: bool) {
    for c in text.chars() {
        let line_break = lines_ok && (c == '\r' || c == '\n');
        assert!(
            line_break || (' '..='~').contains(&c),
            "{what}: {c:?} in {text:?}"
        );
    }
    assert!(
        !text.contains('<') && !text.contains('>'),
        "{what}: {text:?}"
    );
}

#[test]
fn a_refusal_body_and_its_proxy_status_show_a_hostile_target_escaped() {
    let mut c = conn();
    c.handle_client_data(
        Duration::from_millis(1),
        b"GET http://a<script>\xc3\xa9/ HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    let reply = to_client(&mut c);
    let text = String::from_utf8(reply).expect("the answer is ASCII");
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        body.contains("\"http://a\\x3cscript\\x3e\\xc3\\xa9/\""),
        "{body}"
    );
    assert_inert("body", body, true);
    let proxy_status = head
        .lines()
        .find(|l| l.starts_with("Proxy-Status: "))
        .expect("a Proxy-Status field");
    assert_inert("Proxy-Status", proxy_status, false);
    let events: Vec<Event> = std::iter::from_fn(|| c.poll_event())
        .map(|(_, e)| e)
        .collect();
    let target = events.iter().find_map(|e| match e {
        Event::Request { target, .. } => Some(target.to_string()),
        _ => None,
    });
    assert_eq!(
        target.as_deref(),
        Some("http://a\\x3cscript\\x3e\\xc3\\xa9/")
    );
}

/// Every string in `value`, with where it is.
fn strings<'a>(path: String, value: &'a Value, out: &mut Vec<(String, &'a str)>) {
    match value {
        Value::String(s) => out.push((path, s)),
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                strings(format!("{path}[{i}]"), v, out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                strings(format!("{path}.{k}"), v, out);
            }
        }
        _ => {}
    }
}

/// The hostile pieces a scenario below puts in; none may reach a view raw.
fn assert_no_raw_peer_text(what: &str, json: &Value, wire: &[&str]) {
    let mut all = Vec::new();
    strings(String::new(), json, &mut all);
    for (path, s) in all {
        // The exact bytes on the wire are shown as bytes, not as text.
        if wire.iter().any(|w| path.ends_with(w)) {
            continue;
        }
        assert!(!s.contains('\x1b'), "{what} {path}: {s:?}");
        assert!(!s.contains('é'), "{what} {path}: {s:?}");
        assert!(!s.contains("<script"), "{what} {path}: {s:?}");
        // The SNI comes out lowercased; a raw line break may precede neither case.
        let lower = s.to_ascii_lowercase();
        assert!(
            !lower.contains("\nforged") && !lower.contains("\rforged"),
            "{what} {path}: {s:?}"
        );
    }
}

fn hostile_tunnel() -> Scenario {
    Scenario {
        request: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n".into(),
        dns: DnsScript::Resolves(vec![public()]),
        client_tls: ClientTls::Sni(HOSTILE_SNI.into()),
        client_end: ClientEnd::Closes,
        ..Scenario::default()
    }
}

fn hostile_forward() -> Scenario {
    Scenario {
        request:
            "GET http://example.com/?a&b HTTP/1.1\r\nHost: example.com\r\nX-Note: <script>é\r\n\r\n"
                .into(),
        dns: DnsScript::Resolves(vec![public()]),
        origin: OriginScript::Responds {
            status: 200,
            reason: "OK <script>&".into(),
            headers: vec![],
            body: String::new(),
        },
        client_end: ClientEnd::Closes,
        ..Scenario::default()
    }
}

#[test]
fn the_json_log_carries_hostile_text_escaped() {
    let t = simulate(&hostile_tunnel());
    let sni = t.events.iter().find_map(|e| match &e.event {
        Event::Tls { sni, .. } => sni.clone(),
        _ => None,
    });
    assert_eq!(sni.as_deref(), Some(HOSTILE_SNI_ESCAPED));
    let forward = simulate(&hostile_forward());
    for (name, events) in [("tunnel", &t.events), ("forward", &forward.events)] {
        for e in events {
            let line = serde_json::to_string(e).unwrap();
            // serde_json writes a raw control as \u00NN: none may be there.
            assert!(!line.contains("\\u00"), "{name}: {line}");
            assert_inert(name, &line, false);
        }
    }
    let record = serde_json::to_string(&forward.record).unwrap();
    assert!(
        record.contains("\"reason\":\"OK \\\\x3cscript\\\\x3e\\\\x26\""),
        "{record}"
    );
    assert_inert("record", &record, false);
}

#[test]
fn the_simulator_transcript_shows_hostile_text_escaped() {
    let wire = ["client_bytes", "upstream_bytes", "forwarded.head"];
    let t = simulate(&hostile_tunnel());
    assert_eq!(t.record.sni.as_deref(), Some(HOSTILE_SNI_ESCAPED));
    let json = serde_json::to_value(&t).unwrap();
    assert_no_raw_peer_text("tunnel", &json, &wire);
    let note = t
        .steps
        .iter()
        .find(|s| s.label == "TLS ClientHello")
        .unwrap();
    assert!(note.note.contains(HOSTILE_SNI_ESCAPED), "{}", note.note);

    let t = simulate(&hostile_forward());
    let answer = &t.answers[0];
    assert_eq!(answer.reason, "OK \\x3cscript\\x3e\\x26");
    let request = answer.request.as_ref().unwrap();
    assert_eq!(request.target, "http://example.com/?a\\x26b");
    assert!(request
        .fields
        .contains(&("X-Note".into(), "\\x3cscript\\x3e\\xe9".into())));
    let json = serde_json::to_value(&t).unwrap();
    assert_no_raw_peer_text("forward", &json, &wire);
}
