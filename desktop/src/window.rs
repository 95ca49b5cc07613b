//! The main window, and how its webview serves the simulator.
//!
//! The simulator tab is an `<iframe sandbox="allow-scripts">`: its document
//! has an opaque origin, so its script cannot reach the page's IPC
//! (`parent.__TAURI_INTERNALS__` is cross-origin) and Tauri refuses the
//! `Origin: null` of any IPC request it makes. On Linux and macOS Tauri's
//! initialisation scripts (and with them the invoke key every IPC message must
//! carry) go to the main frame only; WebView2 on Windows runs them in every
//! frame, which is one more reason the simulator's policy below leaves the IPC
//! endpoints out of `connect-src`.
//!
//! An opaque origin makes every request the simulator sends for its own
//! files (its module scripts, its wasm, `presets.json`) a cross-origin one,
//! and Tauri answers with `Access-Control-Allow-Origin: tauri://localhost`.
//! [`serve_simulator`] lets those public, static files be read by any origin,
//! and gives the simulator's documents a stricter policy of their own: no IPC
//! in `connect-src`, no frames, and the CSP `sandbox` directive, so the page
//! stays sandboxed wherever it is loaded.
//!
//! The window is made here rather than from `tauri.conf.json` (where it has
//! `"create": false`) because only a window built in code can change its
//! webview's answers.

use std::borrow::Cow;
use std::collections::HashMap;

use tauri::http::header::{HeaderValue, ACCESS_CONTROL_ALLOW_ORIGIN, CONTENT_SECURITY_POLICY};
use tauri::http::{Response, Uri};
use tauri::utils::config::{Csp, CspDirectiveSources};
use tauri::{AppHandle, Runtime, WebviewWindow, WebviewWindowBuilder};

use crate::error::Error;

/// The main window's label (in `tauri.conf.json`, with `"create": false`).
pub const MAIN: &str = "main";

/// Where the simulator's files are served, below the app's origin.
pub const SIMULATOR_PATH: &str = "/simulator/";

/// Creates the main window from its entry in `tauri.conf.json`, shown or (started at
/// login) hidden.
pub fn create_main<R: Runtime>(
    app: &AppHandle<R>,
    visible: bool,
) -> Result<WebviewWindow<R>, Error> {
    let config = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN)
        .ok_or_else(|| Error::Tauri(format!("tauri.conf.json has no {MAIN:?} window")))?
        .clone();
    let window = WebviewWindowBuilder::from_config(app, &config)?
        .visible(visible)
        .on_web_resource_request(|request, response| serve_simulator(request.uri(), response))
        .build()?;
    Ok(window)
}

/// Adjusts Tauri's answer for a file under [`SIMULATOR_PATH`] (see the module docs);
/// leaves every other answer alone.
pub fn serve_simulator(uri: &Uri, response: &mut Response<Cow<'static, [u8]>>) {
    if !uri.path().starts_with(SIMULATOR_PATH) {
        return;
    }
    let headers = response.headers_mut();
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    let Some(policy) = headers.get(CONTENT_SECURITY_POLICY) else {
        return;
    };
    let origin = match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
        _ => String::new(),
    };
    let policy = simulator_policy(policy.to_str().unwrap_or_default(), &origin);
    match HeaderValue::from_str(&policy) {
        Ok(value) => {
            headers.insert(CONTENT_SECURITY_POLICY, value);
        }
        // Never serve the simulator with a weaker policy than the app's.
        Err(_) => *response.body_mut() = Cow::Borrowed(b""),
    }
}

/// The app's policy for the simulator's documents, served from `origin`: no IPC, no
/// frames of its own, framed only by the app, sandboxed. An opaque origin matches no
/// `'self'`, so the app's origin is named beside each `'self'`.
pub fn simulator_policy(app_policy: &str, origin: &str) -> String {
    let map: HashMap<String, CspDirectiveSources> = Csp::Policy(app_policy.into()).into();
    let mut map: HashMap<String, CspDirectiveSources> = map
        .into_iter()
        .map(|(name, sources)| {
            let sources: Vec<String> = Vec::from(sources)
                .into_iter()
                .flat_map(|s| {
                    let named = (s == "'self'" && !origin.is_empty()).then(|| origin.to_string());
                    std::iter::once(s).chain(named)
                })
                .collect();
            (name, CspDirectiveSources::List(sources))
        })
        .collect();
    let mut only = |name: &str, sources: &[&str]| {
        let sources = sources
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.to_string());
        map.insert(name.into(), CspDirectiveSources::List(sources.collect()));
    };
    only("connect-src", &["'self'", origin]);
    only("frame-src", &["'none'"]);
    only("frame-ancestors", &["'self'", origin]);
    only("sandbox", &["allow-scripts"]);
    Csp::DirectiveMap(map).to_string()
}
