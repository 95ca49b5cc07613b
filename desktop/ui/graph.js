// The throughput graph: five minutes of bytes per second, drawn from the raw
// byte counts of each batch. The rate beside it is Rust's text.

import { $ } from './dom.js';

const SECONDS = 300; // the graph spans five minutes
const samples = new Map(); // Unix second -> [up, down]
let drawnEmpty = false;

/** Adds a batch's bytes to the current second. */
export function addSample(up, down) {
  if (up + down === 0) return;
  const second = Math.floor(Date.now() / 1000);
  const cur = samples.get(second) || [0, 0];
  samples.set(second, [cur[0] + up, cur[1] + down]);
}

/** Shows the throughput Rust computed (`Batch.rate`). */
export function setRate(rate) {
  $('rate').textContent = `↑ ${rate.up}  ↓ ${rate.down}`;
}

/** Redraws the graph; an idle graph that is already empty is left alone. */
export function drawGraph() {
  const canvas = $('graph');
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  const now = Math.floor(Date.now() / 1000);
  for (const s of samples.keys()) if (s <= now - SECONDS) samples.delete(s);
  const resized = canvas.width !== w * dpr;
  if (samples.size === 0 && drawnEmpty && !resized) return;
  drawnEmpty = samples.size === 0;
  if (resized) {
    canvas.width = w * dpr;
    canvas.height = h * dpr;
  }
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const ups = [];
  const downs = [];
  let max = 1;
  for (let i = SECONDS - 1; i >= 0; i--) {
    const [u, d] = samples.get(now - i) || [0, 0];
    ups.push(u);
    downs.push(d);
    max = Math.max(max, u, d);
  }
  const css = getComputedStyle(document.documentElement);
  g.strokeStyle = css.getPropertyValue('--line').trim();
  g.lineWidth = 1;
  g.beginPath();
  g.moveTo(0, h - 1.5);
  g.lineTo(w, h - 1.5);
  for (let m = 1; m < SECONDS / 60; m++) { // a tick a minute
    const x = Math.round(((m * 60) / SECONDS) * w) + 0.5;
    g.moveTo(x, h - 5);
    g.lineTo(x, h - 1.5);
  }
  g.stroke();
  const series = (data, color, fill) => {
    g.beginPath();
    data.forEach((v, i) => {
      const x = (i / (SECONDS - 1)) * w;
      const y = h - 2 - (v / max) * (h - 6);
      if (i === 0) g.moveTo(x, y);
      else g.lineTo(x, y);
    });
    g.strokeStyle = color;
    g.lineWidth = 1.2;
    g.stroke();
    if (fill) {
      g.lineTo(w, h);
      g.lineTo(0, h);
      g.closePath();
      g.globalAlpha = 0.18;
      g.fillStyle = color;
      g.fill();
      g.globalAlpha = 1;
    }
  };
  series(downs, css.getPropertyValue('--down').trim(), true);
  series(ups, css.getPropertyValue('--up').trim(), false);
}
