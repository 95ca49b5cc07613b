// Burrow desktop page: start-up and wiring. Everything the page shows comes
// from the Rust side (statuses, byte counts, SNI verdicts, close reasons,
// errors); the modules only draw it.

import { $, copyText, toast } from './dom.js';
import { invoke, listen, message, subscribe } from './ipc.js';
import { onStatus, setStatus, wireStatusBar } from './status-bar.js';
import { renderEmpty, scheduleRender, select, selectedRecord, showsOpenConnections, takeRows, wireTable } from './log-table.js';
import { renderTotals, setTotals, showNotice } from './totals.js';
import { addSample, drawGraph, setRate } from './graph.js';
import { formDirty, loadSettings, wireSettingsForm } from './settings-form.js';
import { wireSystemProxy } from './system-proxy.js';
import { wireLoginItem } from './login-item.js';

const SIMULATOR = 'simulator/index.html';

// What the Content Security Policy blocked, for whoever looks (the end-to-end test expects none).
let violations = 0;
document.addEventListener('securitypolicyviolation', (e) => {
  violations += 1;
  document.body.dataset.cspViolations = String(violations);
  console.warn(`CSP blocked ${e.blockedURI || 'inline code'} (${e.violatedDirective})`);
});

/** A batch of log changes from Rust (`Batch` in log_store.rs), every 100 ms at most. */
function onBatch(b) {
  addSample(b.up, b.down);
  setRate(b.rate);
  setTotals(b);
  takeRows(b);
}

function showTab(name) {
  for (const b of document.querySelectorAll('.tabs button')) {
    const on = b.dataset.tab === name;
    b.classList.toggle('active', on);
    b.setAttribute('aria-selected', String(on));
  }
  for (const s of document.querySelectorAll('.tab')) s.classList.toggle('active', s.id === `tab-${name}`);
  if (name === 'settings' && !formDirty()) loadSettings();
  // The simulator (wasm) loads on first use, not at start-up.
  const sim = $('simulator');
  if (name === 'simulator' && !sim.getAttribute('src')) sim.src = SIMULATOR;
  if (name === 'log') scheduleRender();
}

/** Replays the selected connection in the simulator tab. */
async function openInSimulator() {
  const r = selectedRecord();
  if (!r) return;
  try {
    const link = await invoke('open_in_simulator', { key: r.key });
    // The frame is sandboxed (another origin): the page can only navigate it. A
    // loaded simulator takes a new #s= fragment without reloading (hashchange).
    $('simulator').src = `${SIMULATOR}#${link.fragment}`;
    showTab('simulator');
  } catch (e) {
    toast(message(e));
  }
}

function wire() {
  wireStatusBar();
  wireSystemProxy();
  wireTable();
  wireSettingsForm();
  onStatus(() => {
    renderTotals();
    renderEmpty();
  });
  for (const b of document.querySelectorAll('.tabs button')) {
    b.addEventListener('click', () => showTab(b.dataset.tab));
  }
  $('clear').addEventListener('click', () => invoke('clear_log').catch((e) => toast(message(e))));
  $('export').addEventListener('click', async () => {
    try {
      const r = await invoke('export_log');
      showNotice(r.message);
    } catch (e) {
      toast(message(e), 6000);
    }
  });
  $('d-close').addEventListener('click', () => select(null));
  $('d-copy').addEventListener('click', async () => {
    const r = selectedRecord();
    if (!r) return;
    await copyText(JSON.stringify(r, null, 2));
    toast('Copied the record as JSON');
  });
  $('d-sim').addEventListener('click', openInSimulator);
}

/** Once a second: the graph moves and open connections' durations grow. Idle costs nothing. */
function tick() {
  if (document.hidden) return;
  drawGraph();
  if (showsOpenConnections()) scheduleRender();
}

async function start() {
  wire();
  await listen('proxy-state', setStatus);
  await listen('show-tab', showTab);
  await wireLoginItem();
  setStatus(await invoke('get_status'));
  await subscribe('subscribe_log', 'onBatch', onBatch);
  setInterval(tick, 1000);
  drawGraph();
  scheduleRender();
  document.body.dataset.ready = '1';
}

start().catch((e) => {
  document.body.dataset.ready = 'failed';
  toast(`The page failed to start: ${message(e)}`, 20000);
});
