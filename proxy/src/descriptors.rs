//! File descriptors: every tunnel holds two (client and origin), so the
//! common soft limits (1,024 on Linux, 256 on macOS) run out long before
//! `max_connections`, and then upstream connects fail. Like Go's runtime,
//! Burrow raises the soft limit to the hard one at start, and serves no
//! more connections than the result allows.

use std::sync::OnceLock;

/// Descriptors kept for everything besides connections: the listener, the
/// log, the resolver's sockets, the desktop app's own files, and the
/// tunnels' splice pipes (none outside Linux).
const RESERVED: u64 = 64 + crate::relay::PIPE_DESCRIPTORS;

/// Tried when raising to the hard limit fails (Linux refuses anything above
/// `fs.nr_open`, whose default this is, even when the hard limit is unlimited).
const FALLBACK: u64 = 1 << 20;

/// Raises the soft `RLIMIT_NOFILE` toward the hard limit, once per process;
/// the soft limit afterwards, or `None` when it cannot be read.
pub fn raise_limit() -> Option<u64> {
    static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        let raised = rlimit::increase_nofile_limit(u64::MAX)
            .or_else(|_| rlimit::increase_nofile_limit(FALLBACK));
        match raised {
            Ok(limit) => {
                tracing::debug!(limit, "open file limit");
                Some(limit)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read or raise the open file limit");
                None
            }
        }
    })
}

/// The most connections `limit` descriptors can serve: two each, after the reserve.
pub fn connections_for(limit: u64) -> usize {
    usize::try_from(limit.saturating_sub(RESERVED) / 2)
        .unwrap_or(usize::MAX)
        .max(1)
}

/// `wanted` connections, lowered to what this process's descriptors allow.
pub fn connection_cap(wanted: usize) -> usize {
    match raise_limit() {
        Some(limit) if connections_for(limit) < wanted => {
            let cap = connections_for(limit);
            tracing::warn!(
                wanted,
                cap,
                limit,
                "max_connections lowered to what the open file limit allows (raise it with ulimit -n)"
            );
            cap
        }
        _ => wanted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_descriptors_per_connection_after_the_reserve() {
        let reserved = 64 + crate::relay::PIPE_DESCRIPTORS;
        assert_eq!(connections_for(1024) as u64, (1024 - reserved) / 2);
        assert_eq!(connections_for(reserved + 200), 100);
        assert_eq!(connections_for(10), 1);
    }

    #[test]
    fn the_soft_limit_is_raised_to_what_512_tunnels_need() {
        let limit = raise_limit().expect("Linux has RLIMIT_NOFILE");
        let (soft, hard) = rlimit::Resource::NOFILE.get().expect("readable");
        assert_eq!(soft, limit);
        // Either all the way to the hard limit, or as far as the kernel allows.
        assert!(
            soft == hard || soft >= FALLBACK.min(hard),
            "{soft} of {hard}"
        );
    }
}
