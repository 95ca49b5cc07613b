//! Loopback origins: any per-connection handler, an echo server, and a tiny
//! HTTP/1.1 server that records what it receives and answers per an
//! `OriginScript` or per request ([`HttpOrigin::answering`]).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use burrow_core::outcome::UpstreamFailure;
use burrow_core::simulate::OriginScript;
use burrow_core::Settings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::client::dechunk;
use crate::{find, TIMEOUT};

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
    /// The request's exact bytes on the wire: head and framed body.
    pub raw: Vec<u8>,
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

/// An HTTP/1.1 origin that records requests and answers each one.
pub struct HttpOrigin {
    server: RawOrigin,
    requests: Arc<Mutex<Vec<Recorded>>>,
    received: Arc<Mutex<Vec<u8>>>,
}

/// What an [`HttpOrigin`] does once it has read a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Write these bytes and wait for the next request on the connection.
    Send(Vec<u8>),
    /// Write these bytes, then close.
    SendAndClose(Vec<u8>),
    /// Close without answering.
    Close,
    /// Never answer; hold the connection until the proxy closes it.
    Hang,
}

impl Answer {
    /// What the simulator's origin does under `script`, with the proxy's
    /// `settings` (for scripts that answer relative to its limits).
    pub fn scripted(script: &OriginScript, settings: &Settings) -> Answer {
        match script.response_bytes(settings) {
            Some(bytes) if script.closes_after() => Answer::SendAndClose(bytes),
            Some(bytes) => Answer::Send(bytes),
            None if *script == OriginScript::Fails(UpstreamFailure::Timeout) => Answer::Hang,
            None => Answer::Close,
        }
    }

    /// `200 OK` with `body` and its Content-Length, keeping the connection.
    pub fn ok(body: impl AsRef<[u8]>) -> Answer {
        let body = body.as_ref();
        let mut bytes =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        bytes.extend_from_slice(body);
        Answer::Send(bytes)
    }
}

impl HttpOrigin {
    /// Starts one on loopback, answering as `script` says under default settings.
    pub async fn start(script: OriginScript) -> HttpOrigin {
        HttpOrigin::with_settings(script, Settings::default()).await
    }

    /// Starts one on loopback; `settings` are the proxy's, for scripts that
    /// answer relative to its limits (the same bytes the simulator uses).
    pub async fn with_settings(script: OriginScript, settings: Settings) -> HttpOrigin {
        let answer = Answer::scripted(&script, &settings);
        HttpOrigin::answering(move |_| answer.clone()).await
    }

    /// Starts one on loopback that answers each request as `answer` says,
    /// for answers that depend on the request (its line, method or body).
    pub async fn answering(
        answer: impl Fn(&Recorded) -> Answer + Send + Sync + 'static,
    ) -> HttpOrigin {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Log {
            requests: requests.clone(),
            received: received.clone(),
        };
        let answer: Arc<AnswerFn> = Arc::new(answer);
        let server =
            RawOrigin::start(move |stream, n| serve_http(stream, n, answer.clone(), log.clone()))
                .await;
        HttpOrigin {
            server,
            requests,
            received,
        }
    }

    /// Every byte received, on all connections, in arrival order.
    pub fn received(&self) -> Vec<u8> {
        self.received.lock().expect("lock").clone()
    }

    /// Every byte received, once at least `n` have come (or [`TIMEOUT`]
    /// passed): the origin reads on its own task, a little after the proxy wrote.
    pub async fn received_at_least(&self, n: usize) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let got = self.received();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
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
            _ => "Whatever".to_string(),
        },
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: body.into(),
    }
}

/// Where the origin notes what it gets.
#[derive(Clone)]
struct Log {
    requests: Arc<Mutex<Vec<Recorded>>>,
    received: Arc<Mutex<Vec<u8>>>,
}

/// How the origin picks its answer.
type AnswerFn = dyn Fn(&Recorded) -> Answer + Send + Sync;

async fn serve_http(mut stream: TcpStream, connection: usize, answer: Arc<AnswerFn>, log: Log) {
    let mut buf = Vec::new();
    while let Some((head, body, raw)) = read_request(&mut stream, &mut buf, &log.received).await {
        let request = Recorded {
            connection,
            head,
            body,
            raw,
        };
        log.requests.lock().expect("lock").push(request.clone());
        match answer(&request) {
            Answer::Send(bytes) => {
                if stream.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Answer::SendAndClose(bytes) => {
                let _ = stream.write_all(&bytes).await;
                return;
            }
            Answer::Close => return,
            Answer::Hang => {
                let _ = stream.read_to_end(&mut Vec::new()).await;
                return;
            }
        }
    }
}

/// Reads one request: (head, body without framing, exact wire bytes);
/// `None` when the peer closes first.
async fn read_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    received: &Mutex<Vec<u8>>,
) -> Option<(Vec<u8>, Vec<u8>, Vec<u8>)> {
    let head_len = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        read_more(stream, buf, received).await?;
    };
    let f = fields(&buf[..head_len]);
    let chunked = f
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let length = f
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let (wire, body) = if chunked {
        loop {
            if let Some(done) = dechunk(&buf[head_len..]) {
                break done;
            }
            read_more(stream, buf, received).await?;
        }
    } else {
        let n = length.unwrap_or(0);
        while buf.len() < head_len + n {
            read_more(stream, buf, received).await?;
        }
        (n, buf[head_len..head_len + n].to_vec())
    };
    let raw: Vec<u8> = buf.drain(..head_len + wire).collect();
    Some((raw[..head_len].to_vec(), body, raw))
}

async fn read_more(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    received: &Mutex<Vec<u8>>,
) -> Option<()> {
    let mut chunk = vec![0u8; 64 * 1024];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            received
                .lock()
                .expect("lock")
                .extend_from_slice(&chunk[..n]);
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
