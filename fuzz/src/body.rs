//! The `body` target: a body read whole, byte by byte or in any split gives
//! the same payload, the same end and the same error; a body framed anew
//! with the sender's chunks is the same bytes however it arrived; and what
//! a writer frames reads back as the same payload.

use burrow_core::body::{BodyError, BodyPiece, BodyReader, BodyWriter};
use burrow_core::framing::{BodyFraming, ResponseBody};

use crate::input::{pieces, Input};

/// What reading one body produced.
#[derive(Debug, PartialEq, Eq)]
struct Read {
    payload: Vec<u8>,
    /// Input bytes that belonged to the body.
    used: usize,
    done: bool,
    error: Option<BodyError>,
    /// What the writer framed (compared only where framing keeps no trace of the split).
    framed: Vec<u8>,
}

/// Runs one input: framing, writer, split sizes, then the framed bytes.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.byte();
    let length = u64::from(input.u16()) * u64::from(input.byte() % 4 + 1);
    let count = usize::from(input.byte() % 32);
    let sizes = input.bytes(count).to_vec();
    let bytes = input.rest();
    let (reader, writer) = match mode % 6 {
        0 => (
            BodyReader::for_request(BodyFraming::Chunked),
            BodyWriter::SameChunks,
        ),
        1 => (
            BodyReader::for_request(BodyFraming::Chunked),
            BodyWriter::Chunked,
        ),
        2 => (
            BodyReader::for_request(BodyFraming::Length(length)),
            BodyWriter::Plain,
        ),
        3 => (
            BodyReader::for_response(ResponseBody::Length(length)),
            BodyWriter::Chunked,
        ),
        4 => (
            BodyReader::for_response(ResponseBody::Chunked),
            BodyWriter::SameChunks,
        ),
        _ => (
            BodyReader::for_response(ResponseBody::UntilClose),
            BodyWriter::Chunked,
        ),
    };
    let end = mode & 0x80 != 0;
    let whole = read(reader.clone(), writer, &[bytes], end);
    let ones: Vec<&[u8]> = bytes.chunks(1).collect();
    let by_byte = read(reader.clone(), writer, &ones, end);
    let split = read(reader.clone(), writer, &pieces(bytes, &sizes), end);
    for other in [&by_byte, &split] {
        assert_eq!(other.payload, whole.payload, "payload");
        assert_eq!((other.done, other.error), (whole.done, whole.error));
        // After an error, how much was used depends on where the reads ended.
        if whole.error.is_none() {
            assert_eq!(other.used, whole.used, "bytes used");
        }
        // Plain and the sender's own chunks keep no trace of the split.
        if writer != BodyWriter::Chunked {
            assert_eq!(other.framed, whole.framed, "framed anew");
        }
    }
    if let BodyReader::Length(n) = reader {
        assert!(whole.payload.len() as u64 <= n);
    }
    for r in [&whole, &by_byte, &split] {
        reads_back(writer, r);
    }
}

/// Reads `parts` in order until the body ends or fails; `end` then tells
/// the reader the sender closed.
fn read(mut reader: BodyReader, writer: BodyWriter, parts: &[&[u8]], end: bool) -> Read {
    let mut out = Read {
        payload: Vec::new(),
        used: 0,
        done: false,
        error: None,
        framed: Vec::new(),
    };
    for part in parts {
        let result = reader.read(part, |p| {
            if let BodyPiece::Data(d) = p {
                out.payload.extend_from_slice(d);
            }
            writer.write(p, &mut out.framed);
        });
        match result {
            Ok(used) => {
                assert!(used <= part.len());
                out.used += used;
                if used < part.len() {
                    // The body ended; what follows is not the reader's.
                    assert!(reader.is_done());
                    break;
                }
            }
            Err(e) => {
                out.error = Some(e);
                break;
            }
        }
    }
    if out.error.is_none() && end {
        out.error = reader.end_of_input().err();
    }
    out.done = reader.is_done();
    if out.done {
        writer.finish(&mut out.framed);
    }
    out
}

/// A complete body framed by `writer` reads back, whole, as the same payload.
fn reads_back(writer: BodyWriter, r: &Read) {
    if !r.done || r.error.is_some() {
        return;
    }
    let reader = match writer {
        BodyWriter::Nothing => return,
        BodyWriter::Plain => BodyReader::for_request(BodyFraming::Length(r.framed.len() as u64)),
        BodyWriter::Chunked | BodyWriter::SameChunks => {
            BodyReader::for_request(BodyFraming::Chunked)
        }
    };
    let back = read(reader, BodyWriter::Nothing, &[&r.framed], true);
    assert_eq!(back.error, None, "the framed body does not read back");
    assert!(back.done);
    assert_eq!(back.used, r.framed.len());
    assert_eq!(back.payload, r.payload, "payload changed in framing");
}
