//! `cargo xtask soak`: the `burrow` binary under minutes of mixed, hostile and checked load on
//! loopback, then back at rest where it started (issue 9).
//!
//! ```text
//! soak --burrow PATH [--minutes N] [--seed S] [--dir DIR]
//! ```
//!
//! 1. Starts loopback origins in-process (a byte origin for tunnels, an HTTP origin) and the
//!    binary as a child on `127.0.0.1:0` with a settings file of short timeouts (`plan.rs`).
//! 2. Warms up with the mix, waits for rest, and reads the baseline from `/proc/PID`.
//! 3. Runs the load: tunnels ended every way and forwarded keep-alive requests, every byte
//!    checked; garbage and slowloris clients; a cap client; a latency probe; and a stalled
//!    stdout pipe partway through.
//! 4. Waits for rest again and compares: descriptors, sockets, CLOSE_WAIT, threads, memory.
//! 5. Stops the child (SIGTERM to its PID) and prints the figures; exits 1 if a check failed.
//!
//! Every wait is bounded, and a watchdog ends the child and the soak past the schedule's limit.
//! Client addresses are all in 127.0.0.0/8; `cargo xtask soak` also runs this in a network
//! namespace that has nothing but loopback.

mod abuse;
mod access_log;
mod cap;
mod child;
mod forward;
mod http;
mod mix;
mod net;
mod origin;
mod payload;
mod plan;
mod procfs;
mod report;
mod stall;
mod stats;
mod tunnel;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use crate::cap::Burst;
use crate::child::{Burrow, Killer};
use crate::net::Env;
use crate::origin::Origins;
use crate::plan::{Schedule, CAP_EXTRA, PER_CLIENT_CAP};
use crate::stall::Probes;
use crate::stats::Stats;

const USAGE: &str = "usage: soak --burrow PATH [--minutes N] [--seed S] [--dir DIR]";
/// Time between two cap bursts while the load runs (per-client cap only).
const CAP_EVERY: Duration = Duration::from_secs(15);

/// The command line.
struct Args {
    burrow: PathBuf,
    minutes: f64,
    seed: u64,
    dir: PathBuf,
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("soak: {e:#}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match burrow_tests::tool_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("soak: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(soak(&args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("\nsoak FAILED: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args> {
    let mut args = Args {
        burrow: PathBuf::new(),
        minutes: 3.0,
        // Printed, so a run can be repeated (as far as timing lets it).
        seed: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_secs()),
        dir: PathBuf::from("target/soak"),
    };
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--burrow" => args.burrow = value()?.into(),
            "--minutes" => args.minutes = value()?.parse().context("--minutes")?,
            "--seed" => args.seed = value()?.parse().context("--seed")?,
            "--dir" => args.dir = value()?.into(),
            other => bail!("unknown argument {other:?}"),
        }
    }
    if args.burrow.as_os_str().is_empty() {
        bail!("--burrow is required");
    }
    if !(args.minutes > 0.0 && args.minutes <= 60.0) {
        bail!("--minutes must be more than 0 and at most 60");
    }
    Ok(args)
}

async fn soak(args: &Args) -> Result<bool> {
    let schedule = Schedule::new(args.minutes);
    let stats = Arc::new(Stats::new(Instant::now()));
    std::fs::create_dir_all(&args.dir).with_context(|| args.dir.display().to_string())?;
    let origins = Origins::start().await;
    let config = args.dir.join("config.json");
    std::fs::write(&config, plan::config())?;
    let mut burrow = Burrow::start(&args.burrow, &config)?;
    watchdog(burrow.killer(), schedule.limit);
    let env = Env {
        proxy: burrow.addr,
        tunnel_origin: origins.tunnel.addr,
        http_origin: origins.http.addr,
        ends: origins.ends.clone(),
        stats: stats.clone(),
    };
    report::header(args.seed, &schedule, &burrow, &env);

    println!("warm-up: {:?} of the mix", schedule.warmup);
    mix::run(&env, Instant::now() + schedule.warmup, args.seed).await?;
    let base = watch::settle(burrow.pid, &origins, schedule.settle_limit, None).await?;
    if !base.reached {
        bail!(
            "the proxy did not come to rest after the warm-up ({:?})",
            base.snap
        );
    }
    println!(
        "baseline after {:.1} s at rest: {:?}",
        base.took.as_secs_f64(),
        base.snap
    );

    let load_from = stats.elapsed();
    let until = Instant::now() + schedule.load;
    println!("load: {:?}", schedule.load);
    let probes = Probes::default();
    let (peaks, stall, mixed, _, bursts) = tokio::join!(
        watch::peaks(burrow.pid, &origins, until),
        stall::stall(
            &burrow,
            &env,
            load_from + schedule.stall_at,
            schedule.stall_for
        ),
        mix::run(&env, until, args.seed.rotate_left(17)),
        probes.run(&env, until, args.seed.rotate_left(31)),
        cap_bursts(&env, until),
    );
    mixed?;
    let load_to = stats.elapsed();
    let peaks = peaks?;
    println!("settling (at most {:?})", schedule.settle_limit);
    let after = watch::settle(
        burrow.pid,
        &origins,
        schedule.settle_limit,
        Some(&base.snap),
    )
    .await?;
    let alive = burrow.running();
    let exit = burrow.stop();
    let figures = report::Figures {
        stats: &stats,
        base,
        peaks,
        after,
        stall,
        probes: &probes,
        load: (load_from, load_to),
        bursts,
        alive,
        exit,
        burrow: &burrow,
        http_accepted: origins.http.accepted(),
    };
    Ok(report::print(&figures))
}

/// One burst past the per-client cap every [`CAP_EVERY`] while the load runs.
async fn cap_bursts(env: &Env, until: Instant) -> Vec<Burst> {
    let mut bursts = Vec::new();
    tokio::time::sleep(CAP_EVERY / 3).await;
    while Instant::now() + CAP_EVERY / 3 < until {
        match cap::burst(env, PER_CLIENT_CAP, CAP_EXTRA).await {
            Ok(b) => bursts.push(b),
            Err(e) => env.stats.record(
                plan::Kind::CapClient,
                stats::Outcome::Unexpected(format!("{e:#}")),
            ),
        }
        tokio::time::sleep(CAP_EVERY).await;
    }
    bursts
}

/// Past `limit`, ends the child and the soak, whatever they are doing.
fn watchdog(killer: Killer, limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("\nsoak FAILED: still running after {limit:?}; ending burrow and the soak");
        killer.kill();
        std::process::exit(1);
    });
}
