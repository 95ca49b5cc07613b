//! The PAC file Burrow serves, evaluated by a real headless Chromium
//! (`--proxy-pac-url`): pages go through Burrow while it runs, a
//! `pac_bypass` name goes DIRECT, and when Burrow stops (while the browser
//! runs, or before it starts) pages still load, DIRECT.
//!
//! Run inside a network namespace with only loopback (Chromium phones home
//! otherwise):
//!
//! ```text
//! unshare --net -- sh -c 'ip link set lo up &&
//!     cargo test -p burrow-tests --features browser-e2e --test pac_browser'
//! ```
//!
//! Chromium never sends loopback names or addresses through a proxy, so
//! the site is `site.test`: Burrow resolves it (an injected resolver) to
//! the loopback origin, listed in `local_hosts` as the DNS-rebinding rule
//! asks; Chromium itself maps it to the origin with `--host-resolver-rules`
//! for its DIRECT connections. The origin tells the two paths apart by
//! Burrow's `Via: 1.1 burrow`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use burrow_core::log::{Event, LogEvent};
use burrow_tests::origin::{Answer, Recorded};
use burrow_tests::webdriver::{
    chromedriver, target_dir, Driver, Session, TempDir, Timing, CHROMIUM_ARGS,
};
use burrow_tests::{settings, HttpOrigin, Proxy, ScriptedNet};
use serde_json::{json, Value};
use tokio::runtime::Runtime;
use tokio::sync::broadcast::Receiver;

/// Every wait in this test is bounded by this, polling every 50 ms.
const TIMING: Timing = Timing {
    wait: Duration::from_secs(20),
    poll: Duration::from_millis(50),
};

/// The window every session opens with.
const WINDOW_SIZE: &str = "--window-size=1000,700";

/// What the origin writes on every page.
const PAGE: &str = "<!doctype html><title>site.test</title><p id=msg>Hello from site.test</p>";

#[test]
fn chromium_follows_the_pac_file_and_falls_back_to_direct() {
    let rt = Runtime::new().expect("a tokio runtime");
    let origin = rt.block_on(HttpOrigin::answering(|_| {
        let mut bytes = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n",
            PAGE.len()
        )
        .into_bytes();
        bytes.extend_from_slice(PAGE.as_bytes());
        Answer::Send(bytes)
    }));
    let port = origin.addr().port();
    let mut s = settings();
    s.local_hosts = vec!["site.test".into()];
    s.pac_bypass = vec!["direct.test".into()];
    let net = Arc::new(ScriptedNet::to_origin(origin.addr()));
    let proxy = rt.block_on(Proxy::scripted(s, net));
    let burrow = proxy.addr;
    let mut log = proxy.engine.subscribe();
    let shots = target_dir().join("screenshots");
    std::fs::create_dir_all(&shots).expect("creating target/screenshots");

    let driver = chromedriver(TIMING);
    {
        let profile = TempDir::new("burrow-pac-profile");
        let b = chromium(&driver, profile.path(), burrow);

        // Burrow on: through Burrow, and Burrow's log shows the request.
        let url = format!("http://site.test:{port}/on");
        load(&b, &url);
        b.save_screenshot(&shots.join("pac-through-burrow.png"));
        assert!(via_burrow(&seen(&origin, "/on")), "/on came DIRECT");
        let events = drain(&mut log);
        assert!(
            requested(&events, "/proxy.pac"),
            "Chromium fetched the PAC file: {events:?}"
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(&e.event, Event::Responded { rule, .. } if rule == "pac-served")),
            "{events:?}"
        );
        assert!(
            requested(&events, &url),
            "Burrow's log shows {url}: {events:?}"
        );

        // A pac_bypass name goes DIRECT while Burrow runs.
        let bypassed = format!("http://direct.test:{port}/bypassed");
        load(&b, &bypassed);
        assert!(
            !via_burrow(&seen(&origin, "/bypassed")),
            "/bypassed went through Burrow"
        );
        assert!(!requested(&drain(&mut log), &bypassed));

        // Burrow stopped while the browser runs: the PAC's DIRECT fallback.
        rt.block_on(proxy.stop());
        load(
            &b,
            &format!("http://site.test:{port}/stopped-while-running"),
        );
        assert!(!via_burrow(&seen(&origin, "/stopped-while-running")));
    }

    // Burrow stopped before the browser starts: the PAC file cannot be
    // fetched, and Chromium goes DIRECT.
    let profile = TempDir::new("burrow-pac-profile");
    let b = chromium(&driver, profile.path(), burrow);
    load(&b, &format!("http://site.test:{port}/stopped-before"));
    b.save_screenshot(&shots.join("pac-direct-when-off.png"));
    assert!(!via_burrow(&seen(&origin, "/stopped-before")));
}

/// Navigates and checks that the origin's page is what loaded.
fn load(b: &Session, url: &str) {
    b.post(&b.path("/url"), json!({ "url": url }));
    b.wait_until(&format!("{url} to show the origin's page"), || {
        b.script(
            "const m = document.getElementById('msg'); return m ? m.textContent : document.body.innerText",
            json!([]),
        ) == json!("Hello from site.test")
    });
}

/// The request the origin received for `path`.
fn seen(origin: &HttpOrigin, path: &str) -> Recorded {
    let line = format!("GET {path} HTTP/1.1");
    origin
        .requests()
        .into_iter()
        .find(|r| r.request_line() == line)
        .unwrap_or_else(|| panic!("the origin never saw {line}"))
}

/// Whether Burrow forwarded it (Burrow adds `Via`; Chromium never does).
fn via_burrow(request: &Recorded) -> bool {
    request.field("via").iter().any(|v| v == "1.1 burrow")
}

/// Every log event received so far.
fn drain(log: &mut Receiver<LogEvent>) -> Vec<LogEvent> {
    let mut events = Vec::new();
    while let Ok(e) = log.try_recv() {
        events.push(e);
    }
    events
}

/// Whether some request in `events` had `target`.
fn requested(events: &[LogEvent], target: &str) -> bool {
    events
        .iter()
        .any(|e| matches!(&e.event, Event::Request { target: t, .. } if t.as_str() == target))
}

/// A headless Chromium with its own profile, told to use Burrow's PAC file
/// and to resolve the test names to loopback for its DIRECT connections.
fn chromium(driver: &Driver, profile: &Path, burrow: SocketAddr) -> Session {
    let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
    args.push(WINDOW_SIZE.to_string());
    args.push(format!("--user-data-dir={}", profile.display()));
    args.push(format!("--proxy-pac-url=http://{burrow}/proxy.pac"));
    args.push("--host-resolver-rules=MAP site.test 127.0.0.1, MAP direct.test 127.0.0.1".into());
    let mut options = json!({ "args": args });
    if let Some(bin) = std::env::var_os("CHROME") {
        options["binary"] = json!(bin.to_string_lossy());
    }
    let caps: Value = json!({ "capabilities": { "alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": options,
    }}});
    driver.session(&caps)
}
