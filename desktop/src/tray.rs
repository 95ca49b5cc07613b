//! The tray icon and its menu. Linux sends no tray click events, so every
//! action is a menu item; on Windows a left click opens the window instead of
//! the menu. Menu ids live in [`MenuId`]; [`handle`] is the one place that
//! acts on them, through the same [`actions`] the window's commands call.

use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Runtime};

use crate::actions::{self, AppState};
use crate::autostart;
use crate::error::Error;
use crate::icons;
use crate::state::{Icon, Status};
use crate::system_proxy::Preference;

/// The tray icon's id.
pub const TRAY_ID: &str = "main";

/// The tray menu's items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MenuId {
    /// The disabled status line.
    Status,
    /// "Proxy on" check item.
    ProxyOn,
    /// "Use as system proxy" check item.
    SystemProxy,
    /// "Copy proxy address".
    CopyAddress,
    /// "Copy PAC address".
    CopyPac,
    /// "Show connection log".
    ShowLog,
    /// "Settings…".
    Settings,
    /// "Start at login" check item.
    StartAtLogin,
    /// "Quit".
    Quit,
}

impl MenuId {
    /// Every item, in menu order.
    pub const ALL: [MenuId; 9] = [
        MenuId::Status,
        MenuId::ProxyOn,
        MenuId::SystemProxy,
        MenuId::CopyAddress,
        MenuId::CopyPac,
        MenuId::ShowLog,
        MenuId::Settings,
        MenuId::StartAtLogin,
        MenuId::Quit,
    ];

    /// The menu item id.
    pub fn id(self) -> &'static str {
        match self {
            MenuId::Status => "status",
            MenuId::ProxyOn => "proxy_on",
            MenuId::SystemProxy => "system_proxy",
            MenuId::CopyAddress => "copy_address",
            MenuId::CopyPac => "copy_pac",
            MenuId::ShowLog => "show_log",
            MenuId::Settings => "settings",
            MenuId::StartAtLogin => "start_at_login",
            MenuId::Quit => "quit",
        }
    }

    /// The item with this id.
    pub fn from_id(id: &str) -> Option<MenuId> {
        MenuId::ALL.into_iter().find(|m| m.id() == id)
    }

    /// The item's label (the status line's is replaced by the status).
    fn label(self) -> &'static str {
        match self {
            MenuId::Status => "Off",
            MenuId::ProxyOn => "Proxy on",
            MenuId::SystemProxy => "Use as system proxy",
            MenuId::CopyAddress => "Copy proxy address",
            MenuId::CopyPac => "Copy PAC address",
            MenuId::ShowLog => "Show connection log",
            MenuId::Settings => "Settings…",
            MenuId::StartAtLogin => "Start at login",
            MenuId::Quit => "Quit",
        }
    }
}

/// The menu items whose text or check mark follows the status.
struct TrayItems<R: Runtime> {
    icon: TrayIcon<R>,
    status: MenuItem<R>,
    proxy_on: CheckMenuItem<R>,
    system_proxy: CheckMenuItem<R>,
}

/// The "Start at login" check item, kept apart from [`TrayItems`]: it follows the
/// saved choice, not the proxy's status.
struct StartAtLoginItem<R: Runtime>(CheckMenuItem<R>);

/// Builds the tray icon and its menu, showing `status`.
pub fn create<R: Runtime>(app: &AppHandle<R>, status: &Status) -> tauri::Result<()> {
    let item = |id: MenuId| MenuItem::with_id(app, id.id(), id.label(), true, None::<&str>);
    let status_item =
        MenuItem::with_id(app, MenuId::Status.id(), &status.line, false, None::<&str>)?;
    let proxy_on = CheckMenuItem::with_id(
        app,
        MenuId::ProxyOn.id(),
        MenuId::ProxyOn.label(),
        true,
        status.wanted,
        None::<&str>,
    )?;
    let system_proxy = CheckMenuItem::with_id(
        app,
        MenuId::SystemProxy.id(),
        MenuId::SystemProxy.label(),
        true,
        status.system_proxy.preference != Preference::Off,
        None::<&str>,
    )?;
    let start_at_login = CheckMenuItem::with_id(
        app,
        MenuId::StartAtLogin.id(),
        MenuId::StartAtLogin.label(),
        autostart::status(app).available,
        autostart::status(app).on,
        None::<&str>,
    )?;
    let menu = Menu::with_items(
        app,
        &[
            &status_item,
            &PredefinedMenuItem::separator(app)?,
            &proxy_on,
            &system_proxy,
            &item(MenuId::CopyAddress)?,
            &item(MenuId::CopyPac)?,
            &PredefinedMenuItem::separator(app)?,
            &item(MenuId::ShowLog)?,
            &item(MenuId::Settings)?,
            &start_at_login,
            &PredefinedMenuItem::separator(app)?,
            &item(MenuId::Quit)?,
        ],
    )?;
    let builder = TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon(status.icon))
        .tooltip(tooltip(status))
        .menu(&menu)
        .on_menu_event(|app, event| {
            if let Some(id) = MenuId::from_id(event.id.as_ref()) {
                let app = app.clone();
                tauri::async_runtime::spawn(async move { report(&app, handle(&app, id).await) });
            }
        })
        .on_tray_icon_event(|tray, event| {
            // Only Windows and macOS send clicks; on Windows a left click opens the window.
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                if cfg!(windows) {
                    let _ = actions::show_window(tray.app_handle(), "log");
                }
            }
        });
    #[cfg(windows)]
    let builder = builder.show_menu_on_left_click(false);
    let icon = builder.build(app)?;
    app.manage(TrayItems {
        icon,
        status: status_item,
        proxy_on,
        system_proxy,
    });
    app.manage(StartAtLoginItem(start_at_login));
    Ok(())
}

/// Carries out a menu item. The tray and the window share these paths.
pub async fn handle<R: Runtime>(app: &AppHandle<R>, id: MenuId) -> Result<(), Error> {
    match id {
        MenuId::Status => Ok(()),
        MenuId::ProxyOn => {
            let result = actions::toggle_proxy(app).await;
            // The menu flips its own check mark on click; put it back in line with the state.
            refresh(app, &app.state::<AppState>().controller.status());
            result.map(drop)
        }
        MenuId::SystemProxy => {
            let result = actions::toggle_system_proxy(app).await;
            refresh(app, &app.state::<AppState>().controller.status());
            result.map(drop)
        }
        MenuId::CopyAddress => actions::copy_address(app).map(drop),
        MenuId::CopyPac => actions::copy_pac_address(app).map(drop),
        MenuId::ShowLog => actions::show_window(app, "log"),
        MenuId::Settings => actions::show_window(app, "settings"),
        MenuId::StartAtLogin => {
            // `set` puts the check mark back in line with the saved choice, failed or not.
            let on = !autostart::status(app).on;
            autostart::set(app, on).map(drop)
        }
        MenuId::Quit => {
            actions::quit(app).await;
            Ok(())
        }
    }
}

/// A failed tray action has no form to show its error in: the status line and
/// the icon already show a failed start; anything else goes to stderr.
fn report<R: Runtime>(app: &AppHandle<R>, result: Result<(), Error>) {
    if let Err(e) = result {
        eprintln!("burrow-desktop: {e}");
        actions::publish(app);
    }
}

/// Makes the tray (if there is one) show `status`.
pub fn refresh<R: Runtime>(app: &AppHandle<R>, status: &Status) {
    let Some(items) = app.try_state::<TrayItems<R>>() else {
        return;
    };
    let _ = items.status.set_text(&status.line);
    let _ = items.proxy_on.set_checked(status.wanted);
    let _ = items
        .system_proxy
        .set_checked(status.system_proxy.preference != Preference::Off);
    let _ = items.icon.set_icon(Some(icon(status.icon)));
    let _ = items.icon.set_tooltip(Some(tooltip(status)));
}

/// Makes the tray's "Start at login" check mark show `on`.
pub fn set_start_at_login<R: Runtime>(app: &AppHandle<R>, on: bool) {
    if let Some(item) = app.try_state::<StartAtLoginItem<R>>() {
        let _ = item.0.set_checked(on);
    }
}

/// The tray image for a state.
pub fn icon(icon: Icon) -> Image<'static> {
    Image::new_owned(icons::rgba(icon), icons::SIZE, icons::SIZE)
}

/// The tooltip repeats the state, and says what needs the user's attention.
pub fn tooltip(status: &Status) -> String {
    use crate::system_proxy::Health;
    match &status.system_proxy.health {
        Health::Changed(m) | Health::RestoreFailed(m) | Health::Unavailable(m) => {
            format!("Burrow: {}\n{m}", status.line)
        }
        Health::Off | Health::On => format!("Burrow: {}", status.line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_ids_round_trip_and_are_unique() {
        for m in MenuId::ALL {
            assert_eq!(MenuId::from_id(m.id()), Some(m));
        }
        let mut ids: Vec<_> = MenuId::ALL.iter().map(|m| m.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), MenuId::ALL.len());
        assert_eq!(MenuId::from_id("nope"), None);
    }
}
