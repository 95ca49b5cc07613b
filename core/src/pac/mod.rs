//! The proxy auto-config (PAC) file Burrow serves about itself.
//!
//! A browser or the OS that is pointed at [`url`] asks Burrow which proxy to
//! use; the answer ends in `DIRECT`, so browsing still works while Burrow is
//! off. This module owns the path and the address to give out
//! (`mod.rs`), the script (`script.rs`), and which requests get it and the
//! exact response (`serve.rs`); the connection asks [`wanted`] of every
//! head before any proxy rule.

mod script;
mod serve;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub use script::{js_string, script, LOCAL_NETWORKS};
pub use serve::{host_is_local, proxy_address, response, wanted, Wanted, CONTENT_TYPE, RULE};

/// The path the PAC file is served at.
pub const PATH: &str = "/proxy.pac";

/// The address programs on this machine reach the listener at: a wildcard
/// listen address (`0.0.0.0`, `::`) becomes the matching loopback address.
pub fn local_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// The PAC address for a listener, as the system proxy settings and the
/// "Copy PAC address" item give it out.
pub fn url(listen: SocketAddr) -> String {
    format!("http://{}{PATH}", local_address(listen))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listener_is_reached_on_loopback() {
        assert_eq!(
            url("0.0.0.0:8080".parse().unwrap()),
            "http://127.0.0.1:8080/proxy.pac"
        );
        assert_eq!(
            url("[::]:9000".parse().unwrap()),
            "http://[::1]:9000/proxy.pac"
        );
        assert_eq!(
            url("127.0.0.5:81".parse().unwrap()),
            "http://127.0.0.5:81/proxy.pac"
        );
    }
}
