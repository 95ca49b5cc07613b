//! The `burrow` command line: flags, the settings file they override, and
//! the one-line messages the binary prints when it cannot start.
//!
//! Proxy credentials come, first match wins, from `--auth-file FILE` or
//! `--auth USER:PASS` (one or the other), then the `BURROW_AUTH` environment
//! variable, then the settings file. `--auth` works but puts the password in
//! the process list, where every local user can read it, so it warns.

use std::ffi::OsStr;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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
    /// Require Basic proxy authentication with the user:password on the first line of FILE,
    /// which only its owner may read (chmod 600)
    #[arg(long, value_name = "FILE")]
    pub auth_file: Option<PathBuf>,
    /// Like --auth-file, but other local users can read the password in the process
    /// list; prefer --auth-file or the BURROW_AUTH=user:password environment variable
    #[arg(
        long,
        value_name = "USER:PASS",
        value_parser = parse_credentials,
        conflicts_with = "auth_file"
    )]
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
    /// The `--auth-file` could not be read.
    #[error("cannot read auth file {path}: {source}")]
    ReadAuth {
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The `--auth-file` is open to other users.
    #[error("auth file {path} can be read or written by other users (mode {mode:03o}); run chmod 600 {path}")]
    AuthFileOpen {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// Credentials that are not `user:password` (never shown: they may hold a password).
    #[error("{origin} must hold user:password")]
    BadAuth {
        /// Where they came from: "the first line of auth file FILE" or "BURROW_AUTH".
        origin: String,
    },
    /// The combined settings are not usable.
    #[error("{0}")]
    Invalid(#[from] SettingsError),
}

/// The environment variable that may hold `user:password`.
pub const AUTH_ENV: &str = "BURROW_AUTH";

/// What `burrow` prints on stderr when the password was given with `--auth`.
pub const AUTH_FLAG_WARNING: &str = "warning: --auth shows the password to every local user \
(in the process list and /proc/PID/cmdline); use --auth-file FILE (chmod 600) or the \
BURROW_AUTH=user:password environment variable instead";

impl Cli {
    /// The settings file (or the defaults) with `BURROW_AUTH` and the flags applied on top,
    /// validated.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        self.settings_with_env(std::env::var_os(AUTH_ENV).as_deref())
    }

    /// [`Cli::settings`] with `env_auth` as the value of `BURROW_AUTH`.
    pub fn settings_with_env(&self, env_auth: Option<&OsStr>) -> Result<Settings, ConfigError> {
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
        if let Some(auth) = self.credentials(env_auth)? {
            settings.auth = Some(auth);
        }
        settings.validate()?;
        Ok(settings)
    }

    /// The credentials the flags or `BURROW_AUTH` give, flags first; `None` keeps the
    /// settings file's.
    fn credentials(&self, env_auth: Option<&OsStr>) -> Result<Option<Credentials>, ConfigError> {
        if let Some(path) = &self.auth_file {
            return read_auth_file(path).map(Some);
        }
        if let Some(auth) = &self.auth {
            return Ok(Some(auth.clone()));
        }
        let Some(value) = env_auth else {
            return Ok(None);
        };
        let bad = || ConfigError::BadAuth {
            origin: AUTH_ENV.to_string(),
        };
        let value = value.to_str().ok_or_else(bad)?;
        parse_credentials(value).map(Some).map_err(|_| bad())
    }

    /// The warning to print before starting, if the flags call for one.
    pub fn warning(&self) -> Option<&'static str> {
        self.auth.as_ref().map(|_| AUTH_FLAG_WARNING)
    }
}

/// Reads `user:password` from the first line of `path` (a trailing newline is not part
/// of the password). On Unix the file must be closed to group and others, as an
/// ssh key is.
pub fn read_auth_file(path: &Path) -> Result<Credentials, ConfigError> {
    let shown = path.display().to_string();
    let unreadable = |source| ConfigError::ReadAuth {
        path: shown.clone(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if meta.is_dir() {
        return Err(unreadable(std::io::Error::other("it is a directory")));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(ConfigError::AuthFileOpen {
                path: shown.clone(),
                mode,
            });
        }
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(unreadable)?;
    let first = text.lines().next().unwrap_or_default();
    parse_credentials(first).map_err(|_| ConfigError::BadAuth {
        origin: format!("the first line of auth file {shown}"),
    })
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
        let s = c.settings_with_env(None).unwrap();
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
        assert_eq!(
            cli(&[]).unwrap().settings_with_env(None).unwrap(),
            Settings::default()
        );
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
            .settings_with_env(None)
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

    /// A file holding `text`, with `mode` (Unix), alone in a fresh directory that is
    /// removed when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, text: &str, mode: u32) -> TempFile {
            let dir =
                std::env::temp_dir().join(format!("burrow-cli-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("auth");
            std::fs::write(&path, text).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::Permissions::from_mode(mode);
                std::fs::set_permissions(&path, mode).unwrap();
            }
            #[cfg(not(unix))]
            let _ = mode;
            TempFile(path)
        }

        fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
        }
    }

    fn auth_of(args: &[&str], env: Option<&str>) -> Result<(String, String), String> {
        let s = cli(args)
            .map_err(|e| e.to_string())?
            .settings_with_env(env.map(OsStr::new))
            .map_err(|e| e.to_string())?;
        let auth = s.auth.ok_or("no auth")?;
        Ok((auth.user, auth.password))
    }

    fn pair(user: &str, password: &str) -> Result<(String, String), String> {
        Ok((user.to_string(), password.to_string()))
    }

    #[test]
    fn the_auth_file_holds_user_and_password_on_its_first_line() {
        for (name, text) in [
            ("lf", "me:pw:with:colons\n"),
            ("crlf", "me:pw:with:colons\r\n"),
            ("bare", "me:pw:with:colons"),
            ("more", "me:pw:with:colons\nignored:line\n"),
        ] {
            let f = TempFile::new(name, text, 0o600);
            assert_eq!(
                auth_of(&["--auth-file", f.path()], None),
                pair("me", "pw:with:colons"),
                "{name}"
            );
        }
        // Spaces are part of the password; only the line end is not.
        let f = TempFile::new("spaces", "me: pass word \n", 0o600);
        assert_eq!(
            auth_of(&["--auth-file", f.path()], None),
            pair("me", " pass word ")
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_auth_file_others_can_open_is_refused() {
        for mode in [0o644, 0o640, 0o604, 0o660] {
            let f = TempFile::new(&format!("open{mode:o}"), "me:secret\n", mode);
            let file = f.path();
            let e = auth_of(&["--auth-file", file], None).unwrap_err();
            assert_eq!(
                e,
                format!("auth file {file} can be read or written by other users (mode {mode:03o}); run chmod 600 {file}")
            );
        }
        let f = TempFile::new("owner-only", "me:secret\n", 0o400);
        assert_eq!(
            auth_of(&["--auth-file", f.path()], None),
            pair("me", "secret")
        );
    }

    #[test]
    fn a_missing_or_malformed_auth_file_is_named_and_its_text_never_shown() {
        let e = auth_of(&["--auth-file", "/nonexistent/auth"], None).unwrap_err();
        assert!(
            e.starts_with("cannot read auth file /nonexistent/auth: "),
            "{e}"
        );
        for (name, text) in [
            ("nocolon", "secretword\n"),
            ("empty", ""),
            ("blank", "\nme:pw\n"),
        ] {
            let f = TempFile::new(name, text, 0o600);
            let file = f.path();
            let e = auth_of(&["--auth-file", file], None).unwrap_err();
            assert_eq!(
                e,
                format!("the first line of auth file {file} must hold user:password"),
                "{name}"
            );
        }
        let f = TempFile::new("dir", "", 0o600);
        let dir = f.0.parent().unwrap().to_str().unwrap();
        let e = auth_of(&["--auth-file", dir], None).unwrap_err();
        assert!(e.starts_with("cannot read auth file "), "{e}");
    }

    #[test]
    fn burrow_auth_gives_the_credentials_and_flags_come_first() {
        assert_eq!(auth_of(&[], Some("env:pw")), pair("env", "pw"));
        assert_eq!(
            auth_of(&["--auth", "flag:pw"], Some("env:pw")),
            pair("flag", "pw")
        );
        let f = TempFile::new("over-env", "file:pw\n", 0o600);
        assert_eq!(
            auth_of(&["--auth-file", f.path()], Some("env:pw")),
            pair("file", "pw")
        );
        // …and the environment over the settings file.
        let config = TempFile::new(
            "config",
            r#"{"auth": {"user": "config", "password": "pw"}}"#,
            0o600,
        );
        let config = config.path();
        assert_eq!(auth_of(&["--config", config], None), pair("config", "pw"));
        assert_eq!(
            auth_of(&["--config", config], Some("env:pw")),
            pair("env", "pw")
        );
        // A malformed value is an error, never silently no authentication; it is not shown.
        for bad in ["secretword", ""] {
            assert_eq!(
                auth_of(&[], Some(bad)).unwrap_err(),
                "BURROW_AUTH must hold user:password"
            );
        }
        // A bad BURROW_AUTH does not matter when a flag decides.
        assert_eq!(
            auth_of(&["--auth", "flag:pw"], Some("nocolon")),
            pair("flag", "pw")
        );
    }

    #[test]
    fn auth_and_auth_file_exclude_each_other() {
        let e = cli(&["--auth", "a:b", "--auth-file", "/x"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn only_auth_on_the_command_line_warns() {
        let warning = cli(&["--auth", "a:b"]).unwrap().warning().unwrap();
        assert!(warning.contains("--auth-file FILE"), "{warning}");
        assert!(warning.contains("BURROW_AUTH"), "{warning}");
        assert!(warning.contains("/proc/PID/cmdline"), "{warning}");
        assert_eq!(cli(&["--auth-file", "/x"]).unwrap().warning(), None);
        assert_eq!(cli(&[]).unwrap().warning(), None);
    }
}
