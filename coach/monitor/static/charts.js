/* Small SVG charts for the monitor (no library, no build step): line charts with bands and
 * thresholds, a stroke timeline, and bars. Each function fills a container element and returns it. */
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }

  function niceTicks(lo, hi, count) {
    if (!(hi > lo)) { hi = lo + 1; }
    const raw = (hi - lo) / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
    const ticks = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) ticks.push(Math.round(v * 1e6) / 1e6);
    return ticks;
  }

  /** Ticks for a time axis in seconds: whole 10 s, 15 s, 30 s, minutes, 2, 5, 10, 15, 30, 60 minutes. */
  function timeTicks(lo, hi, count) {
    const raw = (hi - lo) / Math.max(1, count);
    const step = [10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600].find((s) => s >= raw) || Math.ceil(raw / 3600) * 3600;
    const ticks = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) ticks.push(v);
    return ticks;
  }

  /** Seconds as m:ss, rounded to the whole second first (59.6 s is "1:00", never "0:60"). */
  function fmtTime(s) {
    const total = Math.round(Math.abs(s)), m = Math.floor(total / 60), r = total % 60;
    return `${s < 0 && total ? "-" : ""}${m}:${String(r).padStart(2, "0")}`;
  }

  function frame(container, opts) {
    container.textContent = "";
    const W = opts.width || 900, H = opts.height || 220;
    const m = { l: 48, r: 14, t: 10, b: 28 };
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": opts.label || "chart" }, container);
    if (opts.label) el("title", {}, svg).textContent = opts.label;
    return { svg, W, H, m, iw: W - m.l - m.r, ih: H - m.t - m.b };
  }

  function axes(f, x0, x1, y0, y1, opts) {
    const sx = (x) => f.m.l + ((x - x0) / (x1 - x0 || 1)) * f.iw;
    const sy = (y) => f.m.t + f.ih - ((y - y0) / (y1 - y0 || 1)) * f.ih;
    const g = el("g", {}, f.svg);
    for (const t of niceTicks(y0, y1, 4)) {
      el("line", { x1: f.m.l, x2: f.m.l + f.iw, y1: sy(t), y2: sy(t), stroke: "#e4e7eb" }, g);
      const label = el("text", { x: f.m.l - 6, y: sy(t) + 4, "text-anchor": "end" }, g);
      label.textContent = (opts.yFormat || String)(t);
    }
    for (const t of (opts.xFormat ? niceTicks : timeTicks)(x0, x1, 8)) {
      el("line", { x1: sx(t), x2: sx(t), y1: f.m.t + f.ih, y2: f.m.t + f.ih + 4, stroke: "#9aa5b1" }, g);
      const label = el("text", { x: sx(t), y: f.m.t + f.ih + 17, "text-anchor": "middle" }, g);
      label.textContent = (opts.xFormat || fmtTime)(t);
    }
    el("line", { x1: f.m.l, x2: f.m.l + f.iw, y1: f.m.t + f.ih, y2: f.m.t + f.ih, stroke: "#9aa5b1" }, g);
    if (opts.yLabel) {
      const t = el("text", { x: 12, y: f.m.t + f.ih / 2, transform: `rotate(-90 12 ${f.m.t + f.ih / 2})`, "text-anchor": "middle" }, g);
      t.textContent = opts.yLabel;
    }
    return { sx, sy };
  }

  function extent(series, pick, fallback) {
    let lo = Infinity, hi = -Infinity;
    for (const s of series) for (const p of s.points) {
      const v = pick(p);
      if (v !== null && v !== undefined && Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }
    return Number.isFinite(lo) ? [lo, hi] : fallback;
  }

  /** Line chart. opts: series [{name, color, points [[x, y|null]], dash}], bands [{from, to, color}]
   *  (y ranges), shadeX [{from, to, color}] (x ranges), yMin, yMax, xMin, xMax, yLabel, label. */
  function line(container, opts) {
    const f = frame(container, opts);
    const series = opts.series || [];
    let [x0, x1] = extent(series, (p) => p[0], [0, 60]);
    if (opts.xMin !== undefined) x0 = opts.xMin;
    if (opts.xMax !== undefined) x1 = Math.max(opts.xMax, x0 + 1);
    if (x1 <= x0) x1 = x0 + 60;
    let [y0, y1] = extent(series, (p) => p[1], [0, 1]);
    for (const b of opts.bands || []) { y0 = Math.min(y0, b.from); y1 = Math.max(y1, b.to); }
    for (const hl of opts.hlines || []) { y0 = Math.min(y0, hl.y); y1 = Math.max(y1, hl.y); }
    if (opts.yMin !== undefined) y0 = Math.min(y0, opts.yMin);
    if (opts.yMax !== undefined) y1 = Math.max(y1, opts.yMax);
    const pad = (y1 - y0) * 0.08 || 1;
    y0 -= pad; y1 += pad;
    const { sx, sy } = axes(f, x0, x1, y0, y1, opts);
    for (const r of opts.shadeX || []) {
      el("rect", { x: sx(Math.max(r.from, x0)), y: f.m.t, width: Math.max(0, sx(Math.min(r.to, x1)) - sx(Math.max(r.from, x0))), height: f.ih, fill: r.color }, f.svg);
    }
    for (const b of opts.bands || []) {
      el("rect", { x: f.m.l, y: sy(b.to), width: f.iw, height: Math.max(0, sy(b.from) - sy(b.to)), fill: b.color }, f.svg);
    }
    for (const h of opts.hlines || []) {
      el("line", { x1: f.m.l, x2: f.m.l + f.iw, y1: sy(h.y), y2: sy(h.y), stroke: h.color, "stroke-dasharray": "5 4", "stroke-width": 1.5 }, f.svg);
    }
    for (const s of series) {
      let d = "", pen = false;
      for (const [x, y] of s.points) {
        if (y === null || y === undefined || !Number.isFinite(y)) { pen = false; continue; }
        d += `${pen ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`;
        pen = true;
      }
      const attrs = { d, fill: "none", stroke: s.color, "stroke-width": s.width || 2, "stroke-linejoin": "round" };
      if (s.dash) attrs["stroke-dasharray"] = s.dash;
      el("path", attrs, f.svg);
      if (s.dots) for (const [x, y] of s.points) if (Number.isFinite(y)) el("circle", { cx: sx(x), cy: sy(y), r: 3, fill: s.color }, f.svg);
    }
    return container;
  }

  /** Stroke timeline: one bar per stroke from t_start to t_end, coloured by direction.
   *  opts.rowLabels: {proximal, distal, unknown} names of the rows (default: those words). */
  function strokes(container, list, opts) {
    const f = frame(container, Object.assign({ height: 110 }, opts));
    const x0 = opts.xMin || 0;
    const x1 = Math.max(opts.xMax || 0, ...list.map((s) => s.t_end), x0 + 60);
    const { sx } = axes(f, x0, x1, 0, 1, Object.assign({}, opts, { yFormat: () => "" }));
    const colors = { proximal: "#1b6e3a", distal: "#c0392b", unknown: "#7b8794" };
    const rows = { proximal: 0.2, distal: 0.5, unknown: 0.8 };
    for (const [name, r] of Object.entries(rows)) {
      // In the left margin (the axis has no numbers here), so a label never covers a row's strokes.
      const t = el("text", { x: f.m.l - 5, y: f.m.t + r * f.ih + 3.5, "text-anchor": "end", style: "font-size: 9.5px" }, f.svg);
      t.textContent = (opts.rowLabels || {})[name] || name;
    }
    for (const s of list) {
      const y = f.m.t + rows[s.direction] * f.ih - 5;
      const r = el("rect", { x: sx(s.t_start), y, width: Math.max(2, sx(s.t_end) - sx(s.t_start)), height: 10, rx: 2, fill: colors[s.direction] || "#7b8794" }, f.svg);
      el("title", {}, r).textContent = `${s.direction} stroke ${fmtTime(s.t_start)}–${fmtTime(s.t_end)} (confidence ${(s.confidence ?? 0).toFixed(2)})`;
    }
    return container;
  }

  /** Bars: points [[label, value]] with an optional target line. */
  function bars(container, points, opts) {
    const f = frame(container, Object.assign({ height: 180 }, opts));
    const n = Math.max(points.length, 1);
    const yMax = Math.max(opts.target || 0, ...points.map((p) => p[1] || 0), 1);
    const { sy } = axes(f, 0, n, 0, yMax * 1.1, Object.assign({}, opts, { xFormat: () => "" }));
    const bw = f.iw / n;
    points.forEach(([label, v], i) => {
      const x = f.m.l + i * bw + bw * 0.15;
      el("rect", { x, y: sy(v || 0), width: bw * 0.7, height: Math.max(0, sy(0) - sy(v || 0)), fill: opts.color || "#1f4e9c", rx: 2 }, f.svg);
      const t = el("text", { x: x + bw * 0.35, y: f.m.t + f.ih + 17, "text-anchor": "middle" }, f.svg);
      t.textContent = label;
    });
    if (opts.target) {
      el("line", { x1: f.m.l, x2: f.m.l + f.iw, y1: sy(opts.target), y2: sy(opts.target), stroke: "#c0392b", "stroke-dasharray": "5 4", "stroke-width": 1.5 }, f.svg);
    }
    return container;
  }

  /** Runs of x where pred(point) holds, as [{from, to}] (for shading lowered-hand periods). */
  function runs(points, pred, step) {
    const out = [];
    let start = null, last = null;
    for (const p of points) {
      if (pred(p)) { if (start === null) start = p[0]; last = p[0]; }
      else if (start !== null) { out.push({ from: start, to: p[0] }); start = null; }
    }
    if (start !== null) out.push({ from: start, to: last + (step || 1) });
    return out;
  }

  function section(root, title, legend) {
    const box = document.createElement("div");
    box.className = "chart";
    const head = document.createElement("div");
    head.className = "row";
    const t = document.createElement("div");
    t.className = "title";
    t.textContent = title;
    head.appendChild(t);
    if (legend) {
      const lg = document.createElement("div");
      lg.className = "legend";
      for (const [name, color] of legend) {
        const item = document.createElement("span");
        const sw = document.createElement("i");
        sw.style.background = color;
        item.appendChild(sw);
        item.appendChild(document.createTextNode(name));
        lg.appendChild(item);
      }
      head.appendChild(lg);
    }
    box.appendChild(head);
    const plot = document.createElement("div");
    box.appendChild(plot);
    root.appendChild(box);
    return plot;
  }

  const SESSION_LABELS = {
    chart_elevation: "Forearm elevation (hand higher than elbow is positive)", chart_wrist: "Wrist angles (shaded: neutral band)",
    chart_cadence: "Cadence", chart_strokes: "Stroke timeline", legend_elevation: "elevation", legend_hand_low: "hand low",
    legend_needed: "elevation needed", legend_flexion: "flexion / extension", legend_deviation: "radial / ulnar deviation",
    legend_spm: "strokes per minute", legend_proximal: "proximal (toward elbow)", legend_distal: "distal (toward fingertips)",
    legend_unknown: "unknown", axis_degrees: "degrees", axis_spm: "strokes/min",
    row_proximal: "proximal", row_distal: "distal", row_unknown: "unknown",
  };

  /** The plots of one session (live page and report): elevation, wrist angles, cadence, strokes.
   *  opts: heights [elevation, wrist, cadence, strokes] in SVG units, labels (the report's texts). */
  function session(root, d, thresholds, width, opts) {
    root.textContent = "";
    const W = width || 900;
    const o = opts || {};
    const L = Object.assign({}, SESSION_LABELS, o.labels || {});
    const [hE, hW, hC, hS] = o.heights || [220, 220, 180, 110];
    const th = Object.assign({ wrist_flexion_deg: 15, wrist_deviation_deg: 10, elevation_deg: 11.1 }, thresholds || {});
    const col = (name) => d.posture_columns.indexOf(name);
    const pts = (name) => d.posture.map((r) => [r[0], r[col(name)]]);
    const tMax = Math.max(60, ...d.posture.map((r) => r[0]), ...d.strokes.map((s) => s.t), ...d.cadence.map((c) => c[0]));
    const low = runs(d.posture, (r) => r[col("elevated")] === false, 1).map((r) => Object.assign(r, { color: "rgba(192,57,43,0.12)" }));
    line(section(root, L.chart_elevation, [[L.legend_elevation, "#1f4e9c"], [L.legend_hand_low, "rgba(192,57,43,0.35)"], [L.legend_needed, "#c0392b"]]), {
      series: [{ name: "elevation", color: "#1f4e9c", points: pts("elevation_deg") }],
      shadeX: low, hlines: [{ y: th.elevation_deg, color: "#c0392b" }], xMin: 0, xMax: tMax, yLabel: L.axis_degrees, width: W, height: hE,
      label: L.chart_elevation, yFormat: (v) => `${v}°`,
    });
    line(section(root, L.chart_wrist, [[L.legend_flexion, "#7b3fa0"], [L.legend_deviation, "#d9822b"]]), {
      series: [
        { name: "flexion", color: "#7b3fa0", points: pts("wrist_flexion_deg") },
        { name: "deviation", color: "#d9822b", points: pts("wrist_deviation_deg") },
      ],
      bands: [{ from: -th.wrist_flexion_deg, to: th.wrist_flexion_deg, color: "rgba(47,158,87,0.10)" }],
      xMin: 0, xMax: tMax, yLabel: L.axis_degrees, label: L.chart_wrist, yFormat: (v) => `${v}°`, width: W, height: hW,
    });
    line(section(root, L.chart_cadence, [[L.legend_spm, "#0b7285"]]), {
      series: [{ name: "cadence", color: "#0b7285", points: d.cadence, dots: true }], xMin: 0, xMax: tMax, yMin: 0,
      yLabel: L.axis_spm, label: L.chart_cadence, height: hC, width: W,
    });
    strokes(section(root, L.chart_strokes, [[L.legend_proximal, "#1b6e3a"], [L.legend_distal, "#c0392b"], [L.legend_unknown, "#7b8794"]]), d.strokes, {
      xMin: 0, xMax: tMax, label: L.chart_strokes, width: W, height: hS,
      rowLabels: { proximal: L.row_proximal, distal: L.row_distal, unknown: L.row_unknown },
    });
  }

  return { line, strokes, bars, runs, fmtTime, section, session };
})();
