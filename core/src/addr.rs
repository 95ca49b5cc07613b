//! What kind of address a destination is, after unwrapping every way an IPv4
//! address can hide inside an IPv6 one: the IANA special-purpose registries
//! (RFC 6890 and successors) turned into one classification the policy reads.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

/// What an address reaches, as far as the policy cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AddrKind {
    /// A public unicast address.
    Global,
    /// A documentation range (RFC 5737, RFC 3849, RFC 9637): never routed,
    /// so no local service answers there; the simulator's examples use them.
    Documentation,
    /// This machine: 127/8, ::1.
    Loopback,
    /// `0.0.0.0/8`, `::`: "this host" to the system's stack.
    Unspecified,
    /// RFC 1918, unique local `fc00::/7`, site-local `fec0::/10`.
    Private,
    /// 169.254/16, fe80::/10.
    LinkLocal,
    /// Carrier-grade NAT space, 100.64/10 (RFC 6598).
    Shared,
    /// A cloud provider's instance-metadata service.
    Metadata,
    /// Multicast and broadcast.
    Multicast,
    /// Anything else the registries say is not globally reachable
    /// (benchmarking, reserved, protocol assignments, discard, …).
    Reserved,
}

impl AddrKind {
    /// Whether the address reaches this machine or a network only it (or its
    /// LAN) can reach: what a web page must not be able to steer a proxy to.
    pub fn is_internal(self) -> bool {
        !matches!(self, AddrKind::Global | AddrKind::Documentation)
    }
}

/// Cloud instance-metadata addresses: AWS, GCP and Azure (v4), AWS ECS,
/// Alibaba, AWS (v6).
const METADATA: [IpAddr; 4] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
];

/// The address a packet to `ip` really goes to: an IPv4 address embedded
/// in IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64
/// (`64:ff9b::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::`) form comes out as
/// that IPv4 address; anything else is returned as it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else {
        return ip;
    };
    let s = v6.segments();
    let embedded = |hi: u16, lo: u16| {
        IpAddr::V4(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        ))
    };
    match s {
        // IPv4-mapped.
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => embedded(hi, lo),
        // IPv4-compatible (deprecated); :: and ::1 are themselves.
        [0, 0, 0, 0, 0, 0, hi, lo] if (hi, lo) != (0, 0) && (hi, lo) != (0, 1) => embedded(hi, lo),
        // NAT64 well-known prefix (RFC 6052).
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => embedded(hi, lo),
        // 6to4 (RFC 3056): the IPv4 address follows the prefix.
        [0x2002, hi, lo, ..] => embedded(hi, lo),
        _ => ip,
    }
}

/// One key per client, for limits counted by client: its canonical
/// address, and for IPv6 its /64, since one host usually holds a whole /64
/// and could rotate through it.
pub fn client_key(client: IpAddr) -> IpAddr {
    match canonical(client) {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

/// The kind of `ip`, judged on its [`canonical`] form.
pub fn kind(ip: IpAddr) -> AddrKind {
    let ip = canonical(ip);
    if METADATA.contains(&ip) {
        return AddrKind::Metadata;
    }
    match ip {
        IpAddr::V4(v4) => kind_v4(v4),
        IpAddr::V6(v6) => kind_v6(v6),
    }
}

fn kind_v4(ip: Ipv4Addr) -> AddrKind {
    let o = ip.octets();
    let in_net = |net: [u8; 4], bits: u32| {
        let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
        u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
    };
    match o {
        [127, ..] => AddrKind::Loopback,
        [0, ..] => AddrKind::Unspecified,
        [10, ..] | [192, 168, ..] => AddrKind::Private,
        [172, b, ..] if (16..32).contains(&b) => AddrKind::Private,
        [169, 254, ..] => AddrKind::LinkLocal,
        [100, b, ..] if (64..128).contains(&b) => AddrKind::Shared,
        [224..=239, ..] | [255, 255, 255, 255] => AddrKind::Multicast,
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => AddrKind::Documentation,
        // 192.0.0.9 and .10 (PCP and TURN anycast) are the registry's globally reachable exceptions.
        [192, 0, 0, 9 | 10] => AddrKind::Global,
        [192, 0, 0, _] => AddrKind::Reserved,
        // Benchmarking (RFC 2544) and the old class E.
        _ if in_net([198, 18, 0, 0], 15) || in_net([240, 0, 0, 0], 4) => AddrKind::Reserved,
        _ => AddrKind::Global,
    }
}

fn kind_v6(ip: Ipv6Addr) -> AddrKind {
    let s = ip.segments();
    let in_net = |net: Ipv6Addr, bits: u32| {
        let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
        u128::from(ip) & mask == u128::from(net) & mask
    };
    let net = |a: u16, b: u16| Ipv6Addr::new(a, b, 0, 0, 0, 0, 0, 0);
    if ip.is_loopback() {
        AddrKind::Loopback
    } else if ip.is_unspecified() {
        AddrKind::Unspecified
    } else if s[0] & 0xff00 == 0xff00 {
        AddrKind::Multicast
    } else if s[0] & 0xfe00 == 0xfc00 || s[0] & 0xffc0 == 0xfec0 {
        AddrKind::Private
    } else if s[0] & 0xffc0 == 0xfe80 {
        AddrKind::LinkLocal
    } else if in_net(net(0x2001, 0xdb8), 32) || in_net(net(0x3fff, 0), 20) {
        AddrKind::Documentation
    } else if in_net(net(0x64, 0xff9b), 32) && s[2] == 1 {
        // 64:ff9b:1::/48: NAT64 for local use (RFC 8215).
        AddrKind::Reserved
    } else if in_net(net(0x100, 0), 64) || in_net(net(0x5f00, 0), 16) {
        // Discard-only (RFC 6666) and SRv6 SIDs (RFC 9602).
        AddrKind::Reserved
    } else if in_net(net(0x2001, 0), 23) && !ietf_global_exception(ip) {
        // IETF protocol assignments: only a few are globally reachable.
        AddrKind::Reserved
    } else {
        AddrKind::Global
    }
}

/// The globally reachable blocks inside 2001::/23 (the registry's exceptions).
fn ietf_global_exception(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    matches!(
        (s[1], s[2]),
        // 2001:1::1 and ::2 (PCP, TURN anycast), 2001:3::/32 (AMT),
        // 2001:4:112::/48 (AS112), 2001:20::/28 (ORCHIDv2).
        (1, _) | (3, _) | (4, 0x112) | (0x20..=0x2f, _)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(text: &str) -> AddrKind {
        kind(text.parse().unwrap())
    }

    #[test]
    fn embedded_ipv4_addresses_are_unwrapped() {
        for (wrapped, plain) in [
            ("::ffff:127.0.0.1", "127.0.0.1"),
            ("::127.0.0.1", "127.0.0.1"),
            ("::10.0.0.1", "10.0.0.1"),
            ("64:ff9b::192.168.1.1", "192.168.1.1"),
            ("2002:c0a8:0101::1", "192.168.1.1"),
            ("2002:7f00:0001::", "127.0.0.1"),
        ] {
            assert_eq!(
                canonical(wrapped.parse().unwrap()),
                plain.parse::<IpAddr>().unwrap(),
                "{wrapped}"
            );
        }
        assert_eq!(
            canonical("::1".parse().unwrap()),
            "::1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            canonical("::".parse().unwrap()),
            "::".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn the_special_purpose_registries() {
        use AddrKind::*;
        for (ip, want) in [
            ("127.0.0.1", Loopback),
            ("127.255.0.9", Loopback),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("10.1.2.3", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("169.254.1.1", LinkLocal),
            ("169.254.169.254", Metadata),
            ("100.100.100.200", Metadata),
            ("100.64.0.1", Shared),
            ("198.18.0.1", Reserved),
            ("198.19.255.255", Reserved),
            ("192.0.0.8", Reserved),
            ("192.0.0.9", Global),
            ("240.0.0.1", Reserved),
            ("255.255.255.255", Multicast),
            ("224.0.0.1", Multicast),
            ("192.0.2.10", Documentation),
            ("93.184.216.34", Global),
            ("172.32.0.1", Global),
            ("100.128.0.1", Global),
            ("::1", Loopback),
            ("::", Unspecified),
            ("::ffff:127.0.0.1", Loopback),
            ("::a00:1", Private),
            ("64:ff9b::a00:1", Private),
            ("64:ff9b::5db8:d822", Global),
            ("64:ff9b:1::1", Reserved),
            ("2002:0a00:0001::1", Private),
            ("fc00::1", Private),
            ("fd00::1", Private),
            ("fd00:ec2::254", Metadata),
            ("fec0::1", Private),
            ("fe80::1", LinkLocal),
            ("ff02::1", Multicast),
            ("100::1", Reserved),
            ("2001::1", Reserved),
            ("2001:4:112::1", Global),
            ("2001:db8::1", Documentation),
            ("2606:2800:220:1::1", Global),
        ] {
            assert_eq!(k(ip), want, "{ip}");
        }
    }

    #[test]
    fn internal_means_not_global_and_not_documentation() {
        assert!(!k("93.184.216.34").is_internal());
        assert!(!k("192.0.2.1").is_internal());
        assert!(k("198.18.0.1").is_internal());
        assert!(k("169.254.169.254").is_internal());
    }
}
