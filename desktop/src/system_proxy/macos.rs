//! macOS: `networksetup`, for every enabled network service.
//!
//! Each service has its own web (HTTP), secure web (HTTPS), SOCKS and FTP
//! proxy, each with its own on/off switch, an auto proxy URL with its own
//! switch, and a bypass list. The mode is read as `Auto` when the auto proxy
//! is on, else `Manual` when any proxy is on, else `None`; on write the auto
//! proxy is on exactly when the mode is `Auto`, and each proxy follows its
//! own switch.
//!
//! `networksetup` cannot blank a server or URL once set, so a value the
//! user never had is not removed on restore: the switches (what decides
//! where traffic goes) are restored exactly, and so is every value the user
//! had. The command builders are plain functions, compiled and tested on
//! every platform; only [`detect`](super::detect) picks this back end, on
//! macOS.

use super::command::{Cmd, Runner};
use super::{Backend, BackendError, Endpoint, Mode, ProxySettings, ServiceSettings};

const TOOL: &str = "networksetup";

/// The four proxies: the `-get…`/`-set…` word of each.
const KINDS: [&str; 4] = [
    "webproxy",
    "securewebproxy",
    "socksfirewallproxy",
    "ftpproxy",
];

/// The macOS back end.
pub struct Macos<R: Runner> {
    runner: R,
}

impl<R: Runner> Macos<R> {
    /// A back end that runs `networksetup` through `runner`.
    pub fn new(runner: R) -> Macos<R> {
        Macos { runner }
    }

    fn run(&mut self, cmd: &Cmd) -> Result<String, BackendError> {
        self.runner.run(cmd)
    }

    fn parse_err(cmd: &Cmd, message: String) -> BackendError {
        BackendError::Parse {
            command: cmd.display(),
            message,
        }
    }
}

impl<R: Runner> Backend for Macos<R> {
    fn name(&self) -> &'static str {
        "macos"
    }

    fn read(&mut self) -> Result<ProxySettings, BackendError> {
        let list = list_command();
        let services = parse_services(&self.run(&list)?);
        let mut out = ProxySettings::default();
        for service in services {
            let mut endpoints = Vec::new();
            for kind in KINDS {
                let cmd = get_command(kind, &service);
                let text = self.run(&cmd)?;
                endpoints.push(parse_proxy(&text).map_err(|m| Self::parse_err(&cmd, m))?);
            }
            let cmd = get_command("autoproxyurl", &service);
            let text = self.run(&cmd)?;
            let (pac_url, auto) = parse_auto(&text).map_err(|m| Self::parse_err(&cmd, m))?;
            let bypass = parse_bypass(&self.run(&get_command("proxybypassdomains", &service))?);
            let mut e = endpoints.into_iter();
            let mut next = || e.next().unwrap_or_default();
            let (http, https, socks, ftp) = (next(), next(), next(), next());
            let any = [&http, &https, &socks, &ftp].iter().any(|e| e.enabled);
            out.services.push(ServiceSettings {
                service,
                mode: match (auto, any) {
                    (true, _) => Mode::Auto,
                    (false, true) => Mode::Manual,
                    (false, false) => Mode::None,
                },
                http,
                https,
                ftp,
                socks,
                bypass,
                pac_url,
                extra: Default::default(),
            });
        }
        Ok(out)
    }

    fn write(&mut self, settings: &ProxySettings) -> Result<(), BackendError> {
        // Every service gets its turn even if one fails (it may have been removed).
        let mut first_error = None;
        for s in &settings.services {
            for cmd in write_commands(s) {
                if let Err(e) = self.run(&cmd) {
                    first_error.get_or_insert(e);
                    break;
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// `networksetup -listallnetworkservices`.
pub fn list_command() -> Cmd {
    Cmd::new(TOOL, &["-listallnetworkservices"])
}

/// `networksetup -get<what> <service>`.
pub fn get_command(what: &str, service: &str) -> Cmd {
    Cmd::new(TOOL, &[format!("-get{what}"), service.to_string()])
}

/// The enabled services in a `-listallnetworkservices` answer (its first
/// line explains that `*` marks a disabled one).
pub fn parse_services(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.trim().is_empty() && !l.starts_with('*'))
        .map(String::from)
        .collect()
}

fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(|v| v.strip_prefix(' ').unwrap_or(v))
}

/// A `-getwebproxy` (and friends) answer: `Enabled`, `Server`, `Port`.
pub fn parse_proxy(text: &str) -> Result<Endpoint, String> {
    let enabled = field(text, "Enabled").ok_or("no Enabled line")?;
    let host = field(text, "Server").unwrap_or("");
    let port = field(text, "Port").unwrap_or("0").trim();
    Ok(Endpoint {
        enabled: enabled.trim() == "Yes",
        host: host.to_string(),
        port: port
            .parse()
            .map_err(|_| format!("Port {port:?} is not a port number"))?,
    })
}

/// A `-getautoproxyurl` answer: the URL (`(null)`: none) and whether it is on.
pub fn parse_auto(text: &str) -> Result<(String, bool), String> {
    let url = field(text, "URL").ok_or("no URL line")?;
    let url = if url == "(null)" { "" } else { url };
    let enabled = field(text, "Enabled").ok_or("no Enabled line")?.trim() == "Yes";
    Ok((url.to_string(), enabled))
}

/// A `-getproxybypassdomains` answer: one domain a line, or a sentence when there are none.
pub fn parse_bypass(text: &str) -> Vec<String> {
    if text.starts_with("There aren't any bypass domains") {
        return Vec::new();
    }
    text.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// The commands that write one service's settings.
pub fn write_commands(s: &ServiceSettings) -> Vec<Cmd> {
    let service = s.service.as_str();
    let state = |on: bool| if on { "on" } else { "off" };
    let mut out = Vec::new();
    for (kind, e) in KINDS.iter().zip([&s.http, &s.https, &s.socks, &s.ftp]) {
        if !e.host.is_empty() {
            let port = e.port.to_string();
            let set = format!("-set{kind}");
            out.push(Cmd::new(
                TOOL,
                &[set.as_str(), service, e.host.as_str(), port.as_str()],
            ));
        }
        // Setting the server turns the proxy on: the switch comes after.
        let set_state = format!("-set{kind}state");
        out.push(Cmd::new(
            TOOL,
            &[set_state.as_str(), service, state(e.enabled)],
        ));
    }
    if !s.pac_url.is_empty() {
        out.push(Cmd::new(
            TOOL,
            &["-setautoproxyurl", service, s.pac_url.as_str()],
        ));
    }
    out.push(Cmd::new(
        TOOL,
        &["-setautoproxystate", service, state(s.mode == Mode::Auto)],
    ));
    let mut bypass = vec!["-setproxybypassdomains".to_string(), service.to_string()];
    if s.bypass.is_empty() {
        bypass.push("Empty".into());
    } else {
        bypass.extend(s.bypass.iter().cloned());
    }
    out.push(Cmd::new(TOOL, &bypass));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system_proxy::command::ScriptedRunner;
    use crate::system_proxy::{Backend, Target};

    /// Answers as `networksetup` gives them (macOS 14).
    fn scripted() -> ScriptedRunner {
        let mut r = ScriptedRunner::default();
        r.answer(
            &list_command(),
            "An asterisk (*) denotes that a network service is disabled.\nWi-Fi\n*Bluetooth PAN\nUSB 10/100/1000 LAN\n",
        );
        for service in ["Wi-Fi", "USB 10/100/1000 LAN"] {
            let corp = service == "Wi-Fi";
            r.answer(
                &get_command("webproxy", service),
                if corp {
                    "Enabled: Yes\nServer: corp.example\nPort: 3128\nAuthenticated Proxy Enabled: 0\n"
                } else {
                    "Enabled: No\nServer: \nPort: 0\nAuthenticated Proxy Enabled: 0\n"
                },
            );
            for kind in ["securewebproxy", "socksfirewallproxy", "ftpproxy"] {
                r.answer(
                    &get_command(kind, service),
                    "Enabled: No\nServer: \nPort: 0\nAuthenticated Proxy Enabled: 0\n",
                );
            }
            r.answer(
                &get_command("autoproxyurl", service),
                if corp {
                    "URL: http://wpad.corp/p.pac\nEnabled: No\n"
                } else {
                    "URL: (null)\nEnabled: No\n"
                },
            );
            r.answer(
                &get_command("proxybypassdomains", service),
                if corp {
                    "*.local\n169.254/16\n"
                } else {
                    "There aren't any bypass domains set on USB 10/100/1000 LAN.\n"
                },
            );
        }
        r
    }

    #[test]
    fn every_enabled_service_is_read() {
        let mut runner = scripted();
        let s = Macos::new(&mut runner).read().unwrap();
        assert_eq!(s.services.len(), 2);
        let wifi = &s.services[0];
        assert_eq!(wifi.service, "Wi-Fi");
        assert_eq!(wifi.mode, Mode::Manual);
        assert_eq!(wifi.http, Endpoint::on("corp.example", 3128));
        assert_eq!(wifi.pac_url, "http://wpad.corp/p.pac");
        assert_eq!(wifi.bypass, ["*.local", "169.254/16"]);
        let usb = &s.services[1];
        assert_eq!(usb.service, "USB 10/100/1000 LAN");
        assert_eq!(usb.mode, Mode::None);
        assert!(usb.bypass.is_empty());
        assert_eq!(usb.pac_url, "");
    }

    #[test]
    fn write_commands_are_exact() {
        let mut runner = scripted();
        let original = Macos::new(&mut runner).read().unwrap();
        let b = Macos::new(ScriptedRunner::default());
        let pac = b.burrow(
            &original,
            &Target::Pac("http://127.0.0.1:8080/proxy.pac".into()),
        );
        let lines: Vec<String> = write_commands(&pac.services[0])
            .iter()
            .map(Cmd::display)
            .collect();
        assert_eq!(
            lines,
            [
                "networksetup -setwebproxy Wi-Fi corp.example 3128",
                "networksetup -setwebproxystate Wi-Fi off",
                "networksetup -setsecurewebproxystate Wi-Fi off",
                "networksetup -setsocksfirewallproxystate Wi-Fi off",
                "networksetup -setftpproxystate Wi-Fi off",
                "networksetup -setautoproxyurl Wi-Fi http://127.0.0.1:8080/proxy.pac",
                "networksetup -setautoproxystate Wi-Fi on",
                "networksetup -setproxybypassdomains Wi-Fi '*.local' 169.254/16",
            ]
        );
        let manual = b.burrow(
            &original,
            &Target::Manual {
                host: "127.0.0.1".into(),
                port: 8080,
            },
        );
        let usb: Vec<String> = write_commands(&manual.services[1])
            .iter()
            .map(Cmd::display)
            .collect();
        assert_eq!(
            usb,
            [
                "networksetup -setwebproxy 'USB 10/100/1000 LAN' 127.0.0.1 8080",
                "networksetup -setwebproxystate 'USB 10/100/1000 LAN' on",
                "networksetup -setsecurewebproxy 'USB 10/100/1000 LAN' 127.0.0.1 8080",
                "networksetup -setsecurewebproxystate 'USB 10/100/1000 LAN' on",
                "networksetup -setsocksfirewallproxystate 'USB 10/100/1000 LAN' off",
                "networksetup -setftpproxystate 'USB 10/100/1000 LAN' off",
                "networksetup -setautoproxystate 'USB 10/100/1000 LAN' off",
                "networksetup -setproxybypassdomains 'USB 10/100/1000 LAN' localhost 127.0.0.0/8 ::1",
            ]
        );
        // The restore of the service with no bypass domains clears the list.
        let restore: Vec<String> = write_commands(&original.services[1])
            .iter()
            .map(Cmd::display)
            .collect();
        assert_eq!(
            restore.last().map(String::as_str),
            Some("networksetup -setproxybypassdomains 'USB 10/100/1000 LAN' Empty")
        );
        // Each service name is one argument, never split or interpreted.
        assert_eq!(
            write_commands(&manual.services[1])[0].args[1],
            "USB 10/100/1000 LAN"
        );
    }

    #[test]
    fn bad_answers_are_reported() {
        assert!(parse_proxy("Server: x\n").is_err());
        assert!(parse_proxy("Enabled: Yes\nServer: x\nPort: lots\n").is_err());
        assert!(parse_auto("Enabled: No\n").is_err());
    }
}
