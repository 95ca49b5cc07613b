//! Loopback origins: any per-connection handler, an echo server, and a tiny
//! HTTP/1.1 server that records what it receives and answers per an
//! `OriginScript`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use burrow_core::outcome::UpstreamFailure;
use burrow_core::simulate::OriginScript;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::client::{chunk, dechunk};
use crate::find;

/// A loopback TCP server running one handler per accepted connection.
/// Dropping it stops the server and every connection it holds.
pub struct RawOrigin {
    /// Where it listens.
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl RawOrigin {
    /// Listens on `127.0.0.1:0`; `handler` gets each connection and its
    /// number (0, 1, ...).
    pub async fn start<F, Fut>(handler: F) -> RawOrigin
    where
        F: Fn(TcpStream, usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("bound address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let n = count.fetch_add(1, Ordering::SeqCst);
                connections.spawn(handler(stream, n));
                while connections.try_join_next().is_some() {}
            }
        });
        RawOrigin {
            addr,
            accepted,
            task,
        }
    }

    /// How many connections it has accepted.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for RawOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An echo server: every byte comes back; on EOF it half-closes in turn.
pub struct Echo;

impl Echo {
    /// Starts one on loopback.
    pub async fn start() -> RawOrigin {
        RawOrigin::start(|mut stream, _| async move {
            let (mut r, mut w) = stream.split();
            let _ = tokio::io::copy(&mut r, &mut w).await;
            let _ = w.shutdown().await;
        })
        .await
    }
}

/// One request as the origin received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Which upstream connection carried it (0 is the first).
    pub connection: usize,
    /// The head, exactly as received, up to and including the blank line.
    pub head: Vec<u8>,
    /// The body with any chunked framing removed.
    pub body: Vec<u8>,
}

impl Recorded {
    /// The head as text.
    pub fn head_text(&self) -> String {
        String::from_utf8_lossy(&self.head).into_owned()
    }

    /// The request line.
    pub fn request_line(&self) -> String {
        self.head_text()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    }

    /// All fields in order: names lowercased, values trimmed.
    pub fn fields(&self) -> Vec<(String, String)> {
        fields(&self.head)
    }

    /// The values of field `name` (lowercase).
    pub fn field(&self, name: &str) -> Vec<String> {
        fields(&self.head)
            .into_iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v)
            .collect()
    }
}

/// An HTTP/1.1 origin that records requests and answers per a script.
pub struct HttpOrigin {
    server: RawOrigin,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl HttpOrigin {
    /// Starts one on loopback.
    pub async fn start(script: OriginScript) -> HttpOrigin {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(script);
        let log = requests.clone();
        let server =
            RawOrigin::start(move |stream, n| serve_http(stream, n, script.clone(), log.clone()))
                .await;
        HttpOrigin { server, requests }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// How many connections it has accepted.
    pub fn connections(&self) -> usize {
        self.server.accepted()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }
}

/// A 200 response with `body` and `Content-Type: text/plain`.
pub fn ok(body: impl Into<String>) -> OriginScript {
    respond(200, &[("Content-Type", "text/plain")], body)
}

/// A response with these fields (a Content-Length is added unless a
/// framing field is given; `Transfer-Encoding: chunked` chunks the body).
pub fn respond(status: u16, headers: &[(&str, &str)], body: impl Into<String>) -> OriginScript {
    OriginScript::Responds {
        status,
        reason: match status {
            200 => "OK".to_string(),
            404 => "Not Found".to_string(),
            s => burrow_core::response::reason(s).to_string(),
        },
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: body.into(),
    }
}

async fn serve_http(
    mut stream: TcpStream,
    connection: usize,
    script: Arc<OriginScript>,
    log: Arc<Mutex<Vec<Recorded>>>,
) {
    let mut buf = Vec::new();
    while let Some((head, body)) = read_request(&mut stream, &mut buf).await {
        let close = fields(&head)
            .iter()
            .any(|(n, v)| n == "connection" && v.to_ascii_lowercase().contains("close"));
        log.lock().expect("lock").push(Recorded {
            connection,
            head,
            body,
        });
        let answer = match &*script {
            OriginScript::Responds {
                status,
                reason,
                headers,
                body,
            } => response_bytes(*status, reason, headers, body),
            OriginScript::Fails(UpstreamFailure::Closed) => return,
            OriginScript::Fails(UpstreamFailure::Protocol) => b"NOT HTTP AT ALL\r\n\r\n".to_vec(),
            OriginScript::Fails(UpstreamFailure::Timeout) => {
                // Never answer; hold the connection until the proxy gives up.
                let _ = stream.read_to_end(&mut Vec::new()).await;
                return;
            }
        };
        if stream.write_all(&answer).await.is_err() || close {
            return;
        }
    }
}

fn response_bytes(status: u16, reason: &str, headers: &[(String, String)], body: &str) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    let chunked = has("transfer-encoding");
    if !chunked && !has("content-length") {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if chunked {
        bytes.extend_from_slice(&chunk(body.as_bytes(), 64 * 1024));
    } else {
        bytes.extend_from_slice(body.as_bytes());
    }
    bytes
}

/// Reads one request (head and body); `None` when the peer closes first.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(Vec<u8>, Vec<u8>)> {
    let head_len = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        read_more(stream, buf).await?;
    };
    let head: Vec<u8> = buf.drain(..head_len).collect();
    let f = fields(&head);
    let chunked = f
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let length = f
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let body = if chunked {
        loop {
            if let Some((len, body)) = dechunk(buf) {
                buf.drain(..len);
                break body;
            }
            read_more(stream, buf).await?;
        }
    } else {
        let n = length.unwrap_or(0);
        while buf.len() < n {
            read_more(stream, buf).await?;
        }
        buf.drain(..n).collect()
    };
    Some((head, body))
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = vec![0u8; 64 * 1024];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

/// The fields of a head: lowercased names and trimmed values, in order.
fn fields(head: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(head)
        .split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}
