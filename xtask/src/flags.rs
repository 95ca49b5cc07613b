//! Command-line parsing, by hand: a handful of subcommands and two flags do not need clap.

use anyhow::{bail, Context, Result};

/// Usage text printed by `cargo xtask help` and after a parse error.
pub const USAGE: &str = "\
Usage: cargo xtask <command> [args]

Commands:
  install                  Install what is missing: the wasm32 target, Debian packages,
                           wasm-bindgen-cli (pinned to Cargo.lock), tauri-driver and Tauri's
                           CLI (npm, following the tauri crate in Cargo.lock)
  ci                       install, fmt, clippy, tests (in a loopback-only network namespace),
                           each fuzz target briefly, wasm build and tests, web bundle, desktop
                           and browser end-to-end tests, the desktop app's Windows type
                           check, then the packages (dist --check)
  web [--no-serve] [--port N]
                           Build the simulator into target/web/ and serve it on 127.0.0.1
                           (port 0, the default, lets the OS choose)
  dist [--check] [--no-build]
                           Build installable packages into target/dist/: the desktop app's
                           .deb and .rpm (Tauri's bundler) and the headless burrow's .deb
                           with a systemd user unit; --check unpacks each and runs what it
                           installed; --no-build checks the packages already there
  desktop [-- args...]     Build the simulator, then run the desktop app
                           (cargo run -p burrow-desktop -- args)
  bench [-- args...]       Build the release proxy and the load generator, and run it with
                           args (`-- --help` lists them; `-- --peers` installs tinyproxy and
                           Squid and measures them side by side with direct and Burrow)
  fuzz [--time SECS] [TARGET...]
                           Run the fuzz targets of fuzz/ (all, or those named) one after
                           another for SECS seconds each (default 60) with cargo-fuzz,
                           installing it if missing; fails on a crash, naming the input
  soak [--minutes N] [--seed S]
                           Build the release proxy and run it under N minutes (default 3,
                           fractions allowed) of mixed, hostile, checked load on loopback; then
                           check descriptors, sockets and memory are back to baseline
  help                     Show this text";

/// What the user asked for.
#[derive(Debug, PartialEq)]
pub enum Task {
    /// Print the usage text.
    Help,
    /// Install missing tools and packages.
    Install,
    /// Run the whole CI pipeline.
    Ci,
    /// Build (and maybe serve) the web simulator.
    Web(WebFlags),
    /// Run the desktop app with these arguments.
    Desktop(Vec<String>),
    /// Build (and maybe check) the installable packages.
    Dist(DistFlags),
    /// Run the bench harness with these arguments.
    Bench(Vec<String>),
    /// Run the fuzz targets.
    Fuzz(FuzzFlags),
    /// Run the soak.
    Soak(SoakFlags),
}

/// Flags of `cargo xtask dist`.
#[derive(Debug, PartialEq, Eq)]
pub struct DistFlags {
    /// Unpack and run the packages after building them.
    pub check: bool,
    /// Build the packages (`--no-build` only checks those already built).
    pub build: bool,
}

/// Flags of `cargo xtask soak`.
#[derive(Debug, PartialEq)]
pub struct SoakFlags {
    /// Minutes of load, more than 0 and at most [`MAX_SOAK_MINUTES`].
    pub minutes: f64,
    /// The seed of the load's random choices; the harness picks and prints one if `None`.
    pub seed: Option<u64>,
}

/// The longest soak: an hour is already far past what finds a leak the short one misses.
pub const MAX_SOAK_MINUTES: f64 = 60.0;

/// Flags of `cargo xtask fuzz`.
#[derive(Debug, PartialEq, Eq)]
pub struct FuzzFlags {
    /// Seconds of fuzzing per target.
    pub seconds: u64,
    /// The targets to run; empty means all.
    pub targets: Vec<String>,
}

/// Seconds per target when `--time` is not given.
pub const FUZZ_DEFAULT_SECONDS: u64 = 60;

/// Flags of `cargo xtask web`.
#[derive(Debug, PartialEq, Eq)]
pub struct WebFlags {
    /// Serve `target/web/` after building it.
    pub serve: bool,
    /// Port to serve on; 0 lets the OS choose a free one.
    pub port: u16,
}

/// Parses the arguments that follow `cargo xtask`.
pub fn parse(args: &[String]) -> Result<Task> {
    let Some((cmd, rest)) = args.split_first() else {
        return Ok(Task::Help);
    };
    let task = match cmd.as_str() {
        "help" | "-h" | "--help" => Task::Help,
        "install" => no_args(Task::Install, rest)?,
        "ci" => no_args(Task::Ci, rest)?,
        "web" => Task::Web(parse_web(rest)?),
        "desktop" => Task::Desktop(passthrough(rest)),
        "dist" => Task::Dist(parse_dist(rest)?),
        "bench" => Task::Bench(passthrough(rest)),
        "fuzz" => Task::Fuzz(parse_fuzz(rest)?),
        "soak" => Task::Soak(parse_soak(rest)?),
        other => bail!("unknown command `{other}`"),
    };
    Ok(task)
}

fn no_args(task: Task, rest: &[String]) -> Result<Task> {
    match rest.first() {
        Some(arg) => bail!("unexpected argument `{arg}`"),
        None => Ok(task),
    }
}

fn parse_web(rest: &[String]) -> Result<WebFlags> {
    let mut flags = WebFlags {
        serve: true,
        port: 0,
    };
    let mut args = rest.iter();
    while let Some(arg) = args.next() {
        if arg == "--no-serve" {
            flags.serve = false;
        } else if arg == "--port" {
            let value = args.next().context("`--port` needs a value")?;
            flags.port = parse_port(value)?;
        } else if let Some(value) = arg.strip_prefix("--port=") {
            flags.port = parse_port(value)?;
        } else {
            bail!("unexpected argument `{arg}` for `web`");
        }
    }
    Ok(flags)
}

fn parse_dist(rest: &[String]) -> Result<DistFlags> {
    let mut flags = DistFlags {
        check: false,
        build: true,
    };
    for arg in rest {
        match arg.as_str() {
            "--check" => flags.check = true,
            "--no-build" => flags.build = false,
            _ => bail!("unexpected argument `{arg}` for `dist`"),
        }
    }
    if !flags.build && !flags.check {
        bail!("`dist --no-build` does nothing without `--check`");
    }
    Ok(flags)
}

fn parse_fuzz(rest: &[String]) -> Result<FuzzFlags> {
    let mut flags = FuzzFlags {
        seconds: FUZZ_DEFAULT_SECONDS,
        targets: Vec::new(),
    };
    let mut args = rest.iter();
    while let Some(arg) = args.next() {
        if arg == "--time" {
            let value = args.next().context("`--time` needs a number of seconds")?;
            flags.seconds = parse_seconds(value)?;
        } else if let Some(value) = arg.strip_prefix("--time=") {
            flags.seconds = parse_seconds(value)?;
        } else if arg.starts_with('-') {
            bail!("unexpected argument `{arg}` for `fuzz`");
        } else {
            flags.targets.push(arg.clone());
        }
    }
    Ok(flags)
}

fn parse_seconds(value: &str) -> Result<u64> {
    match value.parse() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("`--time {value}` is not a positive number of seconds"),
    }
}

fn parse_soak(rest: &[String]) -> Result<SoakFlags> {
    let mut flags = SoakFlags {
        minutes: 3.0,
        seed: None,
    };
    let mut args = rest.iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .or_else(|| args.next().map(String::as_str))
                .with_context(|| format!("`{name}` needs a value"))
        };
        match name {
            "--minutes" => {
                let text = value()?;
                flags.minutes = text
                    .parse()
                    .ok()
                    .filter(|m: &f64| *m > 0.0 && *m <= MAX_SOAK_MINUTES)
                    .with_context(|| {
                        format!("`--minutes {text}` is not a number of minutes above 0 and at most {MAX_SOAK_MINUTES}")
                    })?;
            }
            "--seed" => {
                let text = value()?;
                flags.seed = Some(
                    text.parse()
                        .with_context(|| format!("`--seed {text}` is not a whole number"))?,
                );
            }
            _ => bail!("unexpected argument `{arg}` for `soak`"),
        }
    }
    Ok(flags)
}

fn parse_port(value: &str) -> Result<u16> {
    value
        .parse()
        .with_context(|| format!("`--port {value}` is not a port number (0-65535)"))
}

/// Everything after the subcommand goes to the program; a leading `--` is dropped.
fn passthrough(rest: &[String]) -> Vec<String> {
    let rest = match rest.first() {
        Some(first) if first == "--" => &rest[1..],
        _ => rest,
    };
    rest.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(args: &str) -> Result<Task> {
        let args: Vec<String> = args.split_whitespace().map(String::from).collect();
        parse(&args)
    }

    fn web(serve: bool, port: u16) -> Task {
        Task::Web(WebFlags { serve, port })
    }

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn help() {
        assert_eq!(check("").unwrap(), Task::Help);
        assert_eq!(check("help").unwrap(), Task::Help);
        assert_eq!(check("--help").unwrap(), Task::Help);
        assert_eq!(check("-h").unwrap(), Task::Help);
    }

    #[test]
    fn simple_commands() {
        assert_eq!(check("install").unwrap(), Task::Install);
        assert_eq!(check("ci").unwrap(), Task::Ci);
        assert!(check("ci --fast").is_err());
        assert!(check("install now").is_err());
        assert!(check("deploy").is_err());
    }

    #[test]
    fn web_flags() {
        assert_eq!(check("web").unwrap(), web(true, 0));
        assert_eq!(check("web --no-serve").unwrap(), web(false, 0));
        assert_eq!(check("web --port 8080").unwrap(), web(true, 8080));
        assert_eq!(check("web --port=8080").unwrap(), web(true, 8080));
        assert_eq!(check("web --port 1 --no-serve").unwrap(), web(false, 1));
        assert!(check("web --port").is_err());
        assert!(check("web --port 70000").is_err());
        assert!(check("web --port=x").is_err());
        assert!(check("web --serve").is_err());
    }

    #[test]
    fn fuzz_flags() {
        let fuzz = |seconds, targets: &[&str]| {
            Task::Fuzz(FuzzFlags {
                seconds,
                targets: strings(targets),
            })
        };
        assert_eq!(check("fuzz").unwrap(), fuzz(FUZZ_DEFAULT_SECONDS, &[]));
        assert_eq!(check("fuzz --time 300").unwrap(), fuzz(300, &[]));
        assert_eq!(
            check("fuzz head --time=5 tls").unwrap(),
            fuzz(5, &["head", "tls"])
        );
        assert!(check("fuzz --time").is_err());
        assert!(check("fuzz --time 0").is_err());
        assert!(check("fuzz --time x").is_err());
        assert!(check("fuzz --jobs 2").is_err());
    }

    #[test]
    fn dist_flags() {
        let dist = |check, build| Task::Dist(DistFlags { check, build });
        assert_eq!(check("dist").unwrap(), dist(false, true));
        assert_eq!(check("dist --check").unwrap(), dist(true, true));
        assert_eq!(check("dist --no-build --check").unwrap(), dist(true, false));
        assert!(check("dist --no-build").is_err());
        assert!(check("dist --appimage").is_err());
    }

    #[test]
    fn soak_flags() {
        let soak = |minutes, seed| Task::Soak(SoakFlags { minutes, seed });
        assert_eq!(check("soak").unwrap(), soak(3.0, None));
        assert_eq!(check("soak --minutes 0.5").unwrap(), soak(0.5, None));
        assert_eq!(
            check("soak --seed 7 --minutes=10").unwrap(),
            soak(10.0, Some(7))
        );
        assert_eq!(check("soak --seed=9").unwrap(), soak(3.0, Some(9)));
        assert!(check("soak --minutes").is_err());
        assert!(check("soak --minutes 0").is_err());
        assert!(check("soak --minutes 61").is_err());
        assert!(check("soak --minutes NaN").is_err());
        assert!(check("soak --seed -1").is_err());
        assert!(check("soak --fast").is_err());
    }

    #[test]
    fn passthrough_args() {
        assert_eq!(check("desktop").unwrap(), Task::Desktop(vec![]));
        assert_eq!(
            check("desktop -- --minimized").unwrap(),
            Task::Desktop(strings(&["--minimized"]))
        );
        assert_eq!(
            check("bench --conns 10 -- x").unwrap(),
            Task::Bench(strings(&["--conns", "10", "--", "x"]))
        );
        assert_eq!(
            check("bench -- -- x").unwrap(),
            Task::Bench(strings(&["--", "x"]))
        );
    }
}
