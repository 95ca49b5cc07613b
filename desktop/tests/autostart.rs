//! "Start at login" with the real autostart plugin on the mock runtime, through the page's
//! commands (under the app's own capability) and the tray item.
//!
//! The plugin writes under `$HOME`, so this test binary points `HOME` (and
//! `XDG_CONFIG_HOME`) at a temporary directory before any app exists, and holds this one
//! test only: the environment is the whole process's. The real user's autostart
//! directory is never touched.

mod common;

use std::fs;
use std::path::Path;

use burrow_desktop::autostart;
use burrow_desktop::settings_file::{self, Paths};
use burrow_desktop::tray::{self, MenuId};
use common::{acl_app, invoke};
use serde_json::json;
use tauri::test::MockRuntime;
use tauri::{App, WebviewWindow};

/// The app with its own capability (so the ACL is checked), with or without the plugin.
fn build_app(paths: Paths, plugin: bool) -> (App<MockRuntime>, WebviewWindow<MockRuntime>) {
    acl_app(paths, |b| {
        if plugin {
            b.plugin(autostart::plugin(autostart::login_args(None)))
        } else {
            b
        }
    })
}

/// The file names in `dir`, sorted; none when it does not exist.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(list) => list
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

#[test]
fn start_at_login_registers_exactly_once_and_is_removed_when_turned_off() {
    let root =
        std::env::temp_dir().join(format!("burrow-desktop-autostart-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let home = root.join("home");
    fs::create_dir_all(&home).unwrap();
    std::env::set_var("HOME", &home);
    std::env::set_var("XDG_CONFIG_HOME", home.join(".config"));
    let autostart_dir = home.join(".config/autostart");
    let paths = Paths::for_settings(root.join("cfg/settings.json"));
    let (app, w) = build_app(paths.clone(), true);
    let off = json!({"on": false, "available": true});
    let on = json!({"on": true, "available": true});

    // Off by default, and nothing registered.
    assert_eq!(invoke(&w, "get_start_at_login", json!({})).unwrap(), off);
    assert_eq!(entries(&autostart_dir), Vec::<String>::new());

    // On twice from the page: one entry, a hidden launch of this very binary.
    for _ in 0..2 {
        assert_eq!(
            invoke(&w, "set_start_at_login", json!({"on": true})).unwrap(),
            on
        );
        assert_eq!(entries(&autostart_dir), ["burrow-desktop.desktop"]);
    }
    let entry = fs::read_to_string(autostart_dir.join("burrow-desktop.desktop")).unwrap();
    let exe = std::env::current_exe().unwrap();
    assert!(
        entry
            .lines()
            .any(|l| l == format!("Exec={} --hidden", exe.display())),
        "{entry}"
    );
    assert!(settings_file::load_state(&paths.state).start_at_login);
    assert_eq!(invoke(&w, "get_start_at_login", json!({})).unwrap(), on);

    // The tray item flips it off: the entry goes, the choice is saved.
    tauri::async_runtime::block_on(tray::handle(app.handle(), MenuId::StartAtLogin)).unwrap();
    assert_eq!(entries(&autostart_dir), Vec::<String>::new());
    assert!(!settings_file::load_state(&paths.state).start_at_login);
    // Off again is not an error.
    assert_eq!(
        invoke(&w, "set_start_at_login", json!({"on": false})).unwrap(),
        off
    );

    // On from the tray; a launch registers again over the same entry, never a second one.
    tauri::async_runtime::block_on(tray::handle(app.handle(), MenuId::StartAtLogin)).unwrap();
    autostart::refresh_registration(app.handle());
    autostart::refresh_registration(app.handle());
    assert_eq!(entries(&autostart_dir), ["burrow-desktop.desktop"]);

    // Someone removed the entry by hand while the choice is on: the next launch puts it back.
    fs::remove_file(autostart_dir.join("burrow-desktop.desktop")).unwrap();
    autostart::refresh_registration(app.handle());
    assert_eq!(entries(&autostart_dir), ["burrow-desktop.desktop"]);
    invoke(&w, "set_start_at_login", json!({"on": false})).unwrap();
    assert_eq!(entries(&autostart_dir), Vec::<String>::new());

    // Without the plugin the choice is unavailable, and a failed change saves nothing.
    let other = Paths::for_settings(root.join("other/settings.json"));
    let (_plain, w2) = build_app(other.clone(), false);
    assert_eq!(
        invoke(&w2, "get_start_at_login", json!({})).unwrap(),
        json!({"on": false, "available": false})
    );
    let e = invoke(&w2, "set_start_at_login", json!({"on": true})).unwrap_err();
    assert!(e.to_string().contains("not available"), "{e}");
    assert!(!settings_file::load_state(&other.state).start_at_login);
    assert_eq!(entries(&autostart_dir), Vec::<String>::new());

    // Nothing was written outside the temporary home and the settings directories.
    let mut top = entries(&root);
    top.retain(|n| n != "home" && n != "cfg" && n != "other");
    assert_eq!(top, Vec::<String>::new());
    fs::remove_dir_all(&root).unwrap();
}
