//! "Start at login" (opt-in, off by default): the tray's check item and the settings
//! page's checkbox both end in [`set`].
//!
//! The registration is `tauri-plugin-autostart`'s, named [`APP_NAME`]: on Linux one file,
//! `~/.config/autostart/burrow-desktop.desktop` (under `$HOME`; the plugin does not read
//! `XDG_CONFIG_HOME`), rewritten whole when turned on and removed when turned off, so
//! turning it on twice still leaves exactly one entry; a LaunchAgent on macOS, a `Run`
//! registry value on Windows. The login launch passes [`HIDDEN_ARG`], so the app starts
//! in the tray without its window, and the single-instance plugin turns a second launch
//! into a focus of the first (a second `--hidden` launch changes nothing).
//!
//! The user's choice is kept in the desktop's saved state (`SavedState::start_at_login`),
//! not in the core settings: it is about this desktop session, not the proxy.

use std::path::Path;

use serde::Serialize;
use tauri::plugin::TauriPlugin;
use tauri::{AppHandle, Emitter, Manager, Runtime};
use tauri_plugin_autostart::AutoLaunchManager;

use crate::actions::AppState;
use crate::error::Error;
use crate::settings_file::HIDDEN_ARG;
use crate::tray;

/// The registration's name. Fixed rather than the product name (the plugin's default),
/// which the packages change (`tauri.dist.conf.json`): a packaged app and a development
/// build then share one entry instead of making two.
pub const APP_NAME: &str = "burrow-desktop";

/// Event carrying [`LoginStatus`] whenever "Start at login" changes.
pub const EVENT: &str = "start-at-login";

/// What the tray and the settings page show about "Start at login".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LoginStatus {
    /// Whether the user chose to start the app at login.
    pub on: bool,
    /// Whether this platform build can register it at all (false only without the plugin).
    pub available: bool,
}

/// The arguments the login launch gets: [`HIDDEN_ARG`], and the settings file the app was
/// started with, made absolute (a login launch starts in another directory), so the login
/// launch uses the same one. The plugin writes arguments into a desktop entry's `Exec=` line
/// unquoted, so a file name that would need quoting there is left out (the login launch
/// then uses the default settings file) rather than mangled.
pub fn login_args(config: Option<&Path>) -> Vec<String> {
    let mut args = vec![HIDDEN_ARG.to_string()];
    let Some(config) = config else {
        return args;
    };
    let file = match std::path::absolute(config) {
        Ok(file) => file,
        Err(e) => {
            eprintln!(
                "burrow-desktop: cannot make the settings file name {config:?} absolute ({e}); \
                 a login launch would use the default settings file"
            );
            return args;
        }
    };
    match file.to_str().filter(|f| fits_exec_line(f)) {
        Some(file) => args.push(format!("--config={file}")),
        None => eprintln!(
            "burrow-desktop: the settings file name {file:?} cannot go into a login entry; \
             a login launch would use the default settings file"
        ),
    }
    args
}

/// Whether `file` can stand unquoted in a desktop entry's `Exec=` line.
fn fits_exec_line(file: &str) -> bool {
    !file.is_empty()
        && file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+,@".contains(c))
}

/// The autostart plugin, registering the app as [`APP_NAME`] with `args`.
pub fn plugin<R: Runtime>(args: Vec<String>) -> TauriPlugin<R> {
    tauri_plugin_autostart::Builder::new()
        .app_name(APP_NAME)
        .args(args)
        .build()
}

/// The user's choice and whether it can be carried out here.
pub fn status<R: Runtime>(app: &AppHandle<R>) -> LoginStatus {
    LoginStatus {
        on: app.state::<AppState>().controller.start_at_login(),
        available: app.try_state::<AutoLaunchManager>().is_some(),
    }
}

/// Registers (or removes) the login launch, then saves the choice and tells the tray and
/// the page. Nothing is saved when the registration failed, so the check mark never
/// claims what the system does not do.
pub fn set<R: Runtime>(app: &AppHandle<R>, on: bool) -> Result<LoginStatus, Error> {
    let result = register(app, on).and_then(|()| {
        app.state::<AppState>()
            .controller
            .remember_start_at_login(on)
    });
    let now = status(app);
    tray::set_start_at_login(app, now.on);
    let _ = app.emit(EVENT, now);
    result.map(|()| now)
}

/// At launch: when the user chose it, registers again. The plugin rewrites the same entry,
/// so this never makes a second one, and the entry then names this very binary even after
/// the app was moved or reinstalled elsewhere. A choice of "off" is left alone here: the
/// entry is removed when the user turns it off.
pub fn refresh_registration<R: Runtime>(app: &AppHandle<R>) {
    if app.state::<AppState>().controller.start_at_login() {
        if let Err(e) = register(app, true) {
            eprintln!("burrow-desktop: {e}");
        }
    }
}

fn register<R: Runtime>(app: &AppHandle<R>, on: bool) -> Result<(), Error> {
    let launcher = app.try_state::<AutoLaunchManager>().ok_or_else(|| {
        Error::Tauri("starting at login is not available in this build".to_string())
    })?;
    let done = if on {
        launcher.enable()
    } else {
        // The plugin's disable already treats a missing entry as done.
        launcher.disable()
    };
    done.map_err(|e| {
        let verb = if on { "register" } else { "remove" };
        Error::Tauri(format!("cannot {verb} the login launch: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_launch_is_hidden_and_keeps_a_plain_settings_file() {
        assert_eq!(login_args(None), ["--hidden"]);
        assert_eq!(
            login_args(Some(Path::new("/home/u/burrow/settings.json"))),
            ["--hidden", "--config=/home/u/burrow/settings.json"]
        );
        // Spaces, quotes, `%` field codes or newlines would break the Exec= line.
        for file in [
            "/home/u/my settings.json",
            "/a/%u.json",
            "/a\nExec=x",
            "a\"b",
        ] {
            assert_eq!(login_args(Some(Path::new(file))), ["--hidden"], "{file:?}");
        }
    }

    #[test]
    fn a_relative_settings_file_is_passed_as_an_absolute_one() {
        let file = std::env::current_dir().unwrap().join("conf/settings.json");
        let file = file.to_str().unwrap();
        // The test's own directory decides whether the name fits an `Exec=` line.
        let mut expected = vec!["--hidden".to_string()];
        if fits_exec_line(file) {
            expected.push(format!("--config={file}"));
        }
        assert_eq!(login_args(Some(Path::new("conf/settings.json"))), expected);
    }
}
