//! Parity: every conformance vector, played against the real engine over
//! TCP, must pass the shared checker and produce byte for byte what the
//! simulator says, both towards the client and towards the origin. This is
//! what keeps the web simulator from drifting from the proxy.

use burrow_core::conformance::{self, Observed, Vector};
use burrow_core::simulate::OriginScript;
use burrow_core::After;
use burrow_tests::origin::Recorded;
use burrow_tests::{latin1, Client, HttpOrigin};

use crate::parity::play;

/// Runs one vector against a fresh engine; the error says what differs.
async fn run(v: Vector) -> Result<(), String> {
    let mut played = play(&v.scenario).await;
    let mut problems = played.differences();
    let seen = Observed {
        client: &played.client,
        upstream: &played.upstream,
        after: played.after,
    };
    if let Err(e) = conformance::check(&v.expect, seen) {
        problems.push(format!("checker: {e}"));
    }
    if played.after == After::Tunnel {
        let (client, origin) = (&mut played.connection, &played.origin);
        problems.extend(tunnel_relays(client, origin, &v.scenario.origin).await);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}:\n  {}", v.name, problems.join("\n  ")))
    }
}

/// After a 2xx to CONNECT, bytes must flow through to the origin and back.
async fn tunnel_relays(
    client: &mut Client,
    origin: &HttpOrigin,
    script: &OriginScript,
) -> Option<String> {
    let OriginScript::Responds { status, .. } = script else {
        return None;
    };
    client
        .send("GET /through-the-tunnel HTTP/1.1\r\nHost: origin\r\n\r\n")
        .await;
    let reply = client.response().await;
    let seen = origin.requests();
    let reached = seen
        .last()
        .is_some_and(|r| r.request_line() == "GET /through-the-tunnel HTTP/1.1");
    (!reached || reply.status() != *status).then(|| {
        format!(
            "the tunnel does not relay: origin saw {:?}, client got {:?}",
            seen.iter().map(Recorded::request_line).collect::<Vec<_>>(),
            latin1(&reply.raw)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_vector_matches_the_simulator_byte_for_byte() {
    let vectors = conformance::all().expect("the vector files parse");
    assert!(vectors.len() >= 100, "the vector files lost entries");
    // All at once: a few wait out the vectors' own deadlines.
    let runs: Vec<_> = vectors
        .into_iter()
        .map(|v| (v.name.clone(), tokio::spawn(run(v))))
        .collect();
    let mut failures = Vec::new();
    for (name, run) in runs {
        match run.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(e),
            Err(panic) => failures.push(format!("{name}: {panic}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} vector(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
