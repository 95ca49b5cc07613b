// "Start at login": a choice about this desktop session, not a proxy setting, so it
// applies at once (no Save) and Rust keeps it apart from the settings file. The tray
// changes it too; the `start-at-login` event keeps the checkbox in line with it.

import { $ } from './dom.js';
import { invoke, listen, message } from './ipc.js';

/** Shows Rust's `LoginStatus` ({on, available}). */
function show(s) {
  const box = $('f-login');
  box.checked = s.on;
  box.disabled = !s.available;
}

/** Shows why the change did not happen (Rust's words). */
function showError(e) {
  const note = $('login-message');
  note.textContent = message(e);
  note.hidden = false;
}

async function change() {
  const box = $('f-login');
  const want = box.checked;
  box.disabled = true;
  $('login-message').hidden = true;
  try {
    show(await invoke('set_start_at_login', { on: want }));
  } catch (e) {
    showError(e);
    show(await invoke('get_start_at_login'));
  }
}

/** Fills the checkbox and follows changes from the tray. */
export async function wireLoginItem() {
  $('f-login').addEventListener('change', () => change().catch(showError));
  await listen('start-at-login', show);
  show(await invoke('get_start_at_login'));
}
