"use strict";
document.getElementById("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const message = document.getElementById("message");
  message.textContent = "";
  const body = { username: document.getElementById("username").value, password: document.getElementById("password").value };
  const res = await fetch("/api/login", { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (res.ok) {
    const next = new URLSearchParams(location.search).get("next");
    location.href = next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
    return;
  }
  let text = "Sign-in failed.";
  try { text = (await res.json()).error || text; } catch (e) { /* keep the default */ }
  const div = document.createElement("div");
  div.className = "notice error";
  div.setAttribute("role", "alert");
  div.textContent = text;
  message.appendChild(div);
});
