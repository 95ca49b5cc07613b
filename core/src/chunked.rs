//! The chunked transfer coding (RFC 9112 §7.1): decoding a client's request
//! body or an origin's response body, and encoding a body of unknown length.
//! Bodies are always decoded and re-encoded, never passed through, so a
//! lenient reading on either side cannot smuggle a message.

use std::ops::Range;

/// The longest chunk-size line (size plus extensions) accepted.
const MAX_LINE: usize = 4096;
/// The most trailer-section bytes accepted; trailers are read and dropped.
const MAX_TRAILERS: usize = 16 * 1024;

/// The chunked body is not well formed; the connection is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// The chunk-size line is not hex digits (at most 16) plus extensions and CRLF.
    BadSize,
    /// A chunk's data, or a trailer line, is not followed by CRLF.
    MissingCrlf,
    /// A size line or the trailer section is longer than allowed.
    TooLong,
}

impl ChunkError {
    /// What is wrong, for a response body or a log line.
    pub fn describe(self) -> &'static str {
        match self {
            ChunkError::BadSize => "a chunk-size line is not hexadecimal digits followed by CRLF",
            ChunkError::MissingCrlf => "chunk data or a trailer line is not followed by CRLF",
            ChunkError::TooLong => "a chunk-size line or the trailer section is too long",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

/// What one call to [`ChunkedDecoder::step`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Input bytes used.
    pub consumed: usize,
    /// What those bytes were, when they completed something.
    pub event: Option<ChunkEvent>,
}

/// A landmark of the chunked framing, so a re-encoder can keep the
/// sender's chunk boundaries (and so produce the same bytes however the
/// input was split).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChunkEvent {
    /// A chunk of this many bytes begins.
    Start(u64),
    /// Chunk data, as a range of the input.
    Data(Range<usize>),
    /// The current chunk's data ended.
    End,
    /// The last chunk and the trailer section have been read.
    Last,
}

/// An incremental decoder: feed it bytes as they arrive, in any pieces.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    line: Vec<u8>,
    trailer_bytes: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> Self {
        ChunkedDecoder {
            state: State::Size,
            line: Vec::new(),
            trailer_bytes: 0,
        }
    }

    /// Whether the last chunk and the trailer section have been read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes framing bytes from `input` until something happens (a
    /// [`ChunkEvent`]), or the input runs out. Bytes after the body's end are
    /// not consumed.
    pub fn step(&mut self, input: &[u8]) -> Result<Step, ChunkError> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Done => break,
                State::Data(left) => {
                    let avail = (input.len() - i) as u64;
                    let n = left.min(avail);
                    self.state = if n == left {
                        State::DataEnd
                    } else {
                        State::Data(left - n)
                    };
                    // n <= avail, which came from a usize.
                    let end = i + n as usize;
                    return Ok(Step {
                        consumed: end,
                        event: Some(ChunkEvent::Data(i..end)),
                    });
                }
                State::Size | State::DataEnd | State::Trailers => {
                    let rest = &input[i..];
                    let (piece, complete) = match rest.iter().position(|&b| b == b'\n') {
                        Some(p) => (&rest[..=p], true),
                        None => (rest, false),
                    };
                    // Fail at the first wrong byte rather than waiting for a line
                    // end, and before the length check: a long run after chunk
                    // data is the same error however it is split (found by fuzzing).
                    let seen = self.line.len();
                    if self.state == State::DataEnd
                        && b"\r\n".get(seen..seen + piece.len()) != Some(piece)
                    {
                        return Err(ChunkError::MissingCrlf);
                    }
                    if self.line.len() + piece.len() > MAX_LINE {
                        return Err(ChunkError::TooLong);
                    }
                    self.line.extend_from_slice(piece);
                    i += piece.len();
                    if complete {
                        if let Some(event) = self.end_of_line()? {
                            return Ok(Step {
                                consumed: i,
                                event: Some(event),
                            });
                        }
                    }
                }
            }
        }
        Ok(Step {
            consumed: i,
            event: None,
        })
    }

    fn end_of_line(&mut self) -> Result<Option<ChunkEvent>, ChunkError> {
        let line = std::mem::take(&mut self.line);
        let (state, event) = match self.state {
            State::Size => match chunk_size(&line)? {
                0 => (State::Trailers, None),
                n => (State::Data(n), Some(ChunkEvent::Start(n))),
            },
            State::DataEnd if line == b"\r\n" => (State::Size, Some(ChunkEvent::End)),
            State::DataEnd => return Err(ChunkError::MissingCrlf),
            State::Trailers if line == b"\r\n" => (State::Done, Some(ChunkEvent::Last)),
            State::Trailers if !line.ends_with(b"\r\n") => return Err(ChunkError::MissingCrlf),
            State::Trailers => {
                self.trailer_bytes += line.len();
                if self.trailer_bytes > MAX_TRAILERS {
                    return Err(ChunkError::TooLong);
                }
                (State::Trailers, None)
            }
            State::Data(_) | State::Done => (self.state, None),
        };
        self.state = state;
        // Reuse the allocation for the next line.
        self.line = line;
        self.line.clear();
        Ok(event)
    }
}

/// Parses one complete chunk-size line, CRLF included.
fn chunk_size(line: &[u8]) -> Result<u64, ChunkError> {
    // httparse accepts a line with no digits at all as size 0; a size is required.
    if !line.first().is_some_and(u8::is_ascii_hexdigit) {
        return Err(ChunkError::BadSize);
    }
    match httparse::parse_chunk_size(line) {
        Ok(httparse::Status::Complete((used, size))) if used == line.len() => Ok(size),
        _ => Err(ChunkError::BadSize),
    }
}

/// The last chunk with an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Appends `data` to `out` as one chunk. Empty data would end the body, so
/// it appends nothing.
pub fn encode_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    use std::io::Write as _;
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed `piece` bytes at a time: (body, bytes left after the end, done).
    fn decode(input: &[u8], piece: usize) -> Result<(Vec<u8>, Vec<u8>, bool), ChunkError> {
        let mut dec = ChunkedDecoder::new();
        let mut body = Vec::new();
        let mut rest = Vec::new();
        for chunk in input.chunks(piece) {
            let mut off = 0;
            while off < chunk.len() {
                if dec.is_done() {
                    rest.extend_from_slice(&chunk[off..]);
                    break;
                }
                let step = dec.step(&chunk[off..])?;
                if let Some(ChunkEvent::Data(r)) = step.event {
                    body.extend_from_slice(&chunk[off..][r]);
                }
                off += step.consumed;
            }
        }
        Ok((body, rest, dec.is_done()))
    }

    fn check(input: &str, body: &str, rest: &str) {
        for piece in [1, 2, 3, 7, usize::MAX] {
            let (b, r, done) = decode(input.as_bytes(), piece).unwrap();
            assert!(done, "{input:?} in pieces of {piece}");
            assert_eq!(String::from_utf8(b).unwrap(), body, "{input:?}/{piece}");
            assert_eq!(String::from_utf8(r).unwrap(), rest, "{input:?}/{piece}");
        }
    }

    fn fails(input: &str, error: ChunkError) {
        for piece in [1, usize::MAX] {
            assert_eq!(
                decode(input.as_bytes(), piece).unwrap_err(),
                error,
                "{input:?}"
            );
        }
    }

    #[test]
    fn decodes_whole_and_in_pieces() {
        check("0\r\n\r\n", "", "");
        check("5\r\nhello\r\n0\r\n\r\n", "hello", "");
        check(
            "3\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\nGET /",
            "abc0123456789",
            "GET /",
        );
        check("5;name=value\r\nhello\r\n0;x\r\n\r\n", "hello", "");
        check(
            "5\r\nhello\r\n0\r\nX-Trailer: 1\r\nOther: 2\r\n\r\nnext",
            "hello",
            "next",
        );
        check("00000003\r\nabc\r\n0\r\n\r\n", "abc", "");
    }

    #[test]
    fn rejects_malformed_chunks() {
        fails("x\r\n", ChunkError::BadSize);
        fails("\r\n", ChunkError::BadSize);
        fails(";ext\r\n", ChunkError::BadSize);
        fails("-1\r\n", ChunkError::BadSize);
        fails("5\nhello", ChunkError::BadSize);
        fails("5\r\nhelloXX\r\n", ChunkError::MissingCrlf);
        fails("5\r\nhello0\r\n", ChunkError::MissingCrlf);
        // Detected at the first wrong byte, without waiting for a line end.
        fails("5\r\nhelloX", ChunkError::MissingCrlf);
        fails(
            &format!("5\r\nhello{}", "X".repeat(MAX_LINE + 1)),
            ChunkError::MissingCrlf,
        );
        // 17 hex digits would overflow u64 (RUSTSEC-2021-0079).
        fails("10000000000000000\r\n", ChunkError::BadSize);
        fails(
            &format!("1;{}\r\n", "x".repeat(MAX_LINE)),
            ChunkError::TooLong,
        );
        let trailers = format!("0\r\n{}", "X-T: 1234567890\r\n".repeat(1200));
        fails(&trailers, ChunkError::TooLong);
        // Bare LF ends no line of the chunked framing (Go CVE-2025-22871).
        fails("0\r\n\n", ChunkError::MissingCrlf);
        fails("0\r\nX: 1\n\r\n", ChunkError::MissingCrlf);
    }

    #[test]
    fn sixteen_hex_digits_are_accepted() {
        let mut dec = ChunkedDecoder::new();
        let step = dec.step(b"ffffffffffffffff\r\nab").unwrap();
        assert_eq!(step.event, Some(ChunkEvent::Start(u64::MAX)));
        let step = dec.step(b"ab").unwrap();
        assert_eq!(step.event, Some(ChunkEvent::Data(0..2)));
        assert!(!dec.is_done());
    }

    #[test]
    fn incomplete_body_is_not_done() {
        let (body, _, done) = decode(b"5\r\nhel", usize::MAX).unwrap();
        assert_eq!(body, b"hel");
        assert!(!done);
    }

    #[test]
    fn encodes_chunks() {
        let mut out = Vec::new();
        encode_chunk(&mut out, b"hello");
        encode_chunk(&mut out, b"");
        encode_chunk(&mut out, &[b'x'; 26]);
        out.extend_from_slice(LAST_CHUNK);
        let expected = format!("5\r\nhello\r\n1a\r\n{}\r\n0\r\n\r\n", "x".repeat(26));
        assert_eq!(String::from_utf8(out.clone()).unwrap(), expected);
        let (body, rest, done) = decode(&out, 4).unwrap();
        assert_eq!(body.len(), 31);
        assert!(rest.is_empty() && done);
    }
}
