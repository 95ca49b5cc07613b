// The rows the page keeps, under a row budget and a byte budget of its own:
// Rust's log has both already, and the page holds more per row (the parsed
// row and a lower-case copy of its searchable text), so it counts what it
// holds and evicts like Rust does, the oldest closed row first and the oldest
// of all only when every row is open, without scanning. No DOM here, so it
// runs under Node too (desktop/tests/ui/row-store.test.mjs).

/** Most rows the page keeps (Rust's DEFAULT_CAP). */
export const PAGE_MAX_ROWS = 10_000;

/**
 * Most bytes of rows the page keeps, as estimated by `rowBytes`. Counting two
 * bytes a character (WebKit keeps ASCII in one, so the real figure is lower),
 * an ordinary row costs about 2,600 bytes, so 10,000 fit; rows stuffed by a hostile
 * client cost up to about 460,000 bytes, and the budget then holds about 70.
 */
export const PAGE_MAX_BYTES = 32 * 1024 * 1024;

/** A row's searchable text, lower case: what the filter looks in. */
export function haystack(r) {
  const x = r.text;
  return [r.method, r.target, r.sni, r.status, r.error, r.client, r.rule, x.state,
    x.sni_badge, r.tunnel ? 'tunnel' : null]
    .filter((v) => v != null && v !== '').join(' ').toLowerCase();
}

/**
 * What a value costs the page, erring high: strings at two bytes a character
 * plus a header, every other value a slot, objects and arrays a header each.
 */
export function valueBytes(v) {
  if (typeof v === 'string') return 32 + 2 * v.length;
  if (Array.isArray(v)) return v.reduce((n, x) => n + valueBytes(x), 32);
  if (v !== null && typeof v === 'object') {
    let n = 64;
    for (const k in v) n += 16 + valueBytes(v[k]);
    return n;
  }
  return 16;
}

/** What a row and its search text cost, with the maps' entries for them. */
export const rowBytes = (row, hay) => valueBytes(row) + valueBytes(hay) + 128;

/** A min-heap of numbers (keys of rows that closed after being passed over). */
class MinHeap {
  constructor() { this.a = []; }
  get size() { return this.a.length; }
  push(x) {
    const a = this.a;
    a.push(x);
    for (let i = a.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (a[p] <= a[i]) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }
  pop() {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length) {
      a[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l] < a[m]) m = l;
        if (r < a.length && a[r] < a[m]) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}

/** A queue of numbers that pops from the front in O(1). */
class Queue {
  constructor() { this.a = []; this.head = 0; }
  get size() { return this.a.length - this.head; }
  push(x) { this.a.push(x); }
  shift() {
    if (this.head >= this.a.length) return undefined;
    const x = this.a[this.head++];
    if (this.head > 1024 && this.head * 2 > this.a.length) {
      this.a = this.a.slice(this.head);
      this.head = 0;
    }
    return x;
  }
  filter(keep) { this.a = this.a.slice(this.head).filter(keep); this.head = 0; }
}

/** The page's rows by key, with their search text, under both budgets. */
export class RowStore {
  constructor(maxRows = PAGE_MAX_ROWS, maxBytes = PAGE_MAX_BYTES) {
    this.maxRows = maxRows;
    this.maxBytes = maxBytes;
    this.rows = new Map(); // key -> row from Rust, in arrival order
    this.hay = new Map(); // key -> haystack(row)
    this.cost = new Map(); // key -> rowBytes, as counted into `bytes`
    this.bytes = 0;
    this.evicted = 0; // rows the page dropped on its own
    this.#resetOrder();
  }

  #resetOrder() {
    this.fresh = new Queue(); // keys not looked at yet, oldest first
    this.passed = -Infinity; // every key up to this has left `fresh`
    this.parked = new Queue(); // keys found open when looked at
    this.closedParked = new MinHeap(); // parked keys closed since
  }

  get size() { return this.rows.size; }
  get(key) { return this.rows.get(key); }
  has(key) { return this.rows.has(key); }
  keys() { return this.rows.keys(); }
  matches(key, terms) {
    const h = this.hay.get(key);
    return h !== undefined && terms.every((t) => h.includes(t));
  }

  clear() {
    this.rows.clear();
    this.hay.clear();
    this.cost.clear();
    this.bytes = 0;
    this.#resetOrder();
  }

  /** Adds or replaces a row; returns the keys evicted to make room. */
  set(row) {
    const key = row.key;
    const old = this.rows.get(key);
    if (old === undefined) {
      this.fresh.push(key);
    } else {
      this.bytes -= this.cost.get(key);
      if (old.close == null && row.close != null && key <= this.passed) this.closedParked.push(key);
    }
    const hay = haystack(row);
    const cost = rowBytes(row, hay);
    this.rows.set(key, row);
    this.hay.set(key, hay);
    this.cost.set(key, cost);
    this.bytes += cost;
    return this.#keepBudgets();
  }

  delete(key) {
    if (!this.rows.has(key)) return;
    this.bytes -= this.cost.get(key);
    this.rows.delete(key);
    this.hay.delete(key);
    this.cost.delete(key);
  }

  #seen(key) {
    const r = this.rows.get(key);
    return r === undefined ? 'gone' : (r.close == null ? 'open' : 'closed');
  }

  #pick() {
    while (this.closedParked.size) {
      const key = this.closedParked.pop();
      if (this.#seen(key) === 'closed') return key;
    }
    for (let key = this.fresh.shift(); key !== undefined; key = this.fresh.shift()) {
      this.passed = Math.max(this.passed, key);
      const seen = this.#seen(key);
      if (seen === 'closed') return key;
      if (seen === 'open') this.parked.push(key);
    }
    for (let key = this.parked.shift(); key !== undefined; key = this.parked.shift()) {
      if (this.#seen(key) !== 'gone') return key;
    }
    return undefined;
  }

  #keepBudgets() {
    const out = [];
    while (this.rows.size > 1 && (this.rows.size > this.maxRows || this.bytes > this.maxBytes)) {
      const key = this.#pick();
      if (key === undefined) break;
      this.delete(key);
      this.evicted += 1;
      out.push(key);
    }
    // Keys of rows that left (Rust removed them) are skipped when met and
    // swept out once they outnumber the rows: O(1) amortised.
    if (this.fresh.size + this.parked.size + this.closedParked.size > 2 * this.rows.size + 64) {
      const live = (k) => this.rows.has(k);
      this.fresh.filter(live);
      this.parked.filter(live);
      const closed = this.closedParked.a.filter((k) => this.#seen(k) === 'closed');
      this.closedParked = new MinHeap();
      closed.forEach((k) => this.closedParked.push(k));
    }
    return out;
  }

  /** Keys held by the eviction order, stale ones included (for tests). */
  get orderSize() { return this.fresh.size + this.parked.size + this.closedParked.size; }
}
