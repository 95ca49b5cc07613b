// The Settings tab: fills the form from Rust's settings, sends what the user
// typed, and shows Rust's error beside the field it names. The page checks
// nothing itself: `parse_settings` and `Settings::validate` do.

import { $, clone } from './dom.js';
import { invoke, message } from './ipc.js';
import { setStatus } from './status-bar.js';

// Labels for the `timeouts` fields; the fields themselves are those the settings have.
const TIMEOUT_LABELS = {
  request_head: 'Request head',
  keep_alive: 'Keep-alive idle',
  dns: 'DNS lookup',
  connect: 'TCP connect',
  tunnel_idle: 'Tunnel idle',
  upstream_response: 'Origin response',
  shutdown_grace: 'Stop grace',
};

// Which inputs an error about a settings field points at (timeouts are found by data-timeout).
const FIELD_INPUTS = {
  listen: ['f-listen-ip', 'f-listen-port'],
  'auth.user': ['f-user'],
  'auth.password': ['f-password'],
  allowed_ports: ['f-ports'],
  allow_hosts: ['f-allow'],
  deny_hosts: ['f-deny'],
  pac_bypass: ['f-pac-bypass'],
};

let loaded = null; // the settings in force, as Rust sent them
let dirty = false;

/** Whether the user changed the form since it was filled. */
export const formDirty = () => dirty;

function splitAddr(addr) {
  const m = /^\[(.*)\]:([^:]*)$/.exec(addr) || /^(.*):([^:]*)$/.exec(addr);
  return m ? [m[1], m[2]] : [addr, ''];
}
const joinAddr = (ip, port) => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);
const isAnyAddr = (ip) => ip === '0.0.0.0' || ip === '::';

/** One input per timeout the settings have, cloned from #timeout-template. */
function buildTimeoutFields(timeouts) {
  const box = $('f-timeouts');
  const keys = Object.keys(timeouts);
  if (box.dataset.keys === keys.join(',')) return;
  box.replaceChildren(...keys.map((key) => {
    const field = clone('timeout-template');
    field.querySelector('.timeout-label').textContent = TIMEOUT_LABELS[key] ?? key.replaceAll('_', ' ');
    field.querySelector('input').dataset.timeout = key;
    field.querySelector('.field-error').dataset.for = `timeouts.${key}`;
    return field;
  }));
  box.dataset.keys = keys.join(',');
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
  $('f-allow').value = s.allow_hosts.join('\n');
  $('f-deny').value = s.deny_hosts.join('\n');
  $('f-pac-bypass').value = (s.pac_bypass ?? []).join('\n');
  buildTimeoutFields(s.timeouts);
  for (const input of document.querySelectorAll('[data-timeout]')) {
    input.value = s.timeouts[input.dataset.timeout];
  }
  syncAuth();
  dirty = false;
}

function syncAuth() {
  const on = $('f-auth').checked;
  $('f-user').disabled = !on;
  $('f-password').disabled = !on;
}

/** Fills the form with the settings in force. */
export async function loadSettings() {
  try {
    const v = await invoke('get_settings');
    loaded = v.settings;
    $('settings-path').textContent = v.path;
    $('f-pac-url').value = v.pac_url ?? '';
    fillForm(v.settings);
    clearErrors();
    $('form-message').hidden = true;
  } catch (e) {
    formMessage(message(e), true);
  }
}

/** Shows `text` beside `field`; false when the form has no place for that field. */
function fieldError(field, text) {
  const slot = [...document.querySelectorAll('.field-error')].find((s) => s.dataset.for === field);
  if (!slot) return false;
  slot.textContent = text;
  const inputs = field.startsWith('timeouts.')
    ? [...document.querySelectorAll('[data-timeout]')].filter((i) => `timeouts.${i.dataset.timeout}` === field)
    : (FIELD_INPUTS[field] || []).map($);
  for (const input of inputs) input.classList.add('invalid');
  (inputs[0] || slot).scrollIntoView({ block: 'center', behavior: 'smooth' });
  return true;
}

function clearErrors() {
  for (const slot of document.querySelectorAll('.field-error')) slot.textContent = '';
  for (const input of document.querySelectorAll('.invalid')) input.classList.remove('invalid');
}

function formMessage(text, bad) {
  const box = $('form-message');
  box.textContent = text;
  box.classList.toggle('bad', Boolean(bad));
  box.hidden = false;
}

/** A number when the text is one, else the text as typed (Rust names the field). */
function seconds(text) {
  const t = text.trim();
  const n = Number(t);
  return t !== '' && Number.isFinite(n) ? n : text;
}

/** The form as Settings JSON, as typed; fields it does not show keep their loaded values. */
function readForm() {
  const s = structuredClone(loaded);
  s.listen = joinAddr($('f-listen-ip').value.trim(), $('f-listen-port').value.trim());
  s.auth = $('f-auth').checked ? { user: $('f-user').value, password: $('f-password').value } : null;
  s.allowed_ports = $('f-ports').value.trim();
  const lines = (id) => $(id).value.split('\n').map((l) => l.trim()).filter(Boolean);
  s.allow_hosts = lines('f-allow');
  s.deny_hosts = lines('f-deny');
  s.pac_bypass = lines('f-pac-bypass');
  for (const input of document.querySelectorAll('[data-timeout]')) {
    s.timeouts[input.dataset.timeout] = seconds(input.value);
  }
  return s;
}

async function saveSettings(ev) {
  ev.preventDefault();
  if (!loaded) return;
  clearErrors();
  $('form-message').hidden = true;
  $('f-save').disabled = true;
  try {
    const s = await invoke('save_settings', { settings: readForm() });
    setStatus(s);
    await loadSettings();
    formMessage(s.power === 'on'
      ? `Saved. Listening on ${s.address ?? s.listen}.`
      : 'Saved. The new settings apply when the proxy is turned on.');
  } catch (e) {
    // Keep what the user typed; show Rust's error beside its field.
    if (e && e.field && fieldError(e.field, e.message)) {
      formMessage('Not saved: fix the highlighted field. The previous settings are still in force.', true);
    } else {
      formMessage(`Not saved: ${message(e)}`, true);
      $('form-message').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    }
  } finally {
    $('f-save').disabled = false;
  }
}

export function wireSettingsForm() {
  const form = $('settings-form');
  form.addEventListener('submit', saveSettings);
  form.addEventListener('input', () => { dirty = true; });
  $('f-revert').addEventListener('click', () => {
    if (loaded) fillForm(loaded);
    clearErrors();
    $('form-message').hidden = true;
  });
  $('f-auth').addEventListener('change', syncAuth);
  $('f-lan').addEventListener('change', () => {
    $('f-listen-ip').value = $('f-lan').checked ? '0.0.0.0' : '127.0.0.1';
  });
  $('f-listen-ip').addEventListener('input', () => {
    $('f-lan').checked = isAnyAddr($('f-listen-ip').value.trim());
  });
  $('f-show-pw').addEventListener('click', () => {
    const pw = $('f-password');
    pw.type = pw.type === 'password' ? 'text' : 'password';
    $('f-show-pw').textContent = pw.type === 'password' ? 'Show' : 'Hide';
  });
}
