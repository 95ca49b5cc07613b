//! The one static file server: `cargo xtask web` serves the simulator with it, and the browser
//! test (burrow-tests, `tests/browser.rs`) serves `target/web/` with it.
//!
//! GET and HEAD, one thread per connection, one request per connection; a directory (and `/`)
//! serves its `index.html`; targets are percent-decoded and may not leave the directory
//! ([`sanitize`]); `Content-Type` comes from the extension ([`mime`], wasm as
//! `application/wasm`); `Cache-Control: no-cache` so a rebuild shows on reload. Every request
//! that finds no file is noted in [`Misses`], so a test can say which files a page asked for in
//! vain.
//!
//! ```no_run
//! let (addr, misses) = xtask::serve::spawn(std::path::Path::new("target/web"))?;
//! // ... point a browser at http://{addr}/ ...
//! assert!(misses.list().is_empty(), "not found: {:?}", misses.list());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::{
    fs,
    io::{self, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    thread,
    time::Duration,
};

/// Largest request head read; a longer one gets 431.
const MAX_HEAD: usize = 16 * 1024;

/// The request targets that found no file (answered 404, or 400 for a target that may not be
/// served), in arrival order; shared with the threads that answer.
#[derive(Clone, Debug, Default)]
pub struct Misses(Arc<Mutex<Vec<String>>>);

impl Misses {
    /// Every miss so far.
    pub fn list(&self) -> Vec<String> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }

    fn push(&self, target: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.push(target.to_string());
        }
    }
}

/// Serves the files under `dir` to every connection accepted on `listener`, until accept fails;
/// notes in `misses` every request that finds no file.
pub fn serve(dir: &Path, listener: TcpListener, misses: &Misses) -> io::Result<()> {
    let dir = Arc::new(dir.to_path_buf());
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            // The client went away between SYN and accept; keep serving.
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
            Err(e) => return Err(e),
        };
        let (dir, misses) = (Arc::clone(&dir), misses.clone());
        thread::spawn(move || {
            // A failed write means the client left; nothing to tell anyone.
            let _ = handle(&dir, stream, &misses);
        });
    }
    Ok(())
}

/// Serves `dir` on a free port of 127.0.0.1 from a background thread that lives as long as the
/// process; returns where it listens and its misses.
pub fn spawn(dir: &Path) -> io::Result<(SocketAddr, Misses)> {
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
    let addr = listener.local_addr()?;
    let misses = Misses::default();
    let (dir, noted) = (dir.to_path_buf(), misses.clone());
    thread::spawn(move || serve(&dir, listener, &noted));
    Ok((addr, misses))
}

fn handle(dir: &Path, mut stream: TcpStream, misses: &Misses) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let response = match read_head(&mut stream)? {
        Some(head) => respond(dir, &head, misses),
        None => Response::error(431, "Request Header Fields Too Large"),
    };
    stream.write_all(&response.bytes)?;
    stream.flush()
}

/// Reads up to the blank line ending the request head; `None` if it is longer than `MAX_HEAD`.
fn read_head(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    let mut buf = [0; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return Ok(None);
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(Some(head))
}

/// A full response, head and body.
struct Response {
    bytes: Vec<u8>,
}

impl Response {
    fn new(status: u16, reason: &str, content_type: &str, body: &[u8], head_only: bool) -> Self {
        let mut bytes = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        if !head_only {
            bytes.extend_from_slice(body);
        }
        Response { bytes }
    }

    fn error(status: u16, reason: &str) -> Self {
        let body = format!("{status} {reason}\n");
        Response::new(
            status,
            reason,
            "text/plain; charset=utf-8",
            body.as_bytes(),
            false,
        )
    }
}

fn respond(dir: &Path, head: &[u8], misses: &Misses) -> Response {
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(_version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Response::error(400, "Bad Request");
    };
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Response::error(405, "Method Not Allowed"),
    };
    let Some(relative) = sanitize(target) else {
        misses.push(target);
        return Response::error(400, "Bad Request");
    };
    let mut path = dir.join(relative);
    if path.is_dir() {
        path.push("index.html");
    }
    match fs::read(&path) {
        Ok(body) => Response::new(200, "OK", mime(&path), &body, head_only),
        Err(_) => {
            misses.push(target);
            Response::error(404, "Not Found")
        }
    }
}

/// The file path a request target names, relative to the served directory.
///
/// Drops the query and fragment, percent-decodes, maps `/` (and any path ending in `/`) to its
/// `index.html`, and returns `None` for anything that could leave the directory or is malformed:
/// a `..` segment, a backslash, a NUL, a target not starting with `/`, bad percent-encoding.
pub fn sanitize(target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    let path = percent_decode(path.strip_prefix('/')?)?;
    if path.contains(['\\', '\0']) {
        return None;
    }
    let mut out = PathBuf::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => return None,
            s => out.push(s),
        }
    }
    if path.is_empty() || path.ends_with('/') {
        out.push("index.html");
    }
    Some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// The `Content-Type` for a file, from its extension.
pub fn mime(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    match ext.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_sanitize(target: &str, expected: Option<&str>) {
        assert_eq!(
            sanitize(target),
            expected.map(PathBuf::from),
            "target {target:?}"
        );
    }

    #[test]
    fn sanitize_maps_targets_to_files() {
        check_sanitize("/", Some("index.html"));
        check_sanitize("/index.html", Some("index.html"));
        check_sanitize("/pkg/burrow_web.js", Some("pkg/burrow_web.js"));
        check_sanitize("/pkg/", Some("pkg/index.html"));
        check_sanitize("/app.js?v=3#top", Some("app.js"));
        check_sanitize("/?x=1", Some("index.html"));
        check_sanitize("//a/./b", Some("a/b"));
        check_sanitize("/my%20file.css", Some("my file.css"));
    }

    #[test]
    fn sanitize_rejects_escapes_and_garbage() {
        check_sanitize("/../etc/passwd", None);
        check_sanitize("/a/../../x", None);
        check_sanitize("/a/..", None);
        check_sanitize("/%2e%2e/x", None);
        check_sanitize("/a%2f..%2fb", None);
        check_sanitize("/a\\..\\b", None);
        check_sanitize("/a%5c..", None);
        check_sanitize("/a%00", None);
        check_sanitize("/a%zz", None);
        check_sanitize("/a%2", None);
        check_sanitize("/%ff", None);
        check_sanitize("index.html", None);
        check_sanitize("http://example.com/", None);
        check_sanitize("", None);
    }

    #[test]
    fn sanitize_keeps_dots_inside_names() {
        check_sanitize("/a..b/c.d", Some("a..b/c.d"));
        check_sanitize("/.well-known/x", Some(".well-known/x"));
    }

    #[test]
    fn mime_types() {
        let check = |name: &str, expected: &str| assert_eq!(mime(Path::new(name)), expected);
        check("index.html", "text/html; charset=utf-8");
        check("pkg/burrow_web.js", "text/javascript; charset=utf-8");
        check("a.mjs", "text/javascript; charset=utf-8");
        check("style.css", "text/css; charset=utf-8");
        check("pkg/burrow_web_bg.wasm", "application/wasm");
        check("a.WASM", "application/wasm");
        check("data.json", "application/json");
        check("logo.svg", "image/svg+xml");
        check("icon.png", "image/png");
        check("favicon.ico", "image/x-icon");
        check("README", "application/octet-stream");
        check("x.bin", "application/octet-stream");
    }

    /// Sends `request` to the server at `addr` and returns the whole response.
    fn roundtrip(addr: SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    }

    #[test]
    fn serves_files_over_loopback() {
        let dir = std::env::temp_dir().join(format!("xtask-serve-{}", std::process::id()));
        fs::create_dir_all(dir.join("pkg")).unwrap();
        fs::write(dir.join("index.html"), "<p>hi</p>").unwrap();
        fs::write(dir.join("pkg/m.wasm"), b"\0asm").unwrap();
        fs::write(dir.join("pkg/index.html"), "pkg").unwrap();
        let (addr, misses) = spawn(&dir).unwrap();

        let r = roundtrip(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(
            r.contains("Content-Type: text/html; charset=utf-8\r\n"),
            "{r}"
        );
        assert!(r.contains("Cache-Control: no-cache\r\n"), "{r}");
        assert!(r.ends_with("\r\n\r\n<p>hi</p>"), "{r}");

        let r = roundtrip(addr, "HEAD /pkg/m.wasm HTTP/1.1\r\n\r\n");
        assert!(
            r.contains("Content-Type: application/wasm\r\nContent-Length: 4\r\n"),
            "{r}"
        );
        assert!(r.ends_with("\r\n\r\n"), "{r}");

        // A directory named without its slash serves its index too.
        let r = roundtrip(addr, "GET /pkg?v=1 HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.ends_with("\r\n\r\npkg"), "{r}");
        assert!(misses.list().is_empty(), "{:?}", misses.list());

        let status = |req: &str| roundtrip(addr, req).lines().next().unwrap().to_string();
        assert_eq!(
            status("GET /missing.js HTTP/1.1\r\n\r\n"),
            "HTTP/1.1 404 Not Found"
        );
        assert_eq!(
            status("GET /../x HTTP/1.1\r\n\r\n"),
            "HTTP/1.1 400 Bad Request"
        );
        assert_eq!(
            status("POST / HTTP/1.1\r\n\r\n"),
            "HTTP/1.1 405 Method Not Allowed"
        );
        assert_eq!(status("garbage\r\n\r\n"), "HTTP/1.1 400 Bad Request");
        // One byte over the limit and no end of head yet: all of it is read, then refused.
        let big = format!("GET / HTTP/1.1\r\n{}", "x".repeat(MAX_HEAD - 15));
        assert_eq!(big.len(), MAX_HEAD + 1);
        assert_eq!(status(&big), "HTTP/1.1 431 Request Header Fields Too Large");
        // What found no file is noted; a refused method or a malformed line asked for none.
        assert_eq!(misses.list(), ["/missing.js", "/../x"]);

        fs::remove_dir_all(&dir).unwrap();
    }
}
