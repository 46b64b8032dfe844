/* Shared page code: the API client (session cookie + CSRF header), the header bar, formatting,
 * and the live patient card used by the overview and the patient page. */
"use strict";

const App = (() => {
  let me = null;

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return node;
  }

  async function api(path, options) {
    const opts = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    if (opts.body !== undefined && typeof opts.body !== "string") {
      opts.body = JSON.stringify(opts.body);
      opts.headers["Content-Type"] = "application/json";
    }
    if (opts.method && opts.method !== "GET" && me) opts.headers["X-CSRF-Token"] = me.csrf_token;
    const res = await fetch(path, opts);
    if (res.status === 401 && !path.startsWith("/api/login")) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname);
      throw new Error("not logged in");
    }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      const err = new Error((data && data.error) || `HTTP ${res.status}`);
      err.status = res.status;
      throw err;
    }
    return data;
  }

  async function start(title) {
    me = await api("/api/me");
    banner(me.monitor);
    const header = h("header", { class: "top" },
      h("a", { class: "brand", href: "/" }, "Retro Coach ", h("span", {}, "· Therapist monitor")),
      h("nav", { "aria-label": "main" }, h("a", { href: "/" }, "Patients"), h("a", { href: "/clinic/rtm" }, "Remote monitoring"), me.is_admin ? h("a", { href: "/clinic/audit" }, "Audit log") : null),
      h("span", { class: "who" }, `Signed in as ${me.display_name}`),
      h("button", { type: "button", id: "logout", onclick: logout }, "Log out"));
    document.body.prepend(header);
    if (title) document.title = `${title} · Therapist monitor`;
    return me;
  }

  async function logout() {
    try { await api("/api/logout", { method: "POST" }); } finally { location.href = "/login"; }
  }

  function fmtDuration(s) {
    if (s === null || s === undefined) return "–";
    const total = Math.round(s), m = Math.floor(total / 60), r = total % 60;  // never "0:60"
    return `${m}:${String(r).padStart(2, "0")}`;
  }
  function pct(x) { return x === null || x === undefined ? "–" : `${Math.round(x * 100)} %`; }
  function num(x, digits) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits ?? 0); }
  function dateTime(unix) {
    if (!unix) return "–";
    return new Date(unix * 1000).toLocaleString([], { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function stateBadge(state) {
    const s = state || "none";
    const labels = { none: "no session", idle: "idle", offline: "offline", lost_contact: "lost contact", unknown: "unknown" };
    return h("span", { class: `badge ${s}` }, labels[s] || s);
  }

  function clock(unix) { return unix ? new Date(unix * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "–"; }

  /** The banner at the top of every page while this monitor's link to the broker is down (or when it
   * serves the dashboard only): nothing on the page is live then, and it says so. */
  function banner(info) {
    let box = document.getElementById("link-banner");
    if (!box) {
      box = h("div", { id: "link-banner", role: "status" });
      const main = document.querySelector("main");
      if (main) main.prepend(box); else document.body.prepend(box);
    }
    box.textContent = "";
    box.className = "";
    if (!info) return;
    if (info.ingest === false) {
      box.className = "notice info";
      box.append("This dashboard does not receive live data itself (another monitor instance stores it).");
    } else if (!info.connected) {
      box.className = "notice error link-down";
      box.setAttribute("role", "alert");
      box.append(h("strong", {}, "No connection to the broker "), h("code", {}, info.broker || "?"),
        h("strong", {}, ` since ${clock(info.since_unix_s)}.`),
        " Live values below are not current; running sessions show “lost contact”.",
        info.error ? h("span", { class: "sub" }, ` (${info.error})`) : null);
    }
    const foot = document.getElementById("broker-line") || h("div", { id: "broker-line", class: "sub" });
    foot.textContent = info.broker ? `Broker: ${info.broker} · ${info.connected ? "connected" : "not connected"}` : "";
    if (!foot.parentNode) (document.querySelector("main") || document.body).appendChild(foot);
  }

  /** Why a session shows no live values (finished, aborted, lost contact), or null while it runs. */
  function phaseNote(live) {
    if (!live) return null;
    if (live.phase === "lost_contact") {
      return h("div", { class: "notice error", "data-field": "phase-note" }, `Last heard from the coach at ${clock(live.last_heard_unix_s)}; live values are cleared until it is back.`);
    }
    if (live.phase === "aborted") return h("div", { class: "notice error", "data-field": "phase-note" }, `Aborted: ${live.state_reason || "no reason given"}.`);
    if (live.phase === "finished") return h("div", { class: "notice ok", "data-field": "phase-note" }, "Finished.");
    return null;
  }

  function summaryList(sm, phase) {
    if (!sm) return h("div", { class: "sub" }, phase === "aborted" ? "No summary: the session ended before it began." : "No summary yet.");
    return h("dl", { class: "kv", "data-field": "summary" },
      h("dt", {}, "Duration"), h("dd", {}, fmtDuration(sm.duration_s)),
      h("dt", {}, "Strokes"), h("dd", {}, sm.strokes_total === null ? "–" : `${sm.strokes_total} (${sm.strokes_proximal ?? "–"} toward the elbow, ${sm.strokes_distal ?? "–"} toward the fingertips)`),
      h("dt", {}, "Hand raised"), h("dd", {}, pct(sm.elevated_fraction)),
      h("dt", {}, "Wrist neutral"), h("dd", {}, sm.wrist_neutral_fraction === null ? "not measured" : pct(sm.wrist_neutral_fraction)),
      h("dt", {}, "Pain / swelling"), h("dd", {}, `${sm.pain_0_10 ?? "–"} / ${sm.swelling_0_10 ?? "–"} (0–10)`));
  }

  function postureText(posture) {
    if (!posture || posture.elevated === null || posture.elevated === undefined) return h("span", { class: "muted" }, "not yet measured");
    const deg = posture.elevation_deg === null ? "" : ` (${num(posture.elevation_deg)}°)`;
    return posture.elevated ? h("span", { class: "good" }, `raised${deg}`) : h("span", { class: "bad" }, `low${deg}`);
  }

  function wristText(posture) {
    if (!posture || posture.wrist_neutral === null || posture.wrist_neutral === undefined) return h("span", { class: "muted" }, "not measured");
    const angles = `flex ${num(posture.wrist_flexion_deg)}°, dev ${num(posture.wrist_deviation_deg)}°`;
    return posture.wrist_neutral ? h("span", { class: "good" }, `neutral (${angles})`) : h("span", { class: "bad" }, `bent (${angles})`);
  }

  function tallyText(tally) {
    if (!tally) return "–";
    return h("span", { class: "tally" },
      h("span", { class: "p", title: "toward the elbow (correct)" }, `↑ ${tally.proximal} proximal`), " · ",
      h("span", { class: "d", title: "toward the fingertips (wrong)" }, `↓ ${tally.distal} distal`), " · ",
      h("span", { class: "u", title: "direction unclear" }, `? ${tally.unknown}`));
  }

  function sensorsView(status, stack) {
    const sensors = (status && status.sensors) || {};
    const names = Object.keys(sensors).sort();
    if (!names.length) return h("span", { class: "muted" }, "no sensor report");
    return h("span", { class: stack ? "sensors stack" : "sensors" }, names.map((role) => {
      const s = sensors[role];
      const batt = s.battery_pct === null || s.battery_pct === undefined ? "" : ` ${Math.round(s.battery_pct)} %`;
      return h("span", { title: `${role}: link ${s.link}` }, h("span", { class: `dot ${s.link}` }), `${role} ${s.link}${batt}`);
    }));
  }

  function alertsList(alerts) {
    if (!alerts || !alerts.length) return null;
    return h("ul", { class: "alerts", "aria-label": "alerts" }, alerts.map((a) => h("li", { class: a.level, "data-code": a.code }, a.message)));
  }

  const RUNNING = ["screening", "calibrating", "active", "paused"];

  /** The live card of one patient (overview and patient page). Running sessions show the latest
   * event of each kind; finished and aborted ones their summary; lost contact says so, no values. */
  function patientCard(card, withLinks) {
    const live = card.session;
    const status = card.status;
    const phase = live ? live.phase : (status && status.state === "offline" ? "offline" : "none");
    const running = live && RUNNING.includes(live.phase);
    const p = encodeURIComponent(card.patient_id);
    const title = withLinks ? h("a", { href: `/patient/${p}` }, card.display_name) : card.display_name;
    const started = live && live.start_unix_s ? ` · started ${dateTime(live.start_unix_s)}` : "";
    const body = h("div", { class: "card", "data-patient": card.patient_id, "data-phase": phase },
      h("div", { class: "row" }, h("h3", {}, title), h("span", { class: "spacer" }), stateBadge(phase)),
      h("div", { class: "pid" }, `id ${card.patient_id}${live ? " · session " + live.session_id : ""}${started}`),
      alertsList(card.alerts), phaseNote(live));
    if (running || !live || phase === "lost_contact") {
      const posture = running ? live.posture : null;
      const asOf = posture && posture.t !== null ? ` at ${fmtDuration(posture.t)}` : "";
      body.appendChild(h("dl", { class: "kv" },
        h("dt", {}, "Hand"), h("dd", { "data-field": "hand", title: `latest posture event${asOf}` }, running ? postureText(posture) : "–"),
        h("dt", {}, "Wrist"), h("dd", { "data-field": "wrist" }, running ? wristText(posture) : "–"),
        h("dt", {}, "Cadence"), h("dd", { "data-field": "cadence" }, running && live.cadence_spm !== null ? `${num(live.cadence_spm)} strokes/min` : "–"),
        h("dt", {}, "Strokes"), h("dd", { "data-field": "tally" }, tallyText(live && live.tally)),
        h("dt", {}, "Time left"), h("dd", { "data-field": "time-left" }, running && live.time_left_s !== null ? fmtDuration(live.time_left_s) : "–"),
        h("dt", {}, "Sensors"), h("dd", { "data-field": "sensors" }, running ? sensorsView(status, true) : "–")));
    } else {
      body.appendChild(summaryList(live.summary, live.phase));
    }
    if (withLinks) {
      const actions = h("div", { class: "actions" }, h("a", { class: "btn secondary", href: `/patient/${p}` }, "History"));
      if (live) actions.prepend(h("a", { class: "btn", href: `/patient/${p}/session/${encodeURIComponent(live.session_id)}` }, running ? "Watch live" : "Open session"));
      body.appendChild(actions);
    }
    return body;
  }

  function stream(url, eventName, onData, onState) {
    let source = null;
    function open() {
      source = new EventSource(url);
      source.addEventListener(eventName, (ev) => { onState && onState(true); onData(JSON.parse(ev.data)); });
      source.addEventListener("logout", () => { location.href = "/login"; });
      source.addEventListener("forbidden", () => { source.close(); location.reload(); });
      source.onerror = () => { onState && onState(false); };
    }
    open();
    return () => source && source.close();
  }

  function showError(where, err) {
    where.textContent = "";
    where.appendChild(h("div", { class: "notice error", role: "alert" }, err.status === 403 ? "You do not have access to this patient." : `Could not load: ${err.message}`));
  }

  return { h, api, start, banner, clock, fmtDuration, pct, num, dateTime, stateBadge, phaseNote, summaryList, postureText, wristText, tallyText, sensorsView, alertsList, patientCard, stream, showError, RUNNING, get me() { return me; } };
})();
