// The page's controls <-> the core's `Scenario` JSON, and the URL fragment.
//
// The page keeps the whole scenario it was last given (a preset, a shared
// link, the desktop app's "Open in simulator"). The controls edit the fields
// they manage: request, settings {listen, allowed_ports, auth,
// forward_blocked_ports, local_hosts, auth_throttle}, host_addrs,
// auth_failures, dns, connect, client_tls and the origin's choice. Every
// other field of the loaded scenario (other settings, client and listener
// addresses, a custom origin response) is carried through unchanged into
// what simulate() gets and into the link. A preset has none of those, so
// selecting one gives the canonical shape of presets.json: request, settings
// {listen, allowed_ports, auth}, dns, connect, client_tls; and only when they
// differ from the core's defaults, forward_blocked_ports, local_hosts,
// auth_throttle, host_addrs, auth_failures and a failing origin. (Written
// only then, so that a link stays short and old links and presets keep
// their shape.) No decisions are made here: the core answers (even which
// SNI "the host" is); this only reads and writes form fields.

const $ = (id) => document.getElementById(id);

/**
 * The core's defaults for what the page has no control for (`Settings`,
 * the simulator's client address, `OriginScript`), set by app.js from the
 * wasm module's `defaults()` at start-up. Used only to tell which loaded
 * values need a note.
 */
export let DEFAULTS = null;

/** Sets [`DEFAULTS`] from the core's `defaults()` JSON. */
export function setDefaults(json) {
  DEFAULTS = Object.freeze(JSON.parse(json));
}

/** The top-level fields and settings the controls edit; everything else is carried. */
const MANAGED = new Set([
  "request", "settings", "host_addrs", "auth_failures", "dns", "connect", "client_tls", "origin",
]);
const MANAGED_SETTINGS = new Set([
  "listen", "allowed_ports", "auth", "forward_blocked_ports", "local_hosts", "auth_throttle",
]);
/** The origin option standing for the loaded origin, when no other option can show it. */
const AS_LOADED = "loaded";

/** The scenario last applied, as given. */
let loaded = {};

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
const copy = (v) => (v === undefined ? v : JSON.parse(JSON.stringify(v)));

/** The loaded settings the controls do not edit, unchanged. */
function carriedSettings() {
  const settings = isObject(loaded.settings) ? loaded.settings : {};
  return Object.fromEntries(
    Object.entries(settings)
      .filter(([k]) => !MANAGED_SETTINGS.has(k))
      .map(([k, v]) => [k, copy(v)]),
  );
}

/** The loaded top-level fields the controls do not edit (client, listener), unchanged. */
function carriedFields() {
  return Object.fromEntries(
    Object.entries(loaded)
      .filter(([k]) => !MANAGED.has(k))
      .map(([k, v]) => [k, copy(v)]),
  );
}

/** "a, b c" → ["a", "b", "c"]: the lists the page takes as text. */
const list = (id) => $(id).value.split(/[\s,]+/).filter(Boolean);

/** A number field as a number; as typed when it is not one, so the core names the problem. */
function number(id) {
  const text = $(id).value.trim();
  const n = Number(text);
  return text !== "" && Number.isFinite(n) ? n : text;
}

/** The settings the new-rule controls hold, each only when it is not the core's default. */
function ruleSettings() {
  const out = {};
  const blocked = $("blocked-ports").value.trim();
  if (blocked !== DEFAULTS.settings.forward_blocked_ports) out.forward_blocked_ports = blocked;
  const local = list("local-hosts");
  if (local.length) out.local_hosts = local;
  const throttle = {
    failures: number("throttle-failures"),
    window: number("throttle-window"),
    block: number("throttle-block"),
  };
  if (!sameJson(throttle, DEFAULTS.settings.auth_throttle)) out.auth_throttle = throttle;
  return out;
}

/** Reads every control, plus the carried fields, into a Scenario object (what simulate() gets). */
export function readControls() {
  const text = $("request").value;
  const request = $("bare-lf").checked ? text : text.replace(/\r?\n/g, "\r\n");
  const auth =
    $("auth").value === "on" ? { user: $("user").value, password: $("password").value } : null;
  const dns =
    $("dns").value === "resolves"
      ? { resolves: list("dns-addrs") }
      : { fails: $("dns").value };
  const connect = $("connect").value === "connects" ? "connects" : { fails: $("connect").value };
  const tls = $("tls").value;
  let client_tls = tls;
  if (tls === "sni_other") client_tls = { sni: $("sni").value };
  const scenario = {
    request,
    settings: {
      listen: $("listen").value,
      allowed_ports: $("ports").value,
      auth,
      ...ruleSettings(),
      ...carriedSettings(),
    },
    ...carriedFields(),
    dns,
    connect,
    client_tls,
  };
  const hostAddrs = list("host-addrs");
  if (hostAddrs.length) scenario.host_addrs = hostAddrs;
  const failures = number("auth-failures");
  if (failures !== 0) scenario.auth_failures = failures;
  const origin = $("origin").value;
  if (origin === AS_LOADED) {
    scenario.origin = copy(loaded.origin);
  } else if (origin !== "responds") {
    scenario.origin = { fails: origin };
  } else if (loaded.origin !== undefined && sameJson(loaded.origin, DEFAULTS.origin)) {
    // Spelled out in the loaded scenario: keep it as given.
    scenario.origin = copy(loaded.origin);
  }
  return scenario;
}

/** Sets every control from a (possibly partial) Scenario object, and keeps the rest of it. */
export function applyScenario(s) {
  loaded = isObject(s) ? copy(s) : {};
  const request = typeof s.request === "string" ? s.request : "";
  $("request").value = request.replace(/\r\n/g, "\n");
  $("bare-lf").checked = request.includes("\n") && !request.includes("\r\n");

  const settings = s.settings || {};
  setSelect("listen", settings.listen || "127.0.0.1:8080");
  $("ports").value = settings.allowed_ports ?? "443,80";
  $("auth").value = settings.auth ? "on" : "off";
  if (settings.auth) {
    $("user").value = settings.auth.user ?? "";
    $("password").value = settings.auth.password ?? "";
  }
  const d = DEFAULTS.settings;
  $("blocked-ports").value = settings.forward_blocked_ports ?? d.forward_blocked_ports;
  $("local-hosts").value = joined(settings.local_hosts ?? d.local_hosts);
  const throttle = { ...d.auth_throttle, ...settings.auth_throttle };
  $("throttle-failures").value = throttle.failures;
  $("throttle-window").value = throttle.window;
  $("throttle-block").value = throttle.block;
  $("host-addrs").value = joined(s.host_addrs ?? []);
  $("auth-failures").value = s.auth_failures ?? 0;

  const dns = s.dns || { resolves: ["192.0.2.10"] };
  if (dns.fails) {
    setSelect("dns", dns.fails);
  } else {
    $("dns").value = "resolves";
    $("dns-addrs").value = (dns.resolves || []).join(", ");
  }

  const connect = s.connect || "connects";
  setSelect("connect", connect.fails || "connects");

  const tls = s.client_tls || "nothing";
  if (typeof tls === "object" && tls.sni !== undefined) {
    $("tls").value = "sni_other";
    $("sni").value = tls.sni;
  } else {
    setSelect("tls", tls);
  }

  setOrigin(s.origin);
}

/** A list as the page's text fields show it; anything else as text, for the core to refuse. */
function joined(v) {
  return Array.isArray(v) ? v.join(", ") : String(v);
}

/** Selects the origin option for `origin`, or "as loaded" when none of them can show it. */
function setOrigin(origin) {
  const select = $("origin");
  const failures = [...select.options]
    .map((o) => o.value)
    .filter((v) => v !== "responds" && v !== AS_LOADED);
  let value = AS_LOADED;
  if (origin === undefined || sameJson(origin, DEFAULTS.origin)) value = "responds";
  else if (isObject(origin) && failures.includes(origin.fails)) value = origin.fails;
  let option = [...select.options].find((o) => o.value === AS_LOADED);
  if (value === AS_LOADED) {
    if (!option) {
      option = new Option("", AS_LOADED);
      select.add(option);
    }
    option.textContent = `as loaded: ${originSummary(origin)}`;
  } else if (option) {
    option.remove();
  }
  select.value = value;
}

/** "404 Not Found", "fails: reset" (a failure the page has no option for), … */
function originSummary(origin) {
  const r = isObject(origin) && isObject(origin.responds) ? origin.responds : null;
  if (r) return `${r.status ?? "?"} ${r.reason ?? ""}`.trim();
  if (isObject(origin) && origin.fails !== undefined) return `fails: ${origin.fails}`;
  return JSON.stringify(origin);
}

/**
 * What the loaded scenario holds that the controls cannot show: `settings`,
 * a list like ["deny_hosts = ads.example", "timeouts.connect = 2 s"] (values
 * that differ from the core's defaults), and `origin`, a sentence about the
 * loaded origin answer while "as loaded" is selected (else null).
 */
export function loadedNotes() {
  const settings = [];
  for (const [key, value] of Object.entries(carriedSettings())) {
    const fallback = DEFAULTS.settings[key];
    if (isObject(value) && isObject(fallback)) {
      for (const [sub, v] of Object.entries(value)) {
        if (sameJson(v, fallback[sub])) continue;
        settings.push(`${key}.${sub} = ${showValue(v)}${key === "timeouts" ? " s" : ""}`);
      }
    } else if (!sameJson(value, fallback)) {
      settings.push(`${key} = ${showValue(value)}`);
    }
  }
  const fields = carriedFields();
  if (fields.client != null && fields.client !== DEFAULTS.client) {
    settings.push(`client = ${showValue(fields.client)}`);
  }
  if (fields.listener != null && fields.listener !== $("listen").value) {
    settings.push(`listener = ${showValue(fields.listener)}`);
  }
  let origin = null;
  if ($("origin").value === AS_LOADED) {
    const r = isObject(loaded.origin) && isObject(loaded.origin.responds) ? loaded.origin.responds : null;
    if (r) {
      const headers = Array.isArray(r.headers) ? r.headers.length : 0;
      const body = typeof r.body === "string" ? new TextEncoder().encode(r.body).length : 0;
      origin =
        `Origin answers ${originSummary(loaded.origin)} (as loaded: ` +
        `${headers} header field${headers === 1 ? "" : "s"}, ${body ? `${body}-byte body` : "empty body"}).`;
    } else {
      origin = `Origin as loaded: ${originSummary(loaded.origin)}.`;
    }
  }
  return { settings, origin };
}

function showValue(v) {
  if (Array.isArray(v)) {
    return v.length ? v.map((x) => (typeof x === "string" ? x : JSON.stringify(x))).join(", ") : "(none)";
  }
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** Drops the carried settings and addresses: the core's defaults apply. */
export function dropLoadedSettings() {
  const settings = isObject(loaded.settings) ? loaded.settings : {};
  loaded = Object.fromEntries(Object.entries(loaded).filter(([k]) => MANAGED.has(k)));
  loaded.settings = Object.fromEntries(
    Object.entries(settings).filter(([k]) => MANAGED_SETTINGS.has(k)),
  );
}

/** Drops the loaded origin answer: the origin answers 200 with a body. */
export function dropLoadedOrigin() {
  delete loaded.origin;
  setOrigin(undefined);
}

/** Selects `value`, adding an option for it first when a shared link carries one the page lacks. */
function setSelect(id, value) {
  const select = $(id);
  if (![...select.options].some((o) => o.value === value)) {
    select.add(new Option(value, value));
  }
  select.value = value;
}

/** Deep equality of JSON values, ignoring key order. */
export function sameJson(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && sameJson(a[k], b[k]));
}

/** `#s=` + base64url(UTF-8 JSON). */
export function toFragment(scenario) {
  const bytes = new TextEncoder().encode(JSON.stringify(scenario));
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return "#s=" + btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The scenario in a `#s=` fragment; `null` when there is none, throws when it is unreadable. */
export function fromFragment(hash) {
  const match = /^#s=([A-Za-z0-9_-]*)$/.exec(hash);
  if (!match) {
    if (hash && hash !== "#") throw new Error("the link's #fragment is not a Burrow scenario");
    return null;
  }
  const b64 = match[1].replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  const value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error("the link does not hold a scenario object");
  }
  return value;
}
