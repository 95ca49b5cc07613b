// Burrow desktop page: status bar, the live connection log, settings and the
// simulator tab. Everything it shows comes from the Rust side; it decides
// nothing about requests.
'use strict';

const T = window.__TAURI__;
const invoke = (cmd, args) => T.core.invoke(cmd, args);
const $ = (id) => document.getElementById(id);

const ROW_H = 30;              // must match --row-h in style.css
const GRAPH_SECONDS = 300;     // the throughput graph spans five minutes
const OVERSCAN = 6;            // rows rendered above and below the visible ones

// ---------------------------------------------------------------- state
const records = new Map();     // key -> row from Rust (ConnectionRecord + key + texts), oldest first
let view = [];                 // keys shown, newest first, after the filter
let terms = [];                // filter words, lower case
let selected = null;           // key of the row in the details pane
let paused = false;
let pending = [];              // batches held while paused
let totals = null;
let logLen = 0, logCap = 10000;
let status = null;
const rate = new Map();        // unix second -> [up, down]

// ---------------------------------------------------------------- formatting
const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ESC[c]);
const num = (n) => Number(n).toLocaleString('en-US');
const plural = (n, word) => `${num(n)} ${word}${Number(n) === 1 ? '' : 's'}`;

function fmtBytes(n) {
  if (n == null) return '–';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

function fmtDuration(ms) {
  if (ms == null) return '–';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60000), s = Math.floor((ms % 60000) / 1000);
  if (m < 60) return `${m}m ${String(s).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

function fmtClock(ms) {
  if (ms == null) return '–';
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

const tag = (v) => (v == null ? null : typeof v === 'string' ? v : Object.keys(v)[0]);

function duration(r) {
  const t = r.timings || {};
  if (t.accepted == null) return null;
  return Math.max(0, (t.closed ?? Date.now()) - t.accepted);
}

/** The SNI cell: the name plus a badge when the check says more than "match". */
function sniCell(r) {
  const check = tag(r.sni_check);
  const name = r.sni ? esc(r.sni) : '';
  switch (check) {
    case null: return `<span class="dim">${r.tunnel && r.close == null ? '…' : '–'}</span>`;
    case 'match': return name;
    case 'mismatch': return `${name}<span class="badge bad" title="The SNI names another host than the CONNECT target">mismatch</span>`;
    case 'ech': return `${name}<span class="badge info" title="Encrypted Client Hello: only the outer name is visible">ECH</span>`;
    case 'no_sni': return '<span class="badge">no SNI</span>';
    case 'not_tls': return '<span class="badge">not TLS</span>';
    case 'ip_target': return '<span class="dim">IP target</span>';
    case 'malformed': return '<span class="badge bad">bad hello</span>';
    default: return esc(check);
  }
}

function statusClass(code) {
  if (code == null) return 'none';
  if (code < 300) return 'ok';
  if (code < 500) return 'warn';
  return 'bad';
}

function statusCell(r) {
  if (r.status == null) return '<span class="pill none">–</span>';
  const err = r.error ? `<span class="err" title="${esc(r.error_meaning)}">${esc(r.error)}</span>` : '';
  return `<span class="pill ${statusClass(r.status)}">${r.status}</span> ${err}`;
}

const PROBLEMS = new Set(['client_reset', 'server_reset', 'idle_timeout', 'head_timeout', 'error', 'rejected']);

function stateCell(r) {
  if (r.close == null) return `<span class="state open">${r.tunnel ? 'open tunnel' : 'open'}</span>`;
  const cls = PROBLEMS.has(r.close) ? 'state problem' : 'state';
  return `<span class="${cls}">${esc(r.close_text || r.close)}</span>`;
}

function haystack(r) {
  return [r.method, r.target, r.sni, r.status, r.error, r.client, r.close_text, r.rule,
    r.close == null ? 'open' : 'closed', r.tunnel ? 'tunnel' : '', tag(r.sni_check)]
    .filter((x) => x != null && x !== '').join(' ').toLowerCase();
}

const matches = (r) => terms.every((t) => r.hay.includes(t));

// ---------------------------------------------------------------- the log
function onBatch(b) {
  if (b.up + b.down > 0) {
    const second = Math.floor(Date.now() / 1000);
    const cur = rate.get(second) || [0, 0];
    rate.set(second, [cur[0] + b.up, cur[1] + b.down]);
  }
  totals = b.totals; logLen = b.len; logCap = b.cap;
  renderTotals();
  if (paused) {
    pending.push(b);
    $('pause').textContent = `Resume (${num(pending.length)})`;
    return;
  }
  applyBatch(b);
}

function applyBatch(b) {
  if (b.reset) records.clear();
  let added = 0;
  for (const row of b.rows) {
    row.hay = haystack(row);
    if (!records.has(row.key) && matches(row)) added++;
    records.set(row.key, row);
  }
  for (const key of b.removed) records.delete(key);
  rebuildView();
  // Keep the rows the user is reading in place while new ones arrive on top.
  const vp = $('viewport');
  if (!b.reset && vp.scrollTop > 0 && added > 0) vp.scrollTop += added * ROW_H;
  scheduleRender();
}

function rebuildView() {
  const keys = [];
  for (const [key, r] of records) if (matches(r)) keys.push(key);
  view = keys.reverse();
}

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; render(); });
}

function rowHtml(r, index) {
  const cls = `row${index % 2 ? ' alt' : ''}${r.key === selected ? ' selected' : ''}`;
  return `<div class="${cls}" role="row" data-key="${r.key}">`
    + `<div class="time c-start">${fmtClock(r.timings?.accepted)}</div>`
    + `<div class="mono c-client">${esc(r.client ?? '–')}</div>`
    + `<div class="method c-method">${esc(r.method ?? '–')}</div>`
    + `<div class="target c-target" title="${esc(r.target)}">${esc(r.target ?? '(no request)')}</div>`
    + `<div class="c-sni">${sniCell(r)}</div>`
    + `<div class="c-status" data-status="${r.status ?? ''}">${statusCell(r)}</div>`
    + `<div class="num c-up" data-bytes="${r.bytes_up}">${fmtBytes(r.bytes_up)}</div>`
    + `<div class="num c-down" data-bytes="${r.bytes_down}">${fmtBytes(r.bytes_down)}</div>`
    + `<div class="num c-duration">${fmtDuration(duration(r))}</div>`
    + `<div class="c-state">${stateCell(r)}</div>`
    + '</div>';
}

function render() {
  const vp = $('viewport');
  $('spacer').style.height = `${view.length * ROW_H}px`;
  const first = Math.max(0, Math.floor(vp.scrollTop / ROW_H) - OVERSCAN);
  const last = Math.min(view.length, Math.ceil((vp.scrollTop + vp.clientHeight) / ROW_H) + OVERSCAN);
  let html = '';
  for (let i = first; i < last; i++) html += rowHtml(records.get(view[i]), i);
  const rows = $('rows');
  rows.style.transform = `translateY(${first * ROW_H}px)`;
  rows.innerHTML = html;
  renderEmpty();
  renderDetails();
}

function renderEmpty() {
  const empty = $('empty');
  empty.hidden = view.length > 0;
  if (empty.hidden || !status) return;
  let title, text;
  if (records.size > 0) {
    title = 'No connection matches the filter';
    text = `Nothing in the ${num(records.size)} logged connections contains “${esc($('filter').value.trim())}”.`;
  } else if (status.power === 'on') {
    title = 'Waiting for the first connection';
    text = `Set <code>${esc(status.proxy_url)}</code> as the HTTP and HTTPS proxy, or try <code>curl -x ${esc(status.proxy_url)} https://example.com</code>.`;
  } else if (status.power === 'error') {
    title = 'The proxy is not listening';
    text = esc(status.error || status.line);
  } else {
    title = 'The proxy is off';
    text = 'Turn it on with the switch above; connections appear here as they happen.';
  }
  $('empty-title').textContent = title;
  $('empty-text').innerHTML = text;
}

function renderTotals() {
  if (!totals) return;
  const open = status?.open_connections ?? 0;
  const count = (n, word) => `<b>${num(n)}</b> ${word}${n === 1 ? '' : 's'}`;
  $('totals').innerHTML = `${count(totals.connections, 'connection')} · <b>${num(open)}</b> open · `
    + `${count(totals.tunnels, 'tunnel')} · ↑ ${fmtBytes(totals.bytes_up)} · ↓ ${fmtBytes(totals.bytes_down)}`
    + (totals.errors ? ` · <span class="err">${count(totals.errors, 'error')}</span>` : '');
  const notice = $('notice');
  const parts = [];
  if (totals.dropped > 0) {
    parts.push(`The log keeps the newest ${num(logCap)} connections: ${num(totals.dropped)} older ones were dropped (export regularly to keep them).`);
  }
  if (totals.lost_events > 0) {
    parts.push(`${num(totals.lost_events)} engine events were lost while the app was busy; some rows may be incomplete.`);
  }
  if (parts.length) {
    notice.textContent = parts.join(' ');
    notice.className = `notice${totals.lost_events ? ' warn' : ''}`;
    notice.hidden = false;
  } else if (!notice.dataset.sticky) {
    notice.hidden = true;
  }
}

function showNotice(text) {
  const notice = $('notice');
  notice.textContent = text;
  notice.className = 'notice';
  notice.hidden = false;
  notice.dataset.sticky = '1';
  setTimeout(() => { delete notice.dataset.sticky; renderTotals(); }, 12000);
}

// ---------------------------------------------------------------- details pane
const PHASES = [
  ['head', 'Request head'],
  ['dns', 'DNS'],
  ['connected', 'TCP connect'],
  ['responded', 'Response'],
  ['first_up', 'First byte ↑'],
  ['first_down', 'First byte ↓'],
  ['closed', 'Closed'],
];

const SNI_WORDS = {
  match: 'matches the CONNECT host',
  mismatch: 'differs from the CONNECT host',
  no_sni: 'TLS without a server name',
  not_tls: 'not TLS: the tunnel carries another protocol',
  ech: 'Encrypted Client Hello: only the outer name is visible',
  ip_target: 'IP target: clients send no server name',
  malformed: 'a TLS record that is not a valid ClientHello',
};

function renderDetails() {
  const pane = $('details');
  const r = selected == null ? null : records.get(selected);
  if (!r) { pane.hidden = true; return; }
  pane.hidden = false;
  $('d-title').textContent = `${r.method ?? '(no request)'} ${r.target ?? ''}`;
  $('d-sub').innerHTML = `${statusCell(r)} &nbsp;${stateCell(r)}`;
  const t = r.timings || {};
  const start = t.accepted;
  const total = Math.max(1, (t.closed ?? Date.now()) - (start ?? Date.now()));
  let html = '', prev = start;
  for (const [k, label] of PHASES) {
    const at = t[k];
    if (at == null || start == null) continue;
    const from = (k === 'first_up' || k === 'first_down') ? at : prev;
    const left = ((from - start) / total) * 100;
    const width = ((at - from) / total) * 100;
    const mark = from === at ? ' class="mark"' : '';
    html += `<div>${label}</div><div class="bar"><span${mark} style="left:${left.toFixed(2)}%;width:${width.toFixed(2)}%"></span></div>`
      + `<div class="t">+${fmtDuration(at - start)}</div>`;
    if (k !== 'first_up' && k !== 'first_down') prev = at;
  }
  if (t.closed == null && start != null) {
    html += `<div>Open for</div><div class="bar"></div><div class="t">${fmtDuration(Date.now() - start)}</div>`;
  }
  $('d-timeline').innerHTML = html || '<div class="dim">No timings recorded.</div>';
  const sni = tag(r.sni_check);
  const fields = [
    ['Client', r.client],
    ['Started', start != null ? new Date(start).toLocaleString() : null],
    ['Resolved', r.resolved?.length ? r.resolved.join(', ') : null],
    ['DNS failure', r.dns_failure],
    ['Connected to', r.remote],
    ['Connect failure', r.connect_failure],
    ['Origin failure', r.upstream_failure],
    ['Rule', r.rule],
    ['Proxy-Status', r.error ? `${r.error}: ${r.error_meaning ?? ''}` : null],
    ['SNI', sni ? (r.sni ? `${r.sni} — ${SNI_WORDS[sni] ?? sni}` : SNI_WORDS[sni] ?? sni) : null],
    ['ALPN', r.alpn?.length ? r.alpn.join(', ') : null],
    ['Requests', r.requests > 1 ? r.requests : null],
    ['Sent ↑', `${fmtBytes(r.bytes_up)} (${num(r.bytes_up)} bytes)`],
    ['Received ↓', `${fmtBytes(r.bytes_down)} (${num(r.bytes_down)} bytes)`],
    ['Ended', r.close_text ?? 'still open'],
    ['Connection', `#${r.id} (log key ${r.key})`],
  ];
  $('d-fields').innerHTML = fields.filter(([, v]) => v != null)
    .map(([k, v]) => `<dt>${k}</dt><dd>${esc(v)}</dd>`).join('');
}

function select(key) {
  selected = key;
  scheduleRender();
}

// ---------------------------------------------------------------- throughput graph
function drawGraph() {
  const canvas = $('graph');
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  const now = Math.floor(Date.now() / 1000);
  for (const s of rate.keys()) if (s < now - GRAPH_SECONDS) rate.delete(s);
  const resized = canvas.width !== w * dpr;
  // Nothing to show, and an empty graph is already drawn: leave the canvas alone.
  if (rate.size === 0 && drawGraph.empty && !resized) return;
  drawGraph.empty = rate.size === 0;
  if (resized) { canvas.width = w * dpr; canvas.height = h * dpr; }
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const ups = [], downs = [];
  let max = 1;
  for (let i = GRAPH_SECONDS - 1; i >= 0; i--) {
    const [u, d] = rate.get(now - i) || [0, 0];
    ups.push(u); downs.push(d);
    max = Math.max(max, u, d);
  }
  const css = getComputedStyle(document.documentElement);
  g.strokeStyle = css.getPropertyValue('--line').trim();
  g.lineWidth = 1;
  g.beginPath();
  g.moveTo(0, h - 1.5); g.lineTo(w, h - 1.5);
  for (let m = 1; m < GRAPH_SECONDS / 60; m++) {  // a tick a minute
    const x = Math.round((m * 60 / GRAPH_SECONDS) * w) + 0.5;
    g.moveTo(x, h - 5); g.lineTo(x, h - 1.5);
  }
  g.stroke();
  const series = (data, color, fill) => {
    g.beginPath();
    data.forEach((v, i) => {
      const x = (i / (GRAPH_SECONDS - 1)) * w;
      const y = h - 2 - (v / max) * (h - 6);
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.strokeStyle = color; g.lineWidth = 1.2; g.stroke();
    if (fill) {
      g.lineTo(w, h); g.lineTo(0, h); g.closePath();
      g.globalAlpha = 0.18; g.fillStyle = color; g.fill(); g.globalAlpha = 1;
    }
  };
  series(downs, css.getPropertyValue('--down').trim(), true);
  series(ups, css.getPropertyValue('--up').trim(), false);
  const recent = (arr) => arr.slice(-5).reduce((a, b) => a + b, 0) / 5;
  $('rate').textContent = `↑ ${fmtBytes(Math.round(recent(ups)))}/s  ↓ ${fmtBytes(Math.round(recent(downs)))}/s`;
}

/** Once a second: the graph moves and open rows' durations grow. Idle costs nothing. */
function tick() {
  if (document.hidden) return;
  drawGraph();
  let live = false;
  for (const el of $('rows').children) {
    const r = records.get(Number(el.dataset.key));
    if (r && r.close == null) { live = true; break; }
  }
  const shown = selected == null ? null : records.get(selected);
  if (!paused && (live || (shown && shown.close == null))) scheduleRender();
}

// ---------------------------------------------------------------- status bar
function setStatus(s) {
  status = s;
  const el = $('status');
  el.dataset.power = s.power;
  $('status-line').textContent = s.line;
  el.title = s.error || s.line;
  $('proxy-toggle').checked = s.wanted;
  renderTotals();
  renderEmpty();
}

function toast(text, ms = 3500) {
  const el = $('toast');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, ms);
}

const message = (e) => (e && e.message) || String(e);

// ---------------------------------------------------------------- tabs
function showTab(name) {
  for (const b of document.querySelectorAll('.tabs button')) b.classList.toggle('active', b.dataset.tab === name);
  for (const s of document.querySelectorAll('.tab')) s.classList.toggle('active', s.id === `tab-${name}`);
  if (name === 'settings' && !formDirty) loadSettings();
  // The simulator (wasm) loads on first use, not at startup.
  const sim = $('simulator');
  if (name === 'simulator' && !sim.getAttribute('src')) sim.src = 'simulator/index.html';
  if (name === 'log') scheduleRender();
}

// ---------------------------------------------------------------- settings form
const TIMEOUTS = [
  ['request_head', 'Request head'],
  ['keep_alive', 'Keep-alive idle'],
  ['dns', 'DNS lookup'],
  ['connect', 'TCP connect'],
  ['tunnel_idle', 'Tunnel idle'],
  ['upstream_response', 'Origin response'],
  ['shutdown_grace', 'Stop grace'],
];
let loaded = null;
let formDirty = false;

function splitAddr(addr) {
  const m = /^\[(.*)\]:(\d+)$/.exec(addr) || /^(.*):(\d+)$/.exec(addr);
  return m ? [m[1], m[2]] : [addr, ''];
}
const joinAddr = (ip, port) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);
const isAnyAddr = (ip) => ip === '0.0.0.0' || ip === '::';

function buildTimeoutFields() {
  $('f-timeouts').innerHTML = TIMEOUTS.map(([k, label]) => `<div><label>${label}`
    + `<input type="text" inputmode="decimal" data-timeout="${k}" autocomplete="off"></label>`
    + `<div class="field-error" data-for="timeouts.${k}"></div></div>`).join('');
}

function fillForm(s) {
  const [ip, port] = splitAddr(s.listen);
  $('f-listen-ip').value = ip;
  $('f-listen-port').value = port;
  $('f-lan').checked = isAnyAddr(ip);
  $('f-auth').checked = s.auth != null;
  $('f-user').value = s.auth?.user ?? '';
  $('f-password').value = s.auth?.password ?? '';
  $('f-ports').value = s.allowed_ports;
  $('f-allow').value = (s.allow_hosts || []).join('\n');
  $('f-deny').value = (s.deny_hosts || []).join('\n');
  for (const input of document.querySelectorAll('[data-timeout]')) input.value = s.timeouts[input.dataset.timeout];
  syncAuth();
  formDirty = false;
}

function syncAuth() {
  const on = $('f-auth').checked;
  $('f-user').disabled = !on;
  $('f-password').disabled = !on;
}

async function loadSettings() {
  try {
    const v = await invoke('get_settings');
    loaded = v.settings;
    $('settings-path').textContent = v.path;
    fillForm(v.settings);
    clearErrors();
    $('form-message').hidden = true;
  } catch (e) {
    formMessage(message(e), true);
  }
}

const FIELD_INPUTS = {
  listen: ['f-listen-ip', 'f-listen-port'],
  'auth.user': ['f-user'],
  'auth.password': ['f-password'],
  allowed_ports: ['f-ports'],
  allow_hosts: ['f-allow'],
  deny_hosts: ['f-deny'],
};

function fieldError(field, text) {
  const slot = document.querySelector(`.field-error[data-for="${CSS.escape(field)}"]`);
  if (!slot) return false;
  slot.textContent = text;
  const inputs = field.startsWith('timeouts.')
    ? [document.querySelector(`[data-timeout="${field.slice(9)}"]`)]
    : (FIELD_INPUTS[field] || []).map($);
  for (const i of inputs) if (i) i.classList.add('invalid');
  (inputs[0] || slot).scrollIntoView({ block: 'center', behavior: 'smooth' });
  return true;
}

function clearErrors() {
  for (const e of document.querySelectorAll('.field-error')) e.textContent = '';
  for (const i of document.querySelectorAll('.invalid')) i.classList.remove('invalid');
}

function formMessage(text, bad) {
  const el = $('form-message');
  el.textContent = text;
  el.className = `form-message${bad ? ' bad' : ''}`;
  el.hidden = false;
}

/** The form as Settings JSON; fields it does not show keep their loaded values. */
function readForm() {
  const errors = [];
  const s = structuredClone(loaded);
  const ip = $('f-listen-ip').value.trim();
  const port = $('f-listen-port').value.trim();
  if (!/^\d+$/.test(port) || +port < 1 || +port > 65535) {
    errors.push(['listen', 'The port is a number from 1 to 65535.']);
  } else if (!ip) {
    errors.push(['listen', 'Give an address to listen on, such as 127.0.0.1.']);
  }
  s.listen = joinAddr(ip, port);
  s.auth = $('f-auth').checked ? { user: $('f-user').value, password: $('f-password').value } : null;
  s.allowed_ports = $('f-ports').value.trim();
  const lines = (id) => $(id).value.split('\n').map((l) => l.trim()).filter(Boolean);
  s.allow_hosts = lines('f-allow');
  s.deny_hosts = lines('f-deny');
  for (const input of document.querySelectorAll('[data-timeout]')) {
    const k = input.dataset.timeout;
    const v = input.value.trim();
    if (v === '' || !Number.isFinite(Number(v))) errors.push([`timeouts.${k}`, 'Write a number of seconds, such as 2.5.']);
    else s.timeouts[k] = Number(v);
  }
  return { settings: s, errors };
}

async function saveSettings(ev) {
  ev.preventDefault();
  clearErrors();
  $('form-message').hidden = true;
  const { settings, errors } = readForm();
  if (errors.length) {
    errors.forEach(([f, t]) => fieldError(f, t));
    return;
  }
  $('f-save').disabled = true;
  try {
    const s = await invoke('save_settings', { settings });
    setStatus(s);
    await loadSettings();
    formMessage(s.power === 'on'
      ? `Saved. Listening on ${s.address ?? s.listen}.`
      : 'Saved. The new settings apply when the proxy is turned on.');
  } catch (e) {
    // Keep what the user typed; show the error beside its field.
    if (!(e && e.field && fieldError(e.field, e.message))) formMessage(message(e), true);
    else formMessage('Not saved: fix the highlighted field. The previous settings are still in force.', true);
  } finally {
    $('f-save').disabled = false;
  }
}

// ---------------------------------------------------------------- clipboard
async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const ta = document.createElement('textarea');
    ta.value = text;
    document.body.append(ta);
    ta.select();
    document.execCommand('copy');
    ta.remove();
  }
}

// ---------------------------------------------------------------- wiring
function wire() {
  $('proxy-toggle').addEventListener('change', async (ev) => {
    const on = ev.target.checked;
    ev.target.disabled = true;
    try {
      setStatus(await invoke('set_proxy', { on }));
    } catch (e) {
      toast(message(e), 6000);
      setStatus(await invoke('get_status'));
    } finally {
      ev.target.disabled = false;
    }
  });
  $('copy-address').addEventListener('click', async () => {
    try { toast(`Copied ${await invoke('copy_address')}`); } catch (e) { toast(message(e)); }
  });
  for (const b of document.querySelectorAll('.tabs button')) b.addEventListener('click', () => showTab(b.dataset.tab));

  const vp = $('viewport');
  vp.addEventListener('scroll', scheduleRender, { passive: true });
  new ResizeObserver(scheduleRender).observe(vp);
  $('rows').addEventListener('click', (ev) => {
    const row = ev.target.closest('.row');
    if (row) select(Number(row.dataset.key));
  });
  vp.addEventListener('keydown', (ev) => {
    if (ev.key !== 'ArrowDown' && ev.key !== 'ArrowUp') return;
    ev.preventDefault();
    let i = view.indexOf(selected);
    i = i < 0 ? 0 : Math.max(0, Math.min(view.length - 1, i + (ev.key === 'ArrowDown' ? 1 : -1)));
    if (!view.length) return;
    select(view[i]);
    const top = i * ROW_H;
    if (top < vp.scrollTop) vp.scrollTop = top;
    else if (top + ROW_H > vp.scrollTop + vp.clientHeight) vp.scrollTop = top + ROW_H - vp.clientHeight;
  });

  let filterTimer;
  $('filter').addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => {
      terms = $('filter').value.toLowerCase().split(/\s+/).filter(Boolean);
      rebuildView();
      $('viewport').scrollTop = 0;
      scheduleRender();
    }, 80);
  });
  $('pause').addEventListener('click', () => {
    paused = !paused;
    $('pause').setAttribute('aria-pressed', String(paused));
    if (!paused) {
      const held = pending;
      pending = [];
      held.forEach(applyBatch);
    }
    $('pause').textContent = paused ? 'Resume' : 'Pause';
  });
  $('clear').addEventListener('click', () => invoke('clear_log').catch((e) => toast(message(e))));
  $('export').addEventListener('click', async () => {
    try {
      const r = await invoke('export_log');
      showNotice(`Exported ${plural(r.records, 'connection')} to ${r.path}`);
    } catch (e) {
      toast(message(e), 6000);
    }
  });
  $('d-close').addEventListener('click', () => select(null));
  $('d-copy').addEventListener('click', async () => {
    const r = records.get(selected);
    if (!r) return;
    const { hay, ...clean } = r;
    await copyText(JSON.stringify(clean, null, 2));
    toast('Copied the record as JSON');
  });
  $('d-sim').addEventListener('click', async () => {
    try {
      const link = await invoke('open_in_simulator', { key: selected });
      const sim = $('simulator');
      if (sim.getAttribute('src') && sim.contentWindow) {
        // A loaded simulator applies a new #s= fragment without reloading.
        sim.contentWindow.location.hash = link.fragment;
      } else {
        sim.src = `simulator/index.html#${link.fragment}`;
      }
      showTab('simulator');
    } catch (e) {
      toast(message(e));
    }
  });

  buildTimeoutFields();
  const form = $('settings-form');
  form.addEventListener('submit', saveSettings);
  form.addEventListener('input', () => { formDirty = true; });
  $('f-revert').addEventListener('click', () => { if (loaded) fillForm(loaded); clearErrors(); $('form-message').hidden = true; });
  $('f-auth').addEventListener('change', syncAuth);
  $('f-lan').addEventListener('change', () => {
    $('f-listen-ip').value = $('f-lan').checked ? '0.0.0.0' : '127.0.0.1';
  });
  $('f-listen-ip').addEventListener('input', () => { $('f-lan').checked = isAnyAddr($('f-listen-ip').value.trim()); });
  $('f-show-pw').addEventListener('click', () => {
    const pw = $('f-password');
    pw.type = pw.type === 'password' ? 'text' : 'password';
    $('f-show-pw').textContent = pw.type === 'password' ? 'Show' : 'Hide';
  });
}

async function start() {
  wire();
  await T.event.listen('proxy-state', (e) => setStatus(e.payload));
  await T.event.listen('show-tab', (e) => showTab(e.payload));
  setStatus(await invoke('get_status'));
  const channel = new T.core.Channel();
  channel.onmessage = onBatch;
  await invoke('subscribe_log', { onBatch: channel });
  setInterval(tick, 1000);
  drawGraph();
  render();
  document.body.dataset.ready = '1';
}

start().catch((e) => {
  document.body.dataset.ready = 'failed';
  toast(`The page failed to start: ${message(e)}`, 20000);
});
