//! The rules of holding the system proxy: journal first, then write; put
//! back exactly what was there; never fight another program; never touch
//! another instance's journal.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::journal::{self, Journal, JournalError};
use super::{Backend, BackendError, ProxySettings, Target};

/// What the system proxy is doing, for the tray and the window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "message", rename_all = "snake_case")]
pub enum Health {
    /// Burrow does not hold the system proxy.
    Off,
    /// The system proxy points at Burrow.
    On,
    /// Another program changed the system proxy while Burrow held it; its
    /// value is kept, and the setting was turned off. Says what changed.
    Changed(String),
    /// The user's settings could not be put back; the journal is kept.
    RestoreFailed(String),
    /// Burrow cannot hold the system proxy (no back end, another
    /// instance holds it, a bad journal, a tool that failed).
    Unavailable(String),
}

impl Health {
    /// Whether the user should look (the tray's attention icon).
    pub fn needs_attention(&self) -> bool {
        matches!(
            self,
            Health::Changed(_) | Health::RestoreFailed(_) | Health::Unavailable(_)
        )
    }
}

/// Why the system proxy could not be set or restored.
#[derive(Debug, thiserror::Error)]
pub enum SystemProxyError {
    /// The back end failed, or there is none.
    #[error("{0}")]
    Backend(#[from] BackendError),
    /// The journal could not be read or written.
    #[error("{0}")]
    Journal(#[from] JournalError),
    /// Another running Burrow holds the system proxy.
    #[error(
        "another Burrow (process {pid}) holds the system proxy; quit it first, or use that one"
    )]
    OtherInstance {
        /// Its process id.
        pid: u32,
    },
    /// The journal was written by another back end than this desktop's.
    #[error(
        "the system proxy journal {} was written for {wrote}, but this session uses {now}; \
         nothing was restored: log in to the desktop that wrote it, or restore by hand \
         (see the README, \"System proxy\")", path.display()
    )]
    OtherBackend {
        /// The journal.
        path: PathBuf,
        /// Its back end.
        wrote: String,
        /// This session's.
        now: String,
    },
}

/// What Burrow holds.
struct Held {
    original: ProxySettings,
    applied: ProxySettings,
    target: Target,
}

/// Holds (or not) the system proxy for this process.
pub struct Manager {
    backend: Result<Box<dyn Backend>, BackendError>,
    journal: PathBuf,
    pid: u32,
    is_running: fn(u32) -> bool,
    held: Option<Held>,
    health: Health,
}

impl Manager {
    /// A manager for this process, keeping its journal at `journal`.
    pub fn new(backend: Result<Box<dyn Backend>, BackendError>, journal: PathBuf) -> Manager {
        Manager::with_process(
            backend,
            journal,
            std::process::id(),
            journal::burrow_is_running,
        )
    }

    /// A manager that believes it is process `pid` and asks `is_running`
    /// whether another journal's writer is still a running Burrow (tests).
    pub fn with_process(
        backend: Result<Box<dyn Backend>, BackendError>,
        journal: PathBuf,
        pid: u32,
        is_running: fn(u32) -> bool,
    ) -> Manager {
        Manager {
            backend,
            journal,
            pid,
            is_running,
            held: None,
            health: Health::Off,
        }
    }

    /// The state to show.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Whether Burrow holds the system proxy now.
    pub fn holds(&self) -> bool {
        self.held.is_some()
    }

    /// The journal's path.
    pub fn journal_path(&self) -> &Path {
        &self.journal
    }

    /// Forgets an old warning (the user chose again).
    pub fn clear_warning(&mut self) {
        if self.held.is_none() {
            self.health = Health::Off;
        }
    }

    /// At start, before anything else: puts back what a previous run left in
    /// the journal (it crashed or was killed). Returns whether it restored.
    /// Leaves a live instance's journal alone, and a bad journal unapplied.
    pub fn recover(&mut self) -> Result<bool, SystemProxyError> {
        let result = self.recover_inner();
        match &result {
            Err(SystemProxyError::OtherInstance { .. }) | Ok(_) => {}
            Err(e) => self.health = Health::Unavailable(e.to_string()),
        }
        result
    }

    fn recover_inner(&mut self) -> Result<bool, SystemProxyError> {
        if self.held.is_some() {
            return Ok(false);
        }
        let Some(j) = journal::load(&self.journal)? else {
            return Ok(false);
        };
        if j.pid != self.pid && (self.is_running)(j.pid) {
            return Err(SystemProxyError::OtherInstance { pid: j.pid });
        }
        let backend = backend_of(&mut self.backend)?;
        if backend.name() != j.backend {
            return Err(SystemProxyError::OtherBackend {
                path: self.journal.clone(),
                wrote: j.backend,
                now: backend.name().into(),
            });
        }
        // Another program may have set its own proxy since: that one stays.
        // A failed read cannot tell: put the user's settings back.
        let unchanged = match backend.read() {
            Ok(now) => now == j.applied,
            Err(_) => true,
        };
        if unchanged {
            if let Err(e) = backend.write(&j.original) {
                self.health = Health::RestoreFailed(e.to_string());
                return Err(e.into());
            }
        }
        journal::remove(&self.journal)?;
        self.health = Health::Off;
        Ok(unchanged)
    }

    /// Points the system proxy at `target`: the user's settings go to the
    /// journal first, then Burrow's are written. Holding already, only the
    /// target changes (the journal keeps the user's settings).
    pub fn enable(&mut self, target: &Target) -> Result<(), SystemProxyError> {
        let result = self.enable_inner(target);
        match &result {
            Ok(()) => self.health = Health::On,
            Err(e) => {
                if !matches!(self.health, Health::RestoreFailed(_)) {
                    self.health = Health::Unavailable(e.to_string());
                }
            }
        }
        result
    }

    fn enable_inner(&mut self, target: &Target) -> Result<(), SystemProxyError> {
        if let Some(held) = &self.held {
            if &held.target == target {
                return Ok(());
            }
        } else {
            // A journal left by a crash is put back first; another instance's is left alone.
            self.recover_inner()?;
        }
        let pid = self.pid;
        let journal_path = self.journal.clone();
        let (original, previous) = match self.held.take() {
            Some(h) => (h.original, Some(h.applied)),
            None => (backend_of(&mut self.backend)?.read()?, None),
        };
        let backend = backend_of(&mut self.backend)?;
        let applied = backend.burrow(&original, target);
        let name = backend.name().to_string();
        let entry = Journal {
            version: journal::VERSION,
            pid,
            backend: name,
            original: original.clone(),
            applied: applied.clone(),
        };
        if let Err(e) = journal::save(&journal_path, &entry) {
            // Nothing written yet: what was held (if anything) still is.
            if let Some(applied) = previous {
                self.held = Some(Held {
                    original,
                    applied,
                    target: target.clone(),
                });
            }
            return Err(e.into());
        }
        let backend = backend_of(&mut self.backend)?;
        if let Err(e) = backend.write(&applied) {
            // A partial write may have happened: put the user's settings back.
            return match backend.write(&original) {
                Ok(()) => {
                    journal::remove(&journal_path)?;
                    Err(e.into())
                }
                Err(again) => {
                    self.health = Health::RestoreFailed(again.to_string());
                    self.held = Some(Held {
                        original,
                        applied,
                        target: target.clone(),
                    });
                    Err(e.into())
                }
            };
        }
        // What the OS reads back is what later checks compare with (a tool
        // may normalise a value); the journal gets it too.
        let mut applied = applied;
        if let Ok(now) = backend.read() {
            if now != applied {
                applied = now;
                let entry = Journal {
                    applied: applied.clone(),
                    ..entry
                };
                // Best effort: the journal still holds the user's settings either way.
                let _ = journal::save(&journal_path, &entry);
            }
        }
        self.held = Some(Held {
            original,
            applied,
            target: target.clone(),
        });
        Ok(())
    }

    /// Puts the user's settings back and deletes the journal. When another
    /// program changed the settings meanwhile, its value stays. On failure
    /// the journal stays, for the next try (exit, next start).
    pub fn disable(&mut self) -> Result<(), SystemProxyError> {
        let Some(held) = self.held.take() else {
            return Ok(());
        };
        let path = self.journal.clone();
        let backend = backend_of(&mut self.backend)?;
        let unchanged = match backend.read() {
            Ok(now) => now == held.applied,
            Err(_) => true,
        };
        if unchanged {
            if let Err(e) = backend.write(&held.original) {
                self.health = Health::RestoreFailed(format!(
                    "{e}; the settings to restore are kept in {}",
                    path.display()
                ));
                self.held = Some(held);
                return Err(e.into());
            }
        }
        journal::remove(&path)?;
        if !matches!(self.health, Health::Changed(_)) {
            self.health = Health::Off;
        }
        Ok(())
    }

    /// Checks that the OS still points at Burrow. When another program
    /// changed it, Burrow lets go without writing anything (the new value
    /// is the one to keep) and returns what changed.
    pub fn check(&mut self) -> Option<String> {
        let held = self.held.as_ref()?;
        let backend = self.backend.as_mut().ok()?;
        // A failed read is not a change: try again next time.
        let now = backend.read().ok()?;
        if now == held.applied {
            return None;
        }
        let what = held.applied.describe_change(&now);
        // From now on the other program's value is the one to restore:
        // recorded first, so a crash right here leaves it alone too.
        if let Some(mut held) = self.held.take() {
            held.original = now;
            let entry = Journal {
                version: journal::VERSION,
                pid: self.pid,
                backend: backend.name().into(),
                original: held.original.clone(),
                applied: held.applied.clone(),
            };
            let _ = journal::save(&self.journal, &entry);
        }
        // Letting go writes nothing: the OS already has the value to keep.
        let _ = journal::remove(&self.journal);
        let message = format!("Another program changed the system proxy ({what}); Burrow kept its value and stopped using the system proxy");
        self.health = Health::Changed(message.clone());
        Some(message)
    }
}

/// The back end, or why there is none (a field of its own, so the other fields stay free).
fn backend_of(
    backend: &mut Result<Box<dyn Backend>, BackendError>,
) -> Result<&mut Box<dyn Backend>, SystemProxyError> {
    backend.as_mut().map_err(|e| e.clone().into())
}

/// Restores from the journal at `path` if this process wrote it, with a
/// fresh back end: for a panic, when the manager itself may be in the
/// middle of something. Best effort; says what happened on stderr.
pub fn emergency_restore(path: &Path) {
    let Ok(Some(j)) = journal::load(path) else {
        return;
    };
    if j.pid != std::process::id() {
        return;
    }
    let Ok(mut backend) = super::detect() else {
        return;
    };
    match backend.write(&j.original) {
        Ok(()) => {
            let _ = journal::remove(path);
            eprintln!("burrow-desktop: the system proxy settings were restored");
        }
        Err(e) => eprintln!(
            "burrow-desktop: could not restore the system proxy ({e}); it will be restored at the next start"
        ),
    }
}

#[cfg(test)]
mod tests;
