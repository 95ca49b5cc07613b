//! The journal: the user's own proxy settings, on disk before Burrow changes
//! anything, until they are back.
//!
//! `<settings>.system-proxy.json` sits next to the settings and state files,
//! private (`0600`, written atomically by `settings_file::write_atomic`). It
//! holds the format version, the writer's PID (so a second instance never
//! takes over the first one's journal), the back end, the settings to
//! restore and the settings Burrow wrote (to notice another program's
//! change). Its presence at start means Burrow did not get to restore:
//! the next start restores it before anything else.
//!
//! A journal that cannot be read is never applied (applying a guess could
//! clobber the user's settings): it is renamed aside (`….corrupt-<time>`)
//! and reported. A journal of another version is treated the same way with
//! its own message: version 1 is the only format there has been, so there
//! is nothing to migrate yet.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ProxySettings;
use crate::settings_file;

/// The journal format this build writes and reads.
pub const VERSION: u32 = 1;

/// What the journal file holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// The format version ([`VERSION`]).
    pub version: u32,
    /// The process that wrote it.
    pub pid: u32,
    /// The back end that read `original` ("gnome", …).
    pub backend: String,
    /// The settings to put back.
    pub original: ProxySettings,
    /// The settings Burrow wrote.
    pub applied: ProxySettings,
}

/// A journal that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Not a journal Burrow can read; nothing was applied.
    #[error(
        "the system proxy journal {} cannot be read ({message}); nothing was restored. \
         It was kept as {}: check your proxy settings by hand (see the README, \"System proxy\")",
        path.display(), kept.display()
    )]
    Corrupt {
        /// The journal's path.
        path: PathBuf,
        /// Where it was moved.
        kept: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A journal of a format this build does not know.
    #[error(
        "the system proxy journal {} is format version {found}, and this Burrow reads only \
         version {VERSION}; nothing was restored. It was kept as {}: restore your proxy \
         settings with the Burrow that wrote it, or by hand from that file",
        path.display(), kept.display()
    )]
    Version {
        /// The journal's path.
        path: PathBuf,
        /// Where it was moved.
        kept: PathBuf,
        /// The version it says it is.
        found: u64,
    },
    /// The file could not be read, written or moved.
    #[error("cannot {action} the system proxy journal {}: {source}", path.display())]
    Io {
        /// "read", "write", "remove", "move aside".
        action: &'static str,
        /// Which file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// The journal's path for a state file: `dir/settings.state.json` → `dir/settings.system-proxy.json`.
pub fn path_for(settings: &Path) -> PathBuf {
    settings.with_extension("system-proxy.json")
}

/// Reads the journal; `Ok(None)` when there is none. A bad one is moved aside (see the module docs).
pub fn load(path: &Path) -> Result<Option<Journal>, JournalError> {
    let text = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(JournalError::Io {
                action: "read",
                path: path.into(),
                source,
            })
        }
    };
    let value: serde_json::Value = match serde_json::from_slice(&text) {
        Ok(v) => v,
        Err(e) => return Err(corrupt(path, e.to_string())),
    };
    match value.get("version").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(found) => {
            let kept = set_aside(path, &format!("v{found}"))?;
            return Err(JournalError::Version {
                path: path.into(),
                kept,
                found,
            });
        }
        None => return Err(corrupt(path, "it has no format version".into())),
    }
    serde_json::from_value(value)
        .map(Some)
        .map_err(|e| corrupt(path, e.to_string()))
}

fn corrupt(path: &Path, message: String) -> JournalError {
    match set_aside(path, "corrupt") {
        Ok(kept) => JournalError::Corrupt {
            path: path.into(),
            kept,
            message,
        },
        Err(e) => e,
    }
}

/// Renames `path` to `path.<label>-<unix seconds>` and returns the new name.
fn set_aside(path: &Path, label: &str) -> Result<PathBuf, JournalError> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{label}-{secs}"));
    let kept = PathBuf::from(name);
    fs::rename(path, &kept).map_err(|source| JournalError::Io {
        action: "move aside",
        path: path.into(),
        source,
    })?;
    Ok(kept)
}

/// Writes the journal atomically, private to the user.
pub fn save(path: &Path, journal: &Journal) -> Result<(), JournalError> {
    let mut text = serde_json::to_string_pretty(journal).unwrap_or_default();
    text.push('\n');
    settings_file::write_atomic(path, text.as_bytes()).map_err(|source| JournalError::Io {
        action: "write",
        path: path.into(),
        source,
    })
}

/// Deletes the journal (done once the user's settings are back); a missing one is fine.
pub fn remove(path: &Path) -> Result<(), JournalError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(JournalError::Io {
            action: "remove",
            path: path.into(),
            source,
        }),
    }
}

/// Whether process `pid` is alive and is a Burrow desktop app (so its
/// journal is its own business). A PID reused by another program counts as
/// dead.
pub fn burrow_is_running(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        // /proc/PID/comm is the executable's name, cut at 15 bytes.
        fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|comm| comm.trim_end().starts_with("burrow-desktop"))
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        // No cheap way to the name here: any live process counts.
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 only checks that the process exists.
        pid > 0 && unsafe { libc::kill(pid, 0) } == 0
    }
    #[cfg(windows)]
    {
        super::windows::process_alive(pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_sits_next_to_the_settings() {
        assert_eq!(
            path_for(Path::new("/c/settings.json")),
            PathBuf::from("/c/settings.system-proxy.json")
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_dead_or_foreign_pid_is_not_burrow() {
        // The test binary is not called burrow-desktop, and PID 0 is nobody.
        assert!(!burrow_is_running(std::process::id()));
        assert!(!burrow_is_running(0));
    }
}
