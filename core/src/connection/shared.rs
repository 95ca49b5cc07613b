//! What every connection of one engine shares: the book of failed logins,
//! and this machine's own addresses for the loop and internal checks.

use std::net::IpAddr;
use std::sync::{PoisonError, RwLock};

use crate::policy::AuthThrottle;

/// Most interface addresses kept; a host with more is unusual enough that
/// the first ones (loopback and the primary interfaces come first) suffice.
pub const MAX_HOST_ADDRS: usize = 256;

/// State shared by all connections of an engine (or of one simulation).
#[derive(Debug, Default)]
pub struct Shared {
    /// Wrong passwords by client address.
    pub throttle: AuthThrottle,
    host_addrs: RwLock<Vec<IpAddr>>,
}

impl Shared {
    /// Nothing recorded, no interface addresses known.
    pub fn new() -> Shared {
        Shared::default()
    }

    /// Replaces this machine's interface addresses (the engine refreshes
    /// them; the simulator sets the scenario's). At most [`MAX_HOST_ADDRS`] are kept.
    pub fn set_host_addrs(&self, mut addrs: Vec<IpAddr>) {
        addrs.truncate(MAX_HOST_ADDRS);
        *self
            .host_addrs
            .write()
            .unwrap_or_else(PoisonError::into_inner) = addrs;
    }

    /// Runs `f` with this machine's interface addresses.
    pub fn with_host_addrs<T>(&self, f: impl FnOnce(&[IpAddr]) -> T) -> T {
        f(&self
            .host_addrs
            .read()
            .unwrap_or_else(PoisonError::into_inner))
    }
}
