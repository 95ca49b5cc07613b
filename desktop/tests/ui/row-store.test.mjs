// The page's row store (desktop/ui/row-store.js) under Node's test runner:
// both budgets hold under stuffed rows, eviction order matches Rust's log,
// and eviction does not scan. Run by desktop/tests/ui.rs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PAGE_MAX_BYTES, PAGE_MAX_ROWS, RowStore, haystack, rowBytes } from '../../ui/row-store.js';

/** A row as Rust sends it (`Row` in log_store), open unless `close` is given. */
function row(key, { close = null, big = false } = {}) {
  const lt = (n) => '\\x3c'.repeat(n); // `<` escaped, as the core writes it
  return {
    key,
    id: key,
    client: '127.0.0.1:50000',
    method: big ? lt(128) : 'CONNECT',
    target: big ? lt(1024) : 'www.example.com:443',
    target_len: big ? 16384 : 19,
    version: 'http11',
    requests: 1,
    resolved: big ? Array.from({ length: 256 }, (_, i) => `2001:db8::${i}`) : ['93.184.215.14'],
    remote: '93.184.215.14:443',
    status: 200,
    reason: big ? lt(128) : null,
    error: null,
    rule: 'allowed',
    dns_failure: null,
    connect_failure: null,
    upstream_failure: null,
    tunnel: true,
    sni_check: big ? { mismatch: { sni: lt(16384) } } : 'match',
    sni: big ? lt(16384) : 'www.example.com',
    alpn: big ? Array(16).fill(lt(255)) : ['h2', 'http/1.1'],
    bytes_up: 1000,
    bytes_down: 20000,
    timings: { accepted: 1, head: 2, dns: 3, connected: 4, responded: 5, first_up: 6, first_down: 7, closed: close ? 8 : null },
    close,
    text: {
      status_class: 'success', sent: '1000 B', received: '19.5 KiB', sni_badge: null,
      sni_verdict: null, sni_suspicious: false, state: close ? 'client closed' : 'open tunnel',
      problem: false, error_meaning: null, dns_failure: null, connect_failure: null, upstream_failure: null,
    },
  };
}

test('ordinary rows fill the rows, not the bytes', () => {
  const s = new RowStore();
  for (let k = 1; k <= 12_000; k++) s.set(row(k, { close: 'client_fin' }));
  assert.equal(s.size, PAGE_MAX_ROWS);
  assert.ok(s.bytes <= PAGE_MAX_BYTES, `${s.bytes}`);
  assert.equal(s.get(1), undefined);
  assert.ok(s.get(12_000));
});

test('ten thousand stuffed rows stay under the byte budget', () => {
  const s = new RowStore();
  let most = 0;
  for (let k = 1; k <= 10_500; k++) {
    s.set(row(k, { close: 'client_reset', big: true }));
    most = Math.max(most, s.bytes);
  }
  assert.ok(most <= PAGE_MAX_BYTES, `most ${most}`);
  assert.ok(s.size >= 50 && s.size < PAGE_MAX_ROWS, `${s.size} rows`);
  assert.ok(s.get(10_500), 'the newest is kept');
  // The search text is counted too: a stuffed row's is about 80,000 characters.
  const r = row(1, { big: true });
  assert.ok(rowBytes(r, haystack(r)) > 2 * (r.sni.length + haystack(r).length));
});

test('the oldest closed row goes first, an open one only when none is closed', () => {
  const s = new RowStore(3);
  s.set(row(1)); // open
  s.set(row(2));
  s.set(row(2, { close: 'client_fin' }));
  s.set(row(3, { close: 'client_fin' }));
  assert.deepEqual(s.set(row(4)), [2]);
  assert.ok(s.has(1) && !s.has(2));
  s.set(row(1, { close: 'client_fin' })); // closes after being passed over
  assert.deepEqual(s.set(row(5)), [1], '1 is now the oldest closed');
  assert.deepEqual(s.set(row(6)), [3]);
  assert.deepEqual(s.set(row(7)), [4], 'all open: the oldest of all');
  assert.equal(s.size, 3);
});

test('eviction does not walk over open rows again, and its order stays small', () => {
  const s = new RowStore(1_000);
  for (let k = 1; k <= 100; k++) s.set(row(k)); // open for ever
  const start = process.hrtime.bigint();
  for (let k = 101; k <= 200_100; k++) {
    s.set(row(k, { close: 'client_fin' }));
    if (k % 7 === 0) s.delete(k); // Rust removed some
  }
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  assert.ok(s.size <= 1_000);
  for (let k = 1; k <= 100; k++) assert.ok(s.has(k), `open row ${k} kept`);
  assert.ok(s.orderSize <= 2 * s.size + 64, `${s.orderSize}`);
  assert.ok(ms < 20_000, `${ms} ms`);
});

test('bytes follow rows in, out and replaced', () => {
  const s = new RowStore();
  s.set(row(1, { big: true }));
  const big = s.bytes;
  s.set(row(1));
  assert.ok(s.bytes < big / 10);
  s.delete(1);
  assert.equal(s.bytes, 0);
  s.set(row(2));
  s.clear();
  assert.equal(s.bytes, 0);
  assert.equal(s.size, 0);
});
