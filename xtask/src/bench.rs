//! `cargo xtask bench`: build the release proxy and the load generator, then run the generator
//! against direct, Burrow and (with `--peers`) tinyproxy and Squid inside a loopback-only
//! network namespace (issue 10).

use std::path::Path;

use anyhow::{bail, Result};

use crate::{cmd, install, netns, step, target_dir};

/// The load generator, a binary of the `burrow-tests` package.
const HARNESS: &str = "tests/src/bin/bench/main.rs";

/// The peers `--peers` measures Burrow against, as Debian packages.
const PEERS: &[&str] = &["tinyproxy", "squid"];

/// Debian's hook that lets package scripts start services: exit 101 means "do not".
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

/// Builds `burrow` and the generator in release mode; with `--peers` in `args`, installs the
/// peers first (outside the namespace, which has no network); then runs the generator with
/// `args` inside a loopback-only network namespace.
pub fn run(args: &[String]) -> Result<()> {
    if !Path::new(HARNESS).exists() {
        bail!("bench harness missing ({HARNESS})");
    }
    if args
        .iter()
        .any(|a| a == "--peers" || a == "--target=tinyproxy" || a == "--target=squid")
        || args
            .windows(2)
            .any(|w| w[0] == "--target" && PEERS.contains(&w[1].as_str()))
    {
        step::run("bench: peers", install_peers)?;
    }
    step::run("bench: build proxy", cmd::build_burrow_release)?;
    step::run("bench: build generator", || {
        cmd::run(&mut cmd::new(
            "cargo",
            &["build", "--release", "-p", "burrow-tests", "--bin", "bench"],
        ))
    })?;
    let release = target_dir().join("release");
    let generator = release.join("bench").to_string_lossy().into_owned();
    let burrow = release.join("burrow").to_string_lossy().into_owned();
    step::run("bench: run", || {
        // `--burrow-bin` first, so one given in `args` wins (the parser keeps the last).
        let mut argv = vec![generator.as_str(), "--burrow-bin", &burrow, "--tune-netns"];
        argv.extend(args.iter().map(String::as_str));
        netns::run(&argv, &[])
    })
}

/// Installs tinyproxy and Squid if missing, without leaving their system services running or
/// enabled: the bench starts its own instances, on its own ports, in its namespace.
fn install_peers() -> Result<()> {
    // Package scripts start a service unless policy-rc.d forbids it; forbid it while we install,
    // unless the machine already has a policy of its own.
    let own_policy = !Path::new(POLICY_RC_D).exists() && cmd::is_root();
    if own_policy {
        std::fs::write(
            POLICY_RC_D,
            "#!/bin/sh\n# cargo xtask bench: start no service\nexit 101\n",
        )?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(POLICY_RC_D, std::fs::Permissions::from_mode(0o755))?;
    }
    let installed = install::ensure_apt(PEERS);
    if own_policy {
        std::fs::remove_file(POLICY_RC_D)?;
    }
    installed?;
    if cmd::is_root() && cmd::which("update-rc.d").is_some() {
        for peer in PEERS {
            // Idempotent; fails harmlessly where there is no SysV init script.
            let _ = cmd::probe(&mut cmd::new("update-rc.d", &[peer, "disable"]));
        }
    }
    Ok(())
}
