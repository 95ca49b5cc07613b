//! `cargo xtask desktop`: run the Tauri desktop app, after making sure its system libraries exist.

use anyhow::Result;

use crate::{cmd, install, step, web};

/// Installs the desktop app's Debian packages if missing, builds the simulator its window
/// embeds as a tab, then `cargo run -p burrow-desktop -- args`.
pub fn run(args: &[String]) -> Result<()> {
    step::run("desktop: Debian packages", || {
        install::ensure_apt(install::DESKTOP_PACKAGES)
    })?;
    web::build()?;
    step::run("desktop: cargo run", || {
        let mut run = cmd::new("cargo", &["run", "-p", "burrow-desktop", "--"]);
        cmd::run(run.args(args))
    })
}
