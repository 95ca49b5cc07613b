//! The client's side of the `connection` target: reads the bytes Burrow
//! writes as a client would, one response after another, and holds each to
//! the event the core logged for it.

use std::collections::VecDeque;

use burrow_core::body::BodyReader;
use burrow_core::framing::{response_framing, ResponseBody};
use burrow_core::head;
use burrow_core::origin::{ResponseParse, ResponseReader};
use burrow_core::pac;
use burrow_core::response::After;
use burrow_core::settings::HeadLimits;

/// Who the core said would answer next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Who {
    /// A 1xx: Burrow's `100 Continue` or the origin's, relayed.
    Interim,
    /// Burrow itself, and what happens to the connection afterwards.
    Burrow(After),
    /// The origin, relayed, for a request with this method.
    Origin(String),
    /// Burrow's PAC file (to a `HEAD` when `head_only`), and what happens
    /// to the connection afterwards.
    Pac {
        /// The request was a `HEAD`: no body follows.
        head_only: bool,
        /// Kept alive or closed.
        after: After,
    },
}

/// A response the core logged and the client should read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    /// The status logged.
    pub status: u16,
    /// Who answers.
    pub who: Who,
}

#[derive(Debug)]
enum State {
    Head {
        buf: Vec<u8>,
        reader: ResponseReader,
    },
    /// A body; `last` when nothing may follow it (Burrow's own refusal).
    Body { reader: BodyReader, last: bool },
    /// After a 2xx to CONNECT: the tunnel, whose bytes never pass the core.
    Tunnel,
    /// After Burrow's refusal: nothing more may come.
    Done,
}

/// The client reading Burrow's bytes.
#[derive(Debug)]
pub struct ClientView {
    expected: VecDeque<Expected>,
    state: State,
}

impl Default for ClientView {
    fn default() -> Self {
        ClientView {
            expected: VecDeque::new(),
            state: State::Head {
                buf: Vec::new(),
                reader: ResponseReader::new(),
            },
        }
    }
}

/// Heads as large as the core may write (an origin's at its limit, with Via added).
fn limits() -> HeadLimits {
    HeadLimits {
        response_head_bytes: 4 * 1024 * 1024,
        response_headers: 100_000,
        ..HeadLimits::default()
    }
}

impl ClientView {
    /// The core logged a response: its bytes come next, in this order.
    pub fn expect(&mut self, e: Expected) {
        self.expected.push_back(e);
    }

    /// Bytes the view holds itself (not the core's), for the memory check.
    pub fn held(&self) -> usize {
        let buf = match &self.state {
            State::Head { buf, .. } => buf.capacity(),
            _ => 0,
        };
        buf + self.expected.capacity() * std::mem::size_of::<Expected>() + 4096
    }

    /// Reads bytes Burrow wrote to the client.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), String> {
        while !bytes.is_empty() {
            match &mut self.state {
                State::Tunnel => return Err("bytes from the core after a 2xx to CONNECT".into()),
                State::Done => return Err(format!("{} bytes after Burrow's refusal", bytes.len())),
                State::Body { reader, last } => {
                    let last = *last;
                    let used = reader
                        .read(bytes, |_| {})
                        .map_err(|e| format!("a body the client cannot read: {e:?}"))?;
                    bytes = &bytes[used..];
                    if reader.is_done() {
                        self.state = if last { State::Done } else { fresh() };
                    }
                }
                State::Head { buf, reader } => {
                    buf.extend_from_slice(bytes);
                    bytes = &[];
                    let (head, len) = match reader.advance(buf, &limits()) {
                        ResponseParse::Partial => return Ok(()),
                        ResponseParse::Invalid(e) => {
                            return Err(format!("a response head the client cannot read: {e:?}"))
                        }
                        ResponseParse::Complete(head, len) => (head, len),
                    };
                    let rest = buf.split_off(len);
                    self.state = self.head(&head.headers, head.status)?;
                    // Whatever followed the head is read in the new state.
                    if !rest.is_empty() {
                        return self.feed(&rest);
                    }
                }
            }
        }
        Ok(())
    }

    /// A complete head with `status`: checks it against the log and says
    /// how its body is read.
    fn head(&mut self, headers: &[head::Header], status: u16) -> Result<State, String> {
        let Some(e) = self.expected.pop_front() else {
            return Err(format!("a {status} on the wire that no event announced"));
        };
        if e.status != status {
            return Err(format!("the wire says {status}, the log {e:?}"));
        }
        let has = |name: &str| head::values(headers, name).next().is_some();
        match e.who {
            Who::Interim if (100..200).contains(&status) => Ok(fresh()),
            Who::Interim => Err(format!("interim event for a {status}")),
            Who::Burrow(after) if (200..300).contains(&status) => {
                if has("content-length") || has("transfer-encoding") {
                    return Err(format!("a {status} to CONNECT with body framing"));
                }
                if after != After::Tunnel {
                    return Err(format!("a {status} from Burrow followed by {after:?}"));
                }
                Ok(State::Tunnel)
            }
            Who::Burrow(after) => {
                if after != After::Close {
                    return Err(format!("Burrow's {status} does not close ({after:?})"));
                }
                if status == 407 && !has("proxy-authenticate") {
                    return Err("a 407 without Proxy-Authenticate".into());
                }
                if status < 400 {
                    return Err(format!("Burrow answered {status} itself"));
                }
                // Burrow writes its body whatever the method, and closes after it.
                match response_framing("GET", status, headers) {
                    Ok(ResponseBody::Length(n)) => Ok(State::Body {
                        reader: BodyReader::for_response(ResponseBody::Length(n)),
                        last: true,
                    }),
                    other => Err(format!("Burrow's {status} is framed as {other:?}")),
                }
            }
            Who::Pac { head_only, after } => {
                if status != 200 {
                    return Err(format!("the PAC file with status {status}"));
                }
                let pac_type = pac::CONTENT_TYPE.as_bytes();
                if !head::values(headers, "content-type").any(|v| v == pac_type) {
                    return Err("the PAC file without its media type".into());
                }
                if after == After::Tunnel {
                    return Err("a tunnel after the PAC file".into());
                }
                let last = after == After::Close;
                match response_framing("GET", status, headers) {
                    Ok(ResponseBody::Length(_)) if head_only => {
                        Ok(if last { State::Done } else { fresh() })
                    }
                    Ok(ResponseBody::Length(n)) => Ok(State::Body {
                        reader: BodyReader::for_response(ResponseBody::Length(n)),
                        last,
                    }),
                    other => Err(format!("the PAC file is framed as {other:?}")),
                }
            }
            Who::Origin(_) if status < 200 => Err(format!("an origin final response of {status}")),
            Who::Origin(method) => match response_framing(&method, status, headers) {
                Ok(framing) => Ok(State::Body {
                    reader: BodyReader::for_response(framing),
                    last: false,
                }),
                Err(e) => Err(format!("a relayed {status} the client cannot frame: {e:?}")),
            },
        }
    }

    /// The connection closed: every logged response must have been sent.
    pub fn finish(&self) -> Result<(), String> {
        match self.expected.front() {
            Some(e) => Err(format!("logged but never sent: {e:?}")),
            None => Ok(()),
        }
    }
}

fn fresh() -> State {
    State::Head {
        buf: Vec::new(),
        reader: ResponseReader::new(),
    }
}
