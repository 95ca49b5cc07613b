//! The one error type of the app. It reaches the page as `{code, message}`
//! (plus `field` when a settings value is to blame, so the form can show the
//! message next to that field).

use std::io;
use std::path::PathBuf;

use burrow_core::settings::SettingsError;
use burrow_proxy::StartError;
use serde::ser::{Serialize, SerializeMap, Serializer};

/// Anything a command or a tray action can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Core refused a settings value (`Settings::validate`).
    #[error("{error}")]
    Settings {
        /// What core said.
        error: SettingsError,
        /// The form field it concerns.
        field: Option<String>,
    },
    /// Settings text that is not even the right shape (a port that is not a number).
    #[error("{message}")]
    BadSettings {
        /// The form field it concerns, if known.
        field: Option<String>,
        /// What is wrong, in words.
        message: String,
    },
    /// The engine could not start listening.
    #[error("{0}")]
    Start(#[from] StartError),
    /// A file could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    File {
        /// "read", "write"…
        action: &'static str,
        /// Which file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The log no longer holds this connection (dropped by the cap or cleared).
    #[error("connection #{0} is no longer in the log")]
    NoRecord(u64),
    /// The system proxy could not be set or restored; the message says what to do.
    #[error("{0}")]
    SystemProxy(String),
    /// Tauri itself failed (a window, the clipboard, a path lookup).
    #[error("{0}")]
    Tauri(String),
}

impl Error {
    /// A core settings error, with the form field it points at.
    pub fn settings(error: SettingsError) -> Error {
        let field = Some(error.field().to_string());
        Error::Settings { error, field }
    }

    /// A file error.
    pub fn file(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::File {
            action,
            path: path.into(),
            source,
        }
    }

    /// A stable, machine-readable name for the kind of error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Settings { .. } | Error::Start(StartError::Settings(_)) => "invalid_settings",
            Error::BadSettings { .. } => "invalid_settings",
            Error::Start(StartError::AddrInUse(_)) => "port_in_use",
            Error::Start(StartError::PermissionDenied(_)) => "permission_denied",
            Error::Start(StartError::Io { .. }) => "listen_failed",
            Error::File { .. } => "file",
            Error::NoRecord(_) => "no_record",
            Error::SystemProxy(_) => "system_proxy",
            Error::Tauri(_) => "internal",
        }
    }

    /// The settings form field this error is about, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::Settings { field, .. } | Error::BadSettings { field, .. } => field.as_deref(),
            Error::Start(
                StartError::AddrInUse(_) | StartError::PermissionDenied(_) | StartError::Io { .. },
            ) => Some("listen"),
            _ => None,
        }
    }
}

impl From<tauri::Error> for Error {
    fn from(e: tauri::Error) -> Self {
        Error::Tauri(e.to_string())
    }
}

impl Serialize for Error {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let field = self.field();
        let mut map = s.serialize_map(Some(2 + usize::from(field.is_some())))?;
        map.serialize_entry("code", self.code())?;
        map.serialize_entry("message", &self.to_string())?;
        if let Some(field) = field {
            map.serialize_entry("field", field)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burrow_core::Settings;
    use serde_json::json;

    fn check(e: Error, expected: serde_json::Value) {
        assert_eq!(serde_json::to_value(&e).unwrap(), expected);
    }

    #[test]
    fn errors_serialise_as_code_and_message() {
        check(
            Error::NoRecord(7),
            json!({"code": "no_record", "message": "connection #7 is no longer in the log"}),
        );
        check(
            Error::Tauri("window gone".into()),
            json!({"code": "internal", "message": "window gone"}),
        );
        check(
            Error::file(
                "write",
                "/x/settings.json",
                io::Error::new(io::ErrorKind::PermissionDenied, "denied"),
            ),
            json!({"code": "file", "message": "cannot write /x/settings.json: denied"}),
        );
    }

    #[test]
    fn start_errors_keep_the_engine_message_and_name_the_listen_field() {
        let addr = "127.0.0.1:8080".parse().unwrap();
        check(
            Error::Start(StartError::AddrInUse(addr)),
            json!({
                "code": "port_in_use",
                "message": "port 127.0.0.1:8080 is already in use: stop the other program or choose another port",
                "field": "listen",
            }),
        );
    }

    #[test]
    fn settings_errors_point_at_their_field() {
        let mut s = Settings::default();
        s.timeouts.dns = 0.0;
        let e = Error::settings(s.validate().unwrap_err());
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["code"], "invalid_settings");
        assert_eq!(v["field"], "timeouts.dns");
        assert!(v["message"].as_str().unwrap().contains("timeouts.dns = 0"));

        let s = Settings {
            listen: "0.0.0.0:8080".parse().unwrap(),
            ..Settings::default()
        };
        let e = Error::settings(s.validate().unwrap_err());
        assert_eq!(e.field(), Some("listen"));
        assert_eq!(e.code(), "invalid_settings");

        let s = Settings {
            deny_hosts: vec!["bad host".into()],
            ..Settings::default()
        };
        assert_eq!(
            Error::settings(s.validate().unwrap_err()).field(),
            Some("deny_hosts")
        );
    }
}
