//! Message bodies, h11-style: a reader that takes framed bytes in any pieces
//! and hands out the payload, and a writer that frames payload for the other
//! side. Request bodies go client → origin through one of each, response
//! bodies origin → client; nothing framed is ever passed through as is.

use serde::Serialize;

use crate::chunked::{encode_chunk, ChunkError, ChunkEvent, ChunkedDecoder, LAST_CHUNK};
use crate::framing::{BodyFraming, ResponseBody};

/// Reads one body's payload out of framed bytes.
#[derive(Clone, Debug)]
pub enum BodyReader {
    /// This many payload bytes are still to come.
    Length(u64),
    /// Chunked framing.
    Chunked(ChunkedDecoder),
    /// Everything until the sender closes.
    UntilClose,
    /// The body is complete.
    Done,
}

/// What a [`BodyReader`] hands out: payload, and where the sender's chunks
/// begin and end (so they can be kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyPiece<'a> {
    /// A chunk of this many payload bytes begins.
    Chunk(u64),
    /// Payload.
    Data(&'a [u8]),
    /// The current chunk ended.
    ChunkEnd,
}

/// The framed bytes can never make a valid body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Bad chunked framing.
    Chunked(ChunkError),
    /// The sender closed before the body was complete.
    Incomplete,
}

impl BodyError {
    /// What is wrong, in words.
    pub fn describe(self) -> &'static str {
        match self {
            BodyError::Chunked(e) => e.describe(),
            BodyError::Incomplete => "the body ended before its framing said it would",
        }
    }
}

impl BodyReader {
    /// A reader for a request body framed as `framing`.
    pub fn for_request(framing: BodyFraming) -> BodyReader {
        match framing {
            BodyFraming::Empty | BodyFraming::Length(0) => BodyReader::Done,
            BodyFraming::Length(n) => BodyReader::Length(n),
            BodyFraming::Chunked => BodyReader::Chunked(ChunkedDecoder::new()),
        }
    }

    /// A reader for a response body framed as `framing`.
    pub fn for_response(framing: ResponseBody) -> BodyReader {
        match framing {
            ResponseBody::Empty | ResponseBody::Length(0) => BodyReader::Done,
            ResponseBody::Length(n) => BodyReader::Length(n),
            ResponseBody::Chunked => BodyReader::Chunked(ChunkedDecoder::new()),
            ResponseBody::UntilClose => BodyReader::UntilClose,
        }
    }

    /// Whether the whole body has been read.
    pub fn is_done(&self) -> bool {
        match self {
            BodyReader::Done => true,
            BodyReader::Chunked(d) => d.is_done(),
            _ => false,
        }
    }

    /// Reads `input`, handing each piece to `sink`, until the body ends or
    /// the input runs out. Returns how many input bytes belonged to the
    /// body; bytes after its end are left alone.
    pub fn read<'a>(
        &mut self,
        input: &'a [u8],
        mut sink: impl FnMut(BodyPiece<'a>),
    ) -> Result<usize, BodyError> {
        match self {
            BodyReader::Done => Ok(0),
            BodyReader::UntilClose => {
                if !input.is_empty() {
                    sink(BodyPiece::Data(input));
                }
                Ok(input.len())
            }
            BodyReader::Length(left) => {
                // `n` is at most `input.len()`, so it fits a usize.
                let n = (*left).min(input.len() as u64) as usize;
                if n > 0 {
                    sink(BodyPiece::Data(&input[..n]));
                }
                *left -= n as u64;
                if *left == 0 {
                    *self = BodyReader::Done;
                }
                Ok(n)
            }
            BodyReader::Chunked(decoder) => {
                let mut used = 0;
                while used < input.len() && !decoder.is_done() {
                    let rest = &input[used..];
                    let step = decoder.step(rest).map_err(BodyError::Chunked)?;
                    match step.event {
                        Some(ChunkEvent::Start(n)) => sink(BodyPiece::Chunk(n)),
                        Some(ChunkEvent::Data(range)) => sink(BodyPiece::Data(&rest[range])),
                        Some(ChunkEvent::End) => sink(BodyPiece::ChunkEnd),
                        Some(ChunkEvent::Last) | None => {}
                    }
                    used += step.consumed;
                }
                Ok(used)
            }
        }
    }

    /// The sender closed: a body read until the close is now complete; any
    /// other unfinished body is cut short.
    pub fn end_of_input(&mut self) -> Result<(), BodyError> {
        match self {
            BodyReader::UntilClose => {
                *self = BodyReader::Done;
                Ok(())
            }
            _ if self.is_done() => Ok(()),
            _ => Err(BodyError::Incomplete),
        }
    }
}

/// How payload is framed for the side it goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyWriter {
    /// No body is sent.
    Nothing,
    /// Payload as is: the length was announced, or the connection's close ends it.
    Plain,
    /// Chunked, one chunk per piece of payload as it comes (the source had no chunks).
    Chunked,
    /// Chunked with the sender's own chunk sizes: the same bytes go out
    /// however the input was split.
    SameChunks,
}

impl BodyWriter {
    /// Appends `piece`, framed, to `out`.
    pub fn write(self, piece: BodyPiece<'_>, out: &mut Vec<u8>) {
        match (self, piece) {
            (BodyWriter::Nothing, _) => {}
            (BodyWriter::Plain | BodyWriter::SameChunks, BodyPiece::Data(d)) => {
                out.extend_from_slice(d)
            }
            (BodyWriter::Chunked, BodyPiece::Data(d)) => encode_chunk(out, d),
            (BodyWriter::SameChunks, BodyPiece::Chunk(n)) => {
                out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            }
            (BodyWriter::SameChunks, BodyPiece::ChunkEnd) => out.extend_from_slice(b"\r\n"),
            (_, BodyPiece::Chunk(_) | BodyPiece::ChunkEnd) => {}
        }
    }

    /// Appends what ends the body (the last chunk, with no trailers).
    pub fn finish(self, out: &mut Vec<u8>) {
        if matches!(self, BodyWriter::Chunked | BodyWriter::SameChunks) {
            out.extend_from_slice(LAST_CHUNK);
        }
    }
}

/// The payload length of a piece (0 for chunk marks).
pub fn payload_len(piece: BodyPiece<'_>) -> usize {
    match piece {
        BodyPiece::Data(d) => d.len(),
        BodyPiece::Chunk(_) | BodyPiece::ChunkEnd => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `input` fed `piece` bytes at a time, writing with `writer`:
    /// (what was written, bytes after the end, done).
    fn read_all(
        mut reader: BodyReader,
        writer: BodyWriter,
        input: &[u8],
        piece: usize,
    ) -> Result<(Vec<u8>, Vec<u8>, bool), BodyError> {
        let mut out = Vec::new();
        let mut rest = Vec::new();
        for chunk in input.chunks(piece) {
            if reader.is_done() {
                rest.extend_from_slice(chunk);
                continue;
            }
            let used = reader.read(chunk, |p| writer.write(p, &mut out))?;
            rest.extend_from_slice(&chunk[used..]);
        }
        if reader.is_done() {
            writer.finish(&mut out);
        }
        Ok((out, rest, reader.is_done()))
    }

    #[test]
    fn every_framing_in_any_pieces() {
        let plain = BodyWriter::Plain;
        for piece in [1, 2, 5, 1000] {
            let r = read_all(BodyReader::Length(5), plain, b"helloGET /", piece).unwrap();
            assert_eq!(r, (b"hello".to_vec(), b"GET /".to_vec(), true));
            let chunked = BodyReader::for_request(BodyFraming::Chunked);
            let r = read_all(
                chunked,
                plain,
                b"2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\nNEXT",
                piece,
            )
            .unwrap();
            assert_eq!(r, (b"hello".to_vec(), b"NEXT".to_vec(), true));
            let r = read_all(BodyReader::UntilClose, plain, b"all of it", piece).unwrap();
            assert_eq!(r, (b"all of it".to_vec(), Vec::new(), false));
        }
    }

    #[test]
    fn chunks_are_kept_whatever_the_split() {
        let input = b"2;x=y\r\nhe\r\n3\r\nllo\r\n0\r\nT: 1\r\n\r\n";
        for piece in [1, 2, 3, 1000] {
            let reader = BodyReader::for_request(BodyFraming::Chunked);
            let (out, _, done) = read_all(reader, BodyWriter::SameChunks, input, piece).unwrap();
            assert!(done);
            assert_eq!(
                out, b"2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n",
                "pieces of {piece}"
            );
        }
    }

    #[test]
    fn ends_and_errors() {
        assert!(BodyReader::for_request(BodyFraming::Length(0)).is_done());
        let mut r = BodyReader::UntilClose;
        assert_eq!(r.end_of_input(), Ok(()));
        assert!(r.is_done());
        let mut r = BodyReader::Length(3);
        assert_eq!(r.end_of_input(), Err(BodyError::Incomplete));
        let reader = BodyReader::Chunked(ChunkedDecoder::new());
        let bad = read_all(reader, BodyWriter::Plain, b"5\r\nhelloXX", 1000);
        assert_eq!(bad, Err(BodyError::Chunked(ChunkError::MissingCrlf)));
    }

    #[test]
    fn writers_frame_payload() {
        let mut out = Vec::new();
        BodyWriter::Chunked.write(BodyPiece::Data(b"hello"), &mut out);
        BodyWriter::Chunked.write(BodyPiece::Data(b""), &mut out);
        BodyWriter::Chunked.finish(&mut out);
        assert_eq!(out, b"5\r\nhello\r\n0\r\n\r\n");
        let mut out = Vec::new();
        BodyWriter::Plain.write(BodyPiece::Data(b"hello"), &mut out);
        BodyWriter::Plain.finish(&mut out);
        assert_eq!(out, b"hello");
    }
}
