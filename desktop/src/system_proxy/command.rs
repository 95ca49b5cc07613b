//! Command lines as data, and the runner that executes them.
//!
//! The command back ends (GNOME, KDE, macOS) build [`Cmd`]s with pure
//! functions, so their exact argument lists are unit-tested; a [`Runner`]
//! runs them. Every value goes in as one argument, never through a shell.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::BackendError;

/// How long one tool may take before it is killed: a stuck session bus must
/// not hang the app's exit.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// One program and its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmd {
    /// The program, looked up in PATH.
    pub program: String,
    /// Its arguments, each passed as is.
    pub args: Vec<String>,
}

impl Cmd {
    /// `program` with `args`.
    pub fn new<S: AsRef<str>>(program: &str, args: &[S]) -> Cmd {
        Cmd {
            program: program.to_string(),
            args: args.iter().map(|a| a.as_ref().to_string()).collect(),
        }
    }

    /// The command line as a user could type it (for messages only: each
    /// argument in single quotes when it needs them).
    pub fn display(&self) -> String {
        let mut out = self.program.clone();
        for a in &self.args {
            out.push(' ');
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,".contains(c));
            if plain {
                out.push_str(a);
            } else {
                out.push('\'');
                out.push_str(&a.replace('\'', r"'\''"));
                out.push('\'');
            }
        }
        out
    }
}

/// Runs commands and returns what they print.
pub trait Runner: Send {
    /// Runs `cmd`; its standard output when it exits with success.
    fn run(&mut self, cmd: &Cmd) -> Result<String, BackendError>;
}

/// Runs commands for real, each bounded by [`TIMEOUT`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemRunner;

impl Runner for SystemRunner {
    fn run(&mut self, cmd: &Cmd) -> Result<String, BackendError> {
        let mut child = Command::new(&cmd.program)
            .args(&cmd.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| BackendError::Spawn {
                program: cmd.program.clone(),
                message: e.to_string(),
            })?;
        // Read both pipes on threads, so a chatty tool cannot block on a full pipe.
        let out = child.stdout.take().map(reader);
        let err = child.stderr.take().map(reader);
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(BackendError::Failed {
                        command: cmd.display(),
                        message: format!("no answer within {} s", TIMEOUT.as_secs()),
                    });
                }
                Err(e) => {
                    return Err(BackendError::Failed {
                        command: cmd.display(),
                        message: e.to_string(),
                    })
                }
            }
        };
        let stdout = out.and_then(|h| h.join().ok()).unwrap_or_default();
        let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
        if status.success() {
            Ok(stdout)
        } else {
            let said = stderr.trim();
            Err(BackendError::Failed {
                command: cmd.display(),
                message: if said.is_empty() {
                    status.to_string()
                } else {
                    said.to_string()
                },
            })
        }
    }
}

fn reader(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// A runner for tests: records every command and answers from a script.
#[derive(Default)]
pub struct ScriptedRunner {
    /// Every command run, in order.
    pub calls: Vec<Cmd>,
    /// Answers by exact command line (`Cmd::display`); unknown commands print nothing.
    pub answers: std::collections::HashMap<String, Result<String, BackendError>>,
}

impl ScriptedRunner {
    /// Answers `cmd` with `out`.
    pub fn answer(&mut self, cmd: &Cmd, out: &str) {
        self.answers.insert(cmd.display(), Ok(out.to_string()));
    }
}

impl Runner for ScriptedRunner {
    fn run(&mut self, cmd: &Cmd) -> Result<String, BackendError> {
        self.calls.push(cmd.clone());
        self.answers
            .get(&cmd.display())
            .cloned()
            .unwrap_or_else(|| Ok(String::new()))
    }
}

impl<R: Runner + ?Sized> Runner for &mut R {
    fn run(&mut self, cmd: &Cmd) -> Result<String, BackendError> {
        (**self).run(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_what_needs_it() {
        let c = Cmd::new("gsettings", &["set", "a.b", "host", "it's x"]);
        assert_eq!(c.display(), r"gsettings set a.b host 'it'\''s x'");
        assert_eq!(Cmd::new("x", &[""]).display(), "x ''");
    }

    #[cfg(unix)]
    #[test]
    fn the_system_runner_passes_arguments_as_data() {
        let out = SystemRunner
            .run(&Cmd::new("printf", &["%s|", "a b", "$(id)", "'q'"]))
            .unwrap();
        assert_eq!(out, "a b|$(id)|'q'|");
        let e = SystemRunner
            .run(&Cmd::new("false", &[] as &[&str]))
            .unwrap_err();
        assert!(matches!(e, BackendError::Failed { .. }), "{e}");
        let e = SystemRunner
            .run(&Cmd::new("burrow-no-such-tool", &[] as &[&str]))
            .unwrap_err();
        assert!(e.to_string().contains("is it installed"), "{e}");
    }
}
