//! Burrow's desktop app: the proxy engine behind a tray icon, with a live
//! connection log, the settings form and the web simulator in one window.
//!
//! ```text
//!  tray menu ──┐                          ┌─► proxy-state event ─► page, tray, title
//!              ├─► actions ─► Controller ─┤
//!  commands ───┘    (state.rs: Engine / Running)
//!                                │ broadcast LogEvents
//!                                ▼
//!                  LogStore (records, cap) ──every 100 ms──► Channel<Batch> ─► page
//! ```
//!
//! The app makes no decision about requests: it shows what the engine and
//! core report.

pub mod actions;
pub mod autostart;
pub mod commands;
pub mod error;
pub mod icons;
pub mod log_store;
pub mod settings_file;
pub mod state;
pub mod tray;
pub mod window;

use tauri::{Builder, Manager, RunEvent, Runtime, WindowEvent};

pub use actions::AppState;
pub use error::Error;

/// The app's handlers and state, shared by [`run`] and the tests (which pass
/// `tauri::test::mock_builder()`).
pub fn builder<R: Runtime>(b: Builder<R>, state: AppState) -> Builder<R> {
    b.manage(state)
        .invoke_handler(tauri::generate_handler![
            commands::get_status,
            commands::set_proxy,
            commands::get_settings,
            commands::save_settings,
            commands::subscribe_log,
            commands::clear_log,
            commands::export_log,
            commands::open_in_simulator,
            commands::copy_address,
            commands::get_start_at_login,
            commands::set_start_at_login,
            commands::quit,
            commands::app_info,
        ])
        .on_window_event(|window, event| {
            // Closing the window hides it; Quit (tray or window) exits.
            if let WindowEvent::CloseRequested { api, .. } = event {
                api.prevent_close();
                let _ = window.hide();
            }
        })
        .setup(|app| {
            actions::spawn_ticker(app.handle().clone());
            Ok(())
        })
}

/// Runs the app: `burrow-desktop [--config SETTINGS.json] [--hidden]`.
pub fn run() {
    let args = match settings_file::parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("burrow-desktop: {message}");
            std::process::exit(2);
        }
    };
    let context = tauri::generate_context!();
    let login_args = autostart::login_args(args.config.as_deref());
    let settings_path = match args.config {
        Some(path) => path,
        None => {
            let identifier = &context.config().identifier;
            match settings_file::default_settings_path(dirs::config_dir(), identifier) {
                Ok(path) => path,
                Err(message) => {
                    eprintln!("burrow-desktop: {message}");
                    std::process::exit(2);
                }
            }
        }
    };
    let (state, restore) = AppState::open(settings_file::Paths::for_settings(settings_path));
    let app = builder(Builder::default(), state)
        // Must come first: a second launch only focuses this one.
        .plugin(tauri_plugin_single_instance::init(|app, args, _cwd| {
            // A login launch while the app already runs (started by hand first) changes nothing.
            if !args.iter().any(|a| a == settings_file::HIDDEN_ARG) {
                let _ = actions::show_window(app, "log");
            }
        }))
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(autostart::plugin(login_args))
        .build(context)
        .expect("the Tauri app could not be built");
    let handle = app.handle().clone();
    // Started at login: the tray only; "Show connection log" or a second launch shows it.
    if let Err(e) = window::create_main(&handle, !args.hidden) {
        eprintln!("burrow-desktop: cannot open the window: {e}");
        std::process::exit(1);
    }
    if restore {
        let h = handle.clone();
        tauri::async_runtime::spawn(async move { actions::set_proxy(&h, true).await });
    }
    let status = handle.state::<AppState>().controller.status();
    if let Err(e) = tray::create(&handle, &status) {
        // Without a tray the window is the only way in; keep going.
        eprintln!("burrow-desktop: no tray icon: {e}");
    }
    autostart::refresh_registration(&handle);
    actions::publish(&handle);
    app.run(|_app, event| {
        if let RunEvent::ExitRequested {
            code: None, api, ..
        } = event
        {
            // The last window closing does not quit a tray app; Quit passes a code.
            api.prevent_exit();
        }
    });
}
