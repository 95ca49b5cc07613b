//! The `head` target: request heads ([`HeadReader`]) and origin response
//! heads ([`ResponseReader`]) must give the same answer whole, byte by byte
//! and in any other split, and a request head's cost must stay linear.

use burrow_core::head::{HeadParse, HeadReader};
use burrow_core::origin::{ResponseParse, ResponseReader};
use burrow_core::settings::HeadLimits;

use crate::input::{pieces, Input};

/// Runs one input: a mode byte, limits, split sizes, then the head bytes.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.byte();
    let limits = limits(&mut input);
    let count = usize::from(input.byte() % 32);
    let sizes = input.bytes(count).to_vec();
    let bytes = input.rest();
    if mode & 1 == 0 {
        request(bytes, &sizes, &limits);
    } else {
        response(bytes, &sizes, &limits);
    }
}

/// The defaults, the smallest `validate` accepts, or tiny ones (which
/// `validate` refuses, but the readers must still be consistent under).
fn limits(input: &mut Input<'_>) -> HeadLimits {
    let small = HeadLimits {
        request_line: 1024,
        headers: 16,
        head_bytes: 1024,
        response_headers: 16,
        response_head_bytes: 1024,
    };
    match input.byte() % 3 {
        0 => HeadLimits::default(),
        1 => small,
        _ => HeadLimits {
            request_line: usize::from(input.byte()) + 1,
            headers: usize::from(input.byte() % 8),
            head_bytes: usize::from(input.u16() % 1024) + 1,
            response_headers: usize::from(input.byte() % 8),
            // At least `HTTP/`: below that, a head too large is seen before one
            // that is not HTTP in some splits, a limit `validate` (1024) rules out.
            response_head_bytes: usize::from(input.u16() % 1024) + 5,
        },
    }
}

/// Feeds `bytes` in `parts` to a fresh reader, as the connection does:
/// the buffer grows and the reader looks only at what is new.
fn feed_request(bytes: &[u8], parts: &[&[u8]], limits: &HeadLimits) -> (HeadParse, u64) {
    let mut reader = HeadReader::new();
    let mut end = 0;
    let mut result = HeadParse::Partial;
    for part in parts {
        end += part.len();
        result = reader.advance(&bytes[..end], limits);
        if result != HeadParse::Partial {
            break;
        }
    }
    (result, reader.work())
}

fn request(bytes: &[u8], sizes: &[u8], limits: &HeadLimits) {
    let (whole, whole_work) = feed_request(bytes, &[bytes], limits);
    assert_eq!(whole, burrow_core::head::parse(bytes, limits));
    let ones: Vec<&[u8]> = bytes.chunks(1).collect();
    let (by_byte, byte_work) = feed_request(bytes, &ones, limits);
    assert_eq!(by_byte, whole, "byte by byte differs from whole");
    let (split, split_work) = feed_request(bytes, &pieces(bytes, sizes), limits);
    assert_eq!(split, whole, "split {sizes:?} differs from whole");
    // Linear cost whatever the split: the bound the head tests hold.
    for work in [whole_work, byte_work, split_work] {
        assert!(
            work <= 3 * bytes.len() as u64,
            "work {work} for {} bytes",
            bytes.len()
        );
    }
    if let HeadParse::Complete(head, len) = &whole {
        assert_eq!((byte_work, split_work), (whole_work, whole_work));
        assert!(*len <= bytes.len() && *len <= limits.head_bytes);
        assert!(head.headers.len() <= limits.headers);
        assert!(!head.method.is_empty() && !head.target.is_empty());
        // The head alone reads the same as the head with what followed it.
        assert_eq!(burrow_core::head::parse(&bytes[..*len], limits), whole);
    }
}

fn feed_response(bytes: &[u8], parts: &[&[u8]], limits: &HeadLimits) -> ResponseParse {
    let mut reader = ResponseReader::new();
    let mut end = 0;
    let mut result = ResponseParse::Partial;
    for part in parts {
        end += part.len();
        result = reader.advance(&bytes[..end], limits);
        if result != ResponseParse::Partial {
            break;
        }
    }
    result
}

fn response(bytes: &[u8], sizes: &[u8], limits: &HeadLimits) {
    let whole = feed_response(bytes, &[bytes], limits);
    let ones: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(feed_response(bytes, &ones, limits), whole, "byte by byte");
    let split = feed_response(bytes, &pieces(bytes, sizes), limits);
    assert_eq!(split, whole, "split {sizes:?} differs from whole");
    if let ResponseParse::Complete(head, len) = &whole {
        assert!(*len <= bytes.len() && *len <= limits.response_head_bytes);
        assert!(head.headers.len() <= limits.response_headers);
        assert!((100..=999).contains(&head.status));
        assert_eq!(
            feed_response(&bytes[..*len], &[&bytes[..*len]], limits),
            whole
        );
    }
}
