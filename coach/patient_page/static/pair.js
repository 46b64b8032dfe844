// Pairing: the code from the coach's console gives this browser access to the session page.
"use strict";
const T = JSON.parse(document.getElementById("texts").textContent);
for (const el of document.querySelectorAll("[data-t]")) el.textContent = T[el.dataset.t];
document.getElementById("pair-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const code = document.getElementById("code").value;
  const r = await fetch("/api/pair", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ code }),
  });
  if (r.ok) { location.href = "/"; return; }
  const body = await r.json().catch(() => ({}));
  document.getElementById("pair-error").textContent = body.error === "expired" ? T.pair_expired : T.pair_wrong;
  document.getElementById("code").value = "";
  document.getElementById("code").focus();
});
