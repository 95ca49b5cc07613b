//! `cargo xtask fuzz [--time SECS] [TARGET...]`: the coverage-guided fuzz targets of `fuzz/`,
//! one after another, each for SECS seconds, with cargo-fuzz on the stable toolchain.
//!
//! cargo-fuzz runs libFuzzer on code built with SanitizerCoverage, which stable rustc has
//! (`-Cpasses=sancov-module`); only the sanitizers need nightly, so targets run with
//! `--sanitizer none` (a panic, an overflow check or a failed assertion is the finding). Each
//! target starts from its corpus (`fuzz/corpus/<target>`, kept between runs) and the seeds made
//! from the conformance vectors (`fuzz/seeds/<target>`, written anew each time). A crash fails
//! the command, naming the input libFuzzer wrote.

use std::{
    fs,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{bail, Context, Result};

use crate::{cmd, flags::FuzzFlags, step};

/// The cargo-fuzz version used, installed with `--locked` when another (or none) is found.
pub const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// The fuzz crate, a workspace of its own.
const FUZZ_DIR: &str = "fuzz";
/// Seconds per target in `cargo xtask ci`.
pub const CI_SECONDS: u64 = 20;
/// Targets that get the HTTP token dictionary.
const HTTP_DICT_TARGETS: &[&str] = &["head", "body", "connection"];
/// A unit slower than this many seconds is a finding too (a quadratic path, a loop).
const UNIT_TIMEOUT_SECS: u32 = 10;

/// What one target's run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Inputs executed.
    pub execs: u64,
    /// Inputs added to the corpus.
    pub new_units: u64,
    /// Peak resident memory, MB.
    pub peak_rss_mb: u64,
}

/// Every target, from `fuzz/fuzz_targets/*.rs`, sorted.
pub fn targets() -> Result<Vec<String>> {
    targets_in(Path::new(FUZZ_DIR))
}

/// The targets of the fuzz crate at `fuzz_dir`.
fn targets_in(fuzz_dir: &Path) -> Result<Vec<String>> {
    let dir = fuzz_dir.join("fuzz_targets");
    let mut names = Vec::new();
    for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            if let Some(stem) = path.file_stem() {
                names.push(stem.to_string_lossy().into_owned());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Runs `cargo xtask fuzz`.
pub fn run(flags: &FuzzFlags) -> Result<()> {
    let all = targets()?;
    let chosen = if flags.targets.is_empty() {
        all.clone()
    } else {
        flags.targets.clone()
    };
    if let Some(unknown) = chosen.iter().find(|t| !all.contains(t)) {
        bail!(
            "no fuzz target `{unknown}`; the targets are {}",
            all.join(", ")
        );
    }
    fuzz(&chosen, flags.seconds)
}

/// The brief run of every target in `cargo xtask ci`.
pub fn ci() -> Result<()> {
    step::run("fuzz: fmt", || {
        let manifest = Path::new(FUZZ_DIR).join("Cargo.toml");
        cmd::run(cmd::new("cargo", &["fmt", "--check", "--manifest-path"]).arg(manifest))
    })?;
    fuzz(&targets()?, CI_SECONDS)
}

fn fuzz(targets: &[String], seconds: u64) -> Result<()> {
    step::run("fuzz: cargo-fuzz", ensure_cargo_fuzz)?;
    step::run("fuzz: seeds from the vectors", write_seeds)?;
    let mut rows = Vec::new();
    for target in targets {
        let start = Instant::now();
        let stats = step::run(&format!("fuzz: {target}"), || run_target(target, seconds))?;
        rows.push((target.as_str(), start.elapsed(), stats));
    }
    println!("\n==> fuzz summary ({seconds}s of fuzzing per target; wall time includes the build)");
    println!(
        "{:12} {:>8} {:>14} {:>8} {:>8}",
        "target", "wall", "executions", "new", "rss MB"
    );
    for (target, wall, s) in &rows {
        println!(
            "{target:12} {:>8} {:>14} {:>8} {:>8}",
            step::duration(*wall),
            s.execs,
            s.new_units,
            s.peak_rss_mb
        );
    }
    let total: u64 = rows.iter().map(|(_, _, s)| s.execs).sum();
    let minutes = seconds as f64 * rows.len() as f64 / 60.0;
    println!(
        "{:12} {:>8} {total:>14}  ({minutes:.1} min of fuzzing)",
        "total", ""
    );
    Ok(())
}

/// Installs cargo-fuzz [`CARGO_FUZZ_VERSION`] unless `cargo fuzz --version` already says so.
pub fn ensure_cargo_fuzz() -> Result<()> {
    let have = cmd::probe(&mut cmd::new("cargo", &["fuzz", "--version"]));
    let version = have
        .as_deref()
        .and_then(|out| out.split_whitespace().nth(1));
    if version == Some(CARGO_FUZZ_VERSION) {
        println!("cargo-fuzz {CARGO_FUZZ_VERSION}: installed");
        return Ok(());
    }
    let wanted = format!("={CARGO_FUZZ_VERSION}");
    cmd::run(&mut cmd::new(
        "cargo",
        &["install", "cargo-fuzz", "--version", &wanted, "--locked"],
    ))
}

/// Writes `fuzz/seeds/<target>/` from the vectors (a plain build of the fuzz crate's `seeds`).
fn write_seeds() -> Result<()> {
    let manifest = Path::new(FUZZ_DIR).join("Cargo.toml");
    let seeds = Path::new(FUZZ_DIR).join("seeds");
    let mut c = cmd::new(
        "cargo",
        &["run", "--quiet", "--bin", "seeds", "--manifest-path"],
    );
    cmd::run(c.arg(manifest).arg("--").arg(seeds))
}

/// Builds and runs one target for `seconds`; fails on any finding, naming its input.
fn run_target(target: &str, seconds: u64) -> Result<Stats> {
    let corpus = Path::new(FUZZ_DIR).join("corpus").join(target);
    fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
    let seeds = Path::new(FUZZ_DIR).join("seeds").join(target);
    let mut c = Command::new("cargo");
    c.args(["fuzz", "run", "--sanitizer", "none", target])
        .arg(&corpus)
        .arg(&seeds)
        .arg("--")
        .args(libfuzzer_args(target, seconds));
    let line = cmd::show(&c);
    println!("$ {line}");
    let mut child = c
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start `{line}`"))?;
    let mut stats = Stats::default();
    let mut artifact = None;
    if let Some(err) = child.stderr.take() {
        for l in BufReader::new(err).lines() {
            let l = l?;
            read_line(&l, &mut stats, &mut artifact);
            // libFuzzer's progress lines (#123 NEW ...) would bury what matters.
            if !is_progress(&l) {
                eprintln!("{l}");
            }
        }
    }
    let status = child.wait()?;
    if !status.success() {
        let Some(input) = artifact else {
            bail!("fuzz target `{target}` failed ({status}) without writing an input; see above");
        };
        bail!(
            "fuzz target `{target}` found a problem ({status}); the input is {}\n  \
             reproduce: cargo fuzz run --sanitizer none {target} {}\n  \
             minimise:  cargo fuzz tmin --sanitizer none {target} {}",
            input.display(),
            input.display(),
            input.display()
        );
    }
    println!(
        "{target}: {} executions, {} new inputs, peak RSS {} MB",
        stats.execs, stats.new_units, stats.peak_rss_mb
    );
    Ok(stats)
}

/// The libFuzzer flags: stop after `seconds`, stats at the end, a per-input time limit.
fn libfuzzer_args(target: &str, seconds: u64) -> Vec<String> {
    let mut args = vec![
        format!("-max_total_time={seconds}"),
        format!("-timeout={UNIT_TIMEOUT_SECS}"),
        "-print_final_stats=1".to_string(),
    ];
    if HTTP_DICT_TARGETS.contains(&target) {
        let dict: PathBuf = [FUZZ_DIR, "dicts", "http.dict"].iter().collect();
        args.push(format!("-dict={}", dict.display()));
    }
    args
}

/// Picks the final stats and the path of a written input out of libFuzzer's output.
fn read_line(line: &str, stats: &mut Stats, artifact: &mut Option<PathBuf>) {
    let number = |prefix: &str| {
        line.strip_prefix(prefix)
            .and_then(|rest| rest.trim().parse::<u64>().ok())
    };
    if let Some(n) = number("stat::number_of_executed_units:") {
        stats.execs = n;
    } else if let Some(n) = number("stat::new_units_added:") {
        stats.new_units = n;
    } else if let Some(n) = number("stat::peak_rss_mb:") {
        stats.peak_rss_mb = n;
    } else if let Some((_, rest)) = line.split_once("Test unit written to ") {
        *artifact = Some(PathBuf::from(rest.trim()));
    }
}

/// libFuzzer's per-input progress lines: `#1234  NEW    cov: ...` and the like.
fn is_progress(line: &str) -> bool {
    let Some(rest) = line.strip_prefix('#') else {
        return false;
    };
    let mut words = rest.split_whitespace();
    let counted = words
        .next()
        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
    counted && matches!(words.next(), Some("NEW" | "REDUCE" | "pulse" | "RELOAD"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_final_stats_and_the_input() {
        let mut stats = Stats::default();
        let mut artifact = None;
        for l in [
            "#2097152\tpulse  cov: 1234 ft: 5678 corp: 90/1Mb exec/s: 1000",
            "stat::number_of_executed_units: 1331037",
            "stat::average_exec_per_sec:     11000",
            "stat::new_units_added:          3103",
            "stat::peak_rss_mb:              77",
            "artifact_prefix='fuzz/artifacts/head/'; Test unit written to fuzz/artifacts/head/crash-abc",
        ] {
            read_line(l, &mut stats, &mut artifact);
        }
        assert_eq!(
            stats,
            Stats {
                execs: 1_331_037,
                new_units: 3103,
                peak_rss_mb: 77
            }
        );
        assert_eq!(
            artifact,
            Some(PathBuf::from("fuzz/artifacts/head/crash-abc"))
        );
    }

    #[test]
    fn progress_lines_are_recognised() {
        assert!(is_progress("#4096\tpulse  cov: 1 ft: 2"));
        assert!(is_progress("#12 NEW    cov: 3 ft: 4 corp: 5/6b"));
        assert!(!is_progress("#12 INITED cov: 3"));
        assert!(!is_progress("#12 DONE   cov: 3"));
        assert!(!is_progress("==123== ERROR: libFuzzer: deadly signal"));
    }

    #[test]
    fn every_target_has_an_entry_point() {
        let targets = targets_in(&crate::project_root().join(FUZZ_DIR)).unwrap();
        assert_eq!(targets, ["body", "connection", "head", "target", "tls"]);
        for t in HTTP_DICT_TARGETS {
            assert!(targets.iter().any(|x| x == t), "{t}");
        }
        assert!(libfuzzer_args("head", 5).contains(&"-max_total_time=5".to_string()));
    }
}
