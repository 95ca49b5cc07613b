//! Named, timed steps: a `==> name` header before, the wall time after, the name in any error.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// Runs `f` as the step `name`, printing its header and wall time; an error names the step.
pub fn run<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    timed(name, f).0
}

/// Like [`run`], and also returns the wall time, for summaries.
pub fn timed<T>(name: &str, f: impl FnOnce() -> Result<T>) -> (Result<T>, Duration) {
    println!("\n==> {name}");
    let start = Instant::now();
    let result = f();
    let elapsed = start.elapsed();
    match &result {
        Ok(_) => println!("<== {name}: ok in {}", duration(elapsed)),
        Err(_) => eprintln!("<== {name}: FAILED after {}", duration(elapsed)),
    }
    (
        result.with_context(|| format!("step `{name}` failed")),
        elapsed,
    )
}

/// A human wall time: `0.4s`, `12.3s`, `2m05s`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let whole = d.as_secs();
        format!("{}m{:02}s", whole / 60, whole % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(Duration::from_millis(0)), "0.0s");
        assert_eq!(duration(Duration::from_millis(12_345)), "12.3s");
        assert_eq!(duration(Duration::from_secs(59)), "59.0s");
        assert_eq!(duration(Duration::from_secs(125)), "2m05s");
    }

    #[test]
    fn errors_name_the_step() {
        let err = run::<()>("lint", || anyhow::bail!("boom")).unwrap_err();
        assert_eq!(format!("{err:#}"), "step `lint` failed: boom");
        assert_eq!(run("ok", || Ok(7)).unwrap(), 7);
    }
}
