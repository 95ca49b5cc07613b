//! The check on each resolved address before it is dialled: the last word
//! on where a request may go.
//!
//! A web page can choose any name, and the name's owner chooses what it
//! resolves to, so a name alone says nothing about where a connection
//! lands. The browser never sees the address, so its own defences against
//! DNS rebinding and its Private Network Access rules do not apply through
//! a proxy: the proxy has to apply them. The rules follow dnsmasq's
//! `--stop-dns-rebind` (answers in private space are refused, except for
//! the domains given with `--rebind-domain-ok`) and the Fetch standard's
//! address spaces.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::addr::{canonical, kind, AddrKind};
use crate::settings::Settings;
use crate::target::Host;

use super::pattern::HostPattern;

/// Why a resolved address may not be dialled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressDenied {
    /// The address is Burrow's own listener: dialling it would loop.
    Loop,
    /// The address matches a `deny_hosts` entry.
    DeniedHost,
    /// `allow_hosts` is set and neither the name nor the address is in it.
    NotAllowedHost,
    /// A cloud instance-metadata address not listed in `local_hosts`.
    Metadata,
    /// An internal address while `private_destinations` does not allow
    /// internal destinations (always with `deny`; with `auto`, when the
    /// proxy is shared beyond this machine).
    Internal,
    /// A name that is not local by definition, nor listed in
    /// `local_hosts`, resolved to an internal address: DNS rebinding.
    Rebinding,
}

impl AddressDenied {
    /// The rule, in words, for the simulator's steps and the logs.
    pub fn describe(self) -> &'static str {
        match self {
            AddressDenied::Loop => "The address is Burrow's own listener: dialling it would loop.",
            AddressDenied::DeniedHost => "The address is in deny_hosts.",
            AddressDenied::NotAllowedHost => "allow_hosts is set, and neither the name nor this address is in it.",
            AddressDenied::Metadata => "The address is a cloud instance-metadata service, reached only when listed in local_hosts.",
            AddressDenied::Internal => "The address is on this machine or a private network, which private_destinations does not allow here.",
            AddressDenied::Rebinding => "A public name resolved to an address on this machine or its network: DNS rebinding. Only local names (localhost, *.local, …) and local_hosts may.",
        }
    }
}

/// Everything the check needs to know besides the settings.
#[derive(Clone, Copy, Debug)]
pub struct Destination<'a> {
    /// The host as the client named it.
    pub host: &'a Host,
    /// One address it resolved to (the literal itself for an IP host).
    pub addr: SocketAddr,
    /// Where the client reached Burrow.
    pub listener: SocketAddr,
    /// This machine's own interface addresses.
    pub host_addrs: &'a [IpAddr],
}

/// Checks one resolved address. The name-only checks (`check_target`) have
/// passed already; `allowed_by_name` says whether the name matched `allow_hosts`.
pub fn check_address(
    settings: &Settings,
    dest: Destination<'_>,
    allowed_by_name: bool,
) -> Result<(), AddressDenied> {
    let ip = canonical(dest.addr.ip());
    let own = dest.host_addrs.iter().any(|a| canonical(*a) == ip);
    if loops(settings, dest, ip, own) {
        return Err(AddressDenied::Loop);
    }
    let patterns = |list: &[String]| -> Vec<HostPattern> {
        list.iter().filter_map(|p| HostPattern::parse(p)).collect()
    };
    if patterns(&settings.deny_hosts)
        .iter()
        .any(|p| p.matches_ip(ip))
    {
        return Err(AddressDenied::DeniedHost);
    }
    if !settings.allow_hosts.is_empty()
        && !allowed_by_name
        && !patterns(&settings.allow_hosts)
            .iter()
            .any(|p| p.matches_ip(ip))
    {
        return Err(AddressDenied::NotAllowedHost);
    }
    let local = patterns(&settings.local_hosts);
    let kind = kind(ip);
    if kind == AddrKind::Metadata {
        return if local.iter().any(|p| p.matches_ip(ip)) {
            Ok(())
        } else {
            Err(AddressDenied::Metadata)
        };
    }
    // The machine's own public addresses reach its services as surely as
    // loopback does.
    if !(kind.is_internal() || own) {
        return Ok(());
    }
    if !settings.private_allowed() {
        return Err(AddressDenied::Internal);
    }
    match dest.host {
        // The user (or page) typed the address: nothing was rebound.
        Host::Ip(_) => Ok(()),
        Host::Name(name) => {
            let listed = local
                .iter()
                .any(|p| p.matches_name(name) || p.matches_ip(ip));
            if local_by_definition(name) || listed {
                Ok(())
            } else {
                Err(AddressDenied::Rebinding)
            }
        }
    }
}

/// Whether dialling `ip` at that port would reach Burrow's listener: the
/// address the client used, and when Burrow listens on every interface
/// (`0.0.0.0`, `[::]`), any address of this machine.
fn loops(settings: &Settings, dest: Destination<'_>, ip: IpAddr, own: bool) -> bool {
    if dest.addr.port() != dest.listener.port() {
        return false;
    }
    let every_interface = canonical(settings.listen.ip()).is_unspecified()
        || canonical(dest.listener.ip()).is_unspecified();
    ip == canonical(dest.listener.ip())
        || ip.is_unspecified()
        || (every_interface && (ip.is_loopback() || own))
}

/// The names under which every name is local by definition; the PAC file
/// sends them DIRECT too.
pub const LOCAL_PARENTS: [&str; 5] = ["localhost", "local", "home.arpa", "internal", "lan"];

/// Names that only ever mean something on this machine or its network, so
/// resolving to an internal address is what they are for: single-label
/// names, `localhost` (RFC 6761) and names under `localhost`, `local`
/// (mDNS, RFC 6762), `home.arpa` (RFC 8375), `internal` and `lan`.
pub fn local_by_definition(name: &str) -> bool {
    !name.contains('.')
        || name == "home.arpa"
        || LOCAL_PARENTS.iter().any(|parent| {
            name.strip_suffix(parent)
                .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::PrivateDestinations;

    fn settings() -> Settings {
        Settings::default()
    }

    fn check_with(
        s: &Settings,
        host: &str,
        addr: &str,
        listener: &str,
        own: &[&str],
    ) -> Result<(), AddressDenied> {
        let host = crate::target::parse_host(host.trim_start_matches('[').trim_end_matches(']'))
            .or_else(|_| {
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse()
                    .map(Host::Ip)
            })
            .unwrap();
        let own: Vec<IpAddr> = own.iter().map(|a| a.parse().unwrap()).collect();
        let allowed_by_name = s
            .allow_hosts
            .iter()
            .filter_map(|p| HostPattern::parse(p))
            .any(|p| p.matches_host(&host));
        check_address(
            s,
            Destination {
                host: &host,
                addr: addr.parse().unwrap(),
                listener: listener.parse().unwrap(),
                host_addrs: &own,
            },
            allowed_by_name,
        )
    }

    fn check(s: &Settings, host: &str, addr: &str) -> Result<(), AddressDenied> {
        check_with(s, host, addr, "127.0.0.1:8080", &[])
    }

    #[test]
    fn a_public_name_may_not_resolve_to_an_internal_address() {
        let s = settings();
        for addr in [
            "127.0.0.1:8000",
            "10.0.0.1:80",
            "192.168.1.1:80",
            "100.64.0.1:80",
            "198.18.0.1:80",
            "[::1]:80",
            "[::ffff:127.0.0.1]:80",
            "[64:ff9b::c0a8:101]:80",
            "[fec0::1]:80",
        ] {
            assert_eq!(
                check(&s, "evil.example", addr),
                Err(AddressDenied::Rebinding),
                "{addr}"
            );
        }
        assert_eq!(check(&s, "evil.example", "203.0.113.5:80"), Ok(()));
    }

    #[test]
    fn local_names_literals_and_listed_hosts_may() {
        let mut s = settings();
        for name in [
            "localhost",
            "app.localhost",
            "nas",
            "printer.local",
            "router.home.arpa",
            "db.internal",
            "tv.lan",
        ] {
            assert_eq!(check(&s, name, "192.168.1.10:80"), Ok(()), "{name}");
        }
        for name in [
            "local",
            "lan",
            "internal",
            "xlocalhost",
            "a.localhost.example",
            "notlan",
        ] {
            let want = if name.contains('.') {
                Err(AddressDenied::Rebinding)
            } else {
                Ok(())
            };
            assert_eq!(check(&s, name, "192.168.1.10:80"), want, "{name}");
        }
        assert_eq!(check(&s, "127.0.0.1", "127.0.0.1:8000"), Ok(()));
        s.local_hosts = vec!["*.corp.example".into(), "10.1.0.0/16".into()];
        assert_eq!(check(&s, "wiki.corp.example", "10.9.9.9:80"), Ok(()));
        assert_eq!(check(&s, "other.example", "10.1.2.3:80"), Ok(()));
        assert_eq!(
            check(&s, "other.example", "10.2.2.3:80"),
            Err(AddressDenied::Rebinding)
        );
    }

    #[test]
    fn private_destinations_still_decides_whether_internal_is_reachable() {
        let deny = Settings {
            private_destinations: PrivateDestinations::Deny,
            local_hosts: vec!["nas.example".into()],
            ..settings()
        };
        assert_eq!(
            check(&deny, "localhost", "127.0.0.1:80"),
            Err(AddressDenied::Internal)
        );
        assert_eq!(
            check(&deny, "nas.example", "10.0.0.2:80"),
            Err(AddressDenied::Internal)
        );
        assert_eq!(
            check(&deny, "127.0.0.1", "127.0.0.1:80"),
            Err(AddressDenied::Internal)
        );
        let shared = Settings {
            listen: "0.0.0.0:8080".parse().unwrap(),
            ..settings()
        };
        assert_eq!(
            check_with(&shared, "10.0.0.1", "10.0.0.1:80", "192.0.2.5:8080", &[]),
            Err(AddressDenied::Internal)
        );
        let allow = Settings {
            private_destinations: PrivateDestinations::Allow,
            ..shared
        };
        assert_eq!(
            check_with(&allow, "10.0.0.1", "10.0.0.1:80", "192.0.2.5:8080", &[]),
            Ok(())
        );
        assert_eq!(
            check_with(&allow, "evil.example", "10.0.0.1:80", "192.0.2.5:8080", &[]),
            Err(AddressDenied::Rebinding),
            "allowing private destinations does not allow rebinding"
        );
    }

    #[test]
    fn metadata_needs_an_explicit_entry() {
        let mut s = Settings {
            private_destinations: PrivateDestinations::Allow,
            ..settings()
        };
        for (host, addr) in [
            ("169.254.169.254", "169.254.169.254:80"),
            ("metadata", "[fd00:ec2::254]:80"),
            ("x", "[::ffff:169.254.169.254]:80"),
        ] {
            assert_eq!(
                check(&s, host, addr),
                Err(AddressDenied::Metadata),
                "{addr}"
            );
        }
        s.local_hosts = vec!["169.254.169.254".into()];
        assert_eq!(check(&s, "169.254.169.254", "169.254.169.254:80"), Ok(()));
        s.local_hosts = vec!["169.254.0.0/16".into()];
        assert_eq!(check(&s, "169.254.169.254", "169.254.169.254:80"), Ok(()));
    }

    #[test]
    fn lists_match_the_canonical_address() {
        let s = Settings {
            deny_hosts: vec!["127.0.0.1".into(), "192.168.0.0/16".into()],
            ..settings()
        };
        assert_eq!(
            check(&s, "[::ffff:127.0.0.1]", "[::ffff:127.0.0.1]:9000"),
            Err(AddressDenied::DeniedHost)
        );
        assert_eq!(
            check(&s, "localhost", "127.0.0.1:9000"),
            Err(AddressDenied::DeniedHost)
        );
        assert_eq!(
            check(&s, "router.lan", "[2002:c0a8:101::]:80"),
            Err(AddressDenied::DeniedHost)
        );
        let allow = Settings {
            allow_hosts: vec!["203.0.113.0/24".into()],
            ..settings()
        };
        assert_eq!(check(&allow, "site.example", "203.0.113.7:443"), Ok(()));
        assert_eq!(
            check(&allow, "site.example", "198.51.100.7:443"),
            Err(AddressDenied::NotAllowedHost)
        );
    }

    #[test]
    fn the_loop_check_knows_every_address_of_this_host() {
        let s = Settings {
            listen: "0.0.0.0:8080".parse().unwrap(),
            private_destinations: PrivateDestinations::Allow,
            ..settings()
        };
        let own = ["198.51.100.20", "10.0.0.5"];
        let on_any = |host: &str, addr: &str| check_with(&s, host, addr, "10.0.0.5:8080", &own);
        assert_eq!(
            on_any("198.51.100.20", "198.51.100.20:8080"),
            Err(AddressDenied::Loop)
        );
        assert_eq!(
            on_any("127.0.0.2", "127.0.0.2:8080"),
            Err(AddressDenied::Loop)
        );
        assert_eq!(on_any("0.0.0.0", "0.0.0.0:8080"), Err(AddressDenied::Loop));
        assert_eq!(on_any("198.51.100.20", "198.51.100.20:8081"), Ok(()));
        let wildcard = |addr: &str| check_with(&s, "198.51.100.20", addr, "0.0.0.0:8080", &own);
        assert_eq!(wildcard("198.51.100.20:8080"), Err(AddressDenied::Loop));
    }

    #[test]
    fn own_public_addresses_count_as_internal() {
        let shared = Settings {
            listen: "0.0.0.0:8080".parse().unwrap(),
            ..settings()
        };
        let own = ["198.51.100.20"];
        assert_eq!(
            check_with(
                &shared,
                "198.51.100.20",
                "198.51.100.20:22",
                "198.51.100.20:8080",
                &own
            ),
            Err(AddressDenied::Internal)
        );
        assert_eq!(
            check_with(
                &settings(),
                "me.example",
                "198.51.100.20:22",
                "127.0.0.1:8080",
                &own
            ),
            Err(AddressDenied::Rebinding)
        );
    }
}
