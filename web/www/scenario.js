// The page's controls <-> the core's `Scenario` JSON, and the URL fragment.
//
// The scenario is always written in one canonical shape (the shape of every
// entry in presets.json): request, settings {listen, allowed_ports, auth},
// dns, connect, client_tls, and origin only when it fails. No decisions are
// made here: the core answers; this only reads and writes form fields.

const $ = (id) => document.getElementById(id);

/** The host a request line names, for "ClientHello with SNI matching the host". */
export function hostOf(request) {
  const line = request.trimStart().split(/\r?\n/, 1)[0] || "";
  const target = line.split(" ")[1] || "";
  if (target.includes("://")) {
    try {
      return new URL(target).hostname.replace(/^\[|\]$/g, "");
    } catch {
      return "";
    }
  }
  if (target.startsWith("[")) return target.slice(1, Math.max(1, target.indexOf("]")));
  const colon = target.lastIndexOf(":");
  return colon >= 0 ? target.slice(0, colon) : target;
}

/** Reads every control into a Scenario object (what simulate() gets). */
export function readControls() {
  const text = $("request").value;
  const request = $("bare-lf").checked ? text : text.replace(/\r?\n/g, "\r\n");
  const auth =
    $("auth").value === "on" ? { user: $("user").value, password: $("password").value } : null;
  const dns =
    $("dns").value === "resolves"
      ? { resolves: $("dns-addrs").value.split(/[\s,]+/).filter(Boolean) }
      : { fails: $("dns").value };
  const connect = $("connect").value === "connects" ? "connects" : { fails: $("connect").value };
  const tls = $("tls").value;
  let client_tls = tls;
  if (tls === "sni_match") client_tls = { sni: hostOf(request) };
  if (tls === "sni_other") client_tls = { sni: $("sni").value };
  const scenario = {
    request,
    settings: { listen: $("listen").value, allowed_ports: $("ports").value, auth },
    dns,
    connect,
    client_tls,
  };
  if ($("origin").value !== "responds") scenario.origin = { fails: $("origin").value };
  return scenario;
}

/** Sets every control from a (possibly partial) Scenario object. */
export function applyScenario(s) {
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

  const dns = s.dns || { resolves: ["192.0.2.10"] };
  if (dns.fails) {
    $("dns").value = dns.fails;
  } else {
    $("dns").value = "resolves";
    $("dns-addrs").value = (dns.resolves || []).join(", ");
  }

  const connect = s.connect || "connects";
  $("connect").value = connect.fails || "connects";

  const tls = s.client_tls || "nothing";
  if (typeof tls === "object" && tls.sni !== undefined) {
    if (tls.sni === hostOf(request)) {
      $("tls").value = "sni_match";
    } else {
      $("tls").value = "sni_other";
      $("sni").value = tls.sni;
    }
  } else {
    $("tls").value = tls;
  }

  $("origin").value = (s.origin && s.origin.fails) || "responds";
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
