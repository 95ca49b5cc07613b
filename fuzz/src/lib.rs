//! Burrow's fuzz targets, as library code: `fuzz_targets/*.rs` are one line
//! each, calling [`head::run`], [`target::run`], [`body::run`], [`tls::run`]
//! or [`conn::run`], so the same code runs under libFuzzer and in the unit
//! tests below. [`seeds`] writes the starting corpora from the vectors.

pub mod alloc;
pub mod body;
pub mod conn;
pub mod head;
pub mod input;
pub mod seeds;
pub mod target;
pub mod tls;

/// The fuzz targets, by name (the binaries in `fuzz_targets/`).
pub const TARGETS: &[&str] = &["head", "target", "body", "tls", "connection"];

/// Runs target `name` on one input.
pub fn run(name: &str, data: &[u8]) {
    match name {
        "head" => head::run(data),
        "target" => target::run(data),
        "body" => body::run(data),
        "tls" => tls::run(data),
        "connection" => conn::run(data),
        other => panic!("no target {other}"),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    /// Every seed passes every check: the targets start from a clean slate,
    /// and the checks hold on the behaviour the vectors pin down.
    #[test]
    fn every_seed_passes() {
        let dir = std::env::temp_dir().join(format!("burrow-fuzz-seeds-{}", std::process::id()));
        let counts = crate::seeds::write_all(&dir).unwrap();
        let mut failed = Vec::new();
        for (target, n) in counts {
            assert!(n > 0, "no seeds for {target}");
            for entry in fs::read_dir(dir.join(target)).unwrap() {
                let path = entry.unwrap().path();
                let data = fs::read(&path).unwrap();
                let run = std::panic::catch_unwind(|| crate::run(target, &data));
                if run.is_err() {
                    failed.push(format!("{target}: {}", path.display()));
                }
            }
        }
        fs::remove_dir_all(&dir).unwrap();
        assert!(failed.is_empty(), "failing seeds:\n{}", failed.join("\n"));
    }

    /// Arbitrary bytes are valid inputs, however short.
    #[test]
    fn short_inputs_run() {
        for target in crate::TARGETS {
            for data in [&b""[..], b"\x00", b"\xff\xff\xff", b"\x0b\x0b\x0b\x0b"] {
                crate::run(target, data);
            }
        }
    }
}
