//! What the tray menu and the window's commands both do, in one place: each
//! action calls the controller, then tells the page (`proxy-state` event),
//! the tray and the window title what the state is now.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use burrow_core::Settings;
use tauri::ipc::Channel;
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::error::Error;
use crate::log_store::{Batch, LogStore, DEFAULT_CAP};
use crate::settings_file::Paths;
use crate::state::{Controller, Status};
use crate::system_proxy::Preference;
use crate::tray;

/// Event carrying a [`Status`] whenever it changes.
pub const PROXY_STATE_EVENT: &str = "proxy-state";
/// Event asking the page to show a tab (`"log"`, `"settings"`, `"simulator"`).
pub const SHOW_TAB_EVENT: &str = "show-tab";
/// How often the log is flushed to the page.
pub const BATCH_INTERVAL: Duration = Duration::from_millis(100);
/// How often Burrow checks that the system proxy still points at it.
pub const SYSTEM_PROXY_CHECK: Duration = Duration::from_secs(3);

/// Everything the app keeps, handed to Tauri with `manage`.
pub struct AppState {
    /// The proxy controller.
    pub controller: Controller,
    /// Where log batches go (the page's channel), once the page subscribed.
    log_channel: Mutex<Option<Channel<Batch>>>,
    /// The status last published, so only changes are sent.
    last_status: Mutex<Option<Status>>,
}

impl AppState {
    /// State around an existing controller.
    pub fn new(controller: Controller) -> AppState {
        AppState {
            controller,
            log_channel: Mutex::new(None),
            last_status: Mutex::new(None),
        }
    }

    /// State from the settings files; also says whether to turn the proxy on now.
    pub fn open(paths: Paths) -> (AppState, bool) {
        let store = Arc::new(Mutex::new(LogStore::new(DEFAULT_CAP)));
        let (controller, restore) = Controller::open(paths, store);
        (AppState::new(controller), restore)
    }

    /// The connection log.
    pub fn store(&self) -> std::sync::MutexGuard<'_, LogStore> {
        self.controller
            .store()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Sends log batches to `channel` from now on, starting with the whole log.
    pub fn subscribe(&self, channel: Channel<Batch>) {
        self.store().resync();
        *self.log_channel.lock().unwrap_or_else(|e| e.into_inner()) = Some(channel);
    }

    /// Sends what changed in the log, if a page listens.
    pub fn flush_log(&self) {
        let mut slot = self.log_channel.lock().unwrap_or_else(|e| e.into_inner());
        let Some(channel) = slot.as_ref() else {
            return;
        };
        let Some(batch) = self.store().take_batch() else {
            return;
        };
        if channel.send(batch).is_err() {
            // The page went away; it subscribes again when it loads.
            *slot = None;
        }
    }
}

/// Turns the proxy on or off (the window's switch and the tray's "Proxy on").
pub async fn set_proxy<R: Runtime>(app: &AppHandle<R>, on: bool) -> Result<Status, Error> {
    let result = app.state::<AppState>().controller.set_on(on).await;
    publish(app);
    result
}

/// Flips the user's on/off choice (the tray's check item).
pub async fn toggle_proxy<R: Runtime>(app: &AppHandle<R>) -> Result<Status, Error> {
    let on = !app.state::<AppState>().controller.wanted();
    set_proxy(app, on).await
}

/// Sets "Use as system proxy" (the window's choice).
pub async fn set_system_proxy<R: Runtime>(
    app: &AppHandle<R>,
    preference: Preference,
) -> Result<Status, Error> {
    let result = app
        .state::<AppState>()
        .controller
        .set_system_proxy(preference)
        .await;
    publish(app);
    result
}

/// Flips "Use as system proxy" (the tray's check item).
pub async fn toggle_system_proxy<R: Runtime>(app: &AppHandle<R>) -> Result<Status, Error> {
    let result = app
        .state::<AppState>()
        .controller
        .toggle_system_proxy()
        .await;
    publish(app);
    result
}

/// Applies and saves new settings (the window's Settings form).
pub async fn apply_settings<R: Runtime>(
    app: &AppHandle<R>,
    settings: Settings,
) -> Result<Status, Error> {
    let result = app.state::<AppState>().controller.apply(settings).await;
    publish(app);
    result
}

/// Copies the proxy address to the clipboard and returns it.
pub fn copy_address<R: Runtime>(app: &AppHandle<R>) -> Result<String, Error> {
    use tauri_plugin_clipboard_manager::{Clipboard, ClipboardExt};
    let url = app.state::<AppState>().controller.status().proxy_url;
    if app.try_state::<Clipboard<R>>().is_some() {
        app.clipboard()
            .write_text(url.clone())
            .map_err(|e| Error::Tauri(format!("cannot copy to the clipboard: {e}")))?;
    }
    Ok(url)
}

/// Copies the PAC file's address to the clipboard and returns it.
pub fn copy_pac_address<R: Runtime>(app: &AppHandle<R>) -> Result<String, Error> {
    use tauri_plugin_clipboard_manager::{Clipboard, ClipboardExt};
    let url = app.state::<AppState>().controller.status().pac_url;
    if app.try_state::<Clipboard<R>>().is_some() {
        app.clipboard()
            .write_text(url.clone())
            .map_err(|e| Error::Tauri(format!("cannot copy to the clipboard: {e}")))?;
    }
    Ok(url)
}

/// Shows, unhides and focuses the main window on `tab`.
pub fn show_window<R: Runtime>(app: &AppHandle<R>, tab: &str) -> Result<(), Error> {
    if let Some(w) = app.get_webview_window("main") {
        w.show()?;
        w.unminimize()?;
        w.set_focus()?;
    }
    app.emit(SHOW_TAB_EVENT, tab)?;
    Ok(())
}

/// Puts the system proxy back, stops the engine (open tunnels get the
/// shutdown grace), then exits.
pub async fn quit<R: Runtime>(app: &AppHandle<R>) {
    app.state::<AppState>().controller.shutdown().await;
    app.exit(0);
}

/// Tells the page, the tray and the window title about the current status,
/// if it changed since the last time.
pub fn publish<R: Runtime>(app: &AppHandle<R>) {
    let state = app.state::<AppState>();
    let status = state.controller.status();
    let previous = {
        let mut last = state.last_status.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_ref() == Some(&status) {
            return;
        }
        last.replace(status.clone())
    };
    let _ = app.emit(PROXY_STATE_EVENT, &status);
    let looks_different = previous.as_ref().is_none_or(|p| {
        p.power != status.power
            || p.line != status.line
            || p.wanted != status.wanted
            || p.icon != status.icon
            || p.system_proxy != status.system_proxy
    });
    if looks_different {
        tray::refresh(app, &status);
        if let Some(w) = app.get_webview_window("main") {
            let _ = w.set_title(&format!("Burrow — {}", status.line));
        }
    }
}

/// Every [`BATCH_INTERVAL`]: sends the log changes to the page and publishes status changes
/// (open tunnel counts move without any user action).
pub fn spawn_ticker<R: Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        let mut tick = tokio::time::interval(BATCH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            app.state::<AppState>().flush_log();
            publish(&app);
        }
    });
}

/// Every [`SYSTEM_PROXY_CHECK`]: checks that the system proxy still points
/// at Burrow; when another program changed it, the status (tray icon,
/// tooltip, status line, the window's banner) says so. There is no desktop
/// notification: the tooltip and the window carry it.
pub fn spawn_system_proxy_watch<R: Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        let mut tick = tokio::time::interval(SYSTEM_PROXY_CHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let h = app.clone();
            // Reading the settings runs a tool: off the runtime's workers.
            let changed = tokio::task::spawn_blocking(move || {
                h.state::<AppState>().controller.check_system_proxy()
            })
            .await
            .ok()
            .flatten();
            if changed.is_some() {
                publish(&app);
            }
        }
    });
}

/// Where "Export" writes: the downloads directory, else the app's data directory.
pub fn export_dir<R: Runtime>(app: &AppHandle<R>) -> Result<PathBuf, Error> {
    let paths = app.path();
    paths
        .download_dir()
        .or_else(|_| paths.app_data_dir())
        .map_err(Error::from)
}
