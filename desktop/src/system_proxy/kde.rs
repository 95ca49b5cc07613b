//! KDE: `kioslaverc`, group `[Proxy Settings]`, through `kreadconfig6`/`5`
//! and `kwriteconfig6`/`5`, then a D-Bus signal so running KIO programs
//! reread it.
//!
//! Values are kept as KDE writes them, so a restore is byte for byte: a
//! proxy value is split into host and port only when it has the classic
//! `"http://host 8080"` form and joins back identically; anything else
//! (`"http://host:8080"`) stays whole in `host` with port 0. `ProxyType`
//! 0–4 is the mode; another value (or none) is kept in `extra["ProxyType"]`. An
//! empty value is written as `--delete`, because `kreadconfig` reads a
//! missing key as empty.

use super::command::{Cmd, Runner};
use super::{Backend, BackendError, Endpoint, Mode, ProxySettings, ServiceSettings, Target};

/// The file and the group.
const FILE: &str = "kioslaverc";
const GROUP: &str = "Proxy Settings";
/// The keys Burrow reads and writes, in write order (`ProxyType` last).
pub const KEYS: [&str; 7] = [
    "httpProxy",
    "httpsProxy",
    "ftpProxy",
    "socksProxy",
    "NoProxyFor",
    "Proxy Config Script",
    "ProxyType",
];

/// The KDE back end, for one version of KDE's tools.
pub struct Kde<R: Runner> {
    runner: R,
    version: u8,
}

impl<R: Runner> Kde<R> {
    /// The back end for KDE's tools of `version` (5 or 6).
    pub fn new(runner: R, version: u8) -> Kde<R> {
        Kde { runner, version }
    }

    /// The back end for whichever tools are in PATH (6 first), if any.
    pub fn find(runner: R) -> Option<Kde<R>> {
        [6, 5]
            .into_iter()
            .find(|v| in_path(&format!("kwriteconfig{v}")) && in_path(&format!("kreadconfig{v}")))
            .map(|v| Kde::new(runner, v))
    }
}

fn in_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

impl<R: Runner> Backend for Kde<R> {
    fn name(&self) -> &'static str {
        "kde"
    }

    fn read(&mut self) -> Result<ProxySettings, BackendError> {
        let mut values = Vec::new();
        for key in KEYS {
            let out = self.runner.run(&read_command(self.version, key))?;
            // kreadconfig prints the value and a newline.
            values.push(out.strip_suffix('\n').unwrap_or(&out).to_string());
        }
        Ok(ProxySettings::single(from_values(&values)))
    }

    fn write(&mut self, settings: &ProxySettings) -> Result<(), BackendError> {
        let Some(s) = settings.services.first() else {
            return Ok(());
        };
        for cmd in write_commands(self.version, s) {
            self.runner.run(&cmd)?;
        }
        // Without a session bus nobody is listening: the file is what counts.
        let _ = self.runner.run(&notify_command());
        Ok(())
    }

    fn burrow(&self, current: &ProxySettings, target: &Target) -> ProxySettings {
        let mut out = current.clone();
        for s in &mut out.services {
            s.extra.remove("ProxyType");
            match target {
                Target::Pac(url) => {
                    s.mode = Mode::Auto;
                    s.pac_url = url.clone();
                }
                Target::Manual { host, port } => {
                    s.mode = Mode::Manual;
                    let host = if host.contains(':') {
                        format!("[{host}]")
                    } else {
                        host.clone()
                    };
                    let value = Endpoint {
                        enabled: false,
                        host: format!("http://{host}"),
                        port: *port,
                    };
                    s.http = value.clone();
                    s.https = value;
                    s.bypass = super::BYPASS.map(String::from).to_vec();
                }
            }
        }
        out
    }
}

/// `kreadconfigN --file kioslaverc --group "Proxy Settings" --key KEY`.
pub fn read_command(version: u8, key: &str) -> Cmd {
    Cmd::new(
        &format!("kreadconfig{version}"),
        &["--file", FILE, "--group", GROUP, "--key", key],
    )
}

/// The `kwriteconfigN` commands that write `s`, `ProxyType` last.
pub fn write_commands(version: u8, s: &ServiceSettings) -> Vec<Cmd> {
    let program = format!("kwriteconfig{version}");
    to_values(s)
        .iter()
        .zip(KEYS)
        .map(|(value, key)| {
            let mut args = vec!["--file", FILE, "--group", GROUP, "--key", key];
            if value.is_empty() {
                args.push("--delete");
            } else {
                args.push(value);
            }
            Cmd::new(&program, &args)
        })
        .collect()
}

/// Tells running KIO programs to reread their proxy settings.
pub fn notify_command() -> Cmd {
    Cmd::new(
        "dbus-send",
        &[
            "--type=signal",
            "/KIO/Scheduler",
            "org.kde.KIO.Scheduler.reparseSlaveConfiguration",
            "string:",
        ],
    )
}

/// Settings from the values of [`KEYS`], in order.
pub fn from_values(values: &[String]) -> ServiceSettings {
    let get = |i: usize| values.get(i).cloned().unwrap_or_default();
    let mut s = ServiceSettings {
        http: endpoint(&get(0)),
        https: endpoint(&get(1)),
        ftp: endpoint(&get(2)),
        socks: endpoint(&get(3)),
        bypass: if get(4).is_empty() {
            Vec::new()
        } else {
            get(4).split(',').map(String::from).collect()
        },
        pac_url: get(5),
        ..ServiceSettings::default()
    };
    let kind = get(6);
    s.mode = match kind.as_str() {
        "" | "0" => Mode::None,
        "1" => Mode::Manual,
        "2" => Mode::Auto,
        "3" => Mode::Detect,
        "4" => Mode::Environment,
        _ => Mode::None,
    };
    // A missing key (read as empty) or an unknown type comes back as it was.
    if !matches!(kind.as_str(), "0" | "1" | "2" | "3" | "4") {
        s.extra.insert("ProxyType".into(), kind);
    }
    s
}

/// The values of [`KEYS`] for `s`, in order.
pub fn to_values(s: &ServiceSettings) -> Vec<String> {
    let kind = s.extra.get("ProxyType").cloned().unwrap_or_else(|| {
        match s.mode {
            Mode::None => "0",
            Mode::Manual => "1",
            Mode::Auto => "2",
            Mode::Detect => "3",
            Mode::Environment => "4",
        }
        .to_string()
    });
    vec![
        join(&s.http),
        join(&s.https),
        join(&s.ftp),
        join(&s.socks),
        s.bypass.join(","),
        s.pac_url.clone(),
        kind,
    ]
}

/// `"http://host 8080"` → host and port, only when it joins back the same.
fn endpoint(value: &str) -> Endpoint {
    if let Some((host, port)) = value.rsplit_once(' ') {
        if let Ok(port) = port.parse::<u16>() {
            let e = Endpoint {
                enabled: false,
                host: host.to_string(),
                port,
            };
            if join(&e) == value {
                return e;
            }
        }
    }
    Endpoint {
        enabled: false,
        host: value.to_string(),
        port: 0,
    }
}

fn join(e: &Endpoint) -> String {
    if e.port == 0 {
        e.host.clone()
    } else {
        format!("{} {}", e.host, e.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system_proxy::command::ScriptedRunner;

    fn values(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn values_round_trip_exactly() {
        for v in [
            values(&[
                "http://corp 3128",
                "http://corp:3128",
                "",
                "socks://s 1080",
                "a,b,,c",
                "file:///p.pac",
                "1",
            ]),
            values(&["", "", "", "", "", "", ""]),
            values(&["http://h 080", "http://h 0", "x 99999", " 1", "", "", "3"]),
            values(&["", "", "", "", "", "", "7"]),
        ] {
            assert_eq!(to_values(&from_values(&v)), v);
        }
        let s = from_values(&values(&["http://corp 3128", "", "", "", "", "", "4"]));
        assert_eq!(s.http.host, "http://corp");
        assert_eq!(s.http.port, 3128);
        assert_eq!(s.mode, Mode::Environment);
        assert_eq!(
            from_values(&values(&["", "", "", "", "", "", "7"])).extra["ProxyType"],
            "7"
        );
    }

    #[test]
    fn commands_are_exact() {
        assert_eq!(
            read_command(5, "Proxy Config Script").args,
            [
                "--file",
                "kioslaverc",
                "--group",
                "Proxy Settings",
                "--key",
                "Proxy Config Script"
            ]
        );
        let s = from_values(&values(&["", "", "", "", "", "", "0"]));
        let burrow = Kde::new(ScriptedRunner::default(), 6).burrow(
            &ProxySettings::single(s),
            &Target::Manual {
                host: "127.0.0.1".into(),
                port: 8080,
            },
        );
        let lines: Vec<String> = write_commands(6, &burrow.services[0])
            .iter()
            .map(Cmd::display)
            .collect();
        assert_eq!(
            lines,
            [
                "kwriteconfig6 --file kioslaverc --group 'Proxy Settings' --key httpProxy 'http://127.0.0.1 8080'",
                "kwriteconfig6 --file kioslaverc --group 'Proxy Settings' --key httpsProxy 'http://127.0.0.1 8080'",
                "kwriteconfig6 --file kioslaverc --group 'Proxy Settings' --key ftpProxy --delete",
                "kwriteconfig6 --file kioslaverc --group 'Proxy Settings' --key socksProxy --delete",
                "kwriteconfig6 --file kioslaverc --group 'Proxy Settings' --key NoProxyFor localhost,127.0.0.0/8,::1",
                "kwriteconfig6 --file kioslaverc --group 'Proxy Settings' --key 'Proxy Config Script' --delete",
                "kwriteconfig6 --file kioslaverc --group 'Proxy Settings' --key ProxyType 1",
            ]
        );
        assert_eq!(
            notify_command().display(),
            "dbus-send --type=signal /KIO/Scheduler org.kde.KIO.Scheduler.reparseSlaveConfiguration string:"
        );
    }

    #[test]
    fn a_write_ends_with_the_notification() {
        let mut runner = ScriptedRunner::default();
        let mut k = Kde::new(&mut runner, 5);
        let pac = k.burrow(
            &ProxySettings::single(ServiceSettings::default()),
            &Target::Pac("http://127.0.0.1:1/proxy.pac".into()),
        );
        k.write(&pac).unwrap();
        assert_eq!(runner.calls.len(), 8);
        assert_eq!(runner.calls[5].args[6], "http://127.0.0.1:1/proxy.pac");
        assert_eq!(runner.calls[6].args[6], "2");
        assert_eq!(runner.calls[7], notify_command());
    }
}
