"use strict";
/* The session report. Every text comes from d.text (coach/monitor/report_text.py), so the report can be
 * translated in one place. Paper size and the per-page header (patient id, session date) are set here as
 * CSS @page rules; the PNG export reads data-height to size its screenshot. */
(() => {
  const d = JSON.parse(document.getElementById("report-data").textContent);
  const T = d.text;
  const fill = (tpl, values) => tpl.replace(/\{(\w+)\}/g, (_, k) => (values[k] === undefined ? "" : String(values[k])));
  const fmt = Charts.fmtTime;
  const pct = (x) => (x === null || x === undefined ? "–" : `${Math.round(x * 100)} %`);
  const text = (tag, cls, t) => { const n = document.createElement(tag); if (cls) n.className = cls; n.textContent = t; return n; };
  const start = d.start_unix_s ? new Date(d.start_unix_s * 1000) : null;
  const when = start ? start.toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "–";
  const day = start ? start.toLocaleDateString([], { dateStyle: "medium" }) : "–";

  // Paper and the header of every printed page.
  const cssString = (s) => `"${String(s).replace(/[\\"]/g, (c) => "\\" + c).replace(/[\n\r]/g, " ")}"`;
  const header = fill(T.page_header, { patient: d.patient_id, date: day });
  const sheet = document.styleSheets[0];
  try {
    sheet.insertRule(`@page { size: ${d.paper === "Letter" ? "letter" : "A4"}; margin: 14mm 12mm 12mm 12mm;`
      + ` @top-left { content: ${cssString(header)}; font-size: 9pt; color: #52606d; }`
      + ` @top-right { content: counter(page) " / " counter(pages); font-size: 9pt; color: #52606d; } }`, sheet.cssRules.length);
  } catch (e) { /* an old browser: the printout just lacks the page header */ }
  document.body.dataset.paper = d.paper;

  for (const [id, key] of [["back", "back"], ["print", "print"], ["pdf", "download_pdf"], ["png", "download_png"], ["report-title", "title"], ["over-time", "over_time"], ["cues-heading", "cues_heading"]]) {
    document.getElementById(id).textContent = T[key];
  }
  const meta = document.getElementById("meta");
  for (const [label, value] of [[T.patient, d.display_name], [T.patient_id, d.patient_id], [T.session, d.session_id], [T.started, when]]) {
    const div = document.createElement("div");
    div.appendChild(text("span", null, label));
    div.appendChild(document.createTextNode(value || "–"));
    meta.appendChild(div);
  }
  const s = d.summary || {};
  const tiles = [
    [T.duration, s.duration_s === undefined || s.duration_s === null ? "–" : fmt(s.duration_s)],
    [T.strokes, s.strokes_total ?? d.strokes.length],
    [T.toward_elbow, s.strokes_total ? pct(s.strokes_proximal / s.strokes_total) : "–"],
    [T.toward_fingertips, s.strokes_distal ?? "–"],
    [T.mean_cadence, s.mean_cadence_spm === null || s.mean_cadence_spm === undefined ? "–" : fill(T.per_min, { value: s.mean_cadence_spm.toFixed(1) })],
    [T.hand_raised, pct(s.elevated_fraction)],
    [T.wrist_neutral, s.wrist_neutral_fraction === null ? T.not_measured : pct(s.wrist_neutral_fraction)],
    [T.pain_swelling, `${s.pain_0_10 ?? "–"} / ${s.swelling_0_10 ?? "–"}`],
  ];
  const box = document.getElementById("summary");
  for (const [label, value] of tiles) {
    const t = document.createElement("div");
    t.className = "tile";
    t.appendChild(text("div", "label", label));
    t.appendChild(text("div", "value", String(value)));
    box.appendChild(t);
  }
  if (!d.summary) box.appendChild(text("div", "notice info", T.no_summary));

  const f = d.in_force;
  const targets = document.getElementById("targets");
  targets.appendChild(text("strong", null, `${T.targets_heading}: `));
  targets.appendChild(document.createTextNode(fill(T.targets_line, {
    duration: fmt(f.target_duration_s), min_spm: f.min_spm, max_spm: f.max_spm, elevation_deg: f.elevation_deg,
    flexion_deg: f.wrist_flexion_deg, deviation_deg: f.wrist_deviation_deg,
  }) + (f.defaults.length === 6 ? ` ${T.targets_default}` : "")));

  Charts.session(document.getElementById("charts"), d,
    { elevation_deg: f.elevation_deg, wrist_flexion_deg: f.wrist_flexion_deg, wrist_deviation_deg: f.wrist_deviation_deg },
    760, { heights: [132, 132, 104, 86], labels: T });

  // Cues, grouped: each message once, how often, and when (m:ss).
  const cues = document.getElementById("cues");
  if (!d.cues.length) cues.appendChild(text("p", "sub", T.no_cues));
  else {
    const groups = new Map();
    for (const c of d.cues) {
      const key = c.code || c.message;
      if (!groups.has(key)) groups.set(key, { message: c.message, times: [] });
      groups.get(key).times.push(c.t);
    }
    const table = document.createElement("table");
    table.className = "cues";
    const head = table.createTHead().insertRow();
    head.appendChild(text("th", null, T.cue));
    head.appendChild(text("th", "num", T.times));
    head.appendChild(text("th", null, T.at));
    const body = table.createTBody();
    const SHOWN = 14;
    for (const g of groups.values()) {
      const row = body.insertRow();
      row.appendChild(text("td", null, g.message));
      row.appendChild(text("td", "num", String(g.times.length)));
      const list = g.times.slice(0, SHOWN).map(fmt).join(", ");
      row.appendChild(text("td", "times", g.times.length > SHOWN ? `${list} ${fill(T.more, { n: g.times.length - SHOWN })}` : list));
    }
    cues.appendChild(table);
  }
  const generated = new Date((d.generated_unix_s || Date.now() / 1000) * 1000).toLocaleString();
  document.getElementById("footer").textContent = fill(T.footer, {
    when: generated, for_therapist: d.therapist ? fill(T.for_therapist, { therapist: d.therapist }) : "",
  });
  const p = encodeURIComponent(d.patient_id), sid = encodeURIComponent(d.session_id);
  const paper = new URLSearchParams(location.search).get("paper");
  const q = paper ? `?paper=${encodeURIComponent(paper)}` : "";
  document.getElementById("back").href = `/patient/${p}/session/${sid}`;
  document.getElementById("pdf").href = `/report/${p}/${sid}/export.pdf${q}`;
  document.getElementById("png").href = `/report/${p}/${sid}/export.png${q}`;
  document.getElementById("print").addEventListener("click", () => window.print());
  document.body.dataset.height = String(Math.ceil(document.documentElement.scrollHeight));
  document.body.dataset.ready = "1";
})();
