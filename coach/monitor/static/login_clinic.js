"use strict";
/* Login page additions: a sign-in error passed back in ?error=, the clinic's identity providers
 * (OpenID Connect), and a first-run hint when the monitor has no therapist account yet. */
(async () => {
  const box = document.getElementById("clinic-sign-in");
  const notices = document.getElementById("message");
  const note = (kind, text, code) => {
    const div = document.createElement("div");
    div.className = `notice ${kind}`;
    div.setAttribute("role", kind === "error" ? "alert" : "status");
    div.textContent = text;
    if (code) { const c = document.createElement("code"); c.className = "cmd"; c.textContent = code; div.appendChild(c); }
    notices.appendChild(div);
  };
  const error = new URLSearchParams(location.search).get("error");
  if (error) note("error", error);
  try {
    const first = await (await fetch("/api/clinic/first-run", { credentials: "same-origin" })).json();
    if (first.needs_first_therapist) {
      note("info", "No therapist account exists yet. On the monitor's computer, create the first one (an administrator) with:", first.command);
      document.getElementById("first-run").textContent = "first run";
    }
  } catch (e) { /* the hint is optional */ }
  try {
    const data = await (await fetch("/api/clinic/sign-in", { credentials: "same-origin" })).json();
    // only a path on this site (login.js's sameSiteTarget; the server checks it again)
    const next = sameSiteTarget(new URLSearchParams(location.search).get("next"));
    for (const p of data.providers) {
      const a = document.createElement("a");
      a.className = "btn secondary sso";
      a.href = p.url + (next !== "/" ? `?next=${encodeURIComponent(next)}` : "");
      a.textContent = p.label;
      box.appendChild(a);
    }
    if (data.providers.length) box.hidden = false;
  } catch (e) { /* local accounts still work */ }
})();
