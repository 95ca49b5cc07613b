//! The `burrow` binary under test, run as a child process.
//!
//! `CARGO_BIN_EXE_burrow` exists only for burrow-proxy's own tests, and a
//! binary lying in the target directory may be stale or missing (`cargo test`
//! builds a package's binaries only for its own integration tests). So the
//! first test that needs it asks the cargo running the tests to build it:
//! `cargo build --offline -p burrow-proxy --bin burrow`, which compiles
//! nothing when it is fresh. Offline is safe: burrow-tests depends on
//! burrow-proxy, so everything the binary needs has been fetched already.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// A command running the `burrow` binary with `args`: no stdin, stdout and
/// stderr piped, and no `BURROW_AUTH` from the environment running the tests.
pub fn burrow(args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_remove("BURROW_AUTH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// The path of a `burrow` binary built from the current sources; built on
/// the first call (once per test process).
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(build)
}

fn build() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../proxy/Cargo.toml");
    let out = Command::new(cargo)
        .args(["build", "--offline", "--bin", "burrow", "--manifest-path"])
        .arg(&manifest)
        .args(["--message-format", "json-render-diagnostics"])
        .stdin(Stdio::null())
        .output()
        .expect("running cargo to build the burrow binary");
    assert!(
        out.status.success(),
        "`cargo build -p burrow-proxy --bin burrow` failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    executable(&String::from_utf8_lossy(&out.stdout))
        .expect("cargo reports the burrow executable it built")
}

/// The `executable` of the `burrow` binary among cargo's JSON messages.
fn executable(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "burrow")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_executable_in_cargos_messages() {
        let messages = r#"{"reason":"compiler-artifact","target":{"name":"burrow_core"},"executable":null}
not json
{"reason":"compiler-artifact","target":{"name":"burrow"},"executable":"/t/debug/burrow"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(executable(messages), Some(PathBuf::from("/t/debug/burrow")));
        assert_eq!(executable(r#"{"reason":"build-finished"}"#), None);
    }
}
