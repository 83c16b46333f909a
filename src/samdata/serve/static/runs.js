// samdata dashboard, run page: follow a live run through /runs/{id}/events (Server-Sent Events),
// append each reported loss to the SVG curve, keep the status and latest figures current.
// Points are SVGPoints appended to the polylines' point lists; text goes in with textContent only.
"use strict";

(() => {
  const live = document.getElementById("live");
  const svg = document.getElementById("loss-chart");
  if (!live || !svg || !live.dataset.events || typeof EventSource === "undefined") return;

  const box = {
    left: Number(svg.dataset.left), right: Number(svg.dataset.right),
    top: Number(svg.dataset.top), bottom: Number(svg.dataset.bottom),
  };
  const domain = {
    x0: Number(svg.dataset.xMin), x1: Number(svg.dataset.xMax),
    y0: Number(svg.dataset.yMin), y1: Number(svg.dataset.yMax),
    empty: svg.dataset.empty === "1",
  };
  const series = {};  // name → {line, values: [[step, loss], ...] by step}
  for (const line of svg.querySelectorAll("polyline[data-series]")) {
    let values = [];
    try { values = JSON.parse(line.dataset.values || "[]"); } catch (e) { values = []; }
    series[line.dataset.series] = { line, values };
  }

  const label = (v) => String(Number(v.toPrecision(4)));
  const px = (step) => box.left + (step - domain.x0) / (domain.x1 - domain.x0) * (box.right - box.left);
  const py = (loss) => box.bottom - (loss - domain.y0) / (domain.y1 - domain.y0) * (box.bottom - box.top);

  function point(step, loss) {
    const p = svg.createSVGPoint();
    p.x = Math.round(px(step) * 100) / 100;
    p.y = Math.round(py(loss) * 100) / 100;
    return p;
  }

  function redraw(s) {
    s.line.points.clear();
    for (const [step, loss] of s.values) s.line.points.appendItem(point(step, loss));
  }

  function setLabel(name, text) {
    const el = svg.querySelector(`[data-label="${name}"]`);
    if (el) el.textContent = text;
  }

  // The y range is exactly the losses' min and max (as the server draws it), widened for one value.
  function refit() {
    const losses = [];
    let last = 0;
    for (const s of Object.values(series)) {
      for (const [step, loss] of s.values) { losses.push(loss); last = Math.max(last, step); }
    }
    if (!losses.length) return false;
    let lo = Math.min(...losses), hi = Math.max(...losses);
    if (lo === hi) { const pad = Math.max(Math.abs(lo) * 0.05, 0.05); lo -= pad; hi += pad; }
    const x1 = Math.max(domain.x1, last);
    const changed = domain.empty || lo !== domain.y0 || hi !== domain.y1 || x1 !== domain.x1;
    Object.assign(domain, { y0: lo, y1: hi, x1, empty: false });
    setLabel("y-min", label(lo));
    setLabel("y-max", label(hi));
    setLabel("x-max", String(Math.round(x1)));
    return changed;
  }

  function add(name, step, loss) {
    const s = series[name];
    if (!s || typeof loss !== "number" || !Number.isFinite(loss)) return;
    const at = s.values.findIndex(([st]) => st >= step);
    let appended = false;
    if (at === -1) { s.values.push([step, loss]); appended = true; }
    else if (s.values[at][0] === step) s.values[at] = [step, loss];
    else s.values.splice(at, 0, [step, loss]);
    if (refit()) { for (const other of Object.values(series)) redraw(other); }
    else if (appended) s.line.points.appendItem(point(step, loss));
    else redraw(s);
  }

  function latest(key, text) {
    const el = live.querySelector(`[data-latest="${key}"]`);
    if (el) el.textContent = text;
  }

  const status = document.getElementById("run-status");
  function setStatus(value) {
    if (!status) return;
    status.textContent = value;
    status.className = `status-${value}`;
    status.dataset.status = value;
  }

  const note = document.getElementById("live-note");
  const source = new EventSource(live.dataset.events);
  source.addEventListener("metric", (event) => {
    const m = JSON.parse(event.data);
    if (status && status.dataset.status === "queued") setStatus("running");
    latest("step", String(m.step));
    if (m.train_loss !== null) { add("train", m.step, m.train_loss); latest("train_loss", label(m.train_loss)); }
    if (m.valid_loss !== null) { add("valid", m.step, m.valid_loss); latest("valid_loss", label(m.valid_loss)); }
    if (m.tokens_per_second !== null) latest("tokens_per_second", String(Math.round(m.tokens_per_second)));
  });
  source.addEventListener("done", (event) => {
    source.close();
    const run = JSON.parse(event.data);
    setStatus(run.status);
    if (note) note.textContent = run.vanished ? "(its process is gone without recording a result)" : "";
    const error = document.getElementById("run-error");
    if (error && run.error) { error.textContent = run.error; error.hidden = false; }
    const ended = document.getElementById("run-ended");
    if (ended && run.finished_at) ended.textContent = run.finished_at;
    const adapter = document.getElementById("run-adapter");
    if (adapter && run.adapter_path) {
      const code = document.createElement("code");
      code.textContent = run.adapter_path;
      adapter.replaceChildren(code);
    }
  });
  source.addEventListener("error", () => {
    // EventSource reconnects by itself (from the last step it saw); say so while it does.
    if (note) note.textContent = source.readyState === EventSource.CLOSED ? "(updates stopped: reload)" : "(reconnecting…)";
  });
  source.addEventListener("open", () => { if (note) note.textContent = "(live)"; });
})();
