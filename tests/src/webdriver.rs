//! A minimal W3C WebDriver client over std `TcpStream`, shared by the UI
//! tests: the web simulator and the PAC file in headless Chromium
//! (`tests/browser.rs`, `tests/pac_browser.rs`, through [`chromedriver`])
//! and the desktop app (`tests/desktop.rs`, through tauri-driver and
//! WebKitWebDriver).
//!
//! ```text
//!   test ──HTTP/JSON──► Driver (chromedriver | tauri-driver on 127.0.0.1) ──► page
//!          one connection per command, read by Content-Length (or chunks)
//! ```
//!
//! [`Driver`] starts the driver process on a loopback port and stops it by
//! its PID when dropped; [`Session`] is one WebDriver session (deleted when
//! dropped) with the few commands the tests use. Every wait is bounded by the
//! driver's [`Timing`], so a broken page fails a test instead of hanging it.
//!
//! Requests never carry `Connection: close`: tauri-driver forwards the
//! request's headers to WebKitWebDriver over a pooled connection, and with
//! that header the pool sometimes reuses a connection WebKitWebDriver is
//! closing, so a random command fails with an empty reply. The reply is read
//! by its length instead, and the connection dropped after it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// How long a wait may take before the test fails, and how often it polls.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// The longest any single wait may take.
    pub wait: Duration,
    /// The pause between two polls.
    pub poll: Duration,
}

/// A WebDriver server process listening on a loopback port; stopped (by its
/// PID) when dropped.
pub struct Driver {
    child: Child,
    port: u16,
    timing: Timing,
}

impl Driver {
    /// Spawns `command`, which must make the driver listen on
    /// `127.0.0.1:port`, and waits until its `/status` answers and `ready`
    /// accepts that answer.
    pub fn start(
        name: &str,
        mut command: Command,
        port: u16,
        timing: Timing,
        ready: impl Fn(&Value) -> bool,
    ) -> Self {
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let driver = Driver {
            child,
            port,
            timing,
        };
        let start = Instant::now();
        loop {
            if let Ok(status) = try_request(port, "GET", "/status", None) {
                if ready(&status) {
                    return driver;
                }
            }
            assert!(
                start.elapsed() < timing.wait,
                "{name} did not start on port {port}"
            );
            thread::sleep(timing.poll);
        }
    }

    /// Creates a session with these W3C capabilities (`{"capabilities": …}`).
    pub fn session(&self, capabilities: &Value) -> Session {
        let created = request(self.port, "POST", "/session", Some(capabilities));
        let id = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        Session {
            port: self.port,
            id,
            timing: self.timing,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // SIGTERM first: it lets tauri-driver stop the WebKitWebDriver it started.
        terminate(self.child.id());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends SIGTERM to one process, by its PID.
pub fn terminate(pid: u32) {
    let _ = Command::new("kill").arg(pid.to_string()).status();
}

/// One WebDriver session; deleted when dropped (chromedriver then closes
/// its Chromium, tauri-driver its app window).
pub struct Session {
    port: u16,
    id: String,
    timing: Timing,
}

impl Session {
    /// `/session/{id}` followed by `rest`.
    pub fn path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.id)
    }

    /// POSTs a command; panics on an error.
    pub fn post(&self, path: &str, body: Value) -> Value {
        request(self.port, "POST", path, Some(&body))
    }

    /// GETs a command; panics on an error.
    pub fn get(&self, path: &str) -> Value {
        request(self.port, "GET", path, None)
    }

    /// Runs a script in the page (`arguments[i]` are `args`); panics on an error.
    pub fn script(&self, body: &str, args: Value) -> Value {
        self.try_script(body, args)
            .unwrap_or_else(|e| panic!("script {body:?}: {e}"))
    }

    /// Runs a script in the page, returning what went wrong instead of panicking.
    pub fn try_script(&self, body: &str, args: Value) -> Result<Value, String> {
        try_request(
            self.port,
            "POST",
            &self.path("/execute/sync"),
            Some(&json!({ "script": body, "args": args })),
        )
    }

    /// The WebDriver id of the first element matching `css`.
    pub fn find(&self, css: &str) -> String {
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

    /// Makes the frame `css` (an `<iframe>` of the current document) the one later
    /// commands act in, as script running inside it.
    pub fn enter_frame(&self, css: &str) {
        let el = self.find(css);
        let reference = json!({ "element-6066-11e4-a52e-4f735466cecf": el });
        self.post(&self.path("/frame"), json!({ "id": reference }));
    }

    /// Makes the top-level document the one later commands act in again.
    pub fn leave_frames(&self) {
        self.post(&self.path("/frame"), json!({ "id": null }));
    }

    /// Clicks the element, as a user does.
    pub fn click(&self, css: &str) {
        let el = self.find(css);
        self.post(&self.path(&format!("/element/{el}/click")), json!({}));
    }

    /// Types `text` into the element (WebDriver key codes allowed).
    pub fn keys(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.post(
            &self.path(&format!("/element/{el}/value")),
            json!({ "text": text }),
        );
    }

    /// The element's trimmed text; panics when there is no such element.
    pub fn text(&self, css: &str) -> String {
        let v = self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : null",
            json!([css]),
        );
        v.as_str()
            .unwrap_or_else(|| panic!("no element {css}"))
            .trim()
            .to_string()
    }

    /// A form field's value; empty when there is none.
    pub fn value(&self, css: &str) -> String {
        let v = self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.value : null",
            json!([css]),
        );
        v.as_str().unwrap_or_default().to_string()
    }

    /// An attribute; empty when the element or the attribute is missing.
    pub fn attr(&self, css: &str, name: &str) -> String {
        let v = self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null",
            json!([css, name]),
        );
        v.as_str().unwrap_or_default().to_string()
    }

    /// Whether the element exists, is not `hidden` and takes up room.
    pub fn visible(&self, css: &str) -> bool {
        let v = self.script(
            "const e = document.querySelector(arguments[0]); return !!e && !e.hidden && e.getClientRects().length > 0",
            json!([css]),
        );
        v == json!(true)
    }

    /// Polls `done` until it holds; fails the test after the driver's wait,
    /// with a screenshot of what the page showed then.
    pub fn wait_until(&self, what: &str, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        while !done() {
            if start.elapsed() >= self.timing.wait {
                let shot = self.failure_screenshot(what);
                panic!("timed out waiting for {what} (the page then: {shot})");
            }
            thread::sleep(self.timing.poll);
        }
    }

    /// Clicks `css` until `done` holds, at most three times, each followed by
    /// a third of the driver's wait. A click is dispatched at the element's
    /// position, so one that lands while the page lays that element out
    /// again can miss (seen once with a log row, on a cold CI run); every
    /// other click goes through [`Session::click`].
    pub fn click_until(&self, css: &str, what: &str, mut done: impl FnMut() -> bool) {
        const TRIES: u32 = 3;
        for attempt in 1..=TRIES {
            self.click(css);
            let start = Instant::now();
            while start.elapsed() < self.timing.wait / TRIES {
                if done() {
                    if attempt > 1 {
                        println!("{what}: took {attempt} clicks on {css}");
                    }
                    return;
                }
                thread::sleep(self.timing.poll);
            }
        }
        let shot = self.failure_screenshot(what);
        panic!("{TRIES} clicks on {css} did not bring {what} (the page then: {shot})");
    }

    /// Saves a screenshot under `target/screenshots/` for a failed wait;
    /// says where, or why there is none.
    fn failure_screenshot(&self, what: &str) -> String {
        let name: String = what
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let dir = target_dir().join("screenshots");
        let path = dir.join(format!("failed-{name}.png"));
        let shot = std::fs::create_dir_all(&dir)
            .map_err(|e| e.to_string())
            .and_then(|()| try_request(self.port, "GET", &self.path("/screenshot"), None))
            .and_then(|v| {
                let text = v.as_str().ok_or("no screenshot in the answer")?;
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|e| e.to_string())
            })
            .and_then(|png| std::fs::write(&path, png).map_err(|e| e.to_string()));
        match shot {
            Ok(()) => path.display().to_string(),
            Err(e) => format!("no screenshot: {e}"),
        }
    }

    /// Waits for a Burrow page to set `body[data-ready]` to `1`; fails with
    /// the text of `fatal_css` when the page says `failed`.
    pub fn wait_ready(&self, what: &str, fatal_css: &str) {
        self.wait_until(what, || {
            let ready = self.script(
                "return document.body && document.body.dataset.ready",
                json!([]),
            );
            assert_ne!(
                ready,
                json!("failed"),
                "the page failed: {}",
                self.text(fatal_css)
            );
            ready == json!("1")
        });
    }

    /// Saves a screenshot of the window as a PNG file.
    pub fn save_screenshot(&self, path: &Path) {
        let shot = self.get(&self.path("/screenshot"));
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().expect("a base64 screenshot"))
            .expect("screenshot base64");
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        println!("screenshot: {}", path.display());
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = try_request(self.port, "DELETE", &format!("/session/{}", self.id), None);
    }
}

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("binding a loopback port")
        .port()
}

/// The workspace's target directory (`CARGO_TARGET_DIR` when set).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace root")
            .join("target"),
    }
}

/// A fresh directory under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `<temp>/<prefix>-<pid>-<nanos>`.
    pub fn new(prefix: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        TempDir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One WebDriver command; panics on a transport or protocol error.
pub fn request(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    try_request(port, method, path, body)
        .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
}

/// One WebDriver command on its own connection: its `value`, or what went
/// wrong (transport, HTTP status, or a reply that is not JSON).
pub fn try_request(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let err = |e: std::io::Error| e.to_string();
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).map_err(err)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(err)?;
    let body = body.map(Value::to_string).unwrap_or_default();
    // No `Connection: close` (see the module docs).
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\
         \r\n{body}",
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
    let mut json: Value = serde_json::from_slice(&payload).map_err(|e| {
        format!(
            "HTTP {status}, not JSON ({e}): {}",
            String::from_utf8_lossy(&payload)
        )
    })?;
    if status != 200 {
        return Err(format!("HTTP {status}: {json}"));
    }
    Ok(json["value"].take())
}

/// A chunked body, up to its last (empty) chunk.
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

/// The flags every headless Chromium in the tests gets: no sandbox (root in a
/// namespace), no GPU, no first-run pages and as few background requests as
/// Chromium allows. Each test adds its window size and its own flags.
pub const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// chromedriver (Debian's, or `$CHROMEDRIVER`) on a free loopback port;
/// stopped (by its PID) when dropped.
pub fn chromedriver(timing: Timing) -> Driver {
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
    let mut command = Command::new(&exe);
    command
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Driver::start("chromedriver", command, port, timing, |status| {
        status["ready"] == json!(true)
    })
}
