// The page's only way to the Rust side: commands, events and the log channel.
// Errors from commands arrive as {code, message, field?}.
//
// The app runs without `withGlobalTauri`, so no frame gets the global Tauri API.
// This module is the one place that touches `window.__TAURI_INTERNALS__`, which
// Tauri puts in the page's frame; the simulator's sandboxed frame cannot reach
// the page's (see desktop/src/window.rs).

const T = window.__TAURI_INTERNALS__;

/** Calls a Rust command. */
export const invoke = (cmd, args) => T.invoke(cmd, args);

/** Calls `fn(payload)` for every `event` the app emits (what `@tauri-apps/api/event`'s listen does). */
export function listen(event, fn) {
  const handler = T.transformCallback((e) => fn(e.payload));
  return invoke('plugin:event|listen', { event, target: { kind: 'Any' }, handler });
}

/**
 * Opens a channel, passes it to `cmd` as `arg`, and calls `fn` for every message,
 * in the order Rust sent them (what `@tauri-apps/api/core`'s Channel does: each
 * message carries its index; a last `{end, index}` says no more will come).
 */
export function subscribe(cmd, arg, fn) {
  const early = new Map();
  let next = 0;
  let end = null;
  const id = T.transformCallback((m) => {
    if ('end' in m) end = m.index;
    else early.set(m.index, m.message);
    while (early.has(next)) {
      const message = early.get(next);
      early.delete(next);
      next += 1;
      try {
        fn(message);
      } catch (e) {
        queueMicrotask(() => { throw e; });
      }
    }
    if (next === end) T.unregisterCallback(id);
  });
  return invoke(cmd, { [arg]: `__CHANNEL__:${id}` });
}

/** The words of an error from a command (or anything thrown). */
export const message = (e) => (e && e.message) || String(e);
