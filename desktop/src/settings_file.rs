//! Where the settings live and how they are read and written.
//!
//! The settings file is a plain `burrow_core::Settings` JSON, the same file
//! `burrow --config` reads. Whether the proxy was on sits next to it in
//! `<name>.state.json`, so the settings file stays shareable with the CLI.
//! Both are written atomically: a temporary file in the same directory, then
//! a rename.
//!
//! The settings may hold the proxy password, so on Unix the files are made
//! `0600` and a missing directory `0700`. The temporary file has an
//! unpredictable name and is created exclusively (`O_CREAT | O_EXCL`, plus
//! `O_NOFOLLOW`), so a file or symlink planted in the directory is never
//! written through. On Windows the per-user config directory's default ACLs
//! apply.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use burrow_core::Settings;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::system_proxy::Preference;

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

/// What the app remembers between runs besides the settings. Desktop-only
/// preferences live here, not in `Settings`: the headless proxy has no use
/// for them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SavedState {
    /// Whether the proxy was on when the app last changed it.
    pub proxy_on: bool,
    /// "Use as system proxy": off (the default), PAC or manual.
    pub system_proxy: Preference,
    /// The mode the tray's check item turns on: the last one chosen (PAC unless manual was).
    pub system_proxy_mode: SystemProxyMode,
    /// Whether the user chose "Start at login" (a desktop preference, not a core setting).
    pub start_at_login: bool,
}

/// The mode "Use as system proxy" turns on from the tray.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemProxyMode {
    /// The PAC file (the safer default: it falls back to DIRECT).
    #[default]
    Pac,
    /// Burrow as the manual HTTP and HTTPS proxy.
    Manual,
}

impl SystemProxyMode {
    /// The preference it stands for.
    pub fn preference(self) -> Preference {
        match self {
            SystemProxyMode::Pac => Preference::Pac,
            SystemProxyMode::Manual => Preference::Manual,
        }
    }
}

/// The argument the login launch passes: start in the tray, without showing the window.
pub const HIDDEN_ARG: &str = "--hidden";

/// The command line: `burrow-desktop [--config FILE] [--hidden]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    /// The settings file given with `--config`.
    pub config: Option<PathBuf>,
    /// `--hidden`: start in the tray only (how the app starts at login).
    pub hidden: bool,
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
        } else if arg == HIDDEN_ARG {
            out.hidden = true;
        } else {
            return Err(format!(
                "unknown argument {arg:?}\nusage: burrow-desktop [--config SETTINGS.json] [--hidden]"
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
/// so a crash leaves either the old file or the new one. The result is private to the
/// user (see the module docs), whatever mode an earlier file had.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => {
            create_private_dir(dir)?;
            dir
        }
        None => Path::new("."),
    };
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(path.file_name().unwrap_or_default());
    prefix.push(".");
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .rand_bytes(12)
        .make_in(dir, create_private_file)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    // On failure the temporary file is removed when the error drops it.
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Creates `dir` and any missing parents, `0700` on Unix; an existing directory is left as it is.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates a new file for writing: never an existing one, never through a symlink; `0600` on Unix.
fn create_private_file(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// The settings file when no `--config` is given: `<config dir>/<identifier>/settings.json`,
/// what `app.path().app_config_dir()` gives. `config_dir` is the user's own
/// configuration directory (`dirs::config_dir()`); without one there is no private
/// place to keep a password, so the user is asked to name a file.
pub fn default_settings_path(
    config_dir: Option<PathBuf>,
    identifier: &str,
) -> Result<PathBuf, String> {
    let base = config_dir.ok_or(
        "there is no per-user configuration directory (is HOME set?) to keep the settings in; \
         name a settings file with --config FILE",
    )?;
    Ok(base.join(identifier).join("settings.json"))
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
        assert!(!parse(&[]).unwrap().hidden);
        let login = parse(&["--hidden", "--config=c.json"]).unwrap();
        assert!(login.hidden);
        assert_eq!(login.config, Some("c.json".into()));
        assert!(parse(&["--hidden=yes"]).is_err());
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
        assert_eq!(load_state(&path), SavedState::default());
        assert_eq!(load_state(&path).system_proxy, Preference::Off);
        let on = SavedState {
            proxy_on: true,
            system_proxy: Preference::Manual,
            system_proxy_mode: SystemProxyMode::Manual,
            start_at_login: true,
        };
        save_state(&path, on).unwrap();
        assert_eq!(load_state(&path), on);
        // A state file from before the system proxy setting reads as off.
        fs::write(&path, r#"{"proxy_on": true}"#).unwrap();
        assert_eq!(load_state(&path).system_proxy, Preference::Off);
        assert!(load_state(&path).proxy_on);
        // A state file from before "Start at login" reads as off.
        assert!(!load_state(&path).start_at_login);
        fs::write(&path, "garbage").unwrap();
        assert!(!load_state(&path).proxy_on);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn without_a_config_dir_the_user_is_asked_for_a_file() {
        let e = default_settings_path(None, "dev.burrow.app").unwrap_err();
        assert!(e.contains("--config FILE"), "{e}");
        let path = default_settings_path(Some("/home/u/.config".into()), "dev.burrow.app");
        assert_eq!(
            path.unwrap(),
            PathBuf::from("/home/u/.config/dev.burrow.app/settings.json")
        );
    }

    /// The permission bits, in octal.
    #[cfg(unix)]
    fn mode(path: &Path) -> String {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::symlink_metadata(path).unwrap().permissions().mode();
        format!("{:03o}", mode & 0o777)
    }

    #[cfg(unix)]
    #[test]
    fn files_and_new_directories_are_private_to_the_user() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("modes");
        let paths = Paths::for_settings(dir.join("new/sub/settings.json"));
        save_settings(&paths.settings, &Settings::default()).unwrap();
        save_state(
            &paths.state,
            SavedState {
                proxy_on: true,
                ..SavedState::default()
            },
        )
        .unwrap();
        assert_eq!(mode(&paths.settings), "600");
        assert_eq!(mode(&paths.state), "600");
        assert_eq!(mode(&dir.join("new")), "700");
        assert_eq!(mode(&dir.join("new/sub")), "700");

        // A file someone made readable by all is private again once saved.
        fs::set_permissions(&paths.settings, fs::Permissions::from_mode(0o644)).unwrap();
        save_settings(&paths.settings, &Settings::default()).unwrap();
        assert_eq!(mode(&paths.settings), "600");

        // An export into an existing shared directory: the file is private, the directory untouched.
        let shared = dir.join("Downloads");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o755)).unwrap();
        write_atomic(&shared.join("burrow-log.jsonl"), b"{}\n").unwrap();
        assert_eq!(mode(&shared.join("burrow-log.jsonl")), "600");
        assert_eq!(mode(&shared), "755");
        fs::remove_dir_all(dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_planted_at_temporary_names_are_not_followed() {
        let dir = temp_dir("planted");
        let victim = dir.join("victim");
        fs::write(&victim, "victim").unwrap();
        let cfg = dir.join("cfg");
        fs::create_dir(&cfg).unwrap();
        let settings = cfg.join("settings.json");
        let planted = [
            format!("settings.json.{}.tmp", std::process::id()),
            "settings.json.tmp".to_string(),
            ".settings.json.tmp".to_string(),
        ];
        for name in &planted {
            std::os::unix::fs::symlink(&victim, cfg.join(name)).unwrap();
        }
        let s = Settings {
            listen: "127.0.0.1:9191".parse().unwrap(),
            ..Settings::default()
        };
        save_settings(&settings, &s).unwrap();
        save_state(
            &cfg.join("settings.state.json"),
            SavedState {
                proxy_on: true,
                ..SavedState::default()
            },
        )
        .unwrap();

        assert_eq!(fs::read_to_string(&victim).unwrap(), "victim");
        for name in &planted {
            assert!(
                fs::symlink_metadata(cfg.join(name)).unwrap().is_symlink(),
                "{name}"
            );
        }
        assert!(fs::symlink_metadata(&settings).unwrap().is_file());
        assert_eq!(load_settings(&settings).unwrap(), s);
        let mut names: Vec<_> = fs::read_dir(&cfg)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        let mut expected: Vec<String> = planted.to_vec();
        expected.extend(["settings.json".into(), "settings.state.json".into()]);
        expected.sort();
        assert_eq!(names, expected, "only the two files are new");
        fs::remove_dir_all(dir).unwrap();
    }

    /// Even a temporary name someone guessed is never written through: the file is
    /// created exclusively, and a symlink (dangling or not) counts as taken.
    #[cfg(unix)]
    #[test]
    fn the_temporary_file_is_created_exclusively() {
        let dir = temp_dir("exclusive");
        let victim = dir.join("victim");
        fs::write(&victim, "victim").unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let e = create_private_file(&link).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        let dangling = dir.join("dangling");
        std::os::unix::fs::symlink(dir.join("nowhere"), &dangling).unwrap();
        assert!(create_private_file(&dangling).is_err());
        assert!(!dir.join("nowhere").exists());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "victim");
        fs::remove_dir_all(dir).unwrap();
    }
}
