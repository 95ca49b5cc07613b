//! Just enough HTTP/1.1 for both ends of a forwarded request: reading a head and a body framed
//! by length or chunks, and framing a body either way. Errors are returned, never panicked on:
//! the soak counts them.

use std::io;

use burrow_tests::find;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::payload::Rng;

/// Largest head either end accepts; a longer one is a failure, not a reason to grow.
const HEAD_LIMIT: usize = 64 * 1024;

/// A stream with what has been read from it but not used yet.
pub struct Wire {
    /// The connection.
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// A request or response head.
#[derive(Debug)]
pub struct Head {
    /// The request line or status line.
    pub line: String,
    fields: Vec<(String, String)>,
}

/// How a body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length`.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: no body (requests), or until the close (responses).
    Unframed,
}

impl Head {
    /// A field's value, by case-insensitive name.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How the body that follows is framed (chunked wins over a length, RFC 9112 §6.3).
    pub fn framing(&self) -> Framing {
        if self
            .field("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
        {
            return Framing::Chunked;
        }
        match self.field("content-length").map(str::parse) {
            Some(Ok(n)) => Framing::Length(n),
            _ => Framing::Unframed,
        }
    }

    /// The second word of the first line: a request's target, a response's status.
    pub fn second_word(&self) -> &str {
        self.line.split(' ').nth(1).unwrap_or("")
    }
}

impl Wire {
    /// Wraps a connection.
    pub fn new(stream: TcpStream) -> Wire {
        Wire {
            stream,
            buf: Vec::new(),
        }
    }

    /// Bytes read but not used yet.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Reads more; `false` at the end of the stream.
    async fn more(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// The next head; `None` if the stream ended cleanly before its first byte.
    pub async fn head(&mut self) -> io::Result<Option<Head>> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let text = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 4);
                let mut lines = text.split("\r\n");
                let line = lines.next().unwrap_or("").to_string();
                let fields = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
                    .collect();
                return Ok(Some(Head { line, fields }));
            }
            if self.buf.len() > HEAD_LIMIT {
                return Err(invalid("a head longer than 64 KiB"));
            }
            if !self.more().await? {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }

    /// Exactly `n` bytes.
    pub async fn take(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if !self.more().await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// One CRLF-terminated line, without its CRLF.
    async fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 2);
                return Ok(line);
            }
            if self.buf.len() > HEAD_LIMIT || !self.more().await? {
                return Err(invalid("no line end"));
            }
        }
    }

    /// A body framed as `framing`; `Unframed` reads nothing (a request without a body).
    pub async fn body(&mut self, framing: Framing) -> io::Result<Vec<u8>> {
        match framing {
            Framing::Length(n) => self.take(n).await,
            Framing::Unframed => Ok(Vec::new()),
            Framing::Chunked => {
                let mut body = Vec::new();
                loop {
                    let line = self.line().await?;
                    let size = line.split(';').next().unwrap_or("").trim();
                    let size = usize::from_str_radix(size, 16)
                        .map_err(|_| invalid("a chunk size that is not hex"))?;
                    if size == 0 {
                        // Trailer fields, then the empty line.
                        while !self.line().await?.is_empty() {}
                        return Ok(body);
                    }
                    body.extend(self.take(size).await?);
                    if !self.line().await?.is_empty() {
                        return Err(invalid("a chunk longer than its size"));
                    }
                }
            }
        }
    }

    /// Reads to the end of the stream (at most `limit` bytes), returning everything unused.
    pub async fn rest(&mut self, limit: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() <= limit && self.more().await? {}
        Ok(std::mem::take(&mut self.buf))
    }
}

/// The framing field line (with CRLF) and the framed bytes of `body`: a length, or chunks of
/// random sizes (so the proxy's re-framing is exercised with every split).
pub fn frame(body: &[u8], chunked: bool, rng: &mut Rng) -> (String, Vec<u8>) {
    if !chunked {
        return (format!("Content-Length: {}\r\n", body.len()), body.to_vec());
    }
    let mut framed = Vec::with_capacity(body.len() + 64);
    let mut rest = body;
    while !rest.is_empty() {
        let n = (rng.between(1, 32 * 1024) as usize).min(rest.len());
        framed.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        framed.extend_from_slice(&rest[..n]);
        framed.extend_from_slice(b"\r\n");
        rest = &rest[n..];
    }
    framed.extend_from_slice(b"0\r\n\r\n");
    ("Transfer-Encoding: chunked\r\n".to_string(), framed)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}
