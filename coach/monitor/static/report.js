"use strict";
/* The session report. Every text comes from the server in the clinic's language: the fixed labels as
 * d.text (coach/monitor/report_text.py), the figures, dates, targets, header, footer and cues worded and
 * formatted as d.view (coach/monitor/report_view.py, Babel). Paper size and the per-page header (patient
 * id, session date) are set here as CSS @page rules; the PNG export reads data-height to size its
 * screenshot. */
(() => {
  const d = JSON.parse(document.getElementById("report-data").textContent);
  const T = d.text, V = d.view;
  const fill = (tpl, values) => tpl.replace(/\{(\w+)\}/g, (_, k) => (values[k] === undefined ? "" : String(values[k])));
  const fmt = Charts.fmtTime;
  const text = (tag, cls, t) => { const n = document.createElement(tag); if (cls) n.className = cls; n.textContent = t; return n; };

  // Paper and the header of every printed page.
  const cssString = (s) => `"${String(s).replace(/[\\"]/g, (c) => "\\" + c).replace(/[\n\r]/g, " ")}"`;
  const header = V.header;
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
  for (const [label, value] of V.meta) {
    const div = document.createElement("div");
    div.appendChild(text("span", null, label));
    div.appendChild(document.createTextNode(value));
    meta.appendChild(div);
  }
  const box = document.getElementById("summary");
  for (const [label, value] of V.tiles) {
    const t = document.createElement("div");
    t.className = "tile";
    t.appendChild(text("div", "label", label));
    t.appendChild(text("div", "value", value));
    box.appendChild(t);
  }
  if (!d.summary) box.appendChild(text("div", "notice info", T.no_summary));

  const f = d.in_force;
  const targets = document.getElementById("targets");
  targets.appendChild(text("strong", null, `${T.targets_heading}: `));
  targets.appendChild(document.createTextNode(V.targets));

  Charts.session(document.getElementById("charts"), d,
    { elevation_deg: f.elevation_deg, wrist_flexion_deg: f.wrist_flexion_deg, wrist_deviation_deg: f.wrist_deviation_deg },
    760, { heights: d.paper === "Letter" ? [116, 116, 96, 84] : [132, 132, 104, 86], labels: T });  // Letter is 18 mm shorter

  // Cues, grouped: each message once, how often, and when (m:ss).
  const cues = document.getElementById("cues");
  if (!V.cues.length) cues.appendChild(text("p", "sub", T.no_cues));
  else {
    const groups = new Map();
    for (const c of V.cues) {
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
  document.getElementById("footer").textContent = V.footer;
  const p = encodeURIComponent(d.patient_id), sid = encodeURIComponent(d.session_id);
  // The exports keep the page's own choices (?paper=, ?lang=).
  const asked = new URLSearchParams(location.search), keep = new URLSearchParams();
  for (const name of ["paper", "lang"]) if (asked.get(name)) keep.set(name, asked.get(name));
  const q = keep.toString() ? `?${keep}` : "";
  document.getElementById("back").href = `/patient/${p}/session/${sid}`;
  document.getElementById("pdf").href = `/report/${p}/${sid}/export.pdf${q}`;
  document.getElementById("png").href = `/report/${p}/${sid}/export.png${q}`;
  document.getElementById("print").addEventListener("click", () => window.print());
  document.body.dataset.height = String(Math.ceil(document.documentElement.scrollHeight));
  document.body.dataset.ready = "1";
})();
