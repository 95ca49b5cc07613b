//! The mixed load: [`WORKERS`] clients each running one kind after another, drawn by weight,
//! plus [`SLOWLORIS`] slowloris clients, until a deadline. Every operation is bounded by
//! [`OP_LIMIT`] and ends in exactly one recorded outcome.

use std::time::Instant;

use anyhow::{Context, Result};
use tokio::task::JoinSet;

use crate::net::{Env, OP_LIMIT};
use crate::payload::Rng;
use crate::plan::{draw, Kind, SLOWLORIS, WORKERS};
use crate::stats::{Mismatch, Outcome};
use crate::{abuse, forward, tunnel};

/// Runs the mix until `until`, then waits for the operations under way (each bounded).
pub async fn run(env: &Env, until: Instant, seed: u64) -> Result<()> {
    let mut clients = JoinSet::new();
    for i in 0..WORKERS + SLOWLORIS {
        let env = env.clone();
        let mut rng = Rng::new(seed ^ (i as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
        clients.spawn(async move {
            while Instant::now() < until {
                let kind = if i < WORKERS {
                    draw(&mut rng)
                } else {
                    Kind::Slowloris
                };
                perform(kind, &env, &mut rng).await;
            }
        });
    }
    while let Some(done) = clients.join_next().await {
        // A client that panicked is the soak's own bug: stop rather than report half a soak.
        done.context("a soak client failed")?;
    }
    Ok(())
}

/// Runs one operation of `kind` and records how it ended.
pub async fn perform(kind: Kind, env: &Env, rng: &mut Rng) {
    env.stats.opened(kind);
    let work = async {
        match kind {
            Kind::Forward => forward::run(env, rng).await,
            Kind::Garbage => abuse::garbage(env, rng).await,
            Kind::Slowloris => abuse::slowloris(env, rng).await,
            _ => tunnel::run(kind, env, rng).await,
        }
    };
    let outcome = match tokio::time::timeout(OP_LIMIT, work).await {
        Err(_) => Outcome::Unexpected(format!("did not finish within {OP_LIMIT:?}")),
        Ok(Ok(outcome)) => outcome,
        Ok(Err(e)) if e.downcast_ref::<Mismatch>().is_some() => {
            Outcome::Corrupted(format!("{e:#}"))
        }
        Ok(Err(e)) => Outcome::Unexpected(format!("{e:#}")),
    };
    env.stats.record(kind, outcome);
}
