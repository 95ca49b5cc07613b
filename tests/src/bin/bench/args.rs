//! The command line of the bench, parsed by hand like the rest of the workspace's tools.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::figures::Phase;

/// The usage text.
pub const USAGE: &str = "\
usage: bench [--peers] [--target direct|burrow|tinyproxy|squid|HOST:PORT]... [--rounds N]
             [--quick] [--only PHASE]... [--burrow-bin PATH] [--tinyproxy-bin PATH]
             [--squid-bin PATH] [--dir DIR] [--tune-netns]

  --peers          targets direct, burrow, tinyproxy and squid (what `cargo xtask bench --peers`
                   installs), in that order, alternating each round
  --target T       add a target: `direct` (no proxy), `burrow` (started from --burrow-bin),
                   `burrow=PATH` (another build, compared as a peer), `tinyproxy`, `squid`
                   (started from their binaries), or the address of a proxy already running
                   (CONNECT through it; no memory or CPU figures). Default: direct, burrow
  --rounds N       rounds (default 3); the table shows the median of each figure
  --quick          small counts, for trying things out
  --only PHASE     run only these phases: memory, handshake, rate, upload, download, echo,
                   pingpong, forward
  --burrow-bin P   the burrow binary (default target/release/burrow)
  --dir DIR        where configs and logs go (default: a new directory in /dev/shm)
  --tune-netns     widen the ephemeral port range: only for a private network namespace,
                   as `cargo xtask bench` runs it";

/// One target as named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetSpec {
    /// No proxy.
    Direct,
    /// Burrow, started from `--burrow-bin`.
    Burrow,
    /// Another Burrow build, started from this path (`burrow=PATH`): compared as a peer, so a
    /// run can put two builds side by side on a noisy machine.
    BurrowAt(PathBuf),
    /// tinyproxy, started from `--tinyproxy-bin`.
    Tinyproxy,
    /// Squid, started from `--squid-bin`.
    Squid,
    /// A proxy someone else started.
    Addr(SocketAddr),
}

impl TargetSpec {
    /// Its column heading.
    pub fn name(&self) -> String {
        match self {
            TargetSpec::Direct => "direct".into(),
            TargetSpec::Burrow => "Burrow".into(),
            TargetSpec::BurrowAt(path) => format!("Burrow@{}", build_name(path)),
            TargetSpec::Tinyproxy => "tinyproxy".into(),
            TargetSpec::Squid => "Squid".into(),
            TargetSpec::Addr(a) => a.to_string(),
        }
    }

    fn parse(text: &str) -> Result<TargetSpec> {
        Ok(match text {
            "direct" => TargetSpec::Direct,
            "burrow" => TargetSpec::Burrow,
            "tinyproxy" => TargetSpec::Tinyproxy,
            "squid" => TargetSpec::Squid,
            other if other.starts_with("burrow=") => {
                TargetSpec::BurrowAt(PathBuf::from(&other["burrow=".len()..]))
            }
            addr => TargetSpec::Addr(addr.parse().with_context(|| {
                format!("--target {addr:?} is not direct, burrow, tinyproxy, squid or HOST:PORT")
            })?),
        })
    }
}

/// A short name for a build at `path`: the directory holding its `target/`
/// (`/work/wt-perf/target/release/burrow` is `wt-perf`), else the path itself.
fn build_name(path: &std::path::Path) -> String {
    let parts: Vec<String> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.iter().rposition(|p| p == "target") {
        Some(i) if i > 0 => parts[i - 1].clone(),
        _ => path.display().to_string(),
    }
}

/// The parsed command line.
#[derive(Clone, Debug, PartialEq)]
pub struct Args {
    /// The targets, in the order each round runs them; no duplicates.
    pub targets: Vec<TargetSpec>,
    /// Rounds, at least 1.
    pub rounds: usize,
    /// Small counts.
    pub quick: bool,
    /// The phases to run, in round order.
    pub phases: Vec<Phase>,
    /// The burrow binary.
    pub burrow_bin: PathBuf,
    /// The tinyproxy binary.
    pub tinyproxy_bin: PathBuf,
    /// The squid binary.
    pub squid_bin: PathBuf,
    /// Where configs and logs go; `None` makes a fresh directory.
    pub dir: Option<PathBuf>,
    /// Widen the ephemeral port range of the (private) network namespace.
    pub tune_netns: bool,
    /// `--help` was asked for.
    pub help: bool,
}

/// Most rounds: each takes a minute or more per target.
pub const MAX_ROUNDS: usize = 20;

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args> {
    let mut out = Args {
        targets: Vec::new(),
        rounds: 3,
        quick: false,
        phases: Vec::new(),
        burrow_bin: PathBuf::from("target/release/burrow"),
        tinyproxy_bin: PathBuf::from("/usr/bin/tinyproxy"),
        squid_bin: PathBuf::from("/usr/sbin/squid"),
        dir: None,
        tune_netns: false,
        help: false,
    };
    let mut peers = false;
    let mut named = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .with_context(|| format!("`{name}` needs a value"))
        };
        match name.as_str() {
            "--peers" => peers = true,
            "--quick" => out.quick = true,
            "--tune-netns" => out.tune_netns = true,
            "-h" | "--help" => out.help = true,
            "--target" => named.push(TargetSpec::parse(&value()?)?),
            "--rounds" => {
                let text = value()?;
                out.rounds = text
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_ROUNDS).contains(n))
                    .with_context(|| format!("--rounds {text:?} is not 1 to {MAX_ROUNDS}"))?;
            }
            "--only" => {
                let text = value()?;
                for part in text.split(',') {
                    let phase = Phase::parse(part)
                        .with_context(|| format!("--only {part:?} is not a phase"))?;
                    out.phases.push(phase);
                }
            }
            "--burrow-bin" => out.burrow_bin = value()?.into(),
            "--tinyproxy-bin" => out.tinyproxy_bin = value()?.into(),
            "--squid-bin" => out.squid_bin = value()?.into(),
            "--dir" => out.dir = Some(value()?.into()),
            _ => bail!("unknown argument {arg:?}"),
        }
    }
    let mut targets = Vec::new();
    if peers {
        targets.extend([
            TargetSpec::Direct,
            TargetSpec::Burrow,
            TargetSpec::Tinyproxy,
            TargetSpec::Squid,
        ]);
    }
    targets.extend(named);
    if targets.is_empty() {
        targets = vec![TargetSpec::Direct, TargetSpec::Burrow];
    }
    for t in targets {
        if !out.targets.contains(&t) {
            out.targets.push(t);
        }
    }
    if out.phases.is_empty() {
        out.phases = Phase::ALL.to_vec();
    }
    out.phases.sort();
    out.phases.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(line: &str) -> Result<Args> {
        parse(line.split_whitespace().map(String::from))
    }

    #[test]
    fn defaults() {
        let a = check("").unwrap();
        assert_eq!(a.targets, vec![TargetSpec::Direct, TargetSpec::Burrow]);
        assert_eq!(a.rounds, 3);
        assert_eq!(a.phases, Phase::ALL.to_vec());
        assert!(!a.quick && !a.help && a.dir.is_none());
    }

    #[test]
    fn targets() {
        let a = check("--peers --target 127.0.0.1:3128 --target burrow").unwrap();
        assert_eq!(
            a.targets,
            vec![
                TargetSpec::Direct,
                TargetSpec::Burrow,
                TargetSpec::Tinyproxy,
                TargetSpec::Squid,
                TargetSpec::Addr("127.0.0.1:3128".parse().unwrap()),
            ]
        );
        let a = check("--target=burrow --burrow-bin /x/burrow").unwrap();
        assert_eq!(a.targets, vec![TargetSpec::Burrow]);
        assert_eq!(a.burrow_bin, PathBuf::from("/x/burrow"));
        let a = check("--target burrow --target burrow=/w/wt-perf/target/release/burrow").unwrap();
        assert_eq!(a.targets[1].name(), "Burrow@wt-perf");
        assert_eq!(
            TargetSpec::BurrowAt(PathBuf::from("./burrow")).name(),
            "Burrow@./burrow"
        );
        assert!(check("--target localhost").is_err());
        assert!(check("--target").is_err());
    }

    #[test]
    fn rounds_and_phases() {
        let a = check("--rounds 5 --only echo,upload --only memory --quick").unwrap();
        assert_eq!(a.rounds, 5);
        assert_eq!(a.phases, vec![Phase::Memory, Phase::Upload, Phase::Echo]);
        assert!(a.quick);
        assert!(check("--rounds 0").is_err());
        assert!(check("--rounds 21").is_err());
        assert!(check("--only nothing").is_err());
        assert!(check("--fast").is_err());
    }
}
