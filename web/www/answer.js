// Renders a Transcript: each answer's status, what happens to the
// connection, the Proxy-Status parameters with their meanings, the rule that
// fired with its spec section, the exact bytes, what went upstream and the
// connection record. Every fact and every word shown comes from the core's
// transcript; this file only puts them on the page.

const $ = (id) => document.getElementById(id);

/** The CSS class for a core `StatusClass`. */
const CLASS_CSS = { success: "s2xx", refused: "s4xx", failed: "s5xx", none: "snone" };

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

/** Which answer is shown when a transcript has several. */
let shown = 0;

/** Shows a transcript; `pick` keeps the answer the user chose when the transcript has it. */
export function renderAnswer(t, pick) {
  $("error-box").hidden = true;
  $("answer-body").hidden = false;
  $("bytes-card").hidden = false;
  shown = pick && t.answers.length > shown ? shown : 0;
  renderChooser(t);
  renderOne(t);
  renderBytes(t.client_bytes);
  $("body-length").textContent = `${t.client_bytes.length} bytes`;
  renderRecord(t);
  $("no-redirect").hidden = !t.no_redirect;
  $("no-redirect-text").textContent = t.no_redirect ?? "";
}

/** One button per answer when there are several (keep-alive, pipelining, 100 Continue). */
function renderChooser(t) {
  const box = $("answers");
  box.replaceChildren();
  box.hidden = t.answers.length < 2;
  t.answers.forEach((a, i) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = `button small answer-pick ${CLASS_CSS[a.class] ?? ""}`;
    b.setAttribute("aria-pressed", String(i === shown));
    b.textContent = `${i + 1}. ${a.request ? a.request.method : "—"} → ${a.status}`;
    b.addEventListener("click", () => {
      shown = i;
      renderChooser(t);
      renderOne(t);
    });
    box.append(b);
  });
}

function renderOne(t) {
  const a = t.answers[shown];
  const box = $("status");
  box.className = "status " + (a ? CLASS_CSS[a.class] : "snone");
  $("status-code").textContent = a ? String(a.status) : "—";
  $("status-reason").textContent = a ? a.reason : "no response: the connection is closed";
  const after = a ? a.after : t.after;
  $("after").className = `after after-${after}`;
  $("after-title").textContent = a ? a.after_title : t.after_title;
  $("after-text").textContent = a ? a.after_text : t.after_text;
  $("rule-why").textContent = a ? a.rule.why : "Burrow made no response of its own.";
  $("rule-id").textContent = a ? a.rule.id : "";
  $("rule-spec").replaceChildren(a ? specLinks(a.rule.spec) : "");
  renderChecks(t);
  renderProxyStatus(a);
  renderForwarded(a);
}

/**
 * The steps where Burrow stops to refuse something it found (a diagram
 * arrow from Burrow to itself, such as "refuse 127.0.0.1:443"), with the
 * core's words for it: the diagram ends on the close, so they would
 * otherwise be seen only by stepping back.
 */
function renderChecks(t) {
  const own = t.answers.length < 2 ? t.steps.filter((s) => s.from === "burrow" && s.to === "burrow") : [];
  const box = $("checks");
  box.replaceChildren();
  for (const s of own) {
    const line = document.createElement("span");
    line.className = "check-line";
    const label = document.createElement("code");
    label.textContent = s.label;
    line.append(label, " ", s.note);
    box.append(line);
  }
  box.hidden = !own.length;
  $("checks-term").hidden = !own.length;
}

function renderProxyStatus(a) {
  const list = $("proxy-status-params");
  list.replaceChildren();
  if (!a || !a.proxy_status_field) {
    $("proxy-status-raw").textContent = "none";
    $("proxy-status-note").textContent = a
      ? "This is the origin's own response, relayed; Burrow adds no Proxy-Status to it."
      : "Burrow sent no response head.";
    return;
  }
  $("proxy-status-raw").textContent = a.proxy_status_field;
  $("proxy-status-note").textContent = "";
  for (const p of a.proxy_status) {
    if (p.detail) {
      const dd = document.createDocumentFragment();
      const code = document.createElement("code");
      code.textContent = p.value;
      dd.append(code, " — ", p.detail);
      fact(list, p.meaning, dd);
    } else {
      fact(list, p.meaning, p.value);
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
  const w = t.record_text;
  const list = $("record");
  list.replaceChildren();
  const last = t.steps.length ? t.steps[t.steps.length - 1].at_ms : 0;
  fact(list, "Simulated time", `${last} ms`);
  fact(list, "Requests", r.requests > 1 ? String(r.requests) : null);
  fact(list, "Request", r.method ? `${r.method} ${r.target} ${r.version}` : null);
  fact(list, "DNS answer", r.resolved.length ? r.resolved.join(", ") : w.dns_failure);
  fact(list, "Connected to", r.remote || w.connect_failure);
  fact(list, "Origin", w.upstream_failure);
  if (w.sni_verdict) fact(list, "TLS SNI", `${r.sni ?? "absent"}: ${w.sni_verdict}`);
  if (r.alpn.length) fact(list, "ALPN offered", r.alpn.join(", "));
  fact(list, "Relayed", r.bytes_up + r.bytes_down ? `${w.sent} up, ${w.received} down` : null);
  fact(list, "Ended", w.state);
}

function renderForwarded(a) {
  const f = a ? a.forwarded : null;
  $("forwarded-box").hidden = !f;
  if (!f) return;
  $("forwarded").replaceChildren(visibleBytes(f.head, $("show-crlf").checked));
  $("forwarded-to").textContent = f.to;
  $("forwarded-body").textContent = `Body: ${f.body}.` + (a.framing ? ` Back to the client: ${a.framing}.` : "");
}

/** Shows why the scenario could not run (the JS exception from the bindings). */
export function renderError(message) {
  $("error-box").hidden = false;
  $("error-text").textContent = message;
  $("answer-body").hidden = true;
  $("bytes-card").hidden = true;
  $("answers").hidden = true;
  const box = $("status");
  box.className = "status snone";
  $("status-code").textContent = "—";
  $("status-reason").textContent = "the scenario cannot run";
  $("after").className = "after";
  $("after-title").textContent = "";
  $("after-text").textContent = "";
}
