//! Host patterns as users write them in `allow_hosts`, `deny_hosts` and
//! `local_hosts`: a name, `*.` and a name, an IP address or a CIDR network.
//!
//! Addresses are compared in their canonical form ([`crate::addr::canonical`]),
//! so `::ffff:127.0.0.1`, `::127.0.0.1`, `64:ff9b::7f00:1` and
//! `2002:7f00:1::` all match the pattern `127.0.0.1` and the network `127.0.0.0/8`.

use std::net::IpAddr;

use crate::addr::canonical;
use crate::target::{parse_host, Host};

/// One host pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostPattern {
    /// `example.com`: that name only.
    Name(String),
    /// `*.example.com`: every name below it, not the name itself.
    Subdomains(String),
    /// `192.0.2.1`, `2001:db8::1` or `[2001:db8::1]`: that address.
    Ip(IpAddr),
    /// `10.0.0.0/8`, `fd00::/8`: every address in the network.
    Net {
        /// The network's first address, canonical, host bits cleared.
        base: IpAddr,
        /// The prefix length, in the family of `base`.
        bits: u8,
    },
}

impl HostPattern {
    /// Reads a pattern; `None` when it is none of the four forms.
    pub fn parse(text: &str) -> Option<HostPattern> {
        let text = text.trim();
        if let Some((ip, bits)) = text.split_once('/') {
            return parse_net(ip, bits);
        }
        if let Some(rest) = text.strip_prefix("*.") {
            return match parse_host(rest) {
                Ok(Host::Name(n)) => Some(HostPattern::Subdomains(n)),
                _ => None,
            };
        }
        let bare = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Some(HostPattern::Ip(canonical(ip)));
        }
        match parse_host(text) {
            Ok(Host::Name(n)) => Some(HostPattern::Name(n)),
            Ok(Host::Ip(ip)) => Some(HostPattern::Ip(canonical(ip))),
            Err(_) => None,
        }
    }

    /// Whether the name `host` (lowercased, no trailing dot) matches.
    /// Address patterns never match a name.
    pub fn matches_name(&self, host: &str) -> bool {
        match self {
            HostPattern::Name(name) => host == name,
            HostPattern::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            HostPattern::Ip(_) | HostPattern::Net { .. } => false,
        }
    }

    /// Whether the address `ip` matches, compared in canonical form.
    /// Name patterns never match an address.
    pub fn matches_ip(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match *self {
            HostPattern::Ip(want) => ip == want,
            HostPattern::Net { base, bits } => in_network(ip, base, bits),
            HostPattern::Name(_) | HostPattern::Subdomains(_) => false,
        }
    }

    /// Whether the host as the client named it matches: by name, or by
    /// address for an IP literal.
    pub fn matches_host(&self, host: &Host) -> bool {
        match host {
            Host::Name(name) => self.matches_name(name),
            Host::Ip(ip) => self.matches_ip(*ip),
        }
    }

    /// Whether this pattern names addresses rather than names.
    pub fn is_address(&self) -> bool {
        matches!(self, HostPattern::Ip(_) | HostPattern::Net { .. })
    }
}

fn parse_net(ip: &str, bits: &str) -> Option<HostPattern> {
    let ip: IpAddr = ip
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    if bits.is_empty() || bits.len() > 3 || !bits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let bits: u8 = bits.parse().ok()?;
    let (ip, bits) = match (ip, canonical(ip)) {
        // A mapped or embedded IPv4 network (`::ffff:10.0.0.0/104`) is
        // that IPv4 network: the prefix loses the 96 bits in front.
        (IpAddr::V6(_), v4 @ IpAddr::V4(_)) if bits >= 96 => (v4, bits - 96),
        (IpAddr::V6(_), IpAddr::V4(_)) => return None,
        (_, same) => (same, bits),
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if bits > max {
        return None;
    }
    Some(HostPattern::Net {
        base: masked(ip, bits),
        bits,
    })
}

fn masked(ip: IpAddr, bits: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

/// Whether `ip` lies in `base/bits`; families never mix (both canonical).
pub(crate) fn in_network(ip: IpAddr, base: IpAddr, bits: u8) -> bool {
    ip.is_ipv4() == base.is_ipv4() && masked(ip, bits) == base
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> HostPattern {
        HostPattern::parse(text).unwrap_or_else(|| panic!("{text} should parse"))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn names_and_subdomains() {
        let exact = p("Example.com");
        assert!(exact.matches_name("example.com") && !exact.matches_name("a.example.com"));
        let wild = p("*.example.com");
        assert!(wild.matches_name("a.example.com") && wild.matches_name("b.a.example.com"));
        assert!(!wild.matches_name("example.com") && !wild.matches_name("badexample.com"));
        assert!(!wild.matches_name(".example.com"));
        for bad in [
            "*.",
            "a b",
            "",
            "*.10.0.0.1",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "x/8",
        ] {
            assert!(HostPattern::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn addresses_match_in_canonical_form() {
        let lo = p("127.0.0.1");
        for form in [
            "127.0.0.1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
        ] {
            assert!(lo.matches_ip(ip(form)), "{form}");
        }
        assert!(!lo.matches_ip(ip("127.0.0.2")));
        assert!(!lo.matches_name("127.0.0.1"));
        assert_eq!(p("[::1]"), HostPattern::Ip(ip("::1")));
        assert_eq!(p("::ffff:10.0.0.1"), HostPattern::Ip(ip("10.0.0.1")));
    }

    #[test]
    fn networks() {
        let ten = p("10.0.0.0/8");
        assert!(ten.matches_ip(ip("10.255.1.2")) && ten.matches_ip(ip("::ffff:10.9.9.9")));
        assert!(!ten.matches_ip(ip("11.0.0.1")));
        assert_eq!(p("10.1.2.3/8"), ten, "host bits are cleared");
        assert_eq!(p("::ffff:10.0.0.0/104"), ten);
        let ula = p("fd00::/8");
        assert!(ula.matches_ip(ip("fd12::1")) && !ula.matches_ip(ip("fe80::1")));
        assert!(p("0.0.0.0/0").matches_ip(ip("203.0.113.9")));
        assert!(
            !p("0.0.0.0/0").matches_ip(ip("2001:db8::1")),
            "families never mix"
        );
        assert!(p("::/0").matches_ip(ip("2001:db8::1")));
    }
}
