//! `cargo xtask dist [--check] [--no-build]`: installable packages in `target/dist/`.
//!
//! - The desktop app as a `.deb` and an `.rpm`, through Tauri's bundler (`tauri build
//!   --bundles deb,rpm` in `desktop/`, with the CLI `cargo install`ed: see
//!   `install::ensure_tauri_cli`), with its desktop entry and icons. The bundle settings
//!   are in `desktop/tauri.conf.json`; `desktop/tauri.dist.conf.json` renames the product to
//!   `burrow-desktop` for packaging only, because the bundler names the package after the
//!   product and `burrow` is the headless package. Formats the bundler downloads tools for
//!   (AppImage) and those of other systems (`.dmg`, `.msi`) are not built here.
//! - The headless `burrow` as a `.deb` with a systemd user unit, staged here and built with
//!   `dpkg-deb --build --root-owner-group`: a binary and four small files need no packaging crate.
//!
//! `--check` then unpacks every package with `dpkg-deb -x` into a temporary root and runs what
//! it installed from there (see [`check`]); `--no-build` checks what `target/dist/` holds.

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{bail, ensure, Context, Result};

use crate::{cmd, flags::DistFlags, install, netns, step, target_dir, web};

/// The headless package's name; the desktop's is `burrow-desktop` (`tauri.dist.conf.json`).
const HEADLESS: &str = "burrow";
/// The desktop app's package and binary name.
const DESKTOP: &str = "burrow-desktop";
/// The systemd user unit, installed as `/usr/lib/systemd/user/burrow.service`.
const UNIT: &str = "proxy/packaging/burrow.service";
/// The Debian copyright file both packages carry.
const COPYRIGHT: &str = "proxy/packaging/copyright";
/// Who the packages name as their maintainer (the desktop's comes from `bundle.publisher`).
const MAINTAINER: &str = "Burrow developers <burrow@localhost>";
/// The smallest C library the binary may need when `dpkg-shlibdeps` cannot say
/// (bookworm's, the oldest system this is built and tested on).
const FALLBACK_DEPENDS: &str = "libc6 (>= 2.36)";

/// The packages one run made (or found, with `--no-build`).
#[derive(Debug)]
pub struct Packages {
    /// The desktop app's `.deb`.
    pub desktop_deb: PathBuf,
    /// The desktop app's `.rpm`.
    pub desktop_rpm: PathBuf,
    /// The headless `burrow`'s `.deb`.
    pub headless_deb: PathBuf,
}

/// Where the packages go.
pub fn dist_dir() -> PathBuf {
    target_dir().join("dist")
}

/// Builds the packages (unless `--no-build`), then checks them if asked.
pub fn run(flags: &DistFlags) -> Result<()> {
    let packages = if flags.build {
        build()?
    } else {
        step::run("dist: find packages", find)?
    };
    for p in [
        &packages.desktop_deb,
        &packages.desktop_rpm,
        &packages.headless_deb,
    ] {
        println!("package: {}", p.display());
    }
    if flags.check {
        step::run("dist: check", || check(&packages))?;
    }
    Ok(())
}

/// `cargo xtask ci`'s step: build every package and check it.
pub fn ci() -> Result<()> {
    run(&DistFlags {
        check: true,
        build: true,
    })
}

/// Installs the tools, builds the simulator the app embeds, then both kinds of package.
fn build() -> Result<Packages> {
    step::run("dist: tools", install::ensure_dist_tools)?;
    fs::create_dir_all(dist_dir())?;
    web::build()?;
    let (desktop_deb, desktop_rpm) = step::run("dist: desktop .deb and .rpm", build_desktop)?;
    let headless_deb = step::run("dist: headless .deb", build_headless)?;
    Ok(Packages {
        desktop_deb,
        desktop_rpm,
        headless_deb,
    })
}

/// `tauri build --bundles deb,rpm`: a release build with the app's assets embedded, then
/// the bundler. Old bundles are removed first so only this build's files are copied out.
fn build_desktop() -> Result<(PathBuf, PathBuf)> {
    let bundle = target_dir().join("release/bundle");
    for kind in ["deb", "rpm"] {
        let dir = bundle.join(kind);
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }
    // The CLI looks for `frontendDist` before building; desktop/build.rs fills it.
    fs::create_dir_all("desktop/dist")?;
    let start = Instant::now();
    let args = [
        "build",
        "--ci",
        "--bundles",
        "deb,rpm",
        "--config",
        "tauri.dist.conf.json",
    ];
    let args: Vec<&str> = ["tauri"].into_iter().chain(args).collect();
    cmd::run(cmd::new(install::TAURI_CLI, &args).current_dir("desktop"))?;
    println!(
        "tauri build (release build and bundling): {}",
        step::duration(start.elapsed())
    );
    let deb = copy_out(&bundle.join("deb"), "deb")?;
    let rpm = copy_out(&bundle.join("rpm"), "rpm")?;
    Ok((deb, rpm))
}

/// Copies the one `burrow-desktop*.<ext>` of `dir` into `target/dist/`.
fn copy_out(dir: &Path, ext: &str) -> Result<PathBuf> {
    let found = files_with(dir, DESKTOP, ext)?;
    let [one] = found.as_slice() else {
        bail!(
            "expected one {DESKTOP} .{ext} in {}, found {found:?}",
            dir.display()
        );
    };
    let to = dist_dir().join(one.file_name().context("a file name")?);
    fs::copy(one, &to).with_context(|| format!("copying {} to {}", one.display(), to.display()))?;
    Ok(to)
}

/// The files in `dir` named `<prefix>…<.ext>`.
fn files_with(dir: &Path, prefix: &str, ext: &str) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let is_ours = name.starts_with(prefix)
            && path.extension().is_some_and(|e| e == ext)
            && package_name(name) == Some(prefix);
        if is_ours {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// The package name in a package's file name: `burrow_0.1.0_amd64.deb` is `burrow`,
/// `burrow-desktop-0.1.0-1.x86_64.rpm` is `burrow-desktop` (the name ends before the
/// first `_` or the `-` that starts the version).
fn package_name(file: &str) -> Option<&str> {
    let underscore = file.find('_');
    let version = file
        .match_indices('-')
        .map(|(i, _)| i)
        .find(|i| file[i + 1..].starts_with(|c: char| c.is_ascii_digit()));
    // Whichever comes first: `x86_64` in an .rpm's name holds a `_` too.
    let cut = match (underscore, version) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    Some(&file[..cut])
}

/// Stages `burrow` with its unit and docs and builds `burrow_<version>_<arch>.deb`.
fn build_headless() -> Result<PathBuf> {
    cmd::build_burrow_release()?;
    let lock = fs::read_to_string("Cargo.lock").context("reading Cargo.lock")?;
    let version =
        install::locked_version(&lock, "burrow-proxy").context("Cargo.lock has no burrow-proxy")?;
    let arch = cmd::probe(&mut cmd::new("dpkg", &["--print-architecture"]))
        .context("`dpkg --print-architecture` failed")?
        .trim()
        .to_string();

    let out = dist_dir().join(format!("{HEADLESS}_{version}_{arch}.deb"));
    stage_headless(
        Path::new("."),
        &target_dir().join("release/burrow"),
        &dist_dir().join("headless"),
        &version,
        &arch,
        &out,
    )?;
    Ok(out)
}

/// Stages `bin` (stripped), the unit and the docs under `work/debian/burrow/`, writes
/// `DEBIAN/control` and builds `out` with `dpkg-deb --build --root-owner-group`. Paths of
/// the repository's files are taken below `repo`. Returns the control file's text.
fn stage_headless(
    repo: &Path,
    bin: &Path,
    work: &Path,
    version: &str,
    arch: &str,
    out: &Path,
) -> Result<String> {
    // dpkg-shlibdeps wants `debian/control` in its working directory and the files under
    // `debian/<package>/`, as in a source package.
    if work.exists() {
        fs::remove_dir_all(work)?;
    }
    let root = work.join("debian").join(HEADLESS);
    let staged = root.join("usr/bin/burrow");
    let doc = root.join("usr/share/doc").join(HEADLESS);
    install_file(bin, &staged, 0o755)?;
    // Debug symbols are most of the file; a package ships the program.
    cmd::run(cmd::new("strip", &["--strip-unneeded"]).arg(&staged))?;
    install_file(
        &repo.join(UNIT),
        &root.join("usr/lib/systemd/user/burrow.service"),
        0o644,
    )?;
    install_file(&repo.join(COPYRIGHT), &doc.join("copyright"), 0o644)?;
    install_file(&repo.join("README.md"), &doc.join("README.md"), 0o644)?;

    fs::write(
        work.join("debian/control"),
        format!("Source: {HEADLESS}\n\nPackage: {HEADLESS}\nArchitecture: any\n"),
    )?;
    let rel_bin = Path::new("debian").join(HEADLESS).join("usr/bin/burrow");
    let shlibs = cmd::probe(
        cmd::new("dpkg-shlibdeps", &["-O"])
            .arg(format!("-e{}", rel_bin.display()))
            .current_dir(work),
    );
    let depends = shlibs
        .as_deref()
        .and_then(shlibs_depends)
        .unwrap_or_else(|| {
            println!("note: dpkg-shlibdeps gave no answer; depending on {FALLBACK_DEPENDS}");
            FALLBACK_DEPENDS.to_string()
        });
    let control = Control {
        version,
        arch,
        depends: &depends,
        installed_kib: tree_kib(&root)?,
    }
    .text();
    install_text(&root.join("DEBIAN/control"), &control, 0o644)?;
    print!("{control}");
    cmd::run(
        cmd::new("dpkg-deb", &["--build", "--root-owner-group"])
            .arg(&root)
            .arg(out),
    )?;
    Ok(control)
}

/// The `Depends` value in `dpkg-shlibdeps -O` output (`shlibs:Depends=libc6 (>= 2.34), …`).
fn shlibs_depends(out: &str) -> Option<String> {
    out.lines()
        .find_map(|l| l.strip_prefix("shlibs:Depends="))
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
}

/// The headless package's `DEBIAN/control`.
struct Control<'a> {
    version: &'a str,
    arch: &'a str,
    depends: &'a str,
    installed_kib: u64,
}

impl Control<'_> {
    fn text(&self) -> String {
        format!(
            "Package: {HEADLESS}\n\
             Version: {}\n\
             Architecture: {}\n\
             Maintainer: {MAINTAINER}\n\
             Installed-Size: {}\n\
             Depends: {}\n\
             Section: net\n\
             Priority: optional\n\
             Description: personal HTTPS proxy (headless)\n \
             Burrow is a forward proxy for one person's browsing: CONNECT tunnels and\n \
             plain HTTP forwarding, with truthful RFC 9209 Proxy-Status answers when a\n \
             host cannot be reached, and an access log on stdout.\n \
             .\n \
             This package holds the `burrow` command and a systemd user unit:\n \
             systemctl --user enable --now burrow\n",
            self.version, self.arch, self.installed_kib, self.depends
        )
    }
}

/// Copies `from` to `to` (creating its directories) with mode `mode`.
fn install_file(from: &Path, to: &Path, mode: u32) -> Result<()> {
    make_parent(to)?;
    fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
    Ok(())
}

fn install_text(to: &Path, text: &str, mode: u32) -> Result<()> {
    make_parent(to)?;
    fs::write(to, text)?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// Creates `path`'s parent directories, `0755` as a package's directories must be
/// (the umask could make them narrower).
fn make_parent(path: &Path) -> Result<()> {
    let parent = path.parent().context("a path with a parent")?;
    fs::create_dir_all(parent)?;
    let mut dir = Some(parent);
    while let Some(d) = dir.filter(|d| d.starts_with(dist_dir()) && *d != dist_dir()) {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755))?;
        dir = d.parent();
    }
    Ok(())
}

/// The size of the files under `root` in KiB, rounded up per file, as `Installed-Size` wants.
fn tree_kib(root: &Path) -> Result<u64> {
    let mut kib = 0;
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            kib += tree_kib(&entry.path())?;
        } else {
            kib += entry.metadata()?.len().div_ceil(1024);
        }
    }
    Ok(kib)
}

/// What `--no-build` checks: the packages already in `target/dist/`.
fn find() -> Result<Packages> {
    let dir = dist_dir();
    let one = |prefix: &str, ext: &str| -> Result<PathBuf> {
        let found = files_with(&dir, prefix, ext)?;
        match found.as_slice() {
            [one] => Ok(one.clone()),
            _ => bail!(
                "expected one {prefix} .{ext} in {} (run `cargo xtask dist`), found {found:?}",
                dir.display()
            ),
        }
    };
    Ok(Packages {
        desktop_deb: one(DESKTOP, "deb")?,
        desktop_rpm: one(DESKTOP, "rpm")?,
        headless_deb: one(HEADLESS, "deb")?,
    })
}

/// Runs the desktop app unpacked from its package, under Xvfb and a private session bus,
/// started by the caller inside a loopback-only network namespace. `$1` is the binary, `$2`
/// the screenshot. It checks that the app starts and shows its window, stays up, can be
/// photographed, and ends when its PID is sent SIGTERM; then that `--hidden` (the login
/// launch) keeps the window hidden, and that a second launch exits and shows the first
/// one's window instead of starting another tray. Every wait is bounded.
const XVFB_SCRIPT: &str = r#"
set -u
app="$1"; shot="$2"
visible() { xdotool search --onlyvisible --name '^Burrow' >/dev/null 2>&1; }
wait_for() { # wait_for WHAT TENTHS COMMAND...: polls until COMMAND succeeds
  what="$1"; n="$2"; shift 2
  while ! "$@"; do
    n=$((n - 1)); [ "$n" -gt 0 ] || { echo "dist check: timed out waiting for $what"; return 1; }
    sleep 0.1
  done
}
# An exited child stays a zombie until waited for, and `kill -0` still reaches a zombie.
gone() { s=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 0; [ -z "$s" ] || [ "$s" = Z ]; }
alive() { ! gone "$1"; }
stop() { kill -TERM "$1" 2>/dev/null; wait_for "pid $1 to exit" 100 gone "$1" || kill -KILL "$1"; wait "$1" 2>/dev/null; }

"$app" & pid=$!
wait_for "the window" 300 visible || exit 1
sleep 3
alive "$pid" || { echo "dist check: the app exited"; exit 1; }
import -window root "$shot" || exit 1
stop "$pid"
echo "dist check: window shown, up for 3 s, screenshot taken, ended by pid"

"$app" --hidden & pid=$!
sleep 5
alive "$pid" || { echo "dist check: the hidden app exited"; exit 1; }
if visible; then echo "dist check: --hidden showed the window"; stop "$pid"; exit 1; fi
"$app" & second=$!
wait_for "the second launch to exit" 150 gone "$second" || { stop "$second"; stop "$pid"; exit 1; }
wait_for "the first app's window" 100 visible || { stop "$pid"; exit 1; }
alive "$pid" || { echo "dist check: the first app exited"; exit 1; }
stop "$pid"
echo "dist check: --hidden started without a window; a second launch showed the first one's and exited"
"#;

/// Unpacks each package into a temporary root and checks it:
/// - headless: `burrow --version` runs from there and names the package's version, the
///   binary is stripped, the unit passes `systemd-analyze verify --user`;
/// - desktop: the binary, desktop entry and icons are where the entry says, the entry passes
///   `desktop-file-validate`, and the app runs under Xvfb ([`XVFB_SCRIPT`]) with its home
///   in the temporary root, in a loopback-only namespace;
/// - the `.rpm` lists the binary and the desktop entry (`rpm -qpl`).
pub fn check(p: &Packages) -> Result<()> {
    let root = dist_dir().join("check");
    if root.exists() {
        fs::remove_dir_all(&root)?;
    }
    fs::create_dir_all(&root)?;
    let root = fs::canonicalize(&root)?;

    // Headless.
    let headless = unpack(&p.headless_deb, &root.join(HEADLESS))?;
    let fields = deb_fields(&p.headless_deb)?;
    let version = field(&fields, "Version")?;
    ensure!(field(&fields, "Package")? == HEADLESS, "{fields}");
    ensure!(field(&fields, "Depends")?.contains("libc6"), "{fields}");
    let bin = headless.join("usr/bin/burrow");
    let out = output(Command::new(&bin).arg("--version"))?;
    ensure!(
        out.contains(version),
        "`burrow --version` said {out:?}, the package is {version}"
    );
    println!("headless: `{}` -> {}", bin.display(), out.trim());
    let sections = output(cmd::new("readelf", &["-S", "-W"]).arg(&bin))?;
    ensure!(!sections.contains(".symtab"), "the binary is not stripped");
    for doc in ["copyright", "README.md"] {
        ensure!(
            headless.join("usr/share/doc/burrow").join(doc).is_file(),
            "no {doc}"
        );
    }
    verify_unit(&headless, &root)?;

    // Desktop.
    let desktop = unpack(&p.desktop_deb, &root.join(DESKTOP))?;
    let fields = deb_fields(&p.desktop_deb)?;
    ensure!(field(&fields, "Package")? == DESKTOP, "{fields}");
    let depends = field(&fields, "Depends")?;
    for dep in ["libwebkit2gtk-4.1-0", "libayatana-appindicator3-1"] {
        ensure!(depends.contains(dep), "Depends lacks {dep}: {depends}");
    }
    let app = desktop.join("usr/bin").join(DESKTOP);
    ensure!(app.is_file(), "no {}", app.display());
    let entry = desktop.join(format!("usr/share/applications/{DESKTOP}.desktop"));
    let text =
        fs::read_to_string(&entry).with_context(|| format!("reading {}", entry.display()))?;
    print!("{}:\n{text}", entry.display());
    ensure!(
        text.lines().any(|l| l == format!("Exec={DESKTOP}")),
        "{text}"
    );
    ensure!(text.lines().any(|l| l == "Categories=Network;"), "{text}");
    let out = output(&mut cmd::new("desktop-file-validate", &[&entry]))?;
    ensure!(out.trim().is_empty(), "desktop-file-validate: {out}");
    println!("desktop-file-validate: no complaints");
    for size in ["32x32", "128x128", "256x256"] {
        let icon = desktop.join(format!("usr/share/icons/hicolor/{size}/apps/{DESKTOP}.png"));
        ensure!(icon.is_file(), "no {}", icon.display());
    }
    run_desktop(&app, &root)?;

    // The .rpm.
    let listed = output(cmd::new("rpm", &["-qpl"]).arg(&p.desktop_rpm))?;
    for path in [
        format!("/usr/bin/{DESKTOP}"),
        format!("/usr/share/applications/{DESKTOP}.desktop"),
    ] {
        ensure!(
            listed.lines().any(|l| l == path),
            "rpm -qpl lacks {path}:\n{listed}"
        );
    }
    println!("rpm -qpl: lists /usr/bin/{DESKTOP} and its desktop entry");
    // The unpacked root stays for a look (the next check starts by removing it): removing it
    // here raced with files the ended app's helper processes were still closing (ENOTEMPTY).
    println!("dist check passed; unpacked into {}", root.display());
    Ok(())
}

/// `dpkg-deb -x PACKAGE DIR`; returns DIR.
fn unpack(deb: &Path, dir: &Path) -> Result<PathBuf> {
    cmd::run(cmd::new("dpkg-deb", &["-x"]).arg(deb).arg(dir))?;
    Ok(dir.to_path_buf())
}

/// The control fields of a `.deb` (`dpkg-deb -f`).
fn deb_fields(deb: &Path) -> Result<String> {
    output(cmd::new("dpkg-deb", &["-f"]).arg(deb))
}

/// A field's value in `Name: value` lines.
fn field<'a>(fields: &'a str, name: &str) -> Result<&'a str> {
    fields
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
        .with_context(|| format!("no {name} in\n{fields}"))
}

/// Runs a command, failing unless it exits with 0; its stdout and stderr together.
fn output(cmd: &mut Command) -> Result<String> {
    let line = cmd::show(cmd);
    let out = cmd
        .output()
        .with_context(|| format!("could not start `{line}`"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        out.status.success(),
        "`{line}` failed ({}):\n{text}",
        out.status
    );
    Ok(text)
}

/// `systemd-analyze verify --user` on the unpacked unit. It insists that `ExecStart=` exists,
/// and `--root` does not work with `--user`, so a copy pointing at the unpacked binary is
/// verified; a user manager also needs a runtime directory. A warning fails too (an unknown
/// key only warns, with exit status 0).
fn verify_unit(headless: &Path, root: &Path) -> Result<()> {
    let unit = headless.join("usr/lib/systemd/user/burrow.service");
    let text = fs::read_to_string(&unit).with_context(|| format!("reading {}", unit.display()))?;
    ensure!(text.contains("\nExecStart=/usr/bin/burrow\n"), "{text}");
    if cmd::which("systemd-analyze").is_none() {
        println!("note: no systemd-analyze here; the unit was not verified");
        return Ok(());
    }
    let bin = headless.join("usr/bin/burrow");
    let copy = root.join("verify/burrow.service");
    let runtime = root.join("verify/runtime");
    fs::create_dir_all(&runtime)?;
    fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700))?;
    fs::write(
        &copy,
        text.replace(
            "ExecStart=/usr/bin/burrow",
            &format!("ExecStart={}", bin.display()),
        ),
    )?;
    let out = output(
        cmd::new("systemd-analyze", &["verify", "--user"])
            .arg(&copy)
            .env("XDG_RUNTIME_DIR", &runtime),
    )?;
    ensure!(out.trim().is_empty(), "systemd-analyze verify: {out}");
    println!("systemd-analyze verify --user: no complaints");
    Ok(())
}

/// Runs [`XVFB_SCRIPT`] on the unpacked app in a loopback-only namespace, with every
/// per-user directory in the temporary root, then checks the screenshot is a real picture.
fn run_desktop(app: &Path, root: &Path) -> Result<()> {
    let home = root.join("home");
    fs::create_dir_all(&home)?;
    let shot = root.join("desktop.png");
    let (home_s, app_s, shot_s) = (
        home.display().to_string(),
        app.display().to_string(),
        shot.display().to_string(),
    );
    let config = format!("{home_s}/.config");
    let data = format!("{home_s}/.local/share");
    let cache = format!("{home_s}/.cache");
    let env = [
        ("HOME", home_s.as_str()),
        ("XDG_CONFIG_HOME", config.as_str()),
        ("XDG_DATA_HOME", data.as_str()),
        ("XDG_CACHE_HOME", cache.as_str()),
        ("NO_AT_BRIDGE", "1"),
    ];
    let start = Instant::now();
    netns::run(
        &[
            "xvfb-run",
            "-a",
            "-s",
            "-screen 0 1280x800x24 -nolisten tcp",
            "dbus-run-session",
            "--",
            "sh",
            "-c",
            XVFB_SCRIPT,
            "sh",
            &app_s,
            &shot_s,
        ],
        &env,
    )?;
    println!(
        "desktop app under Xvfb: {}",
        step::duration(start.elapsed())
    );
    let info = output(cmd::new("identify", &["-format", "%w %h %k"]).arg(&shot))?;
    let numbers: Vec<u64> = info
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let [width, height, colours] = numbers[..] else {
        bail!("identify said {info:?}");
    };
    println!("screenshot: {width}x{height}, {colours} colours");
    ensure!(
        width == 1280 && height == 800,
        "screenshot is {width}x{height}"
    );
    // An empty screen is one colour; the window's text and controls give hundreds.
    ensure!(
        colours >= 50,
        "the screenshot has {colours} colours: no window drawn?"
    );
    let kept = dist_dir().join("desktop-screenshot.png");
    fs::copy(&shot, &kept)?;
    println!("screenshot kept at {}", kept.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_from_file_names() {
        assert_eq!(package_name("burrow_0.1.0_amd64.deb"), Some("burrow"));
        assert_eq!(
            package_name("burrow-desktop_0.1.0_amd64.deb"),
            Some("burrow-desktop")
        );
        assert_eq!(
            package_name("burrow-desktop-0.1.0-1.x86_64.rpm"),
            Some("burrow-desktop")
        );
        assert_eq!(package_name("readme"), None);
    }

    #[test]
    fn depends_from_dpkg_shlibdeps() {
        let out = "shlibs:Depends=libc6 (>= 2.34), libgcc-s1 (>= 4.2)\n";
        assert_eq!(
            shlibs_depends(out).as_deref(),
            Some("libc6 (>= 2.34), libgcc-s1 (>= 4.2)")
        );
        assert_eq!(shlibs_depends("shlibs:Depends=\n"), None);
        assert_eq!(shlibs_depends(""), None);
    }

    #[test]
    fn the_control_file() {
        let text = Control {
            version: "0.1.0",
            arch: "amd64",
            depends: "libc6 (>= 2.34)",
            installed_kib: 4321,
        }
        .text();
        assert_eq!(field(&text, "Package").unwrap(), "burrow");
        assert_eq!(field(&text, "Version").unwrap(), "0.1.0");
        assert_eq!(field(&text, "Architecture").unwrap(), "amd64");
        assert_eq!(field(&text, "Installed-Size").unwrap(), "4321");
        assert_eq!(field(&text, "Depends").unwrap(), "libc6 (>= 2.34)");
        assert!(field(&text, "Maintainer").unwrap().ends_with('>'));
        // Continuation lines start with one space; an empty one is " .".
        let description: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("Description:"))
            .skip(1)
            .collect();
        assert!(description.len() >= 4);
        assert!(description
            .iter()
            .all(|l| l.starts_with(' ') && l.len() > 1));
        assert!(description.contains(&" ."));
        assert!(text.ends_with('\n'));
    }

    /// The whole headless path but the cargo build, with `/bin/true` standing in for
    /// `burrow`: stage, strip, `dpkg-shlibdeps`, `dpkg-deb --build`, then unpack it again
    /// and verify the unit as `check` does.
    #[test]
    fn a_headless_package_builds_unpacks_and_its_unit_verifies() {
        let tools = ["dpkg-deb", "dpkg-shlibdeps", "strip", "readelf"];
        if let Some(missing) = tools.iter().find(|t| cmd::which(t).is_none()) {
            println!("skipped: no {missing} here");
            return;
        }
        let dir = std::env::temp_dir().join(format!("xtask-dist-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let out = dir.join("burrow_9.8.7_test.deb");
        let repo = crate::project_root();
        let arch = cmd::probe(&mut cmd::new("dpkg", &["--print-architecture"])).unwrap();
        let control = stage_headless(
            &repo,
            Path::new("/bin/true"),
            &dir.join("work"),
            "9.8.7",
            arch.trim(),
            &out,
        )
        .unwrap();
        assert!(field(&control, "Depends")
            .unwrap()
            .starts_with("libc6 (>= "));
        let fields = deb_fields(&out).unwrap();
        assert_eq!(field(&fields, "Package").unwrap(), "burrow");
        assert_eq!(field(&fields, "Version").unwrap(), "9.8.7");
        let listing = output(cmd::new("dpkg-deb", &["-c"]).arg(&out)).unwrap();
        for path in [
            "./usr/bin/burrow",
            "./usr/lib/systemd/user/burrow.service",
            "./usr/share/doc/burrow/copyright",
            "./usr/share/doc/burrow/README.md",
        ] {
            let line = listing.lines().find(|l| l.ends_with(path)).unwrap();
            // --root-owner-group: everything is root's, whoever built it.
            assert!(line.contains(" root/root "), "{line}");
        }
        assert!(!listing.contains("DEBIAN"), "{listing}");
        let root = unpack(&out, &dir.join("root")).unwrap();
        let bin = root.join("usr/bin/burrow");
        let mode = fs::metadata(&bin).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        let sections = output(cmd::new("readelf", &["-S", "-W"]).arg(&bin)).unwrap();
        assert!(!sections.contains(".symtab"));
        verify_unit(&root, &dir).unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_unit_file_is_a_user_service_running_the_packaged_binary() {
        let unit = fs::read_to_string(crate::project_root().join(UNIT)).unwrap();
        for line in [
            "ExecStart=/usr/bin/burrow",
            "Restart=on-failure",
            "NoNewPrivileges=yes",
            "WantedBy=default.target",
        ] {
            assert!(unit.lines().any(|l| l == line), "{line}");
        }
        // System-only settings would be ignored with a warning in a user unit.
        for system_only in ["User=", "Group=", "DynamicUser=", "WantedBy=multi-user"] {
            assert!(!unit.contains(system_only), "{system_only}");
        }
    }
}
