//! The conformance vectors and the page's presets, run through the JSON API
//! the page calls. The same tests run three ways:
//!
//! - natively: `cargo test -p burrow-web`
//! - in Node: `cargo test -p burrow-web --target wasm32-unknown-unknown`
//! - in headless Chromium: the same with `WASM_BINDGEN_USE_BROWSER=1`
//!
//! `#[wasm_bindgen_test(unsupported = test)]` makes each one a plain
//! `#[test]` on native targets; a bare `#[wasm_bindgen_test]` would be
//! silently skipped there.

use burrow_core::conformance::{self, Expect};
use burrow_core::response::After;
use burrow_core::settings::Settings;
use serde_json::Value;
use wasm_bindgen_test::wasm_bindgen_test;

/// The one vectors file the core, the engine and the bindings all run.
const VECTORS: &str = include_str!("../../core/tests/vectors.json");

/// The page's presets; each `scenario` is exactly the JSON the page sends
/// when the preset is selected (the browser test checks that too).
const PRESETS: &str = include_str!("../www/presets.json");

/// Calls the `simulate` binding with JSON text, as the page does.
fn simulate(scenario: &Value) -> Result<Value, String> {
    let json = scenario.to_string();
    match burrow_web::simulate(&json) {
        Ok(out) => serde_json::from_str(&out).map_err(|e| format!("transcript JSON: {e}")),
        // The JS exception's message is the same text simulate_json gives.
        Err(_) => Err(burrow_web::simulate_json(&json)
            .err()
            .unwrap_or_else(|| "simulate threw, simulate_json did not".into())),
    }
}

/// Splits a vector into the scenario JSON the bindings get and what to expect,
/// with `${LISTEN}` replaced by the scenario's listen address.
fn prepare(mut vector: Value) -> (String, Value, Expect) {
    let obj = vector.as_object_mut().expect("a vector is a JSON object");
    let name = obj
        .remove("name")
        .and_then(|n| n.as_str().map(String::from))
        .expect("a vector has a name");
    let expect = obj.remove("expect").expect("a vector has expect");
    let expect: Expect = serde_json::from_value(expect)
        .unwrap_or_else(|e| panic!("{name}: expect is not valid: {e}"));
    let listen = obj
        .get("settings")
        .and_then(|s| s.get("listen"))
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| Settings::default().listen.to_string());
    if let Some(Value::String(request)) = obj.get_mut("request") {
        *request = request.replace(conformance::LISTEN_PLACEHOLDER, &listen);
    }
    (name, vector, expect)
}

fn client_bytes(transcript: &Value) -> Vec<u8> {
    // Response bytes travel as text with each byte as one char (Latin-1).
    transcript["client_bytes"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .map(|c| c as u8)
        .collect()
}

fn presets() -> Vec<Value> {
    match serde_json::from_str(PRESETS) {
        Ok(Value::Array(list)) => list,
        other => panic!("www/presets.json must be a JSON array: {other:?}"),
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn every_conformance_vector_through_the_bindings() {
    let vectors: Vec<Value> = serde_json::from_str(VECTORS).expect("vectors.json parses");
    assert!(vectors.len() >= 2, "vectors.json is nearly empty");
    let mut failures = Vec::new();
    for vector in vectors {
        let (name, scenario, expect) = prepare(vector);
        let transcript = match simulate(&scenario) {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let after: After = match serde_json::from_value(transcript["after"].clone()) {
            Ok(a) => a,
            Err(e) => {
                failures.push(format!("{name}: after: {e}"));
                continue;
            }
        };
        if let Err(e) = conformance::check(&expect, &client_bytes(&transcript), after) {
            failures.push(format!("{name}: {e}"));
        }
        if transcript["status"] != expect.status {
            failures.push(format!(
                "{name}: transcript status {} != {}",
                transcript["status"], expect.status
            ));
        }
        if transcript["steps"].as_array().is_none_or(Vec::is_empty) {
            failures.push(format!("{name}: no diagram steps"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[wasm_bindgen_test(unsupported = test)]
fn every_preset_through_the_bindings() {
    let list = presets();
    assert!(list.len() >= 14);
    for p in list {
        let id = p["id"].as_str().unwrap_or("?");
        let t = simulate(&p["scenario"]).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(t["status"], p["expect"]["status"], "{id}");
        assert_eq!(t["after"], p["expect"]["after"], "{id}");
        let step = p["expect"]["step"].as_str().unwrap_or_default();
        let found = t["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["label"].as_str().is_some_and(|l| l.contains(step)));
        assert!(found, "{id}: no step labelled {step:?}");
    }
}

fn preset_status(list: &[Value], id: &str) -> u64 {
    let p = list
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("preset {id} is missing"));
    let t = simulate(&p["scenario"]).unwrap_or_else(|e| panic!("{id}: {e}"));
    t["status"].as_u64().unwrap_or(0)
}

#[wasm_bindgen_test(unsupported = test)]
fn the_presets_the_issue_asks_for_have_their_statuses() {
    let list = presets();
    let status = |id| preset_status(&list, id);
    assert_eq!(status("browser-connect"), 200);
    assert_eq!(status("chrome-connect"), 200);
    assert_eq!(status("dns-no-such-host"), 502);
    assert_eq!(status("connect-timeout"), 504);
    assert_eq!(status("connect-refused"), 502);
    assert_eq!(status("port-denied"), 403);
    assert_eq!(status("auth-required"), 407);
    assert_eq!(status("auth-ok"), 200);
    for id in ["malformed-no-port", "malformed-path", "malformed-lowercase"] {
        assert_eq!(status(id), 400, "{id}");
    }
    assert_eq!(status("get-forwarded"), 200);
    let why = status("why-not-302");
    assert!(
        (500..600).contains(&why),
        "a failed CONNECT gets a 5xx, got {why}"
    );
}

/// The page writes a scenario in one canonical shape (request, settings
/// with listen/allowed_ports/auth, dns, connect, client_tls, and origin only
/// when it fails), so selecting a preset and reading the controls back gives
/// the same JSON. Keep the file in that shape.
#[wasm_bindgen_test(unsupported = test)]
fn presets_are_in_the_pages_canonical_shape() {
    for p in presets() {
        let id = p["id"].as_str().unwrap_or("?");
        for key in ["id", "group", "title", "description"] {
            assert!(p[key].is_string(), "{id}: {key}");
        }
        let s = p["scenario"].as_object().expect("scenario object");
        let mut keys: Vec<&str> = s.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut want = vec!["client_tls", "connect", "dns", "request", "settings"];
        if s.contains_key("origin") {
            assert!(
                s["origin"].get("fails").is_some(),
                "{id}: only a failing origin is written"
            );
            want.push("origin");
            want.sort_unstable();
        }
        assert_eq!(keys, want, "{id}: scenario keys");
        let mut settings: Vec<&str> = s["settings"]
            .as_object()
            .expect("settings object")
            .keys()
            .map(String::as_str)
            .collect();
        settings.sort_unstable();
        assert_eq!(
            settings,
            ["allowed_ports", "auth", "listen"],
            "{id}: settings keys"
        );
        let request = s["request"].as_str().unwrap_or_default();
        assert!(
            request.ends_with("\r\n\r\n") && !request.replace("\r\n", "").contains('\n'),
            "{id}: CR LF request"
        );
    }
}

#[wasm_bindgen_test(unsupported = test)]
fn first_preset_is_the_browser_connect_with_every_lifeline() {
    let first = &presets()[0];
    let request = first["scenario"]["request"].as_str().unwrap();
    assert!(request.starts_with("CONNECT www.microsoft.com:443 HTTP/1.0\r\n"));
    let t = simulate(&first["scenario"]).unwrap();
    assert_eq!(t["status"], 200);
    assert_eq!(t["after"], "tunnel");
    let actors: std::collections::BTreeSet<&str> = t["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| [s["from"].as_str().unwrap(), s["to"].as_str().unwrap()])
        .collect();
    assert_eq!(
        actors.into_iter().collect::<Vec<_>>(),
        ["browser", "burrow", "dns", "server"]
    );
}

#[wasm_bindgen_test(unsupported = test)]
fn settings_warnings_and_constants() {
    assert_eq!(
        burrow_web::validate_settings(r#"{"listen":"127.0.0.1:8080"}"#).ok(),
        Some(None)
    );
    let warning = burrow_web::validate_settings(r#"{"listen":"0.0.0.0:8080","auth":null}"#)
        .ok()
        .flatten()
        .expect("listening on the LAN without auth is refused");
    assert!(warning.contains("0.0.0.0:8080"), "{warning}");
    assert!(burrow_web::no_redirect_explanation().contains("3xx"));
    let rule: Value = serde_json::from_str(&burrow_web::forwarded_rule()).unwrap();
    assert!(rule["spec"].as_str().unwrap().contains("RFC 9112"));
}

/// A scenario the core cannot use becomes a JS `Error` whose message names
/// the problem (only on wasm: natively there is no JS to throw into).
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen_test]
fn bad_scenario_throws_a_readable_error() {
    use wasm_bindgen::{JsCast, JsValue};
    let err = burrow_web::simulate(r#"{"settings":{"allowed_ports":"443,smtp"}}"#)
        .expect_err("a bad port list is refused");
    let err: js_sys::Error = JsValue::from(err).dyn_into().expect("an Error object");
    let message = String::from(err.message());
    assert!(message.contains("smtp"), "{message}");
    assert!(
        message.starts_with("The scenario cannot be used"),
        "{message}"
    );
    let err = burrow_web::validate_settings("{\"listen\":1}").expect_err("refused");
    assert!(JsValue::from(err).is_instance_of::<js_sys::Error>());
}
