//! Running a command in a private network namespace that has only loopback.
//!
//! Rule of this machine: tests may reach 127.0.0.1 and nothing else. Chromium sends background
//! requests to public hosts even with every "disable" flag, so tests run where nothing can leave
//! the machine and a name lookup fails at once. Needs root, or unprivileged user namespaces.

use std::{ffi::OsString, process::Command};

use anyhow::Result;

use crate::cmd;

/// The shell snippet run inside the namespace: bring loopback up, then become the command.
const INNER: &str = r#"ip link set lo up && exec "$@""#;

/// Runs `argv` (program first) in a fresh loopback-only network namespace with these extra
/// environment variables; stdio and the rest of the environment are inherited.
pub fn run(argv: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let mut command = Command::new("unshare");
    command
        .args(unshare_args(argv, cmd::is_root()))
        .envs(env.iter().copied());
    cmd::run(&mut command)
}

/// The arguments of `unshare` for `argv`: `--net -- sh -c '<INNER>' sh argv...`.
///
/// Without root, `--map-root-user` adds a user namespace so that `unshare --net` is allowed.
fn unshare_args(argv: &[&str], root: bool) -> Vec<OsString> {
    let user = if root { None } else { Some("--map-root-user") };
    user.into_iter()
        .chain(["--net", "--", "sh", "-c", INNER, "sh"])
        .chain(argv.iter().copied())
        .map(OsString::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(argv: &[&str], root: bool, expected: &str) {
        let mut c = Command::new("unshare");
        c.args(unshare_args(argv, root));
        assert_eq!(cmd::show(&c), expected);
    }

    #[test]
    fn wraps_the_command() {
        check(
            &["cargo", "test", "--offline"],
            true,
            r#"unshare --net -- sh -c 'ip link set lo up && exec "$@"' sh cargo test --offline"#,
        );
        check(
            &["xvfb-run", "-a", "app"],
            false,
            r#"unshare --map-root-user --net -- sh -c 'ip link set lo up && exec "$@"' sh xvfb-run -a app"#,
        );
    }
}
