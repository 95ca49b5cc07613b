//! Parity: every conformance vector, played against the real engine over
//! TCP, must pass the shared checker and produce byte for byte what the
//! simulator says, both towards the client and towards the origin. This is
//! what keeps the web simulator from drifting from the proxy.

use std::sync::Arc;

use burrow_core::conformance::{self, Observed, Vector};
use burrow_core::simulate::{simulate, ClientEnd, OriginScript};
use burrow_core::After;
use burrow_proxy::Engine;
use burrow_tests::origin::Recorded;
use burrow_tests::{latin1, Client, Ending, HttpOrigin, Proxy, ScriptedNet};

/// Runs one vector against a fresh engine; the error says what differs.
async fn run(v: Vector) -> Result<(), String> {
    let settings = v.scenario.settings.clone();
    let origin = HttpOrigin::with_settings(v.scenario.origin.clone(), settings.clone()).await;
    let net = Arc::new(ScriptedNet::from_scenario(&v.scenario, origin.addr()));
    // The engine gets the vector's settings unchanged (policy reads
    // `settings.listen`); it serves on the real loopback listener.
    let engine = Engine::new(settings)
        .with_resolver(net.clone())
        .with_connector(net);
    let proxy = Proxy::serve(engine).await;
    // The simulator is told the real listener (the loop check needs it).
    let scenario = v.scenario_for(proxy.addr);
    let sim = simulate(&scenario);

    let mut client = Client::connect(proxy.addr).await;
    client.send_lossy(&bytes(&scenario.request)).await;
    let mut got = Vec::new();
    for later in &scenario.later {
        // Each later request goes once everything before it is answered.
        let (so_far, _) = client.read_settled(0).await;
        got.extend(so_far);
        client.send_lossy(&bytes(later)).await;
    }
    if scenario.client_end == ClientEnd::Closes {
        client.shutdown_write().await;
    }
    // Wait as long as it takes for as many bytes as the simulator shows,
    // then for silence or the close: the comparison below is exact.
    let want = sim.client_bytes.len().saturating_sub(got.len());
    let (rest, ending) = client.read_settled(want).await;
    got.extend(rest);
    let last_is_tunnel = conformance::parse_responses(&got)
        .and_then(|all| all.last().cloned())
        .is_some_and(|r| r.status_line.ends_with("200 Connection established"));
    let after = match ending {
        Ending::Open if last_is_tunnel => After::Tunnel,
        Ending::Open => After::KeepAlive,
        Ending::Fin | Ending::Reset => After::Close,
    };

    let mut problems = Vec::new();
    if ending == Ending::Reset {
        problems.push("the engine reset the connection instead of closing it".to_string());
    }
    let upstream = origin.received();
    let seen = Observed {
        client: &got,
        upstream: &upstream,
        after,
    };
    if let Err(e) = conformance::check(&v.expect, seen) {
        problems.push(format!("checker: {e}"));
    }
    if latin1(&got) != sim.client_bytes {
        problems.push(format!(
            "client bytes differ from the simulator's:\n  engine:    {:?}\n  simulator: {:?}",
            latin1(&got),
            sim.client_bytes
        ));
    }
    if latin1(&upstream) != sim.upstream_bytes {
        problems.push(format!(
            "upstream bytes differ from the simulator's:\n  engine:    {:?}\n  simulator: {:?}",
            latin1(&upstream),
            sim.upstream_bytes
        ));
    }
    if after != sim.after {
        problems.push(format!("connection {after:?} != simulator {:?}", sim.after));
    }
    if after == After::Tunnel {
        problems.extend(tunnel_relays(&mut client, &origin, &v.scenario.origin).await);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{}:\n  {}", v.name, problems.join("\n  ")))
    }
}

fn bytes(text: &str) -> Vec<u8> {
    text.chars().map(|c| c as u32 as u8).collect()
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
