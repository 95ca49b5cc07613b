// The totals beside the toolbar and the notices under it (records dropped by
// the cap, engine events lost). Byte counts are Rust's text.

import { $, el, num } from './dom.js';
import { currentStatus } from './status-bar.js';

let last = null; // the latest batch's totals, totals_text and budgets
let stickyUntil = 0;

/** Remembers a batch's totals and shows them. */
export function setTotals(batch) {
  last = { totals: batch.totals, text: batch.totals_text, cap: batch.cap, maxBytes: batch.max_bytes_text };
  renderTotals();
}

export function renderTotals() {
  if (!last) return;
  const { totals, text, cap, maxBytes } = last;
  const open = currentStatus()?.open_connections ?? 0;
  const parts = [
    text.connections, ' · ',
    el('b', num(open)), ' open · ',
    text.tunnels, ' · ',
    `↑ ${text.sent} · ↓ ${text.received}`,
  ];
  if (totals.errors) {
    parts.push(' · ', el('span', text.errors, 'err'));
  }
  $('totals').replaceChildren(...parts);

  if (Date.now() < stickyUntil) return;
  const notice = $('notice');
  const lines = [];
  if (totals.dropped > 0) {
    lines.push(`The log keeps the newest ${num(cap)} connections, up to ${maxBytes}: ${num(totals.dropped)} older ones were dropped (export regularly to keep them).`);
  }
  if (totals.lost_events > 0) {
    lines.push(`${num(totals.lost_events)} engine events were lost while the app was busy; some rows may be incomplete, and connections that ended meanwhile say their events were lost.`);
  }
  notice.textContent = lines.join(' ');
  notice.classList.toggle('warn', totals.lost_events > 0);
  notice.hidden = lines.length === 0;
}

/** A notice that stays for a while (e.g. where the export went). */
export function showNotice(text) {
  const notice = $('notice');
  notice.textContent = text;
  notice.classList.remove('warn');
  notice.hidden = false;
  stickyUntil = Date.now() + 12000;
  setTimeout(renderTotals, 12050);
}

