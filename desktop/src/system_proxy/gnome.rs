//! GNOME (and Unity, Cinnamon, Budgie): `gsettings` on `org.gnome.system.proxy`.
//!
//! Read: one `gsettings list-recursively org.gnome.system.proxy`, whose
//! values are GVariant text (`'string'` or `"it's"`, `['a', 'b']` or
//! `@as []`, plain integers for ports). Write: one `gsettings set` per key,
//! the values written back as GVariant text, `mode` last so the desktop
//! switches only once everything else is in place. Keys Burrow never
//! changes (`use-same-proxy`, authentication, the deprecated `http enabled`)
//! are neither read nor written.

use std::collections::HashMap;

use super::command::{Cmd, Runner};
use super::{Backend, BackendError, Endpoint, Mode, ProxySettings, ServiceSettings, Target};

/// The main schema.
pub const SCHEMA: &str = "org.gnome.system.proxy";
/// The child schemas with a host and a port, and the field each fills.
const PROXIES: [&str; 4] = ["http", "https", "ftp", "socks"];

/// The GNOME back end.
pub struct Gnome<R: Runner> {
    runner: R,
}

impl<R: Runner> Gnome<R> {
    /// A back end that runs `gsettings` through `runner`.
    pub fn new(runner: R) -> Gnome<R> {
        Gnome { runner }
    }

    /// The runner (tests look at the commands it saw).
    pub fn runner(&self) -> &R {
        &self.runner
    }
}

impl<R: Runner> Backend for Gnome<R> {
    fn name(&self) -> &'static str {
        "gnome"
    }

    fn read(&mut self) -> Result<ProxySettings, BackendError> {
        let cmd = read_command();
        let out = self.runner.run(&cmd)?;
        parse_list(&out)
            .map(ProxySettings::single)
            .map_err(|message| BackendError::Parse {
                command: cmd.display(),
                message,
            })
    }

    fn write(&mut self, settings: &ProxySettings) -> Result<(), BackendError> {
        let Some(s) = settings.services.first() else {
            return Ok(());
        };
        for cmd in write_commands(s) {
            self.runner.run(&cmd)?;
        }
        Ok(())
    }

    fn burrow(&self, current: &ProxySettings, target: &Target) -> ProxySettings {
        let mut out = current.clone();
        for s in &mut out.services {
            super::apply_target(s, target, &super::BYPASS.map(String::from));
            // GNOME switches by the mode; what a read gives back has no switches.
            for e in [&mut s.http, &mut s.https, &mut s.ftp, &mut s.socks] {
                e.enabled = false;
            }
        }
        out
    }
}

/// `gsettings list-recursively org.gnome.system.proxy`.
pub fn read_command() -> Cmd {
    Cmd::new("gsettings", &["list-recursively", SCHEMA])
}

/// The `gsettings set` commands that write `s`, `mode` last.
pub fn write_commands(s: &ServiceSettings) -> Vec<Cmd> {
    let set = |schema: String, key: &str, value: String| {
        Cmd::new("gsettings", &["set".to_string(), schema, key.into(), value])
    };
    let mut out = Vec::new();
    for (name, e) in PROXIES.iter().zip([&s.http, &s.https, &s.ftp, &s.socks]) {
        let schema = format!("{SCHEMA}.{name}");
        out.push(set(schema.clone(), "host", quote(&e.host)));
        out.push(set(schema, "port", e.port.to_string()));
    }
    out.push(set(SCHEMA.into(), "ignore-hosts", array(&s.bypass)));
    out.push(set(SCHEMA.into(), "autoconfig-url", quote(&s.pac_url)));
    out.push(set(SCHEMA.into(), "mode", quote(mode_name(s.mode))));
    out
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::None | Mode::Detect | Mode::Environment => "none",
        Mode::Manual => "manual",
        Mode::Auto => "auto",
    }
}

/// Reads the output of `gsettings list-recursively` into settings.
pub fn parse_list(out: &str) -> Result<ServiceSettings, String> {
    let mut values: HashMap<(&str, &str), &str> = HashMap::new();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.splitn(3, ' ');
        let (Some(schema), Some(key), Some(value)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("unexpected line {line:?}"));
        };
        values.insert((schema, key), value);
    }
    let get = |schema: &str, key: &str| {
        values
            .get(&(schema, key))
            .copied()
            .ok_or_else(|| format!("no {schema} {key} (is gsettings-desktop-schemas installed?)"))
    };
    let mode = match parse_string(get(SCHEMA, "mode")?)?.as_str() {
        "none" => Mode::None,
        "manual" => Mode::Manual,
        "auto" => Mode::Auto,
        other => return Err(format!("unknown proxy mode {other:?}")),
    };
    let mut endpoints = Vec::new();
    for name in PROXIES {
        let schema = format!("{SCHEMA}.{name}");
        let host = parse_string(get(&schema, "host")?)?;
        let port = get(&schema, "port")?;
        let port = port
            .trim()
            .parse::<u16>()
            .map_err(|_| format!("{schema} port is {port:?}, not a port number"))?;
        endpoints.push(Endpoint {
            enabled: false,
            host,
            port,
        });
    }
    let mut endpoints = endpoints.into_iter();
    let mut next = || endpoints.next().unwrap_or_default();
    Ok(ServiceSettings {
        service: String::new(),
        mode,
        http: next(),
        https: next(),
        ftp: next(),
        socks: next(),
        bypass: parse_array(get(SCHEMA, "ignore-hosts")?)?,
        pac_url: parse_string(get(SCHEMA, "autoconfig-url")?)?,
        extra: Default::default(),
    })
}

/// A string as GVariant text: single quotes, with `\`, `'` and control characters escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A string array as GVariant text (`@as []` when empty, so its type is known).
pub fn array(items: &[String]) -> String {
    if items.is_empty() {
        return "@as []".into();
    }
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", quoted.join(", "))
}

/// Reads a GVariant text string (`'…'` or `"…"`, with escapes).
pub fn parse_string(text: &str) -> Result<String, String> {
    let (s, rest) = string_prefix(text.trim())?;
    if !rest.trim().is_empty() {
        return Err(format!("unexpected {rest:?} after a string in {text:?}"));
    }
    Ok(s)
}

/// Reads a GVariant text array of strings (`['a', "b"]`, `@as []`).
pub fn parse_array(text: &str) -> Result<Vec<String>, String> {
    let t = text.trim();
    let t = t.strip_prefix("@as").unwrap_or(t).trim_start();
    let mut rest = t
        .strip_prefix('[')
        .ok_or_else(|| format!("{text:?} is not an array"))?
        .trim_start();
    let mut out = Vec::new();
    if let Some(after) = rest.strip_prefix(']') {
        return if after.trim().is_empty() {
            Ok(out)
        } else {
            Err(format!("unexpected text after {text:?}"))
        };
    }
    loop {
        let (s, after) = string_prefix(rest)?;
        out.push(s);
        let after = after.trim_start();
        if let Some(after) = after.strip_prefix(',') {
            rest = after.trim_start();
        } else if let Some(after) = after.strip_prefix(']') {
            if after.trim().is_empty() {
                return Ok(out);
            }
            return Err(format!("unexpected text after {text:?}"));
        } else {
            return Err(format!("expected , or ] in {text:?}"));
        }
    }
}

/// A quoted string at the start of `text`, and what follows it.
fn string_prefix(text: &str) -> Result<(String, &str), String> {
    let mut chars = text.char_indices();
    let quote = match chars.next() {
        Some((_, q @ ('\'' | '"'))) => q,
        _ => return Err(format!("{text:?} is not a quoted string")),
    };
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => return Ok((out, &text[i + c.len_utf8()..])),
            '\\' => {
                let (_, e) = chars.next().ok_or("a string ends in a backslash")?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    'a' => out.push('\u{7}'),
                    'u' | 'U' => {
                        let n = if e == 'u' { 4 } else { 8 };
                        let hex: String = (0..n)
                            .filter_map(|_| chars.next().map(|(_, c)| c))
                            .collect();
                        let c = u32::from_str_radix(&hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| format!("bad escape \\{e}{hex}"))?;
                        out.push(c);
                    }
                    other => out.push(other),
                }
            }
            c => out.push(c),
        }
    }
    Err(format!("unterminated string {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system_proxy::command::ScriptedRunner;

    /// What `gsettings list-recursively` printed on Debian 12 (GLib 2.74,
    /// gsettings-desktop-schemas 43) for distinctive values.
    const RECORDED: &str = "\
org.gnome.system.proxy autoconfig-url 'http://wpad.corp/ü.pac'
org.gnome.system.proxy ignore-hosts ['a.b', \"it's\", 'back\\\\slash', 'ü']
org.gnome.system.proxy mode 'manual'
org.gnome.system.proxy use-same-proxy true
org.gnome.system.proxy.ftp host ''
org.gnome.system.proxy.ftp port 0
org.gnome.system.proxy.http authentication-password ''
org.gnome.system.proxy.http authentication-user ''
org.gnome.system.proxy.http enabled false
org.gnome.system.proxy.http host \"o'brien\"
org.gnome.system.proxy.http port 3128
org.gnome.system.proxy.http use-authentication false
org.gnome.system.proxy.https host 'secure.corp'
org.gnome.system.proxy.https port 8443
org.gnome.system.proxy.socks host ''
org.gnome.system.proxy.socks port 0
";

    #[test]
    fn the_recorded_listing_reads_exactly() {
        let s = parse_list(RECORDED).unwrap();
        assert_eq!(s.mode, Mode::Manual);
        assert_eq!(s.pac_url, "http://wpad.corp/ü.pac");
        assert_eq!(s.bypass, ["a.b", "it's", "back\\slash", "ü"]);
        assert_eq!(s.http.host, "o'brien");
        assert_eq!(s.http.port, 3128);
        assert_eq!(s.https.host, "secure.corp");
        assert_eq!(s.ftp, Endpoint::default());
        let empty = "org.gnome.system.proxy ignore-hosts @as []";
        let with_empty = RECORDED.replace(
            "org.gnome.system.proxy ignore-hosts ['a.b', \"it's\", 'back\\\\slash', 'ü']",
            empty,
        );
        assert!(parse_list(&with_empty).unwrap().bypass.is_empty());
    }

    #[test]
    fn write_commands_are_exact_and_end_with_the_mode() {
        let s = parse_list(RECORDED).unwrap();
        let lines: Vec<String> = write_commands(&s).iter().map(Cmd::display).collect();
        assert_eq!(
            lines,
            [
                r"gsettings set org.gnome.system.proxy.http host ''\''o\'\''brien'\'''",
                "gsettings set org.gnome.system.proxy.http port 3128",
                r"gsettings set org.gnome.system.proxy.https host ''\''secure.corp'\'''",
                "gsettings set org.gnome.system.proxy.https port 8443",
                r"gsettings set org.gnome.system.proxy.ftp host ''\'''\'''",
                "gsettings set org.gnome.system.proxy.ftp port 0",
                r"gsettings set org.gnome.system.proxy.socks host ''\'''\'''",
                "gsettings set org.gnome.system.proxy.socks port 0",
                r"gsettings set org.gnome.system.proxy ignore-hosts '['\''a.b'\'', '\''it\'\''s'\'', '\''back\\slash'\'', '\''ü'\'']'",
                r"gsettings set org.gnome.system.proxy autoconfig-url ''\''http://wpad.corp/ü.pac'\'''",
                r"gsettings set org.gnome.system.proxy mode ''\''manual'\'''",
            ]
        );
        // The arguments themselves, as gsettings receives them.
        let cmds = write_commands(&s);
        assert_eq!(
            cmds[0].args,
            ["set", "org.gnome.system.proxy.http", "host", r"'o\'brien'"]
        );
        assert_eq!(cmds[8].args[3], r"['a.b', 'it\'s', 'back\\slash', 'ü']");
    }

    #[test]
    fn quoting_round_trips() {
        for s in [
            "",
            "plain",
            "it's",
            "\"q\"",
            "back\\slash",
            "tab\there",
            "nl\n",
            "ü€😀",
            "'; rm -rf /",
        ] {
            assert_eq!(parse_string(&quote(s)).unwrap(), s, "{s:?}");
        }
        let items: Vec<String> = ["a", "it's", "", "x, y", "]"].map(String::from).to_vec();
        assert_eq!(parse_array(&array(&items)).unwrap(), items);
        assert_eq!(parse_array("@as []").unwrap(), Vec::<String>::new());
        assert_eq!(parse_array("[]").unwrap(), Vec::<String>::new());
        assert_eq!(parse_string(r"'\u00fc\U0001F600'").unwrap(), "ü😀");
        assert!(parse_string("'open").is_err());
        assert!(parse_array("['a' 'b']").is_err());
        assert!(parse_array("nope").is_err());
    }

    #[test]
    fn read_then_write_through_a_runner() {
        let mut runner = ScriptedRunner::default();
        runner.answer(&read_command(), RECORDED);
        let mut g = Gnome::new(&mut runner);
        let s = g.read().unwrap();
        let pac = g.burrow(&s, &Target::Pac("http://127.0.0.1:8080/proxy.pac".into()));
        g.write(&pac).unwrap();
        let calls = &runner.calls;
        assert_eq!(calls[0], read_command());
        assert_eq!(calls.len(), 12);
        assert_eq!(
            calls[11].args,
            ["set", "org.gnome.system.proxy", "mode", "'auto'"]
        );
        assert_eq!(
            calls[10].args,
            [
                "set",
                "org.gnome.system.proxy",
                "autoconfig-url",
                "'http://127.0.0.1:8080/proxy.pac'"
            ]
        );
    }

    #[test]
    fn bad_listings_are_reported() {
        assert!(parse_list("").unwrap_err().contains("mode"));
        let bad_port = RECORDED.replace("http port 3128", "http port -1");
        assert!(parse_list(&bad_port).unwrap_err().contains("port"));
        let bad_mode = RECORDED.replace("mode 'manual'", "mode 'sideways'");
        assert!(parse_list(&bad_mode).unwrap_err().contains("sideways"));
    }
}
