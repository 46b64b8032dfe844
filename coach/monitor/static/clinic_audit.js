"use strict";
(async () => {
  const { h } = App;
  const me = await App.start("Audit log");
  const box = document.getElementById("entries");
  if (!me.is_admin) { box.appendChild(h("div", { class: "notice error", role: "alert" }, "The audit log is for administrators.")); return; }
  let before = null;
  const patient = () => document.getElementById("patient").value.trim();
  async function load(reset) {
    if (reset) { before = null; box.textContent = ""; }
    const q = new URLSearchParams({ limit: "100" });
    if (before !== null) q.set("before", before);
    if (patient()) q.set("patient", patient());
    try {
      const d = await App.api(`/api/clinic/audit?${q}`);
      document.getElementById("retention").textContent = `Entries are kept ${Math.round(d.retention_days / 365.25 * 10) / 10} years (${d.retention_days} days), append-only, each chained to the previous one by SHA-256.`;
      let table = document.getElementById("audit-table");
      if (!table) {
        table = h("table", { id: "audit-table" }, h("thead", {}, h("tr", {}, ["#", "When", "Who", "Action", "Patient", "Detail", "From"].map((t) => h("th", {}, t)))), h("tbody", {}));
        box.appendChild(table);
      }
      const body = table.tBodies[0];
      for (const e of d.entries) body.appendChild(h("tr", { "data-id": e.id }, h("td", { class: "num" }, e.id), h("td", {}, App.dateTime(e.at_unix_s)), h("td", {}, e.actor), h("td", {}, e.action), h("td", {}, e.patient_id || "–"), h("td", {}, e.detail || ""), h("td", {}, e.remote || "")));
      if (d.entries.length) before = d.entries[d.entries.length - 1].id;
      document.getElementById("older").hidden = d.entries.length < 100;
    } catch (e) { App.showError("error", e); }
  }
  document.getElementById("older").addEventListener("click", () => load(false));
  document.getElementById("filter").addEventListener("submit", (ev) => { ev.preventDefault(); load(true); });
  document.getElementById("verify").addEventListener("click", async () => {
    const out = document.getElementById("verify-result");
    out.textContent = "checking…";
    try {
      const v = await App.api("/api/clinic/audit/verify");
      out.className = v.ok ? "chain-ok" : "chain-bad";
      out.textContent = v.ok ? `Intact: ${v.entries} entries, head #${v.head_id} ${v.head_sha256.slice(0, 16)}…` : `Broken at entry #${v.bad_id}: ${v.problem}`;
    } catch (e) { out.textContent = e.message; }
  });
  load(true);
})();
