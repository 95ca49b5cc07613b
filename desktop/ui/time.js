// Clock and duration formatting: the only numbers the page formats itself,
// because they move with the page's clock between batches.

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** 14:03:27.120 for a Unix time in milliseconds. */
export function fmtClock(ms) {
  if (ms == null) return '–';
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** The date and time in the user's locale. */
export function fmtDateTime(ms) {
  return ms == null ? null : new Date(ms).toLocaleString();
}

/** 840 ms, 1.53 s, 12.4 s, 3m 05s, 2h 10m. */
export function fmtDuration(ms) {
  if (ms == null) return '–';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60000);
  const s = Math.floor((ms % 60000) / 1000);
  if (m < 60) return `${m}m ${pad(s)}s`;
  return `${Math.floor(m / 60)}h ${pad(m % 60)}m`;
}

/** Milliseconds from `from` to `to`, or to now while `to` is unknown. */
export function elapsed(from, to) {
  if (from == null) return null;
  return Math.max(0, (to ?? Date.now()) - from);
}
