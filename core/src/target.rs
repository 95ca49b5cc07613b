//! Request targets: authority-form for CONNECT, absolute-form for forwarding.
//!
//! Parse, don't validate: what comes out is a typed host and a port that the
//! rest of the core can trust.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// A destination host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Host {
    /// A registered name, lowercased.
    Name(String),
    /// An IP literal; no lookup is needed.
    Ip(IpAddr),
}

impl Host {
    /// The IP, when the host is a literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Ip(ip) => Some(*ip),
            Host::Name(_) => None,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
        }
    }
}

/// Host and port: where to dial.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authority {
    /// The host.
    pub host: Host,
    /// The port, 1..=65535.
    pub port: u16,
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// An `http://` absolute-form target split for forwarding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AbsoluteUri {
    /// Where to dial.
    pub authority: Authority,
    /// Whether the port was written (it then goes into the Host field).
    pub explicit_port: bool,
    /// The origin-form target sent upstream: path and query, never empty.
    pub path_and_query: String,
}

/// Why a target was refused; every one earns a 400.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetError {
    /// `host` or `host:` with no port.
    MissingPort,
    /// A port that is not 1..=65535 in plain digits.
    BadPort,
    /// `user:pass@host`.
    UserInfo,
    /// A host with characters a host name cannot have.
    BadHost,
    /// An IPv6 literal without brackets.
    UnbracketedIpv6,
    /// A path, query or anything after the port of a CONNECT target.
    ExtraAfterPort,
    /// A number-like host that is not a dotted-quad IPv4 address.
    AmbiguousNumericHost,
    /// A path or query byte that must be percent-encoded (`<`, `>`, a backtick, non-ASCII).
    BadPathChar,
    /// `https://` in absolute-form: browsers use CONNECT for HTTPS.
    HttpsAbsolute,
    /// A scheme other than http.
    UnsupportedScheme,
    /// Origin-form (`/path`) or asterisk-form sent to a proxy.
    NotAbsolute,
    /// Authority-form with a method other than CONNECT.
    AuthorityFormWithoutConnect,
}

impl TargetError {
    /// A sentence for the response body and the log.
    pub fn describe(self) -> &'static str {
        match self {
            TargetError::MissingPort => "the CONNECT target has no port; write it as host:port, e.g. example.com:443",
            TargetError::BadPort => "the port is not a number from 1 to 65535 written in plain digits",
            TargetError::UserInfo => "the target contains user:password@, which is not allowed in a request target",
            TargetError::BadHost => "the host name contains characters a host name cannot have",
            TargetError::UnbracketedIpv6 => "an IPv6 address must be written in brackets, e.g. [2001:db8::1]:443",
            TargetError::ExtraAfterPort => "a CONNECT target is only host:port, with no path or query",
            TargetError::AmbiguousNumericHost => "the host looks like a number but is not a dotted IPv4 address such as 192.0.2.1",
            TargetError::BadPathChar => "the URL contains characters that must be percent-encoded (such as < > or a backtick)",
            TargetError::HttpsAbsolute => "https:// URLs go through a CONNECT tunnel; configure Burrow as the HTTPS proxy too",
            TargetError::UnsupportedScheme => "only http:// URLs can be forwarded; use CONNECT for anything else",
            TargetError::NotAbsolute => "this is a proxy: requests must use a full URL (http://host/path) or CONNECT host:port; set Burrow as your browser's proxy rather than opening it as a web site",
            TargetError::AuthorityFormWithoutConnect => "a host:port target is only valid with the CONNECT method (methods are case-sensitive)",
        }
    }
}

/// Parses a CONNECT target: `host:port`, `1.2.3.4:port` or `[v6]:port`.
pub fn parse_authority(target: &str) -> Result<Authority, TargetError> {
    if target.contains('@') {
        return Err(TargetError::UserInfo);
    }
    if target.contains(['/', '?', '#', ' ']) {
        return Err(TargetError::ExtraAfterPort);
    }
    let (host, port) = if let Some(rest) = target.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or(TargetError::BadHost)?;
        let ip: Ipv6Addr = v6.parse().map_err(|_| TargetError::BadHost)?;
        let port = after.strip_prefix(':').ok_or(TargetError::MissingPort)?;
        (Host::Ip(IpAddr::V6(ip)), port)
    } else {
        let (host, port) = target.rsplit_once(':').ok_or(TargetError::MissingPort)?;
        if host.contains(':') {
            return Err(TargetError::UnbracketedIpv6);
        }
        (parse_host(host)?, port)
    };
    Ok(Authority {
        host,
        port: parse_port(port)?,
    })
}

/// Parses an absolute-form target for forwarding: `http://host[:port][/path][?query]`.
pub fn parse_absolute(target: &str) -> Result<AbsoluteUri, TargetError> {
    let Some((scheme, rest)) = target.split_once("://") else {
        return Err(if target.starts_with('/') || target == "*" {
            TargetError::NotAbsolute
        } else if target.contains(':') && !target.contains('/') {
            TargetError::AuthorityFormWithoutConnect
        } else {
            TargetError::NotAbsolute
        });
    };
    if scheme.eq_ignore_ascii_case("https") {
        return Err(TargetError::HttpsAbsolute);
    }
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(TargetError::UnsupportedScheme);
    }
    let rest = rest.split('#').next().unwrap_or_default();
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    if authority.contains('@') {
        return Err(TargetError::UserInfo);
    }
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (v6, after) = inner.split_once(']').ok_or(TargetError::BadHost)?;
        let ip: Ipv6Addr = v6.parse().map_err(|_| TargetError::BadHost)?;
        (Host::Ip(IpAddr::V6(ip)), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => return Err(TargetError::UnbracketedIpv6),
            Some((h, p)) => (parse_host(h)?, Some(p)),
            None => (parse_host(authority)?, None),
        }
    };
    let (port, explicit_port) = match port {
        Some(p) => (parse_port(p)?, true),
        None => (80, false),
    };
    if !path.bytes().all(path_byte) {
        return Err(TargetError::BadPathChar);
    }
    let path_and_query = match path {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    Ok(AbsoluteUri {
        authority: Authority { host, port },
        explicit_port,
        path_and_query,
    })
}

/// The Host field a client sends with this request line: the CONNECT
/// target itself, or an absolute URL's authority.
pub fn host_field(method: &str, target: &str) -> Option<String> {
    if method == "CONNECT" {
        return Some(target.to_string());
    }
    let (_, rest) = target.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(rest[..end].to_string()).filter(|h| !h.is_empty())
}

/// Bytes a path or query may carry unencoded: the URI grammar's, plus the
/// `"`, `{`, `}`, `|` and `^` that real clients send raw. Stricter than
/// httparse on purpose: `<`, `>`, a backtick, spaces and non-ASCII never
/// reach an origin unencoded, so a URL cannot smuggle markup or bytes an
/// origin might read differently.
fn path_byte(b: u8) -> bool {
    matches!(b,
        b'!' | b'"' | b'$'..=b';' | b'=' | b'?'..=b'_' | b'a'..=b'z' | b'{' | b'|' | b'}' | b'~')
}

fn parse_port(text: &str) -> Result<u16, TargetError> {
    if text.is_empty() {
        return Err(TargetError::MissingPort);
    }
    // A leading zero or a sign would let `0443` or `+443` mean 443 to one
    // parser and something else to another.
    if !text.bytes().all(|b| b.is_ascii_digit()) || text.starts_with('0') || text.len() > 5 {
        return Err(TargetError::BadPort);
    }
    match text.parse::<u32>() {
        Ok(p @ 1..=65535) => Ok(p as u16),
        _ => Err(TargetError::BadPort),
    }
}

/// A reg-name (letters, digits, `-`, `_`, `.`) or a dotted-quad IPv4 address.
pub fn parse_host(text: &str) -> Result<Host, TargetError> {
    if text.is_empty() || text.len() > 253 {
        return Err(TargetError::BadHost);
    }
    if let Ok(v4) = text.parse::<Ipv4Addr>() {
        return Ok(Host::Ip(IpAddr::V4(v4)));
    }
    let name = text.strip_suffix('.').unwrap_or(text);
    let valid_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !name.split('.').all(valid_label) {
        return Err(TargetError::BadHost);
    }
    // The system resolver reads `127.1`, `2130706433` or `0x7f.1` as
    // addresses; no real top-level domain is numeric, so refuse them.
    let last = name.rsplit('.').next().unwrap_or(name);
    let lower = last.to_ascii_lowercase();
    if last.bytes().all(|b| b.is_ascii_digit())
        || (lower.starts_with("0x") && lower[2..].bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(TargetError::AmbiguousNumericHost);
    }
    Ok(Host::Name(name.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_form_accepts() {
        let a = parse_authority("Example.COM:443").unwrap();
        assert_eq!(a.host, Host::Name("example.com".into()));
        assert_eq!(a.port, 443);
        assert_eq!(a.to_string(), "example.com:443");
        let a = parse_authority("[::1]:8443").unwrap();
        assert_eq!(a.to_string(), "[::1]:8443");
        assert_eq!(parse_authority("192.0.2.7:1").unwrap().port, 1);
        assert_eq!(
            parse_authority("host.:65535").unwrap().host,
            Host::Name("host".into())
        );
    }

    #[test]
    fn authority_form_rejects() {
        use TargetError::*;
        for (t, e) in [
            ("h", MissingPort),
            ("h:", MissingPort),
            ("h:0", BadPort),
            ("h:0443", BadPort),
            ("h:65536", BadPort),
            ("h:4294967739", BadPort),
            ("h:+443", BadPort),
            ("h:44a", BadPort),
            ("u:p@h:443", UserInfo),
            ("::1:443", UnbracketedIpv6),
            ("[127.0.0.1]:443", BadHost),
            ("[fe80::1%25e]:443", BadHost),
            ("[::1]", MissingPort),
            (":443", BadHost),
            ("h:443/p", ExtraAfterPort),
            ("ex ample:443", ExtraAfterPort),
            ("a..b:443", BadHost),
            ("a<b>:443", BadHost),
            ("127.1:443", AmbiguousNumericHost),
            ("2130706433:443", AmbiguousNumericHost),
            ("0x7f.1:443", AmbiguousNumericHost),
        ] {
            assert_eq!(parse_authority(t), Err(e), "{t:?}");
        }
    }

    #[test]
    fn absolute_form() {
        let u = parse_absolute("http://Example.com/a/b?c=d#frag").unwrap();
        assert_eq!(u.authority.to_string(), "example.com:80");
        assert!(!u.explicit_port);
        assert_eq!(u.path_and_query, "/a/b?c=d");
        let u = parse_absolute("HTTP://127.0.0.1:8000").unwrap();
        assert_eq!(u.authority.port, 8000);
        assert!(u.explicit_port);
        assert_eq!(u.path_and_query, "/");
        assert_eq!(parse_absolute("http://a?q").unwrap().path_and_query, "/?q");
        assert_eq!(
            parse_absolute("http://[::1]:81/").unwrap().authority.port,
            81
        );
    }

    #[test]
    fn absolute_form_rejects() {
        use TargetError::*;
        for (t, e) in [
            ("/index.html", NotAbsolute),
            ("*", NotAbsolute),
            ("example.com:443", AuthorityFormWithoutConnect),
            ("https://a/", HttpsAbsolute),
            ("ftp://a/", UnsupportedScheme),
            ("http://u:p@a/", UserInfo),
            ("http://a:0/", BadPort),
            ("http://a:/", MissingPort),
            ("http:///x", BadHost),
            ("http://a/<script>", BadPathChar),
            ("http://a/?q=`x`", BadPathChar),
            ("http://a/caf\u{e9}", BadPathChar),
        ] {
            assert_eq!(parse_absolute(t), Err(e), "{t:?}");
        }
    }
}
