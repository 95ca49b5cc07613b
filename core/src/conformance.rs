//! Conformance vectors: client bytes + settings + what the network does →
//! the expected answers. The data files in `core/tests/vectors/` are run
//! through the core, through the wasm bindings in Node and a browser, and
//! against the real engine over TCP; this module is the one checker all of
//! them use.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Deserialize;

use crate::body::BodyReader;
use crate::framing::ResponseBody;
use crate::head::Header;
use crate::origin::{ResponseParse, ResponseReader};
use crate::response::After;
use crate::settings::HeadLimits;
use crate::simulate::Scenario;

/// The placeholder in a vector's request for the proxy's own address.
pub const LISTEN_PLACEHOLDER: &str = "${LISTEN}";

/// The placeholder for the proxy's own port alone (a loop through another
/// of this machine's addresses).
pub const PORT_PLACEHOLDER: &str = "${PORT}";

/// One vector.
#[derive(Clone, Debug, Deserialize)]
pub struct Vector {
    /// What it checks, in words.
    pub name: String,
    /// The client's bytes and what the network does.
    #[serde(flatten)]
    pub scenario: Scenario,
    /// The answer expected.
    pub expect: Expect,
}

/// The expected answer.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The first final response's status code; `null` when the client gets no bytes at all.
    pub status: Option<u16>,
    /// Where the connection ends up.
    pub after: After,
    /// Every response's status, in order, interim ones included.
    #[serde(default)]
    pub statuses: Option<Vec<u16>>,
    /// Text the first final response's head must contain (e.g. repeated fields in order).
    #[serde(default)]
    pub head_contains: Option<String>,
    /// The first response's exact status line, when it matters.
    #[serde(default)]
    pub status_line: Option<String>,
    /// Fields of the first response that must be present with exactly these values (names lowercase).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Fields the first response must not have (names lowercase).
    #[serde(default)]
    pub absent_headers: Vec<String>,
    /// Text the first response's body must contain.
    #[serde(default)]
    pub body_contains: Option<String>,
    /// Text the first response's body must not contain.
    #[serde(default)]
    pub body_absent: Option<String>,
    /// Text the bytes sent upstream must contain.
    #[serde(default)]
    pub upstream_contains: Option<String>,
    /// Text the bytes sent upstream must not contain.
    #[serde(default)]
    pub upstream_absent: Option<String>,
}

/// The vector files, by name; compiled in so the wasm tests can run them too.
pub const FILES: &[(&str, &str)] = &[
    ("tunnel", include_str!("../tests/vectors/tunnel.json")),
    ("network", include_str!("../tests/vectors/network.json")),
    ("policy", include_str!("../tests/vectors/policy.json")),
    ("malformed", include_str!("../tests/vectors/malformed.json")),
    ("forward", include_str!("../tests/vectors/forward.json")),
    ("bodies", include_str!("../tests/vectors/bodies.json")),
    (
        "keep_alive",
        include_str!("../tests/vectors/keep_alive.json"),
    ),
    ("timeouts", include_str!("../tests/vectors/timeouts.json")),
    ("limits", include_str!("../tests/vectors/limits.json")),
    ("origin", include_str!("../tests/vectors/origin.json")),
    ("security", include_str!("../tests/vectors/security.json")),
    ("pac", include_str!("../tests/vectors/pac.json")),
];

/// Reads one vectors file (a JSON array of vectors).
pub fn load(json: &str) -> Result<Vec<Vector>, String> {
    serde_json::from_str(json).map_err(|e| format!("vectors file: {e}"))
}

/// Every vector of every file in [`FILES`], each name prefixed with its file's.
pub fn all() -> Result<Vec<Vector>, String> {
    let mut out = Vec::new();
    for (file, json) in FILES {
        let vectors = load(json).map_err(|e| format!("{file}.json: {e}"))?;
        out.extend(vectors.into_iter().map(|mut v| {
            v.name = format!("{file}: {}", v.name);
            v
        }));
    }
    Ok(out)
}

impl Vector {
    /// The scenario as reached at `listener`: `${LISTEN}` in the client's
    /// bytes is replaced by it and it becomes the scenario's listener. The
    /// simulator passes `settings.listen`; the engine test its real bound
    /// address (policy still reads `settings.listen`, as the engine's does).
    pub fn scenario_for(&self, listener: SocketAddr) -> Scenario {
        at_listener(&self.scenario, listener)
    }
}

/// `scenario` as reached at `listener`: `${LISTEN}` in the client's bytes
/// becomes that address, `${PORT}` its port, and it becomes the scenario's listener.
pub fn at_listener(scenario: &Scenario, listener: SocketAddr) -> Scenario {
    let mut s = scenario.clone();
    s.request = fill_placeholders(&s.request, listener);
    for later in &mut s.later {
        *later = fill_placeholders(later, listener);
    }
    s.listener = Some(listener);
    s
}

/// `text` with `${LISTEN}` replaced by `listener` and `${PORT}` by its port.
pub fn fill_placeholders(text: &str, listener: SocketAddr) -> String {
    text.replace(LISTEN_PLACEHOLDER, &listener.to_string())
        .replace(PORT_PLACEHOLDER, &listener.port().to_string())
}

/// A response split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedResponse {
    /// The status line, without its line end.
    pub status_line: String,
    /// The status code.
    pub status: u16,
    /// The head as received, up to and including the blank line.
    pub head: String,
    /// Fields in order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body, decoded (each byte one char).
    pub body: String,
}

/// Splits a stream of responses as a client reads them: 1xx and 204/304
/// have no body, otherwise Content-Length or chunked framing decides, and
/// a response with neither takes the rest. `None` if the bytes do not
/// start with a complete response head.
pub fn parse_responses(bytes: &[u8]) -> Option<Vec<ParsedResponse>> {
    let limits = HeadLimits {
        response_head_bytes: usize::MAX,
        response_headers: usize::MAX,
        ..HeadLimits::default()
    };
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let ResponseParse::Complete(head, len) = ResponseReader::new().advance(rest, &limits)
        else {
            return (!out.is_empty()).then_some(out);
        };
        let head_bytes = rest[..len].to_vec();
        rest = &rest[len..];
        let framing = match head.status {
            100..=199 | 204 | 304 => ResponseBody::Empty,
            _ => crate::framing::response_framing("GET", head.status, &head.headers)
                .unwrap_or(ResponseBody::UntilClose),
        };
        let mut reader = BodyReader::for_response(framing);
        let mut body = Vec::new();
        let used = reader
            .read(rest, |p| {
                if let crate::body::BodyPiece::Data(d) = p {
                    body.extend_from_slice(d);
                }
            })
            .unwrap_or(rest.len());
        rest = &rest[used..];
        let text = |b: &[u8]| b.iter().map(|&c| c as char).collect::<String>();
        out.push(ParsedResponse {
            head: text(&head_bytes),
            status_line: format!(
                "{} {} {}",
                head.version.as_str(),
                head.status,
                text(&head.reason)
            ),
            status: head.status,
            headers: fields(&head.headers),
            body: text(&body),
        });
    }
    Some(out)
}

fn fields(headers: &[Header]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|h| {
            let value = h.value.iter().map(|&c| c as char).collect();
            (h.name.to_ascii_lowercase(), value)
        })
        .collect()
}

/// The first response of `bytes`, or `None` without a complete head.
pub fn parse_response(bytes: &[u8]) -> Option<ParsedResponse> {
    parse_responses(bytes)?.into_iter().next()
}

/// What a run produced: what the client got, what went upstream, and where
/// the connection ended up.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    /// Bytes the client received.
    pub client: &'a [u8],
    /// Bytes Burrow sent upstream.
    pub upstream: &'a [u8],
    /// The connection's state at the end.
    pub after: After,
}

/// Checks a run against `expect`; the error lists every difference.
pub fn check(expect: &Expect, seen: Observed<'_>) -> Result<(), String> {
    let mut problems = Vec::new();
    let Some(expected) = expect.status else {
        if !seen.client.is_empty() {
            problems.push(format!(
                "expected no bytes, got {:?}",
                String::from_utf8_lossy(seen.client)
            ));
        }
        if seen.after != expect.after {
            problems.push(format!(
                "connection {:?} != expected {:?}",
                seen.after, expect.after
            ));
        }
        return if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        };
    };
    let Some(all) = parse_responses(seen.client) else {
        return Err(format!(
            "no complete response head in {:?}",
            String::from_utf8_lossy(seen.client)
        ));
    };
    // The vectors describe the first final response; interim ones only count in `statuses`.
    let Some(first) = all
        .iter()
        .find(|r| !(100..200).contains(&r.status))
        .or(all.first())
    else {
        return Err("no response at all".into());
    };
    if first.status != expected {
        problems.push(format!("status {} != expected {expected}", first.status));
    }
    if let Some(text) = &expect.head_contains {
        if !first.head.contains(text.as_str()) {
            problems.push(format!("head {:?} lacks {text:?}", first.head));
        }
    }
    if seen.after != expect.after {
        problems.push(format!(
            "connection {:?} != expected {:?}",
            seen.after, expect.after
        ));
    }
    if let Some(statuses) = &expect.statuses {
        let got: Vec<u16> = all.iter().map(|r| r.status).collect();
        if &got != statuses {
            problems.push(format!("statuses {got:?} != {statuses:?}"));
        }
    }
    if let Some(line) = &expect.status_line {
        if &first.status_line != line {
            problems.push(format!("status line {:?} != {line:?}", first.status_line));
        }
    }
    for (name, value) in &expect.headers {
        let got: Vec<&str> = first
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        if got != [value.as_str()] {
            problems.push(format!("field {name}: {got:?} != [{value:?}]"));
        }
    }
    for name in &expect.absent_headers {
        if first.headers.iter().any(|(n, _)| n == name) {
            problems.push(format!("field {name} should be absent"));
        }
    }
    let contains =
        |hay: &str, text: &Option<String>| text.as_ref().map(|t| hay.contains(t.as_str()));
    if contains(&first.body, &expect.body_contains) == Some(false) {
        problems.push(format!(
            "body {:?} lacks {:?}",
            first.body, expect.body_contains
        ));
    }
    if contains(&first.body, &expect.body_absent) == Some(true) {
        problems.push(format!(
            "body {:?} contains {:?}",
            first.body, expect.body_absent
        ));
    }
    let upstream: String = seen.upstream.iter().map(|&c| c as char).collect();
    if contains(&upstream, &expect.upstream_contains) == Some(false) {
        problems.push(format!(
            "upstream {upstream:?} lacks {:?}",
            expect.upstream_contains
        ));
    }
    if contains(&upstream, &expect.upstream_absent) == Some(true) {
        problems.push(format!(
            "upstream {upstream:?} contains {:?}",
            expect.upstream_absent
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_of_responses_is_split_as_a_client_reads_it() {
        let bytes = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 404 Nope\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let all = parse_responses(bytes).unwrap();
        let statuses: Vec<u16> = all.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [100, 200, 404]);
        assert_eq!(all[1].body, "hi");
        assert_eq!(all[2].body, "abc");
        assert_eq!(all[2].status_line, "HTTP/1.1 404 Nope");
        assert!(parse_responses(b"HTTP/1.1 200").is_none());
    }
}
