"use strict";
(async () => {
  const parts = location.pathname.split("/").map(decodeURIComponent); // /patient/<p>/session/<s>
  const p = parts[2], s = parts[4];
  const h = App.h;
  await App.start("Session");
  document.getElementById("back").href = `/patient/${encodeURIComponent(p)}`;
  document.getElementById("report-link").href = `/report/${encodeURIComponent(p)}/${encodeURIComponent(s)}`;
  const tiles = document.getElementById("tiles");
  const liveState = document.getElementById("live-state");

  function tile(label, value, field) {
    return h("div", { class: "tile", "data-field": field }, h("div", { class: "label" }, label), h("div", { class: "value" }, value));
  }

  function tallyOf(detail) {
    const t = { proximal: 0, distal: 0, unknown: 0 };
    for (const st of detail.strokes) t[st.direction] = (t[st.direction] || 0) + 1;
    return t;
  }

  function render(detail, live, monitor) {
    if (monitor) App.banner(monitor);
    document.getElementById("back").textContent = `← ${detail.display_name || p}`;
    document.getElementById("title").textContent = `${detail.display_name || p} · session ${s}`;
    // The live card speaks for this session only while it is the patient's current one; an older
    // session is over: its own end state (or "interrupted" when it never sent one).
    const current = live.session && live.session.session_id === s ? live.session : null;
    const phase = current ? current.phase : detail.end_state || "interrupted";
    const running = App.RUNNING.includes(phase);
    const alerts = document.getElementById("alerts");
    alerts.textContent = "";
    if (current) { const list = App.alertsList(current.alerts); if (list) alerts.appendChild(list); }
    const note = App.phaseNote(current || { phase, state_reason: detail.end_reason });
    if (note) alerts.appendChild(note);
    document.getElementById("started").textContent = `Started ${App.dateTime(detail.start_unix_s)}`;
    tiles.textContent = "";
    tiles.setAttribute("data-phase", phase);
    const posture = running ? current.posture : null;
    tiles.append(
      tile("State", App.stateBadge(phase === "interrupted" ? "unknown" : phase), "state"),
      tile("Hand", running ? App.postureText(posture) : "–", "hand"),
      tile("Wrist", running ? App.wristText(posture) : "–", "wrist"),
      tile("Cadence", running && current.cadence_spm !== null ? `${App.num(current.cadence_spm)} /min` : "–", "cadence"),
      tile("Strokes", App.tallyText(current ? current.tally : tallyOf(detail)), "tally"),
      tile("Time left", running && current.time_left_s !== null ? App.fmtDuration(current.time_left_s) : "–", "time-left"),
      tile("Sensors", running ? App.sensorsView(live.status, true) : "–", "sensors"));
    if (posture && posture.t !== null) tiles.appendChild(h("div", { class: "sub", "data-field": "as-of" }, `Posture as of ${App.fmtDuration(posture.t)} into the session.`));
    Charts.session(document.getElementById("charts"), detail);
    const cues = document.getElementById("cues");
    cues.textContent = "";
    if (!detail.cues.length) cues.appendChild(h("div", { class: "empty" }, "No cues so far."));
    else cues.appendChild(h("table", {}, h("thead", {}, h("tr", {}, h("th", { class: "num" }, "At"), h("th", {}, "Cue"))),
      h("tbody", {}, detail.cues.slice(-12).reverse().map((c) => h("tr", {}, h("td", { class: "num" }, App.fmtDuration(c.t)), h("td", {}, c.message))))));
    const summary = document.getElementById("summary");
    summary.textContent = "";
    const sm = detail.summary;
    if (!sm) summary.appendChild(h("div", { class: "empty" }, "The summary comes when the session ends."));
    else summary.appendChild(h("dl", { class: "kv card", id: "summary-values" },
      h("dt", {}, "Duration"), h("dd", {}, App.fmtDuration(sm.duration_s)),
      h("dt", {}, "Strokes"), h("dd", {}, `${sm.strokes_total} (${sm.strokes_proximal} proximal, ${sm.strokes_distal} distal, ${sm.strokes_unknown} unknown)`),
      h("dt", {}, "Cadence"), h("dd", {}, sm.mean_cadence_spm === null ? "–" : `${App.num(sm.mean_cadence_spm, 1)} strokes/min`),
      h("dt", {}, "Hand raised"), h("dd", {}, App.pct(sm.elevated_fraction)),
      h("dt", {}, "Wrist neutral"), h("dd", {}, sm.wrist_neutral_fraction === null ? "not measured" : App.pct(sm.wrist_neutral_fraction)),
      h("dt", {}, "Pain / swelling"), h("dd", {}, `${sm.pain_0_10 ?? "–"} / ${sm.swelling_0_10 ?? "–"} (0–10)`)));
  }

  try {
    const [detail, patient] = await Promise.all([
      App.api(`/api/patients/${encodeURIComponent(p)}/sessions/${encodeURIComponent(s)}`),
      App.api(`/api/patients/${encodeURIComponent(p)}`),
    ]);
    render(detail, patient.live);
  } catch (e) { App.showError(document.getElementById("error"), e); return; }
  App.stream(`/api/stream/patients/${encodeURIComponent(p)}/sessions/${encodeURIComponent(s)}`, "session", (data) => {
    if (data.detail) render(data.detail, data.live, data.monitor);
    liveState.textContent = "";
    const ok = !data.monitor || data.monitor.connected !== false;
    liveState.append(h("span", { class: ok ? "live-dot" : "live-dot stale" }), ok ? `live · ${new Date().toLocaleTimeString()}` : "not live");
  }, (ok) => { if (!ok) { liveState.textContent = ""; liveState.append(h("span", { class: "live-dot stale" }), "reconnecting…"); } });
})();
