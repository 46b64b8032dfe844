"use strict";
(() => {
  const d = JSON.parse(document.getElementById("report-data").textContent);
  const fmt = Charts.fmtTime;
  const pct = (x) => (x === null || x === undefined ? "–" : `${Math.round(x * 100)} %`);
  const text = (tag, cls, t) => { const n = document.createElement(tag); if (cls) n.className = cls; n.textContent = t; return n; };
  const when = d.start_unix_s ? new Date(d.start_unix_s * 1000).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "–";
  const meta = document.getElementById("meta");
  for (const [label, value] of [["Patient", d.display_name], ["Patient id", d.patient_id], ["Session", d.session_id], ["Started", when]]) {
    const div = document.createElement("div");
    div.appendChild(text("span", null, label));
    div.appendChild(document.createTextNode(value || "–"));
    meta.appendChild(div);
  }
  const s = d.summary || {};
  const tiles = [
    ["Duration", s.duration_s === undefined ? "–" : fmt(s.duration_s)],
    ["Strokes", s.strokes_total ?? d.strokes.length],
    ["Toward the elbow", s.strokes_total ? pct(s.strokes_proximal / s.strokes_total) : "–"],
    ["Toward the fingertips", s.strokes_distal ?? "–"],
    ["Mean cadence", s.mean_cadence_spm === null || s.mean_cadence_spm === undefined ? "–" : `${s.mean_cadence_spm.toFixed(1)} /min`],
    ["Hand raised", pct(s.elevated_fraction)],
    ["Wrist neutral", s.wrist_neutral_fraction === null ? "not measured" : pct(s.wrist_neutral_fraction)],
    ["Pain / swelling", `${s.pain_0_10 ?? "–"} / ${s.swelling_0_10 ?? "–"}`],
  ];
  const box = document.getElementById("summary");
  for (const [label, value] of tiles) {
    const t = document.createElement("div");
    t.className = "tile";
    t.appendChild(text("div", "label", label));
    t.appendChild(text("div", "value", String(value)));
    box.appendChild(t);
  }
  if (!d.summary) box.appendChild(text("div", "notice info", "This session has no summary yet (still running or interrupted)."));
  Charts.session(document.getElementById("charts"), d, null, 720);  // fewer units wide: larger print
  const cues = document.getElementById("cues");
  if (!d.cues.length) cues.appendChild(text("p", "sub", "No cues."));
  else {
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    head.appendChild(text("th", "num", "At"));
    head.appendChild(text("th", null, "Cue"));
    const body = table.createTBody();
    for (const c of d.cues) {
      const row = body.insertRow();
      row.appendChild(text("td", "num", fmt(c.t)));
      row.appendChild(text("td", null, c.message));
    }
    cues.appendChild(table);
  }
  const generated = new Date((d.generated_unix_s || Date.now() / 1000) * 1000).toLocaleString();
  document.getElementById("footer").textContent = `Generated ${generated}${d.therapist ? " for " + d.therapist : ""} by the Retro Coach therapist monitor. Angles and stroke directions are sensor estimates.`;
  const p = encodeURIComponent(d.patient_id), sid = encodeURIComponent(d.session_id);
  document.getElementById("back").href = `/patient/${p}/session/${sid}`;
  document.getElementById("pdf").href = `/report/${p}/${sid}/export.pdf`;
  document.getElementById("png").href = `/report/${p}/${sid}/export.png`;
  document.getElementById("print").addEventListener("click", () => window.print());
  document.body.dataset.ready = "1";
})();
