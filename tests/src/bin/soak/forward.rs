//! Forwarded `http://` requests: one to six on a keep-alive connection, GETs and POSTs, bodies
//! framed by length or in chunks both ways, each response checked byte for byte. The
//! connection then ends with the client's FIN or with `Connection: close`.

use anyhow::{bail, Context, Result};
use tokio::io::AsyncWriteExt;

use crate::http::{frame, Framing, Wire};
use crate::net::{closed_within, connect, Closing, Env, CLOSE_LIMIT, READ_LIMIT};
use crate::payload::{first_difference, payload, size, Rng};
use crate::plan::{Kind, MAX_PAYLOAD};
use crate::stats::{Mismatch, Moved, Outcome};

/// Runs one keep-alive connection's requests.
pub async fn run(env: &Env, rng: &mut Rng) -> Result<Outcome> {
    let origin = env.http_origin;
    let mut wire = Wire::new(connect(Kind::Forward.address(rng.next_u64()), env.proxy).await?);
    let requests = rng.between(1, 6);
    let close_by_header = rng.chance(25);
    let mut moved = Moved::default();
    for i in 1..=requests {
        let seed = rng.next_u64();
        let len = size(rng, MAX_PAYLOAD / 4);
        let chunked = rng.chance(50);
        let framing_word = if chunked { "chunked" } else { "cl" };
        let last = if i == requests && close_by_header {
            "Connection: close\r\n"
        } else {
            ""
        };
        let want = payload(seed, len);
        let post = rng.chance(50);
        let request = if post {
            let (field, body) = frame(&want, chunked, rng);
            let mut r = format!(
                "POST http://{origin}/post/{framing_word} HTTP/1.1\r\nHost: {origin}\r\n{field}{last}\r\n"
            )
            .into_bytes();
            r.extend(body);
            moved.up += len as u64;
            r
        } else {
            format!("GET http://{origin}/get/{seed}/{len}/{framing_word} HTTP/1.1\r\nHost: {origin}\r\n{last}\r\n")
                .into_bytes()
        };
        wire.stream.write_all(&request).await?;
        let what = format!("request {i} of {requests}");
        let head = tokio::time::timeout(READ_LIMIT, wire.head())
            .await
            .with_context(|| format!("no answer to {what}"))??
            .with_context(|| format!("the proxy closed before answering {what}"))?;
        if head.second_word() != "200" {
            bail!("{what} answered {:?}", head.line);
        }
        // A length stays a length and chunks stay chunks (README: bodies are framed anew, alike).
        let framing = head.framing();
        if (framing == Framing::Chunked) != chunked {
            bail!("{what}: the origin's {framing_word} body arrived as {framing:?}");
        }
        let got = tokio::time::timeout(READ_LIMIT, wire.body(framing))
            .await
            .with_context(|| format!("the body of {what} stopped"))??;
        if let Some(at) = first_difference(&want, &got) {
            return Err(Mismatch {
                at,
                len: want.len(),
            })
            .with_context(|| what.clone());
        }
        moved.down += len as u64;
        moved.requests += 1;
    }
    let after = if close_by_header {
        "a response to `Connection: close`"
    } else {
        wire.stream.shutdown().await?;
        "the client's FIN between requests"
    };
    if wire.pending() > 0 {
        bail!("{} bytes after the last response", wire.pending());
    }
    match closed_within(&mut wire.stream, CLOSE_LIMIT, after).await? {
        Closing::Fin => Ok(Outcome::Completed(moved)),
        Closing::Reset => bail!("a reset instead of a FIN after {after}"),
    }
}
