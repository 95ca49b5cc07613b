//! Clients that do not play along: garbage (random bytes where a request should be; the proxy
//! must answer 400 and close) and slowloris (a request head one byte at a time that never ends;
//! the proxy must answer 408 and close once `timeouts.request_head` has passed).

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::io::AsyncWriteExt;

use crate::http::Wire;
use crate::net::{connect, Env, READ_LIMIT};
use crate::payload::Rng;
use crate::plan::{Kind, REQUEST_HEAD};
use crate::stats::Outcome;

/// Most bytes of an answer kept; a refusal is a few hundred bytes.
const ANSWER_LIMIT: usize = 64 * 1024;

/// Sends random bytes of one of three sorts and expects `400` and a close.
pub async fn garbage(env: &Env, rng: &mut Rng) -> Result<Outcome> {
    let len = rng.between(1, 4096) as usize;
    let mut bytes = vec![0u8; len];
    rng.fill(&mut bytes);
    let sort = rng.below(3);
    match sort {
        // Binary: a NUL first, so it can never be a method.
        0 => bytes[0] = 0,
        // A TLS ClientHello's record header: a client speaking TLS to the proxy port.
        1 => {
            let head = [0x16, 0x03, 0x01, (len >> 8) as u8, len as u8];
            bytes.splice(0..0, head);
        }
        // Printable words and line ends, never `HTTP/`, ending like a head.
        _ => {
            for b in &mut bytes {
                *b = b"abcdefghijklmnopqrstuvwxyz0123456789 -_.,;=\r\n"[usize::from(*b) % 45];
            }
            bytes[0] = b'x';
            bytes.extend_from_slice(b"\r\n\r\n");
        }
    }
    let mut wire = Wire::new(connect(Kind::Garbage.address(rng.next_u64()), env.proxy).await?);
    wire.stream.write_all(&bytes).await?;
    let answer = tokio::time::timeout(READ_LIMIT, wire.rest(ANSWER_LIMIT))
        .await
        .context("no answer and no close")?
        .context("reading the answer")?;
    match status(&answer).as_deref() {
        Some("400") => Ok(Outcome::Expected("400, closed")),
        _ => bail!("garbage (sort {sort}) answered {}", shown(&answer)),
    }
}

/// Sends a request head one byte every 200–500 ms and expects `408` and a close once the head
/// timeout has passed; one time in four sends nothing at all and expects a close alone.
pub async fn slowloris(env: &Env, rng: &mut Rng) -> Result<Outcome> {
    let stream = connect(Kind::Slowloris.address(rng.next_u64()), env.proxy).await?;
    let started = Instant::now();
    let (mut r, mut w) = stream.into_split();
    let silent = rng.chance(25);
    let origin = env.http_origin;
    let mut drip_rng = Rng::new(rng.next_u64());
    let drip = tokio::spawn(async move {
        if silent {
            // Hold the sending side open without a byte.
            return std::future::pending::<()>().await;
        }
        let head = format!("GET http://{origin}/slow HTTP/1.1\r\nHost: {origin}\r\nX-Slow: ");
        for &b in head.as_bytes().iter().chain(std::iter::repeat(&b'z')) {
            if w.write_all(&[b]).await.is_err() {
                return;
            }
            let pause = drip_rng.between(200, 500);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    });
    let limit = Duration::from_secs_f64(REQUEST_HEAD) + READ_LIMIT;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(limit, async {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 4096];
        while answer.len() < ANSWER_LIMIT {
            match r.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    drip.abort();
    read.context("no answer and no close")?;
    let waited = started.elapsed();
    // A client that sent nothing is closed without an answer (there is no request to answer);
    // one that started a head gets 408.
    let (want, how, timed) = if silent {
        (None, "closed, silent", "a silent client closed after")
    } else {
        (Some("408"), "408, closed", "slowloris answered 408 after")
    };
    if status(&answer).as_deref() != want || (silent && !answer.is_empty()) {
        bail!("slowloris (silent: {silent}) answered {}", shown(&answer));
    }
    env.stats.time(timed, waited);
    if waited < Duration::from_secs_f64(REQUEST_HEAD * 0.9) {
        bail!("closed after {waited:?}, before timeouts.request_head");
    }
    Ok(Outcome::Expected(how))
}

/// The status of an answer's first line, if it has one.
pub fn status(answer: &[u8]) -> Option<String> {
    let line = answer.split(|&b| b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split(' ');
    words
        .next()
        .filter(|v| v.starts_with("HTTP/"))
        .and(words.next())
        .map(str::to_string)
}

/// The first line of an answer, for a report (or how the connection ended without one).
pub fn shown(answer: &[u8]) -> String {
    if answer.is_empty() {
        return "nothing (closed without an answer)".to_string();
    }
    let line = answer.split(|&b| b == b'\r').next().unwrap_or(answer);
    format!(
        "{:?}",
        String::from_utf8_lossy(&line[..line.len().min(120)])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(
            status(b"HTTP/1.1 400 Bad Request\r\n").as_deref(),
            Some("400")
        );
        assert_eq!(status(b"junk 400\r\n"), None);
        assert_eq!(status(b""), None);
        assert_eq!(shown(b""), "nothing (closed without an answer)");
    }
}
