//! `cargo xtask soak`: build the release proxy and the soak harness, then run the harness, which
//! starts the `burrow` binary as its child and loads it for `--minutes` (issue 9). Not part of
//! `cargo xtask ci`: it takes minutes and wants the machine to itself.

use std::path::Path;

use anyhow::{bail, Result};

use crate::flags::SoakFlags;
use crate::{cmd, netns, step, target_dir};

/// The soak harness, a binary of the `burrow-tests` package.
const HARNESS: &str = "tests/src/bin/soak/main.rs";

/// Builds both in release mode (the soak measures the binary users run), then runs the harness
/// inside a loopback-only network namespace: every client, origin and the proxy use
/// 127.0.0.0/8, and there nothing else exists to reach.
pub fn run(flags: &SoakFlags) -> Result<()> {
    if !Path::new(HARNESS).exists() {
        bail!("soak harness missing ({HARNESS})");
    }
    step::run("soak: build proxy", cmd::build_burrow_release)?;
    step::run("soak: build harness", || {
        cmd::run(&mut cmd::new(
            "cargo",
            &["build", "--release", "-p", "burrow-tests", "--bin", "soak"],
        ))
    })?;
    let release = target_dir().join("release");
    let harness = release.join("soak").to_string_lossy().into_owned();
    let burrow = release.join("burrow").to_string_lossy().into_owned();
    let dir = target_dir().join("soak").to_string_lossy().into_owned();
    let minutes = flags.minutes.to_string();
    let seed = flags.seed.map(|s| s.to_string());
    step::run("soak: run", || {
        let mut argv = vec![
            harness.as_str(),
            "--burrow",
            &burrow,
            "--minutes",
            &minutes,
            "--dir",
            &dir,
        ];
        if let Some(seed) = &seed {
            argv.extend(["--seed", seed]);
        }
        netns::run(&argv, &[])
    })
}
