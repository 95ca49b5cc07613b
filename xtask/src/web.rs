//! `cargo xtask web`: build the wasm simulator into `target/web/` and serve it on loopback.

use std::{
    fs,
    net::TcpListener,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context, Result};

use xtask::serve;

use crate::{cmd, flags::WebFlags, install, step, target_dir};

/// The static files of the page, copied next to the wasm-bindgen output.
const WWW: &str = "web/www";
/// A current binaryen from npm (`npm install` in `web/`). Debian's binaryen 108 produces modules
/// that throw at load with wasm-bindgen 0.2.130, so it is never used.
const WASM_OPT: &str = "web/node_modules/.bin/wasm-opt";
/// Wasm features rustc enables by default for wasm32-unknown-unknown; wasm-opt must accept them.
const WASM_FEATURES: &[&str] = &[
    "--enable-bulk-memory",
    "--enable-multivalue",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-reference-types",
    "--enable-sign-ext",
];

/// Builds the simulator, then serves it unless `--no-serve`.
pub fn run(flags: &WebFlags) -> Result<()> {
    let out = build()?;
    if flags.serve {
        step::run("web: serve", || serve_dir(&out, flags.port))?;
    }
    Ok(())
}

/// Builds the simulator into `target/web/` and prints the wasm size; returns that directory.
pub fn build() -> Result<PathBuf> {
    let target = target_dir();
    let out = target.join("web");
    let pkg = out.join("pkg");
    let wasm = target.join("wasm32-unknown-unknown/wasm-release/burrow_web.wasm");

    step::run("web: rustup target", install::ensure_wasm_target)?;
    step::run("web: cargo build (wasm-release)", || {
        let args = [
            "build",
            "-p",
            "burrow-web",
            "--lib",
            "--target",
            install::WASM_TARGET,
        ];
        cmd::run(cmd::new("cargo", &args).args(["--profile", "wasm-release"]))
    })?;
    step::run("web: wasm-bindgen", || {
        if install::ensure_wasm_bindgen_cli()?.is_none() && cmd::which("wasm-bindgen").is_none() {
            bail!("no wasm-bindgen in Cargo.lock and no wasm-bindgen on PATH");
        }
        if out.exists() {
            fs::remove_dir_all(&out).with_context(|| format!("removing {}", out.display()))?;
        }
        let mut bindgen = cmd::new(
            "wasm-bindgen",
            &["--target", "web", "--no-typescript", "--out-dir"],
        );
        cmd::run(bindgen.arg(&pkg).arg(&wasm))
    })?;
    let bg = pkg.join("burrow_web_bg.wasm");
    step::run("web: wasm-opt", || optimise(&bg))?;
    step::run("web: copy web/www", || {
        let n = copy_dir(Path::new(WWW), &out)?;
        println!("copied {n} files from {WWW}/ to {}/", out.display());
        Ok(())
    })?;
    step::run("web: size", || print_size(&bg))?;
    Ok(out)
}

fn optimise(wasm: &Path) -> Result<()> {
    install::ensure_binaryen()?;
    if !Path::new(WASM_OPT).exists() {
        bail!("{WASM_OPT} is missing after `npm ci --prefix web`; the wasm cannot be optimised");
    }
    let mut opt = cmd::new(WASM_OPT, &["-Oz"]);
    opt.args(WASM_FEATURES).arg(wasm).arg("-o").arg(wasm);
    cmd::run(&mut opt)
}

/// Copies every file under `src` into `dst`, keeping the layout; returns how many files.
fn copy_dir(src: &Path, dst: &Path) -> Result<usize> {
    if !src.is_dir() {
        bail!("{} does not exist (the simulator's page)", src.display());
    }
    fs::create_dir_all(dst).with_context(|| format!("creating {}", dst.display()))?;
    let mut copied = 0;
    for entry in fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let entry = entry?;
        let to = dst.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copied += copy_dir(&entry.path(), &to)?;
        } else {
            fs::copy(entry.path(), &to).with_context(|| {
                format!("copying {} to {}", entry.path().display(), to.display())
            })?;
            copied += 1;
        }
    }
    Ok(copied)
}

fn print_size(wasm: &Path) -> Result<()> {
    let bytes = fs::metadata(wasm)
        .with_context(|| format!("{} is missing", wasm.display()))?
        .len();
    let gzip = cmd::new("gzip", &["-9", "-c"])
        .arg(wasm)
        .output()
        .context("running gzip")?;
    if !gzip.status.success() {
        bail!("`gzip -9 -c {}` failed ({})", wasm.display(), gzip.status);
    }
    println!(
        "{}: {}; gzip -9: {}",
        wasm.display(),
        size(bytes),
        size(gzip.stdout.len() as u64)
    );
    if bytes > WASM_BUDGET {
        bail!(
            "the simulator's wasm is {} over its budget of {}: the page must load fast",
            size(bytes - WASM_BUDGET),
            size(WASM_BUDGET)
        );
    }
    Ok(())
}

/// The most the simulator's wasm may weigh before compression. The page runs
/// the whole connection core (HTTP/1.1 framing both ways included): about
/// 265 KiB, 113 KiB gzipped, in November 2026; 307 KiB, 132 KiB gzipped, with
/// the PAC file (its script and rules) in December 2026.
const WASM_BUDGET: u64 = 320 * 1024;

/// `12345 bytes (12.1 KiB)`.
fn size(bytes: u64) -> String {
    format!("{bytes} bytes ({:.1} KiB)", bytes as f64 / 1024.0)
}

fn serve_dir(dir: &Path, port: u16) -> Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
    let port = listener.local_addr()?.port();
    println!("Burrow simulator: http://127.0.0.1:{port}/  (Ctrl-C to stop)");
    serve::serve(dir, listener, &serve::Misses::default()).context("serving")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size(0), "0 bytes (0.0 KiB)");
        assert_eq!(size(15_645), "15645 bytes (15.3 KiB)");
    }

    #[test]
    fn copies_a_tree() {
        let base = std::env::temp_dir().join(format!("xtask-copy-{}", std::process::id()));
        let (src, dst) = (base.join("src"), base.join("dst"));
        fs::create_dir_all(src.join("css/deep")).unwrap();
        fs::write(src.join("index.html"), "i").unwrap();
        fs::write(src.join("css/deep/a.css"), "a").unwrap();
        assert_eq!(copy_dir(&src, &dst).unwrap(), 2);
        assert_eq!(fs::read_to_string(dst.join("css/deep/a.css")).unwrap(), "a");
        assert!(copy_dir(&base.join("nope"), &dst).is_err());
        fs::remove_dir_all(&base).unwrap();
    }
}
