// The Burrow simulator page: wires the controls to the core (compiled to
// wasm) and shows its answer. Every status, byte and explanation comes from
// `simulate()`; this file only reads controls, calls it and draws the result.

import init, { simulate, validate_settings, defaults as coreDefaults } from "./pkg/burrow_web.js";
import {
  readControls,
  applyScenario,
  loadedNotes,
  dropLoadedSettings,
  dropLoadedOrigin,
  DEFAULTS,
  setDefaults,
  sameJson,
  toFragment,
  fromFragment,
} from "./scenario.js";
import { Diagram } from "./diagram.js";
import { renderAnswer, renderError, refreshBytes } from "./answer.js";

const $ = (id) => document.getElementById(id);
const DEBOUNCE_MS = 180;

let presets = [];
let transcript = null;
let diagram = null;

async function main() {
  try {
    const [, list] = await Promise.all([init(), loadPresets()]);
    presets = list;
    setDefaults(coreDefaults());
  } catch (e) {
    fatal(`The simulator could not start: ${e.message}. Serve this folder over HTTP (cargo xtask web); opening index.html as a file does not work.`);
    return;
  }
  fillPresets();
  fillDnsFailures();
  diagram = new Diagram({
    host: $("diagram"),
    note: $("step-note"),
    counter: $("step-counter"),
    play: $("play"),
    prev: $("prev"),
    next: $("next"),
    list: $("step-list"),
  });
  let linkProblem = null;
  let shared = null;
  try {
    shared = fromFragment(location.hash);
  } catch (e) {
    linkProblem = e.message;
  }
  applyScenario(shared || presets[0].scenario);
  wire();
  update(true);
  if (linkProblem) notice(`This link could not be read (${linkProblem}), so the default scenario is shown.`);
  document.body.dataset.ready = "1";
}

async function loadPresets() {
  const response = await fetch("presets.json");
  if (!response.ok) throw new Error(`presets.json: HTTP ${response.status}`);
  return response.json();
}

function fillPresets() {
  const select = $("preset");
  const groups = new Map();
  for (const p of presets) {
    if (!groups.has(p.group)) {
      const g = document.createElement("optgroup");
      g.label = p.group;
      groups.set(p.group, g);
      select.append(g);
    }
    groups.get(p.group).append(new Option(p.title, p.id));
  }
}

// The DNS failures a scenario can script, in the core's words.
function fillDnsFailures() {
  for (const f of DEFAULTS.dns_failures) $("dns").append(new Option(f.words, f.value));
}

function wire() {
  let pending = null;
  const soon = () => {
    clearTimeout(pending);
    pending = setTimeout(() => update(false), DEBOUNCE_MS);
  };
  const now = () => {
    clearTimeout(pending);
    update(false);
  };
  const typed = [
    "request", "dns-addrs", "host-addrs", "sni", "ports", "blocked-ports", "local-hosts",
    "user", "password", "throttle-failures", "throttle-window", "throttle-block", "auth-failures",
  ];
  for (const id of typed) {
    $(id).addEventListener("input", soon);
  }
  for (const id of ["bare-lf", "dns", "connect", "tls", "origin", "listen", "auth"]) {
    $(id).addEventListener("change", now);
  }
  $("preset").addEventListener("change", () => {
    const p = presets.find((x) => x.id === $("preset").value);
    if (!p) return;
    clearTimeout(pending);
    applyScenario(p.scenario);
    update(true);
  });
  // The loaded settings and origin answer the controls cannot show, dropped on request.
  $("settings-defaults").addEventListener("click", () => {
    clearTimeout(pending);
    dropLoadedSettings();
    update(false);
    $("listen").focus();
    notice("Loaded settings dropped: Burrow's defaults apply.");
  });
  $("origin-defaults").addEventListener("click", () => {
    clearTimeout(pending);
    dropLoadedOrigin();
    update(false);
    $("origin").focus();
    notice("Loaded origin answer dropped: the origin answers 200 with a body.");
  });
  $("blocked-ports-default").addEventListener("click", () => {
    clearTimeout(pending);
    $("blocked-ports").value = DEFAULTS.settings.forward_blocked_ports;
    update(false);
    $("blocked-ports").focus();
  });
  $("show-crlf").addEventListener("change", () => refreshBytes(transcript));
  $("copy-link").addEventListener("click", copyLink);
  // A link pasted into this tab changes only the fragment: no reload, so apply it here.
  window.addEventListener("hashchange", () => {
    try {
      const shared = fromFragment(location.hash);
      if (!shared) return;
      clearTimeout(pending);
      applyScenario(shared);
      update(true);
    } catch (e) {
      notice(`This link could not be read (${e.message}).`);
    }
  });
}

/** Runs the scenario in the controls and shows the answer; `animate` replays the diagram. */
function update(animate) {
  syncControls();
  const scenario = readControls();
  history.replaceState(null, "", toFragment(scenario));
  markPreset(scenario);
  showLoaded();
  showSettingsWarning(scenario.settings);
  try {
    transcript = JSON.parse(simulate(JSON.stringify(scenario)));
  } catch (e) {
    transcript = null;
    renderError(e.message);
    diagram.show([], false);
    document.body.dataset.status = "error";
    return;
  }
  renderAnswer(transcript, !animate);
  if (animate) $("no-redirect").open = presetHighlight() === "no_redirect";
  showHints(transcript);
  diagram.show(transcript.steps, animate);
  document.body.dataset.status = String(transcript.status ?? "none");
}

/** The notes on what the loaded scenario holds that the controls cannot show. */
function showLoaded() {
  const notes = loadedNotes();
  const text = $("settings-loaded-text");
  text.replaceChildren();
  if (notes.settings.length) {
    text.append("Loaded settings not shown here: ");
    notes.settings.forEach((item, i) => {
      if (i) text.append(", ");
      const code = document.createElement("code");
      code.textContent = item;
      text.append(code);
    });
    text.append(".");
  }
  $("settings-loaded").hidden = !notes.settings.length;
  $("origin-loaded-text").textContent = notes.origin ?? "";
  $("origin-loaded").hidden = !notes.origin;
}

function showSettingsWarning(settings) {
  let warning = null;
  try {
    warning = validate_settings(JSON.stringify(settings)) ?? null;
  } catch {
    // Unusable settings (a bad port list): simulate() reports the same problem.
  }
  $("settings-warning").hidden = !warning;
  $("settings-warning-text").textContent = warning
    ? `The real proxy would refuse to start with these settings: ${warning}.`
    : "";
}

/** Enables the fields that matter for the current choices, and updates the hints. */
function syncControls() {
  const dnsResolves = $("dns").value === "resolves";
  $("dns-addrs").disabled = !dnsResolves;
  const tls = $("tls").value;
  $("sni-row").hidden = tls !== "sni_other";
  $("sni-match-hint").hidden = tls !== "matching_sni";
  const authOn = $("auth").value === "on";
  for (const id of ["user", "password", "throttle-failures", "throttle-window", "throttle-block", "auth-failures"]) {
    $(id).disabled = !authOn;
  }
  $("blocked-ports-default").hidden =
    $("blocked-ports").value.trim() === DEFAULTS.settings.forward_blocked_ports;
  $("auth-fields").classList.toggle("off", !authOn);
  $("request-to").textContent = $("listen").value;
}

/** The hints that depend on what the core made of the scenario. */
function showHints(t) {
  $("listen-hint").textContent = t.listen_note;
  $("sni-match-hint").textContent = t.record.sni ? `SNI: ${t.record.sni}` : "SNI: the CONNECT host";
}

/** What the selected preset asks to open (e.g. the no-redirect explanation). */
function presetHighlight() {
  const p = presets.find((x) => x.id === $("preset").value);
  return p ? p.highlight : undefined;
}

function markPreset(scenario) {
  const match = presets.find((p) => sameJson(p.scenario, scenario));
  $("preset").value = match ? match.id : "custom";
  $("preset-description").textContent = match
    ? match.description
    : "Your own scenario: every change is simulated at once and saved in the link.";
}

async function copyLink() {
  const url = location.href;
  let ok = false;
  try {
    await navigator.clipboard.writeText(url);
    ok = true;
  } catch {
    const field = $("link-fallback");
    field.value = url;
    field.hidden = false;
    field.select();
    ok = document.execCommand && document.execCommand("copy");
  }
  notice(ok ? "Link copied: it opens this exact scenario." : "Copy the link from the field below.");
}

let noticeTimer = null;
function notice(text) {
  const n = $("notice");
  n.textContent = text;
  n.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => (n.hidden = true), 4000);
}

function fatal(text) {
  const box = $("fatal");
  box.textContent = text;
  box.hidden = false;
  document.body.dataset.ready = "failed";
}

window.burrowSimulator = {
  scenario: () => readControls(),
  transcript: () => transcript,
  defaults: () => DEFAULTS,
};

main();
