//! Differential: scenarios no vector names, made up from a fixed seed, each
//! played against the real engine and the simulator; the bytes both ways and
//! the connection's end must agree. A failure prints the scenario as JSON,
//! ready to become a vector.

use burrow_core::outcome::{ConnectFailure, DnsFailure, UpstreamFailure};
use burrow_core::settings::Settings;
use burrow_core::simulate::{ClientEnd, ConnectScript, DnsScript, OriginScript, Scenario};

use crate::parity::play;

/// How many scenarios one run plays.
const CASES: usize = 160;

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn one_request(d: &mut Dice) -> String {
    let host = *d.pick(&[
        "example.com",
        "a.test",
        "app.localhost",
        "nas.lan",
        "192.0.2.7",
        "[2001:db8::5]",
        "x.example",
    ]);
    let port = *d.pick(&["", ":80", ":8080", ":443"]);
    let path = *d.pick(&[
        "/",
        "/a/b?c=d",
        "/%7Euser",
        "/api/{\"k\":1}",
        "/x<y",
        "/ä",
        "",
    ]);
    let version = *d.pick(&["HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0"]);
    let mut extra = String::new();
    for _ in 0..d.below(3) {
        let field = d.pick::<&str>(&[
            "Connection: close\r\n",
            "Proxy-Connection: keep-alive\r\n",
            "Expect: 100-continue\r\n",
            "X-Test: a\r\n",
            "Upgrade: h2c\r\nConnection: Upgrade\r\n",
            "TE: trailers\r\n",
            "Host : bad\r\n",
        ]);
        extra.push_str(field);
    }
    let (body_head, body) = match d.below(6) {
        0 => ("Content-Length: 5\r\n".to_string(), "hello".to_string()),
        1 => ("Content-Length: 9\r\n".to_string(), "cut".to_string()),
        2 => (
            "Transfer-Encoding: chunked\r\n".to_string(),
            "3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n".to_string(),
        ),
        3 => (
            "Transfer-Encoding: chunked\r\n".to_string(),
            "zz\r\n".to_string(),
        ),
        _ => (String::new(), String::new()),
    };
    match d.below(8) {
        0 | 1 => {
            let port = *d.pick(&["443", "80", "25", "0443", "8443"]);
            format!("CONNECT {host}:{port} {version}\r\nHost: {host}:{port}\r\n{extra}\r\n")
        }
        2 => format!("POST http://{host}{port}{path} {version}\r\nHost: {host}\r\n{body_head}{extra}\r\n{body}"),
        3 => format!("HEAD http://{host}{port}{path} {version}\r\nHost: {host}\r\n{extra}\r\n"),
        4 => format!("GET {path} {version}\r\nHost: {host}\r\n\r\n"),
        _ => format!("GET http://{host}{port}{path} {version}\r\nHost: {host}\r\n{extra}\r\n"),
    }
}

fn origin(d: &mut Dice) -> OriginScript {
    let body = "x".repeat(*d.pick(&[0, 5, 700, 20_000]));
    let headers: Vec<(String, String)> = match d.below(5) {
        0 => vec![("Transfer-Encoding".into(), "chunked".into())],
        1 => vec![("Connection".into(), "close".into())],
        2 => vec![
            ("Set-Cookie".into(), "a=1".into()),
            ("Set-Cookie".into(), "b=2".into()),
        ],
        _ => vec![("Content-Type".into(), "text/plain".into())],
    };
    match d.below(10) {
        0 => OriginScript::Fails(*d.pick(&[
            UpstreamFailure::Closed,
            UpstreamFailure::Protocol,
            UpstreamFailure::Timeout,
            UpstreamFailure::TooLarge,
        ])),
        1 => OriginScript::Raw(format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n{body}"
        )),
        2 => OriginScript::Raw(
            "HTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n".into(),
        ),
        3 => OriginScript::Raw(format!(
            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )),
        _ => OriginScript::Responds {
            status: *d.pick(&[200, 201, 204, 304, 404, 500]),
            reason: d.pick(&["OK", "Whatever", ""]).to_string(),
            headers,
            body,
        },
    }
}

fn scenario(d: &mut Dice) -> Scenario {
    let mut settings = Settings {
        allowed_ports: d
            .pick(&["443,80", "1-65535", "443"])
            .parse()
            .expect("a port list"),
        ..Settings::default()
    };
    // Short deadlines, so silence ends soon in both, but well beyond the
    // moment of silence after which the test takes a connection to stay
    // open, and beyond any scheduling delay of a loaded machine.
    let t = &mut settings.timeouts;
    t.request_head = 3.0;
    t.keep_alive = 3.0;
    t.dns = 3.0;
    t.connect = 3.0;
    t.tunnel_idle = 3.0;
    t.upstream_response = 3.0;
    if d.chance(20) {
        settings.limits.request_line = 1024;
        settings.limits.headers = 16;
        settings.limits.head_bytes = 2048;
    }
    if d.chance(10) {
        settings.local_hosts = vec!["*.example".into()];
    }
    let mut request = one_request(d);
    if d.chance(30) {
        request.push_str(&one_request(d));
    }
    let later = if d.chance(15) {
        vec![one_request(d)]
    } else {
        Vec::new()
    };
    Scenario {
        request,
        later,
        client_end: *d.pick(&[
            ClientEnd::KeepsOpen,
            ClientEnd::KeepsOpen,
            ClientEnd::Closes,
            ClientEnd::GoesIdle,
        ]),
        settings,
        dns: match d.below(6) {
            0 => DnsScript::Fails(*d.pick(&DnsFailure::ALL)),
            1 => DnsScript::Resolves(vec![
                "127.0.0.1".parse().expect("an address"),
                "192.0.2.9".parse().expect("an address"),
            ]),
            // Internal only: rebinding unless the name is local or listed.
            2 => DnsScript::Resolves(vec![d
                .pick(&["10.0.0.1", "::ffff:192.168.1.1", "169.254.169.254"])
                .parse()
                .expect("an address")]),
            _ => DnsScript::default(),
        },
        connect: match d.below(6) {
            0 => ConnectScript::Fails(*d.pick(&[
                ConnectFailure::Refused,
                ConnectFailure::TimedOut,
                ConnectFailure::Unreachable,
            ])),
            _ => ConnectScript::Connects,
        },
        origin: origin(d),
        ..Scenario::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_scenarios_agree_with_the_simulator() {
    // A fixed seed, so CI is repeatable; BURROW_DIFF_SEED explores others.
    let seed = std::env::var("BURROW_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_b0a7_2026_1201);
    let mut dice = Dice(seed);
    let runs: Vec<_> = (0..CASES)
        .map(|i| {
            let s = scenario(&mut dice);
            tokio::spawn(async move {
                let played = play(&s).await;
                let problems = played.differences();
                (!problems.is_empty()).then(|| {
                    format!(
                        "case {i}: {}\n  scenario: {}",
                        problems.join("\n  "),
                        serde_json::to_string(&s).unwrap_or_default()
                    )
                })
            })
        })
        .collect();
    let mut failures = Vec::new();
    for (i, run) in runs.into_iter().enumerate() {
        match run.await {
            Ok(None) => {}
            Ok(Some(e)) => failures.push(e),
            Err(panic) => failures.push(format!("case {i}: {panic}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {CASES} made-up scenarios differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
