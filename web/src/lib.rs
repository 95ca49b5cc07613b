//! The web simulator's bindings to `burrow-core`: JSON text in, JSON text
//! out, nothing decided here.
//!
//! The page (`www/`) builds a [`Scenario`] from its controls, calls
//! [`simulate`] and draws the [`Transcript`](burrow_core::simulate::Transcript)
//! it gets back. Every status, byte, word and class the page shows comes from
//! the core's transcript; this crate only moves JSON across the wasm boundary
//! and turns errors into JS exceptions with a readable message. The presets
//! live in `www/presets.json`, which the page fetches and the tests read.
//!
//! ```text
//!   page controls ─► Scenario JSON ─► simulate() ─► Transcript JSON ─► answer + diagram
//! ```

use burrow_core::outcome::DnsFailure;
use burrow_core::settings::Settings;
use burrow_core::simulate::{self as core_simulate, Scenario};
use wasm_bindgen::prelude::*;

/// Runs a scenario: `Scenario` JSON in, `Transcript` JSON out.
///
/// Throws an `Error` saying what is wrong when the JSON does not describe a
/// scenario (for example a bad port list or an address that is not an IP).
#[wasm_bindgen]
pub fn simulate(scenario_json: &str) -> Result<String, JsError> {
    simulate_json(scenario_json).map_err(|e| JsError::new(&e))
}

/// Checks settings the way the proxy does at start-up: `undefined` when they
/// would be accepted, otherwise the reason they would be refused.
///
/// The simulator runs any settings; the page shows this as a warning.
#[wasm_bindgen]
pub fn validate_settings(settings_json: &str) -> Result<Option<String>, JsError> {
    validate_json(settings_json).map_err(|e| JsError::new(&e))
}

/// The core's defaults for what the page has no control for, as JSON
/// `{settings, client, origin, dns_failures}`: the page notes loaded values
/// that differ, and lists the DNS failures a scenario can script (`value`
/// as the scenario names it, `words` as the log shows it).
#[wasm_bindgen]
pub fn defaults() -> String {
    #[derive(serde::Serialize)]
    struct Defaults {
        settings: Settings,
        client: std::net::SocketAddr,
        origin: core_simulate::OriginScript,
        dns_failures: Vec<Choice>,
    }
    #[derive(serde::Serialize)]
    struct Choice {
        value: DnsFailure,
        words: &'static str,
    }
    let defaults = Defaults {
        settings: Settings::default(),
        client: core_simulate::DEFAULT_CLIENT,
        origin: core_simulate::OriginScript::default(),
        dns_failures: DnsFailure::ALL
            .iter()
            .map(|&value| Choice {
                value,
                words: value.describe(),
            })
            .collect(),
    };
    serde_json::to_string(&defaults).unwrap_or_default()
}

/// [`simulate`] without the JS error type, for native callers and tests.
pub fn simulate_json(scenario_json: &str) -> Result<String, String> {
    let scenario: Scenario = serde_json::from_str(scenario_json)
        .map_err(|e| format!("The scenario cannot be used: {}", without_position(&e)))?;
    let transcript = core_simulate::simulate(&scenario);
    serde_json::to_string(&transcript).map_err(|e| e.to_string())
}

/// [`validate_settings`] without the JS error type.
pub fn validate_json(settings_json: &str) -> Result<Option<String>, String> {
    let settings: Settings = serde_json::from_str(settings_json)
        .map_err(|e| format!("The settings cannot be used: {}", without_position(&e)))?;
    Ok(settings.validate().err().map(|e| e.to_string()))
}

/// serde_json appends "at line 1 column 87"; the JSON is machine-made, so the
/// position means nothing to the person reading the message.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_is_explained_without_json_positions() {
        let e = simulate_json(r#"{"settings":{"allowed_ports":"44x"}}"#).unwrap_err();
        assert!(e.contains("44x") && !e.contains("column"), "{e}");
        let e = simulate_json(r#"{"dns":{"resolves":["not-an-ip"]}}"#).unwrap_err();
        assert!(e.starts_with("The scenario cannot be used"), "{e}");
        let e = validate_json(r#"{"nope":1}"#).unwrap_err();
        assert!(e.contains("nope") && !e.contains("column"), "{e}");
    }

    #[test]
    fn defaults_are_the_cores() {
        let d: serde_json::Value = serde_json::from_str(&defaults()).unwrap();
        let settings: Settings = serde_json::from_value(d["settings"].clone()).unwrap();
        assert_eq!(settings, Settings::default());
        assert_eq!(d["client"], "127.0.0.1:50000");
        let origin: core_simulate::OriginScript =
            serde_json::from_value(d["origin"].clone()).unwrap();
        assert_eq!(origin, core_simulate::OriginScript::default());
    }
}
