// Small DOM helpers shared by the page's modules. Nothing here builds HTML
// from strings: elements come from <template>s in index.html or from
// document.createElement, and text goes in through textContent.

export const $ = (id) => document.getElementById(id);

/** A copy of the content of <template id="…">. */
export function clone(id) {
  return $(id).content.cloneNode(true);
}

/** A copy of the first element of <template id="…">. */
export function cloneElement(id) {
  return clone(id).firstElementChild;
}

/** An element with text: el('b', '12'). */
export function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text != null) e.textContent = String(text);
  if (className) e.className = className;
  return e;
}

/** A count for people: 12,345. */
export const num = (n) => Number(n).toLocaleString('en-US');

/** A short message at the bottom of the window. */
export function toast(text, ms = 3500) {
  const box = $('toast');
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, ms);
}

/** Copies text to the clipboard, with the old way as a fallback. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const ta = document.createElement('textarea');
    ta.value = text;
    document.body.append(ta);
    ta.select();
    document.execCommand('copy');
    ta.remove();
  }
}
