// The sequence diagram: four lifelines, one arrow per `transcript.steps`
// entry, and a player that reveals them one by one.

const SVG = "http://www.w3.org/2000/svg";
const ACTORS = ["browser", "burrow", "dns", "server"];
const NAMES = { browser: "Browser", burrow: "Burrow", dns: "DNS", server: "Server" };
const ROLES = { browser: "client", burrow: "this proxy", dns: "resolver", server: "destination" };

const WIDTH = 760;
const GUTTER = 70; // time column
const LANE = (WIDTH - GUTTER - 10) / ACTORS.length;
const HEAD = 58;
const ROW = 40;
const WAIT_ROW = 24;
const LONG_WAIT_MS = 1000;
const MAX_LABEL = 44;
const STEP_MS = 650;

const laneX = (actor) => GUTTER + LANE * (ACTORS.indexOf(actor) + 0.5);

/** "+18 ms", "10.02 s". */
export function formatMs(ms) {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 2)} s`;
}

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function shorten(label) {
  return label.length > MAX_LABEL ? label.slice(0, MAX_LABEL - 1) + "…" : label;
}

/** The CSS class for a step's core `StatusClass` (steps without a status have none). */
const CLASS_CSS = { success: "s2xx", refused: "s4xx", failed: "s5xx" };

export class Diagram {
  /**
   * @param {object} ui  host (element holding the SVG, focusable), note, counter,
   *                     play, prev, next buttons and list (an <ol> mirror for screen readers)
   */
  constructor(ui) {
    this.ui = ui;
    this.steps = [];
    this.current = -1;
    this.timer = null;
    ui.play.addEventListener("click", () => this.toggle());
    ui.prev.addEventListener("click", () => this.go(this.current - 1));
    ui.next.addEventListener("click", () => this.go(this.current + 1));
    ui.host.addEventListener("keydown", (e) => this.onKey(e));
    document.addEventListener("keydown", (e) => {
      const t = e.target;
      const typing = t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement ||
        t instanceof HTMLSelectElement || t === ui.host;
      if (!typing && (e.key === "ArrowLeft" || e.key === "ArrowRight")) this.onKey(e);
    });
  }

  /** Draws new steps; `animate` replays them from the first, otherwise all are shown. */
  show(steps, animate) {
    this.stop();
    this.steps = steps;
    this.draw();
    const reduced = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    if (animate && !reduced && steps.length > 1) {
      this.go(0);
      this.start();
    } else {
      this.go(steps.length - 1);
    }
  }

  onKey(e) {
    const moves = { ArrowLeft: -1, ArrowRight: 1 };
    if (e.key in moves) {
      this.stop();
      this.go(this.current + moves[e.key]);
    } else if (e.key === "Home") {
      this.stop();
      this.go(0);
    } else if (e.key === "End") {
      this.stop();
      this.go(this.steps.length - 1);
    } else if (e.key === " " || e.key === "Enter") {
      this.toggle();
    } else {
      return;
    }
    e.preventDefault();
  }

  toggle() {
    if (this.timer) {
      this.stop();
    } else {
      if (this.current >= this.steps.length - 1) this.go(0);
      this.start();
    }
  }

  start() {
    this.timer = setInterval(() => {
      if (this.current >= this.steps.length - 1) this.stop();
      else this.go(this.current + 1);
    }, STEP_MS);
    this.sync();
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.sync();
  }

  go(index) {
    if (!this.steps.length) {
      this.current = -1;
    } else {
      this.current = Math.max(0, Math.min(this.steps.length - 1, index));
    }
    this.sync();
  }

  /** Reflects `current` and the play state in the SVG, the note and the buttons. */
  sync() {
    const { host, note, counter, play, prev, next, list } = this.ui;
    host.querySelectorAll("[data-step]").forEach((g) => {
      const i = Number(g.dataset.step);
      g.classList.toggle("future", i > this.current);
      g.classList.toggle("current", i === this.current);
    });
    [...list.children].forEach((li, i) => {
      if (i === this.current) li.setAttribute("aria-current", "step");
      else li.removeAttribute("aria-current");
    });
    const n = this.steps.length;
    const step = this.steps[this.current];
    host.dataset.count = String(n);
    host.dataset.current = String(this.current);
    host.dataset.playing = this.timer ? "1" : "0";
    counter.textContent = n ? `Step ${this.current + 1} of ${n}` : "No steps";
    prev.disabled = this.current <= 0;
    next.disabled = this.current >= n - 1;
    play.textContent = this.timer ? "Pause" : "Play";
    play.setAttribute("aria-pressed", this.timer ? "true" : "false");
    play.disabled = n < 2;
    note.replaceChildren();
    if (step) {
      const head = document.createElement("strong");
      head.textContent = `${NAMES[step.from]} → ${NAMES[step.to]} · ${formatMs(step.at_ms)}: `;
      const label = document.createElement("code");
      label.textContent = step.label;
      const text = document.createElement("span");
      text.textContent = " " + step.note;
      note.append(head, label, text);
    }
  }

  draw() {
    const { host, list } = this.ui;
    const rows = [];
    let y = HEAD + 30;
    this.steps.forEach((step, i) => {
      const prev = this.steps[i - 1];
      const wait = prev && step.at_ms - prev.at_ms >= LONG_WAIT_MS ? step.at_ms - prev.at_ms : 0;
      if (wait) y += WAIT_ROW;
      rows.push({ step, y, wait });
      y += ROW;
    });
    const height = y + 4;
    const svg = el("svg", {
      viewBox: `0 0 ${WIDTH} ${height}`,
      width: WIDTH,
      height,
      role: "img",
      "aria-labelledby": "diagram-title",
    });
    svg.append(el("title", { id: "diagram-title" }, `Sequence diagram, ${this.steps.length} steps`));
    svg.append(markers());
    for (const actor of ACTORS) {
      const x = laneX(actor);
      svg.append(el("line", { class: "lifeline", x1: x, y1: HEAD - 6, x2: x, y2: height }));
      const g = el("g", { class: `actor actor-${actor}` });
      g.append(el("rect", { x: x - 62, y: 4, width: 124, height: HEAD - 12, rx: 8 }));
      g.append(el("text", { x, y: 25, class: "actor-name" }, NAMES[actor]));
      g.append(el("text", { x, y: 41, class: "actor-role" }, ROLES[actor]));
      svg.append(g);
    }
    svg.append(el("text", { x: GUTTER - 12, y: HEAD + 14, class: "time-head" }, "time"));
    rows.forEach(({ step, y, wait }, i) => svg.append(drawStep(step, y, wait, i, () => {
      this.stop();
      this.go(i);
    })));
    host.replaceChildren(svg);
    list.replaceChildren(...this.steps.map((s) => {
      const li = document.createElement("li");
      li.textContent = `${formatMs(s.at_ms)}, ${NAMES[s.from]} to ${NAMES[s.to]}: ${s.label}. ${s.note}`;
      return li;
    }));
  }
}

function markers() {
  const defs = el("defs");
  for (const kind of ["plain", "s2xx", "s4xx", "s5xx", "relay"]) {
    const m = el("marker", {
      id: `arrow-${kind}`, viewBox: "0 0 10 10", refX: 9, refY: 5,
      markerWidth: 9, markerHeight: 9, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse",
    });
    m.append(el("path", { d: "M0,0 L10,5 L0,10 z", class: `head head-${kind}` }));
    defs.append(m);
  }
  return defs;
}

function drawStep(step, y, wait, index, onPick) {
  const label = step.label;
  const relay = step.relayed;
  const css = step.status != null ? CLASS_CSS[step.class] : undefined;
  const g = el("g", {
    class: `step${relay ? " relay" : ""}${css ? ` status ${css}` : ""}`,
    "data-step": index,
    "data-label": label,
  });
  g.append(el("title", {}, `${label}\n${step.note}`));
  g.append(el("rect", { class: "hit", x: 0, y: y - ROW / 2 - 4, width: WIDTH, height: ROW }));
  g.addEventListener("click", onPick);
  if (wait) {
    const mid = y - ROW / 2 - WAIT_ROW / 2;
    g.append(el("rect", { class: "wait", x: GUTTER, y: mid - 9, width: WIDTH - GUTTER - 4, height: 18, rx: 9 }));
    g.append(el("text", { class: "wait-text", x: GUTTER + (WIDTH - GUTTER) / 2, y: mid + 4 },
      `${formatMs(wait)} pass with no answer`));
  }
  g.append(el("text", { class: "time", x: GUTTER - 12, y: y + 4 }, `+${formatMs(step.at_ms)}`));
  const kind = relay ? "relay" : css ?? "plain";
  const x1 = laneX(step.from);
  const x2 = laneX(step.to);
  if (step.from === step.to) {
    g.append(el("path", {
      class: "arrow self", d: `M${x1},${y - 8} h34 v16 h-30`,
      "marker-end": `url(#arrow-${kind})`,
    }));
    g.append(el("text", { class: "label", x: x1 + 42, y: y + 4 }, shorten(label)));
  } else {
    g.append(el("line", {
      class: "arrow", x1, y1: y, x2: x2 + (x2 > x1 ? -2 : 2), y2: y,
      "marker-end": `url(#arrow-${kind})`,
    }));
    const left = Math.min(x1, x2);
    const text = shorten(label);
    // Labels that would run off the right edge are anchored to the arrow's right end.
    const fits = left + 10 + text.length * 6.6 < WIDTH - 4;
    g.append(el("text", {
      class: "label",
      x: fits ? left + 10 : Math.max(x1, x2) - 10,
      y: y - 8,
      "text-anchor": fits ? "start" : "end",
    }, text));
  }
  return g;
}
