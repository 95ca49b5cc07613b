//! Policy checks: which hosts, ports and addresses may be reached, and who
//! may use the proxy.

use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;

use crate::head::{Field, RequestHead};
use crate::settings::{Credentials, Settings};
use crate::target::Host;

/// A host pattern: `example.com` matches that name only, `*.example.com`
/// matches its subdomains (not the name itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPattern {
    suffix: String,
    wildcard: bool,
}

impl HostPattern {
    /// Reads a pattern; `None` when it is not a host name or `*.` + host name.
    pub fn parse(text: &str) -> Option<HostPattern> {
        let (wildcard, name) = match text.trim().strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, text.trim()),
        };
        match crate::target::parse_host(name) {
            Ok(Host::Name(n)) => Some(HostPattern {
                suffix: n,
                wildcard,
            }),
            Ok(Host::Ip(ip)) if !wildcard => Some(HostPattern {
                suffix: ip.to_string(),
                wildcard,
            }),
            _ => None,
        }
    }

    /// Whether `host` (already lowercased, no trailing dot) matches.
    pub fn matches(&self, host: &str) -> bool {
        if self.wildcard {
            host.len() > self.suffix.len()
                && host.ends_with(&self.suffix)
                && host.as_bytes()[host.len() - self.suffix.len() - 1] == b'.'
        } else {
            host == self.suffix
        }
    }
}

/// Why the host or port of a target is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetDenied {
    /// The port is not in `allowed_ports`.
    Port(u16),
    /// The host matches a `deny_hosts` pattern.
    DeniedHost,
    /// `allow_hosts` is set and the host matches none of it.
    NotAllowedHost,
}

/// Checks a CONNECT target's port and any target's host against the settings.
pub fn check_target(
    settings: &Settings,
    host: &Host,
    port: Option<u16>,
) -> Result<(), TargetDenied> {
    if let Some(port) = port {
        if !settings.allowed_ports.contains(port) {
            return Err(TargetDenied::Port(port));
        }
    }
    let name = match host {
        Host::Name(n) => n.clone(),
        Host::Ip(ip) => ip.to_string(),
    };
    let matches_any = |list: &[String]| {
        list.iter()
            .filter_map(|p| HostPattern::parse(p))
            .any(|p| p.matches(&name))
    };
    if matches_any(&settings.deny_hosts) {
        return Err(TargetDenied::DeniedHost);
    }
    if !settings.allow_hosts.is_empty() && !matches_any(&settings.allow_hosts) {
        return Err(TargetDenied::NotAllowedHost);
    }
    Ok(())
}

/// Why a resolved address may not be dialled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressDenied {
    /// Loopback, private, link-local or similar, while those are not allowed.
    Internal,
    /// The address is Burrow's own listener: dialling it would loop.
    Loop,
}

/// Checks one resolved address; `listener` is where the client reached us.
pub fn check_address(
    settings: &Settings,
    addr: SocketAddr,
    listener: SocketAddr,
) -> Result<(), AddressDenied> {
    let ip = addr.ip().to_canonical();
    let own = listener.ip().to_canonical();
    let same_host =
        ip == own || (own.is_unspecified() && (ip.is_loopback() || ip.is_unspecified()));
    if addr.port() == listener.port() && (same_host || ip.is_unspecified()) {
        return Err(AddressDenied::Loop);
    }
    if is_internal(ip) && !settings.private_allowed() {
        return Err(AddressDenied::Internal);
    }
    Ok(())
}

/// Loopback, unspecified, private, shared (CGNAT), link-local, multicast or
/// broadcast: anything that is not a public unicast destination.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_unspecified()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// The result of checking Proxy-Authorization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthCheck {
    /// No authentication is configured, or the credentials match.
    Ok,
    /// The field is missing.
    Missing,
    /// The field is present but wrong or unreadable.
    Wrong,
}

/// Checks Basic Proxy-Authorization (RFC 7617) in constant time.
pub fn check_auth(expected: Option<&Credentials>, head: &RequestHead) -> AuthCheck {
    let Some(expected) = expected else {
        return AuthCheck::Ok;
    };
    let value = match head.single("proxy-authorization") {
        Field::One(v) => v,
        Field::Absent => return AuthCheck::Missing,
        Field::Repeated => return AuthCheck::Wrong,
    };
    let Some((scheme, token)) = value
        .split_at_checked(5)
        .filter(|(_, t)| t.first() == Some(&b' '))
    else {
        return AuthCheck::Wrong;
    };
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return AuthCheck::Wrong;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(token.trim_ascii()) else {
        return AuthCheck::Wrong;
    };
    let want = format!("{}:{}", expected.user, expected.password);
    if constant_time_eq(&decoded, want.as_bytes()) {
        AuthCheck::Ok
    } else {
        AuthCheck::Wrong
    }
}

/// Compares without an early exit, so timing does not reveal how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::{parse, HeadParse};

    fn head_with(auth: &str) -> RequestHead {
        let raw = format!("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n{auth}\r\n");
        match parse(raw.as_bytes(), &Default::default()) {
            HeadParse::Complete(h, _) => h,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn patterns() {
        let exact = HostPattern::parse("Example.com").unwrap();
        assert!(exact.matches("example.com") && !exact.matches("a.example.com"));
        let wild = HostPattern::parse("*.example.com").unwrap();
        assert!(wild.matches("a.example.com") && !wild.matches("example.com"));
        assert!(!wild.matches("badexample.com"));
        assert!(HostPattern::parse("*.").is_none());
        assert!(HostPattern::parse("a b").is_none());
        assert!(HostPattern::parse("192.0.2.1")
            .unwrap()
            .matches("192.0.2.1"));
    }

    #[test]
    fn target_checks() {
        let mut s = Settings::default();
        let h = Host::Name("mail.example.com".into());
        assert_eq!(check_target(&s, &h, Some(25)), Err(TargetDenied::Port(25)));
        assert_eq!(check_target(&s, &h, Some(443)), Ok(()));
        s.deny_hosts = vec!["*.example.com".into()];
        assert_eq!(
            check_target(&s, &h, Some(443)),
            Err(TargetDenied::DeniedHost)
        );
        s.deny_hosts.clear();
        s.allow_hosts = vec!["other.org".into()];
        assert_eq!(
            check_target(&s, &h, None),
            Err(TargetDenied::NotAllowedHost)
        );
    }

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1", "100.128.0.1"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn address_checks() {
        let lan = Settings {
            listen: "0.0.0.0:8080".parse().unwrap(),
            ..Settings::default()
        };
        let listener: SocketAddr = "192.0.2.5:8080".parse().unwrap();
        let check = |s: &Settings, a: &str| check_address(s, a.parse().unwrap(), listener);
        assert_eq!(check(&lan, "10.0.0.1:443"), Err(AddressDenied::Internal));
        assert_eq!(
            check(&lan, "[::ffff:127.0.0.1]:443"),
            Err(AddressDenied::Internal)
        );
        assert_eq!(check(&lan, "93.184.216.34:443"), Ok(()));
        assert_eq!(check(&lan, "192.0.2.5:8080"), Err(AddressDenied::Loop));
        let local = Settings::default();
        let me: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(
            check_address(&local, "127.0.0.1:443".parse().unwrap(), me),
            Ok(())
        );
        assert_eq!(
            check_address(&local, "127.0.0.1:8080".parse().unwrap(), me),
            Err(AddressDenied::Loop)
        );
        assert_eq!(
            check_address(&local, "0.0.0.0:8080".parse().unwrap(), me),
            Err(AddressDenied::Loop)
        );
    }

    #[test]
    fn basic_auth() {
        let creds = Credentials {
            user: "alice".into(),
            password: "s3cret".into(),
        };
        // base64("alice:s3cret") = YWxpY2U6czNjcmV0
        assert_eq!(check_auth(None, &head_with("")), AuthCheck::Ok);
        assert_eq!(check_auth(Some(&creds), &head_with("")), AuthCheck::Missing);
        for (field, want) in [
            (
                "Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n",
                AuthCheck::Ok,
            ),
            (
                "Proxy-Authorization: bAsIc YWxpY2U6czNjcmV0\r\n",
                AuthCheck::Ok,
            ),
            (
                "Proxy-Authorization: Basic YWxpY2U6czNjcmV1\r\n",
                AuthCheck::Wrong,
            ),
            ("Proxy-Authorization: Basic !!!\r\n", AuthCheck::Wrong),
            (
                "Proxy-Authorization: YWxpY2U6czNjcmV0\r\n",
                AuthCheck::Wrong,
            ),
            (
                "Proxy-Authorization: Bearer YWxpY2U6czNjcmV0\r\n",
                AuthCheck::Wrong,
            ),
        ] {
            assert_eq!(check_auth(Some(&creds), &head_with(field)), want, "{field}");
        }
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }
}
