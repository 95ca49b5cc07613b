//! `cargo xtask ci`: the whole pipeline, as a list of steps run in order.
//!
//! Everything that downloads (install, fetch, the first builds) runs first, on the host. Every
//! step that runs tests runs `--offline` inside a loopback-only network namespace (see `netns`).

use std::time::{Duration, Instant};

use anyhow::Result;

use crate::{cmd, dist, fuzz, install, netns, step, web};

/// The pipeline. Add a step here; it is timed, named in errors and listed in the summary.
/// Command lines are split on whitespace (no quoting).
const STEPS: &[Step] = &[
    Step::task("install", install::run),
    Step::cmd("fetch", "cargo fetch"),
    Step::cmd("fmt", "cargo fmt --all --check"),
    Step::cmd("clippy", CLIPPY),
    Step::cmd("test build", TEST_BUILD),
    Step::cmd("test", TEST).netns(),
    Step::cmd("test burrow-tests", "cargo test -p burrow-tests --offline").netns(),
    // Each fuzz target briefly, from its corpus and the seeds made from the vectors.
    Step::task("fuzz", fuzz::ci),
    Step::cmd("core wasm build", CORE_WASM),
    Step::cmd("web wasm tests (node)", WEB_WASM_TEST).netns(),
    Step::cmd("web wasm tests (chromium)", WEB_WASM_TEST)
        .env(IN_CHROMIUM)
        .netns(),
    Step::task("web bundle", || web::build().map(drop)),
    Step::task("windows target", install::ensure_windows_target),
    Step::cmd("desktop check (windows)", DESKTOP_WINDOWS_CHECK),
    Step::cmd("desktop build", "cargo build -p burrow-desktop"),
    Step::cmd("desktop e2e", DESKTOP_E2E).display(),
    Step::cmd("system proxy e2e", SYSTEM_PROXY_E2E).display(),
    Step::cmd("browser e2e", BROWSER_E2E).netns(),
    // The packages, unpacked into a temporary root and run from there (the app in the namespace).
    Step::task("dist", dist::ci),
];

const CLIPPY: &str = "cargo clippy --workspace --all-targets --all-features -- -D warnings";
/// Builds every test, downloading what they need while the network is there.
const TEST_BUILD: &str = "cargo test --workspace --all-features --no-run";
/// burrow-tests is left out: `--all-features` would turn on its end-to-end features and run
/// those tests without their display. Its other tests run in the next step, the end-to-end ones
/// in their own steps.
const TEST: &str = "cargo test --workspace --all-features --exclude burrow-tests --offline";
const CORE_WASM: &str = "cargo build -p burrow-core --target wasm32-unknown-unknown";
const WEB_WASM_TEST: &str = "cargo test -p burrow-web --target wasm32-unknown-unknown --offline";
/// wasm-bindgen-test-runner runs the tests in headless Chromium instead of Node.
const IN_CHROMIUM: &[(&str, &str)] = &[
    ("WASM_BINDGEN_USE_BROWSER", "1"),
    ("CHROMEDRIVER", "/usr/bin/chromedriver"),
];
const DESKTOP_E2E: &str =
    "cargo test -p burrow-tests --features desktop-e2e --test desktop --offline";
/// The desktop app sets GNOME's system proxy and puts it back, on a private session bus and
/// dconf database the test starts itself (never the machine's own).
const SYSTEM_PROXY_E2E: &str =
    "cargo test -p burrow-tests --features desktop-e2e --test system_proxy --offline";
/// The desktop app type-checks for Windows (macOS needs Apple's SDK, which Debian lacks).
const DESKTOP_WINDOWS_CHECK: &str = "cargo check -p burrow-desktop --target x86_64-pc-windows-msvc";
/// The simulator page, and the PAC file as Chromium evaluates it.
const BROWSER_E2E: &str =
    "cargo test -p burrow-tests --features browser-e2e --test browser --test pac_browser --offline";

/// One step of the pipeline.
struct Step {
    name: &'static str,
    action: Action,
}

enum Action {
    /// Call xtask code.
    Task(fn() -> Result<()>),
    /// Run a program with extra environment variables, on the host or sandboxed.
    Cmd {
        line: &'static str,
        env: &'static [(&'static str, &'static str)],
        sandbox: Sandbox,
    },
}

#[derive(Clone, Copy)]
enum Sandbox {
    /// On the host, with the network.
    Host,
    /// In a loopback-only network namespace.
    Netns,
    /// In a loopback-only network namespace, under Xvfb started inside it (and a session bus).
    NetnsDisplay,
}

impl Step {
    const fn task(name: &'static str, f: fn() -> Result<()>) -> Step {
        Step {
            name,
            action: Action::Task(f),
        }
    }

    const fn cmd(name: &'static str, line: &'static str) -> Step {
        let action = Action::Cmd {
            line,
            env: &[],
            sandbox: Sandbox::Host,
        };
        Step { name, action }
    }

    const fn env(mut self, vars: &'static [(&'static str, &'static str)]) -> Step {
        if let Action::Cmd { env, .. } = &mut self.action {
            *env = vars;
        }
        self
    }

    const fn netns(self) -> Step {
        self.sandbox(Sandbox::Netns)
    }

    const fn display(self) -> Step {
        self.sandbox(Sandbox::NetnsDisplay)
    }

    const fn sandbox(mut self, to: Sandbox) -> Step {
        if let Action::Cmd { sandbox, .. } = &mut self.action {
            *sandbox = to;
        }
        self
    }
}

impl Action {
    fn run(&self) -> Result<()> {
        let (line, env, sandbox) = match *self {
            Action::Task(f) => return f(),
            Action::Cmd { line, env, sandbox } => (line, env, sandbox),
        };
        let argv: Vec<&str> = line.split_whitespace().collect();
        match sandbox {
            Sandbox::Host => cmd::run(cmd::new(argv[0], &argv[1..]).envs(env.iter().copied())),
            Sandbox::Netns => netns::run(&argv, env),
            Sandbox::NetnsDisplay => {
                let bus: &[&str] = match cmd::which("dbus-run-session") {
                    Some(_) => &["dbus-run-session", "--"],
                    None => &[],
                };
                netns::run(&[&["xvfb-run", "-a"], bus, &argv].concat(), env)
            }
        }
    }
}

/// Runs every step in order; stops at the first failure, naming it. Prints a timing summary.
pub fn run() -> Result<()> {
    let start = Instant::now();
    let mut rows: Vec<(&str, Duration, bool)> = Vec::new();
    for step in STEPS {
        let (result, elapsed) = step::timed(step.name, || step.action.run());
        rows.push((step.name, elapsed, result.is_ok()));
        if let Err(e) = result {
            summary(&rows, start.elapsed());
            // The error already names the step.
            return Err(e.context("ci failed"));
        }
    }
    summary(&rows, start.elapsed());
    println!("ci passed");
    Ok(())
}

fn summary(rows: &[(&str, Duration, bool)], total: Duration) {
    let width = STEPS.iter().map(|s| s.name.len()).max().unwrap_or(0);
    println!("\n==> summary\n{:width$}  {:>7}  result", "step", "time");
    for (name, elapsed, ok) in rows {
        let result = if *ok { "ok" } else { "FAILED" };
        println!("{name:width$}  {:>7}  {result}", step::duration(*elapsed));
    }
    println!("{:width$}  {:>7}", "total", step::duration(total));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_are_unique() {
        let mut names: Vec<_> = STEPS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), STEPS.len());
    }

    #[test]
    fn tests_run_offline_in_the_namespace() {
        for step in STEPS {
            if let Action::Cmd { line, sandbox, .. } = step.action {
                let argv: Vec<&str> = line.split_whitespace().collect();
                let is_test_run = argv.contains(&"test") && !argv.contains(&"--no-run");
                let sandboxed = !matches!(sandbox, Sandbox::Host);
                assert_eq!(is_test_run, sandboxed, "step `{}`", step.name);
                assert_eq!(
                    sandboxed,
                    argv.contains(&"--offline"),
                    "step `{}`",
                    step.name
                );
            }
        }
    }
}
