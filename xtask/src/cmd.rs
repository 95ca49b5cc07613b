//! Running external programs: echo the command line, inherit stdio, turn a failure into an error.

use std::{
    env,
    ffi::OsStr,
    os::unix::fs::PermissionsExt,
    path::PathBuf,
    process::{Command, Stdio},
};

use anyhow::{bail, Context, Result};

/// A `Command` for `program args...`.
pub fn new<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args);
    cmd
}

/// Prints the command line, runs it with inherited stdio, and fails unless it exits with 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    let line = show(cmd);
    println!("$ {line}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Builds the release `burrow` binary (`target/release/burrow`), which the
/// bench, the soak run and the headless package all start from.
pub fn build_burrow_release() -> Result<()> {
    run(&mut new(
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "burrow-proxy",
            "--bin",
            "burrow",
        ],
    ))
}

/// Runs the command quietly and returns its stdout, or `None` if it could not start or failed.
///
/// For probes ("is this installed, which version?"), where failure is an answer, not an error.
pub fn probe(cmd: &mut Command) -> Option<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Where `name` is found on `PATH`, if it is there and executable.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path).map(|dir| dir.join(name)).find(|p| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    probe(&mut new("id", &["-u"])).is_some_and(|uid| uid.trim() == "0")
}

/// The command as a shell-like line, with the environment variables it sets in front.
pub fn show(cmd: &Command) -> String {
    let envs = cmd.get_envs().filter_map(|(k, v)| {
        v.map(|v| format!("{}={}", k.to_string_lossy(), quote(&v.to_string_lossy())))
    });
    let argv = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| quote(&a.to_string_lossy()));
    envs.chain(argv).collect::<Vec<_>>().join(" ")
}

/// Quotes `s` for display if a shell would split or expand it.
fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=./:,+@%^".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_quotes_what_needs_quoting() {
        let mut cmd = new(
            "sh",
            &[
                "-c",
                "ip link set lo up && exec \"$@\"",
                "sh",
                "--version=^2",
            ],
        );
        cmd.env("A", "1");
        assert_eq!(
            show(&cmd),
            r#"A=1 sh -c 'ip link set lo up && exec "$@"' sh --version=^2"#
        );
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn probe_and_which() {
        assert!(which("sh").is_some());
        assert!(which("no-such-tool-burrow").is_none());
        assert_eq!(
            probe(&mut new("sh", &["-c", "echo hi"])).as_deref(),
            Some("hi\n")
        );
        assert_eq!(probe(&mut new("sh", &["-c", "exit 3"])), None);
        assert_eq!(probe(&mut new("no-such-tool-burrow", &[""; 0])), None);
    }
}
