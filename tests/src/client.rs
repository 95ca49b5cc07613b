//! A raw TCP client that writes exact bytes and reads exact responses.

use std::net::SocketAddr;

use burrow_core::conformance::{parse_response, ParsedResponse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};

use crate::{find, QUIET, TIMEOUT};

/// A client connection to the proxy.
pub struct Client {
    stream: TcpStream,
    /// Bytes read but not yet consumed by a `Reply`.
    buf: Vec<u8>,
    /// How the peer ended the connection, once it has.
    ended: Option<Ending>,
}

/// What a read says about the connection's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Still open: nothing arrived for [`QUIET`].
    Open,
    /// A clean close: the read returned 0.
    Fin,
    /// A reset, or another read error.
    Reset,
}

/// One response as it came off the wire.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The exact bytes: head and body as framed on the wire.
    pub raw: Vec<u8>,
    /// The head, split.
    pub head: ParsedResponse,
    /// The body with any chunked framing removed.
    pub body: Vec<u8>,
}

impl Reply {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.head.status
    }

    /// The one value of the field `name` (lowercase), if present once.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut values = self.head.headers.iter().filter(|(n, _)| n == name);
        let first = values.next().map(|(_, v)| v.as_str());
        assert!(values.next().is_none(), "{name} appears more than once");
        first
    }

    /// The `Proxy-Status` error token, if any.
    pub fn proxy_error(&self) -> Option<&str> {
        let status = self.header("proxy-status")?;
        let start = status.find("error=")? + "error=".len();
        let rest = &status[start..];
        Some(rest.split(';').next().unwrap_or(rest).trim())
    }
}

/// What the response answers, as far as its framing is concerned.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Asked {
    /// A request whose response is framed as usual.
    Other,
    /// A CONNECT: a 2xx has no body.
    Connect,
    /// A HEAD: no body, whatever the framing fields say.
    Head,
}

/// How the body after a response head is delimited.
enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilClose,
}

impl Client {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = timeout(TIMEOUT, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect to the proxy");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        Client {
            stream,
            buf: Vec::new(),
            ended: None,
        }
    }

    /// Connects to `addr` from the loopback address `from` (any of
    /// 127.0.0.0/8), so one test can be several clients as far as the
    /// engine can tell.
    pub async fn connect_from(addr: SocketAddr, from: std::net::IpAddr) -> Client {
        let socket = match from {
            std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        }
        .expect("a socket");
        socket
            .bind(SocketAddr::new(from, 0))
            .expect("bind the client's address");
        let stream = timeout(TIMEOUT, socket.connect(addr))
            .await
            .expect("connect in time")
            .expect("connect to the proxy");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        Client {
            stream,
            buf: Vec::new(),
            ended: None,
        }
    }

    /// Our end's address (the engine logs it as the client).
    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().expect("local address")
    }

    /// Writes `bytes` in one write.
    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream
            .write_all(bytes.as_ref())
            .await
            .expect("write to the proxy");
    }

    /// Writes `bytes`, ignoring a failure: for inputs the proxy may refuse
    /// and close on before it has read them all.
    pub async fn send_lossy(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// Half-closes: no more bytes from us.
    pub async fn shutdown_write(&mut self) {
        self.stream.shutdown().await.expect("shutdown write");
    }

    /// Half-closes, ignoring a failure: the proxy may have closed already.
    pub async fn shutdown_write_lossy(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// Reads the next response, body framed by Content-Length, chunked or
    /// the connection closing.
    pub async fn response(&mut self) -> Reply {
        self.read_reply(Asked::Other).await
    }

    /// Reads the response to a CONNECT: a 2xx has no body, anything else is
    /// framed as usual.
    pub async fn connect_response(&mut self) -> Reply {
        self.read_reply(Asked::Connect).await
    }

    /// Reads the response to a HEAD: just the head, even with a
    /// Content-Length (what follows belongs to the next response).
    pub async fn head_response(&mut self) -> Reply {
        self.read_reply(Asked::Head).await
    }

    /// Sends a CONNECT to `authority` and reads its response.
    pub async fn connect_to(&mut self, authority: &str) -> Reply {
        self.send(format!(
            "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n"
        ))
        .await;
        self.connect_response().await
    }

    /// Reads exactly `n` bytes (after any already buffered).
    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + TIMEOUT;
        while self.buf.len() < n {
            assert!(
                self.fill(deadline).await,
                "the connection closed after {} of {n} bytes",
                self.buf.len()
            );
        }
        self.buf.drain(..n).collect()
    }

    /// Reads until the peer closes; returns everything not yet consumed.
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        let deadline = Instant::now() + TIMEOUT;
        while self.fill(deadline).await {}
        std::mem::take(&mut self.buf)
    }

    /// Whether the peer has closed the connection (FIN or reset); `false`
    /// if it stays open and silent for [`QUIET`]. Bytes that arrive instead
    /// are a failure.
    pub async fn is_closed(&mut self) -> bool {
        self.ending().await != Ending::Open
    }

    /// How the connection ends after everything read so far: open and
    /// silent for [`QUIET`], closed, or reset. Bytes that arrive instead are
    /// a failure.
    pub async fn ending(&mut self) -> Ending {
        if self.ended.is_none() {
            let mut chunk = [0u8; 4096];
            self.ended = match timeout(QUIET, self.stream.read(&mut chunk)).await {
                Err(_) => return Ending::Open,
                Ok(Ok(0)) => Some(Ending::Fin),
                Ok(Err(_)) => Some(Ending::Reset),
                Ok(Ok(n)) => panic!(
                    "expected silence or a close, got {:?}",
                    String::from_utf8_lossy(&chunk[..n])
                ),
            };
        }
        assert!(self.buf.is_empty(), "unread bytes {:?}", self.buf);
        self.ended.unwrap_or(Ending::Open)
    }

    /// Reads until at least `want` bytes are buffered (or the peer closes),
    /// then on until nothing more comes for [`QUIET`]; returns everything
    /// buffered and how the connection stands.
    pub async fn read_settled(&mut self, want: usize) -> (Vec<u8>, Ending) {
        self.read_until(want, QUIET).await
    }

    /// Like [`Client::read_settled`], but waits for the peer to close (up to
    /// [`TIMEOUT`]) rather than for a moment of silence.
    pub async fn read_until_closed(&mut self, want: usize) -> (Vec<u8>, Ending) {
        self.read_until(want, TIMEOUT).await
    }

    async fn read_until(&mut self, want: usize, quiet: std::time::Duration) -> (Vec<u8>, Ending) {
        let deadline = Instant::now() + TIMEOUT;
        while self.buf.len() < want && self.fill(deadline).await {}
        while self.ended.is_none() {
            let mut chunk = vec![0u8; 64 * 1024];
            match timeout(quiet, self.stream.read(&mut chunk)).await {
                Err(_) => break,
                Ok(Ok(0)) => self.ended = Some(Ending::Fin),
                Ok(Err(_)) => self.ended = Some(Ending::Reset),
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
        (
            std::mem::take(&mut self.buf),
            self.ended.unwrap_or(Ending::Open),
        )
    }

    /// The underlying stream, with bytes already read but not consumed.
    pub fn into_parts(self) -> (TcpStream, Vec<u8>) {
        (self.stream, self.buf)
    }

    /// Reads more bytes into the buffer; `false` on EOF or reset.
    async fn fill(&mut self, deadline: Instant) -> bool {
        if self.ended.is_some() {
            return false;
        }
        let mut chunk = vec![0u8; 64 * 1024];
        let read = timeout_at(deadline, self.stream.read(&mut chunk))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no bytes from the proxy in time; so far {:?}",
                    String::from_utf8_lossy(&self.buf)
                )
            });
        match read {
            Ok(0) => self.ended = Some(Ending::Fin),
            Err(_) => self.ended = Some(Ending::Reset),
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
        }
        self.ended.is_none()
    }

    async fn read_reply(&mut self, asked: Asked) -> Reply {
        let deadline = Instant::now() + TIMEOUT;
        let head_len = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            assert!(
                self.fill(deadline).await,
                "the connection closed before a response head: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        };
        let head = parse_response(&self.buf[..head_len]).expect("a parsable response head");
        let framing = framing(&head, asked);
        let (wire_len, body) = loop {
            if let Some(done) = body_end(&framing, &self.buf[head_len..], self.ended.is_some()) {
                break done;
            }
            if !self.fill(deadline).await {
                match body_end(&framing, &self.buf[head_len..], true) {
                    Some(done) => break done,
                    None => panic!(
                        "the connection closed inside the body: {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                }
            }
        };
        let raw: Vec<u8> = self.buf.drain(..head_len + wire_len).collect();
        Reply { raw, head, body }
    }
}

fn framing(head: &ParsedResponse, asked: Asked) -> Framing {
    let field = |name: &str| {
        head.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let status = head.status;
    if asked == Asked::Head
        || (asked == Asked::Connect && (200..300).contains(&status))
        || (100..200).contains(&status)
        || status == 204
        || status == 304
    {
        return Framing::None;
    }
    if field("transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
        return Framing::Chunked;
    }
    match field("content-length") {
        Some(n) => Framing::Length(n.parse().expect("a numeric Content-Length")),
        None => Framing::UntilClose,
    }
}

/// Where the body ends in `bytes` (wire length) and its decoded content, or
/// `None` if more bytes are needed.
fn body_end(framing: &Framing, bytes: &[u8], eof: bool) -> Option<(usize, Vec<u8>)> {
    match framing {
        Framing::None => Some((0, Vec::new())),
        Framing::Length(n) => (bytes.len() >= *n).then(|| (*n, bytes[..*n].to_vec())),
        Framing::UntilClose => eof.then(|| (bytes.len(), bytes.to_vec())),
        Framing::Chunked => dechunk(bytes),
    }
}

/// Decodes a complete chunked body (without trailers) from the start of
/// `bytes`: `(wire length, content)`, or `None` while incomplete.
pub fn dechunk(bytes: &[u8]) -> Option<(usize, Vec<u8>)> {
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        let line_end = pos + find(&bytes[pos..], b"\r\n")?;
        let line = std::str::from_utf8(&bytes[pos..line_end]).expect("ASCII chunk size");
        let size_text = line.split(';').next().unwrap_or(line).trim();
        let size = usize::from_str_radix(size_text, 16).expect("a hex chunk size");
        pos = line_end + 2;
        if size == 0 {
            // No trailers are expected: the final CRLF follows.
            return (bytes.len() >= pos + 2).then(|| {
                assert_eq!(&bytes[pos..pos + 2], b"\r\n", "trailers are not expected");
                (pos + 2, out)
            });
        }
        if bytes.len() < pos + size + 2 {
            return None;
        }
        out.extend_from_slice(&bytes[pos..pos + size]);
        assert_eq!(
            &bytes[pos + size..pos + size + 2],
            b"\r\n",
            "chunk data ends in CRLF"
        );
        pos += size + 2;
    }
}

/// Encodes `body` as chunks of at most `size` bytes, with the last chunk.
pub fn chunk(body: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / size.max(1) * 8 + 5);
    for piece in body.chunks(size.max(1)) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_round_trip() {
        for (body, size) in [(&b""[..], 4), (b"a", 4), (b"hello world", 4), (b"xyz", 100)] {
            let wire = chunk(body, size);
            assert_eq!(dechunk(&wire), Some((wire.len(), body.to_vec())));
            assert_eq!(dechunk(&wire[..wire.len() - 1]), None, "incomplete");
        }
        let with_ext = b"5;name=value\r\nhello\r\n0\r\n\r\nNEXT";
        assert_eq!(
            dechunk(with_ext),
            Some((with_ext.len() - 4, b"hello".to_vec()))
        );
    }
}
