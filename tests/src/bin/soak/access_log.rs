//! The proxy's own account of the soak: its JSON access log, one record per finished
//! connection, tallied per kind of client (the client address's third octet names the kind).

use std::collections::BTreeMap;

use crate::plan::Kind;

/// Records seen, by kind and by `status close` (e.g. `200 client_fin`).
#[derive(Debug, Default)]
pub struct Tally {
    /// Lines read.
    pub lines: u64,
    /// Lines that were not a JSON record.
    pub unparsed: u64,
    /// Per kind (`None`: an address no kind uses), the count of each `status close` pair.
    pub by_kind: BTreeMap<Option<Kind>, BTreeMap<String, u64>>,
}

impl Tally {
    /// Counts one access-log line.
    pub fn add(&mut self, line: &str) {
        self.lines += 1;
        let Ok(record) = serde_json::from_str::<serde_json::Value>(line) else {
            self.unparsed += 1;
            return;
        };
        let kind = record["client"]
            .as_str()
            .and_then(|c| c.parse::<std::net::SocketAddr>().ok())
            .and_then(|c| match c.ip() {
                std::net::IpAddr::V4(ip) => Kind::from_octet(ip.octets()[2]),
                std::net::IpAddr::V6(_) => None,
            });
        let status = record["status"]
            .as_u64()
            .map_or_else(|| "-".to_string(), |s| s.to_string());
        let close = record["close"].as_str().unwrap_or("open");
        *self
            .by_kind
            .entry(kind)
            .or_default()
            .entry(format!("{status} {close}"))
            .or_default() += 1;
    }

    /// Records logged for `kind`.
    pub fn logged(&self, kind: Option<Kind>) -> u64 {
        self.by_kind.get(&kind).map_or(0, |m| m.values().sum())
    }

    /// The most frequent `status close` pairs of `kind`, most first, as `200 client_fin ×12`.
    pub fn top(&self, kind: Option<Kind>, n: usize) -> String {
        let Some(pairs) = self.by_kind.get(&kind) else {
            return "-".to_string();
        };
        let mut pairs: Vec<_> = pairs.iter().collect();
        pairs.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let mut shown: Vec<String> = pairs
            .iter()
            .take(n)
            .map(|(pair, count)| format!("{pair} ×{count}"))
            .collect();
        if pairs.len() > n {
            shown.push(format!("+{} more", pairs.len() - n));
        }
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_by_kind() {
        let mut t = Tally::default();
        let ip = Kind::Garbage.address(3);
        t.add(&format!(
            r#"{{"client":"{ip}:5000","status":400,"close":"rejected"}}"#
        ));
        t.add(&format!(
            r#"{{"client":"{ip}:5001","status":400,"close":"rejected"}}"#
        ));
        t.add(r#"{"client":"127.0.0.1:9","status":null,"close":"client_fin"}"#);
        t.add("not json");
        assert_eq!((t.lines, t.unparsed), (4, 1));
        assert_eq!(t.logged(Some(Kind::Garbage)), 2);
        assert_eq!(t.top(Some(Kind::Garbage), 3), "400 rejected ×2");
        assert_eq!(t.top(None, 3), "- client_fin ×1");
    }
}
