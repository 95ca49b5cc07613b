//! Forwarding a plain-HTTP request with hyper's HTTP/1 client: the request
//! the core built goes upstream, the client's body streams through a
//! channel, and the origin's response is relayed under the head the core
//! writes for it.

use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use burrow_core::forward::{ForwardRequest, ResponseFraming};
use burrow_core::head::BodyFraming;
use burrow_core::log::CloseReason;
use burrow_core::outcome::UpstreamFailure;
use burrow_core::settings::secs;
use burrow_core::{Action, Exchange};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::ext::ReasonPhrase;
use hyper::{Request, Version};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

use crate::chunked::{encode_chunk, ChunkedDecoder, LAST_CHUNK};
use crate::connection::{client_error, guard, linger_close, Conn, Next, LINGER};
use crate::events::{Emitter, Meter};
use crate::relay::is_reset;

/// Body pieces in flight between the client socket and hyper.
const BODY_QUEUE: usize = 4;

/// An idle upstream connection kept for the next request to the same authority.
pub(crate) struct Kept {
    /// Host as the core writes it (`Action::Resolve`'s host).
    pub host: String,
    /// Port.
    pub port: u16,
    /// The address it was dialled to.
    pub addr: Option<SocketAddr>,
    /// hyper's handle to the connection.
    pub sender: SendRequest<RequestBody>,
}

impl Conn {
    /// Forwards `req` and relays the answer; keeps the upstream connection
    /// for reuse when both sides allow another request.
    pub(crate) async fn forward(&mut self, ex: &mut Exchange, req: ForwardRequest) -> Next {
        let settings = self.ctx.settings.clone();
        let limits = Limits {
            response: secs(settings.timeouts.upstream_response),
            idle: secs(settings.timeouts.tunnel_idle),
        };
        let Some(mut sender) = self.open_sender().await else {
            ex.upstream_failed(UpstreamFailure::Closed);
            return self.answer_failure(ex).await;
        };
        let (body, tx) = RequestBody::new(req.body);
        let request = match build_request(&req, body) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(id = self.emitter.id(), error = %e, "request not expressible for hyper");
                return Next::Close(CloseReason::Error);
            }
        };
        self.relayed = true;
        if req.expect_continue {
            let idle = limits.idle;
            let write = async {
                self.client
                    .write_all(burrow_core::forward::CONTINUE)
                    .await?;
                self.client.flush().await
            };
            if let Err(reason) = guard(&self.ctx.cut, idle, write).await {
                return Next::Close(reason);
            }
        }
        let leftover = ex.take_leftover();
        let cut = self.ctx.cut.clone();
        let meter = Meter::new(&self.emitter, self.up, self.down);
        let (answered, pumped) = {
            let (mut rd, mut wr) = self.client.split();
            let mut pump = pin!(pump_body(
                &mut rd,
                leftover,
                req.body,
                tx,
                limits.idle,
                &mut self.buf,
                &meter
            ));
            let mut answer = pin!(answer(
                &mut wr,
                ex,
                &mut sender,
                request,
                limits,
                &self.emitter,
                &cut,
                &meter
            ));
            let mut pumped = None;
            let answered = loop {
                tokio::select! {
                    biased;
                    p = &mut pump, if pumped.is_none() => match p {
                        Ok(p) => pumped = Some(p),
                        // A broken or abandoned request body: close without an answer.
                        Err(reason) => return Next::Close(reason),
                    },
                    a = &mut answer => break a,
                }
            };
            (answered, pumped)
        };
        (self.up, self.down) = meter.totals();
        match answered {
            Answer::Failed => self.answer_failure(ex).await,
            Answer::Ended(reason) => Next::Close(reason),
            Answer::Relayed { keep_alive } => match pumped {
                Some(Pumped::Complete(rest)) if keep_alive => {
                    self.pending = rest;
                    self.kept = Some(Kept {
                        host: req.authority.host.to_string(),
                        port: req.authority.port,
                        addr: self.dialed_addr,
                        sender,
                    });
                    Next::KeepAlive
                }
                // Not kept alive, or the body was not read to its end so the
                // next request cannot be found.
                _ => {
                    cut.run_until_cancelled(linger_close(&mut self.client, LINGER))
                        .await;
                    Next::Close(if req.keep_alive {
                        CloseReason::ServerFin
                    } else {
                        CloseReason::ClientFin
                    })
                }
            },
        }
    }

    /// A hyper connection over the stream just dialled, or the kept one.
    async fn open_sender(&mut self) -> Option<SendRequest<RequestBody>> {
        let Some(stream) = self.dialed.take() else {
            return self.kept.take().map(|k| k.sender);
        };
        let (sender, connection) = match http1::Builder::new()
            // hyper lowercases field names by default; origins read
            // Title-Case more reliably.
            .title_case_headers(true)
            .handshake(TokioIo::new(stream))
            .await
        {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(error = %e, "upstream handshake failed");
                return None;
            }
        };
        let cut = self.ctx.cut.clone();
        let id = self.emitter.id();
        self.ctx.tracker.spawn(async move {
            tokio::select! {
                r = connection => if let Err(e) = r {
                    tracing::debug!(id, error = %e, "upstream connection ended");
                },
                () = cut.cancelled() => {}
            }
        });
        Some(sender)
    }

    /// Writes the response the core made for an upstream failure.
    async fn answer_failure(&mut self, ex: &mut Exchange) -> Next {
        self.drain(ex);
        match ex.poll() {
            Action::Respond(response) => self.respond(ex, response, false).await,
            _ => Next::Close(CloseReason::Error),
        }
    }
}

#[derive(Clone, Copy)]
struct Limits {
    /// Waiting for the response head.
    response: Duration,
    /// A body making no progress either way.
    idle: Duration,
}

fn build_request(
    req: &ForwardRequest,
    body: RequestBody,
) -> Result<Request<RequestBody>, hyper::http::Error> {
    let mut builder = Request::builder()
        .method(req.method.as_bytes())
        .uri(req.path_and_query.as_str())
        .version(Version::HTTP_11);
    for (name, value) in &req.headers {
        builder = builder.header(name.as_str(), value.as_slice());
    }
    builder.body(body)
}

/// How talking to the origin ended.
enum Answer {
    /// No response head: the exchange now holds the response to send.
    Failed,
    /// The response was relayed in full.
    Relayed {
        /// The core allows another request on the client connection.
        keep_alive: bool,
    },
    /// The connection must close now, for this reason.
    Ended(CloseReason),
}

#[allow(clippy::too_many_arguments)]
async fn answer<W: AsyncWrite + Unpin>(
    wr: &mut W,
    ex: &mut Exchange,
    sender: &mut SendRequest<RequestBody>,
    request: Request<RequestBody>,
    limits: Limits,
    emitter: &Emitter,
    cut: &CancellationToken,
    meter: &Meter<'_>,
) -> Answer {
    let sent = async {
        sender.ready().await?;
        sender.send_request(request).await
    };
    let response = match timeout(limits.response, sent).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => {
            tracing::debug!(id = emitter.id(), error = %e, "upstream failed");
            ex.upstream_failed(failure_of(&e));
            return Answer::Failed;
        }
        Err(_) => {
            ex.upstream_failed(UpstreamFailure::Timeout);
            return Answer::Failed;
        }
    };
    let (parts, body) = response.into_parts();
    let reason = parts
        .extensions
        .get::<ReasonPhrase>()
        .and_then(|r| std::str::from_utf8(r.as_bytes()).ok())
        .or(parts.status.canonical_reason())
        .unwrap_or("");
    let headers: Vec<(&str, &[u8])> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    let length = body.size_hint().exact();
    let Some(head) = ex.origin_response(parts.status.as_u16(), reason, &headers, length) else {
        return Answer::Ended(CloseReason::Error);
    };
    emitter.drain(ex, |_| {});
    if let Err(reason) = guard(cut, limits.idle, wr.write_all(&head.bytes)).await {
        return Answer::Ended(reason);
    }
    match copy_body(wr, body, head.framing, limits.idle, meter).await {
        Ok(()) => Answer::Relayed {
            keep_alive: head.keep_alive,
        },
        Err(reason) => Answer::Ended(reason),
    }
}

/// What a hyper error before the response head means for the core.
fn failure_of(e: &hyper::Error) -> UpstreamFailure {
    if e.is_parse() || e.is_parse_status() {
        UpstreamFailure::Protocol
    } else if e.is_timeout() {
        UpstreamFailure::Timeout
    } else {
        // Incomplete message, closed channel, cancelled, body write aborted, IO.
        UpstreamFailure::Closed
    }
}

/// Writes the origin's body to the client, framed as the core decided.
async fn copy_body<W: AsyncWrite + Unpin>(
    wr: &mut W,
    mut body: Incoming,
    framing: ResponseFraming,
    idle: Duration,
    meter: &Meter<'_>,
) -> Result<(), CloseReason> {
    if framing == ResponseFraming::Empty {
        return Ok(());
    }
    let chunked = framing == ResponseFraming::Chunked;
    let mut framed = Vec::new();
    loop {
        let frame = match timeout(idle, body.frame()).await {
            Err(_) => return Err(CloseReason::IdleTimeout),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(origin_error(&e)),
            Ok(Some(Ok(frame))) => frame,
        };
        // Trailers are dropped.
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        let out: &[u8] = if chunked {
            framed.clear();
            encode_chunk(&mut framed, &data);
            &framed
        } else {
            &data
        };
        write_client(wr, out, idle).await?;
        meter.down(data.len());
    }
    if chunked {
        write_client(wr, LAST_CHUNK, idle).await?;
    }
    Ok(())
}

async fn write_client<W: AsyncWrite + Unpin>(
    wr: &mut W,
    bytes: &[u8],
    idle: Duration,
) -> Result<(), CloseReason> {
    match timeout(idle, wr.write_all(bytes)).await {
        Err(_) => Err(CloseReason::IdleTimeout),
        Ok(Err(e)) => Err(client_error(&e)),
        Ok(Ok(())) => Ok(()),
    }
}

/// The origin's body broke off: a reset, or the origin closing early.
fn origin_error(e: &hyper::Error) -> CloseReason {
    let reset = std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .is_some_and(is_reset);
    if reset {
        CloseReason::ServerReset
    } else if e.is_incomplete_message() {
        CloseReason::ServerFin
    } else {
        CloseReason::Error
    }
}

/// What the body pump did with the client's request body.
#[derive(Debug, PartialEq, Eq)]
enum Pumped {
    /// The body was read to its end; these bytes came after it.
    Complete(Vec<u8>),
    /// hyper stopped taking the body (the origin answered or failed first),
    /// so the rest of it was not read.
    Abandoned,
}

/// How the request body is delimited while pumping.
enum Framer {
    Length(u64),
    Chunked(ChunkedDecoder),
}

enum Feed {
    Malformed,
    Abandoned,
}

/// Streams the client's request body, decoded, into hyper's body channel:
/// first the bytes read with the head, then the socket.
async fn pump_body<R: AsyncRead + Unpin>(
    rd: &mut R,
    leftover: Vec<u8>,
    framing: BodyFraming,
    tx: Option<mpsc::Sender<Piece>>,
    idle: Duration,
    buf: &mut [u8],
    meter: &Meter<'_>,
) -> Result<Pumped, CloseReason> {
    let mut framer = match framing {
        BodyFraming::Empty => return Ok(Pumped::Complete(leftover)),
        BodyFraming::Length(n) => Framer::Length(n),
        BodyFraming::Chunked => Framer::Chunked(ChunkedDecoder::new()),
    };
    let Some(tx) = tx else {
        return Ok(Pumped::Complete(leftover));
    };
    let ended = |used: usize, input: &[u8]| Pumped::Complete(input[used..].to_vec());
    match feed(&mut framer, &leftover, &tx, meter).await {
        Ok(Some(used)) => {
            let _ = tx.send(Piece::End).await;
            return Ok(ended(used, &leftover));
        }
        Ok(None) => {}
        Err(Feed::Abandoned) => return Ok(Pumped::Abandoned),
        Err(Feed::Malformed) => return Err(CloseReason::Rejected),
    }
    loop {
        let n = match timeout(idle, rd.read(buf)).await {
            Err(_) => return Err(CloseReason::IdleTimeout),
            // The client closed before its body was complete.
            Ok(Ok(0)) => return Err(CloseReason::ClientFin),
            Ok(Ok(n)) => n,
            Ok(Err(e)) => return Err(client_error(&e)),
        };
        match feed(&mut framer, &buf[..n], &tx, meter).await {
            Ok(Some(used)) => {
                let _ = tx.send(Piece::End).await;
                return Ok(ended(used, &buf[..n]));
            }
            Ok(None) => {}
            Err(Feed::Abandoned) => return Ok(Pumped::Abandoned),
            Err(Feed::Malformed) => return Err(CloseReason::Rejected),
        }
    }
}

/// Sends the body bytes in `input`; when the body ends in it, returns how
/// many input bytes belonged to the body.
async fn feed(
    framer: &mut Framer,
    input: &[u8],
    tx: &mpsc::Sender<Piece>,
    meter: &Meter<'_>,
) -> Result<Option<usize>, Feed> {
    let mut off = 0;
    loop {
        let data = match framer {
            Framer::Length(0) => return Ok(Some(off)),
            Framer::Chunked(dec) if dec.is_done() => return Ok(Some(off)),
            _ if off == input.len() => return Ok(None),
            Framer::Length(left) => {
                let n = (*left).min((input.len() - off) as u64) as usize;
                *left -= n as u64;
                off += n;
                &input[off - n..off]
            }
            Framer::Chunked(dec) => {
                let step = dec.step(&input[off..]).map_err(|_| Feed::Malformed)?;
                let data = step.data.map(|r| &input[off..][r]);
                off += step.consumed;
                match data {
                    Some(d) => d,
                    None => continue,
                }
            }
        };
        tx.send(Piece::Data(Bytes::copy_from_slice(data)))
            .await
            .map_err(|_| Feed::Abandoned)?;
        meter.up(data.len());
    }
}

/// A message from the body pump to hyper.
pub(crate) enum Piece {
    /// Body bytes.
    Data(Bytes),
    /// The body is complete.
    End,
}

/// The request body hyper sends upstream, fed through a channel so it
/// streams and is never buffered whole.
pub(crate) struct RequestBody {
    rx: Option<mpsc::Receiver<Piece>>,
    hint: SizeHint,
}

/// The client's body ended before its framing said it would.
#[derive(Debug, thiserror::Error)]
#[error("the client's request body ended early")]
pub(crate) struct BodyAborted;

impl RequestBody {
    fn new(framing: BodyFraming) -> (RequestBody, Option<mpsc::Sender<Piece>>) {
        let hint = match framing {
            BodyFraming::Empty => SizeHint::with_exact(0),
            BodyFraming::Length(n) => SizeHint::with_exact(n),
            BodyFraming::Chunked => SizeHint::new(),
        };
        if framing == BodyFraming::Empty {
            return (RequestBody { rx: None, hint }, None);
        }
        let (tx, rx) = mpsc::channel(BODY_QUEUE);
        (RequestBody { rx: Some(rx), hint }, Some(tx))
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyAborted;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyAborted>>> {
        let this = self.get_mut();
        let Some(rx) = &mut this.rx else {
            return Poll::Ready(None);
        };
        let piece = ready!(rx.poll_recv(cx));
        match piece {
            Some(Piece::Data(bytes)) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
            Some(Piece::End) => {
                this.rx = None;
                Poll::Ready(None)
            }
            None => {
                this.rx = None;
                Poll::Ready(Some(Err(BodyAborted)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rx.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pump(input: &[&[u8]], framing: BodyFraming) -> (Result<Pumped, CloseReason>, Vec<u8>) {
        let (mut client, mut proxy) = tokio::io::duplex(1024);
        let (leftover, rest) = input.split_first().unwrap();
        for piece in rest {
            client.write_all(piece).await.unwrap();
        }
        drop(client);
        let (mut body, tx) = RequestBody::new(framing);
        let mut buf = vec![0; 64];
        let (events, _rx) = tokio::sync::broadcast::channel(16);
        let emitter = Emitter::new(1, events);
        let meter = Meter::new(&emitter, 0, 0);
        let collect = async {
            let mut got = Vec::new();
            while let Some(Ok(frame)) = body.frame().await {
                got.extend_from_slice(&frame.into_data().unwrap_or_default());
            }
            got
        };
        let (r, got) = tokio::join!(
            pump_body(
                &mut proxy,
                leftover.to_vec(),
                framing,
                tx,
                Duration::from_secs(5),
                &mut buf,
                &meter
            ),
            collect
        );
        if r.is_ok() {
            assert_eq!(meter.totals().0, got.len() as u64);
        }
        (r, got)
    }

    #[tokio::test]
    async fn length_body_stops_at_its_end() {
        let (r, got) = pump(
            &[b"hel", b"lo", b"GET / HTTP/1.1\r\n"],
            BodyFraming::Length(5),
        )
        .await;
        assert_eq!(got, b"hello");
        assert_eq!(r, Ok(Pumped::Complete(b"GET / HTTP/1.1\r\n".to_vec())));
        let (r, got) = pump(&[b"helloNEXT"], BodyFraming::Length(5)).await;
        assert_eq!(
            (r, got),
            (Ok(Pumped::Complete(b"NEXT".to_vec())), b"hello".to_vec())
        );
    }

    #[tokio::test]
    async fn chunked_body_is_decoded() {
        let (r, got) = pump(&[b"5\r\nhel", b"lo\r\n0\r\n\r\nNEXT"], BodyFraming::Chunked).await;
        assert_eq!(got, b"hello");
        assert_eq!(r, Ok(Pumped::Complete(b"NEXT".to_vec())));
    }

    #[tokio::test]
    async fn broken_bodies_close() {
        let (r, _) = pump(&[b"5\r\nhelloXX"], BodyFraming::Chunked).await;
        assert_eq!(r, Err(CloseReason::Rejected));
        let (r, _) = pump(&[b"hel"], BodyFraming::Length(5)).await;
        assert_eq!(r, Err(CloseReason::ClientFin));
    }

    #[tokio::test]
    async fn empty_body_hands_everything_on() {
        let (r, got) = pump(&[b"GET /next"], BodyFraming::Empty).await;
        assert_eq!(r, Ok(Pumped::Complete(b"GET /next".to_vec())));
        assert!(got.is_empty());
    }
}
