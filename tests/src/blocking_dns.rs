//! A resolver that blocks threads the way `getaddrinfo` does, so a test can
//! run what happens when a zone never answers without asking real DNS.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use burrow_core::outcome::DnsFailure;
use burrow_proxy::{BoxFuture, Resolver};

/// Every lookup runs on tokio's blocking pool, as `tokio::net::lookup_host`
/// does, and cannot be cancelled: names under `stuck.test` block their thread
/// until [`BlockingDns::release`] (then fail as the OS would, with a resolver
/// failure); every other name answers `127.0.0.1` at once, as `/etc/hosts`
/// would. A test sizes the pool with `max_blocking_threads`.
#[derive(Default)]
pub struct BlockingDns {
    gate: Arc<(Mutex<bool>, Condvar)>,
    calls: AtomicUsize,
}

impl BlockingDns {
    /// How many lookups were asked of this resolver (started threads or not).
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Lets every blocked lookup return; later ones return at once.
    pub fn release(&self) {
        let (open, wake) = &*self.gate;
        *open.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
    }
}

impl Resolver for BlockingDns {
    fn resolve(&self, host: &str, _port: u16) -> BoxFuture<'_, Result<Vec<IpAddr>, DnsFailure>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let stuck = host.ends_with(".stuck.test");
        let gate = self.gate.clone();
        Box::pin(async move {
            let blocking = tokio::task::spawn_blocking(move || {
                if !stuck {
                    return Ok(vec![IpAddr::from([127, 0, 0, 1])]);
                }
                let (open, wake) = &*gate;
                let mut open = open.lock().unwrap_or_else(PoisonError::into_inner);
                while !*open {
                    open = wake.wait(open).unwrap_or_else(PoisonError::into_inner);
                }
                Err(DnsFailure::ServerFailure)
            });
            blocking.await.unwrap_or(Err(DnsFailure::ServerFailure))
        })
    }
}

/// Releases `dns` when dropped, so a failing test still lets its runtime's
/// blocking threads end.
pub struct ReleaseOnDrop(pub Arc<BlockingDns>);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        self.0.release();
    }
}
