//! What the network did: the inputs the engine (or the simulator) feeds back
//! into the core after doing IO.

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
    /// The origin's response head was not valid HTTP.
    Protocol,
    /// No response head within the upstream response timeout.
    Timeout,
}
