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

    /// The Fetch standard's "bad ports" (fetch.spec.whatwg.org, §2.9 port
    /// blocking): ports of text protocols a crafted HTTP request could speak
    /// to (mail, FTP, IRC, SIP, …), which browsers refuse to fetch from.
    pub fn fetch_bad_ports() -> Self {
        const BAD: [u16; 82] = [
            1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95,
            101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161,
            179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563,
            587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060,
            5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
        ];
        PortList {
            ranges: BAD.iter().map(|&p| p..=p).collect(),
        }
    }

    /// No port at all.
    pub fn none() -> Self {
        PortList { ranges: Vec::new() }
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

/// Most items a list may have: enough for any real list, and a bound on
/// what a settings file can make every check walk through.
pub const MAX_ITEMS: usize = 1024;

impl FromStr for PortList {
    type Err = PortListError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut ranges = Vec::new();
        if s.trim().is_empty() {
            return Ok(PortList::none());
        }
        for raw in s.split(',') {
            if ranges.len() == MAX_ITEMS {
                return Err(PortListError {
                    item: raw.to_string(),
                    problem: "a port list has at most 1024 items (use ranges like 1000-2000)",
                });
            }
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
    fn empty_is_no_port_and_lists_are_bounded() {
        assert_eq!("".parse::<PortList>().unwrap(), PortList::none());
        assert!(!PortList::none().contains(443));
        let long = vec!["8000"; MAX_ITEMS + 1].join(",");
        assert!(long.parse::<PortList>().is_err());
        let ok = vec!["8000"; MAX_ITEMS].join(",");
        assert!(ok.parse::<PortList>().is_ok());
    }

    #[test]
    fn fetch_bad_ports_round_trip() {
        let bad = PortList::fetch_bad_ports();
        assert!(
            bad.contains(25) && bad.contains(10080) && !bad.contains(80) && !bad.contains(8080)
        );
        assert_eq!(bad.to_string().parse::<PortList>().unwrap(), bad);
    }

    #[test]
    fn default_allows_https_and_websockets() {
        let d = PortList::default();
        assert!(d.contains(443) && d.contains(80) && !d.contains(22));
    }
}
