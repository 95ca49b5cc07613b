//! A bound on name lookups in flight, around any [`Resolver`].
//!
//! The system resolver is `getaddrinfo` on tokio's blocking pool, and a
//! lookup cannot be cancelled: when the core's DNS deadline fires, the
//! thread stays blocked until the OS gives up. Random names under a zone
//! that never answers would otherwise fill the pool (512 threads, then an
//! unbounded queue), and every later lookup, even of an `/etc/hosts` name,
//! would wait behind them. So a lookup holds a place from the moment it
//! starts until the inner resolver returns, whether or not anyone still
//! waits for it:
//!
//! - at most [`MAX_LOOKUPS`] lookups at once, well under the pool's size;
//! - at most [`MAX_LOOKUPS_PER_ZONE`] of them under one zone (a name's last
//!   two labels), so one stuck zone cannot take every place;
//! - concurrent lookups of the same name and port share one lookup and all
//!   get its answer; joining takes no place.
//!
//! Past a bound the lookup fails at once with [`DnsFailure::Busy`], which
//! the core answers with a 503. The table holds only lookups in flight, so
//! its size is bounded by [`MAX_LOOKUPS`] too.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use burrow_core::outcome::DnsFailure;
use tokio::sync::watch;

use crate::net::{BoxFuture, Resolver};

/// Lookups in flight at once, in all: well under tokio's 512 blocking
/// threads, which the engine also needs for other work, and far more than a
/// person's browsing keeps waiting at once (answers take milliseconds).
pub const MAX_LOOKUPS: usize = 64;

/// Lookups in flight at once under one zone: enough for a page that loads
/// from several hosts of one site, and few enough that eight zones must be
/// stuck before the global bound is reached.
pub const MAX_LOOKUPS_PER_ZONE: usize = 8;

type Answer = Result<Vec<IpAddr>, DnsFailure>;

/// How many lookups may be in flight, in all and per zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// In all.
    pub total: usize,
    /// Under one zone.
    pub per_zone: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            total: MAX_LOOKUPS,
            per_zone: MAX_LOOKUPS_PER_ZONE,
        }
    }
}

/// `inner` under the default [`Bounds`], as the engine uses every resolver.
pub fn bounded(inner: Arc<dyn Resolver>) -> Arc<dyn Resolver> {
    Arc::new(BoundedResolver::new(inner, Bounds::default()))
}

/// A [`Resolver`] that bounds and coalesces the lookups of another.
pub struct BoundedResolver {
    inner: Arc<dyn Resolver>,
    table: Arc<Mutex<Table>>,
    bounds: Bounds,
}

/// The lookups in flight: each one's answer to come, and how many each
/// zone has.
#[derive(Default)]
struct Table {
    in_flight: HashMap<Key, watch::Receiver<Option<Answer>>>,
    zones: HashMap<String, usize>,
}

/// DNS names are case-insensitive, so `Example.COM` joins `example.com`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    host: String,
    port: u16,
}

impl BoundedResolver {
    /// Bounds `inner` by `bounds`.
    pub fn new(inner: Arc<dyn Resolver>, bounds: Bounds) -> BoundedResolver {
        BoundedResolver {
            inner,
            table: Arc::default(),
            bounds,
        }
    }

    /// The answer to come: a lookup already in flight, or a new one when
    /// the bounds allow it.
    fn join_or_start(
        &self,
        host: &str,
        port: u16,
    ) -> Result<watch::Receiver<Option<Answer>>, DnsFailure> {
        let key = Key {
            host: host.to_ascii_lowercase(),
            port,
        };
        let mut table = lock(&self.table);
        if let Some(answer) = table.in_flight.get(&key) {
            return Ok(answer.clone());
        }
        let zone = zone(&key.host);
        let in_zone = table.zones.get(zone).copied().unwrap_or(0);
        if table.in_flight.len() >= self.bounds.total || in_zone >= self.bounds.per_zone {
            return Err(DnsFailure::Busy);
        }
        let zone = zone.to_string();
        let (tx, rx) = watch::channel(None);
        table.in_flight.insert(key.clone(), rx.clone());
        *table.zones.entry(zone.clone()).or_insert(0) += 1;
        drop(table);

        let place = Place {
            table: self.table.clone(),
            key,
            zone,
        };
        let inner = self.inner.clone();
        let host = host.to_string();
        // Its own task, so the lookup keeps its place until the inner
        // resolver returns, even after every caller has stopped waiting.
        tokio::spawn(async move {
            let answer = inner.resolve(&host, port).await;
            // Freed before answering: a caller that reads the answer and
            // asks again must find the place free.
            drop(place);
            tx.send_replace(Some(answer));
        });
        Ok(rx)
    }
}

impl Resolver for BoundedResolver {
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'_, Answer> {
        let started = self.join_or_start(host, port);
        Box::pin(async move {
            let mut answer = started?;
            let answer = match answer.wait_for(Option::is_some).await {
                Ok(answer) => answer.clone(),
                // The lookup's task ended without an answer: it panicked, or
                // the runtime is shutting down.
                Err(_) => None,
            };
            answer.unwrap_or(Err(DnsFailure::ServerFailure))
        })
    }
}

/// One lookup's place in the table, given back when dropped: after the
/// inner resolver returned, or if its task panicked or was cancelled.
struct Place {
    table: Arc<Mutex<Table>>,
    key: Key,
    zone: String,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut table = lock(&self.table);
        table.in_flight.remove(&self.key);
        if let Some(n) = table.zones.get_mut(&self.zone) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                table.zones.remove(&self.zone);
            }
        }
    }
}

/// The table stays consistent even if a holder panicked: every change to
/// it is a single insert or remove.
fn lock(table: &Mutex<Table>) -> MutexGuard<'_, Table> {
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A name's zone: its last two labels (`a.b.stuck.test` → `stuck.test`), or
/// the whole name when it has fewer. Deeper names cannot escape their
/// zone's bound by adding labels; the price is that names under a public
/// suffix such as `co.uk` share one zone.
fn zone(host: &str) -> &str {
    let name = host.trim_end_matches('.');
    let mut dots = name.rmatch_indices('.');
    match (dots.next(), dots.next()) {
        (Some(_), Some((at, _))) => &name[at + 1..],
        _ => name,
    }
}

#[cfg(test)]
mod tests;
