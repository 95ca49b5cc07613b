//! The list of ports a CONNECT may reach, written like `443,80,8000-8999`.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A set of TCP ports, kept as the inclusive ranges the user wrote.
///
/// Serialised as the same text the CLI takes (`"443,80,1000-2000"`), so a
/// settings file reads like the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortList {
    ranges: Vec<RangeInclusive<u16>>,
}

/// Why a port list could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortListError {
    /// The piece of the list that is wrong.
    pub item: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl fmt::Display for PortListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad port list item {:?}: {} (write ports like 443,8443,1000-2000; 1-65535 allows all)",
            self.item, self.problem
        )
    }
}

impl std::error::Error for PortListError {}

impl PortList {
    /// The default: HTTPS, plus 80 because browsers tunnel `ws://` through CONNECT.
    pub fn browser_default() -> Self {
        PortList {
            ranges: vec![443..=443, 80..=80],
        }
    }

    /// Whether `port` is in the list.
    pub fn contains(&self, port: u16) -> bool {
        self.ranges.iter().any(|r| r.contains(&port))
    }
}

impl Default for PortList {
    fn default() -> Self {
        Self::browser_default()
    }
}

fn parse_port(text: &str, item: &str) -> Result<u16, PortListError> {
    let err = |problem| PortListError {
        item: item.to_string(),
        problem,
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("a port is written with digits only"));
    }
    match text.parse::<u32>() {
        Ok(p @ 1..=65535) => Ok(p as u16),
        _ => Err(err("a port is a number from 1 to 65535")),
    }
}

impl FromStr for PortList {
    type Err = PortListError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut ranges = Vec::new();
        for raw in s.split(',') {
            let item = raw.trim();
            if item.is_empty() {
                return Err(PortListError {
                    item: raw.to_string(),
                    problem: "empty item",
                });
            }
            let range = match item.split_once('-') {
                Some((lo, hi)) => {
                    let (lo, hi) = (parse_port(lo.trim(), item)?, parse_port(hi.trim(), item)?);
                    if lo > hi {
                        return Err(PortListError {
                            item: item.to_string(),
                            problem: "a range goes from low to high",
                        });
                    }
                    lo..=hi
                }
                None => {
                    let p = parse_port(item, item)?;
                    p..=p
                }
            };
            ranges.push(range);
        }
        Ok(PortList { ranges })
    }
}

impl fmt::Display for PortList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if r.start() == r.end() {
                write!(f, "{}", r.start())?;
            } else {
                write!(f, "{}-{}", r.start(), r.end())?;
            }
        }
        Ok(())
    }
}

impl Serialize for PortList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PortList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_ranges() {
        let list: PortList = "443, 8443,1000-2000".parse().unwrap();
        assert!(list.contains(443) && list.contains(8443) && list.contains(1500));
        assert!(!list.contains(80) && !list.contains(2001));
        assert_eq!(list.to_string(), "443,8443,1000-2000");
        let all: PortList = "1-65535".parse().unwrap();
        assert!(all.contains(1) && all.contains(65535));
    }

    #[test]
    fn rejects_bad_items() {
        for bad in [
            "",
            "0",
            "65536",
            "+443",
            "44 3",
            "2000-1000",
            "a",
            "443,",
            "-5",
            "1-",
        ] {
            assert!(
                bad.parse::<PortList>().is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn default_allows_https_and_websockets() {
        let d = PortList::default();
        assert!(d.contains(443) && d.contains(80) && !d.contains(22));
    }
}
