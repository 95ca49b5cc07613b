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
//! The test serves `target/web/` itself on 127.0.0.1, starts chromedriver on
//! a free loopback port, and checks: no console errors, the default answer,
//! every preset selected through the UI (status, diagram steps, and the
//! scenario the page sends equals the one in presets.json), a shared link
//! restoring its scenario, keyboard stepping, and a narrow window. It saves
//! screenshots in `target/screenshots/`. A missing page or chromedriver
//! fails the test with what to run; it never passes silently.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// The presets the page offers, with the answer each must give.
const PRESETS: &str = include_str!("../../web/www/presets.json");

/// Every wait in this test is bounded by this.
const WAIT: Duration = Duration::from_secs(20);

const CHROME_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
];

#[test]
fn simulator_in_headless_chromium() {
    let web = target_dir().join("web");
    assert!(
        web.join("index.html").is_file() && web.join("pkg/burrow_web_bg.wasm").is_file(),
        "{} has no built simulator: run `cargo xtask web --no-serve` first",
        web.display()
    );
    let server = StaticServer::start(web);
    let driver = ChromeDriver::start();
    let profile = TempDir::new("burrow-browser-profile");
    let b = driver.session(&profile.0);
    let base = format!("http://127.0.0.1:{}/", server.port);
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
    }

    keyboard_steps(&b);
    shared_link_restores(&b, &base);
    narrow_window(&b, &shots);
    dark_scheme(&b, &shots);

    let errors = b.console_errors();
    assert!(errors.is_empty(), "console errors:\n{}", errors.join("\n"));
    let missing = server.failures();
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

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace root")
            .join("target"),
    }
}

/// A WebDriver session.
struct Browser {
    port: u16,
    session: String,
}

impl Browser {
    fn path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    fn post(&self, path: &str, body: Value) -> Value {
        webdriver(self.port, "POST", path, Some(&body))
    }

    fn get(&self, path: &str) -> Value {
        webdriver(self.port, "GET", path, None)
    }

    /// Navigates and waits for the page to say it is ready.
    fn open(&self, url: &str) {
        self.post(&self.path("/url"), json!({ "url": url }));
        if url.starts_with("about:") {
            return;
        }
        self.wait_until("the page to load", || {
            let ready = self.script(
                "return document.body && document.body.dataset.ready",
                json!([]),
            );
            assert_ne!(
                ready,
                json!("failed"),
                "the page failed: {}",
                self.text("#fatal")
            );
            ready == json!("1")
        });
    }

    fn script(&self, body: &str, args: Value) -> Value {
        self.post(
            &self.path("/execute/sync"),
            json!({ "script": body, "args": args }),
        )
    }

    fn find(&self, css: &str) -> String {
        let found = self.post(
            &self.path("/element"),
            json!({ "using": "css selector", "value": css }),
        );
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string()
    }

    fn click(&self, css: &str) {
        let el = self.find(css);
        self.post(&self.path(&format!("/element/{el}/click")), json!({}));
    }

    fn keys(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.post(
            &self.path(&format!("/element/{el}/value")),
            json!({ "text": text }),
        );
    }

    fn text(&self, css: &str) -> String {
        let v = self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : null",
            json!([css]),
        );
        v.as_str()
            .unwrap_or_else(|| panic!("no element {css}"))
            .trim()
            .to_string()
    }

    fn value(&self, css: &str) -> String {
        let v = self.script(
            "return document.querySelector(arguments[0]).value",
            json!([css]),
        );
        v.as_str().unwrap_or_default().to_string()
    }

    fn attr(&self, css: &str, name: &str) -> String {
        let v = self.script(
            "return document.querySelector(arguments[0]).getAttribute(arguments[1])",
            json!([css, name]),
        );
        v.as_str().unwrap_or_default().to_string()
    }

    fn visible(&self, css: &str) -> bool {
        let v = self.script(
            "const e = document.querySelector(arguments[0]); return !!e && e.getClientRects().length > 0",
            json!([css]),
        );
        v == json!(true)
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

    fn wait_until(&self, what: &str, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn save_screenshot(&self, path: &Path) {
        let shot = self.get(&self.path("/screenshot"));
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().expect("a base64 screenshot"))
            .expect("screenshot base64");
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        println!("screenshot: {}", path.display());
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

impl Drop for Browser {
    fn drop(&mut self) {
        // Deleting the session makes chromedriver close its Chromium.
        let _ = try_webdriver(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
    }
}

/// chromedriver on a free loopback port; killed (by its PID) when dropped.
struct ChromeDriver {
    child: Child,
    port: u16,
}

impl ChromeDriver {
    fn start() -> Self {
        let exe = std::env::var_os("CHROMEDRIVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
        assert!(
            exe.is_file(),
            "{} not found: install Chromium and its driver (`apt-get install chromium chromium-driver`) \
             or set CHROMEDRIVER to the chromedriver binary",
            exe.display()
        );
        let port = free_port();
        let child = Command::new(&exe)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", exe.display()));
        let driver = ChromeDriver { child, port };
        let start = Instant::now();
        loop {
            if let Ok(status) = try_webdriver(port, "GET", "/status", None) {
                if status["ready"] == json!(true) {
                    return driver;
                }
            }
            assert!(
                start.elapsed() < WAIT,
                "chromedriver did not start on port {port}"
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn session(&self, profile: &Path) -> Browser {
        let mut args: Vec<String> = CHROME_ARGS.iter().map(|a| a.to_string()).collect();
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
        let created = webdriver(self.port, "POST", "/session", Some(&caps));
        let session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        Browser {
            port: self.port,
            session,
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    listener.local_addr().expect("local address").port()
}

/// One WebDriver command; panics on a transport or protocol error.
fn webdriver(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    try_webdriver(port, method, path, body)
        .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
}

/// A minimal HTTP/1.1 JSON client for WebDriver: one connection per command,
/// the body read by its Content-Length (or chunks), since chromedriver may
/// keep the connection open.
fn try_webdriver(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let err = |e: std::io::Error| e.to_string();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(err)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(err)?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).map_err(err)?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).map_err(err)?;
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {line:?}"))?;
    let (mut length, mut chunked) = (None, false);
    loop {
        line.clear();
        reader.read_line(&mut line).map_err(err)?;
        let field = line.trim_end().to_ascii_lowercase();
        if field.is_empty() {
            break;
        }
        if let Some(v) = field.strip_prefix("content-length:") {
            length = v.trim().parse::<usize>().ok();
        }
        if field.starts_with("transfer-encoding:") && field.contains("chunked") {
            chunked = true;
        }
    }
    let payload = if chunked {
        read_chunks(&mut reader)?
    } else if let Some(n) = length {
        let mut buf = vec![0; n];
        reader.read_exact(&mut buf).map_err(err)?;
        buf
    } else {
        let mut buf = Vec::new();
        reader.read_to_end(&mut buf).map_err(err)?;
        buf
    };
    let mut json: Value = serde_json::from_slice(&payload).map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("HTTP {status}: {json}"));
    }
    Ok(json["value"].take())
}

fn read_chunks(reader: &mut impl BufRead) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("bad chunk size {line:?}: {e}"))?;
        if size == 0 {
            return Ok(out);
        }
        let start = out.len();
        out.resize(start + size + 2, 0);
        reader
            .read_exact(&mut out[start..])
            .map_err(|e| e.to_string())?;
        out.truncate(start + size);
    }
}

/// Serves a directory on 127.0.0.1:0 with std only, remembering every
/// request that did not find a file.
struct StaticServer {
    port: u16,
    failures: Arc<Mutex<Vec<String>>>,
}

impl StaticServer {
    fn start(root: PathBuf) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the page server");
        let port = listener.local_addr().expect("local address").port();
        let failures = Arc::new(Mutex::new(Vec::new()));
        let seen = failures.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (root, seen) = (root.clone(), seen.clone());
                thread::spawn(move || serve_one(stream, &root, &seen));
            }
        });
        StaticServer { port, failures }
    }

    fn failures(&self) -> Vec<String> {
        self.failures.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

fn serve_one(stream: TcpStream, root: &Path, failures: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    // Drain the rest of the head.
    let mut header = String::new();
    while reader
        .read_line(&mut header)
        .map(|n| n > 2)
        .unwrap_or(false)
    {
        header.clear();
    }
    let path = line.split(' ').nth(1).unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let file = if path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.to_string()
    };
    let safe = !file.split('/').any(|seg| seg == "..");
    let body = safe
        .then(|| std::fs::read(root.join(file.trim_start_matches('/'))).ok())
        .flatten();
    let mut out = &stream;
    let _ = match body {
        Some(body) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
                 Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                content_type(&file),
                body.len()
            );
            out.write_all(head.as_bytes())
                .and_then(|_| out.write_all(&body))
        }
        None => {
            if let Ok(mut f) = failures.lock() {
                f.push(path.to_string());
            }
            out.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
        }
    };
}

fn content_type(file: &str) -> &'static str {
    match file.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        _ => "application/octet-stream",
    }
}

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("creating a Chromium profile directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
