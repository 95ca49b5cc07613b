//! "Use as system proxy": pointing the desktop's proxy settings at Burrow,
//! and always putting the user's own settings back exactly.
//!
//! ```text
//!  Manager ── read/write ──► Backend (gnome | kde | macos | windows | fake)
//!     │                          └─ command back ends build their command
//!     │                             lines as data (pure, unit-tested);
//!     │                             a Runner executes them
//!     └─ journal.rs: the user's settings on disk before anything changes
//! ```
//!
//! [`ProxySettings`] holds exactly what a back end reads and writes back:
//! the mode, each proxy's host and port, the bypass list and the PAC URL, per
//! network service on macOS. A back end reads the whole of it, writes the
//! whole of it, and two reads compare equal only when the OS says the same.

pub mod command;
pub mod fake;
pub mod gnome;
pub mod journal;
pub mod kde;
pub mod macos;
pub mod manager;
pub mod windows;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

pub use manager::{Health, Manager};

/// The desktop preference: whether and how Burrow becomes the system proxy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preference {
    /// Never touch the system proxy (the default).
    #[default]
    Off,
    /// Point the system at Burrow's PAC file (falls back to DIRECT when Burrow is off).
    Pac,
    /// Set Burrow as the HTTP and HTTPS proxy.
    Manual,
}

impl Preference {
    /// The preference's name as the page and the saved state spell it.
    pub fn name(self) -> &'static str {
        match self {
            Preference::Off => "off",
            Preference::Pac => "pac",
            Preference::Manual => "manual",
        }
    }

    /// The preference named `name` (`off`, `pac`, `manual`).
    pub fn from_name(name: &str) -> Option<Preference> {
        [Preference::Off, Preference::Pac, Preference::Manual]
            .into_iter()
            .find(|p| p.name() == name)
    }

    /// What to set for a listener bound at `listen`, or `None` when off.
    pub fn target(self, listen: SocketAddr) -> Option<Target> {
        match self {
            Preference::Off => None,
            Preference::Pac => Some(Target::Pac(burrow_core::pac::url(listen))),
            Preference::Manual => {
                let local = burrow_core::pac::local_address(listen);
                Some(Target::Manual {
                    host: local.ip().to_string(),
                    port: local.port(),
                })
            }
        }
    }
}

/// What Burrow asks the system proxy to be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Automatic configuration from this PAC URL.
    Pac(String),
    /// Burrow as the HTTP and HTTPS proxy, bypassing [`BYPASS`].
    Manual {
        /// The address clients reach Burrow at.
        host: String,
        /// Burrow's port.
        port: u16,
    },
}

/// What the manual mode bypasses: this machine (a proxy on loopback cannot
/// usefully proxy loopback, and local services must keep working).
pub const BYPASS: [&str; 3] = ["localhost", "127.0.0.0/8", "::1"];

/// The proxy mode of a network service (GNOME's `mode`, KDE's `ProxyType`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// No proxy.
    #[default]
    None,
    /// The proxies given by host and port.
    Manual,
    /// A PAC file at `pac_url`.
    Auto,
    /// Web proxy auto-discovery (KDE `ProxyType=3`); Burrow never sets it, only restores it.
    Detect,
    /// The proxy environment variables (KDE `ProxyType=4`); only restored.
    Environment,
}

/// One proxy (HTTP, HTTPS, FTP or SOCKS) as the OS keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The proxy's own on/off switch where the platform has one (macOS,
    /// Windows' `ProxyEnable`); GNOME and KDE switch by the mode instead and
    /// read it as `false`.
    pub enabled: bool,
    /// The host as written (`""`: none).
    pub host: String,
    /// The port (`0`: none).
    pub port: u16,
}

impl Endpoint {
    /// An enabled proxy at `host:port`.
    pub fn on(host: &str, port: u16) -> Endpoint {
        Endpoint {
            enabled: true,
            host: host.to_string(),
            port,
        }
    }
}

/// The proxy settings of one network service (macOS), or of the whole
/// desktop elsewhere (then `service` is empty).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSettings {
    /// The macOS network service ("Wi-Fi"); empty elsewhere.
    pub service: String,
    /// The mode.
    pub mode: Mode,
    /// The HTTP proxy.
    pub http: Endpoint,
    /// The HTTPS proxy.
    pub https: Endpoint,
    /// The FTP proxy (GNOME, macOS).
    pub ftp: Endpoint,
    /// The SOCKS proxy (GNOME, macOS).
    pub socks: Endpoint,
    /// Hosts that go direct, as the platform spells them.
    pub bypass: Vec<String>,
    /// The PAC URL (`""`: none).
    pub pac_url: String,
    /// Values a platform keeps beside these that must come back exactly (for
    /// instance Windows' raw `ProxyServer` string, and which registry values
    /// were absent), by name; see each back end.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
}

/// Everything a back end reads and writes back: one entry per network service.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxySettings {
    /// The services, in the order the OS lists them.
    pub services: Vec<ServiceSettings>,
}

impl ProxySettings {
    /// Settings of a single, unnamed service (every platform but macOS).
    pub fn single(service: ServiceSettings) -> ProxySettings {
        ProxySettings {
            services: vec![service],
        }
    }

    /// What differs from `other`, in a few words for the window ("mode: auto → none").
    pub fn describe_change(&self, other: &ProxySettings) -> String {
        let mut out = Vec::new();
        for (a, b) in self.services.iter().zip(&other.services) {
            let name = |field: &str| {
                if a.service.is_empty() {
                    field.to_string()
                } else {
                    format!("{} {field}", a.service)
                }
            };
            if a.mode != b.mode {
                out.push(format!("{}: {:?} → {:?}", name("mode"), a.mode, b.mode));
            }
            if a.pac_url != b.pac_url {
                out.push(format!(
                    "{}: {:?} → {:?}",
                    name("PAC"),
                    a.pac_url,
                    b.pac_url
                ));
            }
            for (field, x, y) in [
                ("HTTP", &a.http, &b.http),
                ("HTTPS", &a.https, &b.https),
                ("FTP", &a.ftp, &b.ftp),
                ("SOCKS", &a.socks, &b.socks),
            ] {
                if x.host != y.host || x.port != y.port {
                    out.push(format!(
                        "{}: {}:{} → {}:{}",
                        name(field),
                        x.host,
                        x.port,
                        y.host,
                        y.port
                    ));
                } else if x.enabled != y.enabled {
                    let now = if y.enabled { "on" } else { "off" };
                    out.push(format!("{} switched {now}", name(field)));
                }
            }
            if a.bypass != b.bypass {
                out.push(format!("{} changed", name("bypass list")));
            }
            if a.extra != b.extra && out.is_empty() {
                out.push(format!("{} changed", name("platform settings")));
            }
        }
        if self.services.len() != other.services.len() {
            out.push("the list of network services changed".into());
        }
        if out.is_empty() {
            "nothing".into()
        } else {
            out.join("; ")
        }
    }
}

/// Why a back end could not read or write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// No back end for this desktop.
    #[error("{0}")]
    Unsupported(String),
    /// A tool could not be run.
    #[error("cannot run {program}: {message}; is it installed and in PATH?")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        message: String,
    },
    /// A tool ran and failed.
    #[error("`{command}` failed: {message}")]
    Failed {
        /// The command line, for the user to retry by hand.
        command: String,
        /// What it printed, or how it ended.
        message: String,
    },
    /// A tool answered something this back end cannot read.
    #[error("cannot read the answer of `{command}`: {message}")]
    Parse {
        /// The command line.
        command: String,
        /// What was wrong.
        message: String,
    },
    /// A platform API failed (Windows).
    #[error("{0}")]
    Api(String),
}

/// A way to read and write the system proxy settings.
pub trait Backend: Send {
    /// The back end's name, kept in the journal ("gnome", "kde", "macos", "windows", "fake").
    fn name(&self) -> &'static str;

    /// Reads the current settings, all of them.
    fn read(&mut self) -> Result<ProxySettings, BackendError>;

    /// Writes `settings`, all of them, and tells the running programs.
    fn write(&mut self, settings: &ProxySettings) -> Result<(), BackendError>;

    /// Burrow's settings, made from the user's `current` ones: only what
    /// the target needs changes, so a restore writes back what was there.
    fn burrow(&self, current: &ProxySettings, target: &Target) -> ProxySettings {
        let mut out = current.clone();
        for s in &mut out.services {
            apply_target(s, target, &BYPASS.map(String::from));
        }
        out
    }
}

/// Sets `target` on one service: PAC mode turns off every manual proxy's own
/// switch (so none competes with the PAC); manual mode sets HTTP and HTTPS.
pub fn apply_target(s: &mut ServiceSettings, target: &Target, bypass: &[String]) {
    match target {
        Target::Pac(url) => {
            s.mode = Mode::Auto;
            s.pac_url = url.clone();
            for e in [&mut s.http, &mut s.https, &mut s.ftp, &mut s.socks] {
                e.enabled = false;
            }
        }
        Target::Manual { host, port } => {
            s.mode = Mode::Manual;
            s.http = Endpoint::on(host, *port);
            s.https = Endpoint::on(host, *port);
            s.bypass = bypass.to_vec();
        }
    }
}

/// The back end for this desktop, chosen at run time: on Linux by
/// `XDG_CURRENT_DESKTOP` (GNOME, Unity, Cinnamon, Budgie → gsettings; KDE →
/// kwriteconfig).
pub fn detect() -> Result<Box<dyn Backend>, BackendError> {
    #[cfg(target_os = "macos")]
    {
        Ok(Box::new(macos::Macos::new(command::SystemRunner)))
    }
    #[cfg(windows)]
    {
        Ok(Box::new(windows::WinInet::new()))
    }
    #[cfg(not(any(target_os = "macos", windows)))]
    {
        let desktop = std::env::var("XDG_CURRENT_DESKTOP").unwrap_or_default();
        match linux_backend(&desktop) {
            Some(LinuxDesktop::Gnome) => Ok(Box::new(gnome::Gnome::new(command::SystemRunner))),
            Some(LinuxDesktop::Kde) => match kde::Kde::find(command::SystemRunner) {
                Some(k) => Ok(Box::new(k)),
                None => Err(BackendError::Unsupported(
                    "KDE found, but neither kwriteconfig6 nor kwriteconfig5 is in PATH; \
                     install KDE's configuration tools (kconfig) or set the proxy by hand"
                        .into(),
                )),
            },
            None => Err(BackendError::Unsupported(unsupported_message(&desktop))),
        }
    }
}

/// Linux desktops with a back end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinuxDesktop {
    /// gsettings `org.gnome.system.proxy`.
    Gnome,
    /// kioslaverc through kwriteconfig.
    Kde,
}

/// The back end for an `XDG_CURRENT_DESKTOP` value (a `:`-separated list).
pub fn linux_backend(xdg_current_desktop: &str) -> Option<LinuxDesktop> {
    xdg_current_desktop
        .split(':')
        .find_map(|d| match d.trim().to_ascii_uppercase().as_str() {
            "GNOME" | "UNITY" | "CINNAMON" | "X-CINNAMON" | "BUDGIE" | "BUDGIE-DESKTOP" => {
                Some(LinuxDesktop::Gnome)
            }
            "KDE" => Some(LinuxDesktop::Kde),
            _ => None,
        })
}

/// What to tell a user whose desktop has no back end.
pub fn unsupported_message(xdg_current_desktop: &str) -> String {
    let which = if xdg_current_desktop.is_empty() {
        "this desktop (XDG_CURRENT_DESKTOP is not set)".to_string()
    } else {
        format!("the desktop {xdg_current_desktop:?}")
    };
    format!(
        "Burrow cannot set the system proxy on {which}: only GNOME, Unity, Cinnamon, Budgie and KDE \
         are supported. Point your browser at the PAC address (tray: Copy PAC address) instead."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desktops_pick_their_back_end() {
        assert_eq!(linux_backend("GNOME"), Some(LinuxDesktop::Gnome));
        assert_eq!(linux_backend("ubuntu:GNOME"), Some(LinuxDesktop::Gnome));
        assert_eq!(linux_backend("X-Cinnamon"), Some(LinuxDesktop::Gnome));
        assert_eq!(linux_backend("Budgie:GNOME"), Some(LinuxDesktop::Gnome));
        assert_eq!(linux_backend("Unity"), Some(LinuxDesktop::Gnome));
        assert_eq!(linux_backend("KDE"), Some(LinuxDesktop::Kde));
        assert_eq!(linux_backend("XFCE"), None);
        assert_eq!(linux_backend(""), None);
        assert!(unsupported_message("XFCE").contains("\"XFCE\""));
        assert!(unsupported_message("").contains("not set"));
    }

    #[test]
    fn targets_use_the_pac_url_and_loopback() {
        let listen: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(Preference::Off.target(listen), None);
        assert_eq!(
            Preference::Pac.target(listen),
            Some(Target::Pac(burrow_core::pac::url(listen)))
        );
        assert_eq!(
            Preference::Manual.target(listen),
            Some(Target::Manual {
                host: "127.0.0.1".into(),
                port: 8080
            })
        );
        for p in [Preference::Off, Preference::Pac, Preference::Manual] {
            assert_eq!(Preference::from_name(p.name()), Some(p));
        }
    }

    #[test]
    fn burrow_changes_only_what_the_target_needs() {
        let user = ServiceSettings {
            mode: Mode::Manual,
            http: Endpoint::on("corp", 3128),
            socks: Endpoint::on("socks.corp", 1080),
            bypass: vec!["*.corp".into()],
            pac_url: "http://corp/wpad.dat".into(),
            ..ServiceSettings::default()
        };
        let mut pac = user.clone();
        apply_target(
            &mut pac,
            &Target::Pac("http://127.0.0.1:1/proxy.pac".into()),
            &[],
        );
        assert_eq!(pac.mode, Mode::Auto);
        assert_eq!(pac.http.host, "corp");
        assert!(!pac.http.enabled && !pac.socks.enabled);
        assert_eq!(pac.bypass, user.bypass);
        let mut manual = user.clone();
        let bypass = BYPASS.map(String::from);
        let t = Target::Manual {
            host: "127.0.0.1".into(),
            port: 9,
        };
        apply_target(&mut manual, &t, &bypass);
        assert_eq!(manual.https, Endpoint::on("127.0.0.1", 9));
        assert_eq!(manual.socks, user.socks);
        assert_eq!(manual.pac_url, user.pac_url);
        assert_eq!(
            ProxySettings::single(user.clone()).describe_change(&ProxySettings::single(pac)),
            "mode: Manual → Auto; PAC: \"http://corp/wpad.dat\" → \"http://127.0.0.1:1/proxy.pac\"; \
             HTTP switched off; SOCKS switched off"
        );
    }
}
