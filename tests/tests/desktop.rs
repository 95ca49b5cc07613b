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
//! through tauri-driver, turns the proxy on with the window's switch, sends a
//! real CONNECT tunnel with bytes both ways to a loopback origin, reads its
//! row from the page (target, status 200, byte counts), saves a screenshot
//! to `target/screenshots/desktop-log.png`, turns the proxy off and checks
//! the port refuses. Missing tools or binary fail the test with what to do.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// Every wait in this test is bounded by this.
const WAIT: Duration = Duration::from_secs(30);
/// What the origin says first in every tunnel, before echoing.
const GREETING: &[u8] = b"hello from the origin\n";
/// What the client sends through the tunnel.
const PAYLOAD: &[u8] = b"hello from the desktop end-to-end test";

#[test]
fn desktop_app_end_to_end() {
    let bin = app_binary();
    let driver = TauriDriver::start();
    let dir = TempDir::new("burrow-desktop-e2e");
    let port = free_port();
    let proxy = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let config = dir.0.join("settings.json");
    let settings = json!({ "listen": proxy.to_string(), "allowed_ports": "1-65535" });
    std::fs::write(&config, settings.to_string()).expect("writing the settings file");

    let app = driver.session(&bin, &["--config", &config.display().to_string()]);
    app.wait_until("the page to start", || {
        let ready = app.script(
            "return document.body && document.body.dataset.ready",
            json!([]),
        );
        assert_ne!(
            ready,
            json!("failed"),
            "the page failed: {}",
            app.text("#toast")
        );
        ready == json!("1")
    });
    let _guard = AppProcess(app.app_pid());
    assert_eq!(app.attr("#status", "data-power"), "off");
    assert_eq!(app.text("#status-line"), "Off");
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
    app.wait_until("the open tunnel to show as open", || {
        app.rows()
            .iter()
            .any(|r| r["state"] == json!("open tunnel"))
    });
    app.wait_until("the status line to count the open tunnel", || {
        app.text("#status-line").ends_with("· 1 tunnel")
    });

    // The details pane of the closed tunnel, then the screenshot.
    app.click(&format!(
        "#rows .row[data-key=\"{}\"]",
        row["key"].as_str().unwrap_or("")
    ));
    app.wait_until("the details pane", || app.visible("#details"));
    assert!(app.text("#d-title").contains(&target));
    assert!(app.text("#d-timeline").contains("First byte ↓"));
    thread::sleep(Duration::from_millis(1200)); // one graph tick
    let shots = target_dir().join("screenshots");
    std::fs::create_dir_all(&shots).expect("creating target/screenshots");
    app.save_screenshot(&shots.join("desktop-log.png"));
    drop(open);

    // Off, from the switch: the port refuses.
    app.click("#proxy-switch");
    app.wait_until("the proxy to turn off", || {
        app.attr("#status", "data-power") == "off"
    });
    assert!(refused(proxy), "{proxy} still accepts after turning off");

    // Quit through the app's own path (the window close button only hides it).
    let _ = app.try_script(
        "window.__TAURI__.core.invoke('quit'); return true",
        json!([]),
    );
}

// ------------------------------------------------------------------ network helpers

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("binding a loopback port")
        .port()
}

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

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace root")
            .join("target"),
    }
}

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
            let _ = Command::new("kill").arg(self.0.to_string()).status();
        }
    }
}

/// tauri-driver on free loopback ports; stopped (by its PID) when dropped.
struct TauriDriver {
    child: Child,
    port: u16,
}

impl TauriDriver {
    fn start() -> Self {
        let driver = which("tauri-driver").unwrap_or_else(|| {
            panic!("tauri-driver not found in PATH: install it with `cargo install tauri-driver --version ^2 --locked` (or `cargo xtask install`)")
        });
        assert!(
            which("WebKitWebDriver").is_some(),
            "WebKitWebDriver not found in PATH: install it with `apt-get install webkit2gtk-driver`"
        );
        let (port, native) = (free_port(), free_port());
        // The driver's, WebKitWebDriver's and the app's output, for when something fails.
        let log_path = target_dir().join("desktop-e2e.log");
        let log = std::fs::File::create(&log_path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", log_path.display()));
        println!(
            "tauri-driver, WebKitWebDriver and app output: {}",
            log_path.display()
        );
        let child = Command::new(driver)
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native.to_string(),
            ])
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cloning the log file"))
            .stderr(log)
            .spawn()
            .expect("starting tauri-driver");
        let driver = TauriDriver { child, port };
        let start = Instant::now();
        // tauri-driver answers /status before WebKitWebDriver is up; wait for a real answer.
        while try_webdriver(port, "GET", "/status", None).is_err() {
            assert!(
                start.elapsed() < WAIT,
                "tauri-driver did not start on port {port}"
            );
            thread::sleep(Duration::from_millis(100));
        }
        driver
    }

    fn session(&self, application: &Path, args: &[&str]) -> App {
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "tauri:options": { "application": application, "args": args },
        }}});
        let created = webdriver(self.port, "POST", "/session", Some(&caps));
        let session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        App {
            port: self.port,
            session,
        }
    }
}

impl Drop for TauriDriver {
    fn drop(&mut self) {
        // SIGTERM lets tauri-driver stop the WebKitWebDriver it started.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
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

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// A WebDriver session on the app's window.
struct App {
    port: u16,
    session: String,
}

impl App {
    fn path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    fn script(&self, body: &str, args: Value) -> Value {
        self.try_script(body, args)
            .unwrap_or_else(|e| panic!("script {body:?}: {e}"))
    }

    fn try_script(&self, body: &str, args: Value) -> Result<Value, String> {
        try_webdriver(
            self.port,
            "POST",
            &self.path("/execute/sync"),
            Some(&json!({ "script": body, "args": args })),
        )
    }

    /// The app's process id, as the app reports it.
    fn app_pid(&self) -> u32 {
        let info = self.script(
            "return await window.__TAURI__.core.invoke('app_info')",
            json!([]),
        );
        info["pid"].as_u64().expect("a pid") as u32
    }

    fn click(&self, css: &str) {
        let found = webdriver(
            self.port,
            "POST",
            &self.path("/element"),
            Some(&json!({ "using": "css selector", "value": css })),
        );
        let el = found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string();
        webdriver(
            self.port,
            "POST",
            &self.path(&format!("/element/{el}/click")),
            Some(&json!({})),
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

    fn attr(&self, css: &str, name: &str) -> String {
        let v = self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null",
            json!([css, name]),
        );
        v.as_str().unwrap_or_default().to_string()
    }

    fn visible(&self, css: &str) -> bool {
        let v = self.script(
            "const e = document.querySelector(arguments[0]); return !!e && !e.hidden && e.getClientRects().length > 0",
            json!([css]),
        );
        v == json!(true)
    }

    /// The log rows as the page shows them.
    fn rows(&self) -> Vec<Value> {
        let v = self.script(
            "return [...document.querySelectorAll('#rows .row')].map(r => {
                const c = (n) => r.querySelector('.c-' + n);
                return {
                    key: r.dataset.key,
                    method: c('method').textContent,
                    target: c('target').textContent,
                    status: c('status').dataset.status,
                    status_text: c('status').textContent.trim().replace(/\\s+/g, ' '),
                    up: c('up').dataset.bytes,
                    down: c('down').dataset.bytes,
                    state: c('state').textContent,
                };
            })",
            json!([]),
        );
        v.as_array().cloned().unwrap_or_default()
    }

    fn wait_until(&self, what: &str, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn save_screenshot(&self, path: &Path) {
        let shot = webdriver(self.port, "GET", &self.path("/screenshot"), None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().expect("a base64 screenshot"))
            .expect("screenshot base64");
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        println!("screenshot: {}", path.display());
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = try_webdriver(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
    }
}

/// One WebDriver command; panics on a transport or protocol error.
fn webdriver(port: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
    try_webdriver(port, method, path, body)
        .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
}

/// A minimal HTTP/1.1 JSON client for WebDriver, one connection per command.
///
/// No `Connection: close`: tauri-driver forwards the request's headers to
/// WebKitWebDriver over a pooled connection, and with that header the pool
/// sometimes reuses a connection WebKitWebDriver is closing, so a random
/// command fails with an empty reply. The body is read by its length instead.
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

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("creating a temp directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
