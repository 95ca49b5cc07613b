//! Burrow's project automation, run as `cargo xtask <command>`.
//!
//! The alias lives in `.cargo/config.toml`. Every command runs from the repository root, prints a
//! `==> step` header and the wall time of each step, and exits non-zero naming the step that failed.
//! Tools are probed before they are installed, so every command is safe to repeat.

mod bench;
mod ci;
mod cmd;
mod desktop;
mod dist;
mod flags;
mod fuzz;
mod install;
mod netns;
mod soak;
mod step;
#[cfg(test)]
mod tidy;
mod web;

use std::{
    env,
    path::{Path, PathBuf},
    process::ExitCode,
};

use flags::Task;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let task = match flags::parse(&args) {
        Ok(task) => task,
        Err(e) => {
            eprintln!("error: {e}\n\n{}", flags::USAGE);
            return ExitCode::from(2);
        }
    };
    match run(task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(task: Task) -> anyhow::Result<()> {
    env::set_current_dir(project_root())?;
    match task {
        Task::Help => {
            println!("{}", flags::USAGE);
            Ok(())
        }
        Task::Install => step::run("install", install::run),
        Task::Ci => ci::run(),
        Task::Web(web) => web::run(&web),
        Task::Desktop(args) => desktop::run(&args),
        Task::Dist(flags) => dist::run(&flags),
        Task::Bench(args) => bench::run(&args),
        Task::Fuzz(flags) => fuzz::run(&flags),
        Task::Soak(flags) => soak::run(&flags),
    }
}

/// The repository root: the parent of this crate's directory.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the repository root")
        .to_path_buf()
}

/// Cargo's target directory, relative to the repository root unless `CARGO_TARGET_DIR` says otherwise.
pub fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from)
}
