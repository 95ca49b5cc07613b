//! The `tls` target: the ClientHello peek never panics, decides once (a
//! longer stream never changes a decided answer, so looking again only when
//! [`tls::bytes_needed`] have come cannot change it either), reads a hello
//! split over several records as it reads it in one, escapes what it
//! reports, and finds the SNI it was given.

use burrow_core::escape::{is_escaped, PeerText};
use burrow_core::tls::{self, Peek};

use crate::input::{pieces, Input};

/// The largest handshake fragment one record may carry (RFC 8446 §5.1).
const MAX_FRAGMENT: usize = 1 << 14;

/// Runs one input: a mode byte, split sizes, then the stream or a name.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.byte();
    let count = usize::from(input.byte() % 16);
    let sizes = input.bytes(count).to_vec();
    let host_len = usize::from(input.byte() % 64);
    let host = String::from_utf8_lossy(input.bytes(host_len)).into_owned();
    let bytes = input.rest();
    match mode % 3 {
        0 => stream(bytes, &sizes, &host),
        1 => fragments(bytes, &sizes),
        _ => named(bytes, &sizes),
    }
}

/// Arbitrary tunnel bytes.
fn stream(bytes: &[u8], sizes: &[u8], host: &str) {
    let bytes = &bytes[..bytes.len().min(tls::MAX_PEEK)];
    let whole = tls::peek(bytes);
    check_reported(&whole, host);
    // Every answer a prefix decides is the answer for the whole stream.
    let mut end = 0;
    for part in pieces(bytes, sizes) {
        let early = tls::peek(&bytes[..end]);
        if early != Peek::NeedMore {
            assert_eq!(
                early,
                whole,
                "a decided peek changed with {} more bytes",
                bytes.len() - end
            );
        }
        end += part.len();
    }
    // The tunnel's way of looking, only once `bytes_needed` have come,
    // decides as a look at every byte would (it may decide later, never otherwise).
    let (mut next_look, mut end) = (0, 0);
    for part in pieces(bytes, sizes) {
        end += part.len();
        if end < next_look {
            continue;
        }
        let seen = &bytes[..end];
        match tls::peek(seen) {
            Peek::NeedMore => {
                next_look = tls::bytes_needed(seen).max(end + 1);
            }
            decided => {
                assert_eq!(decided, whole, "decided on {end} of {} bytes", bytes.len());
                break;
            }
        }
    }
}

/// What the peek reports is escaped, and comparing it with a host is total.
fn check_reported(peek: &Peek, host: &str) {
    if let Peek::Hello(hello) = peek {
        if let Some(sni) = &hello.sni {
            assert!(is_escaped(sni.as_str()), "unescaped SNI {sni:?}");
        }
        for name in &hello.alpn {
            assert!(is_escaped(name.as_str()), "unescaped ALPN {name:?}");
        }
    }
    let check = tls::check_sni(host, peek);
    assert_eq!(check.is_none(), *peek == Peek::NeedMore);
}

/// Handshake bytes in one record, or spread over several: the same answer.
fn fragments(handshake: &[u8], sizes: &[u8]) {
    let handshake = &handshake[..handshake.len().min(MAX_FRAGMENT)];
    let one = records(&[handshake]);
    let many = records(&pieces(handshake, sizes));
    assert_eq!(tls::peek(&many), tls::peek(&one), "fragmented differently");
}

/// A ClientHello naming `name` (bytes of the input), maybe fragmented.
fn named(name: &[u8], sizes: &[u8]) {
    let name = String::from_utf8_lossy(&name[..name.len().min(255)]).into_owned();
    if name.is_empty() {
        return;
    }
    let hello = tls::client_hello(Some(&name));
    let expected = {
        let mut raw = name.as_bytes().to_ascii_lowercase();
        if raw.last() == Some(&b'.') {
            raw.pop();
        }
        // The core keeps a DNS name's worth of it.
        PeerText::shown(&raw, tls::MAX_SNI_KEPT)
    };
    let many = records(&pieces(&hello[5..], sizes));
    for bytes in [&hello, &many] {
        match tls::peek(bytes) {
            Peek::Hello(h) if expected.as_str().is_empty() => {
                panic!("an empty SNI was accepted: {h:?}")
            }
            Peek::Hello(h) => assert_eq!(h.sni.as_ref(), Some(&expected)),
            // An SNI of only a dot is empty once the dot is gone: refused.
            Peek::Malformed if expected.as_str().is_empty() => {}
            other => panic!("the hello for {name:?} reads as {other:?}"),
        }
    }
}

/// `parts` as consecutive handshake records.
fn records(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts.iter().filter(|p| !p.is_empty()) {
        out.extend_from_slice(&[22, 3, 1]);
        out.extend_from_slice(&(part.len() as u16).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}
