//! Resident memory of a target, read from `/proc`: of its process and every descendant, since
//! a proxy may fork helpers (Squid's) and their memory is the proxy's cost too.

use std::collections::BTreeMap;
use std::fs;

use anyhow::{Context, Result};

/// VmRSS of `pid` and all its descendants, KiB.
pub fn tree_rss_kib(pid: u32) -> Result<u64> {
    let parents = parents();
    let mut total = rss_kib(pid).with_context(|| format!("VmRSS of {pid}"))?;
    for child in descendants(pid, &parents) {
        // A helper that exited between the listing and the read holds nothing any more.
        total += rss_kib(child).unwrap_or(0);
    }
    Ok(total)
}

/// The VmRSS of one process, KiB.
fn rss_kib(pid: u32) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    status_kib(&status, "VmRSS:").context("no VmRSS line")
}

/// A `Name:   123 kB` line of `/proc/PID/status`, in KiB.
fn status_kib(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Every process's parent, from `/proc/*/stat`.
fn parents() -> BTreeMap<u32, u32> {
    let mut map = BTreeMap::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return map;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if let Some(ppid) = fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|s| stat_ppid(&s))
        {
            map.insert(pid, ppid);
        }
    }
    map
}

/// The parent PID field of a `/proc/PID/stat` line. The command name in parentheses may hold
/// spaces and parentheses itself, so the fields are counted from the last `)`.
fn stat_ppid(stat: &str) -> Option<u32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The descendants of `root` in `parents`.
fn descendants(root: u32, parents: &BTreeMap<u32, u32>) -> Vec<u32> {
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for (&child, &parent) in parents {
            if parent == p && child != root && !found.contains(&child) {
                found.push(child);
                frontier.push(child);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines() {
        assert_eq!(stat_ppid("42 (squid) S 7 42 42 0 -1"), Some(7));
        assert_eq!(stat_ppid("43 (a) b) c) R 9 1 1"), Some(9));
        assert_eq!(stat_ppid("garbage"), None);
        assert_eq!(status_kib("VmRSS:\t  1234 kB\n", "VmRSS:"), Some(1234));
    }

    #[test]
    fn trees() {
        let parents = BTreeMap::from([(2, 1), (3, 2), (4, 1), (5, 9)]);
        let mut d = descendants(1, &parents);
        d.sort();
        assert_eq!(d, vec![2, 3, 4]);
        assert!(tree_rss_kib(std::process::id()).unwrap() > 0);
    }
}
