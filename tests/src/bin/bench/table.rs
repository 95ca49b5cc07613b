//! The one table a run prints: the median of each figure per target, then Burrow's ratio to
//! direct and to the best peer.

use std::collections::BTreeMap;

use crate::figures::{Better, Figure};
use crate::stats::median;

/// What a column's target is, for the ratio columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// No proxy: the physical reference.
    Direct,
    /// The proxy under study.
    Burrow,
    /// Another proxy (tinyproxy, Squid, or an address given on the command line).
    Peer,
}

/// One target's column.
#[derive(Clone, Debug)]
pub struct Column {
    /// Its heading.
    pub name: String,
    /// What it is.
    pub role: Role,
}

/// Every round's value of every figure, per column; rendered as medians.
#[derive(Clone, Debug, Default)]
pub struct Table {
    columns: Vec<Column>,
    values: BTreeMap<(Figure, usize), Vec<f64>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new(columns: Vec<Column>) -> Table {
        Table {
            columns,
            values: BTreeMap::new(),
        }
    }

    /// Records one round's `value` of `figure` for column `column`.
    pub fn add(&mut self, column: usize, figure: Figure, value: f64) {
        self.values.entry((figure, column)).or_default().push(value);
    }

    /// The median of `figure` in `column` over the rounds recorded.
    pub fn median(&self, figure: Figure, column: usize) -> Option<f64> {
        self.values.get(&(figure, column)).and_then(|v| median(v))
    }

    /// The table as Markdown, one row per figure that has any value, labelled by `label`.
    pub fn render(&self, label: impl Fn(Figure) -> String) -> String {
        let burrow = self.columns.iter().position(|c| c.role == Role::Burrow);
        let direct = self.columns.iter().position(|c| c.role == Role::Direct);
        let peers: Vec<usize> = (0..self.columns.len())
            .filter(|&i| self.columns[i].role == Role::Peer)
            .collect();
        let with_direct = burrow.is_some() && direct.is_some();
        let with_peer = burrow.is_some() && !peers.is_empty();

        let mut head = vec!["figure".to_string()];
        head.extend(self.columns.iter().map(|c| c.name.clone()));
        if with_direct {
            head.push("Burrow / direct".into());
        }
        if with_peer {
            head.push("Burrow / best peer".into());
        }
        let mut rows = vec![head];
        for figure in Figure::ALL {
            let cells: Vec<Option<f64>> = (0..self.columns.len())
                .map(|c| self.median(figure, c))
                .collect();
            if cells.iter().all(Option::is_none) {
                continue;
            }
            let mut row = vec![label(figure)];
            row.extend(cells.iter().map(|v| match v {
                Some(v) => number(*v, figure.decimals()),
                None => "–".into(),
            }));
            let ours = burrow.and_then(|b| cells[b]);
            if with_direct {
                row.push(ratio(ours, direct.and_then(|d| cells[d])));
            }
            if with_peer {
                let best = best(
                    figure.better(),
                    peers.iter().filter_map(|&p| cells[p].map(|v| (p, v))),
                );
                row.push(match best {
                    Some((p, v)) => match ours {
                        Some(_) => format!("{} ({})", ratio(ours, Some(v)), self.columns[p].name),
                        None => "–".into(),
                    },
                    None => "–".into(),
                });
            }
            rows.push(row);
        }
        markdown(&rows)
    }
}

/// The best of `(column, value)` pairs for a figure that improves `better`.
fn best(better: Better, values: impl Iterator<Item = (usize, f64)>) -> Option<(usize, f64)> {
    values.reduce(|a, b| {
        let b_wins = match better {
            Better::Higher => b.1 > a.1,
            Better::Lower => b.1 < a.1,
        };
        if b_wins {
            b
        } else {
            a
        }
    })
}

/// `ours / theirs` as `0.54×`, or `–` when either is missing or the divisor is 0.
fn ratio(ours: Option<f64>, theirs: Option<f64>) -> String {
    match (ours, theirs) {
        (Some(a), Some(b)) if b != 0.0 => format!("{:.2}×", a / b),
        _ => "–".into(),
    }
}

/// `v` with `decimals` decimals and thousands separated by commas: `14,200`, `52.3`.
pub fn number(v: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, v.abs());
    let (int, frac) = match text.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (text.as_str(), None),
    };
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if v < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        "-"
    } else {
        ""
    };
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// `rows` (the first is the heading) as a Markdown table, columns padded to line up.
fn markdown(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width = |c: usize| {
        rows.iter()
            .filter_map(|r| r.get(c))
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..columns).map(width).collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        out.push('|');
        for (c, w) in widths.iter().enumerate() {
            let cell = row.get(c).map_or("", String::as_str);
            let pad = w - cell.chars().count();
            // Figures read better right-aligned; the label column left.
            if c == 0 {
                out.push_str(&format!(" {cell}{} |", " ".repeat(pad)));
            } else {
                out.push_str(&format!(" {}{cell} |", " ".repeat(pad)));
            }
        }
        out.push('\n');
        if i == 0 {
            out.push('|');
            for (c, w) in widths.iter().enumerate() {
                let dashes = "-".repeat(*w);
                out.push_str(&if c == 0 {
                    format!(" {dashes} |")
                } else {
                    format!(" {}: |", &dashes[1..])
                });
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, role: Role) -> Column {
        Column {
            name: name.into(),
            role,
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(number(14200.4, 0), "14,200");
        assert_eq!(number(999.0, 0), "999");
        assert_eq!(number(1234567.0, 0), "1,234,567");
        assert_eq!(number(52.34, 1), "52.3");
        assert_eq!(number(-1500.0, 0), "-1,500");
        assert_eq!(number(-0.01, 1), "0.0");
    }

    #[test]
    fn ratios_and_best_peer() {
        let mut t = Table::new(vec![
            col("direct", Role::Direct),
            col("burrow", Role::Burrow),
            col("tinyproxy", Role::Peer),
            col("squid", Role::Peer),
        ]);
        for (c, v) in [(0, 1000.0), (1, 500.0), (2, 250.0), (3, 400.0)] {
            t.add(c, Figure::Upload, v);
        }
        // Latency: lower is better, so tinyproxy (150) is the best peer.
        for (c, v) in [(0, 80.0), (1, 200.0), (2, 150.0), (3, 300.0)] {
            t.add(c, Figure::HandshakeP50, v);
        }
        // Three rounds: the median is shown.
        for v in [9.0, 1.0, 5.0] {
            t.add(1, Figure::KibPerTunnelMany, v);
        }
        let text = t.render(|f| format!("{f:?}"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[0].contains("Burrow / direct") && lines[0].contains("Burrow / best peer"));
        assert!(
            lines[1].starts_with("| ---") && lines[1].ends_with(": |"),
            "{text}"
        );
        let p50 = lines[2];
        assert!(
            p50.contains(" 2.50× |") && p50.contains("1.33× (tinyproxy)"),
            "{p50}"
        );
        let up = lines[3];
        assert!(up.contains("0.50×") && up.contains("1.25× (squid)"), "{up}");
        let mem = lines[4];
        assert!(
            mem.contains("5.0") && mem.matches('–').count() == 5,
            "{mem}"
        );
    }

    #[test]
    fn no_ratio_columns_without_burrow() {
        let mut t = Table::new(vec![
            col("direct", Role::Direct),
            col("127.0.0.1:3128", Role::Peer),
        ]);
        t.add(1, Figure::Echo, 10.0);
        let text = t.render(|_| "echo".into());
        assert!(!text.contains("Burrow /"), "{text}");
        assert!(text.contains(" 10 |"), "{text}");
    }
}
