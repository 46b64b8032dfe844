"use strict";
(async () => {
  await App.start("Patients");
  const grid = document.getElementById("patients");
  const liveState = document.getElementById("live-state");
  function render(data) {
    grid.textContent = "";
    if (!data.patients.length) {
      grid.appendChild(App.h("div", { class: "empty" }, "No patients are assigned to you yet."));
      return;
    }
    // Patients with alerts first, then running sessions, then the rest by name.
    const rank = (c) => (c.alerts.length ? 0 : 2) + (c.session && App.RUNNING.includes(c.session.phase) ? 0 : 1);
    const cards = [...data.patients].sort((a, b) => rank(a) - rank(b) || a.display_name.localeCompare(b.display_name));
    for (const card of cards) grid.appendChild(App.patientCard(card, true));
  }
  function setLive(ok) {
    liveState.textContent = "";
    liveState.appendChild(App.h("span", { class: ok ? "live-dot" : "live-dot stale" }));
    liveState.appendChild(document.createTextNode(ok ? `live · updated ${new Date().toLocaleTimeString()}` : "not live"));
  }
  try { const first = await App.api("/api/patients"); render(first); App.banner(first.monitor); } catch (e) { App.showError(grid, e); return; }
  App.stream("/api/stream/overview", "overview", (data) => { render(data); App.banner(data.monitor); setLive(data.monitor && data.monitor.connected !== false); }, (ok) => { if (!ok) setLive(false); });
})();
