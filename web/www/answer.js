// Renders a Transcript: the status, what happens to the connection, the
// Proxy-Status explained, the rule that fired with its spec section, and the
// exact response bytes. Every fact shown comes from the core's transcript.

const $ = (id) => document.getElementById(id);

const AFTER = {
  tunnel: ["Tunnel open", "Burrow now relays bytes blindly both ways until one side closes."],
  close: ["Connection closed", "Burrow closes the connection after this response; nothing more the client sent is read."],
  keep_alive: ["Connection kept alive", "The client may send its next request on the same connection."],
};

/** Words for the Proxy-Status parameters Burrow writes (RFC 9209 §2.1). */
const PARAMS = {
  error: "error type",
  "next-hop": "the address Burrow connected to",
  rcode: "the DNS response code",
  details: "details",
};

const SNI_WORDS = {
  match: "matches the CONNECT host",
  mismatch: "names a different host than the CONNECT target",
  no_sni: "no SNI in the ClientHello",
  not_tls: "the tunnel does not carry TLS",
  ech: "Encrypted ClientHello: only the outer name is visible",
  ip_target: "IP-literal target: nothing to compare",
  malformed: "malformed ClientHello",
};

/** Splits response text into status line, fields and body. */
export function parseResponse(text) {
  const end = text.indexOf("\r\n\r\n");
  const head = end >= 0 ? text.slice(0, end) : text;
  const [statusLine = "", ...lines] = head.split("\r\n");
  const fields = lines
    .map((l) => l.split(/:(.*)/s))
    .filter((p) => p.length > 1)
    .map(([n, v]) => [n.trim(), v.trim()]);
  return { statusLine, fields, body: end >= 0 ? text.slice(end + 4) : "" };
}

/** `burrow; error=dns_error; rcode="NXDOMAIN"` → [["burrow", null], ["error", "dns_error"], ...]. */
export function parseProxyStatus(value) {
  const parts = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === "\\" && quoted) {
      current += value[++i] ?? "";
    } else if (c === '"') {
      quoted = !quoted;
    } else if (c === ";" && !quoted) {
      parts.push(current);
      current = "";
    } else {
      current += c;
    }
  }
  parts.push(current);
  return parts.map((p) => {
    const eq = p.indexOf("=");
    return eq < 0 ? [p.trim(), null] : [p.slice(0, eq).trim(), p.slice(eq + 1).trim()];
  });
}

/** "RFC 9110 §9.3.6, RFC 9112 §3.2.2" → text with each section linked. */
function specLinks(spec) {
  const out = document.createDocumentFragment();
  const re = /(?:RFC (\d+) )?§([\d.]+)/g;
  let rfc = null;
  let last = 0;
  for (let m; (m = re.exec(spec)); ) {
    rfc = m[1] || rfc;
    out.append(spec.slice(last, m.index));
    if (rfc) {
      const a = document.createElement("a");
      a.href = `https://www.rfc-editor.org/rfc/rfc${rfc}#section-${m[2]}`;
      a.target = "_blank";
      a.rel = "noopener";
      a.textContent = m[0];
      out.append(a);
    } else {
      out.append(m[0]);
    }
    last = m.index + m[0].length;
  }
  out.append(spec.slice(last));
  return out;
}

function visibleBytes(text, showCrLf) {
  const frag = document.createDocumentFragment();
  if (!showCrLf) {
    frag.append(text);
    return frag;
  }
  for (const part of text.split(/(\r\n|\r|\n)/)) {
    if (part === "\r\n" || part === "\r" || part === "\n") {
      // A text badge, not U+240D/U+240A: many monospace fonts lack those glyphs.
      const mark = document.createElement("span");
      mark.className = "eol";
      mark.textContent = part === "\r\n" ? "CRLF" : part === "\r" ? "CR" : "LF";
      frag.append(mark, part.includes("\n") ? "\n" : "");
    } else if (part) {
      frag.append(part);
    }
  }
  return frag;
}

function fact(list, term, value) {
  if (value === null || value === undefined || value === "") return;
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.append(value);
  list.append(dt, dd);
}

function sniWords(check) {
  if (!check) return null;
  const key = typeof check === "string" ? check : Object.keys(check)[0];
  return SNI_WORDS[key] || key;
}

/** Shows a transcript; `ctx` holds texts from the bindings (forwardedRule, noRedirect). */
export function renderAnswer(t, ctx) {
  $("error-box").hidden = true;
  $("answer-body").hidden = false;
  $("bytes-card").hidden = false;
  const { statusLine, fields, body } = parseResponse(t.client_bytes);
  const status = t.status;
  const box = $("status");
  box.className = "status " + (status ? `s${String(status)[0]}xx` : "snone");
  $("status-code").textContent = status ? String(status) : "—";
  $("status-reason").textContent = status
    ? statusLine.split(" ").slice(2).join(" ")
    : "no response: the connection is closed";

  const [afterTitle, afterText] = AFTER[t.after] || [t.after, ""];
  $("after").className = `after after-${t.after}`;
  $("after-title").textContent = afterTitle;
  $("after-text").textContent = afterText;

  renderProxyStatus(fields, t);

  const rule = t.response ? t.response.rule : t.forwarded ? ctx.forwardedRule : null;
  $("rule-why").textContent = rule ? rule.why : "Burrow made no response of its own.";
  $("rule-id").textContent = rule ? rule.id : "";
  $("rule-spec").replaceChildren(rule ? specLinks(rule.spec) : "");

  const failedConnect = t.record.method === "CONNECT" && status && status >= 300;
  $("no-redirect").hidden = !failedConnect;
  $("no-redirect-text").textContent = ctx.noRedirect;

  renderBytes(t.client_bytes);
  $("body-length").textContent = `${t.client_bytes.length} bytes` +
    (body ? ` (head ${t.client_bytes.length - body.length}, body ${body.length})` : "");

  renderRecord(t);
  renderForwarded(t.forwarded);
}

function renderProxyStatus(fields, t) {
  const raw = fields.find(([n]) => n.toLowerCase() === "proxy-status");
  const list = $("proxy-status-params");
  list.replaceChildren();
  if (!raw) {
    $("proxy-status-raw").textContent = "none";
    $("proxy-status-note").textContent = t.forwarded
      ? "This is the origin's own response, relayed; Burrow adds no Proxy-Status to it."
      : "Burrow sent no response head.";
    return;
  }
  $("proxy-status-raw").textContent = raw[1];
  $("proxy-status-note").textContent = "";
  for (const [name, value] of parseProxyStatus(raw[1])) {
    if (value === null) {
      continue; // the proxy's own name, shown in the raw value
    } else if (name === "error") {
      const dd = document.createDocumentFragment();
      const code = document.createElement("code");
      code.textContent = value;
      dd.append(code, " — ", t.error_meaning || "");
      fact(list, PARAMS.error, dd);
    } else {
      fact(list, PARAMS[name] || name, value);
    }
  }
}

function renderBytes(text) {
  $("bytes").replaceChildren(visibleBytes(text, $("show-crlf").checked));
}

export function refreshBytes(t) {
  if (t) renderBytes(t.client_bytes);
}

function renderRecord(t) {
  const r = t.record;
  const list = $("record");
  list.replaceChildren();
  const last = t.steps.length ? t.steps[t.steps.length - 1].at_ms : 0;
  fact(list, "Simulated time", `${last} ms`);
  fact(list, "Request", r.method ? `${r.method} ${r.target} ${r.version}` : null);
  fact(list, "DNS answer", r.resolved.length ? r.resolved.join(", ") : r.dns_failure?.replace(/_/g, " "));
  fact(list, "Connected to", r.remote || r.connect_failure?.replace(/_/g, " "));
  if (r.sni_check) fact(list, "TLS SNI", `${r.sni ?? "absent"} — ${sniWords(r.sni_check)}`);
  if (r.alpn.length) fact(list, "ALPN offered", r.alpn.join(", "));
  if (r.tunnel) fact(list, "Relayed", `${r.bytes_up} B up, ${r.bytes_down} B down`);
  fact(list, "Ended", r.close ? r.close.replace(/_/g, " ") : "still open");
}

function renderForwarded(f) {
  $("forwarded-box").hidden = !f;
  if (!f) return;
  const text = (bytes) => String.fromCharCode(...bytes);
  const lines = [`${f.method} ${f.path_and_query}`, ...f.headers.map(([n, v]) => `${n}: ${text(v)}`)];
  $("forwarded").textContent = lines.join("\n");
  $("forwarded-to").textContent = `${f.authority.host.value}:${f.authority.port}`;
}

/** Shows why the scenario could not run (the JS exception from the bindings). */
export function renderError(message) {
  $("error-box").hidden = false;
  $("error-text").textContent = message;
  $("answer-body").hidden = true;
  $("bytes-card").hidden = true;
  const box = $("status");
  box.className = "status snone";
  $("status-code").textContent = "—";
  $("status-reason").textContent = "the scenario cannot run";
  $("after").className = "after";
  $("after-title").textContent = "";
  $("after-text").textContent = "";
}
