//! The commands the page calls (`invoke(name, args)` in `ui/ipc.js`).
//! Each is a thin wrapper over [`actions`] or the log store; every one is
//! named in `command_names.rs` and allowed in `capabilities/main.json`.

use std::net::SocketAddr;
use std::str::FromStr;

use burrow_core::ports::PortList;
use burrow_core::Settings;
use serde::Serialize;
use serde_json::Value;
use tauri::ipc::Channel;
use tauri::{AppHandle, Runtime, State};

use crate::actions::{self, AppState};
use crate::autostart::{self, LoginStatus};
use crate::error::Error;
use crate::log_store::Batch;
use crate::settings_file;
use crate::state::Status;
use crate::system_proxy::Preference;
use burrow_core::simulate::{self, SimulatorLink};

// `NAMES`: the one list of command names, shared with `build.rs`.
include!("command_names.rs");

/// The proxy's status now.
#[tauri::command]
pub fn get_status(state: State<'_, AppState>) -> Status {
    state.controller.status()
}

/// Turns the proxy on or off.
#[tauri::command]
pub async fn set_proxy<R: Runtime>(app: AppHandle<R>, on: bool) -> Result<Status, Error> {
    actions::set_proxy(&app, on).await
}

/// The settings and the file they are saved in.
#[derive(Serialize)]
pub struct SettingsView {
    /// The settings in force.
    pub settings: Settings,
    /// The settings file.
    pub path: String,
    /// Where Burrow serves its PAC file, for the form to show (read-only).
    pub pac_url: String,
}

/// The settings in force.
#[tauri::command]
pub fn get_settings(state: State<'_, AppState>) -> SettingsView {
    let settings = state.controller.settings();
    SettingsView {
        pac_url: burrow_core::pac::url(settings.listen),
        settings,
        path: state.controller.paths().settings.display().to_string(),
    }
}

/// Validates, applies (restarting the listener) and saves settings sent by the form.
#[tauri::command]
pub async fn save_settings<R: Runtime>(
    app: AppHandle<R>,
    settings: Value,
) -> Result<Status, Error> {
    let settings = parse_settings(settings)?;
    actions::apply_settings(&app, settings).await
}

/// Reads the form's JSON into `Settings`, naming the field of the first value that is
/// not even the right shape (the rest is `Settings::validate`'s job).
pub fn parse_settings(value: Value) -> Result<Settings, Error> {
    let bad = |field: &str, message: String| Error::BadSettings {
        field: Some(field.into()),
        message,
    };
    if let Some(listen) = value.get("listen").and_then(Value::as_str) {
        SocketAddr::from_str(listen).map_err(|_| {
            bad(
                "listen",
                format!("{listen:?} is not an address and port such as 127.0.0.1:8080"),
            )
        })?;
    }
    if let Some(ports) = value.get("allowed_ports").and_then(Value::as_str) {
        PortList::from_str(ports).map_err(|e| bad("allowed_ports", e.to_string()))?;
    }
    if let Some(timeouts) = value.get("timeouts").and_then(Value::as_object) {
        for (name, v) in timeouts {
            if !v.is_number() {
                return Err(bad(
                    &format!("timeouts.{name}"),
                    format!("{v} is not a number of seconds; write one like 2.5"),
                ));
            }
        }
    }
    serde_json::from_value(value).map_err(|e| Error::BadSettings {
        field: None,
        message: format!("the settings are not valid: {e}"),
    })
}

/// Streams the log to the page: the whole log first, then every 100 ms what changed.
#[tauri::command]
pub fn subscribe_log(state: State<'_, AppState>, on_batch: Channel<Batch>) {
    state.subscribe(on_batch);
}

/// Removes closed connections from the log.
#[tauri::command]
pub fn clear_log(state: State<'_, AppState>) {
    state.store().clear();
}

/// Where the log was exported.
#[derive(Serialize)]
pub struct Exported {
    /// The file written.
    pub path: String,
    /// Records in it.
    pub records: usize,
    /// What happened, in a sentence for the page.
    pub message: String,
}

/// Writes the log as JSON Lines to the downloads directory.
#[tauri::command]
pub fn export_log<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<Exported, Error> {
    let (text, records) = {
        let store = state.store();
        (store.to_json_lines(), store.len())
    };
    let path = actions::export_dir(&app)?.join(export_name(unix_secs()));
    settings_file::write_atomic(&path, text.as_bytes())
        .map_err(|e| Error::file("write", &path, e))?;
    let path = path.display().to_string();
    let message = format!(
        "Exported {} to {path}",
        burrow_core::display::connections(records as u64)
    );
    Ok(Exported {
        path,
        records,
        message,
    })
}

/// The scenario replaying the logged connection `key`, for the simulator tab.
#[tauri::command]
pub fn open_in_simulator(state: State<'_, AppState>, key: u64) -> Result<SimulatorLink, Error> {
    let settings = state.controller.settings();
    let store = state.store();
    let record = store.get(key).ok_or(Error::NoRecord(key))?;
    Ok(simulate::link_for(record, &settings, store.listener(key)))
}

/// Sets "Use as system proxy": `"off"`, `"pac"` or `"manual"`.
#[tauri::command]
pub async fn set_system_proxy<R: Runtime>(
    app: AppHandle<R>,
    mode: String,
) -> Result<Status, Error> {
    let preference = Preference::from_name(&mode).ok_or_else(|| Error::BadSettings {
        field: Some("system_proxy".into()),
        message: format!("{mode:?} is not a system proxy mode; choose off, pac or manual"),
    })?;
    actions::set_system_proxy(&app, preference).await
}

/// Copies the PAC file's address to the clipboard; returns it.
#[tauri::command]
pub fn copy_pac_address<R: Runtime>(app: AppHandle<R>) -> Result<String, Error> {
    actions::copy_pac_address(&app)
}

/// Copies the proxy address to the clipboard; returns it.
#[tauri::command]
pub fn copy_address<R: Runtime>(app: AppHandle<R>) -> Result<String, Error> {
    actions::copy_address(&app)
}

/// Whether the app starts at login (the settings page's checkbox).
#[tauri::command]
pub fn get_start_at_login<R: Runtime>(app: AppHandle<R>) -> LoginStatus {
    autostart::status(&app)
}

/// Turns "Start at login" on or off.
#[tauri::command]
pub fn set_start_at_login<R: Runtime>(app: AppHandle<R>, on: bool) -> Result<LoginStatus, Error> {
    autostart::set(&app, on)
}

/// Stops the proxy and exits.
#[tauri::command]
pub async fn quit<R: Runtime>(app: AppHandle<R>) {
    actions::quit(&app).await;
}

/// About this process.
#[derive(Serialize)]
pub struct AppInfo {
    /// The process id.
    pub pid: u32,
    /// The app version.
    pub version: &'static str,
    /// The settings file.
    pub settings_path: String,
}

/// About this process (the end-to-end test uses the pid to clean up).
#[tauri::command]
pub fn app_info(state: State<'_, AppState>) -> AppInfo {
    AppInfo {
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION"),
        settings_path: state.controller.paths().settings.display().to_string(),
    }
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `burrow-log-20260127T093005Z.jsonl` for a Unix time (UTC): the access
/// log's timestamp without separators, so names sort by time.
fn export_name(unix: u64) -> String {
    let stamp: String = burrow_proxy::access_log::rfc3339(unix.saturating_mul(1000))
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    format!("burrow-log-{stamp}.jsonl")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn export_names_are_utc_timestamps() {
        assert_eq!(export_name(0), "burrow-log-19700101T000000Z.jsonl");
        assert_eq!(
            export_name(1_709_210_096),
            "burrow-log-20240229T123456Z.jsonl"
        );
    }

    #[test]
    fn form_values_of_the_wrong_shape_name_their_field() {
        let e = parse_settings(json!({"listen": "127.0.0.1:80800"})).unwrap_err();
        assert_eq!(e.field(), Some("listen"));
        let e = parse_settings(json!({"allowed_ports": "443,http"})).unwrap_err();
        assert_eq!(e.field(), Some("allowed_ports"));
        assert!(e.to_string().contains("\"http\""));
        let e = parse_settings(json!({"timeouts": {"dns": "soon"}})).unwrap_err();
        assert_eq!(e.code(), "invalid_settings");
        assert_eq!(e.field(), Some("timeouts.dns"));
        let s =
            parse_settings(json!({"listen": "127.0.0.1:3128", "allowed_ports": "443"})).unwrap();
        assert_eq!(s.listen.port(), 3128);
    }
}
