//! Slowing down password guessing: after too many wrong proxy credentials
//! from one client address, that address gets `429 Too Many Requests` for
//! a while, and the while doubles each time it happens again.
//!
//! The book is shared by every connection of an engine (a guesser opens a
//! new connection per try, because a 407 closes it), so it sits behind a
//! mutex; it is still sans-IO: every call is given the time, measured from
//! one epoch the engine chose.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::addr::client_key as key;
use crate::settings::{secs, AuthThrottleSettings};

/// At most this many client addresses are remembered; when the book is
/// full, the entry heard from least recently that is not blocked goes first.
pub const MAX_TRACKED_CLIENTS: usize = 4096;

/// The longest a block lasts, however often it repeats.
pub const MAX_BLOCK: Duration = Duration::from_secs(3600);

/// Whether a client may try its credentials now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// It may.
    Clear,
    /// It failed too often; it may try again after this long.
    Blocked {
        /// Time left in the block.
        retry_after: Duration,
    },
}

/// One client address's record.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Failures in the current window.
    failures: u32,
    /// When the current window started (its first failure).
    window_start: Duration,
    /// Blocks so far without a success in between: each one lasts twice as
    /// long as the one before.
    blocks: u32,
    /// The end of the current block, if any.
    blocked_until: Option<Duration>,
    /// The last time this address was heard from.
    last_seen: Duration,
}

/// Failed proxy logins by client address.
#[derive(Debug, Default)]
pub struct AuthThrottle {
    book: Mutex<HashMap<IpAddr, Entry>>,
}

impl AuthThrottle {
    /// An empty book.
    pub fn new() -> AuthThrottle {
        AuthThrottle::default()
    }

    /// Whether `client` may try now.
    pub fn standing(&self, client: IpAddr, now: Duration) -> Standing {
        let book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        match book.get(&key(client)).and_then(|e| e.blocked_until) {
            Some(until) if until > now => Standing::Blocked {
                retry_after: until - now,
            },
            _ => Standing::Clear,
        }
    }

    /// Records a wrong password from `client` (blocked or not: a guesser
    /// who keeps going while blocked only blocks itself for longer);
    /// returns its standing after it.
    pub fn failed(&self, rules: &AuthThrottleSettings, client: IpAddr, now: Duration) -> Standing {
        if rules.failures == 0 {
            return Standing::Clear;
        }
        let mut book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        let key = key(client);
        if !book.contains_key(&key) && book.len() >= MAX_TRACKED_CLIENTS {
            evict_one(&mut book, now);
        }
        let entry = book.entry(key).or_insert(Entry {
            failures: 0,
            window_start: now,
            blocks: 0,
            blocked_until: None,
            last_seen: now,
        });
        entry.last_seen = now;
        if now.saturating_sub(entry.window_start) > secs(rules.window) {
            entry.failures = 0;
            entry.window_start = now;
        }
        entry.failures += 1;
        if entry.failures >= rules.failures {
            let block = secs(rules.block)
                .saturating_mul(1 << entry.blocks.min(16))
                .min(MAX_BLOCK);
            entry.blocks += 1;
            entry.failures = 0;
            entry.window_start = now;
            let until = now + block;
            entry.blocked_until = Some(entry.blocked_until.map_or(until, |b| b.max(until)));
        }
        match entry.blocked_until {
            Some(until) if until > now => Standing::Blocked {
                retry_after: until - now,
            },
            _ => Standing::Clear,
        }
    }

    /// Records right credentials from `client`: its record is cleared.
    pub fn passed(&self, client: IpAddr) {
        let mut book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        book.remove(&key(client));
    }

    /// How many addresses are remembered.
    pub fn tracked(&self) -> usize {
        self.book
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

fn evict_one(book: &mut HashMap<IpAddr, Entry>, now: Duration) {
    let blocked = |e: &Entry| e.blocked_until.is_some_and(|until| until > now);
    let victim = book
        .iter()
        .min_by_key(|(_, e)| (blocked(e), e.last_seen))
        .map(|(k, _)| *k);
    if let Some(k) = victim {
        book.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> AuthThrottleSettings {
        AuthThrottleSettings {
            failures: 3,
            window: 60.0,
            block: 10.0,
        }
    }

    fn at(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn blocks_after_the_allowed_failures_and_doubles() {
        let t = AuthThrottle::new();
        let me = ip("192.0.2.7");
        assert_eq!(t.failed(&rules(), me, at(0)), Standing::Clear);
        assert_eq!(t.failed(&rules(), me, at(1)), Standing::Clear);
        assert_eq!(
            t.failed(&rules(), me, at(2)),
            Standing::Blocked {
                retry_after: at(10)
            }
        );
        assert_eq!(
            t.standing(me, at(5)),
            Standing::Blocked { retry_after: at(7) }
        );
        assert_eq!(t.standing(ip("192.0.2.8"), at(5)), Standing::Clear);
        assert_eq!(t.standing(me, at(12)), Standing::Clear);
        assert_eq!(t.failed(&rules(), me, at(13)), Standing::Clear);
        t.failed(&rules(), me, at(14));
        assert_eq!(
            t.failed(&rules(), me, at(15)),
            Standing::Blocked {
                retry_after: at(20)
            }
        );
        t.passed(me);
        assert_eq!(t.standing(me, at(16)), Standing::Clear);
        assert_eq!(t.tracked(), 0);
    }

    #[test]
    fn guessing_while_blocked_blocks_for_longer() {
        let t = AuthThrottle::new();
        let me = ip("192.0.2.7");
        for i in 0..3 {
            t.failed(&rules(), me, at(i));
        }
        assert_eq!(
            t.failed(&rules(), me, at(3)),
            Standing::Blocked { retry_after: at(9) }
        );
        t.failed(&rules(), me, at(4));
        assert_eq!(
            t.failed(&rules(), me, at(5)),
            Standing::Blocked {
                retry_after: at(20)
            }
        );
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let t = AuthThrottle::new();
        let me = ip("192.0.2.7");
        t.failed(&rules(), me, at(0));
        t.failed(&rules(), me, at(1));
        assert_eq!(t.failed(&rules(), me, at(100)), Standing::Clear);
    }

    #[test]
    fn blocks_stop_growing_at_the_cap() {
        let t = AuthThrottle::new();
        let me = ip("192.0.2.7");
        let mut last = Standing::Clear;
        for round in 0..40 {
            for i in 0..3 {
                last = t.failed(&rules(), me, at(round * 4000 + i));
            }
        }
        assert_eq!(
            last,
            Standing::Blocked {
                retry_after: MAX_BLOCK
            }
        );
    }

    #[test]
    fn one_ipv6_slash_64_is_one_client_and_mapped_v4_is_v4() {
        let t = AuthThrottle::new();
        for (i, a) in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::9"]
            .iter()
            .enumerate()
        {
            t.failed(&rules(), ip(a), at(i as u64));
        }
        assert!(matches!(
            t.standing(ip("2001:db8:1:2::77"), at(3)),
            Standing::Blocked { .. }
        ));
        assert_eq!(t.standing(ip("2001:db8:1:3::1"), at(3)), Standing::Clear);
        for i in 0..3 {
            t.failed(&rules(), ip("::ffff:192.0.2.1"), at(i));
        }
        assert!(matches!(
            t.standing(ip("192.0.2.1"), at(3)),
            Standing::Blocked { .. }
        ));
    }

    #[test]
    fn zero_failures_turns_it_off() {
        let t = AuthThrottle::new();
        let off = AuthThrottleSettings {
            failures: 0,
            ..rules()
        };
        for i in 0..10 {
            assert_eq!(t.failed(&off, ip("192.0.2.7"), at(i)), Standing::Clear);
        }
        assert_eq!(t.tracked(), 0);
    }

    #[test]
    fn the_book_is_bounded_and_keeps_blocked_clients() {
        let t = AuthThrottle::new();
        let guesser = ip("198.51.100.1");
        for i in 0..3 {
            t.failed(&rules(), guesser, at(i));
        }
        for i in 0..(MAX_TRACKED_CLIENTS as u32 + 100) {
            t.failed(&rules(), IpAddr::V4((0x0a00_0000 + i).into()), at(5));
        }
        assert_eq!(t.tracked(), MAX_TRACKED_CLIENTS);
        assert!(matches!(
            t.standing(guesser, at(6)),
            Standing::Blocked { .. }
        ));
    }
}
