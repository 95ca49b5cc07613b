//! The settings the `connection` target runs under, and what each promises
//! about where a connection may go, written out independently of the core's
//! policy code so that a slip there shows up here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use burrow_core::connection::READ_SIZE;
use burrow_core::ports::PortList;
use burrow_core::settings::{Credentials, HeadLimits, PrivateDestinations, Settings, Timeouts};
use burrow_core::tls::MAX_PEEK;

/// One preset: settings, where clients reach it, and this machine's addresses.
#[derive(Clone, Debug)]
pub struct Preset {
    /// A short name, for messages.
    pub name: &'static str,
    /// The settings.
    pub settings: Settings,
    /// The address the client reached.
    pub listener: SocketAddr,
    /// This machine's interface addresses.
    pub host_addrs: Vec<IpAddr>,
    /// Names that may reach internal addresses besides those local by definition.
    pub local_names: &'static [&'static str],
    /// Networks (v4 base, prefix) listed in `local_hosts`.
    pub local_nets: &'static [(Ipv4Addr, u8)],
    /// Whether the metadata address is listed in `local_hosts`.
    pub metadata_listed: bool,
    /// Networks in `deny_hosts`; never dialled.
    pub denied_nets: &'static [(Ipv4Addr, u8)],
    /// Name suffixes in `deny_hosts` (`*.x`): never dialled.
    pub denied_suffixes: &'static [&'static str],
    /// When `allow_hosts` is set: the names, suffixes and networks it allows.
    pub allowed: Option<Allowed>,
}

/// What an `allow_hosts` list lets through.
#[derive(Clone, Copy, Debug)]
pub struct Allowed {
    /// Exact names.
    pub names: &'static [&'static str],
    /// `*.` suffixes.
    pub suffixes: &'static [&'static str],
    /// Networks.
    pub nets: &'static [(Ipv4Addr, u8)],
}

/// The user name and password of the presets with authentication (the
/// vectors' own, so their requests authenticate here too).
pub const USER: &str = "alice";
/// See [`USER`].
pub const PASSWORD: &str = "s3cret";

fn ports(text: &str) -> PortList {
    PortList::from_str(text).unwrap_or_else(|e| panic!("preset port list {text:?}: {e}"))
}

fn auth() -> Option<Credentials> {
    Some(Credentials {
        user: USER.into(),
        password: PASSWORD.into(),
    })
}

const NET_10: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 0, 0, 0), 8);
const TEST_NET_2: (Ipv4Addr, u8) = (Ipv4Addr::new(198, 51, 100, 0), 24);
const TEST_NET_3: (Ipv4Addr, u8) = (Ipv4Addr::new(203, 0, 113, 0), 24);
const LOOPBACK: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
/// This machine's address on the LAN in the shared presets.
pub const LAN_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 99);

/// Every preset; the first input byte picks one.
pub fn all() -> Vec<Preset> {
    let base = Preset {
        name: "default",
        settings: Settings {
            local_hosts: vec![
                "dev.example.com".into(),
                "10.0.0.0/8".into(),
                "169.254.169.254".into(),
            ],
            ..Settings::default()
        },
        listener: LOOPBACK,
        host_addrs: vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V4(LAN_ADDR)],
        local_names: &["dev.example.com"],
        local_nets: &[NET_10],
        metadata_listed: true,
        denied_nets: &[],
        denied_suffixes: &[],
        allowed: None,
    };
    let small = Settings {
        limits: HeadLimits {
            request_line: 1024,
            headers: 16,
            head_bytes: 1024,
            response_headers: 16,
            response_head_bytes: 1024,
        },
        timeouts: Timeouts {
            request_head: 1.0,
            keep_alive: 2.0,
            dns: 1.0,
            connect: 1.0,
            tunnel_idle: 3.0,
            upstream_response: 2.0,
            shutdown_grace: 1.0,
        },
        ..Settings::default()
    };
    let mut auth_settings = Settings {
        auth: auth(),
        ..Settings::default()
    };
    auth_settings.auth_throttle.failures = 3;
    auth_settings.auth_throttle.block = 5.0;
    let lan = Settings {
        listen: "0.0.0.0:8080".parse().unwrap_or(LOOPBACK),
        auth: auth(),
        allowed_ports: ports("443,8443,8080"),
        deny_hosts: vec!["*.blocked.example".into(), "203.0.113.0/24".into()],
        ..Settings::default()
    };
    let strict = Settings {
        allow_hosts: vec![
            "example.com".into(),
            "*.example.org".into(),
            "198.51.100.0/24".into(),
        ],
        private_destinations: PrivateDestinations::Deny,
        allowed_ports: ports("443"),
        ..Settings::default()
    };
    let open = Settings {
        listen: "0.0.0.0:3128".parse().unwrap_or(LOOPBACK),
        allow_open_lan: true,
        private_destinations: PrivateDestinations::Allow,
        allowed_ports: ports("1-65535"),
        forward_blocked_ports: PortList::none(),
        ..Settings::default()
    };
    let presets = vec![
        base.clone(),
        Preset {
            name: "auth",
            settings: auth_settings,
            local_names: &[],
            local_nets: &[],
            metadata_listed: false,
            ..base.clone()
        },
        Preset {
            name: "small",
            settings: small,
            local_names: &[],
            local_nets: &[],
            metadata_listed: false,
            ..base.clone()
        },
        Preset {
            name: "lan",
            settings: lan,
            listener: SocketAddr::new(IpAddr::V4(LAN_ADDR), 8080),
            host_addrs: vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V4(LAN_ADDR),
                IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
            ],
            local_names: &[],
            local_nets: &[],
            metadata_listed: false,
            denied_nets: &[TEST_NET_3],
            denied_suffixes: &[".blocked.example"],
            ..base.clone()
        },
        Preset {
            name: "strict",
            settings: strict,
            local_names: &[],
            local_nets: &[],
            metadata_listed: false,
            allowed: Some(Allowed {
                names: &["example.com"],
                suffixes: &[".example.org"],
                nets: &[TEST_NET_2],
            }),
            ..base.clone()
        },
        Preset {
            name: "open",
            settings: open,
            listener: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 3128),
            local_names: &[],
            local_nets: &[],
            metadata_listed: false,
            ..base
        },
    ];
    for p in &presets {
        if let Err(e) = p.settings.validate() {
            panic!("preset {} is invalid: {e}", p.name);
        }
    }
    presets
}

/// The most bytes a connection may hold between inputs under `s`: the
/// unread client bytes, a parsed head and the request made from it, the
/// origin's head so far, the tunnel's peek, and a little for the rest.
/// Each buffer may be up to twice its length in capacity.
pub fn memory_bound(s: &Settings) -> usize {
    let l = &s.limits;
    let inbox = 2 * (l.head_bytes + READ_SIZE);
    let request = 4 * l.head_bytes + 256 * l.headers;
    let origin = 2 * (l.response_head_bytes + READ_SIZE) + 2 * l.response_head_bytes;
    inbox + request + origin + 256 * l.response_headers + 2 * MAX_PEEK + 64 * 1024
}

/// The IPv4 address inside `ip` (mapped, compatible, NAT64, 6to4), or `ip`.
pub fn unwrap_v4(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else {
        return ip;
    };
    let s = v6.segments();
    let o = v6.octets();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    let v4 = if s[..5] == [0; 5] && (s[5] == 0xffff || (s[5] == 0 && s[6] != 0)) {
        Some(tail)
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        Some(tail)
    } else if s[0] == 0x2002 {
        Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]))
    } else {
        None
    };
    v4.map_or(ip, IpAddr::V4)
}

/// Whether `ip` (unwrapped) is in the IPv4 network `base/bits`.
pub fn in_net(ip: IpAddr, (base, bits): (Ipv4Addr, u8)) -> bool {
    let IpAddr::V4(v4) = unwrap_v4(ip) else {
        return false;
    };
    let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
    u32::from(v4) & mask == u32::from(base) & mask
}

/// Addresses that certainly reach this machine or a network only it can:
/// a short list on purpose, so it never disagrees with the core's wider one
/// in the other direction.
pub fn certainly_internal(ip: IpAddr, host_addrs: &[IpAddr]) -> bool {
    let ip = unwrap_v4(ip);
    if host_addrs.iter().any(|a| unwrap_v4(*a) == ip) {
        return true;
    }
    match ip {
        IpAddr::V4(v4) => {
            let nets: [(Ipv4Addr, u8); 9] = [
                (Ipv4Addr::new(0, 0, 0, 0), 8),
                (Ipv4Addr::new(10, 0, 0, 0), 8),
                (Ipv4Addr::new(100, 64, 0, 0), 10),
                (Ipv4Addr::new(127, 0, 0, 0), 8),
                (Ipv4Addr::new(169, 254, 0, 0), 16),
                (Ipv4Addr::new(172, 16, 0, 0), 12),
                (Ipv4Addr::new(192, 168, 0, 0), 16),
                (Ipv4Addr::new(224, 0, 0, 0), 4),
                (Ipv4Addr::new(240, 0, 0, 0), 4),
            ];
            nets.iter().any(|n| in_net(IpAddr::V4(v4), *n))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6 == Ipv6Addr::UNSPECIFIED
                || v6 == Ipv6Addr::LOCALHOST
                || first & 0xfe00 == 0xfc00
                || first & 0xffc0 == 0xfe80
                || first & 0xffc0 == 0xfec0
                || first & 0xff00 == 0xff00
        }
    }
}

/// The cloud metadata addresses the core knows.
pub fn is_metadata(ip: IpAddr) -> bool {
    let metadata: [IpAddr; 4] = [
        IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
        IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2)),
        IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    ];
    metadata.contains(&unwrap_v4(ip))
}

/// Names that only mean something locally (RFC 6761, 6762, 8375 and the
/// customary `internal` and `lan`), which may resolve to internal addresses.
pub fn local_by_definition(name: &str) -> bool {
    !name.contains('.')
        || name == "home.arpa"
        || ["localhost", "local", "home.arpa", "internal", "lan"]
            .iter()
            .any(|p| name.ends_with(&format!(".{p}")))
}
