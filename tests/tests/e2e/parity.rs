//! Playing one scenario against the real engine over TCP and against the
//! simulator, and saying where they differ: what the vectors test and the
//! differential test both do.

use std::sync::Arc;

use burrow_core::conformance;
use burrow_core::simulate::{simulate, ClientEnd, Scenario, Transcript};
use burrow_core::After;
use burrow_proxy::Engine;
use burrow_tests::{latin1, Client, Ending, HttpOrigin, Proxy, ScriptedNet, StaticInterfaces};

/// What the engine did with a scenario, beside what the simulator says.
pub struct Played {
    /// The simulator's transcript of the same scenario.
    pub sim: Transcript,
    /// Every byte the client got from the engine.
    pub client: Vec<u8>,
    /// Every byte the origin got from the engine.
    pub upstream: Vec<u8>,
    /// Where the engine's connection ended up.
    pub after: After,
    /// How the engine's connection ended.
    pub ending: Ending,
    /// The origin the engine reached (for tunnel checks).
    pub origin: HttpOrigin,
    /// The client, still connected when `after` says so.
    pub connection: Client,
    /// The engine, serving until this is dropped.
    _proxy: Proxy,
}

impl Played {
    /// Every way the engine differs from the simulator. Bytes relayed in a
    /// tunnel are the destination's business: past Burrow's 200, only the
    /// early bytes the client sent with its CONNECT are compared.
    pub fn differences(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.ending == Ending::Reset {
            problems.push("the engine reset the connection instead of closing it".to_string());
        }
        let payload = self.sim.record.tunnel && !self.sim.upstream_bytes.is_empty();
        if payload {
            let client = latin1(&self.client);
            let upstream = latin1(&self.upstream);
            if !client.starts_with(&self.sim.client_bytes) {
                problems.push(format!(
                    "the tunnel's answer differs from the simulator's:\n  engine:    {client:?}\n  simulator: {:?}",
                    self.sim.client_bytes
                ));
            }
            // The destination may stop reading (or close) before later payload arrives.
            let (short, long) = if upstream.len() < self.sim.upstream_bytes.len() {
                (upstream.as_str(), self.sim.upstream_bytes.as_str())
            } else {
                (self.sim.upstream_bytes.as_str(), upstream.as_str())
            };
            if !long.starts_with(short) {
                problems.push(format!(
                    "the tunnel's early bytes differ from the simulator's:\n  engine:    {upstream:?}\n  simulator: {:?}",
                    self.sim.upstream_bytes
                ));
            }
            return problems;
        }
        if latin1(&self.client) != self.sim.client_bytes {
            problems.push(format!(
                "client bytes differ from the simulator's:\n  engine:    {:?}\n  simulator: {:?}",
                latin1(&self.client),
                self.sim.client_bytes
            ));
        }
        if latin1(&self.upstream) != self.sim.upstream_bytes {
            problems.push(format!(
                "upstream bytes differ from the simulator's:\n  engine:    {:?}\n  simulator: {:?}",
                latin1(&self.upstream),
                self.sim.upstream_bytes
            ));
        }
        if self.after != self.sim.after {
            problems.push(format!(
                "connection {:?} != simulator {:?}",
                self.after, self.sim.after
            ));
        }
        problems
    }
}

/// Plays `scenario` against a fresh engine whose resolver and connector
/// follow its scripts, and against the simulator.
pub async fn play(scenario: &Scenario) -> Played {
    let settings = scenario.settings.clone();
    let origin = HttpOrigin::with_settings(scenario.origin.clone(), settings.clone()).await;
    let net = Arc::new(ScriptedNet::from_scenario(scenario, origin.addr()));
    // The engine gets the scenario's settings unchanged (policy reads
    // `settings.listen`); it serves on the real loopback listener.
    let engine = Engine::new(settings)
        .with_resolver(net.clone())
        .with_connector(net)
        .with_interfaces(Arc::new(StaticInterfaces(scenario.host_addrs.clone())));
    let proxy = Proxy::serve(engine).await;
    // The simulator is told of earlier wrong passwords; the engine hears them.
    for _ in 0..scenario.auth_failures {
        fail_login(proxy.addr).await;
    }
    // The simulator is told the real listener (the loop check needs it), and
    // `${LISTEN}` in the client's bytes becomes it.
    let scenario = conformance::at_listener(scenario, proxy.addr);
    let sim = simulate(&scenario);

    let mut client = Client::connect(proxy.addr).await;
    client.send_lossy(&bytes(&scenario.request)).await;
    let mut got = Vec::new();
    for (later, &after) in scenario.later.iter().zip(&sim.later_sent) {
        // Each later request goes when the simulated client sent it: once
        // the answers before it have arrived.
        let (so_far, _) = client.read_settled(after.saturating_sub(got.len())).await;
        got.extend(so_far);
        client.send_lossy(&bytes(later)).await;
    }
    if scenario.client_end == ClientEnd::Closes {
        client.shutdown_write_lossy().await;
    }
    // Wait as long as it takes for as many bytes as the simulator shows,
    // then for silence or the close: the comparison is exact either way.
    let want = sim.client_bytes.len().saturating_sub(got.len());
    // When the simulator says the connection closes, wait for the close
    // itself rather than for a moment of silence.
    let (rest, ending) = if sim.after == After::Close {
        client.read_until_closed(want).await
    } else {
        client.read_settled(want).await
    };
    got.extend(rest);
    let last_is_tunnel = conformance::parse_responses(&got)
        .and_then(|all| all.last().cloned())
        .is_some_and(|r| r.status_line.ends_with("200 Connection established"));
    let after = match ending {
        Ending::Open if last_is_tunnel => After::Tunnel,
        Ending::Open => After::KeepAlive,
        Ending::Fin | Ending::Reset => After::Close,
    };
    let upstream = origin.received_at_least(sim.upstream_bytes.len()).await;
    Played {
        sim,
        client: got,
        upstream,
        after,
        ending,
        origin,
        connection: client,
        _proxy: proxy,
    }
}

/// One connection that sends a wrong proxy password and reads the answer.
async fn fail_login(proxy: std::net::SocketAddr) {
    let mut client = Client::connect(proxy).await;
    client
        .send_lossy(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nProxy-Authorization: Basic bm9ib2R5Om5vdGhpbmc=\r\n\r\n")
        .await;
    client.read_until_closed(1).await;
}

/// Scenario text to bytes: each char is one byte.
pub fn bytes(text: &str) -> Vec<u8> {
    text.chars().map(|c| c as u32 as u8).collect()
}
