// The details pane: one connection's timeline and fields. The words come
// from Rust (`row.text`); the page only places them.

import { $, clone, num } from './dom.js';
import { elapsed, fmtDateTime, fmtDuration } from './time.js';

// The moments of `ConnectionRecord.timings`, in the order they happen.
const PHASES = [
  ['head', 'Request head'],
  ['dns', 'DNS'],
  ['connected', 'TCP connect'],
  ['responded', 'Response'],
  ['first_up', 'First byte ↑'],
  ['first_down', 'First byte ↓'],
  ['closed', 'Closed'],
];
// First bytes are marks on the line, not steps that follow the previous one.
const MARKS = new Set(['first_up', 'first_down']);

/** Fills whichever of `.pill` (status), `.err` (its error) and `.state` `box` holds. */
export function fillStatus(box, r) {
  const pill = box.querySelector('.pill');
  if (pill) {
    pill.textContent = r.status ?? '–';
    pill.className = `pill ${r.text.status_class}`;
  }
  const err = box.querySelector('.err');
  if (err) {
    err.textContent = r.error ?? '';
    err.title = r.text.error_meaning ?? '';
  }
  const state = box.querySelector('.state');
  if (state) {
    state.textContent = r.text.state;
    state.classList.toggle('open', r.close == null);
    state.classList.toggle('problem', r.text.problem);
  }
}

function timelineEntry(label, left, width, mark, at) {
  const entry = clone('phase-template');
  entry.querySelector('.phase').textContent = label;
  const span = entry.querySelector('.bar span');
  span.style.left = `${left.toFixed(2)}%`;
  span.style.width = `${width.toFixed(2)}%`;
  span.classList.toggle('mark', mark);
  const t = entry.querySelector('.t');
  t.textContent = at;
  return entry;
}

function renderTimeline(r) {
  const t = r.timings;
  const start = t.accepted;
  const box = $('d-timeline');
  if (start == null) {
    const none = document.createElement('div');
    none.className = 'dim';
    none.textContent = 'No timings recorded.';
    box.replaceChildren(none);
    return;
  }
  const total = Math.max(1, elapsed(start, t.closed));
  const entries = [];
  let prev = start;
  for (const [k, label] of PHASES) {
    const at = t[k];
    if (at == null) continue;
    const from = MARKS.has(k) ? at : prev;
    entries.push(timelineEntry(label, ((from - start) / total) * 100, ((at - from) / total) * 100,
      from === at, `+${fmtDuration(at - start)}`));
    if (!MARKS.has(k)) prev = at;
  }
  if (t.closed == null) {
    const open = timelineEntry('Open for', 0, 0, false, fmtDuration(elapsed(start)));
    open.querySelector('.bar span').remove();
    entries.push(open);
  }
  box.replaceChildren(...entries);
}

function renderFields(r) {
  const x = r.text;
  const fields = [
    ['Client', r.client],
    ['Started', fmtDateTime(r.timings.accepted)],
    ['Resolved', r.resolved.length ? r.resolved.join(', ') : null],
    ['DNS failure', x.dns_failure],
    ['Connected to', r.remote],
    ['Connect failure', x.connect_failure],
    ['Origin failure', x.upstream_failure],
    ['Rule', r.rule],
    ['Proxy error', r.error ? `${r.error}: ${x.error_meaning ?? ''}` : null],
    ['SNI', x.sni_verdict ? (r.sni ? `${r.sni} — ${x.sni_verdict}` : x.sni_verdict) : null],
    ['ALPN', r.alpn.length ? r.alpn.join(', ') : null],
    ['Requests', r.requests > 1 ? num(r.requests) : null],
    ['Sent ↑', `${x.sent} (${num(r.bytes_up)} bytes)`],
    ['Received ↓', `${x.received} (${num(r.bytes_down)} bytes)`],
    ['State', x.state],
    ['Connection id', `#${r.id} (log key ${r.key})`],
  ];
  const items = [];
  for (const [label, value] of fields) {
    if (value == null) continue;
    const item = clone('field-template');
    item.querySelector('dt').textContent = label;
    item.querySelector('dd').textContent = value;
    items.push(item);
  }
  $('d-fields').replaceChildren(...items);
}

/** Shows `r` in the pane, or hides the pane for null. */
export function renderDetails(r) {
  const pane = $('details');
  pane.hidden = !r;
  if (!r) return;
  $('d-title').textContent = `${r.method ?? '(no request)'} ${r.target ?? ''}`;
  fillStatus($('d-sub'), r);
  renderTimeline(r);
  renderFields(r);
}
