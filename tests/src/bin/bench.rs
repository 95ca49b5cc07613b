//! `cargo xtask bench`: Burrow's engine measured in-process over loopback.
//!
//! Starts the engine on `127.0.0.1:0` and a loopback origin, then measures
//! and prints a small table (no pass/fail):
//!
//! 1. CONNECT setup latency: CONNECT written → `200` read, p50 and p99 over
//!    sequential tunnels;
//! 2. tunnel throughput, MiB/s, one tunnel each way;
//! 3. RSS per idle tunnel (`VmRSS` before and after holding many open);
//! 4. plain-HTTP forwarding, requests/s over 8 keep-alive connections.
//!
//! `--quick` uses smaller counts; `--idle N` holds N idle tunnels in phase 3
//! (each takes four descriptors in this process: raise `ulimit -n` first).
//! Every phase is bounded by a count or a
//! deadline, and by an overall time limit.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use burrow_proxy::Engine;
use burrow_tests::net::NoDns;
use burrow_tests::origin::RawOrigin;
use burrow_tests::{find, settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The most any one phase may take before the bench gives up on it.
const PHASE_LIMIT: Duration = Duration::from_secs(300);
/// Write and read size for throughput.
const BLOCK: usize = 256 * 1024;
/// Most idle tunnels `--idle` may ask for.
const MAX_IDLE: usize = 20_000;
/// Keep-alive connections for the forwarding phase.
const HTTP_CONNECTIONS: usize = 8;

/// How much work each phase does.
struct Counts {
    tunnels: usize,
    bytes: u64,
    idle: usize,
    http_for: Duration,
}

impl Counts {
    fn new(quick: bool) -> Counts {
        if quick {
            Counts {
                tunnels: 200,
                bytes: 128 << 20,
                idle: 100,
                http_for: Duration::from_secs(1),
            }
        } else {
            Counts {
                tunnels: 2_000,
                bytes: 1 << 30,
                idle: 500,
                http_for: Duration::from_secs(5),
            }
        }
    }
}

const USAGE: &str = "usage: bench [--quick] [--idle N]";

fn main() -> Result<()> {
    let mut quick = false;
    let mut idle = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--idle" => {
                let n = args.next().context("--idle needs a count")?;
                let n: usize = n.parse().with_context(|| format!("--idle {n:?}"))?;
                if n == 0 || n > MAX_IDLE {
                    bail!("--idle must be 1 to {MAX_IDLE}");
                }
                idle = Some(n);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other:?} ({USAGE})"),
        }
    }
    let mut counts = Counts::new(quick);
    counts.idle = idle.unwrap_or(counts.idle);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    runtime.block_on(bench(counts, quick))
}

async fn bench(counts: Counts, quick: bool) -> Result<()> {
    let origin = RawOrigin::start(|stream, _| origin(stream)).await;
    let http = RawOrigin::start(|stream, _| http_origin(stream)).await;
    let shutdown = CancellationToken::new();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let proxy = listener.local_addr()?;
    // Every bench client is 127.0.0.1: both caps must admit all the idle
    // tunnels, or the engine would close the oldest to make room for new ones.
    let mut settings = settings();
    settings.max_connections = settings.max_connections.max(counts.idle + 64);
    settings.max_connections_per_client = settings.max_connections;
    let engine = Engine::new(settings).with_resolver(Arc::new(NoDns));
    let serving = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { engine.serve(listener, shutdown).await }
    });

    println!(
        "Burrow bench: engine in-process on {proxy}, loopback origins{}",
        if quick { " (--quick)" } else { "" }
    );
    let mut rows: Vec<(String, String)> = Vec::new();

    let (p50, p99) = phase(latency(proxy, origin.addr, counts.tunnels)).await?;
    let n = counts.tunnels;
    rows.push((format!("CONNECT setup p50 ({n} tunnels)"), micros(p50)));
    rows.push((format!("CONNECT setup p99 ({n} tunnels)"), micros(p99)));

    let mib = counts.bytes >> 20;
    let up = phase(throughput(proxy, origin.addr, counts.bytes, Dir::Up)).await?;
    rows.push((
        format!("tunnel client→origin ({mib} MiB)"),
        format!("{up:.0} MiB/s"),
    ));
    let down = phase(throughput(proxy, origin.addr, counts.bytes, Dir::Down)).await?;
    rows.push((
        format!("tunnel origin→client ({mib} MiB)"),
        format!("{down:.0} MiB/s"),
    ));

    let idle = phase(idle_tunnels(proxy, origin.addr, counts.idle)).await?;
    let n = counts.idle;
    rows.push((
        format!("VmRSS before/after {n} idle tunnels"),
        format!("{} / {} KiB", idle.before, idle.after),
    ));
    rows.push((
        "KiB per idle tunnel (whole process)".into(),
        format!("{:.1}", idle.per_tunnel),
    ));
    rows.push((
        "KiB per idle tunnel (minus direct client+origin)".into(),
        format!("{:.1}", idle.per_tunnel - idle.per_direct),
    ));

    let rps = phase(forwarding(proxy, http.addr, counts.http_for)).await?;
    rows.push((
        format!(
            "HTTP forwarding ({HTTP_CONNECTIONS} keep-alive, {} s)",
            counts.http_for.as_secs()
        ),
        format!("{rps:.0} req/s"),
    ));

    shutdown.cancel();
    tokio::time::timeout(PHASE_LIMIT, serving)
        .await
        .context("engine stop")??;
    print_table(&rows);
    Ok(())
}

/// Runs one phase under the overall limit.
async fn phase<T>(work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(PHASE_LIMIT, work)
        .await
        .context("a bench phase ran past its time limit")?
}

fn print_table(rows: &[(String, String)]) {
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    println!();
    println!("| {:<width$} | {:>18} |", "measure", "value");
    println!("|{}|{}|", "-".repeat(width + 2), "-".repeat(20));
    for (k, v) in rows {
        println!("| {k:<width$} | {v:>18} |");
    }
}

fn micros(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// The bench origin. The first byte picks the mode: `U` + u64 n: read n
/// bytes, then answer `k`; `D` + u64 n: write n bytes. Anything else, or
/// nothing: hold the connection until the peer closes.
async fn origin(mut s: TcpStream) {
    let mut mode = [0u8; 1];
    if s.read_exact(&mut mode).await.is_err() {
        return;
    }
    let mut len = [0u8; 8];
    if !matches!(mode[0], b'U' | b'D') || s.read_exact(&mut len).await.is_err() {
        let _ = s.read(&mut [0u8; 16]).await;
        return;
    }
    let n = u64::from_be_bytes(len);
    let mut buf = vec![0u8; BLOCK];
    if mode[0] == b'U' {
        let mut left = n;
        while left > 0 {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(k) => left = left.saturating_sub(k as u64),
            }
        }
        let _ = s.write_all(b"k").await;
    } else {
        let mut left = n;
        while left > 0 {
            let k = left.min(BLOCK as u64) as usize;
            if s.write_all(&buf[..k]).await.is_err() {
                return;
            }
            left -= k as u64;
        }
    }
    let _ = s.read(&mut [0u8; 16]).await;
}

/// A keep-alive HTTP origin answering every request head with `200 ok`.
async fn http_origin(mut s: TcpStream) {
    const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = find(&buf, b"\r\n\r\n") {
            buf.drain(..end + 4);
            if s.write_all(ANSWER).await.is_err() {
                return;
            }
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Opens a tunnel to `origin`; returns the stream and the setup time.
async fn open_tunnel(proxy: SocketAddr, origin: SocketAddr) -> Result<(TcpStream, Duration)> {
    let mut s = TcpStream::connect(proxy).await?;
    s.set_nodelay(true)?;
    let head = format!("CONNECT {origin} HTTP/1.1\r\nHost: {origin}\r\n\r\n");
    let start = Instant::now();
    s.write_all(head.as_bytes()).await?;
    let mut got = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    while find(&got, b"\r\n\r\n").is_none() {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            bail!("the proxy closed before answering CONNECT");
        }
        got.extend_from_slice(&chunk[..n]);
    }
    let took = start.elapsed();
    if !got.starts_with(b"HTTP/1.1 200 ") {
        bail!("CONNECT refused: {}", String::from_utf8_lossy(&got));
    }
    Ok((s, took))
}

async fn latency(proxy: SocketAddr, origin: SocketAddr, n: usize) -> Result<(Duration, Duration)> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let (s, took) = open_tunnel(proxy, origin).await?;
        times.push(took);
        drop(s);
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    Ok((at(0.50), at(0.99)))
}

enum Dir {
    Up,
    Down,
}

async fn throughput(proxy: SocketAddr, origin: SocketAddr, bytes: u64, dir: Dir) -> Result<f64> {
    let (mut s, _) = open_tunnel(proxy, origin).await?;
    let mut request = vec![if matches!(dir, Dir::Up) { b'U' } else { b'D' }];
    request.extend_from_slice(&bytes.to_be_bytes());
    let mut buf = vec![0x5au8; BLOCK];
    let start = Instant::now();
    s.write_all(&request).await?;
    match dir {
        Dir::Up => {
            let mut left = bytes;
            while left > 0 {
                let k = left.min(BLOCK as u64) as usize;
                s.write_all(&buf[..k]).await?;
                left -= k as u64;
            }
            let mut ack = [0u8; 1];
            s.read_exact(&mut ack).await?;
        }
        Dir::Down => {
            let mut left = bytes;
            while left > 0 {
                let k = s.read(&mut buf).await?;
                if k == 0 {
                    bail!("the tunnel closed with {left} bytes to go");
                }
                left = left.saturating_sub(k as u64);
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(bytes as f64 / (1 << 20) as f64 / secs)
}

struct Idle {
    before: u64,
    after: u64,
    per_tunnel: f64,
    per_direct: f64,
}

/// Holds `n` direct client→origin connections, then `n` tunnels, and
/// compares the process's resident memory growth for each.
async fn idle_tunnels(proxy: SocketAddr, origin: SocketAddr, n: usize) -> Result<Idle> {
    // Warm up allocator and runtime so the first measure is not of them.
    drop(open_tunnel(proxy, origin).await?);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let base = rss_kib()?;
    let mut direct = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(origin).await?;
        s.write_all(b"I").await?;
        direct.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let per_direct = rss_kib()?.saturating_sub(base) as f64 / n as f64;
    drop(direct);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let before = rss_kib()?;
    let mut tunnels = Vec::with_capacity(n);
    for _ in 0..n {
        let (mut s, _) = open_tunnel(proxy, origin).await?;
        s.write_all(b"I").await?;
        tunnels.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = rss_kib()?;
    // A tunnel the engine closed would make the figure meaningless.
    let mut probe = [0u8; 1];
    let closed = tunnels
        .iter()
        .filter(|s| !matches!(s.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock))
        .count();
    if closed > 0 {
        bail!("{closed} of {n} idle tunnels were closed or answered while held");
    }
    drop(tunnels);
    Ok(Idle {
        before,
        after,
        per_tunnel: after.saturating_sub(before) as f64 / n as f64,
        per_direct,
    })
}

/// This process's resident set size, from `/proc/self/status`.
fn rss_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS line")?;
    line.split_whitespace()
        .nth(1)
        .context("VmRSS has no value")?
        .parse()
        .context("VmRSS is not a number")
}

async fn forwarding(proxy: SocketAddr, origin: SocketAddr, run_for: Duration) -> Result<f64> {
    let start = Instant::now();
    let deadline = start + run_for;
    let request = format!("GET http://{origin}/bench HTTP/1.1\r\nHost: {origin}\r\n\r\n");
    let mut clients = Vec::new();
    for _ in 0..HTTP_CONNECTIONS {
        let request = request.clone();
        clients.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(proxy).await?;
            s.set_nodelay(true)?;
            let mut done = 0u64;
            let mut buf = Vec::with_capacity(4096);
            let mut chunk = [0u8; 4096];
            while Instant::now() < deadline {
                s.write_all(request.as_bytes()).await?;
                loop {
                    if let Some(end) = find(&buf, b"\r\n\r\n") {
                        let total = end + 4 + body_len(&buf[..end]);
                        if buf.len() >= total {
                            buf.drain(..total);
                            break;
                        }
                    }
                    let n = s.read(&mut chunk).await?;
                    if n == 0 {
                        bail!("the proxy closed a keep-alive connection");
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                done += 1;
            }
            anyhow::Ok(done)
        }));
    }
    let mut total = 0;
    for c in clients {
        total += c.await??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// The Content-Length of a response head (0 if absent).
fn body_len(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}
