//! The engine's own mechanics on loopback sockets: tunnels, forwarding,
//! limits, start/stop and the `burrow` binary. One test binary, many modules.

mod cli;
mod forward;
mod lifecycle;
mod support;
mod tunnel;
