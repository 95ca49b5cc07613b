// The page's only way to the Rust side: commands, events and the log channel.
// Errors from commands arrive as {code, message, field?}.

const T = window.__TAURI__;

/** Calls a Rust command. */
export const invoke = (cmd, args) => T.core.invoke(cmd, args);

/** Calls `fn(payload)` for every `event` the app emits. */
export const listen = (event, fn) => T.event.listen(event, (e) => fn(e.payload));

/** Opens a channel, passes it to `cmd` as `arg`, and calls `fn` for every message. */
export function subscribe(cmd, arg, fn) {
  const channel = new T.core.Channel();
  channel.onmessage = fn;
  return invoke(cmd, { [arg]: channel });
}

/** The words of an error from a command (or anything thrown). */
export const message = (e) => (e && e.message) || String(e);
