//! The figures, printed as tables, and the checks that decide whether the soak passed.

use std::time::Duration;

use anyhow::Result;

use crate::cap::Burst;
use crate::child::Burrow;
use crate::net::Env;
use crate::plan::{self, Kind, Schedule};
use crate::stall::{Probes, Stall, Summary};
use crate::stats::Stats;
use crate::watch::{Peaks, Rest};

/// How far above its baseline the proxy's resident memory may end. At rest the proxy holds no
/// connection, so anything kept per connection would grow without bound; but the allocator
/// keeps some freed memory (glibc arenas, one per runtime thread, are trimmed only from the
/// top) and the event channel's ring and tokio's slabs keep their high-water capacity. 16 MiB
/// is above that (a few MiB in trial runs) and far below what a leak of even a few hundred
/// bytes per connection would add over a soak's tens of thousands (printed with the figures).
const RSS_SLACK_KIB: u64 = 16 * 1024;

/// While the log pipe is stalled, the load must still end at least this share of the
/// connections per second it ended before. A proxy that blocks ends next to none (a handful of
/// connections already past their last byte); one that serves ends about as many as before,
/// less what a busy machine takes away.
const SERVING_SHARE: f64 = 0.25;

/// Everything the report needs.
pub struct Figures<'a> {
    pub stats: &'a Stats,
    pub base: Rest,
    pub peaks: Peaks,
    pub after: Rest,
    pub stall: Stall,
    pub probes: &'a Probes,
    /// When the load started and ended, since the soak started.
    pub load: (Duration, Duration),
    pub bursts: Vec<Burst>,
    /// Whether the child was still running when the soak was done.
    pub alive: bool,
    /// How it exited on SIGTERM.
    pub exit: Result<std::process::ExitStatus>,
    pub burrow: &'a Burrow,
    /// Connections the HTTP origin accepted (keep-alive reuse shows as fewer than requests).
    pub http_accepted: usize,
}

/// What the soak is about to do.
pub fn header(seed: u64, schedule: &Schedule, burrow: &Burrow, env: &Env) {
    println!("Burrow soak, seed {seed}");
    println!(
        "burrow pid {} on {}; byte origin {}, HTTP origin {}",
        burrow.pid, burrow.addr, env.tunnel_origin, env.http_origin
    );
    println!(
        "settings: tunnel_idle {} s, request_head {} s, keep_alive {} s, max_connections {}, max_connections_per_client {}",
        plan::TUNNEL_IDLE,
        plan::REQUEST_HEAD,
        plan::KEEP_ALIVE,
        plan::MAX_CONNECTIONS,
        plan::PER_CLIENT_CAP
    );
    println!(
        "{} mix clients, {} slowloris clients, one probe; clients from 127.0.<kind>.1-{}",
        plan::WORKERS,
        plan::SLOWLORIS,
        plan::ADDRESSES_PER_KIND
    );
    println!(
        "schedule: warm-up {:?}, load {:?}, stall at +{:?} for {:?}, settle at most {:?}, all within {:?}",
        schedule.warmup,
        schedule.load,
        schedule.stall_at,
        schedule.stall_for,
        schedule.settle_limit,
        schedule.limit
    );
}

/// Prints every table and check; returns whether all checks passed.
pub fn print(f: &Figures) -> bool {
    let kinds = f.stats.kinds();
    let tally = f.burrow.log.tally.lock().expect("tally lock");

    println!("\nClients (warm-up included)");
    let mut rows = Vec::new();
    let mut total = [0u64; 6];
    for kind in Kind::ALL {
        let k = kinds.get(&kind).cloned().unwrap_or_default();
        let expected = k
            .expected
            .iter()
            .map(|(how, n)| format!("{n} {how}"))
            .collect::<Vec<_>>()
            .join("; ");
        for (t, v) in total.iter_mut().zip([
            k.opened,
            k.completed,
            k.expected_total(),
            k.unexpected,
            k.up,
            k.down,
        ]) {
            *t += v;
        }
        rows.push(vec![
            kind.name().to_string(),
            k.opened.to_string(),
            k.completed.to_string(),
            if expected.is_empty() {
                "0".into()
            } else {
                expected
            },
            k.unexpected.to_string(),
            mib(k.up),
            mib(k.down),
        ]);
    }
    rows.push(vec![
        "all".into(),
        total[0].to_string(),
        total[1].to_string(),
        total[2].to_string(),
        total[3].to_string(),
        mib(total[4]),
        mib(total[5]),
    ]);
    table(
        &[
            "kind",
            "opened",
            "completed",
            "failed as expected",
            "unexpected",
            "checked ↑",
            "checked ↓",
        ],
        &rows,
    );
    let forward = kinds.get(&Kind::Forward).cloned().unwrap_or_default();
    println!(
        "forwarded: {} requests on {} client connections; the HTTP origin accepted {} connections",
        forward.requests, forward.completed, f.http_accepted
    );
    for (kind, k) in &kinds {
        for (example, n) in &k.examples {
            println!("  unexpected, {} (×{n}): {example}", kind.name());
        }
        let shown: u64 = k.examples.iter().map(|(_, n)| n).sum();
        if k.unexpected > shown {
            println!(
                "  unexpected, {}: {} more",
                kind.name(),
                k.unexpected - shown
            );
        }
    }

    println!("\nThe proxy's access log, per kind (status close ×count)");
    let mut rows: Vec<Vec<String>> = Kind::ALL
        .into_iter()
        .map(|kind| {
            let opened = kinds.get(&kind).map_or(0, |k| k.opened);
            vec![
                kind.name().to_string(),
                format!("{} / {opened}", tally.logged(Some(kind))),
                tally.top(Some(kind), 3),
            ]
        })
        .collect();
    if tally.logged(None) > 0 {
        // An address of no kind, or no address: a record whose first events were lost.
        rows.push(vec![
            "no kind (client unknown)".into(),
            tally.logged(None).to_string(),
            tally.top(None, 3),
        ]);
    }
    table(&["kind", "logged / opened", "most frequent"], &rows);
    let stderr = f.burrow.stderr();
    println!(
        "{} access-log lines ({} not JSON); burrow's stderr: {} lines, {} saying the log lost events ({} events)",
        tally.lines, tally.unparsed, stderr.count, stderr.lag_warnings, stderr.lost_events
    );
    for line in stderr.lines.iter().take(5) {
        println!("  stderr: {line}");
    }

    let (b, p, a) = (f.base.snap, f.peaks.max, f.after.snap);
    println!(
        "\nThe proxy process (/proc/{}); at rest after {:.1} s",
        f.burrow.pid,
        f.after.took.as_secs_f64()
    );
    let row = |what: &str, b: String, p: String, a: String| vec![what.to_string(), b, p, a];
    table(
        &["measure", "baseline", "peak in load", "after"],
        &[
            row(
                "open descriptors",
                b.fds.to_string(),
                p.fds.to_string(),
                a.fds.to_string(),
            ),
            row(
                "TCP sockets",
                b.sockets.to_string(),
                p.sockets.to_string(),
                a.sockets.to_string(),
            ),
            row(
                "  ESTABLISHED",
                b.established.to_string(),
                p.established.to_string(),
                a.established.to_string(),
            ),
            row(
                "  CLOSE_WAIT",
                b.close_wait.to_string(),
                p.close_wait.to_string(),
                a.close_wait.to_string(),
            ),
            row(
                "threads",
                b.threads.to_string(),
                p.threads.to_string(),
                a.threads.to_string(),
            ),
            row("VmRSS", kib(b.rss_kib), kib(p.rss_kib), kib(a.rss_kib)),
            row("VmHWM", kib(b.hwm_kib), kib(p.hwm_kib), kib(a.hwm_kib)),
            row(
                "origin connections",
                f.base.origin_open.to_string(),
                f.peaks.origin_open.to_string(),
                f.after.origin_open.to_string(),
            ),
        ],
    );
    println!("tokio tasks cannot be seen from outside the process; each connection task owns a socket, so the socket counts stand in for them");
    let connections = total[0].max(1);
    println!(
        "memory: {} KiB above the baseline after the load; the allowance of {} would be exceeded by a leak of {} bytes per connection",
        a.rss_kib as i64 - b.rss_kib as i64,
        kib(RSS_SLACK_KIB),
        RSS_SLACK_KIB * 1024 / connections
    );

    let st = &f.stall;
    let full = st.full_at.unwrap_or(st.resumed_at);
    println!(
        "\nThe stalled log pipe: not read from +{:.1} s to +{:.1} s of the load; full from {}; blocked writer threads: {}",
        (st.paused_at - f.load.0).as_secs_f64(),
        (st.resumed_at - f.load.0).as_secs_f64(),
        st.full_at.map_or("never".into(), |t| format!("+{:.1} s", (t - f.load.0).as_secs_f64())),
        if st.writers.is_empty() { "none seen".into() } else { st.writers.iter().cloned().collect::<Vec<_>>().join(", ") }
    );
    let windows = [
        ("before the stall", f.load.0, st.paused_at),
        ("pipe full", full, st.resumed_at),
        ("after the stall", st.resumed_at, f.load.1),
    ];
    let summaries: Vec<Summary> = windows
        .iter()
        .map(|(_, from, to)| f.probes.summary(*from, *to))
        .collect();
    let rows: Vec<Vec<String>> = windows
        .iter()
        .zip(&summaries)
        .map(|((name, from, to), s)| {
            let (rate, least) = f.stats.rate(*from, *to);
            vec![
                name.to_string(),
                format!("{:.1} s", (*to - *from).as_secs_f64()),
                s.count.to_string(),
                s.failed.to_string(),
                ms(s.p50),
                ms(s.p99),
                ms(s.max),
                format!("{rate:.0} (least {least})"),
            ]
        })
        .collect();
    table(
        &[
            "window",
            "length",
            "probes",
            "failed",
            "p50",
            "p99",
            "max",
            "connections ended/s",
        ],
        &rows,
    );

    for s in f.probes.slowest(3) {
        println!(
            "slow probe at +{:.1} s of the load: {}{}",
            s.at.saturating_sub(f.load.0).as_secs_f64(),
            ms(s.took),
            s.failure.map_or(String::new(), |e| format!(" ({e})"))
        );
    }

    println!();
    for (what, s) in f.stats.spreads() {
        println!("{what}: {} to {} ({} times)", ms(s.min), ms(s.max), s.count);
    }
    let cap_mode = format!("per-client cap {} during the load", plan::PER_CLIENT_CAP);
    for b in &f.bursts {
        println!(
            "cap client ({cap_mode}): opened {}, held {}, refused 503 {}, closed {}",
            b.opened, b.held, b.refused, b.closed
        );
    }

    let rates = (
        f.stats.rate(f.load.0, f.stall.paused_at).0,
        f.stats.rate(full, f.stall.resumed_at).0,
    );
    checks(f, &kinds, &summaries[1], rates, connections)
}

/// The pass criteria, each printed with its figures.
fn checks(
    f: &Figures,
    kinds: &std::collections::BTreeMap<Kind, crate::stats::KindStats>,
    stalled: &Summary,
    (rate_before, rate_stalled): (f64, f64),
    connections: u64,
) -> bool {
    let (b, a) = (f.base.snap, f.after.snap);
    let unexpected: u64 = kinds.values().map(|k| k.unexpected).sum();
    let mismatches: u64 = kinds.values().map(|k| k.mismatches).sum();
    let clean: Vec<_> = kinds.iter().filter(|(k, _)| k.is_clean_tunnel()).collect();
    let clean_tunnels: u64 = clean.iter().map(|(_, k)| k.completed).sum();
    let clean_bytes: u64 = clean.iter().map(|(_, k)| k.up + k.down).sum();
    let growth = a.rss_kib.saturating_sub(b.rss_kib);
    let exit = match &f.exit {
        Ok(status) => status.to_string(),
        Err(e) => format!("{e:#}"),
    };
    let met_cap = f.bursts.iter().any(|b| b.refused + b.closed > 0);
    let results = [
        (
            unexpected == 0,
            format!("every client ended as expected ({unexpected} unexpected of {connections})"),
        ),
        (
            mismatches == 0 && clean_tunnels > 0,
            format!(
                "every byte through a clean tunnel arrived intact ({clean_tunnels} tunnels, {}, {mismatches} mismatches anywhere)",
                mib(clean_bytes)
            ),
        ),
        (
            f.after.reached,
            format!("the proxy came back to rest within {:.1} s", f.after.took.as_secs_f64()),
        ),
        (
            a.fds <= b.fds,
            format!("open descriptors back to baseline ({} → {})", b.fds, a.fds),
        ),
        (
            a.sockets <= b.sockets && a.close_wait == 0,
            format!(
                "sockets back to baseline ({} → {}), none in CLOSE_WAIT ({})",
                b.sockets, a.sockets, a.close_wait
            ),
        ),
        (
            f.after.origin_open == 0,
            format!("every upstream connection closed ({} still open)", f.after.origin_open),
        ),
        (
            growth <= RSS_SLACK_KIB,
            format!(
                "memory back within {} of baseline ({} → {})",
                kib(RSS_SLACK_KIB),
                kib(b.rss_kib),
                kib(a.rss_kib)
            ),
        ),
        (
            f.stall.full_at.is_some(),
            "the stall filled the log pipe (a burrow thread blocked writing to it)".to_string(),
        ),
        (
            f.stall.full_at.is_some()
                && stalled.failed == 0
                && rate_stalled >= rate_before * SERVING_SHARE,
            format!(
                "the proxy kept serving while its stdout was stalled ({} of {} probes failed, max {}; {rate_stalled:.0} connections ended/s against {rate_before:.0} before){}",
                stalled.failed,
                stalled.count,
                ms(stalled.max),
                if stalled.failed > 0 || rate_stalled < rate_before * SERVING_SHARE {
                    " — issue 9 finding 5: the access log blocks the proxy"
                } else {
                    ""
                }
            ),
        ),
        (
            f.stall.worker_blocked.is_zero(),
            format!(
                "no runtime worker blocked writing the access log (workers blocked there for {:.1} s{})",
                f.stall.worker_blocked.as_secs_f64(),
                if f.stall.worker_blocked.is_zero() {
                    String::new()
                } else {
                    " — issue 9 finding 5: the log is written from a runtime task".to_string()
                }
            ),
        ),
        (met_cap, format!("the cap client met the cap ({} bursts)", f.bursts.len())),
        (
            f.alive && matches!(&f.exit, Ok(s) if s.success()),
            format!("burrow ran to the end and stopped cleanly on SIGTERM ({exit})"),
        ),
    ];
    println!("\nChecks");
    for (ok, what) in &results {
        println!("  {} {what}", if *ok { "PASS" } else { "FAIL" });
    }
    let passed = results.iter().all(|(ok, _)| *ok);
    println!("\nsoak {}", if passed { "PASSED" } else { "FAILED" });
    passed
}

/// Prints a Markdown table; the first column left-aligned, the rest right-aligned.
fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| println!("| {} |", cells.join(" | "));
    let pad = |i: usize, s: &str| {
        let fill = " ".repeat(widths[i].saturating_sub(s.chars().count()));
        if i == 0 {
            format!("{s}{fill}")
        } else {
            format!("{fill}{s}")
        }
    };
    line(headers.iter().enumerate().map(|(i, h)| pad(i, h)).collect());
    line(
        widths
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let dashes = "-".repeat(w.saturating_sub(1));
                if i == 0 {
                    format!("{dashes}-")
                } else {
                    format!("{dashes}:")
                }
            })
            .collect(),
    );
    for row in rows {
        line(row.iter().enumerate().map(|(i, c)| pad(i, c)).collect());
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn kib(k: u64) -> String {
    format!("{:.1} MiB", k as f64 / 1024.0)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
