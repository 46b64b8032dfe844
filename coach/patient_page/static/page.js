// The session page: renders the coach's state document, speaks its lines, sends the buttons.
"use strict";

const T = JSON.parse(document.getElementById("texts").textContent);
const $ = (id) => document.getElementById(id);
const fmt = (text, values) => text.replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));

for (const el of document.querySelectorAll("[data-t]")) {
  el.textContent = T[el.dataset.t];
}

// ---------------------------------------------------------------------------------------------
// Voice: one line at a time, urgent ones first (the same rules as coach/feedback/voice.py).
const voice = {
  enabled: localStorage.getItem("coach-sound") !== "off",
  waiting: [],
  speaking: null,
  maxAgeMs: 8000,
  maxWaiting: 3,
  spoken: [],
  available: "speechSynthesis" in window && typeof SpeechSynthesisUtterance !== "undefined",
  add(line) {
    if (!this.enabled || !this.available) return;
    const u = { ...line, created: Date.now() };
    if (u.urgent) {
      const at = this.waiting.filter((w) => w.urgent).length;
      this.waiting.splice(at, 0, u);
      if (this.speaking && !this.speaking.urgent) this.cut();
    } else {
      const same = this.waiting.findIndex((w) => !w.urgent && w.code && w.code === u.code);
      if (same >= 0) this.waiting.splice(same, 1);
      this.waiting.push(u);
      let normal = this.waiting.filter((w) => !w.urgent);
      while (normal.length > this.maxWaiting) {
        this.waiting.splice(this.waiting.indexOf(normal[0]), 1);
        normal = normal.slice(1);
      }
    }
    this.pump();
  },
  pump() {
    if (this.speaking) return;
    while (this.waiting.length) {
      const u = this.waiting.shift();
      if (!u.urgent && Date.now() - u.created > this.maxAgeMs) continue;
      this.speaking = u;
      this.say(u);
      return;
    }
  },
  say(u) {
    const ut = new SpeechSynthesisUtterance(u.text);
    ut.lang = u.lang;
    const match = speechSynthesis.getVoices().find((v) => v.lang && v.lang.toLowerCase().startsWith(u.lang));
    if (match) ut.voice = match;
    ut.rate = 0.95;
    const done = () => {
      if (this.speaking === u) {
        clearTimeout(u.guard);
        this.speaking = null;
        this.pump();
      }
    };
    ut.onend = done;
    ut.onerror = (e) => {
      if (e && e.error === "not-allowed") this.retryOnTap = u;
      done();
    };
    u.guard = setTimeout(done, 30000); // a browser that never ends an utterance must not silence the rest
    this.spoken.push({ text: u.text, lang: u.lang, urgent: !!u.urgent, at: Date.now() });
    speechSynthesis.speak(ut);
  },
  cut() {
    const current = this.speaking;
    this.speaking = null;
    if (current) clearTimeout(current.guard);
    speechSynthesis.cancel();
  },
  setEnabled(on) {
    this.enabled = on;
    localStorage.setItem("coach-sound", on ? "on" : "off");
    if (!on) {
      this.waiting = [];
      if (this.available) this.cut();
    }
  },
};
window.coachVoice = voice;
if (!voice.available) $("no-voice").hidden = false;
document.addEventListener("click", () => {
  const u = voice.retryOnTap; // browsers speak only after the first tap: say the missed line again
  if (u) {
    voice.retryOnTap = null;
    voice.add({ ...u, created: Date.now() });
  }
}, true);

function renderSound() {
  const b = $("sound");
  b.setAttribute("aria-pressed", String(voice.enabled));
  $("sound-label").textContent = voice.enabled ? T.sound_on : T.sound_off;
  b.setAttribute("aria-label", `${T.sound_label}: ${voice.enabled ? T.sound_on : T.sound_off}`);
}
document.getElementById("gauge-heart-label").textContent = T.heart_line;
$("stop").title = T.stop_hint;
$("sound").addEventListener("click", () => { voice.setEnabled(!voice.enabled); renderSound(); });
renderSound();

// ---------------------------------------------------------------------------------------------
// The connection: server-sent events; on a drop the page says so and reconnects by itself.
let source = null;
let lastMessage = Date.now();
let current = null;
window.coachRenders = 0;
window.coachSeen = []; // what the page has shown (the browser tests read it)
window.coachCueDelays = []; // ms from a cue reaching the coach's page view to the page showing it

function setConnection(ok) {
  const el = $("conn");
  el.textContent = ok ? T.connected : T.reconnecting;
  el.classList.toggle("lost", !ok);
  document.body.dataset.connection = ok ? "open" : "lost";
}

function connect() {
  if (source) source.close();
  source = new EventSource("/api/events");
  source.addEventListener("open", () => { lastMessage = Date.now(); });
  source.addEventListener("state", (e) => {
    lastMessage = Date.now();
    setConnection(true);
    render(JSON.parse(e.data));
  });
  source.addEventListener("say", (e) => { lastMessage = Date.now(); voice.add(JSON.parse(e.data)); });
  source.addEventListener("ping", () => { lastMessage = Date.now(); });
  source.addEventListener("error", () => {
    setConnection(false);
    if (source.readyState === EventSource.CLOSED) setTimeout(recover, 1500);
  });
}

async function recover() {
  try {
    const r = await fetch("/api/state", { cache: "no-store" });
    if (r.status === 401) { location.href = "/pair"; return; }
  } catch (err) { /* still unreachable: try again below */ }
  connect();
}

setInterval(() => {
  if (Date.now() - lastMessage > 40000) { setConnection(false); connect(); lastMessage = Date.now(); }
}, 5000);
$("conn").textContent = T.connecting;
connect();

async function post(path, body) {
  try {
    const r = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    });
    return r.ok;
  } catch (err) {
    setConnection(false);
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Buttons.
$("q-yes").addEventListener("click", () => answer(true));
$("q-no").addEventListener("click", () => answer(false));
function answer(value) {
  if (!current || !current.question || current.question.answer !== null) return;
  $("q-yes").disabled = $("q-no").disabled = true;
  post("/api/answer", { code: current.question.code, answer: value }).then(() => {
    $("q-yes").disabled = $("q-no").disabled = false;
  });
}
$("stop").addEventListener("click", () => {
  $("stop").disabled = true;
  post("/api/stop").then((ok) => { if (!ok) $("stop").disabled = false; });
});
$("pause").addEventListener("click", () => {
  post("/api/pause", { paused: !(current && current.pause_reason === "person") });
});
$("helper").addEventListener("click", () => { post("/api/helper", { helper: !(current && current.helper) }); });
$("report-skip").addEventListener("click", () => score(null));
for (let v = 0; v <= 10; v++) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = String(v);
  b.dataset.value = String(v);
  b.setAttribute("aria-pressed", "false");
  b.addEventListener("click", () => score(v));
  $("scale").appendChild(b);
}
function score(value) {
  if (!current || !current.report.step) return;
  post("/api/report", { step: current.report.step, value });
}

// ---------------------------------------------------------------------------------------------
// Rendering the state document.
const SCREENS = ["starting", "question", "connecting", "blocked", "cleared", "calibrating", "active",
  "report", "finishing", "summary", "ended"];
const WITH_STOP = new Set(["question", "connecting", "blocked", "cleared", "calibrating", "active"]);

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function render(s) {
  const previous = current;
  current = s;
  window.coachRenders += 1;
  document.documentElement.lang = s.lang;
  const screen = s.screen === "paused" ? "active" : s.screen;
  for (const name of SCREENS) $(`s-${name}`).hidden = name !== screen;
  document.body.dataset.screen = s.screen;
  $("controls").hidden = !WITH_STOP.has(screen);
  $("stop").disabled = !!s.stopping;
  $("helper").textContent = s.helper ? T.helper_mode : T.self_mode;
  $("helper").setAttribute("aria-pressed", String(!!s.helper));
  $("helper").setAttribute("aria-label", `${T.who_massages} ${s.helper ? T.helper_mode : T.self_mode}`);

  if (screen === "question" && s.question) renderQuestion(s.question);
  if (screen === "blocked") $("blocked-text").textContent = s.cue ? s.cue.text : "";
  if (screen === "cleared") $("cleared-text").textContent = s.cue ? s.cue.text : "";
  if (screen === "calibrating" && s.calibration) renderCalibration(s.calibration);
  if (screen === "active") renderActive(s);
  if (screen === "report") renderReport(s.report);
  if (screen === "summary" && s.summary) renderSummary(s.summary);
  if (screen === "ended") renderEnded(s);
  const newCue = s.cue && (!previous || !previous.cue || previous.cue.id !== s.cue.id);
  if (newCue) window.coachCueDelays.push(Date.now() - s.cue.wall_ms); // event at the coach → on screen
  if (newCue && s.cue.urgent) $("alert").textContent = s.cue.text;
  const focusKey = `${screen}|${s.question ? s.question.code : ""}|${s.report.step || ""}`;
  if (!previous || previous.focusKey !== focusKey) {
    const heading = document.querySelector(`#s-${screen} h2`);
    if (heading && previous) heading.focus({ preventScroll: false });
  }
  s.focusKey = focusKey;
}

function renderQuestion(q) {
  $("q-progress").textContent = fmt(T.question_progress, { index: q.index, count: q.count });
  $("q-text").textContent = q.text;
  const dots = $("q-dots");
  dots.replaceChildren(...Array.from({ length: q.count }, (_, i) => {
    const li = document.createElement("li");
    if (i < q.index - 1) li.className = "done";
    if (i === q.index - 1) li.className = "now";
    return li;
  }));
  $("q-yes").setAttribute("aria-pressed", String(q.answer === true));
  $("q-no").setAttribute("aria-pressed", String(q.answer === false));
  $("q-answered").textContent = q.answer === null ? "" : fmt(T.answered, { answer: q.answer ? T.yes : T.no });
}

function renderCalibration(c) {
  $("cal-step").textContent = fmt(T.calibration_step, { step: c.step, steps: c.steps });
  $("cal-progress").value = c.step;
  const title = { 1: T.calibration_still_title, 2: T.calibration_rotate_title, 3: T.calibration_done_title }[c.step];
  $("cal-title").textContent = title;
  $("cal-text").textContent = c.text;
  $("pose-still").toggleAttribute("hidden", c.step !== 1); // SVG elements have no .hidden property
  $("pose-rotate").toggleAttribute("hidden", c.step !== 2);
  $("pose-stroke").toggleAttribute("hidden", c.step !== 3);
  window.coachSeen.push(`calibration-${c.step}`);
}

function statusText(el, text, kind) {
  el.textContent = text;
  el.classList.toggle("good", kind === "good");
  el.classList.toggle("bad", kind === "bad");
}

function renderActive(s) {
  const paused = s.screen === "paused";
  $("paused").hidden = !paused;
  $("paused-text").textContent = {
    person: T.paused_by_you, sensor: T.paused_by_sensor, therapist: T.paused_by_therapist,
  }[s.pause_reason] || T.paused_other;
  $("pause").hidden = false;
  $("pause").textContent = s.pause_reason === "person" ? T.resume : T.pause;
  const cue = $("cue");
  cue.textContent = s.cue ? s.cue.text : T.no_cue_yet;
  cue.classList.toggle("urgent", !!(s.cue && s.cue.urgent));
  if (s.cue) {
    cue.dataset.cueId = s.cue.id;
    cue.dataset.code = s.cue.code;
  }

  const p = s.posture;
  const h = p.height_m;
  const y = h === null ? 110 : Math.max(20, Math.min(200, 110 - (h / 0.3) * 100));
  $("gauge-hand").setAttribute("transform", `translate(0 ${y - 60})`);
  $("gauge-hand").style.display = h === null ? "none" : "";
  const marker = document.querySelector(".gauge-marker");
  marker.classList.toggle("low", p.elevated === false);
  $("gauge-sym").textContent = p.elevated === false ? "!" : "✓";
  if (p.elevated === null || p.elevated === undefined) statusText($("height-text"), T.hand_unknown, "");
  else if (p.elevated) statusText($("height-text"), T.hand_above, "good");
  else statusText($("height-text"), T.hand_below, "bad");
  if (p.wrist === "straight") statusText($("wrist-text"), T.wrist_straight, "good");
  else if (p.wrist === "bent") statusText($("wrist-text"), T.wrist_bent, "bad");
  else statusText($("wrist-text"), T.wrist_off, "");

  $("strokes-total").textContent = String(s.strokes.total);
  $("tally-right").textContent = `${s.strokes.proximal} ${T.strokes_right}`;
  $("tally-wrong").textContent = `${s.strokes.distal} ${T.strokes_wrong}`;
  $("tally-unclear").textContent = `${s.strokes.unknown} ${T.strokes_unclear}`;

  const r = s.rhythm;
  $("rhythm-spm").textContent = r.spm === null ? T.rhythm_none : fmt(T.rhythm_spm, { spm: r.spm });
  const verdict = { good: [T.rhythm_good, "good"], fast: [T.rhythm_fast, "bad"], slow: [T.rhythm_slow, "bad"] }[r.verdict];
  statusText($("rhythm-text"), verdict ? verdict[0] : "", verdict ? verdict[1] : "");

  const left = s.time.left_s;
  const target = s.time.target_s || 1;
  const circumference = 2 * Math.PI * 50;
  const ring = $("ring-left");
  ring.setAttribute("stroke-dasharray", String(circumference));
  ring.setAttribute("stroke-dashoffset", String(left === null ? 0 : circumference * (1 - Math.min(1, left / target))));
  $("ring-text").textContent = left === null ? "–" : clock(left);
  $("time-text").textContent = left === null ? "" :
    fmt(T.time_left_value, { minutes: Math.floor(left / 60), seconds: Math.round(left % 60) });

  $("sensor-list").replaceChildren(...s.sensors.map((x) => {
    const li = document.createElement("li");
    const link = x.link === "up" ? T.sensor_up : (x.link === "down" ? T.sensor_down : T.sensor_waiting);
    let text = `${x.name}: ${link}`;
    if (x.battery_pct !== null) text += `, ${fmt(x.battery_pct < 20 ? T.battery_low : T.battery, { pct: x.battery_pct })}`;
    li.textContent = (x.link === "down" ? "! " : "") + text;
    if (x.link === "down") li.className = "down";
    return li;
  }));
}

function renderReport(report) {
  const step = report.step;
  if (!step) return;
  $("report-q").textContent = step === "pain" ? T.report_pain_question : T.report_swelling_question;
  $("scale-low").textContent = step === "pain" ? T.scale_low_pain : T.scale_low_swelling;
  $("scale-high").textContent = step === "pain" ? T.scale_high_pain : T.scale_high_swelling;
  const chosen = report[step];
  for (const b of $("scale").children) {
    b.setAttribute("aria-pressed", String(chosen !== null && String(chosen) === b.dataset.value));
  }
  $("report-chosen").textContent = chosen === null ? "" : fmt(T.report_chosen, { value: chosen });
}

function renderSummary(sum) {
  $("sum-sentence").textContent = sum.progress.sentence;
  $("sum-streak").textContent = sum.progress.streak;
  const rows = [[T.summary_duration, fmt(T.summary_minutes, {
    minutes: Math.floor((sum.duration_s || 0) / 60), seconds: Math.round((sum.duration_s || 0) % 60) })]];
  rows.push([T.strokes, `${sum.strokes_total}: ✓ ${sum.strokes_proximal} ${T.strokes_right}, ✗ ${sum.strokes_distal} ${T.strokes_wrong}`]);
  if (sum.raised_pct !== null) rows.push([T.summary_raised, `${sum.raised_pct}%`]);
  if (sum.wrist_pct !== null) rows.push([T.summary_wrist, `${sum.wrist_pct}%`]);
  if (sum.pain !== null) rows.push([T.summary_pain, `${sum.pain} / 10`]);
  if (sum.swelling !== null) rows.push([T.summary_swelling, `${sum.swelling} / 10`]);
  $("sum-figures").replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v;
    return [dt, dd];
  }));
  const table = $("sum-compare");
  table.hidden = sum.progress.sessions_compared === 0;
  table.tBodies[0].replaceChildren(...sum.progress.rows.map((r) => {
    const tr = document.createElement("tr");
    const th = document.createElement("th"); th.scope = "row"; th.textContent = r.label;
    const today = document.createElement("td"); today.textContent = r.today;
    const before = document.createElement("td"); before.textContent = r.before;
    const change = document.createElement("td");
    const arrow = { better: "▲ ", worse: "▼ ", same: "= " }[r.change] || "";
    change.textContent = arrow + r.change_words;
    if (r.change) change.className = r.change;
    tr.append(th, today, before, change);
    return tr;
  }));
}

function renderEnded(s) {
  const text = {
    stopped: T.ended_stopped, calibration: T.ended_calibration, blocked: T.ended_blocked,
  }[s.ended_reason] || T.ended_other;
  $("ended-text").textContent = text;
}
