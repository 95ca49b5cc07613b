//! What the proxy holds, read from outside through `/proc/PID`: descriptors, threads, memory and
//! the TCP state of each socket it owns. Tokio tasks cannot be seen from outside; every
//! connection task owns at least one socket, so sockets stand in for them.

use std::collections::HashSet;
use std::fs;

use anyhow::{Context, Result};

/// `/proc/net/tcp` state number of CLOSE_WAIT: the peer closed, this side has not.
const CLOSE_WAIT: &str = "08";
/// ... and of ESTABLISHED and LISTEN, for the figures.
const ESTABLISHED: &str = "01";
const LISTEN: &str = "0A";

/// One reading of the process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Open file descriptors.
    pub fds: usize,
    /// Of them, TCP sockets (IPv4 and IPv6).
    pub sockets: usize,
    /// Of those, ESTABLISHED.
    pub established: usize,
    /// Of those, LISTEN.
    pub listening: usize,
    /// Of those, CLOSE_WAIT: a peer closed and the proxy never closed its side (a leak).
    pub close_wait: usize,
    /// Threads.
    pub threads: usize,
    /// Resident memory, KiB.
    pub rss_kib: u64,
    /// Peak resident memory so far, KiB.
    pub hwm_kib: u64,
}

/// Reads `pid` now.
pub fn snapshot(pid: u32) -> Result<Snapshot> {
    let proc = format!("/proc/{pid}");
    let inodes = socket_inodes(&proc)?;
    let mut snap = Snapshot {
        fds: fs::read_dir(format!("{proc}/fd"))
            .with_context(|| format!("{proc}/fd"))?
            .count(),
        threads: fs::read_dir(format!("{proc}/task"))
            .with_context(|| format!("{proc}/task"))?
            .count(),
        ..Snapshot::default()
    };
    for table in ["tcp", "tcp6"] {
        // The process's own view: its network namespace, which is the soak's too.
        let text = fs::read_to_string(format!("{proc}/net/{table}")).unwrap_or_default();
        for (state, inode) in text.lines().skip(1).filter_map(state_and_inode) {
            if !inodes.contains(&inode) {
                continue;
            }
            snap.sockets += 1;
            match state {
                CLOSE_WAIT => snap.close_wait += 1,
                ESTABLISHED => snap.established += 1,
                LISTEN => snap.listening += 1,
                _ => {}
            }
        }
    }
    let status = fs::read_to_string(format!("{proc}/status")).context("status")?;
    snap.rss_kib = kib(&status, "VmRSS:");
    snap.hwm_kib = kib(&status, "VmHWM:");
    Ok(snap)
}

/// The threads of `pid` blocked writing to a pipe (the kernel's wait channel names
/// `pipe_write`, `anon_pipe_write` on newer kernels), with their names: how the soak knows its
/// stall of the log pipe has reached the proxy, and which thread it stopped.
pub fn pipe_writers(pid: u32) -> Vec<String> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| t.ok())
        .filter(|t| {
            fs::read_to_string(t.path().join("wchan")).is_ok_and(|w| w.contains("pipe_write"))
        })
        .map(|t| {
            fs::read_to_string(t.path().join("comm"))
                .map(|c| c.trim().to_string())
                .unwrap_or_default()
        })
        .collect()
}

/// The inodes of the sockets among `proc`'s descriptors (`socket:[12345]`).
fn socket_inodes(proc: &str) -> Result<HashSet<String>> {
    let mut inodes = HashSet::new();
    for fd in fs::read_dir(format!("{proc}/fd")).with_context(|| format!("{proc}/fd"))? {
        // A descriptor closed between listing and reading is simply gone.
        let Ok(target) = fd.and_then(|fd| fs::read_link(fd.path())) else {
            continue;
        };
        let target = target.to_string_lossy();
        if let Some(inode) = target
            .strip_prefix("socket:[")
            .and_then(|t| t.strip_suffix(']'))
        {
            inodes.insert(inode.to_string());
        }
    }
    Ok(inodes)
}

/// `(st, inode)` of one `/proc/net/tcp` row:
/// `sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...`.
fn state_and_inode(line: &str) -> Option<(&str, String)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    Some((*fields.get(3)?, fields.get(9)?.to_string()))
}

/// A `Name:   123 kB` line of `/proc/PID/status`, in KiB (0 when missing).
fn kib(status: &str, name: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let snap = snapshot(std::process::id()).unwrap();
        assert!(
            snap.fds >= 4 && snap.threads >= 1 && snap.rss_kib > 0,
            "{snap:?}"
        );
        assert!(
            snap.listening >= 1 && snap.hwm_kib >= snap.rss_kib,
            "{snap:?}"
        );
        drop(listener);
    }

    #[test]
    fn rows() {
        let row = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 424242 1 0000000000000000 100 0 0 10 0";
        assert_eq!(state_and_inode(row), Some(("0A", "424242".to_string())));
        assert_eq!(kib("VmRSS:\t  1234 kB\n", "VmRSS:"), 1234);
    }
}
