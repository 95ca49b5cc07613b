//! What the network did, as the core classifies it: DNS and connect results
//! the engine reports, and the ways an origin can fail a forwarded request.

use serde::{Deserialize, Serialize};

/// Why a DNS lookup gave no address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsFailure {
    /// The name does not exist (NXDOMAIN) or has no address.
    NoSuchHost,
    /// The lookup did not finish within the DNS timeout.
    Timeout,
    /// The resolver failed for another reason (SERVFAIL, no network).
    ServerFailure,
    /// The lookup was never started: the engine already waits for as many
    /// lookups as it allows (in all, or under this name's zone), and a
    /// lookup the OS has not answered keeps its place even after its client
    /// gave up, so the queue cannot grow without bound.
    Busy,
}

impl DnsFailure {
    /// Every failure, in the order the simulator lists them.
    pub const ALL: [DnsFailure; 4] = [
        DnsFailure::NoSuchHost,
        DnsFailure::Timeout,
        DnsFailure::ServerFailure,
        DnsFailure::Busy,
    ];
}

/// Why a TCP connect failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectFailure {
    /// The host answered with a reset: nothing listens on the port.
    Refused,
    /// No answer within the connect timeout.
    TimedOut,
    /// No route to the host or network.
    Unreachable,
    /// Any other local error (out of sockets, permission).
    Other,
}

/// Why a forwarded request got no usable response from the origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamFailure {
    /// The origin closed the connection before a response head.
    Closed,
    /// The origin's response was not valid HTTP, or its framing unusable.
    Protocol,
    /// The origin's response head was larger than the limits allow.
    TooLarge,
    /// No response head within the upstream response timeout.
    Timeout,
}
