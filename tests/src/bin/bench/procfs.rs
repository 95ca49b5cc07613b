//! Resident memory and CPU time of a target, read from `/proc`: of its process and every
//! descendant, since a proxy may fork helpers (Squid's) and what they use is the proxy's cost too.

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

/// CPU time (user and system) of `pid` and all its live descendants so far, in seconds.
///
/// `/proc/PID/stat` counts the threads that have exited too (tinyproxy ends one per
/// connection), in clock ticks of 10 ms: phases run for seconds, so that is fine enough.
pub fn tree_cpu_secs(pid: u32) -> Result<f64> {
    let parents = parents();
    let mut ticks = cpu_ticks(pid).with_context(|| format!("CPU time of {pid}"))?;
    for child in descendants(pid, &parents) {
        ticks += cpu_ticks(child).unwrap_or(0);
    }
    Ok(ticks as f64 / TICKS_PER_SEC)
}

/// `sysconf(_SC_CLK_TCK)`, which is 100 on every Linux architecture the bench runs on.
const TICKS_PER_SEC: f64 = 100.0;

/// utime + stime of one process, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    stat_cpu_ticks(&stat).context("a stat line without CPU times")
}

/// Fields 14 and 15 (utime, stime) of a `/proc/PID/stat` line, counted from the last `)`.
fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
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
        let line = "42 (bu rrow) S 1 42 42 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 3 0";
        assert_eq!(stat_cpu_ticks(line), Some(281));
        assert_eq!(stat_cpu_ticks("42 (x) S 1"), None);
        assert_eq!(status_kib("VmRSS:\t  1234 kB\n", "VmRSS:"), Some(1234));
    }

    #[test]
    fn trees() {
        let parents = BTreeMap::from([(2, 1), (3, 2), (4, 1), (5, 9)]);
        let mut d = descendants(1, &parents);
        d.sort();
        assert_eq!(d, vec![2, 3, 4]);
        assert!(tree_rss_kib(std::process::id()).unwrap() > 0);
        assert!(tree_cpu_secs(std::process::id()).unwrap() >= 0.0);
    }
}
