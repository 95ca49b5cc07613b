//! Where the settings live and how they are read and written.
//!
//! The settings file is a plain `burrow_core::Settings` JSON, the same file
//! `burrow --config` reads. Whether the proxy was on sits next to it in
//! `<name>.state.json`, so the settings file stays shareable with the CLI.
//! Both are written atomically: a temporary file in the same directory, then
//! a rename.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use burrow_core::Settings;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The two files the app keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// The settings (plain `Settings` JSON).
    pub settings: PathBuf,
    /// What the app remembers between runs (`SavedState`).
    pub state: PathBuf,
}

impl Paths {
    /// The files for a settings file: `dir/settings.json` pairs with `dir/settings.state.json`.
    pub fn for_settings(settings: impl Into<PathBuf>) -> Paths {
        let settings = settings.into();
        let state = settings.with_extension("state.json");
        Paths { settings, state }
    }
}

/// What the app remembers between runs besides the settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SavedState {
    /// Whether the proxy was on when the app last changed it.
    pub proxy_on: bool,
}

/// The command line: `burrow-desktop [--config FILE]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    /// The settings file given with `--config`.
    pub config: Option<PathBuf>,
}

/// Reads the command line (without the program name).
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut out = Args::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if let Some(file) = arg.strip_prefix("--config=") {
            out.config = Some(file.into());
        } else if arg == "--config" {
            let file = args.next().ok_or("--config needs a file name")?;
            out.config = Some(file.into());
        } else {
            return Err(format!(
                "unknown argument {arg:?}\nusage: burrow-desktop [--config SETTINGS.json]"
            ));
        }
    }
    Ok(out)
}

/// Reads the settings; a missing file gives the defaults.
pub fn load_settings(path: &Path) -> Result<Settings, Error> {
    match fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| Error::BadSettings {
            field: None,
            message: format!(
                "the settings file {} is not valid ({e}); fix it, or save settings from the window to replace it",
                path.display()
            ),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Settings::default()),
        Err(e) => Err(Error::file("read", path, e)),
    }
}

/// Reads the saved state; a missing or unreadable file means "proxy off".
pub fn load_state(path: &Path) -> SavedState {
    fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// Writes the settings atomically.
pub fn save_settings(path: &Path, settings: &Settings) -> Result<(), Error> {
    write_json(path, settings)
}

/// Writes the saved state atomically.
pub fn save_state(path: &Path, state: SavedState) -> Result<(), Error> {
    write_json(path, &state)
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), Error> {
    let mut text = serde_json::to_string_pretty(value).expect("settings always serialise");
    text.push('\n');
    write_atomic(path, text.as_bytes()).map_err(|e| Error::file("write", path, e))
}

/// Writes `bytes` to a temporary file next to `path`, syncs it, then renames it over `path`,
/// so a crash leaves either the old file or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let written = fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    match written.and_then(|()| fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "burrow-desktop-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn args() {
        let parse = |a: &[&str]| parse_args(a.iter().map(|s| s.to_string()));
        assert_eq!(parse(&[]).unwrap(), Args::default());
        assert_eq!(
            parse(&["--config", "a.json"]).unwrap().config,
            Some("a.json".into())
        );
        assert_eq!(
            parse(&["--config=b.json"]).unwrap().config,
            Some("b.json".into())
        );
        assert!(parse(&["--config"]).is_err());
        assert!(parse(&["--verbose"]).unwrap_err().contains("usage"));
    }

    #[test]
    fn state_file_sits_next_to_the_settings() {
        let p = Paths::for_settings("/cfg/settings.json");
        assert_eq!(p.state, PathBuf::from("/cfg/settings.state.json"));
    }

    #[test]
    fn settings_round_trip_and_missing_file_gives_defaults() {
        let dir = temp_dir("roundtrip");
        let path = dir.join("sub/settings.json");
        assert_eq!(load_settings(&path).unwrap(), Settings::default());
        let mut s = Settings {
            listen: "127.0.0.1:9191".parse().unwrap(),
            ..Settings::default()
        };
        s.timeouts.connect = 3.5;
        save_settings(&path, &s).unwrap();
        assert_eq!(load_settings(&path).unwrap(), s);
        // Only the final file is left behind.
        let names: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["settings.json"]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_plain_cli_settings_file_is_accepted() {
        let dir = temp_dir("plain");
        let path = dir.join("burrow.json");
        fs::write(
            &path,
            r#"{"listen":"127.0.0.1:3128","allowed_ports":"443,8443"}"#,
        )
        .unwrap();
        let s = load_settings(&path).unwrap();
        assert_eq!(s.listen.port(), 3128);
        assert!(s.allowed_ports.contains(8443));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_broken_file_is_reported_not_replaced() {
        let dir = temp_dir("broken");
        let path = dir.join("settings.json");
        fs::write(&path, "{\"listen\": 12").unwrap();
        let e = load_settings(&path).unwrap_err();
        assert_eq!(e.code(), "invalid_settings");
        assert!(e.to_string().contains("settings.json"));
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"listen\": 12");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn state_defaults_to_off() {
        let dir = temp_dir("state");
        let path = dir.join("settings.state.json");
        assert_eq!(load_state(&path), SavedState { proxy_on: false });
        save_state(&path, SavedState { proxy_on: true }).unwrap();
        assert!(load_state(&path).proxy_on);
        fs::write(&path, "garbage").unwrap();
        assert!(!load_state(&path).proxy_on);
        fs::remove_dir_all(dir).unwrap();
    }
}
