//! Secure defaults that need real sockets: password guessing slows down per
//! client address, and every setting at its upper bound is served without
//! a panic. (The destination rules are decisions, so they are conformance
//! vectors: `core/tests/vectors/security.json`, run here by `vectors`.)

use std::net::{IpAddr, SocketAddr};

use burrow_core::settings::{
    AuthThrottleSettings, Credentials, HeadLimits, Timeouts, MAX_AUTH_FAILURES, MAX_CONNECTIONS,
    MAX_CREDENTIAL_BYTES, MAX_HEADER_FIELDS, MAX_HEAD_BYTES, MAX_HOST_PATTERNS, MAX_TIMEOUT_SECS,
};
use burrow_core::Settings;
use burrow_tests::{settings, Client, Echo, Proxy};

const ALICE: &str = "YWxpY2U6czNjcmV0"; // alice:s3cret
const WRONG: &str = "YWxpY2U6Z3Vlc3M="; // alice:guess

fn with_auth(throttle: AuthThrottleSettings) -> Settings {
    Settings {
        auth: Some(Credentials {
            user: "alice".into(),
            password: "s3cret".into(),
        }),
        auth_throttle: throttle,
        ..settings()
    }
}

/// One CONNECT from `from` with `token` as Basic credentials: the status
/// and the Retry-After, if any.
async fn try_login(
    proxy: SocketAddr,
    from: &str,
    target: SocketAddr,
    token: &str,
) -> (u16, Option<u64>) {
    let from: IpAddr = from.parse().expect("an address");
    let mut client = Client::connect_from(proxy, from).await;
    client
        .send(format!(
            "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: Basic {token}\r\n\r\n"
        ))
        .await;
    let reply = client.connect_response().await;
    let retry = reply
        .header("retry-after")
        .map(|v| v.parse().expect("Retry-After is seconds"));
    (reply.status(), retry)
}

#[tokio::test]
async fn guessing_passwords_earns_a_growing_429_for_that_address_only() {
    let echo = Echo::start().await;
    let target = echo.addr;
    let proxy = Proxy::start(with_auth(AuthThrottleSettings {
        failures: 3,
        window: 60.0,
        block: 30.0,
    }))
    .await;
    let guesser = "127.0.0.1";
    assert_eq!(
        try_login(proxy.addr, guesser, target, WRONG).await,
        (407, None)
    );
    assert_eq!(
        try_login(proxy.addr, guesser, target, WRONG).await,
        (407, None)
    );
    assert_eq!(
        try_login(proxy.addr, guesser, target, WRONG).await,
        (429, Some(30))
    );
    // Blocked: even the right password is refused, so a block cannot be used to test guesses.
    let (status, retry) = try_login(proxy.addr, guesser, target, ALICE).await;
    assert_eq!(status, 429);
    assert!(retry.is_some_and(|s| (1..=30).contains(&s)), "{retry:?}");
    // Another address on the same machine is not affected.
    assert_eq!(
        try_login(proxy.addr, "127.0.0.2", target, ALICE).await,
        (200, None)
    );
    // Guessing on while blocked blocks for twice as long.
    for _ in 0..2 {
        assert_eq!(try_login(proxy.addr, guesser, target, WRONG).await.0, 429);
    }
    assert_eq!(
        try_login(proxy.addr, guesser, target, WRONG).await,
        (429, Some(60))
    );
}

#[tokio::test]
async fn without_throttling_every_wrong_password_is_a_plain_407() {
    let echo = Echo::start().await;
    let proxy = Proxy::start(with_auth(AuthThrottleSettings {
        failures: 0,
        ..AuthThrottleSettings::default()
    }))
    .await;
    for _ in 0..10 {
        assert_eq!(
            try_login(proxy.addr, "127.0.0.1", echo.addr, WRONG).await,
            (407, None)
        );
    }
    assert_eq!(
        try_login(proxy.addr, "127.0.0.1", echo.addr, ALICE).await,
        (200, None)
    );
}

/// Every numeric setting at the largest value `validate` accepts.
fn at_every_bound() -> Settings {
    let week = MAX_TIMEOUT_SECS;
    let long = "p".repeat(MAX_CREDENTIAL_BYTES);
    let patterns = |prefix: &str| -> Vec<String> {
        (0..MAX_HOST_PATTERNS)
            .map(|i| format!("{prefix}{i}.example"))
            .collect()
    };
    Settings {
        max_connections: MAX_CONNECTIONS,
        limits: HeadLimits {
            request_line: MAX_HEAD_BYTES,
            headers: MAX_HEADER_FIELDS,
            head_bytes: MAX_HEAD_BYTES,
            response_headers: MAX_HEADER_FIELDS,
            response_head_bytes: MAX_HEAD_BYTES,
        },
        timeouts: Timeouts {
            request_head: week,
            keep_alive: week,
            dns: week,
            connect: week,
            tunnel_idle: week,
            upstream_response: week,
            shutdown_grace: 5.0,
        },
        auth: Some(Credentials {
            user: "u".repeat(MAX_CREDENTIAL_BYTES),
            password: long,
        }),
        auth_throttle: AuthThrottleSettings {
            failures: MAX_AUTH_FAILURES,
            window: week,
            block: week,
        },
        deny_hosts: patterns("deny"),
        allow_hosts: {
            let mut allow = patterns("allow");
            allow[0] = "127.0.0.0/8".into();
            allow
        },
        local_hosts: patterns("local"),
        ..settings()
    }
}

#[tokio::test]
async fn the_engine_serves_with_every_setting_at_its_bound() {
    let s = at_every_bound();
    s.validate().expect("the bounds themselves are valid");
    let token = {
        use base64::Engine as _;
        let c = s.auth.as_ref().expect("auth is set");
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.user, c.password))
    };
    let echo = Echo::start().await;
    let target = echo.addr;
    let proxy = Proxy::start(s).await;

    // A head with as many fields as allowed, and one nearly as large as allowed.
    let many: String = (0..MAX_HEADER_FIELDS - 3)
        .map(|i| format!("X-F{i}: {i}\r\n"))
        .collect();
    let big = format!("X-Big: {}\r\n", "b".repeat(MAX_HEAD_BYTES - 4096));
    for extra in [many, big] {
        let mut client = Client::connect(proxy.addr).await;
        client
            .send(format!(
                "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: Basic {token}\r\n{extra}\r\n"
            ))
            .await;
        let reply = client.connect_response().await;
        assert_eq!(reply.status(), 200, "{}", reply.head.status_line);
        client.send("ping").await;
        assert_eq!(client.read_exact(4).await, b"ping");
    }
    // One field too many is refused with 431, and the engine keeps serving.
    let too_many: String = (0..MAX_HEADER_FIELDS + 1)
        .map(|i| format!("X-F{i}: {i}\r\n"))
        .collect();
    let mut client = Client::connect(proxy.addr).await;
    client
        .send(format!(
            "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{too_many}\r\n"
        ))
        .await;
    assert_eq!(client.connect_response().await.status(), 431);
    let mut client = Client::connect(proxy.addr).await;
    client
        .send(format!(
            "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: Basic {token}\r\n\r\n"
        ))
        .await;
    // Still accepting and answering: nothing panicked along the way.
    assert_eq!(client.connect_response().await.status(), 200);
}

#[tokio::test]
async fn the_password_reaches_no_log_no_record_and_no_origin() {
    use burrow_core::display::RecordText;
    use burrow_core::log::ConnectionRecord;
    use burrow_proxy::access_log::{AccessLog, Format};
    use burrow_proxy::Engine;
    use burrow_tests::{start, HttpOrigin};

    let echo = Echo::start().await;
    let origin = HttpOrigin::start(Default::default()).await;
    let mut s = with_auth(AuthThrottleSettings::default());
    s.forward_blocked_ports = "".parse().expect("an empty port list");
    let engine = Engine::new(s);
    let (running, mut events) = start(&engine).await;
    let proxy = running.local_addr();
    let o = origin.addr();
    let mut clients = Vec::new();
    for (token, request) in [
        (
            ALICE,
            format!("CONNECT {} HTTP/1.1\r\nHost: {}\r\n", echo.addr, echo.addr),
        ),
        (
            WRONG,
            format!("CONNECT {} HTTP/1.1\r\nHost: {}\r\n", echo.addr, echo.addr),
        ),
        (
            ALICE,
            format!("GET http://{o}/p HTTP/1.1\r\nHost: {o}\r\nConnection: close\r\n"),
        ),
    ] {
        let mut client = Client::connect(proxy).await;
        client
            .send(format!(
                "{request}Proxy-Authorization: Basic {token}\r\n\r\n"
            ))
            .await;
        client.connect_response().await;
        client.shutdown_write().await;
        clients.push(client.local_addr());
    }
    let mut seen = Vec::new();
    for client in clients {
        seen.extend(events.connection_log(client).await);
    }
    let mut text = AccessLog::new(Format::Text);
    let mut json = AccessLog::new(Format::Json);
    let mut records = std::collections::BTreeMap::new();
    let mut everything = String::new();
    for e in &seen {
        everything.push_str(&serde_json::to_string(e).expect("events serialise"));
        everything.extend(text.apply(e));
        everything.extend(json.apply(e));
        records
            .entry(e.id)
            .or_insert_with(|| ConnectionRecord::new(e.id))
            .apply(e.at_ms, &e.event);
    }
    // What the desktop shows and exports: the records and their words.
    for record in records.values() {
        everything.push_str(&serde_json::to_string(record).expect("records serialise"));
        everything
            .push_str(&serde_json::to_string(&RecordText::of(record)).expect("rows serialise"));
    }
    assert!(
        everything.contains("CONNECT"),
        "the logs were written: {everything}"
    );
    for secret in ["s3cret", "guess", ALICE, WRONG] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked into {everything}"
        );
    }
    let upstream = origin.received_at_least(1).await;
    assert!(!burrow_tests::latin1(&upstream)
        .to_ascii_lowercase()
        .contains("proxy-authorization"));
    running.stop().await;
}
