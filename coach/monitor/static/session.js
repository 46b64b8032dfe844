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

  function render(detail, live) {
    document.getElementById("back").textContent = `← ${detail.display_name || p}`;
    document.getElementById("title").textContent = `${detail.display_name || p} · session ${s}`;
    const session = live.session && live.session.session_id === s ? live.session : null;
    const alerts = document.getElementById("alerts");
    alerts.textContent = "";
    if (session) { const list = App.alertsList(session.alerts); if (list) alerts.appendChild(list); }
    tiles.textContent = "";
    const state = session ? session.state : (detail.summary ? "finished" : null);
    tiles.append(
      tile("State", App.stateBadge(live.status && live.status.state === "offline" && session && session.state !== "finished" ? "offline" : state), "state"),
      tile("Hand", App.postureText(session && session.posture), "hand"),
      tile("Wrist", App.wristText(session && session.posture), "wrist"),
      tile("Cadence", session && session.cadence_spm !== null ? `${App.num(session.cadence_spm)} /min` : "–", "cadence"),
      tile("Strokes", App.tallyText(session ? session.tally : null), "tally"),
      tile("Time left", session && session.time_left_s !== null ? App.fmtDuration(session.time_left_s) : "–", "time-left"),
      tile("Sensors", App.sensorsView(session ? live.status : null, true), "sensors"));
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
    if (data.detail) render(data.detail, data.live);
    liveState.textContent = "";
    liveState.append(h("span", { class: "live-dot" }), `live · ${new Date().toLocaleTimeString()}`);
  }, (ok) => { if (!ok) { liveState.textContent = ""; liveState.append(h("span", { class: "live-dot stale" }), "reconnecting…"); } });
})();
