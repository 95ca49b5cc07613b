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
pub mod system_proxy;
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
            commands::set_system_proxy,
            commands::copy_pac_address,
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
            actions::spawn_system_proxy_watch(app.handle().clone());
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
    // Only the one instance gets here (a second one handed over and exited in
    // `build`). Before anything else, and before the engine: put back what a
    // crashed run left in the system proxy.
    let controller = &handle.state::<AppState>().controller;
    if let Some(message) = controller.recover_system_proxy() {
        eprintln!("burrow-desktop: {message}");
    }
    install_panic_hook(controller.system_proxy().clone());
    spawn_signal_handler(handle.clone());
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
    app.run(|app, event| match event {
        RunEvent::ExitRequested {
            code: None, api, ..
        } => {
            // The last window closing does not quit a tray app; Quit passes a code.
            api.prevent_exit();
        }
        // Every way out ends here (Quit, app.exit, the OS ending the session
        // where the platform reports it): the user's settings go back.
        RunEvent::Exit => {
            let _ = app.state::<AppState>().controller.release_system_proxy();
        }
        _ => {}
    });
}

/// A panic restores the system proxy before the usual report: through the
/// manager when it is free, else straight from the journal.
fn install_panic_hook(system: std::sync::Arc<std::sync::Mutex<system_proxy::Manager>>) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        match system.try_lock() {
            Ok(mut manager) => {
                if let Err(e) = manager.disable() {
                    eprintln!("burrow-desktop: cannot restore the system proxy after a panic: {e}");
                }
            }
            // Held by whoever panicked, or poisoned: go by the journal.
            Err(std::sync::TryLockError::Poisoned(p)) => {
                system_proxy::manager::emergency_restore(p.get_ref().journal_path())
            }
            Err(std::sync::TryLockError::WouldBlock) => {}
        }
        previous(info);
    }));
}

/// SIGTERM, SIGINT and SIGHUP quit through the same path as Quit (the
/// system proxy goes back, the engine stops), then the process exits.
fn spawn_signal_handler<R: Runtime>(app: tauri::AppHandle<R>) {
    #[cfg(unix)]
    tauri::async_runtime::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let kinds = [
            ("SIGTERM", SignalKind::terminate()),
            ("SIGINT", SignalKind::interrupt()),
            ("SIGHUP", SignalKind::hangup()),
        ];
        let mut streams = Vec::new();
        for (name, kind) in kinds {
            match signal(kind) {
                Ok(s) => streams.push((name, s)),
                Err(e) => eprintln!("burrow-desktop: cannot watch signals: {e}"),
            }
        }
        if streams.is_empty() {
            return;
        }
        let any = futures_select(&mut streams).await;
        eprintln!("burrow-desktop: {any}, quitting");
        app.state::<AppState>().controller.shutdown().await;
        app.exit(0);
        // If the event loop cannot run the exit, leave anyway: the settings are back.
        std::thread::spawn(|| {
            std::thread::sleep(std::time::Duration::from_secs(5));
            std::process::exit(0);
        });
    });
    #[cfg(not(unix))]
    let _ = app;
}

/// Waits for the first of the signal streams; names it.
#[cfg(unix)]
async fn futures_select(
    streams: &mut [(&'static str, tokio::signal::unix::Signal)],
) -> &'static str {
    std::future::poll_fn(|cx| {
        for (name, s) in streams.iter_mut() {
            if s.poll_recv(cx).is_ready() {
                return std::task::Poll::Ready(*name);
            }
        }
        std::task::Poll::Pending
    })
    .await
}
