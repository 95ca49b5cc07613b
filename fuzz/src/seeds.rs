//! The starting corpora, made from the conformance vectors (their request
//! bytes, origin bytes, settings and network outcomes) and a few TLS
//! ClientHellos, so every target starts from inputs that reach deep.

use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::Path;

use burrow_core::conformance::{self, fill_placeholders};
use burrow_core::framing::{request_framing, response_framing, BodyFraming, ResponseBody};
use burrow_core::head::{self, HeadParse};
use burrow_core::origin::{ResponseParse, ResponseReader};
use burrow_core::outcome::{ConnectFailure, DnsFailure, UpstreamFailure};
use burrow_core::settings::{HeadLimits, PrivateDestinations, Settings};
use burrow_core::simulate::{
    ClientEnd, ClientTls, ConnectScript, DnsScript, OriginScript, Scenario,
};
use burrow_core::tls;

use crate::conn::ops::Script;
use crate::conn::presets;

/// Writes every target's seeds under `dir/<target>/`, replacing what was
/// there; returns how many each got.
pub fn write_all(dir: &Path) -> io::Result<Vec<(&'static str, usize)>> {
    let vectors = conformance::all().map_err(io::Error::other)?;
    let scenarios: Vec<Scenario> = vectors.into_iter().map(|v| v.scenario).collect();
    let sets = [
        ("head", head_seeds(&scenarios)),
        ("target", target_seeds(&scenarios)),
        ("body", body_seeds(&scenarios)),
        ("tls", tls_seeds()),
        ("connection", connection_seeds(&scenarios)),
    ];
    let mut counts = Vec::new();
    for (target, mut seeds) in sets {
        seeds.sort();
        seeds.dedup();
        let to = dir.join(target);
        if to.exists() {
            fs::remove_dir_all(&to)?;
        }
        fs::create_dir_all(&to)?;
        for (i, seed) in seeds.iter().enumerate() {
            fs::write(to.join(format!("seed-{i:04}")), seed)?;
        }
        counts.push((target, seeds.len()));
    }
    Ok(counts)
}

/// A scenario's bytes: one char per byte, as the vectors write them.
fn bytes(text: &str) -> Vec<u8> {
    text.chars().map(|c| c as u32 as u8).collect()
}

/// The client's requests, placeholders filled for the default listener.
fn requests(s: &Scenario) -> Vec<Vec<u8>> {
    let at = s.listener.unwrap_or(s.settings.listen);
    std::iter::once(&s.request)
        .chain(&s.later)
        .map(|r| bytes(&fill_placeholders(r, at)))
        .collect()
}

fn origin_bytes(s: &Scenario) -> Option<Vec<u8>> {
    s.origin.response_bytes(&s.settings)
}

fn head_seeds(scenarios: &[Scenario]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for s in scenarios {
        // Mode (request or response), limits (default or small), no split sizes, bytes.
        for r in requests(s) {
            for limits in [0, 1] {
                out.push([&[0, limits, 0][..], &r].concat());
            }
        }
        if let Some(o) = origin_bytes(s) {
            out.push([&[1, 0, 0][..], &o].concat());
        }
    }
    out
}

fn target_seeds(scenarios: &[Scenario]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for s in scenarios {
        for r in requests(s) {
            let text = String::from_utf8_lossy(&r).into_owned();
            let mut words = text.split(' ');
            let (Some(method), Some(target)) = (words.next(), words.next()) else {
                continue;
            };
            let mode = if method == "CONNECT" { 0x80 } else { 1 };
            out.push([&[mode][..], target.as_bytes()].concat());
            if let Some(host) = text.lines().find_map(|l| l.strip_prefix("Host: ")) {
                out.push([&[0][..], host.as_bytes()].concat());
                out.push([&[2][..], host.as_bytes()].concat());
            }
        }
        let lists = [
            &s.settings.allow_hosts,
            &s.settings.deny_hosts,
            &s.settings.local_hosts,
        ];
        for pattern in lists.into_iter().flatten() {
            out.push([&[3][..], pattern.as_bytes()].concat());
        }
        out.push([&[3][..], s.settings.allowed_ports.to_string().as_bytes()].concat());
    }
    out
}

fn body_seeds(scenarios: &[Scenario]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    // Mode, length (u16 and a multiplier), no split sizes, then the framed body.
    let seed = |mode: u8, len: u64, body: &[u8]| {
        let n = u16::try_from(len).unwrap_or(u16::MAX).to_le_bytes();
        [&[mode, n[0], n[1], 0, 0][..], body].concat()
    };
    for s in scenarios {
        for r in requests(s) {
            let HeadParse::Complete(h, len) = head::parse(&r, &HeadLimits::default()) else {
                continue;
            };
            match request_framing(&h) {
                Ok(BodyFraming::Chunked) => out.push(seed(0, 0, &r[len..])),
                Ok(BodyFraming::Length(n)) => out.push(seed(2, n, &r[len..])),
                _ => {}
            }
        }
        let Some(o) = origin_bytes(s) else {
            continue;
        };
        let ResponseParse::Complete(h, len) =
            ResponseReader::new().advance(&o, &HeadLimits::default())
        else {
            continue;
        };
        match response_framing("GET", h.status, &h.headers) {
            Ok(ResponseBody::Chunked) => out.push(seed(4, 0, &o[len..])),
            Ok(ResponseBody::Length(n)) => out.push(seed(3, n, &o[len..])),
            Ok(ResponseBody::UntilClose) => out.push(seed(0x85, 0, &o[len..])),
            _ => {}
        }
    }
    out.push(seed(0, 0, b"5\r\nhello\r\n0\r\n\r\n"));
    out.push(seed(0, 0, b"3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\n"));
    out
}

fn tls_seeds() -> Vec<Vec<u8>> {
    let hellos = [
        tls::client_hello(Some("example.com")),
        tls::client_hello(Some("EXAMPLE.org.")),
        tls::client_hello(None),
        b"SSH-2.0-OpenSSH_9.6\r\n".to_vec(),
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
    ];
    let mut out = Vec::new();
    // Mode, split sizes, a host for the SNI check, then the bytes.
    for h in &hellos {
        out.push([&[0, 0, 11][..], b"example.com", h].concat());
        out.push([&[0, 3, 4, 40, 200, 0][..], h].concat());
        if h.len() > 5 {
            out.push([&[1, 2, 30, 90, 0][..], &h[5..]].concat());
        }
    }
    out.push([&[2, 0, 0][..], b"Example.COM."].concat());
    out.push([&[2, 2, 5, 9, 0][..], b"a.b"].concat());
    out
}

/// The preset whose settings are closest to a vector's.
fn preset_for(s: &Settings) -> u8 {
    let loopback = s.listen_is_loopback();
    let defaults = Settings::default();
    if s.auth.is_some() {
        if loopback {
            1
        } else {
            3
        }
    } else if !loopback {
        5
    } else if s.limits != defaults.limits || s.timeouts != defaults.timeouts {
        2
    } else if !s.allow_hosts.is_empty() || s.private_destinations == PrivateDestinations::Deny {
        4
    } else {
        0
    }
}

fn connection_seeds(scenarios: &[Scenario]) -> Vec<Vec<u8>> {
    let all = presets::all();
    let mut out = Vec::new();
    for s in scenarios {
        let preset = preset_for(&s.settings);
        let flags = (s.auth_failures.min(7) as u8) << 3;
        for p in [preset, 0] {
            let listener = all[usize::from(p)].listener;
            out.push(script(s, p, flags, listener));
        }
    }
    // A tunnel whose ClientHello comes in small pieces, then traffic both ways.
    let mut sc = Script::new(0, 0);
    sc.client(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        .dns(&["192.0.2.10".parse().unwrap_or(presets::LAN_ADDR.into())])
        .connect_ok();
    for piece in tls::client_hello(Some("example.com")).chunks(7) {
        sc.tunnel_up(piece);
    }
    sc.tunnel_down(4000).advance(300).tunnel_end();
    out.push(sc.into_bytes());
    out
}

/// A vector as a `connection` input under preset `p`.
fn script(s: &Scenario, p: u8, flags: u8, listener: SocketAddr) -> Vec<u8> {
    let mut sc = Script::new(p, flags);
    let at = |r: &str| bytes(&fill_placeholders(r, listener));
    sc.client(&at(&s.request));
    respond(&mut sc, s);
    for later in &s.later {
        sc.client(&at(later));
        respond(&mut sc, s);
    }
    let hello = match &s.client_tls {
        ClientTls::Nothing => None,
        ClientTls::MatchingSni => Some(tls::client_hello(Some("example.com"))),
        ClientTls::Sni(name) => Some(tls::client_hello(Some(name))),
        ClientTls::NoSni => Some(tls::client_hello(None)),
        ClientTls::NotTls => Some(b"SSH-2.0-OpenSSH_9.6\r\n".to_vec()),
    };
    if let Some(h) = hello {
        sc.tunnel_up(&h).tunnel_down(512);
    }
    match s.client_end {
        ClientEnd::Closes => {
            sc.client_eof().tunnel_end();
        }
        ClientEnd::GoesIdle => {
            sc.timeout();
        }
        ClientEnd::KeepsOpen => {}
    }
    sc.into_bytes()
}

/// DNS, the connect and the origin, as the vector scripts them.
fn respond(sc: &mut Script, s: &Scenario) {
    match &s.dns {
        DnsScript::Resolves(addrs) => sc.dns(addrs),
        DnsScript::Fails(DnsFailure::Timeout) => sc.timeout(),
        DnsScript::Fails(DnsFailure::NoSuchHost) => sc.dns_fail(0),
        DnsScript::Fails(DnsFailure::ServerFailure) => sc.dns_fail(1),
        DnsScript::Fails(DnsFailure::Busy) => sc.dns_fail(3),
    };
    for _ in 0..burrow_core::connection::MAX_ADDRESSES_TRIED {
        match s.connect {
            ConnectScript::Connects => {
                sc.connect_ok();
                break;
            }
            ConnectScript::Fails(ConnectFailure::TimedOut) => sc.timeout(),
            ConnectScript::Fails(ConnectFailure::Refused) => sc.connect_fail(0),
            ConnectScript::Fails(ConnectFailure::Unreachable) => sc.connect_fail(1),
            ConnectScript::Fails(ConnectFailure::Other) => sc.connect_fail(3),
        };
    }
    match (&s.origin, origin_bytes(s)) {
        (_, Some(b)) => {
            sc.upstream(&b);
            if s.origin.closes_after() {
                sc.upstream_end();
            }
        }
        (OriginScript::Fails(UpstreamFailure::Timeout), None) => {
            sc.timeout();
        }
        _ => {
            sc.upstream_end();
        }
    }
}
