//! Burrow end to end: the real engine over loopback sockets, driven by raw
//! bytes, rustls and curl, and the `burrow` binary as a child process. One
//! test binary with a module per area.
//!
//! Every address used is on loopback. The one lookup through the system
//! resolver is of a `.invalid` name (see `errors`), which fails at once in
//! the loopback-only namespace CI runs the tests in.

mod cli;
mod differential;
mod errors;
mod escaping;
mod forward;
mod lifecycle;
mod lookups;
mod pac;
mod parity;
mod security;
mod tunnel;
mod vectors;

use std::process::{Command, Output};

/// Runs curl with `args`, no configuration file and no proxy variables, and
/// a time limit of its own. Fails the test if curl is not installed.
pub async fn curl(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new("curl")
            .env_clear()
            .args(["-q", "--silent", "--show-error", "--max-time", "20"])
            .args(&args)
            .output()
            .expect("curl must be installed to run these tests (apt-get install curl)")
    })
    .await
    .expect("the curl task does not panic")
}
