//! `cargo xtask install`: everything CI needs on a fresh Debian 12 machine, probed before installing.

use std::fs;

use anyhow::{bail, Context, Result};

use crate::{cmd, step};

/// Debian packages CI needs: Chromium and its driver (wasm browser tests, browser end-to-end),
/// WebKitGTK and the tray library (the Tauri desktop app), WebKitWebDriver (tauri-driver),
/// Xvfb (a display), tools for screenshots and clicks, what the namespace and builds use, and a
/// session bus with GNOME's proxy settings in dconf (the system proxy end-to-end test).
pub const APT_PACKAGES: &[&str] = &[
    "chromium",
    "chromium-driver",
    "libwebkit2gtk-4.1-dev",
    "libayatana-appindicator3-dev",
    "webkit2gtk-driver",
    "xvfb",
    "xauth",
    "imagemagick",
    "xdotool",
    "curl",
    "iproute2",
    "util-linux",
    "pkg-config",
    "build-essential",
    "dbus",
    "dconf-cli",
    "dconf-service",
    "dconf-gsettings-backend",
    "gsettings-desktop-schemas",
    "libglib2.0-bin",
    "dpkg-dev",
    "binutils",
    "desktop-file-utils",
    "rpm",
];

/// Debian packages `cargo xtask dist` needs: `dpkg-shlibdeps` and `strip`, the desktop entry
/// validator, `rpm -qpl`, and for `--check` a display, a session bus, screenshots and window
/// lookups. Tauri's bundler writes `.rpm` files itself (no `rpmbuild`).
pub const DIST_PACKAGES: &[&str] = &[
    "dpkg-dev",
    "binutils",
    "desktop-file-utils",
    "rpm",
    "xvfb",
    "xauth",
    "dbus",
    "imagemagick",
    "xdotool",
    "iproute2",
    "util-linux",
];

/// Debian packages the desktop app needs to build and run.
pub const DESKTOP_PACKAGES: &[&str] = &["libwebkit2gtk-4.1-dev", "libayatana-appindicator3-dev"];

/// The rustup target the core and the web simulator are built for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Installs whatever is missing: the wasm target, Debian packages, wasm-bindgen-cli, tauri-driver.
pub fn run() -> Result<()> {
    step::run("install: rustup target", ensure_wasm_target)?;
    step::run("install: Debian packages", || {
        let mut packages = APT_PACKAGES.to_vec();
        if cmd::which("node").is_none() {
            println!("note: `node` is not on PATH (the wasm test runner needs it); adding Debian's nodejs");
            packages.push("nodejs");
        }
        ensure_apt(&packages)
    })?;
    step::run("install: wasm-bindgen-cli", || {
        ensure_wasm_bindgen_cli().map(drop)
    })?;
    step::run("install: tauri-driver", ensure_tauri_driver)?;
    step::run("install: tauri-cli", ensure_tauri_cli)?;
    step::run("install: binaryen (npm)", ensure_binaryen)
}

/// Installs the npm build tools of `web/` (a current binaryen for `wasm-opt`: Debian's is too
/// old for wasm-bindgen's output) unless `web/node_modules/.bin/wasm-opt` is already there.
pub fn ensure_binaryen() -> Result<()> {
    if fs::metadata("web/node_modules/.bin/wasm-opt").is_ok() {
        println!("wasm-opt (npm binaryen): installed");
        return Ok(());
    }
    if fs::metadata("web/package-lock.json").is_err() {
        println!("note: web/package-lock.json is missing; skipping binaryen");
        return Ok(());
    }
    cmd::run(&mut cmd::new(
        "npm",
        &["ci", "--prefix", "web", "--no-audit", "--no-fund"],
    ))
}

/// Adds the `wasm32-unknown-unknown` rustup target unless it is installed.
pub fn ensure_wasm_target() -> Result<()> {
    ensure_target(WASM_TARGET)
}

fn ensure_target(target: &str) -> Result<()> {
    let installed = cmd::probe(&mut cmd::new("rustup", &["target", "list", "--installed"]))
        .context("`rustup target list --installed` failed; is rustup installed?")?;
    if installed.lines().any(|l| l.trim() == target) {
        println!("rustup target {target}: installed");
        return Ok(());
    }
    cmd::run(&mut cmd::new("rustup", &["target", "add", target]))
}

/// The Windows target the desktop app is type-checked for.
pub const WINDOWS_TARGET: &str = "x86_64-pc-windows-msvc";

/// Adds the Windows rustup target (for `cargo check` only) unless it is installed.
pub fn ensure_windows_target() -> Result<()> {
    ensure_target(WINDOWS_TARGET)
}

/// Installs the Debian packages of `packages` that are not installed yet, in one apt call.
///
/// Waits up to ten minutes for the dpkg lock if another apt-get holds it. Without root, prints
/// the command to run and fails.
pub fn ensure_apt(packages: &[&str]) -> Result<()> {
    if cmd::which("dpkg-query").is_none() {
        println!(
            "warning: no dpkg-query, so not a Debian system; make sure these are installed: {}",
            packages.join(" ")
        );
        return Ok(());
    }
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !dpkg_installed(p))
        .collect();
    if missing.is_empty() {
        println!("Debian packages: all {} installed", packages.len());
        return Ok(());
    }
    println!("Debian packages missing: {}", missing.join(" "));
    if !cmd::is_root() {
        bail!(
            "installing Debian packages needs root; run:\n  sudo apt-get update && \
             sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {}",
            missing.join(" ")
        );
    }
    let lock = ["-o", "DPkg::Lock::Timeout=600"];
    cmd::run(&mut cmd::new("apt-get", &[&lock[..], &["update"]].concat()))?;
    let install = [
        &lock[..],
        &["install", "-y", "--no-install-recommends"],
        &missing,
    ]
    .concat();
    cmd::run(cmd::new("apt-get", &install).env("DEBIAN_FRONTEND", "noninteractive"))
}

fn dpkg_installed(package: &str) -> bool {
    cmd::probe(&mut cmd::new(
        "dpkg-query",
        &["-W", "-f=${Status}", package],
    ))
    .is_some_and(|status| status.trim() == "install ok installed")
}

/// Makes `wasm-bindgen --version` equal the `wasm-bindgen` version in Cargo.lock, installing
/// `wasm-bindgen-cli` if needed. Returns that version, or `None` (with a note) if Cargo.lock has
/// no wasm-bindgen yet.
pub fn ensure_wasm_bindgen_cli() -> Result<Option<String>> {
    let lock = match fs::read_to_string("Cargo.lock") {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).context("reading Cargo.lock"),
    };
    let Some(wanted) = locked_version(&lock, "wasm-bindgen") else {
        println!("note: Cargo.lock has no wasm-bindgen yet; not installing wasm-bindgen-cli");
        return Ok(None);
    };
    let have = cmd::probe(&mut cmd::new("wasm-bindgen", &["--version"]));
    match have.as_deref().and_then(tool_version) {
        Some(v) if v == wanted => {
            println!("wasm-bindgen-cli {v}: installed, matches Cargo.lock");
            return Ok(Some(wanted));
        }
        Some(v) => println!("wasm-bindgen-cli {v} installed, Cargo.lock wants {wanted}"),
        None => println!("wasm-bindgen-cli: not installed, Cargo.lock wants {wanted}"),
    }
    // No --locked: the CLI's own lockfile names a crate version the registry mirror lacks.
    let version = format!("={wanted}");
    cmd::run(&mut cmd::new(
        "cargo",
        &["install", "wasm-bindgen-cli", "--version", &version],
    ))?;
    Ok(Some(wanted))
}

/// Installs tauri-driver 2.x unless it is already there.
///
/// tauri-driver 2.1 has no `--version` (it exits 1 on unknown arguments), so `--help` is the probe.
pub fn ensure_tauri_driver() -> Result<()> {
    if cmd::probe(&mut cmd::new("tauri-driver", &["--help"])).is_some() {
        println!("tauri-driver: installed");
        return Ok(());
    }
    let args = ["install", "tauri-driver", "--version", "^2"];
    let locked = cmd::run(&mut cmd::new("cargo", &[&args[..], &["--locked"]].concat()));
    if let Err(e) = locked {
        println!("note: {e:#}; retrying without --locked");
        cmd::run(&mut cmd::new("cargo", &args))?;
    }
    Ok(())
}

/// What `cargo xtask dist` needs: its Debian packages and the desktop app's build tools, then
/// tauri-cli.
pub fn ensure_dist_tools() -> Result<()> {
    let mut packages = DIST_PACKAGES.to_vec();
    packages.extend(DESKTOP_PACKAGES);
    ensure_apt(&packages)?;
    ensure_tauri_cli()
}

/// Tauri's CLI, as `cargo install tauri-cli` puts it on the PATH (`cargo tauri …`).
pub const TAURI_CLI: &str = "cargo-tauri";

/// Makes [`TAURI_CLI`] a tauri-cli of the same minor version family as the `tauri` crate in
/// Cargo.lock (`2.12.x` for tauri 2.12.5: the bundler reads the config that version writes),
/// installing it from crates.io with `cargo install` when missing or of another family.
///
/// Compiled from source rather than taken from npm's `@tauri-apps/cli`, which ships a prebuilt
/// binary: nothing here downloads binaries. It is a one-time cost per machine (several minutes
/// on two cores); later runs find it installed.
pub fn ensure_tauri_cli() -> Result<()> {
    let lock = fs::read_to_string("Cargo.lock").context("reading Cargo.lock")?;
    let tauri = locked_version(&lock, "tauri").context("Cargo.lock has no tauri")?;
    let family = minor_family(&tauri).with_context(|| format!("tauri version {tauri:?}"))?;
    let installed = || {
        let out = cmd::probe(&mut cmd::new(TAURI_CLI, &["tauri", "--version"]))?;
        tool_version(&out).map(str::to_string)
    };
    match installed() {
        Some(v) if minor_family(&v).as_deref() == Some(family.as_str()) => {
            println!("tauri-cli {v}: installed, matches tauri {tauri}");
            return Ok(());
        }
        Some(v) => println!("tauri-cli {v} installed, tauri {tauri} wants {family}.x"),
        None => println!("tauri-cli: not installed, tauri {tauri} wants {family}.x"),
    }
    let version = format!("~{family}");
    cmd::run(&mut cmd::new(
        "cargo",
        &["install", "tauri-cli", "--version", &version, "--locked"],
    ))?;
    match installed() {
        Some(v) if minor_family(&v).as_deref() == Some(family.as_str()) => Ok(()),
        other => bail!("cargo installed tauri-cli {other:?}, but Cargo.lock has tauri {tauri}"),
    }
}

/// `major.minor` of a `major.minor.patch` version.
fn minor_family(version: &str) -> Option<String> {
    let mut parts = version.split('.');
    let (major, minor) = (parts.next()?, parts.next()?);
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (numeric(major) && numeric(minor)).then(|| format!("{major}.{minor}"))
}

/// The version of the first `[[package]]` named `name` in the text of a Cargo.lock.
pub fn locked_version(lock: &str, name: &str) -> Option<String> {
    let wanted_name = format!("name = \"{name}\"");
    lock.split("[[package]]").skip(1).find_map(|block| {
        let mut lines = block.lines().map(str::trim);
        lines.clone().any(|l| l == wanted_name).then_some(())?;
        let version = lines.find_map(|l| l.strip_prefix("version = "))?;
        Some(version.trim_matches('"').to_string())
    })
}

/// The version in a `tool 1.2.3` line, as printed by `--version`.
fn tool_version(out: &str) -> Option<&str> {
    out.lines().next()?.split_whitespace().nth(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
# This file is automatically @generated by Cargo.
version = 4

[[package]]
name = "wasm-bindgen-backend"
version = "0.2.99"

[[package]]
name = "wasm-bindgen"
version = "0.2.130"
source = "registry+https://github.com/rust-lang/crates.io-index"
dependencies = [
 "cfg-if",
 "wasm-bindgen-macro",
]

[[package]]
name = "web-sys"
version = "0.3.107"
"#;

    #[test]
    fn finds_the_locked_version() {
        assert_eq!(
            locked_version(LOCK, "wasm-bindgen").as_deref(),
            Some("0.2.130")
        );
        assert_eq!(locked_version(LOCK, "web-sys").as_deref(), Some("0.3.107"));
        assert_eq!(
            locked_version(LOCK, "wasm-bindgen-backend").as_deref(),
            Some("0.2.99")
        );
        assert_eq!(locked_version(LOCK, "wasm"), None);
        assert_eq!(locked_version("", "wasm-bindgen"), None);
    }

    #[test]
    fn version_line() {
        assert_eq!(tool_version("wasm-bindgen 0.2.130\n"), Some("0.2.130"));
        assert_eq!(tool_version("tauri-driver 2.1.0"), Some("2.1.0"));
        assert_eq!(tool_version("weird"), None);
        assert_eq!(tool_version(""), None);
    }

    #[test]
    fn the_desktop_packages_are_part_of_the_ci_list() {
        assert!(DESKTOP_PACKAGES.iter().all(|p| APT_PACKAGES.contains(p)));
        // CI runs `dist --check` too.
        assert!(DIST_PACKAGES.iter().all(|p| APT_PACKAGES.contains(p)));
    }

    #[test]
    fn tauri_cli_families() {
        assert_eq!(minor_family("2.12.5").as_deref(), Some("2.12"));
        assert_eq!(minor_family("2.12.4").as_deref(), Some("2.12"));
        assert_eq!(minor_family("3.0.0-alpha.5").as_deref(), Some("3.0"));
        assert_eq!(minor_family("2"), None);
        assert_eq!(minor_family("x.1.0"), None);
        assert_eq!(tool_version("tauri-cli 2.12.5\n"), Some("2.12.5"));
    }
}
