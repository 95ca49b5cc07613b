//! One client address opening idle connections up to and past the engine's per-client-address
//! cap (`max_connections_per_client`). Past the cap, each new connection must be refused with `503`, or
//! make room by closing one of the same client's idle connections; never may the client hold
//! more than the cap.

use std::time::Duration;

use anyhow::Result;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::abuse::{shown, status};
use crate::net::{connect, is_reset, Env, READ_LIMIT};
use crate::plan::Kind;
use crate::stats::{Moved, Outcome};

/// How long the connections are held before they are judged: long enough for every refusal to
/// arrive, well short of `timeouts.request_head`, which would end the held ones too.
const HOLD: Duration = Duration::from_secs(1);

/// What one burst saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct Burst {
    /// Connections opened.
    pub opened: usize,
    /// Still open and unanswered after [`HOLD`]: admitted.
    pub held: usize,
    /// Answered `503`.
    pub refused: usize,
    /// Closed without an answer (room made for a newer one).
    pub closed: usize,
}

/// Opens `cap + extra` connections from one address, holds them, judges each, and closes them.
/// The address is the cap client's alone, so exactly `cap` must be held.
pub async fn burst(env: &Env, cap: usize, extra: usize) -> Result<Burst> {
    let from = Kind::CapClient.address(0);
    let mut streams = Vec::with_capacity(cap + extra);
    let mut b = Burst::default();
    for _ in 0..cap + extra {
        env.stats.opened(Kind::CapClient);
        match connect(from, env.proxy).await {
            Ok(s) => streams.push(s),
            Err(e) => env
                .stats
                .record(Kind::CapClient, Outcome::Unexpected(format!("{e:#}"))),
        }
    }
    b.opened = streams.len();
    tokio::time::sleep(HOLD).await;
    // All at once: judged one by one, the last would meet the head timeout first.
    let mut judged = JoinSet::new();
    for s in streams {
        judged.spawn(judge(s));
    }
    while let Some(verdict) = judged.join_next().await {
        let outcome = match verdict {
            Ok(Verdict::Held) => {
                b.held += 1;
                Outcome::Completed(Moved::default())
            }
            Ok(Verdict::Refused) => {
                b.refused += 1;
                Outcome::Expected("503 past the cap")
            }
            Ok(Verdict::Closed) => {
                b.closed += 1;
                Outcome::Expected("closed to make room")
            }
            Ok(Verdict::Odd(what)) => Outcome::Unexpected(what),
            Err(e) => Outcome::Unexpected(format!("judging a connection: {e}")),
        };
        env.stats.record(Kind::CapClient, outcome);
    }
    if b.held != cap || b.refused + b.closed < b.opened.saturating_sub(cap) {
        env.stats.record(
            Kind::CapClient,
            Outcome::Unexpected(format!(
                "a burst of {} held {} (cap {cap}: exactly {cap} held), {} refused, {} closed",
                b.opened, b.held, b.refused, b.closed
            )),
        );
    }
    Ok(b)
}

/// What became of one connection of a burst.
enum Verdict {
    /// Admitted: open and unanswered.
    Held,
    /// Answered `503`.
    Refused,
    /// Closed without an answer.
    Closed,
    /// Anything else.
    Odd(String),
}

/// Looks at one connection after the hold, then closes it.
async fn judge(mut s: TcpStream) -> Verdict {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    match tokio::time::timeout(Duration::from_millis(50), s.read(&mut chunk)).await {
        Err(_) => return Verdict::Held,
        Ok(Ok(0)) => return Verdict::Closed,
        Ok(Err(e)) if is_reset(&e) => return Verdict::Closed,
        Ok(Err(e)) => return Verdict::Odd(format!("reading: {e}")),
        Ok(Ok(n)) => answer.extend_from_slice(&chunk[..n]),
    }
    // The rest of the refusal, up to its close.
    let _ = tokio::time::timeout(READ_LIMIT, async {
        while let Ok(n @ 1..) = s.read(&mut chunk).await {
            answer.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    if status(&answer).as_deref() == Some("503") {
        Verdict::Refused
    } else {
        Verdict::Odd(format!("past the cap: {}", shown(&answer)))
    }
}
