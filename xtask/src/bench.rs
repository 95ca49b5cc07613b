//! `cargo xtask bench`: build the release proxy and run the bench harness against it.

use std::path::Path;

use anyhow::{bail, Result};

use crate::{cmd, netns, step};

/// The bench harness, a binary of the `burrow-tests` package.
const HARNESS: &str = "tests/src/bin/bench.rs";

/// Builds `burrow-proxy` and the harness in release mode, then runs the harness with `args`
/// inside a loopback-only network namespace (the bench only talks to 127.0.0.1).
pub fn run(args: &[String]) -> Result<()> {
    if !Path::new(HARNESS).exists() {
        bail!("bench harness not written yet ({HARNESS})");
    }
    step::run("bench: build proxy", || {
        cmd::run(&mut cmd::new(
            "cargo",
            &["build", "--release", "-p", "burrow-proxy"],
        ))
    })?;
    // Built outside the namespace, where the registry is reachable; run offline inside it.
    let harness = ["--release", "-p", "burrow-tests", "--bin", "bench"];
    step::run("bench: build harness", || {
        cmd::run(cmd::new("cargo", &["build"]).args(harness))
    })?;
    step::run("bench: run", || {
        let argv: Vec<&str> = ["cargo", "run", "--offline"]
            .into_iter()
            .chain(harness)
            .chain(["--"])
            .chain(args.iter().map(String::as_str))
            .collect();
        netns::run(&argv, &[])
    })
}
