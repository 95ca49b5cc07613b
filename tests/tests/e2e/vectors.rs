//! Parity: every conformance vector, sent over TCP to the real engine, must
//! pass the shared checker and produce byte for byte what the simulator
//! says. This is what keeps the web simulator from drifting from the proxy.

use std::sync::Arc;

use burrow_core::conformance::{self, Vector};
use burrow_core::forward::ForwardRequest;
use burrow_core::simulate::{simulate, OriginScript};
use burrow_core::After;
use burrow_proxy::Engine;
use burrow_tests::origin::Recorded;
use burrow_tests::{latin1, Client, Ending, HttpOrigin, Proxy, ScriptedNet};

const VECTORS: &str = include_str!("../../../core/tests/vectors.json");

/// Runs one vector against a fresh engine; the error says what differs.
async fn run(v: Vector) -> Result<(), String> {
    let origin = HttpOrigin::start(v.scenario.origin.clone()).await;
    let net = Arc::new(ScriptedNet::from_scenario(&v.scenario, origin.addr()));
    // The engine gets the vector's settings unchanged (policy reads
    // `settings.listen`); it serves on the real loopback listener.
    let engine = Engine::new(v.scenario.settings.clone())
        .with_resolver(net.clone())
        .with_connector(net);
    let proxy = Proxy::serve(engine).await;
    // The simulator is told the real listener (the loop check needs it).
    let scenario = v.scenario_for(proxy.addr);

    let mut client = Client::connect(proxy.addr).await;
    client.send(scenario.request.as_bytes()).await;
    let connect = scenario.request.starts_with("CONNECT ");
    let reply = if connect {
        client.connect_response().await
    } else {
        client.response().await
    };
    let ending = client.ending().await;
    let after = if ending != Ending::Open {
        After::Close
    } else if connect && (200..300).contains(&reply.status()) {
        After::Tunnel
    } else {
        After::KeepAlive
    };

    let mut problems = Vec::new();
    if ending == Ending::Reset {
        problems.push("the engine reset the connection instead of closing it".to_string());
    }
    if let Err(e) = conformance::check(&v.expect, &reply.raw, after) {
        problems.push(format!("checker: {e}"));
    }
    let sim = simulate(&scenario);
    let engine_bytes = latin1(&reply.raw);
    if engine_bytes != sim.client_bytes {
        problems.push(format!(
            "bytes differ from the simulator:\n  engine:    {engine_bytes:?}\n  simulator: {:?}",
            sim.client_bytes
        ));
    }
    if after != sim.after {
        problems.push(format!("connection {after:?} != simulator {:?}", sim.after));
    }
    if let Some(expected) = &sim.forwarded {
        problems.extend(upstream_differences(expected, &origin.requests()));
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

/// How the request the origin received differs from the one the simulator
/// says is forwarded, if it does: request line, or fields in order (names
/// compared case-blind: they are case-insensitive on the wire, and hyper's
/// client writes them in lowercase).
fn upstream_differences(expected: &ForwardRequest, got: &[Recorded]) -> Option<String> {
    let [got] = got else {
        return Some(format!("the origin got {} requests, not 1", got.len()));
    };
    let line = format!("{} {} HTTP/1.1", expected.method, expected.path_and_query);
    let want: Vec<(String, String)> = expected
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), latin1(v)))
        .collect();
    let have = got.fields();
    (got.request_line() != line || want != have).then(|| {
        format!(
            "upstream request differs from the simulator's:\n  engine:    {:?}\n  simulator: {line:?} {want:?}",
            got.head_text()
        )
    })
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
    let vectors = conformance::load(VECTORS).expect("vectors.json parses");
    assert!(vectors.len() >= 40, "the vectors file lost entries");
    // All at once: a few wait out the vectors' own DNS or connect timeouts.
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
