//! The PAC script itself: plain ES3 JavaScript (Windows still evaluates PAC
//! files with an ES3 engine), with no PAC helper functions either, so the
//! same text runs in any JavaScript engine and a test can evaluate it.
//!
//! Only [`HostPattern`]s that parsed go in, each written back from its parsed
//! form (a lowercased name, an address in its canonical text), and every
//! string is a JSON literal with `<`, `>`, `&`, U+2028 and U+2029 escaped: no
//! setting can end a string, a comment or a `<script>` element. Same settings
//! and address in, same bytes out.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use crate::policy::{HostPattern, LOCAL_PARENTS};

/// Networks that always go DIRECT when a URL names them by address: this
/// machine, private and link-local networks, and shared (CGNAT, VPN) space.
/// A proxy adds nothing there, and a shared Burrow refuses them anyway.
/// Each is an internal kind in [`crate::addr`] (a test checks it).
pub const LOCAL_NETWORKS: [(&str, u8); 12] = [
    ("127.0.0.0", 8),
    ("0.0.0.0", 8),
    ("10.0.0.0", 8),
    ("172.16.0.0", 12),
    ("192.168.0.0", 16),
    ("169.254.0.0", 16),
    ("100.64.0.0", 10),
    ("::1", 128),
    ("::", 128),
    ("fc00::", 7),
    ("fe80::", 10),
    ("fec0::", 10),
];

/// The functions that read a host: an address literal becomes its bytes
/// (an IPv4 address hidden in IPv6 comes out as the IPv4 address, as in
/// [`crate::addr::canonical`]), matched against networks byte by byte; a
/// name is compared as lowercase text. Nothing is ever looked up: `isInNet`
/// and `dnsResolve` would resolve names, slowly, on every request.
const FUNCTIONS: &str = r#"function burrowV4(s) {
  var p = s.split("."), b = [], i;
  if (p.length != 4) return null;
  for (i = 0; i < 4; i++) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p[i]) || +p[i] > 255) return null;
    b.push(+p[i]);
  }
  return b;
}

function burrowV6(s) {
  var halves = s.split("::"), head, tail, last, v4 = null, groups, all = [], b = [], i, n;
  if (halves.length > 2) return null;
  head = halves[0] ? halves[0].split(":") : [];
  tail = halves.length == 2 && halves[1] ? halves[1].split(":") : [];
  last = halves.length == 2 ? tail : head;
  if (last.length && last[last.length - 1].indexOf(".") >= 0) {
    v4 = burrowV4(last.pop());
    if (!v4) return null;
  }
  groups = head.length + tail.length + (v4 ? 2 : 0);
  if (halves.length == 2 ? groups > 7 : groups != 8) return null;
  all = all.concat(head);
  for (i = groups; i < 8; i++) all.push("0");
  all = all.concat(tail);
  for (i = 0; i < all.length; i++) {
    if (!/^[0-9a-f]{1,4}$/.test(all[i])) return null;
    n = parseInt(all[i], 16);
    b.push(n >> 8, n & 255);
  }
  return v4 ? b.concat(v4) : b;
}

function burrowZeros(b, from, to) {
  for (var i = from; i < to; i++) if (b[i]) return false;
  return true;
}

function burrowAddress(s) {
  var b = s.indexOf(":") >= 0 ? burrowV6(s) : burrowV4(s);
  if (!b || b.length == 4) return b;
  if (burrowZeros(b, 0, 10) && b[10] == 255 && b[11] == 255) return b.slice(12);
  if (burrowZeros(b, 0, 12) && !(burrowZeros(b, 12, 15) && b[15] < 2)) return b.slice(12);
  if (b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && burrowZeros(b, 4, 12)) return b.slice(12);
  if (b[0] == 0x20 && b[1] == 0x02) return b.slice(2, 6);
  return b;
}

function burrowInNets(ip, nets) {
  var i, j, bits, base, mask, inside;
  for (i = 0; i < nets.length; i++) {
    base = burrowAddress(nets[i][0]);
    if (!base || base.length != ip.length) continue;
    inside = true;
    for (j = 0, bits = nets[i][1]; bits > 0 && inside; j++, bits -= 8) {
      mask = bits >= 8 ? 255 : (255 << (8 - bits)) & 255;
      inside = (ip[j] & mask) == (base[j] & mask);
    }
    if (inside) return true;
  }
  return false;
}

function burrowNamed(host, names, suffixes) {
  var i, s;
  for (i = 0; i < names.length; i++) if (host == names[i]) return true;
  for (i = 0; i < suffixes.length; i++) {
    s = suffixes[i];
    if (host.length > s.length && host.substring(host.length - s.length) == s) return true;
  }
  return false;
}

function FindProxyForURL(url, host) {
  var h = String(host).toLowerCase(), ip;
  if (h.charAt(0) == "[" && h.charAt(h.length - 1) == "]") h = h.substring(1, h.length - 1);
  if (h.charAt(h.length - 1) == ".") h = h.substring(0, h.length - 1);
  ip = burrowAddress(h);
  if (ip) return burrowInNets(ip, LOCAL_NETS) || burrowInNets(ip, BYPASS_NETS) ? "DIRECT" : PROXY;
  if (h.indexOf(".") < 0 || burrowNamed(h, LOCAL_NAMES, LOCAL_SUFFIXES)) return "DIRECT";
  return burrowNamed(h, BYPASS_NAMES, BYPASS_SUFFIXES) ? "DIRECT" : PROXY;
}
"#;

/// The PAC file for a proxy reached at `proxy`, with `bypass` (patterns as
/// in settings; ones that do not parse are left out, though validated
/// settings have none) going DIRECT besides the local names and networks.
pub fn script(proxy: SocketAddr, bypass: &[String]) -> String {
    let patterns: Vec<HostPattern> = bypass
        .iter()
        .filter_map(|p| HostPattern::parse(p))
        .collect();
    let mut names = Vec::new();
    let mut suffixes = Vec::new();
    let mut nets = Vec::new();
    for pattern in &patterns {
        match pattern {
            HostPattern::Name(name) => names.push(name.clone()),
            HostPattern::Subdomains(name) => suffixes.push(format!(".{name}")),
            HostPattern::Ip(ip) => nets.push((*ip, full_bits(*ip))),
            HostPattern::Net { base, bits } => nets.push((*base, *bits)),
        }
    }
    let local_names: Vec<String> = LOCAL_PARENTS
        .iter()
        .filter(|p| p.contains('.'))
        .map(|p| p.to_string())
        .collect();
    let local_suffixes: Vec<String> = LOCAL_PARENTS.iter().map(|p| format!(".{p}")).collect();
    let local_nets: Vec<(String, u8)> = LOCAL_NETWORKS
        .iter()
        .map(|(ip, bits)| (ip.to_string(), *bits))
        .collect();
    let user_nets: Vec<(String, u8)> = nets.iter().map(|(ip, b)| (ip.to_string(), *b)).collect();

    let mut out = String::from(
        "// Burrow's proxy auto-config (PAC) file.\n\
         // Through Burrow while it answers, else straight to the site (DIRECT).\n\
         // Local names and addresses, and the pac_bypass setting, always go DIRECT.\n\n",
    );
    let proxy = format!("PROXY {proxy}; DIRECT");
    let _ = writeln!(out, "var PROXY = {};", js_string(&proxy));
    let _ = writeln!(out, "var LOCAL_NAMES = {};", js_list(&local_names));
    let _ = writeln!(out, "var LOCAL_SUFFIXES = {};", js_list(&local_suffixes));
    let _ = writeln!(out, "var LOCAL_NETS = {};", js_nets(&local_nets));
    let _ = writeln!(out, "var BYPASS_NAMES = {};", js_list(&names));
    let _ = writeln!(out, "var BYPASS_SUFFIXES = {};", js_list(&suffixes));
    let _ = writeln!(out, "var BYPASS_NETS = {};\n", js_nets(&user_nets));
    out.push_str(FUNCTIONS);
    out
}

fn full_bits(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

/// `text` as a JavaScript string literal: JSON's escaping, plus the
/// characters that could close an HTML element or end a line in older
/// JavaScript engines.
pub fn js_string(text: &str) -> String {
    let json = serde_json::Value::String(text.to_string()).to_string();
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

fn js_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| js_string(s)).collect();
    format!("[{}]", items.join(", "))
}

fn js_nets(nets: &[(String, u8)]) -> String {
    let items: Vec<String> = nets
        .iter()
        .map(|(ip, bits)| format!("[{}, {bits}]", js_string(ip)))
        .collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::kind;

    fn proxy() -> SocketAddr {
        "127.0.0.1:8080".parse().unwrap()
    }

    #[test]
    fn says_the_proxy_then_direct() {
        let s = script(proxy(), &[]);
        assert!(s.contains("var PROXY = \"PROXY 127.0.0.1:8080; DIRECT\";\n"));
        assert!(s.contains("var BYPASS_NAMES = [];\n"));
        let v6 = script("[::1]:9000".parse().unwrap(), &[]);
        assert!(v6.contains("\"PROXY [::1]:9000; DIRECT\""));
    }

    #[test]
    fn user_patterns_go_in_parsed_and_normalised() {
        let bypass = [
            "Intranet.Example".to_string(),
            "*.corp.example".to_string(),
            "192.0.2.7".to_string(),
            "::ffff:198.51.100.0/120".to_string(),
            "2001:db8::/32".to_string(),
            "bad name</script>".to_string(),
        ];
        let s = script(proxy(), &bypass);
        assert!(s.contains("var BYPASS_NAMES = [\"intranet.example\"];\n"));
        assert!(s.contains("var BYPASS_SUFFIXES = [\".corp.example\"];\n"));
        assert!(s.contains(
            "var BYPASS_NETS = [[\"192.0.2.7\", 32], [\"198.51.100.0\", 24], [\"2001:db8::\", 32]];\n"
        ));
        assert!(!s.contains("script>") && !s.contains("bad"));
    }

    #[test]
    fn the_same_settings_give_the_same_bytes() {
        let bypass = ["*.a.example".to_string(), "10.0.0.0/8".to_string()];
        assert_eq!(script(proxy(), &bypass), script(proxy(), &bypass));
    }

    #[test]
    fn strings_cannot_break_out() {
        assert_eq!(
            js_string("a\"</script>\u{2028}\u{2029}&\\\n"),
            "\"a\\\"\\u003c/script\\u003e\\u2028\\u2029\\u0026\\\\\\n\""
        );
    }

    #[test]
    fn local_networks_are_internal_and_local_names_match_the_policy() {
        for (ip, bits) in LOCAL_NETWORKS {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(kind(ip).is_internal(), "{ip}");
            assert!(bits <= full_bits(ip));
        }
        let s = script(proxy(), &[]);
        for parent in LOCAL_PARENTS {
            assert!(s.contains(&js_string(&format!(".{parent}"))), "{parent}");
        }
    }

    #[test]
    fn the_script_is_plain_ascii_and_small() {
        let s = script(proxy(), &[]);
        assert!(s.is_ascii());
        assert!(s.len() < 6 * 1024, "{}", s.len());
        assert!(!s.contains("dnsResolve(") && !s.contains("isInNet("));
    }
}
