"use strict";
(async () => {
  const p = decodeURIComponent(location.pathname.split("/")[2]);
  const base = `/api/patients/${encodeURIComponent(p)}`;
  const h = App.h;
  await App.start("Patient");
  let data;
  try { data = await App.api(base); } catch (e) { App.showError(document.getElementById("error"), e); document.getElementById("title").textContent = "No access"; return; }

  document.getElementById("title").textContent = data.display_name;
  document.getElementById("pid").textContent = `id ${data.patient_id}`;
  document.title = `${data.display_name} · Therapist monitor`;

  let current = data.live;
  function renderLive(card) {
    current = card;
    const live = document.getElementById("live");
    live.textContent = "";
    live.appendChild(App.patientCard(card, false));
    if (card.session) {
      const s = encodeURIComponent(card.session.session_id);
      const running = App.RUNNING.includes(card.session.phase);
      live.querySelector(".card").appendChild(h("div", { class: "actions" }, h("a", { class: "btn", href: `/patient/${encodeURIComponent(p)}/session/${s}` }, running ? "Open live session" : "Open session")));
    }
  }
  renderLive(data.live);

  // Adherence calendar: columns are weeks, rows are weekdays.
  const cal = document.getElementById("calendar");
  const days = data.calendar;
  const weeks = [];
  const lead = days[0].weekday - 1;
  const cells = Array(lead).fill(null).concat(days);
  for (let i = 0; i < cells.length; i += 7) weeks.push(cells.slice(i, i + 7));
  while (weeks.length > 8) weeks.shift();
  cal.style.gridTemplateColumns = `3rem repeat(${weeks.length}, 1fr)`;
  const names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  const today = new Date().toISOString().slice(0, 10);
  cal.appendChild(h("div", { class: "hdr" }, ""));
  for (const w of weeks) { const first = w.find((d) => d); cal.appendChild(h("div", { class: "hdr" }, first ? first.date.slice(5) : "")); }
  for (let r = 0; r < 7; r++) {
    cal.appendChild(h("div", { class: "hdr" }, names[r]));
    for (const w of weeks) {
      const d = w[r];
      if (!d) { cal.appendChild(h("div", { class: "cell future" }, "")); continue; }
      const level = d.sessions === 0 ? 0 : d.sessions < d.prescribed ? 1 : d.sessions === d.prescribed ? 2 : 3;
      cal.appendChild(h("div", { class: `cell l${level}`, title: `${d.date}: ${d.sessions} of ${d.prescribed} sessions`, "data-date": d.date, role: "cell" }, d.sessions ? String(d.sessions) : ""));
    }
  }
  const legend = document.getElementById("calendar-legend");
  legend.append(h("span", {}, h("span", { class: "cell l0 dot" }), "none"), h("span", {}, h("span", { class: "cell l1 dot" }), "below dose"), h("span", {}, h("span", { class: "cell l2 dot" }), "at dose"), h("span", {}, h("span", { class: "cell l3 dot" }), "above dose"));
  document.getElementById("adherence-note").textContent = `Prescribed ${data.sessions_per_day} session(s) a day · last 7 days: dose reached on ${data.adherence_7d.days_at_dose} of 7 days`;

  // Weekly trends.
  const weeksData = data.weeks;
  const wx = weeksData.map((w, i) => i);
  const label = (i) => (weeksData[i] ? weeksData[i].week.slice(5) : "");
  if (weeksData.length) {
    Charts.line(Charts.section(document.getElementById("trend-quality"), "Quality per week", [["hand raised", "#1f4e9c"], ["wrist neutral", "#7b3fa0"], ["strokes toward elbow", "#1b6e3a"]]), {
      series: [
        { name: "elevated", color: "#1f4e9c", points: weeksData.map((w, i) => [i, w.elevated_fraction === null ? null : w.elevated_fraction * 100]), dots: true },
        { name: "neutral", color: "#7b3fa0", points: weeksData.map((w, i) => [i, w.wrist_neutral_fraction === null ? null : w.wrist_neutral_fraction * 100]), dots: true },
        { name: "proximal", color: "#1b6e3a", points: weeksData.map((w, i) => [i, w.proximal_fraction === null ? null : w.proximal_fraction * 100]), dots: true },
      ],
      yMin: 0, yMax: 100, xMin: -0.3, xMax: Math.max(wx.length - 0.7, 0.7), xFormat: (v) => (Number.isInteger(v) ? label(v) : ""), yFormat: (v) => `${v}%`, label: "Session quality per week", width: 560, height: 230,
    });
    Charts.bars(Charts.section(document.getElementById("trend-duration"), "Sessions and mean minutes per week", [["sessions", "#1f4e9c"], ["prescribed", "#c0392b"]]), weeksData.map((w) => [w.week.slice(5), w.sessions]), { target: weeksData[0].prescribed, label: "Sessions per week", width: 560, height: 230 });
    const mins = h("div", { class: "sub" }, "Mean session length: " + weeksData.map((w) => `${w.week.slice(5)} ${App.fmtDuration(w.mean_duration_s)}`).join(" · "));
    document.getElementById("trend-duration").appendChild(mins);
  } else {
    document.getElementById("trend-quality").appendChild(h("div", { class: "empty" }, "No finished sessions in the last 8 weeks."));
  }

  // Pain and swelling.
  const rep = document.getElementById("reports");
  if (data.self_reports.length) {
    // x in days since the first rating's local midnight; the axis shows calendar dates.
    const first = new Date(data.self_reports[0].unix_s * 1000);
    const t0 = new Date(first.getFullYear(), first.getMonth(), first.getDate()).getTime() / 1000;
    const dayLabel = (v) => new Date(first.getFullYear(), first.getMonth(), first.getDate() + Math.round(v)).toLocaleDateString([], { month: "short", day: "numeric" });
    Charts.line(Charts.section(rep, "Ratings after sessions", [["swelling", "#c0392b"], ["pain", "#d9822b"]]), {
      series: [
        { name: "swelling", color: "#c0392b", points: data.self_reports.map((r) => [(r.unix_s - t0) / 86400, r.swelling]), dots: true },
        { name: "pain", color: "#d9822b", points: data.self_reports.map((r) => [(r.unix_s - t0) / 86400, r.pain]), dots: true, dash: "6 4" },
      ],
      yMin: 0, yMax: 10, xFormat: (v) => (Math.abs(v - Math.round(v)) < 1e-6 ? dayLabel(v) : ""), label: "Pain and swelling ratings by date", height: 180,
    });
  } else rep.appendChild(h("div", { class: "empty" }, "No ratings yet."));

  // Sessions table.
  const sess = document.getElementById("sessions");
  if (!data.sessions.length) sess.appendChild(h("div", { class: "empty" }, "No sessions yet."));
  else sess.appendChild(h("table", { id: "sessions-table" },
    h("thead", {}, h("tr", {}, ["When", "Duration", "Strokes", "Toward elbow", "Hand raised", "Wrist neutral", "Cadence", ""].map((t, i) => h("th", { class: i > 0 && i < 7 ? "num" : null }, t)))),
    h("tbody", {}, data.sessions.map((x) => {
      const s = encodeURIComponent(x.session_id);
      return h("tr", { "data-session": x.session_id },
        h("td", {}, App.dateTime(x.start_unix_s), " ", x.end_state === "finished" ? "" : x.end_state === "aborted"
          ? h("span", { class: "badge aborted", title: x.end_reason || "" }, `aborted${x.end_reason ? ": " + x.end_reason : ""}`)
          : h("span", { class: "badge paused" }, "running or interrupted")),
        h("td", { class: "num" }, App.fmtDuration(x.duration_s)),
        h("td", { class: "num" }, x.strokes_total ?? "–"),
        h("td", { class: "num" }, App.pct(x.proximal_fraction)),
        h("td", { class: "num" }, App.pct(x.elevated_fraction)),
        h("td", { class: "num" }, App.pct(x.wrist_neutral_fraction)),
        h("td", { class: "num" }, App.num(x.mean_cadence_spm, 1)),
        h("td", {}, h("a", { href: `/patient/${encodeURIComponent(p)}/session/${s}` }, "View"), " · ", h("a", { href: `/report/${encodeURIComponent(p)}/${s}`, class: "report-link" }, "Report")));
    }))));

  // Targets and commands.
  const form = document.getElementById("targets-form");
  // The targets in force (sent, else the coach's defaults), in the charts' units: the elevation margin
  // (m above the heart) shown as the forearm angle, with the default body (forearm 0.26 m, elbow at heart).
  const f = data.targets_in_force;
  const FOREARM_M = 0.26;
  form.target_duration_min.value = Math.round(f.target_duration_s / 60 * 10) / 10;
  form.min_spm.value = f.min_spm; form.max_spm.value = f.max_spm;
  form.wrist_flexion_deg.value = f.wrist_flexion_deg;
  form.wrist_deviation_deg.value = f.wrist_deviation_deg;
  form.elevation_deg.value = f.elevation_deg;
  form.sessions_per_day.value = data.sessions_per_day;
  document.getElementById("targets-note").textContent = f.defaults.length === 6
    ? "No targets sent yet: the values shown are the coach's defaults, in force now."
    : f.defaults.length ? `Sent by ${data.targets.set_by}; coach defaults for the rest.`
    : (data.targets ? `Sent by ${data.targets.set_by} on ${App.dateTime(data.targets.set_unix_s)}.` : "");
  const message = document.getElementById("targets-message");
  function note(kind, text) { message.textContent = ""; message.appendChild(h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text)); }
  const numberOr = (v, f) => (v === "" ? null : f(Number(v)));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {
      target_duration_s: numberOr(form.target_duration_min.value, (v) => v * 60),
      min_spm: numberOr(form.min_spm.value, (v) => v), max_spm: numberOr(form.max_spm.value, (v) => v),
      wrist_flexion_deg: numberOr(form.wrist_flexion_deg.value, (v) => v), wrist_deviation_deg: numberOr(form.wrist_deviation_deg.value, (v) => v),
      elevation_margin_m: numberOr(form.elevation_deg.value, (v) => Math.round(FOREARM_M * Math.sin(v * Math.PI / 180) * 1000) / 1000),
      sessions_per_day: numberOr(form.sessions_per_day.value, (v) => v),
    };
    try {
      const res = await App.api(`${base}/targets`, { method: "POST", body });
      note("ok", `Targets sent (${res.commands.length} signed command(s)); waiting for the coach to confirm.`);
      refreshCommands();
    } catch (e) { note("error", e.message); }
  });
  for (const button of document.querySelectorAll("button[data-cmd]")) {
    button.addEventListener("click", async () => {
      const cmd = button.dataset.cmd;
      if (!confirm(`Send "${button.textContent}" to ${data.display_name}'s coach?`)) return;
      // Bound to the session shown in the live card (pause, resume, stop); a clearance without a
      // running session is for the next one.
      const running = current && current.session && App.RUNNING.includes(current.session.phase);
      const session = running ? current.session.session_id : (cmd === "clear_screening" ? "next" : null);
      if (!session) { note("error", "No session is running."); return; }
      try { await App.api(`${base}/commands`, { method: "POST", body: { cmd, args: {}, session } }); note("ok", "Command sent."); refreshCommands(); }
      catch (e) { note("error", e.message); }
    });
  }
  function renderCommands(list) {
    const box = document.getElementById("commands");
    box.textContent = "";
    if (!list.length) { box.appendChild(h("div", { class: "sub" }, "None yet.")); return; }
    box.appendChild(h("table", { id: "commands-table" }, h("thead", {}, h("tr", {}, ["Sent", "Command", "By", "Result"].map((t) => h("th", {}, t)))),
      h("tbody", {}, list.map((c) => h("tr", { "data-cmd-id": c.cmd_id },
        h("td", {}, App.dateTime(c.published_unix_s)),
        h("td", {}, `${c.cmd} ${Object.keys(c.args).length ? JSON.stringify(c.args) : ""}`, h("div", { class: "sub" }, `${c.session_id === "next" ? "next session" : c.session_id ? "session " + c.session_id : ""}${c.expires_at ? " · valid until " + App.dateTime(Date.parse(c.expires_at) / 1000) : ""}`)),
        h("td", {}, c.by_user),
        h("td", { class: "result" }, c.ok === null ? h("span", { class: "muted" }, "waiting for the coach…") : c.ok ? h("span", { class: "good" }, "applied") : h("span", { class: "bad" }, `refused: ${c.reason || "no reason given"}`)))))));
  }
  async function refreshCommands() {
    try { renderCommands((await App.api(`${base}/commands`)).commands); } catch (e) { /* shown on the next refresh */ }
  }
  renderCommands(data.commands);
  setInterval(refreshCommands, 3000);
  App.stream("/api/stream/overview", "overview", (ov) => { App.banner(ov.monitor); const card = ov.patients.find((c) => c.patient_id === p); if (card) renderLive(card); else location.reload(); });
})();
