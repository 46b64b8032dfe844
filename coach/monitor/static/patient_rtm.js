"use strict";
/* The patient page's remote-monitoring panel: monitoring start, data days per 30-day period with the
 * device-supply code they support, management time per calendar month, and the time log form. */
(async () => {
  const { h } = App;
  const p = decodeURIComponent(location.pathname.split("/")[2]);
  const base = `/api/patients/${encodeURIComponent(p)}/rtm`;
  const root = document.getElementById("rtm");
  for (let i = 0; i < 100 && !App.me; i++) await new Promise((r) => setTimeout(r, 50));  // patient.js signs in
  const codes = (list) => (list && list.length ? list.join(" + ") : "–");
  function render(data) {
    root.textContent = "";
    const card = h("div", { class: "card", id: "rtm-card" });
    root.appendChild(card);
    const start = data.monitoring_start;
    card.appendChild(h("p", {}, "Monitoring started: ", h("strong", { id: "rtm-start" }, start || "no data yet"),
      start && !data.start_set_explicitly ? h("span", { class: "sub" }, " (first day with data)") : ""));
    if (data.periods.length) {
      card.appendChild(h("table", { id: "rtm-periods" },
        h("thead", {}, h("tr", {}, ["30-day period", "Days with data", "Device code", ""].map((t, i) => h("th", { class: i === 1 ? "num" : null }, t)))),
        h("tbody", {}, data.periods.slice().reverse().map((x) => h("tr", {},
          h("td", {}, `${x.start} – ${x.end}`),
          h("td", { class: "num" }, `${x.days_with_data} / 30`),
          h("td", {}, x.device_code || "–"),
          h("td", { class: "sub" }, x.complete ? "complete" : "running"))))));
    }
    card.appendChild(h("h3", { class: "sub" }, "Management time per month"));
    if (data.months.length) {
      card.appendChild(h("table", { id: "rtm-months" },
        h("thead", {}, h("tr", {}, ["Month", "Minutes", "Live exchange", "Codes"].map((t, i) => h("th", { class: i === 1 ? "num" : null }, t)))),
        h("tbody", {}, data.months.map((m) => h("tr", {},
          h("td", {}, m.month), h("td", { class: "num" }, m.minutes), h("td", {}, m.interactive ? "yes" : "no"), h("td", {}, codes(m.codes)))))));
    } else card.appendChild(h("p", { class: "sub" }, "No time logged yet."));
    const form = h("form", { class: "rtm-form", id: "rtm-time-form" },
      h("label", {}, "Date", h("input", { type: "date", name: "service_date", required: true, value: data.today })),
      h("label", {}, "Minutes", h("input", { type: "number", name: "minutes", min: 1, max: 600, required: true })),
      h("label", {}, h("span", {}, "Live exchange with the patient or helper"), h("select", { name: "interactive" }, h("option", { value: "no" }, "no"), h("option", { value: "yes" }, "yes"))),
      h("label", { class: "wide" }, "Note (what the time was spent on)", h("input", { type: "text", name: "note", required: true, maxlength: 2000 })),
      h("div", { class: "actions" }, h("button", { class: "btn", type: "submit" }, "Log time")));
    const msg = h("div", { "aria-live": "polite" });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = { service_date: form.service_date.value, minutes: Number(form.minutes.value), interactive: form.interactive.value === "yes", note: form.note.value };
      try { render(await App.api(`${base}/time`, { method: "POST", body })); }
      catch (e) { msg.textContent = ""; msg.appendChild(h("div", { class: "notice error", role: "alert" }, e.message)); }
    });
    card.appendChild(h("h3", { class: "sub" }, "Log management time"));
    card.appendChild(form);
    card.appendChild(msg);
    if (data.entries.length) {
      card.appendChild(h("table", { id: "rtm-entries" },
        h("thead", {}, h("tr", {}, ["Date", "Minutes", "Live", "By", "Note"].map((t) => h("th", {}, t)))),
        h("tbody", {}, data.entries.map((e) => h("tr", {}, h("td", {}, e.service_date), h("td", { class: "num" }, e.minutes), h("td", {}, e.interactive ? "yes" : "no"), h("td", {}, e.therapist), h("td", {}, e.note))))));
    }
  }
  try { render(await App.api(base)); } catch (e) { root.appendChild(h("div", { class: "notice error" }, e.message)); }
})();
