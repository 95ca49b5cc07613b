//! The one settings struct: read from `burrow --config FILE`, the desktop
//! app's settings file, and the simulator's policy controls alike.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::policy::HostPattern;
use crate::ports::PortList;

/// Everything a user can configure about the proxy.
///
/// Every field has a default, so a settings file only names what it changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address and port the proxy listens on.
    pub listen: SocketAddr,
    /// Ports a CONNECT may reach.
    pub allowed_ports: PortList,
    /// Ports a forwarded `http://` request may not reach: by default the
    /// Fetch standard's bad ports, which browsers refuse themselves.
    pub forward_blocked_ports: PortList,
    /// When non-empty, only these hosts may be reached: names
    /// (`example.com`, `*.example.com`), addresses or networks
    /// (`203.0.113.0/24`), matched against the name and every resolved address.
    pub allow_hosts: Vec<String>,
    /// Hosts that may never be reached, written like `allow_hosts`; checked first.
    pub deny_hosts: Vec<String>,
    /// Names and networks that may resolve to internal addresses, besides
    /// the names that are local by definition (`localhost`, `*.local`, …):
    /// the exceptions to the DNS-rebinding rule. Metadata addresses
    /// (169.254.169.254) are reached only when listed here.
    pub local_hosts: Vec<String>,
    /// Hosts the PAC file (`/proxy.pac`) sends DIRECT, besides local names
    /// and addresses, written like `allow_hosts`. Matched by the browser
    /// on the URL's host as written: a name pattern never matches an
    /// address, and nothing is looked up.
    pub pac_bypass: Vec<String>,
    /// Basic proxy authentication; `None` lets every client in.
    pub auth: Option<Credentials>,
    /// After how many wrong passwords a client address is refused for a while.
    pub auth_throttle: AuthThrottleSettings,
    /// Whether loopback, private and link-local destinations may be reached.
    pub private_destinations: PrivateDestinations,
    /// Lets the proxy listen on a non-loopback address without authentication.
    pub allow_open_lan: bool,
    /// Deadlines, in seconds.
    pub timeouts: Timeouts,
    /// Most client connections served at once. When it is reached, an idle
    /// or silent connection is closed to make room; when all are busy,
    /// newcomers get a 503. The engine lowers it to what the process's
    /// descriptor limit allows (two per tunnel).
    pub max_connections: usize,
    /// Most connections from one client address (an IPv6 client's /64),
    /// so one client cannot hold every slot.
    pub max_connections_per_client: usize,
    /// Size limits on a request head.
    pub limits: HeadLimits,
}

/// A user name and password for Basic proxy authentication.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The user name; may not contain `:`.
    pub user: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Settings get logged; the password never should be.
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// Slowing down password guessing: `failures` wrong passwords from one
/// client address within `window` seconds block it for `block` seconds
/// (answered with 429), twice as long each time it happens again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthThrottleSettings {
    /// Wrong passwords allowed within the window; 0 turns throttling off.
    pub failures: u32,
    /// The window, in seconds.
    pub window: f64,
    /// The first block, in seconds.
    pub block: f64,
}

impl Default for AuthThrottleSettings {
    fn default() -> Self {
        AuthThrottleSettings {
            failures: 5,
            window: 60.0,
            block: 60.0,
        }
    }
}

/// Whether destinations on this machine or the local network may be reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrivateDestinations {
    /// Allowed while the proxy listens on loopback only, denied otherwise:
    /// a LAN client must not reach the owner's local services.
    #[default]
    Auto,
    /// Always allowed.
    Allow,
    /// Always denied.
    Deny,
}

/// Deadlines, each in (possibly fractional) seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    /// From the first byte of a request (or the connection's start) to its complete head.
    pub request_head: f64,
    /// Idle time allowed between keep-alive requests.
    pub keep_alive: f64,
    /// One DNS lookup.
    pub dns: f64,
    /// One TCP connect attempt.
    pub connect: f64,
    /// A tunnel with no bytes either way for this long is closed.
    pub tunnel_idle: f64,
    /// Waiting for a forwarded request's response head from the origin.
    pub upstream_response: f64,
    /// On stop, how long open tunnels may drain before they are cut.
    pub shutdown_grace: f64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            request_head: 30.0,
            keep_alive: 60.0,
            dns: 5.0,
            connect: 10.0,
            tunnel_idle: 600.0,
            upstream_response: 60.0,
            shutdown_grace: 2.0,
        }
    }
}

impl Timeouts {
    /// All deadlines as `(setting, seconds)`, named as in a settings file.
    pub fn named(&self) -> [(&'static str, f64); 7] {
        [
            ("timeouts.request_head", self.request_head),
            ("timeouts.keep_alive", self.keep_alive),
            ("timeouts.dns", self.dns),
            ("timeouts.connect", self.connect),
            ("timeouts.tunnel_idle", self.tunnel_idle),
            ("timeouts.upstream_response", self.upstream_response),
            ("timeouts.shutdown_grace", self.shutdown_grace),
        ]
    }
}

/// Converts validated seconds to a `Duration`.
pub fn secs(value: f64) -> Duration {
    Duration::from_secs_f64(value.clamp(0.0, MAX_TIMEOUT_SECS))
}

/// A week: longer deadlines are certainly typos.
pub const MAX_TIMEOUT_SECS: f64 = 7.0 * 24.0 * 3600.0;

// The largest values `validate` accepts: each far past any real use, and
// small enough that the engine honours it without overflow or a large
// allocation. A test runs the engine with every one of them.

/// Most `max_connections`.
pub const MAX_CONNECTIONS: usize = 100_000;
/// Most bytes for `limits.request_line`, `head_bytes` and `response_head_bytes`.
pub const MAX_HEAD_BYTES: usize = 1024 * 1024;
/// Most `limits.headers` and `limits.response_headers`.
pub const MAX_HEADER_FIELDS: usize = 1000;
/// Most entries in `allow_hosts`, `deny_hosts`, `local_hosts` or `pac_bypass`.
pub const MAX_HOST_PATTERNS: usize = 1000;
/// Most bytes in the proxy user name or password.
pub const MAX_CREDENTIAL_BYTES: usize = 256;
/// Most `auth_throttle.failures`.
pub const MAX_AUTH_FAILURES: u32 = 1000;

/// Size limits on message heads: a client's request, an origin's response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeadLimits {
    /// Longest request line; longer gets 414.
    pub request_line: usize,
    /// Most header fields in a request; more gets 431.
    pub headers: usize,
    /// Largest whole request head; larger gets 431.
    pub head_bytes: usize,
    /// Most header fields in an origin's response; more gets 502.
    pub response_headers: usize,
    /// Largest origin response head; larger gets 502.
    pub response_head_bytes: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            request_line: 16 * 1024,
            headers: 100,
            head_bytes: 64 * 1024,
            response_headers: 100,
            response_head_bytes: 64 * 1024,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080),
            allowed_ports: PortList::default(),
            forward_blocked_ports: PortList::fetch_bad_ports(),
            allow_hosts: Vec::new(),
            deny_hosts: Vec::new(),
            local_hosts: Vec::new(),
            pac_bypass: Vec::new(),
            auth: None,
            auth_throttle: AuthThrottleSettings::default(),
            private_destinations: PrivateDestinations::Auto,
            allow_open_lan: false,
            timeouts: Timeouts::default(),
            max_connections: 512,
            max_connections_per_client: 128,
            limits: HeadLimits::default(),
        }
    }
}

/// A settings value that cannot be used, and what to do about it.
#[derive(Clone, Debug, PartialEq)]
pub enum SettingsError {
    /// A timeout is zero, negative, not a number or absurdly long.
    BadTimeout {
        /// Which timeout.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// A user name contains `:` or a control character, is empty or too long.
    BadUser,
    /// The password contains a control character or is too long.
    BadPassword,
    /// A host pattern is not a name, `*.` and a name, an address or a network.
    BadHostPattern {
        /// The list it is in (`deny_hosts`).
        list: &'static str,
        /// The pattern as written.
        pattern: String,
    },
    /// A number is larger than Burrow accepts.
    TooLarge {
        /// The setting, as written in the file (`limits.headers`).
        name: &'static str,
        /// The largest value accepted.
        max: usize,
    },
    /// Listening beyond loopback without authentication.
    OpenLan(SocketAddr),
    /// A limit is zero or too small to hold a browser's request.
    BadLimit(&'static str),
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingsError::BadTimeout { name, value } => write!(
                f,
                "{name} = {value} is not usable: give a number of seconds above 0 and at most one week"
            ),
            SettingsError::BadUser => write!(
                f,
                "the proxy user name must be 1 to {MAX_CREDENTIAL_BYTES} bytes with no ':' or control characters"
            ),
            SettingsError::BadPassword => write!(
                f,
                "the proxy password must be at most {MAX_CREDENTIAL_BYTES} bytes with no control characters"
            ),
            SettingsError::BadHostPattern { list, pattern } => write!(
                f,
                "{list}: {pattern:?} is not valid: write a name (example.com), subdomains (*.example.com), an address (192.0.2.1, ::1) or a network (10.0.0.0/8, fd00::/8)"
            ),
            SettingsError::TooLarge { name, max } => {
                write!(f, "{name} is larger than Burrow accepts: at most {max}")
            }
            SettingsError::OpenLan(addr) => write!(
                f,
                "listening on {addr} would let anyone on the network use this proxy: set a user and password (auth), listen on 127.0.0.1, or set allow_open_lan"
            ),
            SettingsError::BadLimit(name @ ("max_connections" | "max_connections_per_client")) => {
                write!(f, "{name} must be at least 1")
            }
            SettingsError::BadLimit(name) => write!(
                f,
                "{name} is too small: a browser's request head needs at least 1024 bytes and 16 headers"
            ),
        }
    }
}

impl std::error::Error for SettingsError {}

impl SettingsError {
    /// The setting at fault, as a dotted path into the settings file
    /// (`timeouts.connect`, `auth.user`), so a form can point at it.
    pub fn field(&self) -> &'static str {
        match self {
            SettingsError::BadTimeout { name, .. } => name,
            SettingsError::BadUser => "auth.user",
            SettingsError::BadPassword => "auth.password",
            SettingsError::BadHostPattern { list, .. } => list,
            SettingsError::TooLarge { name, .. } => name,
            SettingsError::OpenLan(_) => "listen",
            SettingsError::BadLimit(name) => name,
        }
    }
}

impl Settings {
    /// Checks every value; the first problem found is returned.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let throttle = &self.auth_throttle;
        let timeouts = self.timeouts.named().into_iter().chain([
            ("auth_throttle.window", throttle.window),
            ("auth_throttle.block", throttle.block),
        ]);
        for (name, value) in timeouts {
            if !(value.is_finite() && value > 0.0 && value <= MAX_TIMEOUT_SECS) {
                return Err(SettingsError::BadTimeout { name, value });
            }
        }
        if let Some(c) = &self.auth {
            if c.user.is_empty()
                || c.user.len() > MAX_CREDENTIAL_BYTES
                || c.user.contains(':')
                || c.user.chars().any(char::is_control)
            {
                return Err(SettingsError::BadUser);
            }
            if c.password.len() > MAX_CREDENTIAL_BYTES || c.password.chars().any(char::is_control) {
                return Err(SettingsError::BadPassword);
            }
        }
        for (name, list) in [
            ("allow_hosts", &self.allow_hosts),
            ("deny_hosts", &self.deny_hosts),
            ("local_hosts", &self.local_hosts),
            ("pac_bypass", &self.pac_bypass),
        ] {
            if list.len() > MAX_HOST_PATTERNS {
                return Err(SettingsError::TooLarge {
                    name,
                    max: MAX_HOST_PATTERNS,
                });
            }
            if let Some(bad) = list.iter().find(|p| HostPattern::parse(p).is_none()) {
                return Err(SettingsError::BadHostPattern {
                    list: name,
                    pattern: bad.clone(),
                });
            }
        }
        if !self.listen_is_loopback() && self.auth.is_none() && !self.allow_open_lan {
            return Err(SettingsError::OpenLan(self.listen));
        }
        let l = &self.limits;
        let sizes = [
            ("limits.request_line", l.request_line, 1024, MAX_HEAD_BYTES),
            ("limits.head_bytes", l.head_bytes, 1024, MAX_HEAD_BYTES),
            ("limits.headers", l.headers, 16, MAX_HEADER_FIELDS),
            (
                "limits.response_head_bytes",
                l.response_head_bytes,
                1024,
                MAX_HEAD_BYTES,
            ),
            (
                "limits.response_headers",
                l.response_headers,
                16,
                MAX_HEADER_FIELDS,
            ),
            ("max_connections", self.max_connections, 1, MAX_CONNECTIONS),
            (
                "max_connections_per_client",
                self.max_connections_per_client,
                1,
                MAX_CONNECTIONS,
            ),
            (
                "auth_throttle.failures",
                throttle.failures as usize,
                0,
                MAX_AUTH_FAILURES as usize,
            ),
        ];
        for (name, value, min, max) in sizes {
            if value < min {
                return Err(SettingsError::BadLimit(name));
            }
            if value > max {
                return Err(SettingsError::TooLarge { name, max });
            }
        }
        Ok(())
    }

    /// What the listen address means for who can use the proxy.
    pub fn listen_note(&self) -> &'static str {
        match (self.listen_is_loopback(), self.private_allowed()) {
            (true, _) => "Only programs on this machine can connect.",
            (false, false) => {
                "Shared on the network: loopback and private destinations are refused."
            }
            (false, true) => "Shared on the network, and private destinations may be reached.",
        }
    }

    /// Whether destinations on loopback or private networks may be reached.
    pub fn private_allowed(&self) -> bool {
        match self.private_destinations {
            PrivateDestinations::Allow => true,
            PrivateDestinations::Deny => false,
            PrivateDestinations::Auto => self.listen_is_loopback(),
        }
    }

    /// Whether only programs on this machine can reach the listener.
    pub fn listen_is_loopback(&self) -> bool {
        crate::addr::canonical(self.listen.ip()).is_loopback()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_serialise_round_trip() {
        let s = Settings::default();
        s.validate().unwrap();
        let json = serde_json::to_string(&s).unwrap();
        let back: Settings = serde_json::from_str(&json).unwrap();
        assert_eq!(s, back);
    }

    #[test]
    fn partial_file_keeps_defaults() {
        let s: Settings =
            serde_json::from_str(r#"{"allowed_ports":"443,8443","timeouts":{"connect":2.5}}"#)
                .unwrap();
        assert!(s.allowed_ports.contains(8443));
        assert_eq!(s.timeouts.connect, 2.5);
        assert_eq!(s.timeouts.dns, 5.0);
    }

    #[test]
    fn unknown_fields_are_errors() {
        let e = serde_json::from_str::<Settings>(r#"{"listen_port":9}"#).unwrap_err();
        assert!(e.to_string().contains("listen_port"));
    }

    #[test]
    fn lan_needs_auth() {
        let mut s = Settings {
            listen: "0.0.0.0:8080".parse().unwrap(),
            ..Settings::default()
        };
        assert!(matches!(s.validate(), Err(SettingsError::OpenLan(_))));
        assert!(!s.private_allowed());
        s.auth = Some(Credentials {
            user: "me".into(),
            password: "pw".into(),
        });
        s.validate().unwrap();
    }

    #[test]
    fn bad_values_are_named() {
        let mut s = Settings::default();
        s.timeouts.connect = 0.0;
        assert!(s.validate().unwrap_err().to_string().contains("connect"));
        let s = Settings {
            auth: Some(Credentials {
                user: "a:b".into(),
                password: String::new(),
            }),
            ..Settings::default()
        };
        assert_eq!(s.validate(), Err(SettingsError::BadUser));
        let s = Settings {
            deny_hosts: vec!["exa mple.com".into()],
            ..Settings::default()
        };
        assert!(matches!(
            s.validate(),
            Err(SettingsError::BadHostPattern {
                list: "deny_hosts",
                ..
            })
        ));
        let s = Settings {
            pac_bypass: vec!["*.ok.example".into(), "</script>".into()],
            ..Settings::default()
        };
        assert_eq!(s.validate().unwrap_err().field(), "pac_bypass");
        let s = Settings {
            pac_bypass: vec!["a.example".into(); MAX_HOST_PATTERNS + 1],
            ..Settings::default()
        };
        assert_eq!(
            s.validate(),
            Err(SettingsError::TooLarge {
                name: "pac_bypass",
                max: MAX_HOST_PATTERNS
            })
        );
    }

    #[test]
    fn password_is_not_in_debug_output() {
        let c = Credentials {
            user: "u".into(),
            password: "secret".into(),
        };
        assert!(!format!("{c:?}").contains("secret"));
    }
}
