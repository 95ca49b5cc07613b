//! Assembles `dist/` (the app's `frontendDist`) before `tauri_build` reads the config:
//! `ui/` is copied in, and the web simulator from `<target dir>/web` goes to `dist/simulator/`
//! (or a page saying how to build it).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

// `NAMES`: every app command. Each gets an `allow-<name>` permission that
// `capabilities/main.json` grants to the main window.
include!("src/command_names.rs");

const NOT_BUILT: &str = "<!doctype html>
<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Simulator not built</title>
<style>body{font:14px system-ui,sans-serif;margin:3em;color:#444}code{background:#eee;padding:2px 4px;border-radius:3px}
@media (prefers-color-scheme: dark){body{background:#1e1f22;color:#ccc}code{background:#333}}</style></head>
<body><h1>The simulator is not built</h1>
<p>Run <code>cargo xtask web --no-serve</code> and rebuild the app (<code>cargo xtask desktop</code> does it for you).</p>
</body></html>
";

fn main() {
    let ui = Path::new("ui");
    let candidates = simulator_dirs();
    let dist = Path::new("dist");
    println!("cargo:rerun-if-changed=ui");
    for dir in &candidates {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    println!("cargo:rerun-if-changed=icons");
    if dist.exists() {
        fs::remove_dir_all(dist).expect("removing desktop/dist");
    }
    copy_dir(ui, dist).expect("copying desktop/ui to desktop/dist");
    fs::copy("icons/icon.png", dist.join("icon.png")).expect("copying the icon");
    let sim = dist.join("simulator");
    if let Some(web) = candidates.iter().find(|d| d.join("index.html").exists()) {
        copy_dir(web, &sim).expect("copying target/web to desktop/dist/simulator");
    } else {
        fs::create_dir_all(&sim).expect("creating desktop/dist/simulator");
        fs::write(sim.join("index.html"), NOT_BUILT).expect("writing the simulator placeholder");
    }
    let manifest = tauri_build::AppManifest::new().commands(NAMES);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .expect("tauri-build failed");
}

/// Where `cargo xtask web` puts the simulator: `<target dir>/web`, the target
/// directory being `CARGO_TARGET_DIR` (relative to the workspace root) or else
/// `target/`; the first of those that holds a built page.
fn simulator_dirs() -> Vec<PathBuf> {
    let root = Path::new("..");
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        dirs.push(root.join(dir).join("web"));
    }
    dirs.push(root.join("target/web"));
    dirs
}

/// Copies the files under `from` into `to`, creating directories as needed.
fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            fs::copy(entry.path(), dest)?;
        }
    }
    Ok(())
}
