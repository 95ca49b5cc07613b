//! Writes the starting corpora: `seeds DIR` fills `DIR/<target>/` from the
//! conformance vectors (run by `cargo xtask fuzz`).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: seeds DIR");
        return ExitCode::from(2);
    };
    match burrow_fuzz::seeds::write_all(&dir) {
        Ok(counts) => {
            for (target, n) in counts {
                println!("{target}: {n} seeds in {}", dir.join(target).display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("writing seeds in {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}
