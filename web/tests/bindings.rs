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

use burrow_core::conformance::{self, Expect, Observed};
use burrow_core::response::After;
use burrow_core::settings::Settings;
use serde_json::Value;
use wasm_bindgen_test::wasm_bindgen_test;

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
/// with `${LISTEN}` and `${PORT}` filled from the scenario's listen address.
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
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| Settings::default().listen);
    if let Some(Value::String(request)) = obj.get_mut("request") {
        *request = conformance::fill_placeholders(request, listen);
    }
    if let Some(Value::Array(later)) = obj.get_mut("later") {
        for request in later.iter_mut() {
            if let Value::String(text) = request {
                *text = conformance::fill_placeholders(text, listen);
            }
        }
    }
    (name, vector, expect)
}

/// Bytes travel as text with each byte as one char (Latin-1).
fn bytes(transcript: &Value, key: &str) -> Vec<u8> {
    transcript[key]
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
    let vectors: Vec<Value> = conformance::FILES
        .iter()
        .flat_map(|(file, json)| {
            let list: Vec<Value> =
                serde_json::from_str(json).unwrap_or_else(|e| panic!("{file}.json: {e}"));
            list
        })
        .collect();
    assert!(vectors.len() >= 100, "the vector files are nearly empty");
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
        let (client, upstream) = (
            bytes(&transcript, "client_bytes"),
            bytes(&transcript, "upstream_bytes"),
        );
        let seen = Observed {
            client: &client,
            upstream: &upstream,
            after,
        };
        if let Err(e) = conformance::check(&expect, seen) {
            failures.push(format!("{name}: {e}"));
        }
        if transcript["answers"].as_array().is_none_or(Vec::is_empty) != expect.status.is_none() {
            failures.push(format!(
                "{name}: answers {} for status {:?}",
                transcript["answers"], expect.status
            ));
        }
        let first_final = transcript["answers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| a["status"].as_u64())
            .find(|s| !s.is_some_and(|s| (100..200).contains(&s)))
            .flatten();
        if first_final.map(|s| s as u16) != expect.status {
            failures.push(format!(
                "{name}: first answer {first_final:?} != {:?}",
                expect.status
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
    assert!(list.len() >= 24);
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
    // Issue 8's rules, each shown by a preset.
    assert_eq!(status("dns-rebinding"), 403);
    assert_eq!(status("local-name"), 200);
    assert_eq!(status("local-hosts"), 200);
    assert_eq!(status("metadata"), 403);
    assert_eq!(status("forward-port-25"), 403);
    assert_eq!(status("auth-throttled"), 429);
    assert_eq!(status("loop-interface"), 502);
    let why = status("why-not-302");
    assert!(
        (500..600).contains(&why),
        "a failed CONNECT gets a 5xx, got {why}"
    );
}

/// The page writes a scenario in one canonical shape (request, settings
/// with listen/allowed_ports/auth, dns, connect, client_tls; and only when
/// they differ from the core's defaults, forward_blocked_ports, local_hosts,
/// auth_throttle, host_addrs, auth_failures and a failing origin), so
/// selecting a preset and reading the controls back gives the same JSON.
/// Keep the file in that shape.
#[wasm_bindgen_test(unsupported = test)]
fn presets_are_in_the_pages_canonical_shape() {
    let defaults = serde_json::to_value(Settings::default()).expect("settings JSON");
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
        }
        if let Some(addrs) = s.get("host_addrs") {
            assert!(
                addrs.as_array().is_some_and(|a| !a.is_empty()),
                "{id}: host_addrs only when there are some"
            );
            want.push("host_addrs");
        }
        if let Some(n) = s.get("auth_failures") {
            assert!(
                n.as_u64().is_some_and(|n| n > 0),
                "{id}: auth_failures only when above 0"
            );
            want.push("auth_failures");
        }
        want.sort_unstable();
        assert_eq!(keys, want, "{id}: scenario keys");
        let settings = s["settings"].as_object().expect("settings object");
        let mut names: Vec<&str> = settings.keys().map(String::as_str).collect();
        names.sort_unstable();
        let mut want = vec!["allowed_ports", "auth", "listen"];
        for key in ["forward_blocked_ports", "local_hosts", "auth_throttle"] {
            if let Some(value) = settings.get(key) {
                assert_ne!(
                    value, &defaults[key],
                    "{id}: {key} only when not the default"
                );
                if key == "auth_throttle" {
                    // The page writes all three; whole seconds, because it reads
                    // 60.0 back as 60 and the browser test compares the JSON.
                    let t = value.as_object().expect("auth_throttle object");
                    assert!(
                        ["failures", "window", "block"]
                            .iter()
                            .all(|k| t.get(*k).is_some_and(|v| v.is_u64())),
                        "{id}: auth_throttle with whole failures, window and block"
                    );
                }
                want.push(key);
            }
        }
        want.sort_unstable();
        assert_eq!(names, want, "{id}: settings keys");
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
}

/// Everything the page shows is in the transcript, already in words: the
/// rule of every answer (forwarded ones too), the Proxy-Status parameters
/// with their meanings, the status of each diagram step, the record in words.
#[wasm_bindgen_test(unsupported = test)]
fn transcripts_describe_themselves() {
    let list = presets();
    let by_id = |id: &str| {
        let p = list.iter().find(|p| p["id"] == id).expect("preset");
        simulate(&p["scenario"]).expect("runs")
    };
    let t = by_id("dns-no-such-host");
    let answer = &t["answers"][0];
    assert_eq!(answer["speaker"], "burrow");
    assert_eq!(answer["class"], "failed");
    assert_eq!(answer["proxy_status"][0]["name"], "error");
    assert_eq!(answer["proxy_status"][0]["meaning"], "the error type");
    assert!(answer["proxy_status_field"]
        .as_str()
        .unwrap()
        .starts_with("burrow; error="));
    assert!(t["no_redirect"].as_str().unwrap().contains("3xx"));
    assert_eq!(t["after_title"], "Connection closed");
    let responded = t["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == 502)
        .expect("a step carries the status");
    assert_eq!(responded["class"], "failed");
    assert_eq!(t["record_text"]["dns_failure"], "no such host");

    let t = by_id("get-forwarded");
    let answer = &t["answers"][0];
    assert_eq!(answer["speaker"], "origin");
    assert!(answer["rule"]["spec"]
        .as_str()
        .unwrap()
        .contains("RFC 9112"));
    assert!(answer["forwarded"]["head"]
        .as_str()
        .unwrap()
        .starts_with("GET / HTTP/1.1\r\n"));
    assert!(t["no_redirect"].is_null());

    let t = by_id("browser-connect");
    assert_eq!(t["record"]["sni"], "www.microsoft.com");
    assert_eq!(t["record_text"]["sni_verdict"], "matches the CONNECT host");
    assert_eq!(
        t["listen_note"],
        "Only programs on this machine can connect."
    );
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

/// The page lists the DNS failures from `defaults()`; each one is a scenario
/// the simulator runs, and a refused lookup is answered 503.
#[wasm_bindgen_test(unsupported = test)]
fn every_dns_failure_the_page_lists_simulates() {
    let defaults: Value = serde_json::from_str(&burrow_web::defaults()).expect("defaults JSON");
    let listed = defaults["dns_failures"]
        .as_array()
        .expect("a list of DNS failures");
    let values: Vec<&str> = listed.iter().filter_map(|f| f["value"].as_str()).collect();
    assert_eq!(
        values,
        ["no_such_host", "timeout", "server_failure", "busy"]
    );
    for failure in listed {
        assert!(failure["words"].as_str().is_some_and(|w| !w.is_empty()));
        let scenario = serde_json::json!({
            "request": "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            "dns": { "fails": failure["value"] },
        });
        simulate(&scenario).expect("the simulator runs every listed failure");
    }
    let busy = serde_json::json!({
        "request": "CONNECT a.stuck.example:443 HTTP/1.1\r\nHost: a.stuck.example:443\r\n\r\n",
        "dns": { "fails": "busy" },
    });
    let transcript = simulate(&busy).expect("a transcript");
    assert_eq!(transcript["answers"][0]["status"], 503, "{transcript}");
    // The resolver was never asked: the diagram shows Burrow refusing itself.
    let refused = transcript["steps"]
        .as_array()
        .and_then(|steps| {
            steps.iter().find(|s| {
                s["label"]
                    .as_str()
                    .is_some_and(|l| l.contains("too many lookups"))
            })
        })
        .expect("a step for the refused lookup");
    assert_eq!(
        (&refused["from"], &refused["to"]),
        (&refused["from"], &refused["from"])
    );
}
