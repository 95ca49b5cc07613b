//! The desktop app end to end: the real binary under tauri-driver
//! (WebKitWebDriver), driven through its window like a user would.
//!
//! Run after building the app, under a display, inside a network namespace
//! with only loopback:
//!
//! ```text
//! cargo build -p burrow-desktop
//! unshare --net -- sh -c 'ip link set lo up && xvfb-run -a dbus-run-session -- \
//!     cargo test -p burrow-tests --features desktop-e2e --test desktop'
//! ```
//!
//! The test writes a settings file (a free port, proxy off), starts the app
//! through tauri-driver, checks the page runs under its Content Security
//! Policy, turns the proxy on with the window's switch, sends a real CONNECT
//! tunnel with bytes both ways to a loopback origin, reads its row from the
//! page (a clone of `#row-template`: target, status 200 with Rust's status
//! class, byte counts and their text from Rust's `format_bytes`), opens the
//! details pane, saves a screenshot to `target/screenshots/desktop-log.png`,
//! replays it with "Open in simulator" (and another row into the loaded
//! simulator), sends a settings value Rust refuses and finds Rust's error
//! beside its field, launches the app again (which only brings the log
//! forward: the `show-tab` event), checks the simulator tab (wasm and
//! `presets.json` in its sandboxed frame), turns the proxy off and checks the
//! port refuses.
//!
//! A second test plays a hostile simulator: script in the simulator's frame
//! tries every way to the app's commands (the page's globals through
//! `parent`, its own Tauri globals, the IPC endpoints, a message to the page)
//! and the settings must come out unchanged. The two tests take turns (the
//! app is single-instance). Missing tools or binary fail the test with what
//! to do.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use burrow_core::display::format_bytes;
use burrow_tests::webdriver::{self, free_port, target_dir, Driver, Session, TempDir, Timing};
use serde_json::{json, Value};

/// Every wait in this test is bounded by this.
const WAIT: Duration = Duration::from_secs(30);
/// The WebDriver waits: bounded by [`WAIT`], polling every 100 ms.
const TIMING: Timing = Timing {
    wait: WAIT,
    poll: Duration::from_millis(100),
};
/// What the origin says first in every tunnel, before echoing.
const GREETING: &[u8] = b"hello from the origin\n";
/// What the client sends through the tunnel.
const PAYLOAD: &[u8] = b"hello from the desktop end-to-end test";

/// The app is single-instance: a second launch would only focus the first.
static ONE_APP: Mutex<()> = Mutex::new(());

fn one_app() -> MutexGuard<'static, ()> {
    ONE_APP.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn desktop_app_end_to_end() {
    let _one = one_app();
    let bin = app_binary();
    let driver = tauri_driver("end-to-end");
    let dir = TempDir::new("burrow-desktop-e2e");
    let port = free_port();
    let proxy = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let config = dir.path().join("settings.json");
    let settings = json!({ "listen": proxy.to_string(), "allowed_ports": "1-65535" });
    std::fs::write(&config, settings.to_string()).expect("writing the settings file");

    let app = launch(&driver, &bin, &["--config", &config.display().to_string()]);
    app.wait_ready("the page to start", "#toast");
    let _guard = AppProcess(app.app_pid());
    assert_eq!(app.attr("#status", "data-power"), "off");
    assert_eq!(app.text("#status-line"), "Off");
    check_content_security_policy(&app);
    let violations = csp_violations(&app);
    assert!(refused(proxy), "{proxy} accepts while the proxy is off");

    // On, from the window's switch.
    app.click("#proxy-switch");
    app.wait_until("the proxy to turn on", || {
        app.attr("#status", "data-power") == "on"
    });
    assert_eq!(
        app.text("#status-line"),
        format!("Listening on {proxy} · no tunnels")
    );
    assert!(
        app.script(
            "return document.getElementById('proxy-toggle').checked",
            json!([])
        ) == json!(true)
    );

    // A real tunnel, with bytes both ways, and two failures for company.
    let origin = greeting_echo_origin();
    tunnel(proxy, origin, PAYLOAD);
    let refused_port = free_port();
    assert!(connect_status(proxy, &format!("127.0.0.1:{refused_port}")).starts_with("HTTP/1.1 502"));
    assert!(connect_status(proxy, "no-such-host.invalid:443").starts_with("HTTP/1.1 502"));
    let open = open_tunnel(proxy, origin);

    let target = origin.to_string();
    app.wait_until("the tunnel's row with its bytes", || {
        app.rows()
            .iter()
            .any(|r| r["target"] == json!(target) && r["state"] == json!("client closed"))
    });
    let rows = app.rows();
    let row = rows
        .iter()
        .find(|r| r["target"] == json!(target) && r["state"] == json!("client closed"))
        .expect("the closed tunnel's row");
    assert_eq!(row["method"], "CONNECT", "{row}");
    assert_eq!(row["status"], "200", "{row}");
    assert_eq!(row["up"], PAYLOAD.len().to_string(), "{row}");
    assert_eq!(
        row["down"],
        (GREETING.len() + PAYLOAD.len()).to_string(),
        "{row}"
    );
    // The words are Rust's: core's byte formatter and status class, no JS formatting.
    assert_eq!(row["up_text"], format_bytes(PAYLOAD.len() as u64), "{row}");
    assert_eq!(
        row["down_text"],
        format_bytes((GREETING.len() + PAYLOAD.len()) as u64),
        "{row}"
    );
    assert_eq!(row["status_class"], "pill success", "{row}");
    assert_eq!(row["from_template"], true, "{row}");
    app.wait_until("the failed CONNECTs' rows", || {
        let rows = app.rows();
        let status_of = |t: &str| {
            rows.iter()
                .find(|r| r["target"].as_str().is_some_and(|x| x.starts_with(t)))
                .map(|r| r["status_text"].clone())
        };
        status_of(&format!("127.0.0.1:{refused_port}")) == Some(json!("502 connection_refused"))
            && status_of("no-such-host.invalid") == Some(json!("502 dns_error"))
    });
    // A refusal ends the connection: Rust calls that a problem worth a colour.
    let dns_row = || {
        app.rows()
            .into_iter()
            .find(|r| {
                r["target"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("no-such-host"))
            })
            .expect("the DNS failure's row")
    };
    app.wait_until("the DNS failure's row to close", || {
        dns_row()["state"] == json!("rejected")
    });
    let failed = dns_row();
    assert_eq!(failed["status_class"], "pill failed", "{failed}");
    assert_eq!(failed["state_class"], "state problem", "{failed}");
    app.wait_until("the open tunnel to show as open", || {
        app.rows()
            .iter()
            .any(|r| r["state"] == json!("open tunnel"))
    });
    app.wait_until("the status line to count the open tunnel", || {
        app.text("#status-line").ends_with("· 1 tunnel")
    });

    // The details pane of the closed tunnel, then the screenshot.
    app.click_until(
        &format!(
            "#rows .row[data-key=\"{}\"]",
            row["key"].as_str().unwrap_or("")
        ),
        "the details pane",
        || app.visible("#details"),
    );
    assert!(app.text("#d-title").contains(&target));
    assert!(app.text("#d-timeline").contains("First byte ↓"));
    let fields = app.text("#d-fields");
    let sent = format!(
        "{} ({} bytes)",
        format_bytes(PAYLOAD.len() as u64),
        PAYLOAD.len()
    );
    assert!(fields.contains(&sent), "{fields}");
    assert!(fields.contains("client closed"), "{fields}");
    // The rate beside the graph is Rust's text too.
    let rate = app.text("#rate");
    assert!(rate.starts_with("↑ ") && rate.ends_with("/s"), "{rate}");
    thread::sleep(Duration::from_millis(1200)); // one graph tick
    let shots = target_dir().join("screenshots");
    std::fs::create_dir_all(&shots).expect("creating target/screenshots");
    app.save_screenshot(&shots.join("desktop-log.png"));
    drop(open);

    open_in_simulator_replays_the_rows(&app, &target, &dns_row()["key"]);
    settings_errors_come_from_rust(&app);
    a_second_launch_shows_the_log(&app, &bin, &config);
    simulator_tab_runs_under_the_csp(&app);
    assert_eq!(
        csp_violations(&app),
        violations,
        "the page did something its CSP blocks"
    );

    // Off, from the switch: the port refuses.
    app.click("#proxy-switch");
    // The switch is disabled until `set_proxy` answers, that is until the listener is
    // closed; the status alone may say "off" a moment earlier (the ticker publishes it
    // as soon as the engine is taken out, before it has stopped).
    app.wait_until("the proxy to turn off", || {
        app.attr("#status", "data-power") == "off"
            && app.script(
                "return document.getElementById('proxy-toggle').disabled",
                json!([]),
            ) == json!(false)
    });
    assert!(refused(proxy), "{proxy} still accepts after turning off");

    // Quit through the app's own path (the window close button only hides it).
    quit(&app);
}

/// Quits through the app's own path (the window close button only hides it).
fn quit(app: &App) {
    let _ = app.try_script(
        "window.__TAURI_INTERNALS__.invoke('quit'); return true",
        json!([]),
    );
}

/// The page carries Tauri's CSP header: no inline script, no eval, IPC only to Tauri.
fn check_content_security_policy(app: &App) {
    let policy = app.script(
        "const r = await fetch(location.href); return r.headers.get('content-security-policy')",
        json!([]),
    );
    let policy = policy
        .as_str()
        .unwrap_or_else(|| panic!("no CSP header: {policy}"));
    for directive in [
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "ipc:",
    ] {
        assert!(
            policy.contains(directive),
            "{directive} missing in {policy}"
        );
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    // No global Tauri API: the page's ipc.js reaches the app without one.
    assert_eq!(
        app.script("return typeof window.__TAURI__", json!([])),
        json!("undefined")
    );
    assert!(!policy.contains("'unsafe-eval'"), "{policy}");
    let eval = app.script(
        "try { window.eval('1'); return 'allowed'; } catch (e) { return e.name; }",
        json!([]),
    );
    assert_eq!(eval, json!("EvalError"), "eval must be blocked by the CSP");
    // The page is ES modules and builds nothing from HTML strings.
    assert_eq!(app.attr("script[src='main.js']", "type"), "module");
}

/// How many CSP violations the page has seen (it counts them in `body[data-csp-violations]`).
fn csp_violations(app: &App) -> Value {
    app.script(
        "return document.body.dataset.cspViolations || '0'",
        json!([]),
    )
}

/// A value Rust refuses: its message shows beside the field it names, and nothing changes.
fn settings_errors_come_from_rust(app: &App) {
    app.click(".tabs button[data-tab='settings']");
    app.wait_until("the settings form to fill", || {
        !app.value("#f-listen-port").is_empty()
    });
    let timeouts = app.script(
        "return document.querySelectorAll('#f-timeouts [data-timeout]').length",
        json!([]),
    );
    assert_eq!(
        timeouts,
        json!(7),
        "one timeout field per setting, from the template"
    );
    let port = app.value("#f-listen-port");
    app.script(
        "document.getElementById('f-listen-port').value = '99999'; return true",
        json!([]),
    );
    app.click("#f-save");
    app.wait_until("Rust's error beside the listen field", || {
        !app.text(".field-error[data-for='listen']").is_empty()
    });
    let error = app.text(".field-error[data-for='listen']");
    assert!(
        error.contains("is not an address and port"),
        "the listen field shows {error:?}"
    );
    assert_eq!(app.attr("#f-listen-port", "class"), "invalid");
    assert!(app.text("#form-message").starts_with("Not saved"));
    app.click("#f-revert");
    assert_eq!(app.value("#f-listen-port"), port);
    assert!(app.text(".field-error[data-for='listen']").is_empty());
}

/// A second launch only focuses this one, which shows the log: the `show-tab` event
/// reaches the page.
fn a_second_launch_shows_the_log(app: &App, bin: &Path, config: &Path) {
    app.click(".tabs button[data-tab='settings']");
    let mut second = Command::new(bin)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("launching the app a second time");
    let deadline = Instant::now() + WAIT;
    while second
        .try_wait()
        .expect("waiting for the second launch")
        .is_none()
    {
        if Instant::now() > deadline {
            let _ = second.kill();
            let _ = second.wait();
            panic!("the second launch did not hand over to the first and exit");
        }
        thread::sleep(Duration::from_millis(100));
    }
    app.wait_until("the log tab", || {
        app.script("return document.querySelector('.tab.active').id", json!([])) == json!("tab-log")
    });
}

/// The simulator tab loads the wasm page (and its presets) in its sandboxed frame.
fn simulator_tab_runs_under_the_csp(app: &App) {
    app.click(".tabs button[data-tab='simulator']");
    // Sandboxed: another origin, so the page cannot look inside.
    assert_eq!(
        app.script(
            "const f = document.getElementById('simulator');
             return [f.getAttribute('sandbox'), f.contentDocument === null]",
            json!([])
        ),
        json!(["allow-scripts", true])
    );
    app.enter_frame("#simulator");
    wait_for_simulator(app);
    let presets = app.script(
        "return document.querySelectorAll('#preset option').length",
        json!([]),
    );
    assert!(
        presets.as_u64().unwrap_or(0) > 1,
        "presets.json did not load: {presets}"
    );
    app.leave_frames();
    app.click(".tabs button[data-tab='log']");
}

/// Inside the simulator's frame: waits until its page has started.
fn wait_for_simulator(app: &App) {
    app.wait_until("the simulator page to start", || {
        let ready = app.script(
            "return document.body ? (document.body.dataset.ready || null) : null",
            json!([]),
        );
        assert_ne!(ready, json!("failed"), "the simulator failed to start");
        ready == json!("1")
    });
}

/// The simulator's request box, from inside its frame.
fn simulator_request(app: &App) -> String {
    app.value("#request")
}

/// "Open in simulator" on the selected row shows its request in the simulator tab;
/// another row then replaces it in the loaded simulator without a reload.
fn open_in_simulator_replays_the_rows(app: &App, target: &str, other_key: &Value) {
    app.click("#d-sim");
    app.wait_until("the simulator tab", || {
        app.visible("#tab-simulator") && !app.visible("#tab-log")
    });
    app.enter_frame("#simulator");
    wait_for_simulator(app);
    let connect = format!("CONNECT {target} HTTP/1.1");
    app.wait_until("the tunnel's request in the simulator", || {
        simulator_request(app).starts_with(&connect)
    });
    app.script("window.burrowStillLoaded = true; return true", json!([]));
    app.leave_frames();

    app.click(".tabs button[data-tab='log']");
    app.click_until(
        &format!(
            "#rows .row[data-key=\"{}\"]",
            other_key.as_str().unwrap_or("")
        ),
        "the other row's details",
        || app.text("#d-title").contains("no-such-host.invalid"),
    );
    app.click("#d-sim");
    app.enter_frame("#simulator");
    app.wait_until("the other request in the simulator", || {
        simulator_request(app).starts_with("CONNECT no-such-host.invalid:443 HTTP/1.1")
    });
    assert_eq!(
        app.script("return window.burrowStillLoaded === true", json!([])),
        json!(true),
        "the simulator reloaded instead of taking the new fragment"
    );
    app.leave_frames();
    app.click(".tabs button[data-tab='log']");
}

/// Script in the simulator's frame tries every way to the app and reports how far each got.
const FRAME_ATTACKS: &str = r#"
const evil = { settings: arguments[0] };
const results = {};
// An IPC request Tauri drops (a wrong invoke key) is never answered: wait 3 s at most.
const noAnswer = () => new Promise((resolve) => setTimeout(() => resolve('no answer'), 3000));
const attempt = async (name, f) => {
  try {
    const v = await Promise.race([f(), noAnswer()]);
    results[name] = v === undefined || v === null ? 'nothing'
      : v === 'no answer' ? v
      : 'reached: ' + (typeof v === 'object' ? 'an object' : String(v));
  } catch (e) {
    results[name] = 'blocked: ' + ((e && e.name) || String(e));
  }
};
const ipcRequest = (url) => fetch(url, {
  method: 'POST',
  headers: { 'Content-Type': 'application/json', 'Tauri-Callback': '1', 'Tauri-Error': '2',
             'Tauri-Invoke-Key': 'guessed' },
  body: JSON.stringify(evil),
}).then((r) => r.status);
await attempt('parent.__TAURI__', () => parent.__TAURI__);
await attempt('parent.__TAURI__ invoke', () => parent.__TAURI__.core.invoke('save_settings', evil));
await attempt('parent.__TAURI_INTERNALS__ invoke',
  () => parent.__TAURI_INTERNALS__.invoke('save_settings', evil));
await attempt('top.__TAURI_INTERNALS__', () => top.__TAURI_INTERNALS__);
await attempt('parent.document', () => parent.document.title);
await attempt('window.__TAURI__', () => window.__TAURI__);
await attempt('window.__TAURI_INTERNALS__', () => window.__TAURI_INTERNALS__);
await attempt('window.ipc', () => window.ipc);
await attempt('fetch ipc://localhost', () => ipcRequest('ipc://localhost/save_settings'));
await attempt('fetch http://ipc.localhost', () => ipcRequest('http://ipc.localhost/save_settings'));
// Sent without an answer to wait for; the settings show whether they did anything.
await attempt('webkit ipc handler', () => {
  window.webkit.messageHandlers.ipc.postMessage(JSON.stringify({
    cmd: 'save_settings', callback: 1, error: 2, payload: evil, options: {},
    __TAURI_INVOKE_KEY__: 'guessed' }));
});
await attempt('postMessage to the page', () => {
  parent.postMessage({ cmd: 'save_settings', args: evil }, '*');
  top.postMessage({ invoke: 'save_settings', args: evil }, '*');
});
return results;
"#;

#[test]
fn script_in_the_simulator_frame_cannot_reach_the_app() {
    let _one = one_app();
    let bin = app_binary();
    let driver = tauri_driver("simulator-frame");
    let dir = TempDir::new("burrow-desktop-e2e-frame");
    let proxy = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
    let config = dir.path().join("settings.json");
    let settings = json!({ "listen": proxy.to_string(), "allowed_ports": "443" });
    std::fs::write(&config, settings.to_string()).expect("writing the settings file");
    let before = std::fs::read(&config).expect("reading the settings file");

    let app = launch(&driver, &bin, &["--config", &config.display().to_string()]);
    app.wait_ready("the page to start", "#toast");
    let _guard = AppProcess(app.app_pid());
    app.click(".tabs button[data-tab='simulator']");
    app.enter_frame("#simulator");
    wait_for_simulator(&app);
    // Settings the app would accept and save, were the call let through.
    let evil = json!({
        "listen": format!("127.0.0.1:{}", free_port()),
        "allowed_ports": "1-65535",
        "deny_hosts": ["evil.invalid"],
    });
    let results = app.script(FRAME_ATTACKS, json!([evil]));
    app.leave_frames();
    // Time for anything that got through to land.
    thread::sleep(Duration::from_millis(1500));
    let now = app.script(
        "return await window.__TAURI_INTERNALS__.invoke('get_settings')",
        json!([]),
    );
    let after = std::fs::read(&config).expect("reading the settings file");
    quit(&app);

    let result = |name: &str| results[name].as_str().unwrap_or("missing").to_string();
    println!("from the simulator's frame: {results:#}");
    assert!(
        before == after,
        "the settings file changed: {}",
        String::from_utf8_lossy(&after)
    );
    assert_eq!(now["settings"]["listen"], json!(proxy.to_string()), "{now}");
    assert_eq!(now["settings"]["deny_hosts"], json!([]), "{now}");
    for name in [
        "parent.__TAURI__",
        "parent.__TAURI__ invoke",
        "parent.__TAURI_INTERNALS__ invoke",
        "top.__TAURI_INTERNALS__",
        "parent.document",
    ] {
        assert_eq!(
            result(name),
            "blocked: SecurityError",
            "{name}: {results:#}"
        );
    }
    for name in [
        "window.__TAURI__",
        "window.__TAURI_INTERNALS__",
        "window.ipc",
    ] {
        assert_eq!(result(name), "nothing", "{name}: {results:#}");
    }
    for name in ["fetch ipc://localhost", "fetch http://ipc.localhost"] {
        assert!(result(name).starts_with("blocked: "), "{name}: {results:#}");
    }
}

// ------------------------------------------------------------------ network helpers

fn refused(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err()
}

/// An origin that greets each connection, then echoes what it reads.
fn greeting_echo_origin() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding the origin");
    let addr = listener.local_addr().expect("origin address");
    thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            thread::spawn(move || {
                if conn.write_all(GREETING).is_err() {
                    return;
                }
                let mut buf = [0; 4096];
                while let Ok(n @ 1..) = conn.read(&mut buf) {
                    if conn.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Sends a CONNECT and returns the response head.
fn connect(proxy: SocketAddr, target: &str) -> TcpStream {
    let mut s = TcpStream::connect(proxy).expect("connecting to the proxy");
    s.set_read_timeout(Some(WAIT)).expect("read timeout");
    write!(s, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").expect("sending CONNECT");
    s
}

fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).expect("reading the response head") == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn connect_status(proxy: SocketAddr, target: &str) -> String {
    let mut s = connect(proxy, target);
    read_head(&mut s)
}

/// A tunnel that sends `data`, reads the greeting and the echo, and closes.
fn tunnel(proxy: SocketAddr, origin: SocketAddr, data: &[u8]) {
    let mut s = connect(proxy, &origin.to_string());
    let head = read_head(&mut s);
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "CONNECT answered {head:?}"
    );
    let mut greeting = vec![0; GREETING.len()];
    s.read_exact(&mut greeting).expect("reading the greeting");
    assert_eq!(greeting, GREETING);
    s.write_all(data).expect("sending through the tunnel");
    let mut echo = vec![0; data.len()];
    s.read_exact(&mut echo).expect("reading the echo");
    assert_eq!(echo, data);
    s.shutdown(Shutdown::Write).expect("closing our side");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
}

/// A tunnel left open (until dropped) for the screenshot.
fn open_tunnel(proxy: SocketAddr, origin: SocketAddr) -> TcpStream {
    let mut s = connect(proxy, &origin.to_string());
    assert!(read_head(&mut s).starts_with("HTTP/1.1 200"));
    s.write_all(b"still here")
        .expect("sending through the open tunnel");
    s
}

// ------------------------------------------------------------------ the app and its driver

fn app_binary() -> PathBuf {
    let bin = target_dir().join("debug").join("burrow-desktop");
    assert!(
        bin.is_file(),
        "{} not found: build the app first with `cargo build -p burrow-desktop`",
        bin.display()
    );
    bin
}

/// Ends the app (by the PID it reported) if it outlives the session.
struct AppProcess(u32);

impl Drop for AppProcess {
    fn drop(&mut self) {
        let alive = |pid: u32| Path::new(&format!("/proc/{pid}")).exists();
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(self.0) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(100));
        }
        if alive(self.0) {
            webdriver::terminate(self.0);
        }
    }
}

/// tauri-driver on free loopback ports; stopped (by its PID) when dropped,
/// which lets it stop the WebKitWebDriver it started.
fn tauri_driver(test: &str) -> Driver {
    let driver = which("tauri-driver").unwrap_or_else(|| {
        panic!("tauri-driver not found in PATH: install it with `cargo install tauri-driver --version ^2 --locked` (or `cargo xtask install`)")
    });
    assert!(
        which("WebKitWebDriver").is_some(),
        "WebKitWebDriver not found in PATH: install it with `apt-get install webkit2gtk-driver`"
    );
    let (port, native) = (free_port(), free_port());
    // The driver's, WebKitWebDriver's and the app's output, for when something fails.
    // One file per test: they run side by side.
    let log_path = target_dir().join(format!("desktop-e2e-{test}.log"));
    let log = std::fs::File::create(&log_path)
        .unwrap_or_else(|e| panic!("creating {}: {e}", log_path.display()));
    println!(
        "tauri-driver, WebKitWebDriver and app output: {}",
        log_path.display()
    );
    let mut command = Command::new(driver);
    command
        .args([
            "--port",
            &port.to_string(),
            "--native-port",
            &native.to_string(),
        ])
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("cloning the log file"))
        .stderr(log);
    // tauri-driver answers /status before WebKitWebDriver is up; wait for a real answer.
    Driver::start("tauri-driver", command, port, TIMING, |_| true)
}

/// A session that starts the app with these arguments.
fn launch(driver: &Driver, application: &Path, args: &[&str]) -> App {
    let caps = json!({ "capabilities": { "alwaysMatch": {
        "tauri:options": { "application": application, "args": args },
    }}});
    App(driver.session(&caps))
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// A WebDriver session on the app's window.
struct App(Session);

impl Deref for App {
    type Target = Session;

    fn deref(&self) -> &Session {
        &self.0
    }
}

impl App {
    /// The app's process id, as the app reports it.
    fn app_pid(&self) -> u32 {
        let info = self.script(
            "return await window.__TAURI_INTERNALS__.invoke('app_info')",
            json!([]),
        );
        info["pid"].as_u64().expect("a pid") as u32
    }

    /// The log rows as the page shows them.
    fn rows(&self) -> Vec<Value> {
        let v = self.script(
            "const cells = [...document.getElementById('row-template').content
                .firstElementChild.children].map(c => c.className);
            return [...document.querySelectorAll('#rows .row')].map(r => {
                const c = (n) => r.querySelector('.c-' + n);
                return {
                    key: r.dataset.key,
                    method: c('method').textContent,
                    target: c('target').textContent,
                    status: c('status').dataset.status,
                    status_text: c('status').textContent.trim().replace(/\\s+/g, ' '),
                    status_class: c('status').querySelector('.pill').className,
                    up: c('up').dataset.bytes,
                    down: c('down').dataset.bytes,
                    up_text: c('up').textContent,
                    down_text: c('down').textContent,
                    state: c('state').textContent,
                    state_class: c('state').querySelector('.state').className,
                    from_template: [...r.children].map(c => c.className).join() === cells.join(),
                };
            })",
            json!([]),
        );
        v.as_array().cloned().unwrap_or_default()
    }
}
