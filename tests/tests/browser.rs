//! The web simulator in a real headless Chromium, driven like a user would
//! drive it, over the W3C WebDriver protocol.
//!
//! Run after building the page, inside a network namespace with only
//! loopback (Chromium phones home otherwise):
//!
//! ```text
//! cargo xtask web --no-serve
//! unshare --net -- sh -c 'ip link set lo up &&
//!     cargo test -p burrow-tests --features browser-e2e --test browser'
//! ```
//!
//! The test serves `target/web/` itself on 127.0.0.1 (with xtask's static
//! file server, the one `cargo xtask web` runs), starts chromedriver on
//! a free loopback port, and checks: no console errors, the default answer,
//! every preset selected through the UI (status, diagram steps, and the
//! scenario the page sends equals the one in presets.json), a shared link
//! restoring its scenario, keyboard stepping, the controls of the security
//! rules (local_hosts, forward_blocked_ports, earlier wrong passwords)
//! changing the answer, a narrow window, and a whole
//! scenario from a link (as the desktop app's "Open in simulator" makes it)
//! kept whole: fields without a control still reach the core. It saves
//! screenshots in `target/screenshots/`. A missing page or chromedriver
//! fails the test with what to run; it never passes silently.

use std::ops::Deref;
use std::path::Path;
use std::thread;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use burrow_core::settings::Timeouts;
use burrow_core::simulate::{simulate, OriginScript, Scenario};
use burrow_core::Settings;
use burrow_tests::webdriver::{
    chromedriver, target_dir, Driver, Session, TempDir, Timing, CHROMIUM_ARGS,
};
use serde_json::{json, Value};
use xtask::serve;

/// The presets the page offers, with the answer each must give.
const PRESETS: &str = include_str!("../../web/www/presets.json");

/// Every wait in this test is bounded by this, polling every 50 ms.
const TIMING: Timing = Timing {
    wait: Duration::from_secs(20),
    poll: Duration::from_millis(50),
};

/// The window every session opens with.
const WINDOW_SIZE: &str = "--window-size=1280,900";

#[test]
fn simulator_in_headless_chromium() {
    let web = target_dir().join("web");
    assert!(
        web.join("index.html").is_file() && web.join("pkg/burrow_web_bg.wasm").is_file(),
        "{} has no built simulator: run `cargo xtask web --no-serve` first",
        web.display()
    );
    let (server, misses) = serve::spawn(&web).expect("serving target/web on 127.0.0.1");
    let driver = chromedriver(TIMING);
    let profile = TempDir::new("burrow-browser-profile");
    let b = chromium(&driver, profile.path());
    let base = format!("http://{server}/");
    let shots = target_dir().join("screenshots");
    std::fs::create_dir_all(&shots).expect("creating target/screenshots");

    b.open(&base);
    default_view(&b);
    b.wait_for_animation();
    b.save_screenshot(&shots.join("simulator-default.png"));

    let presets: Vec<Value> = serde_json::from_str(PRESETS).expect("presets.json parses");
    for p in &presets {
        select_preset(&b, p);
        if p["id"] == "connect-timeout" {
            b.wait_for_animation();
            b.save_screenshot(&shots.join("simulator-504.png"));
        }
        if p["id"] == "pac-file" {
            b.wait_for_animation();
            b.save_screenshot(&shots.join("simulator-pac.png"));
        }
    }

    keyboard_steps(&b);
    security_rule_controls(&b, &shots);
    shared_link_restores(&b, &base);
    narrow_window(&b, &shots);
    dark_scheme(&b, &shots);
    loaded_scenario_kept_whole(&b, &base, &shots);

    let errors = b.console_errors();
    assert!(errors.is_empty(), "console errors:\n{}", errors.join("\n"));
    let missing = misses.list();
    assert!(
        missing.is_empty(),
        "the page asked for files that are not there: {missing:?}"
    );
}

/// The page opens on the classic browser CONNECT: 200 and a tunnel.
fn default_view(b: &Browser) {
    assert_eq!(b.text("#status-code"), "200");
    assert_eq!(b.text("#after-title"), "Tunnel open");
    assert_eq!(b.value("#preset"), "browser-connect");
    let labels = b.step_labels();
    assert!(labels.iter().any(|l| l == "TLS ClientHello"), "{labels:?}");
    assert!(
        labels.iter().any(|l| l == "200 Connection established"),
        "{labels:?}"
    );
    assert!(b
        .text("#bytes")
        .starts_with("HTTP/1.0 200 Connection established"));
    assert!(b.text("#rule-spec").contains("RFC 9110"));
}

/// Selects a preset as a user does (clicking its option) and checks the
/// answer, the diagram and the scenario the page sent.
fn select_preset(b: &Browser, p: &Value) {
    let id = p["id"].as_str().expect("preset id");
    let expect = &p["expect"];
    let status = expect["status"].to_string();
    b.click(&format!("#preset option[value=\"{id}\"]"));
    b.wait_until(&format!("preset {id}"), || {
        b.script(
            "return document.getElementById('preset').value === arguments[0] \
             && document.body.dataset.status === arguments[1]",
            json!([id, status]),
        ) == json!(true)
    });
    assert_eq!(b.text("#status-code"), status, "{id}: status shown");
    let sent = b.script("return window.burrowSimulator.scenario()", json!([]));
    assert_eq!(
        sent, p["scenario"],
        "{id}: the page sends the preset's scenario"
    );
    let transcript = b.script("return window.burrowSimulator.transcript()", json!([]));
    assert_eq!(transcript["after"], expect["after"], "{id}: after");
    let labels = b.step_labels();
    assert_eq!(
        labels.len(),
        transcript["steps"].as_array().map_or(0, Vec::len),
        "{id}: one arrow per step"
    );
    let step = expect["step"].as_str().unwrap_or_default();
    assert!(
        labels.iter().any(|l| l.contains(step)),
        "{id}: no step {step:?} in {labels:?}"
    );
    let after_title = b.text("#after-title");
    assert!(
        !after_title.is_empty(),
        "{id}: what happens to the connection"
    );
    let failed_connect = transcript["record"]["method"] == "CONNECT"
        && expect["status"].as_u64().unwrap_or(0) >= 300;
    assert_eq!(
        b.visible("#no-redirect"),
        failed_connect,
        "{id}: why-not-302 note"
    );
    if p.get("highlight") == Some(&json!("no_redirect")) {
        let text = b.text("#no-redirect-text");
        assert!(
            text.contains("never answers a failed CONNECT with a 3xx"),
            "{text}"
        );
    }
}

/// ← and → move through the steps when the diagram has focus.
fn keyboard_steps(b: &Browser) {
    b.click("#preset option[value=\"browser-connect\"]");
    b.wait_for_animation();
    let count: i64 = b.attr("#diagram", "data-count").parse().unwrap_or(0);
    assert!(count > 3, "diagram has {count} steps");
    let last = count - 1;
    assert_eq!(b.attr("#diagram", "data-current"), last.to_string());
    b.script("document.getElementById('diagram').focus()", json!([]));
    b.keys("#diagram", "\u{E012}"); // ArrowLeft
    assert_eq!(b.attr("#diagram", "data-current"), (last - 1).to_string());
    b.keys("#diagram", "\u{E011}"); // Home
    assert_eq!(b.attr("#diagram", "data-current"), "0");
    assert!(b.text("#step-note").contains("TCP connect"));
    b.click("#next");
    assert_eq!(b.attr("#diagram", "data-current"), "1");
    b.keys("#diagram", "\u{E010}"); // End
    assert_eq!(b.attr("#diagram", "data-current"), last.to_string());
}

/// Sets a text field as typing would (one input event), so the page re-runs.
fn type_into(b: &Browser, css: &str, text: &str) {
    b.script(
        "const f = document.querySelector(arguments[0]); \
         f.value = arguments[1]; f.dispatchEvent(new Event('input'))",
        json!([css, text]),
    );
}

/// The security rules' controls change the answer: local_hosts admits the
/// rebinding name, emptying forward_blocked_ports lets port 25 through (and
/// "Use the default" brings the core's list back), and with no earlier wrong
/// passwords the throttled client gets the ordinary challenge.
fn security_rule_controls(b: &Browser, shots: &Path) {
    b.click("#preset option[value=\"dns-rebinding\"]");
    b.wait_until("403 for rebinding", || b.text("#status-code") == "403");
    assert!(b.visible("#checks"), "the refusal step is shown in words");
    assert!(
        b.text("#checks").contains("DNS rebinding"),
        "{}",
        b.text("#checks")
    );
    b.wait_for_animation();
    b.save_screenshot(&shots.join("simulator-rebinding.png"));
    type_into(b, "#local-hosts", "evil.example");
    b.wait_until("local_hosts to admit the name", || {
        b.text("#status-code") == "200"
    });
    assert!(!b.visible("#checks"));
    assert_eq!(b.value("#preset"), "custom");
    assert_eq!(sent_scenario(b).settings.local_hosts, ["evil.example"]);

    let default = Settings::default().forward_blocked_ports;
    b.click("#preset option[value=\"forward-port-25\"]");
    b.wait_until("403 for port 25", || b.text("#status-code") == "403");
    assert_eq!(
        b.value("#blocked-ports"),
        default.to_string(),
        "the default is shown"
    );
    assert!(!b.visible("#blocked-ports-default"));
    type_into(b, "#blocked-ports", "");
    b.wait_until("port 25 forwarded", || b.text("#status-code") == "200");
    assert!(sent_scenario(b)
        .settings
        .forward_blocked_ports
        .to_string()
        .is_empty());
    b.click("#blocked-ports-default");
    b.wait_until("the default list back", || b.text("#status-code") == "403");
    assert_eq!(b.value("#blocked-ports"), default.to_string());
    assert_eq!(b.value("#preset"), "forward-port-25");

    b.click("#preset option[value=\"auth-throttled\"]");
    b.wait_until("429", || b.text("#status-code") == "429");
    type_into(b, "#auth-failures", "0");
    b.wait_until("the wrong password challenged", || {
        b.text("#status-code") == "407"
    });
    assert_eq!(sent_scenario(b).auth_failures, 0);
}

/// A changed scenario lives in the URL; opening that URL afresh restores it.
fn shared_link_restores(b: &Browser, base: &str) {
    b.click("#preset option[value=\"connect-timeout\"]");
    b.wait_until("504", || b.text("#status-code") == "504");
    b.click("#dns option[value=\"no_such_host\"]");
    b.wait_until("502 after the DNS change", || {
        b.text("#status-code") == "502"
    });
    b.keys("#ports", ",8443");
    // The fragment is rewritten on every change, once the typing pauses.
    b.wait_until("the link to follow the typing", || {
        b.script(
            "return atob(location.hash.slice(3).replace(/-/g, '+').replace(/_/g, '/')).includes('443,80,8443')",
            json!([]),
        ) == json!(true)
    });
    let scenario = b.script("return window.burrowSimulator.scenario()", json!([]));
    b.click("#copy-link");
    b.wait_until("the copy notice", || b.visible("#notice"));
    let link = b
        .script("return location.href", json!([]))
        .as_str()
        .expect("href")
        .to_string();
    assert!(link.starts_with(base) && link.contains("#s="), "{link}");

    b.open("about:blank");
    b.open(&link);
    assert_eq!(b.text("#status-code"), "502");
    assert_eq!(b.value("#dns"), "no_such_host");
    assert_eq!(b.value("#ports"), "443,80,8443");
    assert_eq!(b.value("#preset"), "custom");
    let restored = b.script("return window.burrowSimulator.scenario()", json!([]));
    assert_eq!(restored, scenario, "the link restores the exact scenario");
    assert!(b
        .step_labels()
        .iter()
        .any(|l| l == "lookup failed: no such host"));

    // A link that is not a scenario falls back to the default, with a notice.
    b.open("about:blank");
    b.open(&format!("{base}#s=not-json"));
    assert_eq!(b.text("#status-code"), "200");
    assert!(b.text("#notice").contains("could not be read"));
}

/// Below 800 px the page is one column and nothing overflows sideways.
fn narrow_window(b: &Browser, shots: &Path) {
    b.post(
        &b.path("/window/rect"),
        json!({"width": 600, "height": 1000}),
    );
    let here = b.script("return location.href", json!([]));
    b.open(here.as_str().unwrap_or_default());
    let layout = b.script(
        "const l = getComputedStyle(document.querySelector('.layout')).gridTemplateColumns; \
         return [l.split(' ').length, document.documentElement.scrollWidth, window.innerWidth]",
        json!([]),
    );
    assert_eq!(layout[0], 1, "one column on a narrow window: {layout}");
    assert!(
        layout[1].as_i64() <= layout[2].as_i64(),
        "the page scrolls sideways: {layout}"
    );
    b.wait_for_animation();
    b.save_screenshot(&shots.join("simulator-narrow.png"));
    b.post(
        &b.path("/window/rect"),
        json!({"width": 1280, "height": 900}),
    );
}

/// The dark colour scheme, for a look at contrast.
fn dark_scheme(b: &Browser, shots: &Path) {
    b.post(
        &b.path("/goog/cdp/execute"),
        json!({"cmd": "Emulation.setEmulatedMedia",
               "params": {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}}),
    );
    b.click("#preset option[value=\"port-denied\"]");
    b.wait_until("403", || b.text("#status-code") == "403");
    b.wait_for_animation();
    b.save_screenshot(&shots.join("simulator-dark-403.png"));
}

/// A whole scenario in the link, as the desktop app's "Open in simulator"
/// makes it: settings without a control (`deny_hosts`, a timeout), the
/// client's address and a custom origin answer (404) are noted on the page,
/// reach the core unchanged and stay in the link the page shares, until
/// "Use defaults" drops them.
fn loaded_scenario_kept_whole(b: &Browser, base: &str, shots: &Path) {
    // The page's defaults for what it has no control for are the core's.
    let defaults = b.script("return window.burrowSimulator.defaults()", json!([]));
    // (Compared as settings: the page gives back 30 where the core wrote 30.0.)
    let mut page = serde_json::to_value(Settings::default()).expect("settings JSON");
    for (key, value) in defaults["settings"].as_object().expect("default settings") {
        page[key] = value.clone();
    }
    assert_eq!(
        serde_json::from_value::<Settings>(page).expect("the page's default settings"),
        Settings::default(),
        "the page's DEFAULTS.settings is not the core's"
    );
    let setting_keys = serde_json::to_value(Settings::default()).expect("settings JSON");
    for key in setting_keys.as_object().expect("settings object").keys() {
        assert!(
            ["listen", "allowed_ports", "auth"].contains(&key.as_str())
                || defaults["settings"].get(key).is_some(),
            "the page's DEFAULTS.settings lacks {key}"
        );
    }
    assert_eq!(
        serde_json::from_value::<OriginScript>(defaults["origin"].clone()).ok(),
        Some(OriginScript::default()),
        "the page's DEFAULTS.origin is not the core's"
    );
    let default_client = simulate(&Scenario::default()).record.client;
    assert_eq!(
        defaults["client"].as_str(),
        default_client.map(|c| c.to_string()).as_deref(),
        "the page's DEFAULTS.client is not the core's"
    );

    b.post(
        &b.path("/goog/cdp/execute"),
        json!({"cmd": "Emulation.setEmulatedMedia", "params": {"features": []}}),
    );
    let mut scenario = Scenario {
        request: "GET http://example.org/page HTTP/1.1\r\nHost: example.org\r\n\r\n".into(),
        settings: Settings {
            deny_hosts: vec!["blocked.example".into()],
            timeouts: Timeouts {
                connect: 2.0,
                ..Timeouts::default()
            },
            ..Settings::default()
        },
        client: Some("127.0.0.1:40312".parse().expect("an address")),
        origin: OriginScript::Responds {
            status: 404,
            reason: "Not Found".into(),
            headers: vec![("Content-Length".into(), "0".into())],
            body: String::new(),
        },
        ..Scenario::default()
    };
    let json = serde_json::to_string(&scenario).expect("scenario JSON");
    assert_eq!(
        simulate(&scenario).status,
        Some(404),
        "the core relays the 404"
    );
    b.open("about:blank");
    b.open(&format!("{base}#s={}", URL_SAFE_NO_PAD.encode(json)));
    assert_eq!(b.text("#status-code"), "404", "the origin's 404 is relayed");
    assert_eq!(b.value("#origin"), "loaded");
    assert!(b
        .text("#origin option[value=\"loaded\"]")
        .contains("404 Not Found"));
    assert!(b.visible("#origin-loaded"));
    let origin_note = b.text("#origin-loaded-text");
    assert!(
        origin_note.contains("Origin answers 404 Not Found"),
        "{origin_note}"
    );
    assert!(b.visible("#settings-loaded"));
    let note = b.text("#settings-loaded-text");
    for item in [
        "deny_hosts = blocked.example",
        "timeouts.connect = 2 s",
        "client = 127.0.0.1:40312",
    ] {
        assert!(note.contains(item), "{item:?} not in the note {note:?}");
    }
    assert!(
        !note.contains("allow_hosts") && !note.contains("timeouts.dns"),
        "{note}"
    );
    assert_eq!(
        sent_scenario(b),
        scenario,
        "the page sends the loaded scenario"
    );
    assert_eq!(
        linked_scenario(b),
        scenario,
        "the link keeps the loaded scenario"
    );
    b.wait_for_animation();
    b.save_screenshot(&shots.join("simulator-loaded-404.png"));

    // A CONNECT to the denied host: the loaded deny_hosts applies.
    scenario.request =
        "CONNECT blocked.example:443 HTTP/1.1\r\nHost: blocked.example:443\r\n\r\n".into();
    assert_eq!(
        simulate(&scenario).status,
        Some(403),
        "the core denies the host"
    );
    b.script(
        "const t = document.getElementById('request'); \
         t.value = arguments[0]; t.dispatchEvent(new Event('input'))",
        json!([scenario.request.replace("\r\n", "\n")]),
    );
    b.wait_until("403 for the denied host", || {
        b.text("#status-code") == "403"
    });
    assert_eq!(sent_scenario(b), scenario);
    b.wait_until("the link to follow the edit", || {
        linked_scenario(b) == scenario
    });
    let shared = linked_scenario(b);
    assert_eq!(shared.settings.deny_hosts, ["blocked.example"]);
    assert!(matches!(
        shared.origin,
        OriginScript::Responds { status: 404, .. }
    ));

    // "Use defaults" (from the keyboard) drops the loaded settings and client.
    b.keys("#settings-defaults", "\u{E007}"); // Enter
    scenario.settings = Settings::default();
    scenario.client = None;
    let status = simulate(&scenario).status.expect("a status").to_string();
    assert_eq!(status, "200", "the core lets the host through by default");
    b.wait_until("the defaults to apply", || b.text("#status-code") == status);
    assert!(!b.visible("#settings-loaded"));
    assert_eq!(
        linked_scenario(b),
        scenario,
        "the link drops the loaded settings"
    );
    assert_eq!(b.value("#origin"), "loaded", "the origin answer is kept");

    // And the origin's: back to the page's own options.
    b.click("#origin-defaults");
    scenario.origin = OriginScript::default();
    b.wait_until("the origin note to go", || !b.visible("#origin-loaded"));
    assert_eq!(b.value("#origin"), "responds");
    assert_eq!(
        b.script(
            "return document.querySelectorAll('#origin option[value=\"loaded\"]').length",
            json!([])
        ),
        json!(0),
        "the \"as loaded\" option goes with the loaded answer"
    );
    assert_eq!(
        b.script("return document.activeElement.id", json!([])),
        json!("origin"),
        "focus stays on the origin control"
    );
    assert_eq!(linked_scenario(b), scenario);
}

/// The scenario the page sends to the core, read as the core reads it.
fn sent_scenario(b: &Browser) -> Scenario {
    let sent = b.script("return window.burrowSimulator.scenario()", json!([]));
    serde_json::from_value(sent.clone())
        .unwrap_or_else(|e| panic!("the page sends no scenario ({e}): {sent}"))
}

/// The scenario in the page's link.
fn linked_scenario(b: &Browser) -> Scenario {
    let hash = b.script("return location.hash", json!([]));
    let hash = hash.as_str().unwrap_or_default();
    let b64 = hash
        .strip_prefix("#s=")
        .unwrap_or_else(|| panic!("no scenario in the link: {hash:?}"));
    let bytes = URL_SAFE_NO_PAD.decode(b64).expect("base64url in the link");
    serde_json::from_slice(&bytes).expect("a scenario in the link")
}

/// The page under test: a WebDriver session plus what this page needs.
struct Browser(Session);

impl Deref for Browser {
    type Target = Session;

    fn deref(&self) -> &Session {
        &self.0
    }
}

impl Browser {
    /// Navigates and waits for the page to say it is ready.
    fn open(&self, url: &str) {
        self.post(&self.path("/url"), json!({ "url": url }));
        if url.starts_with("about:") {
            return;
        }
        self.wait_ready("the page to load", "#fatal");
    }

    /// The diagram's arrow labels, in order.
    fn step_labels(&self) -> Vec<String> {
        let v = self.script(
            "return [...document.querySelectorAll('#diagram [data-step]')].map(g => g.dataset.label)",
            json!([]),
        );
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l.as_str().map(String::from))
            .collect()
    }

    /// Waits for the diagram to finish playing, and for its fade-in.
    fn wait_for_animation(&self) {
        self.wait_until("the diagram to finish playing", || {
            self.attr("#diagram", "data-playing") == "0"
        });
        thread::sleep(Duration::from_millis(400));
    }

    /// SEVERE browser log entries (console.error, uncaught exceptions, failed loads).
    fn console_errors(&self) -> Vec<String> {
        let logs = self.post(&self.path("/se/log"), json!({ "type": "browser" }));
        logs.as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

/// A headless Chromium session with its own profile directory.
fn chromium(driver: &Driver, profile: &Path) -> Browser {
    let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
    args.push(WINDOW_SIZE.to_string());
    args.push(format!("--user-data-dir={}", profile.display()));
    let mut options = json!({ "args": args });
    if let Some(bin) = std::env::var_os("CHROME") {
        options["binary"] = json!(bin.to_string_lossy());
    }
    let caps = json!({ "capabilities": { "alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": options,
        "goog:loggingPrefs": { "browser": "ALL" },
    }}});
    Browser(driver.session(&caps))
}
