//! The `burrow` command line: flags, the settings file they override, and
//! the one-line messages the binary prints when it cannot start.

use std::net::SocketAddr;
use std::path::PathBuf;

use burrow_core::ports::PortList;
use burrow_core::settings::{Credentials, SettingsError};
use burrow_core::Settings;
use clap::Parser;

use crate::engine::StartError;

/// A personal HTTPS forward proxy: CONNECT tunnels and plain-HTTP forwarding.
#[derive(Debug, Parser)]
#[command(name = "burrow", version)]
pub struct Cli {
    /// Address and port to listen on [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Settings file (JSON); the flags below override its values
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Ports a CONNECT may reach, e.g. 443,8443,1000-2000 [default: 443,80]
    #[arg(long = "allow-port", value_name = "LIST")]
    pub allow_port: Option<PortList>,
    /// Seconds to wait for an upstream TCP connection [default: 10]
    #[arg(long, value_name = "SECS")]
    pub connect_timeout: Option<f64>,
    /// Require Basic proxy authentication with this user and password
    #[arg(long, value_name = "USER:PASS", value_parser = parse_credentials)]
    pub auth: Option<Credentials>,
    /// Print each finished connection as one JSON line instead of a readable line
    #[arg(long)]
    pub json: bool,
    /// Diagnostics on stderr, as a tracing filter (e.g. info, burrow_proxy=debug)
    #[arg(long, value_name = "FILTER", default_value = "warn")]
    pub log_level: String,
}

/// Why the settings could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The settings file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The settings file is not valid JSON settings.
    #[error("config file {path} is not valid: {source}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong, with line and column.
        source: serde_json::Error,
    },
    /// The combined settings are not usable.
    #[error("{0}")]
    Invalid(#[from] SettingsError),
}

impl Cli {
    /// The settings file (or the defaults) with the flags applied on top, validated.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let mut settings = match &self.config {
            Some(path) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: shown.clone(),
                    source,
                })?;
                serde_json::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: shown,
                    source,
                })?
            }
            None => Settings::default(),
        };
        if let Some(listen) = self.listen {
            settings.listen = listen;
        }
        if let Some(ports) = &self.allow_port {
            settings.allowed_ports = ports.clone();
        }
        if let Some(secs) = self.connect_timeout {
            settings.timeouts.connect = secs;
        }
        if let Some(auth) = &self.auth {
            settings.auth = Some(auth.clone());
        }
        settings.validate()?;
        Ok(settings)
    }
}

fn parse_credentials(text: &str) -> Result<Credentials, String> {
    match text.split_once(':') {
        Some((user, password)) => Ok(Credentials {
            user: user.to_string(),
            password: password.to_string(),
        }),
        None => Err("write it as user:password".to_string()),
    }
}

/// The one line printed when the engine cannot start, naming the flag to change.
pub fn start_error_message(e: &StartError) -> String {
    match e {
        StartError::AddrInUse(_) | StartError::PermissionDenied(_) | StartError::Io { .. } => {
            format!("{e} (--listen)")
        }
        StartError::Settings(_) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn cli(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("burrow").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_apply() {
        let c = cli(&[
            "--listen",
            "127.0.0.1:9000",
            "--allow-port",
            "443,8443,1000-2000",
            "--connect-timeout",
            "2.5",
            "--auth",
            "me:pw:with:colons",
        ])
        .unwrap();
        let s = c.settings().unwrap();
        assert_eq!(s.listen, "127.0.0.1:9000".parse().unwrap());
        assert!(s.allowed_ports.contains(1500) && !s.allowed_ports.contains(80));
        assert_eq!(s.timeouts.connect, 2.5);
        let auth = s.auth.unwrap();
        assert_eq!(
            (auth.user.as_str(), auth.password.as_str()),
            ("me", "pw:with:colons")
        );
    }

    #[test]
    fn defaults_without_flags() {
        assert_eq!(cli(&[]).unwrap().settings().unwrap(), Settings::default());
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        assert!(cli(&["--allow-port", "0"]).is_err());
        assert!(cli(&["--auth", "nocolon"]).is_err());
        assert!(cli(&["--listen", "localhost"]).is_err());
    }

    #[test]
    fn bad_values_are_named() {
        let e = cli(&["--connect-timeout", "0"])
            .unwrap()
            .settings()
            .unwrap_err();
        assert!(e.to_string().contains("connect"), "{e}");
    }

    #[test]
    fn start_errors_name_the_flag() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(
            start_error_message(&StartError::AddrInUse(addr)),
            "port 127.0.0.1:8080 is already in use: stop the other program or choose another port (--listen)"
        );
    }
}
