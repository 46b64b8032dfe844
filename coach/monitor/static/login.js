"use strict";
/** Where to go after signing in: only a path on this site. Browsers read "\\" as "/", so
 * "/\\evil.example/" would be "//evil.example/" (another site): the target is resolved as the
 * browser would and kept only if it stays on this origin and is an ordinary path. */
function sameSiteTarget(next) {
  if (!next || next[0] !== "/" || /[\\\u0000-\u001f]/.test(next)) return "/";
  let url;
  try { url = new URL(next, location.origin); } catch (e) { return "/"; }
  if (url.origin !== location.origin || url.pathname.startsWith("//")) return "/";
  return url.pathname + url.search + url.hash;
}
document.getElementById("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const message = document.getElementById("message");
  message.textContent = "";
  const body = { username: document.getElementById("username").value, password: document.getElementById("password").value };
  const res = await fetch("/api/login", { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (res.ok) {
    location.href = sameSiteTarget(new URLSearchParams(location.search).get("next"));
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
