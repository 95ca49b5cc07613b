//! Which requests get the PAC file, and the exact response: the one answer
//! Burrow gives as an origin server rather than as a proxy.

use std::net::{IpAddr, SocketAddr};

use crate::head::{Field, RequestHead, Version};
use crate::policy::{local_by_definition, HostPattern};
use crate::response::{After, Response, Rule};
use crate::settings::Settings;
use crate::target::{parse_authority, parse_host, Host};

use super::{local_address, script, PATH};

/// The rule behind the PAC answer.
pub const RULE: Rule = Rule {
    id: "pac-served",
    why: "An origin-form GET or HEAD of /proxy.pac is the one request Burrow answers as a web server: the proxy auto-config file that points browsers at Burrow, with DIRECT as the fallback. It is served without proxy authentication, as browsers fetch it without credentials.",
    spec: "Burrow's PAC file; RFC 9110 §9.3.1, §9.3.2; RFC 9112 §3.2.1",
};

/// The media type browsers and operating systems expect for a PAC file.
pub const CONTENT_TYPE: &str = "application/x-ns-proxy-autoconfig";

/// How much of the PAC file a request asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wanted {
    /// `GET`: the head and the script.
    Body,
    /// `HEAD`: the head alone, with the script's length.
    HeadOnly,
}

/// Whether `head` asks for the PAC file: an origin-form `GET` or `HEAD` of
/// [`PATH`]. A query is ignored, since people add one to get past a cache.
pub fn wanted(head: &RequestHead) -> Option<Wanted> {
    let wanted = match head.method.as_str() {
        "GET" => Wanted::Body,
        "HEAD" => Wanted::HeadOnly,
        _ => return None,
    };
    let path = head
        .target
        .split_once('?')
        .map_or(head.target.as_str(), |(p, _)| p);
    (path == PATH).then_some(wanted)
}

/// Whether the Host field names this machine or its network: an address, a
/// name that is local by definition (`localhost`, `nas`, `*.lan`, …), or one
/// listed in `local_hosts`; or there is none (HTTP/1.0). A public name is
/// refused, so a web page that points its own name at Burrow (DNS
/// rebinding) cannot read the file as same-origin.
pub fn host_is_local(head: &RequestHead, settings: &Settings) -> bool {
    let value = match head.single("host") {
        Field::One(value) => value,
        Field::Absent => return true,
        Field::Repeated => return false,
    };
    let Ok(text) = std::str::from_utf8(value) else {
        return false;
    };
    let host = match parse_authority(text) {
        Ok(authority) => authority.host,
        Err(_) => {
            let bare = text.trim_start_matches('[').trim_end_matches(']');
            match bare.parse::<IpAddr>() {
                Ok(ip) => Host::Ip(ip),
                Err(_) => match parse_host(text) {
                    Ok(host) => host,
                    Err(_) => return false,
                },
            }
        }
    };
    match host {
        Host::Ip(_) => true,
        Host::Name(name) => {
            local_by_definition(&name)
                || settings
                    .local_hosts
                    .iter()
                    .filter_map(|p| HostPattern::parse(p))
                    .any(|p| p.matches_name(&name))
        }
    }
}

/// The address the PAC file names for a client that reached Burrow at
/// `listener`: the accepted socket's own address, so a LAN client gets the
/// LAN address and a local one loopback. An IPv4 address seen through a
/// dual-stack socket is written as IPv4, and a wildcard (the simulator's
/// `0.0.0.0`) as loopback.
pub fn proxy_address(listener: SocketAddr) -> SocketAddr {
    let ip = match listener.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    local_address(SocketAddr::new(ip, listener.port()))
}

/// The PAC response for a request of `version` that reached `listener`.
/// `keep_alive` says whether the connection stays open afterwards (the
/// caller decides, as for a forwarded response); `Cache-Control: no-store`
/// because the address inside changes with the listener and the network,
/// and a stale copy would send browsers to a dead port.
pub fn response(
    version: Version,
    listener: SocketAddr,
    settings: &Settings,
    wanted: Wanted,
    keep_alive: bool,
) -> Response {
    let body = script(proxy_address(listener), &settings.pac_bypass);
    let mut head = format!(
        "{} 200 OK\r\n\
         Content-Type: {CONTENT_TYPE}\r\n\
         Content-Length: {}\r\n\
         Cache-Control: no-store\r\n\
         X-Content-Type-Options: nosniff\r\n",
        version.as_str(),
        body.len()
    );
    if !keep_alive {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    if wanted == Wanted::Body {
        bytes.extend_from_slice(body.as_bytes());
    }
    Response {
        status: 200,
        reason: "OK",
        error: None,
        details: None,
        rule: RULE,
        after: if keep_alive {
            After::KeepAlive
        } else {
            After::Close
        },
        proxy_status_field: String::new(),
        proxy_status: Vec::new(),
        bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::Header;

    fn head(method: &str, target: &str, host: Option<&str>) -> RequestHead {
        RequestHead {
            method: method.into(),
            target: target.into(),
            version: Version::Http11,
            headers: host
                .map(|h| Header {
                    name: "Host".into(),
                    value: h.as_bytes().to_vec(),
                })
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn only_get_and_head_of_the_path() {
        assert_eq!(wanted(&head("GET", "/proxy.pac", None)), Some(Wanted::Body));
        assert_eq!(
            wanted(&head("HEAD", "/proxy.pac?t=1", None)),
            Some(Wanted::HeadOnly)
        );
        for (m, t) in [
            ("POST", "/proxy.pac"),
            ("get", "/proxy.pac"),
            ("GET", "/proxy.pac/"),
            ("GET", "/wpad.dat"),
            ("GET", "http://127.0.0.1:8080/proxy.pac"),
        ] {
            assert_eq!(wanted(&head(m, t, None)), None, "{m} {t}");
        }
    }

    #[test]
    fn a_public_host_name_is_refused() {
        let s = Settings::default();
        for local in [
            "127.0.0.1:8080",
            "[::1]:8080",
            "localhost:8080",
            "nas",
            "box.lan:8080",
            "192.168.1.2",
        ] {
            assert!(
                host_is_local(&head("GET", PATH, Some(local)), &s),
                "{local}"
            );
        }
        assert!(host_is_local(&head("GET", PATH, None), &s));
        assert!(!host_is_local(
            &head("GET", PATH, Some("evil.example:8080")),
            &s
        ));
        let listed = Settings {
            local_hosts: vec!["*.corp.example".into()],
            ..Settings::default()
        };
        assert!(host_is_local(
            &head("GET", PATH, Some("proxy.corp.example:8080")),
            &listed
        ));
    }

    #[test]
    fn the_address_is_the_one_reached() {
        let at = |s: &str| proxy_address(s.parse().unwrap()).to_string();
        assert_eq!(at("192.168.1.5:8080"), "192.168.1.5:8080");
        assert_eq!(at("[::ffff:10.0.0.2]:8080"), "10.0.0.2:8080");
        assert_eq!(at("0.0.0.0:8080"), "127.0.0.1:8080");
    }

    #[test]
    fn head_only_has_the_length_and_no_body() {
        let s = Settings::default();
        let listener = "127.0.0.1:8080".parse().unwrap();
        let get = response(Version::Http11, listener, &s, Wanted::Body, true);
        let only = response(Version::Http11, listener, &s, Wanted::HeadOnly, true);
        let text = String::from_utf8(get.bytes.clone()).unwrap();
        let (head_text, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head_text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(head_text.contains(&format!("Content-Length: {}\r\n", body.len())));
        assert!(head_text.contains("Content-Type: application/x-ns-proxy-autoconfig\r\n"));
        assert!(!head_text.contains("Connection: close"));
        assert_eq!(only.bytes, format!("{head_text}\r\n\r\n").into_bytes());
        let closing = response(Version::Http10, listener, &s, Wanted::Body, false);
        assert!(closing.bytes.starts_with(b"HTTP/1.0 200 OK\r\n"));
        assert_eq!(closing.after, After::Close);
    }
}
