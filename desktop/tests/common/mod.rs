//! What more than one desktop test binary needs: the app on the mock runtime, and
//! commands called the way the page calls them.

use burrow_desktop::settings_file::Paths;
use burrow_desktop::{builder, AppState};
use serde_json::Value;
use tauri::test::{mock_builder, noop_assets, MockRuntime, INVOKE_KEY};
use tauri::webview::InvokeRequest;
use tauri::{App, Builder, WebviewWindow, WebviewWindowBuilder};

/// The app with its own ACL (`capabilities/main.json`, with the permissions `build.rs`
/// made), on the mock runtime; `extend` adds to the builder (a plugin, say).
pub fn acl_app(
    paths: Paths,
    extend: impl FnOnce(Builder<MockRuntime>) -> Builder<MockRuntime>,
) -> (App<MockRuntime>, WebviewWindow<MockRuntime>) {
    let context: tauri::Context<MockRuntime> =
        tauri::generate_context!("tauri.conf.json", test = true, assets = noop_assets());
    let (state, _) = AppState::open(paths);
    let app = extend(builder(mock_builder(), state))
        .build(context)
        .unwrap();
    let w = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    (app, w)
}

/// Calls a command the way the page does.
pub fn invoke(w: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Result<Value, Value> {
    invoke_from(w, "tauri://localhost", cmd, args)
}

/// Calls a command as a page at `url` would.
pub fn invoke_from(
    w: &WebviewWindow<MockRuntime>,
    url: &str,
    cmd: &str,
    args: Value,
) -> Result<Value, Value> {
    tauri::test::get_ipc_response(
        w,
        InvokeRequest {
            cmd: cmd.into(),
            callback: tauri::ipc::CallbackFn(0),
            error: tauri::ipc::CallbackFn(1),
            url: url.parse().unwrap(),
            body: tauri::ipc::InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        },
    )
    .map(|r| r.deserialize::<Value>().unwrap())
}
