// The live connection log: a virtualised table (only the visible rows exist
// in the DOM, so 10,000 records scroll smoothly), the filter, pause and the
// selection behind the details pane. Rows come from Rust with their words in
// `row.text`; this module only places them. The rows are kept in a
// `RowStore` (row-store.js), under a row budget and a byte budget.

import { $, cloneElement, num } from './dom.js';
import { elapsed, fmtClock, fmtDuration } from './time.js';
import { fillStatus, renderDetails } from './details.js';
import { currentStatus } from './status-bar.js';
import { RowStore } from './row-store.js';

const ROW_H = 30; // must match --row-h in style.css
const OVERSCAN = 6; // rows rendered above and below the visible ones

const records = new RowStore(); // key -> row from Rust, oldest first
let view = []; // keys shown, newest first, after the filter
let terms = []; // filter words, lower case
let selected = null; // key of the row in the details pane
let paused = false;
// What changed while paused, folded (not every batch kept): the newest
// version of each row, and the removals of rows the table shows. Rows only
// stay here while Rust's log has them, so Rust's budgets bound it.
const held = { reset: false, rows: new Map(), removed: new Set() };

/** The row in the details pane, if any. */
export const selectedRecord = () => (selected == null ? null : records.get(selected) ?? null);

const matches = (key) => records.matches(key, terms);

/** Takes a batch's rows; while paused, holds those that change the table. */
export function takeRows(b) {
  if (paused && (b.reset || b.rows.length || b.removed.length)) {
    hold(b);
    showPause();
    return;
  }
  applyRows(b);
}

function hold(b) {
  if (b.reset) {
    held.reset = true;
    held.rows.clear();
    held.removed.clear();
  }
  for (const row of b.rows) held.rows.set(row.key, row);
  for (const key of b.removed) {
    held.rows.delete(key);
    if (!held.reset && records.has(key)) held.removed.add(key);
  }
}

function applyRows(b) {
  if (b.reset) records.clear();
  let added = 0;
  for (const row of b.rows) {
    const known = records.has(row.key);
    records.set(row);
    if (!known && matches(row.key)) added++;
  }
  for (const key of b.removed) records.delete(key);
  document.body.dataset.logRows = String(records.size);
  document.body.dataset.logBytes = String(records.bytes);
  rebuildView();
  // Keep the rows the user is reading in place while new ones arrive on top.
  const vp = $('viewport');
  if (!b.reset && vp.scrollTop > 0 && added > 0) vp.scrollTop += added * ROW_H;
  scheduleRender();
}

function rebuildView() {
  const keys = [];
  for (const key of records.keys()) if (matches(key)) keys.push(key);
  view = keys.reverse();
}

let renderQueued = false;
export function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

// The row elements on screen, by key: kept across renders so a row under the
// mouse stays the same element (a click needs its press and release on one).
const shown = new Map();

/** Writes record `r` into a row element cloned from #row-template. */
function fillRow(row, r, index) {
  const cell = (name) => row.querySelector(`.c-${name}`);
  row.dataset.key = r.key;
  row.classList.toggle('alt', index % 2 === 1);
  row.classList.toggle('selected', r.key === selected);
  row.setAttribute('aria-selected', String(r.key === selected));
  const x = r.text;

  cell('start').textContent = fmtClock(r.timings.accepted);
  cell('client').textContent = r.client ?? '–';
  cell('method').textContent = r.method ?? '–';
  const target = cell('target');
  target.textContent = r.target ?? '(no request)';
  target.title = r.target ?? '';

  const sni = cell('sni');
  const name = sni.querySelector('.sni-name');
  name.textContent = r.sni ?? (x.sni_verdict ? '' : '–');
  name.classList.toggle('dim', !r.sni);
  const badge = sni.querySelector('.badge');
  badge.hidden = !x.sni_badge;
  badge.textContent = x.sni_badge ?? '';
  badge.title = x.sni_verdict ?? '';
  badge.classList.toggle('bad', x.sni_suspicious);
  sni.title = x.sni_verdict ?? '';

  const status = cell('status');
  status.dataset.status = r.status ?? '';
  fillStatus(status, r);

  const up = cell('up');
  up.textContent = x.sent;
  up.dataset.bytes = r.bytes_up;
  const down = cell('down');
  down.textContent = x.received;
  down.dataset.bytes = r.bytes_down;
  cell('duration').textContent = fmtDuration(elapsed(r.timings.accepted, r.timings.closed));
  fillStatus(cell('state'), r);
}

function render() {
  const vp = $('viewport');
  $('spacer').style.height = `${view.length * ROW_H}px`;
  const first = Math.max(0, Math.floor(vp.scrollTop / ROW_H) - OVERSCAN);
  const last = Math.min(view.length, Math.ceil((vp.scrollTop + vp.clientHeight) / ROW_H) + OVERSCAN);
  const rows = [];
  const keep = new Set();
  for (let i = first; i < last; i++) {
    const key = view[i];
    let row = shown.get(key);
    if (!row) {
      row = cloneElement('row-template');
      shown.set(key, row);
    }
    fillRow(row, records.get(key), i);
    rows.push(row);
    keep.add(key);
  }
  for (const key of shown.keys()) if (!keep.has(key)) shown.delete(key);
  const box = $('rows');
  box.style.transform = `translateY(${first * ROW_H}px)`;
  const same = box.children.length === rows.length && rows.every((row, i) => box.children[i] === row);
  if (!same) box.replaceChildren(...rows);
  renderEmpty();
  renderDetails(selectedRecord());
}

/** The message in an empty table: why it is empty and what to do. */
export function renderEmpty() {
  const empty = $('empty');
  empty.hidden = view.length > 0;
  const status = currentStatus();
  if (empty.hidden || !status) return;
  const tryIt = $('empty-try');
  tryIt.hidden = true;
  let title;
  let text = '';
  if (records.size > 0) {
    title = 'No connection matches the filter';
    text = `Nothing in the ${num(records.size)} logged connections contains “${$('filter').value.trim()}”.`;
  } else if (status.power === 'on') {
    title = 'Waiting for the first connection';
    tryIt.querySelector('.proxy-url').textContent = status.proxy_url;
    tryIt.querySelector('.try-command').textContent = `curl -x ${status.proxy_url} https://example.com`;
    tryIt.hidden = false;
  } else if (status.power === 'error') {
    title = 'The proxy is not listening';
    text = status.error || status.line;
  } else {
    title = 'The proxy is off';
    text = 'Turn it on with the switch above; connections appear here as they happen.';
  }
  $('empty-title').textContent = title;
  $('empty-text').textContent = text;
  $('empty-text').hidden = text === '';
}

/** Shows `key` in the details pane (null closes it). */
export function select(key) {
  selected = key;
  scheduleRender();
}

/** Whether a shown row or the details pane has a connection still open (durations move). */
export function showsOpenConnections() {
  if (paused) return false;
  const shown = selectedRecord();
  if (shown && shown.close == null) return true;
  for (const row of $('rows').children) {
    const r = records.get(Number(row.dataset.key));
    if (r && r.close == null) return true;
  }
  return false;
}

function showPause() {
  const button = $('pause');
  button.setAttribute('aria-pressed', String(paused));
  const n = held.rows.size;
  button.textContent = paused ? (n ? `Resume (${num(n)})` : 'Resume') : 'Pause';
}

function togglePause() {
  paused = !paused;
  if (!paused) {
    const b = {
      reset: held.reset,
      rows: [...held.rows.values()].sort((x, y) => x.key - y.key),
      removed: [...held.removed],
    };
    held.reset = false;
    held.rows.clear();
    held.removed.clear();
    applyRows(b);
  }
  showPause();
}

function moveSelection(step) {
  if (!view.length) return;
  const vp = $('viewport');
  let i = view.indexOf(selected);
  i = i < 0 ? 0 : Math.max(0, Math.min(view.length - 1, i + step));
  select(view[i]);
  const top = i * ROW_H;
  if (top < vp.scrollTop) vp.scrollTop = top;
  else if (top + ROW_H > vp.scrollTop + vp.clientHeight) vp.scrollTop = top + ROW_H - vp.clientHeight;
}

export function wireTable() {
  const vp = $('viewport');
  vp.addEventListener('scroll', scheduleRender, { passive: true });
  new ResizeObserver(scheduleRender).observe(vp);
  $('rows').addEventListener('click', (ev) => {
    const row = ev.target.closest('.row');
    if (row) select(Number(row.dataset.key));
  });
  vp.addEventListener('keydown', (ev) => {
    const pageRows = Math.max(1, Math.floor(vp.clientHeight / ROW_H) - 1);
    const steps = { ArrowDown: 1, ArrowUp: -1, PageDown: pageRows, PageUp: -pageRows };
    if (ev.key in steps) {
      ev.preventDefault();
      moveSelection(steps[ev.key]);
    } else if (ev.key === 'Home' || ev.key === 'End') {
      ev.preventDefault();
      moveSelection(ev.key === 'Home' ? -view.length : view.length);
    } else if (ev.key === 'Escape') {
      select(null);
    }
  });

  let filterTimer;
  $('filter').addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => {
      terms = $('filter').value.toLowerCase().split(/\s+/).filter(Boolean);
      rebuildView();
      vp.scrollTop = 0;
      scheduleRender();
    }, 80);
  });
  $('pause').addEventListener('click', togglePause);
  showPause();
}
