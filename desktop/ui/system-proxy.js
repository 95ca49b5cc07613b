// "Use as system proxy": the choice on the settings tab, the PAC address,
// and the banner when the system proxy needs the user (another program
// changed it, a restore failed). Rust decides and words everything; this
// module shows `status.system_proxy` (state.rs `SystemProxyStatus`).

import { $, toast } from './dom.js';
import { invoke, message } from './ipc.js';
import { onStatus, setStatus } from './status-bar.js';

/** The message last dismissed, so it does not come back until it changes. */
let dismissed = null;

/** Shows the choice, the PAC address and the banner for a status from Rust. */
function show(s) {
  const sp = s.system_proxy;
  for (const input of document.querySelectorAll('input[name="system_proxy"]')) {
    input.checked = input.value === sp.preference;
  }
  $('sp-pac-url').textContent = s.pac_url;
  const text = sp.health.message || '';
  $('sp-message').textContent = text;
  const attention = ['changed', 'restore_failed', 'unavailable'].includes(sp.health.state);
  const banner = $('system-banner');
  banner.dataset.state = sp.health.state;
  $('system-banner-text').textContent = text;
  banner.hidden = !attention || text === dismissed;
}

export function wireSystemProxy() {
  onStatus(show);
  for (const input of document.querySelectorAll('input[name="system_proxy"]')) {
    input.addEventListener('change', async () => {
      if (!input.checked) return;
      try {
        setStatus(await invoke('set_system_proxy', { mode: input.value }));
      } catch (e) {
        toast(message(e), 8000);
        setStatus(await invoke('get_status'));
      }
    });
  }
  $('sp-copy-pac').addEventListener('click', async () => {
    try {
      toast(`Copied ${await invoke('copy_pac_address')}`);
    } catch (e) {
      toast(message(e));
    }
  });
  $('system-banner-close').addEventListener('click', () => {
    dismissed = $('system-banner-text').textContent;
    $('system-banner').hidden = true;
  });
}
