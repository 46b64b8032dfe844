"""Login rate limiting (shared by all instances through the database) and the HTTP security headers."""

from __future__ import annotations

import time
from typing import Final

from coach.monitor.db import Database

#: Content Security Policy: only our own scripts, styles and images; no framing, no plugins.
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class LoginLimiter:
    """Counts failed logins per user name and per client address in a sliding window, in the database.

    A name is locked after ``per_user`` failures and an address after ``per_remote`` failures within
    ``window_s``; :meth:`retry_after_s` says how long until the oldest counted failure leaves the
    window. The failures live in the ``login_failures`` table, not in memory, so several monitor
    instances behind a load balancer share one count (wall-clock times: the instances' clocks must
    agree to within seconds, which NTP gives). Two attempts checked at the same instant on two
    instances may both pass: the limit can be exceeded by the number of instances, not more.
    """

    def __init__(self, per_user: int = 5, per_remote: int = 20, window_s: float = 900.0) -> None:
        self.per_user = per_user
        self.per_remote = per_remote
        self.window_s = window_s

    @staticmethod
    def _keys(username: str, remote: str) -> tuple[str, str]:
        return f"u:{username.lower()[:200]}", f"r:{remote[:200]}"

    async def retry_after_s(
        self, db: Database, username: str, remote: str, now: float | None = None
    ) -> float:
        """0 when a login attempt is allowed, else the seconds to wait."""
        now = time.time() if now is None else now
        waits = []
        for key, limit in zip(self._keys(username, remote), (self.per_user, self.per_remote), strict=True):
            row = await db.fetchone(
                "SELECT at_unix_s FROM login_failures WHERE key = ? AND at_unix_s > ?"
                " ORDER BY at_unix_s DESC LIMIT 1 OFFSET ?",
                (key, now - self.window_s, limit - 1),
            )
            if row is not None:  # the limit-th latest failure is inside the window
                waits.append(float(row["at_unix_s"]) + self.window_s - now)
        return max(waits, default=0.0)

    async def failed(self, db: Database, username: str, remote: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        async with db.transaction() as tx:
            await tx.execute("DELETE FROM login_failures WHERE at_unix_s <= ?", (now - self.window_s,))
            await tx.executemany(
                "INSERT INTO login_failures (key, at_unix_s) VALUES (?, ?)",
                [(key, now) for key in self._keys(username, remote)],
            )

    async def succeeded(self, db: Database, username: str) -> None:
        await db.execute("DELETE FROM login_failures WHERE key = ?", (self._keys(username, "")[0],))
