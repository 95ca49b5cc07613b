//! The `burrow` binary: messages, exit codes, the access log, Ctrl-C, and
//! where the proxy password may come from.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use burrow_tests::cli::burrow;
use burrow_tests::{closed_port, TIMEOUT};

/// Runs the binary to its end: the exit code and what it wrote to stderr.
fn run(args: &[&str]) -> (i32, String) {
    let out = burrow(args).output().expect("running burrow");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("burrow-test-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_port_in_use_exits_1_naming_the_flag() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, err) = run(&["--listen", &addr]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        err.trim_end(),
        format!("burrow: port {addr} is already in use: stop the other program or choose another port (--listen)")
    );
}

#[test]
fn an_invalid_config_file_exits_2_naming_file_and_position() {
    let path = temp_file(
        "bad.json",
        "{\n  \"listen\": \"127.0.0.1:0\",\n  \"colour\": 1\n}\n",
    );
    let (code, err) = run(&["--config", path.to_str().unwrap()]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("burrow: config file "), "{err}");
    assert!(err.contains(path.to_str().unwrap()), "{err}");
    assert!(err.contains("colour") && err.contains("line 3"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn a_missing_config_file_exits_2() {
    let (code, err) = run(&["--config", "/nonexistent/burrow.json"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("burrow: cannot read config file /nonexistent/burrow.json: "),
        "{err}"
    );
}

#[test]
fn a_setting_beyond_its_bound_exits_2_naming_it() {
    // Once this printed "listening", then the accept task panicked.
    let path = temp_file(
        "huge.json",
        "{\"listen\": \"127.0.0.1:0\", \"max_connections\": 2305843009213693952}",
    );
    let (code, err) = run(&["--config", path.to_str().unwrap()]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("max_connections is larger than Burrow accepts: at most 100000"),
        "{err}"
    );
    assert!(!err.contains("listening"), "{err}");
}

#[test]
fn unusable_values_and_bad_flags_exit_2() {
    let (code, err) = run(&["--connect-timeout", "-1"]);
    assert_eq!(code, 2, "{err}");
    let (code, err) = run(&["--allow-port", "99999"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("99999"), "{err}");
}

/// The running binary, killed (by its own handle) if a test ends early.
pub(crate) struct Proc(pub(crate) Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary and a thread per output stream feeding lines to a channel.
pub(crate) fn spawn(args: &[&str]) -> (Proc, mpsc::Receiver<String>, mpsc::Receiver<String>) {
    spawn_command(burrow(args))
}

/// [`spawn`] for a prepared command (an environment, say).
fn spawn_command(mut command: Command) -> (Proc, mpsc::Receiver<String>, mpsc::Receiver<String>) {
    let mut child = command.spawn().expect("starting burrow");
    let out = line_reader(child.stdout.take().unwrap());
    let err = line_reader(child.stderr.take().unwrap());
    (Proc(child), out, err)
}

/// A thread sending each line `r` yields to the returned channel.
fn line_reader(r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// The address in the binary's "listening" line.

#[test]
fn a_connect_flood_past_the_cap_costs_burrow_no_descriptors() {
    // A destination that completes the connect (the backlog) and never
    // talks: the one allowed connection stays a busy tunnel.
    let quiet = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = quiet.local_addr().unwrap();
    let config = temp_file(
        "cap.json",
        r#"{"listen": "127.0.0.1:0", "allowed_ports": "1-65535", "max_connections": 1}"#,
    );
    let (proc, _out, err) = spawn(&["--config", config.to_str().unwrap()]);
    let addr = listening_addr(&err.recv_timeout(TIMEOUT).unwrap());
    std::fs::remove_file(&config).unwrap();
    let mut busy = TcpStream::connect(&addr).unwrap();
    write!(busy, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").unwrap();
    let mut head = [0u8; 12];
    busy.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");

    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", proc.0.id()))
            .unwrap()
            .count()
    };
    let before = fds();
    let mut flood = Vec::new();
    for _ in 0..100 {
        let mut s = TcpStream::connect(&addr).unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 503 "), "{reply}");
        // The flooder keeps its end open.
        flood.push(s);
    }
    // Each refused socket was closed before its close reached the client:
    // none lingers, however many the flooder holds open.
    assert_eq!(fds(), before);
}

#[test]
fn runs_logs_a_line_per_connection_and_stops_on_sigint() {
    let target = format!("127.0.0.1:{}", closed_port());
    let port = target.rsplit(':').next().unwrap().to_string();
    let (mut proc, out, err) = spawn(&["--listen", "127.0.0.1:0", "--allow-port", &port]);
    let first = err.recv_timeout(TIMEOUT).unwrap();
    let addr = first
        .strip_prefix("burrow listening on ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("{first}"));
    assert!(
        first.ends_with(&format!("(CONNECT to ports {port})")),
        "{first}"
    );
    assert!(!addr.ends_with(":0"), "{first}");

    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 502 "), "{reply}");

    let line = out.recv_timeout(TIMEOUT).unwrap();
    assert!(line.contains(&format!(" CONNECT {target} 502 ")), "{line}");
    assert!(line.contains("rejected error=connection_refused"), "{line}");

    let pid = proc.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let status = proc.0.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn json_lines_are_connection_records() {
    let (proc, out, err) = spawn(&["--listen", "127.0.0.1:0", "--json"]);
    let first = err.recv_timeout(TIMEOUT).unwrap();
    let addr = first.split(' ').nth(3).unwrap().to_string();
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let line = out.recv_timeout(TIMEOUT).unwrap();
    let record: burrow_core::log::ConnectionRecord = serde_json::from_str(&line).unwrap();
    assert_eq!(record.status, Some(400));
    assert_eq!(record.method.as_deref(), Some("GET"));
    drop(proc);
}

/// The address in the `burrow listening on ADDR (…)` line.
fn listening_addr(line: &str) -> String {
    line.strip_prefix("burrow listening on ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("not the listening line: {line}"))
        .to_string()
}

/// The status line of the answer to a CONNECT to a closed port, with these
/// credentials (`None`: no `Proxy-Authorization`).
fn connect_status(proxy: &str, credentials: Option<&str>) -> String {
    use base64::Engine as _;
    let target = format!("127.0.0.1:{}", closed_port());
    let mut s = TcpStream::connect(proxy).unwrap();
    let auth = credentials
        .map(|c| {
            let token = base64::engine::general_purpose::STANDARD.encode(c);
            format!("Proxy-Authorization: Basic {token}\r\n")
        })
        .unwrap_or_default();
    write!(
        s,
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{auth}\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    reply.lines().next().unwrap_or_default().to_string()
}

/// Checks the running proxy wants exactly `user:secret`.
fn requires(proxy: &str, good: &str) {
    assert!(connect_status(proxy, None).starts_with("HTTP/1.1 407 "));
    assert!(connect_status(proxy, Some("user:wrong")).starts_with("HTTP/1.1 407 "));
    // Past authentication: the closed port refuses the connect.
    let status = connect_status(proxy, Some(good));
    assert!(status.starts_with("HTTP/1.1 502 "), "{status}");
}

#[test]
fn burrow_auth_in_the_environment_sets_the_password_without_a_warning() {
    let mut command = burrow(&["--listen", "127.0.0.1:0", "--allow-port", "1-65535"]);
    command.env("BURROW_AUTH", "user:secret");
    let (proc, _out, err) = spawn_command(command);
    let first = err.recv_timeout(TIMEOUT).unwrap();
    requires(&listening_addr(&first), "user:secret");
    drop(proc);
}

#[test]
fn auth_on_the_command_line_works_but_warns_first() {
    let mut command = burrow(&[
        "--listen",
        "127.0.0.1:0",
        "--allow-port",
        "1-65535",
        "--auth",
        "user:secret",
    ]);
    // The flag wins over the environment.
    command.env("BURROW_AUTH", "user:other");
    let (proc, _out, err) = spawn_command(command);
    let warning = err.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(
        warning,
        "burrow: warning: --auth shows the password to every local user (in the process list \
         and /proc/PID/cmdline); use --auth-file FILE (chmod 600) or the \
         BURROW_AUTH=user:password environment variable instead"
    );
    let first = err.recv_timeout(TIMEOUT).unwrap();
    requires(&listening_addr(&first), "user:secret");
    drop(proc);
}

#[cfg(unix)]
#[test]
fn an_auth_file_must_be_private() {
    use std::os::unix::fs::PermissionsExt;
    let path = temp_file("auth", "user:secret\n");
    let file = path.to_str().unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, err) = run(&["--listen", "127.0.0.1:0", "--auth-file", file]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.trim_end(),
        format!("burrow: auth file {file} can be read or written by other users (mode 644); run chmod 600 {file}")
    );
    assert!(!err.contains("secret"), "{err}");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (proc, _out, err) = spawn(&[
        "--listen",
        "127.0.0.1:0",
        "--allow-port",
        "1-65535",
        "--auth-file",
        file,
    ]);
    let first = err.recv_timeout(TIMEOUT).unwrap();
    requires(&listening_addr(&first), "user:secret");
    drop(proc);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_missing_auth_file_exits_2() {
    let (code, err) = run(&["--auth-file", "/nonexistent/burrow-auth"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("burrow: cannot read auth file /nonexistent/burrow-auth: "),
        "{err}"
    );
}

/// How long one request may take while stdout is stalled; old Burrow never
/// answered at all.
const STALLED: Duration = Duration::from_secs(10);

#[test]
fn a_stdout_nobody_reads_costs_log_lines_not_service() {
    let closed = closed_port();
    let port = closed.to_string();
    let mut command = burrow(&["--listen", "127.0.0.1:0", "--allow-port", &port]);
    // One runtime worker: once, the first access-log write into a full pipe
    // blocked it, and with it the whole proxy.
    command.env("TOKIO_WORKER_THREADS", "1");
    let mut child = command.spawn().expect("starting burrow");
    // Kept and never read until burrow has exited: the pipe fills at 64 KiB.
    let mut stdout = child.stdout.take().unwrap();
    let err = line_reader(child.stderr.take().unwrap());
    let mut proc = Proc(child);
    let addr: SocketAddr = listening_addr(&err.recv_timeout(TIMEOUT).unwrap())
        .parse()
        .unwrap();

    // About 1.1 KiB of log line per request (the target is shown up to
    // 1 KiB): some 50 times the pipe's buffer, 3 times the writer's queue.
    let request = format!(
        "GET http://127.0.0.1:{closed}/{} HTTP/1.1\r\nHost: 127.0.0.1:{closed}\r\n\r\n",
        "a".repeat(1000)
    );
    const REQUESTS: u64 = 3000;
    for i in 0..REQUESTS {
        let mut s = TcpStream::connect_timeout(&addr, STALLED).unwrap();
        s.set_read_timeout(Some(STALLED)).unwrap();
        s.set_write_timeout(Some(STALLED)).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut reply = String::new();
        if let Err(e) = s.read_to_string(&mut reply) {
            panic!("request {i} had no answer within {STALLED:?} ({e}): the log stalled the proxy");
        }
        assert!(reply.starts_with("HTTP/1.1 502 "), "request {i}: {reply}");
    }

    // The drops were reported while they happened.
    let warning = loop {
        let line = err
            .recv_timeout(TIMEOUT)
            .expect("a report of dropped lines");
        if line.contains("the access log output is not being read") {
            break line;
        }
    };
    assert!(warning.contains("lines dropped so far"), "{warning}");

    // Stopping does not wait for ever on the full pipe, and says how many
    // lines were lost.
    let pid = proc.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = proc.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "burrow did not exit with its stdout full"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(0));
    let report = err
        .iter()
        .find_map(|line| {
            line.strip_prefix("burrow: ")?
                .strip_suffix(
                    " access log lines were dropped because the output was not being read",
                )?
                .parse::<u64>()
                .ok()
        })
        .expect("the count of dropped lines at exit");

    // Every line is in the pipe or counted as dropped (a line cut short
    // by the exit is counted, so the sum may exceed the requests).
    let mut logged = Vec::new();
    stdout.read_to_end(&mut logged).unwrap();
    let whole = logged
        .split_inclusive(|&b| b == b'\n')
        .filter(|l| l.ends_with(b"\n"))
        .count() as u64;
    assert!(
        whole > 0 && report > 0,
        "{whole} lines written, {report} dropped"
    );
    assert!(
        whole + report >= REQUESTS,
        "{whole} lines written, {report} dropped"
    );
    assert!(report < REQUESTS, "{report} dropped");
}
