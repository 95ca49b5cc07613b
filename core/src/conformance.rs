//! Conformance vectors: request bytes + settings + network outcome →
//! expected answer. One data file (`core/tests/vectors.json`) is run through
//! the core, through the wasm bindings in a browser, and against the real
//! engine over TCP; this module is the one checker all three use.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Deserialize;

use crate::response::After;
use crate::simulate::Scenario;

/// The placeholder in a vector's request for the proxy's own address.
pub const LISTEN_PLACEHOLDER: &str = "${LISTEN}";

/// One vector.
#[derive(Clone, Debug, Deserialize)]
pub struct Vector {
    /// What it checks, in words.
    pub name: String,
    /// The request and what the network does.
    #[serde(flatten)]
    pub scenario: Scenario,
    /// The answer expected.
    pub expect: Expect,
}

/// The expected answer.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Status code.
    pub status: u16,
    /// What happens to the connection.
    pub after: After,
    /// The exact status line, when it matters.
    #[serde(default)]
    pub status_line: Option<String>,
    /// Fields that must be present with exactly these values (names lowercase).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Fields that must be absent (names lowercase).
    #[serde(default)]
    pub absent_headers: Vec<String>,
    /// Text the body must contain.
    #[serde(default)]
    pub body_contains: Option<String>,
    /// Text the body must not contain.
    #[serde(default)]
    pub body_absent: Option<String>,
}

/// Reads the vectors file.
pub fn load(json: &str) -> Result<Vec<Vector>, String> {
    serde_json::from_str(json).map_err(|e| format!("vectors file: {e}"))
}

impl Vector {
    /// The scenario as reached at `listener`: `${LISTEN}` in the request is
    /// replaced by it and it becomes the scenario's listener. The simulator
    /// passes `settings.listen`; the engine test its real bound address
    /// (policy still reads `settings.listen`, as the engine's does).
    pub fn scenario_for(&self, listener: SocketAddr) -> Scenario {
        let mut s = self.scenario.clone();
        s.request = s.request.replace(LISTEN_PLACEHOLDER, &listener.to_string());
        s.listener = Some(listener);
        s
    }
}

/// A response split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedResponse {
    /// The status line, without CRLF.
    pub status_line: String,
    /// The status code.
    pub status: u16,
    /// Fields in order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Everything after the blank line.
    pub body: String,
}

/// Splits response bytes; `None` when there is no complete head.
pub fn parse_response(bytes: &[u8]) -> Option<ParsedResponse> {
    let text: String = bytes.iter().map(|&b| b as char).collect();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?.to_string();
    let status = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(ParsedResponse {
        status_line,
        status,
        headers,
        body: body.to_string(),
    })
}

/// Checks response bytes and what happened to the connection against
/// `expect`; the error lists every difference.
pub fn check(expect: &Expect, bytes: &[u8], after: After) -> Result<(), String> {
    let Some(r) = parse_response(bytes) else {
        return Err(format!(
            "no complete response head in {:?}",
            String::from_utf8_lossy(bytes)
        ));
    };
    let mut problems = Vec::new();
    if r.status != expect.status {
        problems.push(format!("status {} != expected {}", r.status, expect.status));
    }
    if after != expect.after {
        problems.push(format!(
            "connection {after:?} != expected {:?}",
            expect.after
        ));
    }
    if let Some(line) = &expect.status_line {
        if &r.status_line != line {
            problems.push(format!("status line {:?} != {line:?}", r.status_line));
        }
    }
    for (name, value) in &expect.headers {
        let got: Vec<&str> = r
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
        if r.headers.iter().any(|(n, _)| n == name) {
            problems.push(format!("field {name} should be absent"));
        }
    }
    if let Some(text) = &expect.body_contains {
        if !r.body.contains(text.as_str()) {
            problems.push(format!("body {:?} lacks {text:?}", r.body));
        }
    }
    if let Some(text) = &expect.body_absent {
        if r.body.contains(text.as_str()) {
            problems.push(format!("body {:?} contains {text:?}", r.body));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
