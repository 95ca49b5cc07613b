//! The `target` target: CONNECT authorities, absolute URLs, hosts, host
//! patterns and port lists never panic, and what they accept is already in
//! its canonical form's shape: printed and parsed again, it is the same.

use std::str::FromStr;

use burrow_core::policy::HostPattern;
use burrow_core::ports::PortList;
use burrow_core::target::{self, Host};

use crate::input::Input;

/// Runs one input: a mode byte, then the text (invalid UTF-8 replaced, as
/// no target reaches these parsers without being text).
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.byte();
    let text = String::from_utf8_lossy(input.rest()).into_owned();
    match mode % 4 {
        0 => authority(&text),
        1 => absolute(&text),
        2 => host(&text),
        _ => lists(&text),
    }
    let method = if mode & 0x80 != 0 { "CONNECT" } else { "GET" };
    let _ = target::host_field(method, &text);
}

fn authority(text: &str) {
    let Ok(a) = target::parse_authority(text) else {
        return;
    };
    assert_ne!(a.port, 0);
    check_host(&a.host);
    assert_eq!(
        target::parse_authority(&a.to_string()),
        Ok(a.clone()),
        "{}",
        short(text)
    );
}

fn absolute(text: &str) {
    let Ok(uri) = target::parse_absolute(text) else {
        return;
    };
    assert_ne!(uri.authority.port, 0);
    check_host(&uri.authority.host);
    let path = &uri.path_and_query;
    assert!(path.starts_with('/'), "{}", short(path));
    // Nothing that must be percent-encoded (or would end the path) reaches an origin.
    assert!(
        path.bytes()
            .all(|b| b.is_ascii_graphic() && !b"<>`#".contains(&b)),
        "{}",
        short(path)
    );
    let again = target::parse_absolute(&format!("http://{}{path}", uri.authority));
    let again = again.unwrap_or_else(|e| panic!("{} printed does not parse: {e:?}", short(text)));
    assert_eq!(again.authority, uri.authority);
    assert_eq!(&again.path_and_query, path);
}

fn host(text: &str) {
    if let Ok(h) = target::parse_host(text) {
        check_host(&h);
        assert_eq!(target::parse_host(&h.to_string()).ok(), Some(h));
    }
}

/// A name host is lowercase, without a trailing dot, in labels of letters,
/// digits, `-` and `_`, and not a number in disguise.
fn check_host(host: &Host) {
    let Host::Name(name) = host else {
        return;
    };
    assert!(!name.is_empty() && name.len() <= 253, "{}", short(name));
    assert!(!name.ends_with('.'), "{}", short(name));
    for label in name.split('.') {
        assert!(!label.is_empty() && label.len() <= 63, "{}", short(name));
        assert!(
            label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'),
            "{}",
            short(name)
        );
    }
    let last = name.rsplit('.').next().unwrap_or(name);
    assert!(
        !last.bytes().all(|b| b.is_ascii_digit()),
        "numeric {}",
        short(name)
    );
}

fn lists(text: &str) {
    let _ = HostPattern::parse(text);
    if let Ok(ports) = PortList::from_str(text) {
        let again = PortList::from_str(&ports.to_string());
        assert_eq!(again.as_ref(), Ok(&ports), "{}", short(text));
    }
}

/// At most 200 characters of `text`, quoted, so a message stays readable.
fn short(text: &str) -> String {
    let cut: String = text.chars().take(200).collect();
    let more = if cut.len() < text.len() { "..." } else { "" };
    format!("{cut:?}{more}")
}
