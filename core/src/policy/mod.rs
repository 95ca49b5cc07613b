//! Policy: who may use the proxy, and where a request may go.
//!
//! Two checks guard every destination, CONNECT and forwarding alike:
//! [`check_target`] on the host and port as the client named them (before
//! any lookup, so a refused name is never even resolved), then
//! [`check_address`] on each address it resolved to (the only check a
//! DNS answer cannot dodge).

mod auth;
mod destination;
mod pattern;
mod throttle;

pub use auth::{check_auth, AuthCheck};
pub use destination::{
    check_address, local_by_definition, AddressDenied, Destination, LOCAL_PARENTS,
};
pub use pattern::HostPattern;
pub use throttle::{AuthThrottle, Standing, MAX_BLOCK, MAX_TRACKED_CLIENTS};

use crate::settings::Settings;
use crate::target::Host;

/// How a request reaches its destination, for the port rule that applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// A CONNECT tunnel: the port must be in `allowed_ports`.
    Tunnel,
    /// A forwarded `http://` request: the port must not be in `forward_blocked_ports`.
    Forward,
}

/// Why the host or port of a target is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetDenied {
    /// A CONNECT to a port not in `allowed_ports`.
    Port(u16),
    /// A forwarded request to a port in `forward_blocked_ports`.
    ForwardPort(u16),
    /// The host matches a `deny_hosts` pattern.
    DeniedHost,
    /// `allow_hosts` is set and the host cannot match it: no name pattern
    /// matches, and there is no address pattern a lookup could match.
    NotAllowedHost,
}

/// What the name check found, for the address check to finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetPassed {
    /// The name itself matched `allow_hosts` (or the list is empty).
    pub allowed_by_name: bool,
}

/// Checks the port for `route` and the host against `deny_hosts` and
/// `allow_hosts`, as the client named them.
pub fn check_target(
    settings: &Settings,
    host: &Host,
    port: u16,
    route: Route,
) -> Result<TargetPassed, TargetDenied> {
    match route {
        Route::Tunnel if !settings.allowed_ports.contains(port) => {
            return Err(TargetDenied::Port(port))
        }
        Route::Forward if settings.forward_blocked_ports.contains(port) => {
            return Err(TargetDenied::ForwardPort(port))
        }
        _ => {}
    }
    let patterns = |list: &[String]| -> Vec<HostPattern> {
        list.iter().filter_map(|p| HostPattern::parse(p)).collect()
    };
    if patterns(&settings.deny_hosts)
        .iter()
        .any(|p| p.matches_host(host))
    {
        return Err(TargetDenied::DeniedHost);
    }
    if settings.allow_hosts.is_empty() {
        return Ok(TargetPassed {
            allowed_by_name: true,
        });
    }
    let allow = patterns(&settings.allow_hosts);
    let allowed_by_name = allow.iter().any(|p| p.matches_host(host));
    let a_lookup_could_match = host.ip().is_none() && allow.iter().any(HostPattern::is_address);
    if allowed_by_name || a_lookup_could_match {
        Ok(TargetPassed { allowed_by_name })
    } else {
        Err(TargetDenied::NotAllowedHost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> Host {
        Host::Name(n.into())
    }

    #[test]
    fn ports_depend_on_the_route() {
        let s = Settings::default();
        let h = name("mail.example.com");
        assert_eq!(
            check_target(&s, &h, 25, Route::Tunnel),
            Err(TargetDenied::Port(25))
        );
        assert_eq!(
            check_target(&s, &h, 25, Route::Forward),
            Err(TargetDenied::ForwardPort(25))
        );
        assert!(check_target(&s, &h, 443, Route::Tunnel).is_ok());
        assert!(check_target(&s, &h, 8080, Route::Forward).is_ok());
        assert!(check_target(&s, &h, 8080, Route::Tunnel).is_err());
        for bad in [1, 22, 110, 143, 587, 2049, 6000, 6667, 10080] {
            assert_eq!(
                check_target(&s, &h, bad, Route::Forward),
                Err(TargetDenied::ForwardPort(bad))
            );
        }
    }

    #[test]
    fn host_lists_by_name_and_literal() {
        let s = Settings {
            deny_hosts: vec!["*.example.com".into(), "127.0.0.1".into()],
            ..Settings::default()
        };
        assert_eq!(
            check_target(&s, &name("a.example.com"), 443, Route::Tunnel),
            Err(TargetDenied::DeniedHost)
        );
        let mapped = Host::Ip("::ffff:127.0.0.1".parse().unwrap());
        assert_eq!(
            check_target(&s, &mapped, 9000, Route::Forward),
            Err(TargetDenied::DeniedHost)
        );
        let only = Settings {
            allow_hosts: vec!["other.org".into()],
            ..Settings::default()
        };
        assert_eq!(
            check_target(&only, &name("a.example.com"), 443, Route::Tunnel),
            Err(TargetDenied::NotAllowedHost)
        );
        assert_eq!(
            check_target(&only, &name("other.org"), 443, Route::Tunnel),
            Ok(TargetPassed {
                allowed_by_name: true
            })
        );
        let by_net = Settings {
            allow_hosts: vec!["203.0.113.0/24".into()],
            ..Settings::default()
        };
        assert_eq!(
            check_target(&by_net, &name("a.example.com"), 443, Route::Tunnel),
            Ok(TargetPassed {
                allowed_by_name: false
            }),
            "the address check decides"
        );
        let literal = Host::Ip("198.51.100.1".parse().unwrap());
        assert_eq!(
            check_target(&by_net, &literal, 443, Route::Tunnel),
            Err(TargetDenied::NotAllowedHost)
        );
    }
}
