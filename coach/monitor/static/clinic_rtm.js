"use strict";
(async () => {
  const { h } = App;
  await App.start("Remote monitoring");
  const input = document.getElementById("month");
  input.value = new URLSearchParams(location.search).get("month") || new Date().toISOString().slice(0, 7);
  const table = (id, head, rows) => (rows.length
    ? h("table", { id }, h("thead", {}, h("tr", {}, head.map((t) => h("th", {}, t)))), h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, String(c)))))))
    : h("div", { class: "empty" }, "Nothing in this month."));
  async function load() {
    const m = encodeURIComponent(input.value);
    document.getElementById("csv-periods").href = `/api/clinic/rtm.csv?month=${m}&table=periods`;
    document.getElementById("csv-months").href = `/api/clinic/rtm.csv?month=${m}&table=months`;
    try {
      const d = await App.api(`/api/clinic/rtm?month=${m}`);
      const periods = document.getElementById("periods"), months = document.getElementById("months");
      periods.textContent = ""; months.textContent = "";
      periods.appendChild(table("rtm-clinic-periods", ["Patient", "Monitoring start", "Period", "Days with data", "Device code", ""],
        d.periods.map((r) => [r.patient_id, r.monitoring_start, `${r.start} – ${r.end}`, r.days_with_data, r.device_code || "–", r.complete ? "complete" : "running"])));
      months.appendChild(table("rtm-clinic-months", ["Patient", "Minutes", "Live exchange", "Entries", "Codes"],
        d.months.map((r) => [r.patient_id, r.minutes, r.interactive ? "yes" : "no", r.entries, r.codes.length ? r.codes.join(" + ") : "–"])));
    } catch (e) { App.showError("error", e); }
  }
  document.getElementById("month-form").addEventListener("submit", (ev) => { ev.preventDefault(); history.replaceState(null, "", `?month=${input.value}`); load(); });
  load();
})();
