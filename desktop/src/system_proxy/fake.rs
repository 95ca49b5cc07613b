//! A back end in memory, for tests: it holds one [`ProxySettings`] that
//! several "processes" share (clones share it), records every call, and can
//! be told to fail.

use std::sync::{Arc, Mutex, MutexGuard};

use super::{Backend, BackendError, ProxySettings};

/// One call a [`Fake`] received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// `read`.
    Read,
    /// `write` with these settings.
    Write(ProxySettings),
}

#[derive(Default)]
struct Shared {
    os: ProxySettings,
    calls: Vec<Call>,
    fail_writes: bool,
    fail_reads: bool,
}

/// The fake OS proxy settings. Clones see the same settings and calls.
#[derive(Clone, Default)]
pub struct Fake(Arc<Mutex<Shared>>);

impl Fake {
    /// A fake OS whose settings are `os`.
    pub fn new(os: ProxySettings) -> Fake {
        let fake = Fake::default();
        fake.lock().os = os;
        fake
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The OS settings now.
    pub fn os(&self) -> ProxySettings {
        self.lock().os.clone()
    }

    /// Another program sets the OS settings (not recorded as a call).
    pub fn set_by_other_program(&self, os: ProxySettings) {
        self.lock().os = os;
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Makes writes fail (or work again).
    pub fn fail_writes(&self, fail: bool) {
        self.lock().fail_writes = fail;
    }

    /// Makes reads fail (or work again).
    pub fn fail_reads(&self, fail: bool) {
        self.lock().fail_reads = fail;
    }
}

impl Backend for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn read(&mut self) -> Result<ProxySettings, BackendError> {
        let mut s = self.lock();
        s.calls.push(Call::Read);
        if s.fail_reads {
            return Err(BackendError::Api("the fake cannot read".into()));
        }
        Ok(s.os.clone())
    }

    fn write(&mut self, settings: &ProxySettings) -> Result<(), BackendError> {
        let mut s = self.lock();
        s.calls.push(Call::Write(settings.clone()));
        if s.fail_writes {
            return Err(BackendError::Api("the fake cannot write".into()));
        }
        s.os = settings.clone();
        Ok(())
    }
}
