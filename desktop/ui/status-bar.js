// The bar at the top: the on/off switch, the status line Rust writes, and
// "Copy address".

import { $, toast } from './dom.js';
import { invoke, message } from './ipc.js';

let status = null;
const watchers = [];

/** The last status Rust sent (`Status` in state.rs), or null before the first. */
export const currentStatus = () => status;

/** Calls `fn(status)` whenever the status changes. */
export function onStatus(fn) {
  watchers.push(fn);
}

/** Shows a status from Rust. */
export function setStatus(s) {
  status = s;
  const box = $('status');
  box.dataset.power = s.power;
  $('status-line').textContent = s.line;
  box.title = s.error || s.line;
  $('proxy-toggle').checked = s.wanted;
  for (const fn of watchers) fn(s);
}

export function wireStatusBar() {
  $('proxy-toggle').addEventListener('change', async (ev) => {
    const toggle = ev.target;
    toggle.disabled = true;
    try {
      setStatus(await invoke('set_proxy', { on: toggle.checked }));
    } catch (e) {
      toast(message(e), 6000);
      setStatus(await invoke('get_status'));
    } finally {
      toggle.disabled = false;
    }
  });
  $('copy-address').addEventListener('click', async () => {
    try {
      toast(`Copied ${await invoke('copy_address')}`);
    } catch (e) {
      toast(message(e));
    }
  });
}
