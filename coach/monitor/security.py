"""Login rate limiting (shared by all instances through the database) and the HTTP security headers."""

from __future__ import annotations

import secrets
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
    """Limits password guessing without letting strangers lock a therapist out.

    Two counts, in the database (``login_attempts``), so instances behind a load balancer share them:

    - per **user name and client address** pair: after ``per_pair`` failures within ``window_s``, the
      pair waits ``backoff_s`` after its latest failure, doubling with each further failure up to
      ``window_s``. A stranger's failures from another address never lock the therapist's own pair;
    - per **client address**: ``per_remote`` failures within ``window_s`` (a spray over many names)
      lock that address until the oldest counted failure leaves the window.

    An attempt is counted *before* its password is checked (:meth:`begin` inserts it as ``pending``
    in the same transaction that reads the counts, serialised per key: SQLite's write lock, or
    PostgreSQL advisory locks), so concurrent attempts cannot all pass the check; :meth:`finish`
    then marks it failed, or on success removes it and forgives the pair. There is no lock per name
    alone: someone with many addresses can try ``per_pair`` passwords from each (Argon2id and the
    ten-character minimum make that slow; the audit log shows it).
    """

    def __init__(
        self, per_pair: int = 5, per_remote: int = 20, window_s: float = 900.0, backoff_s: float = 60.0
    ) -> None:
        self.per_pair = per_pair
        self.per_remote = per_remote
        self.window_s = window_s
        self.backoff_s = backoff_s

    @staticmethod
    def _keys(username: str, remote: str) -> tuple[str, str]:
        return f"p:{username.lower()[:200]} {remote[:200]}", f"r:{remote[:200]}"

    async def begin(
        self, db: Database, username: str, remote: str, now: float | None = None
    ) -> tuple[str | None, float]:
        """Count one attempt if allowed: ``(attempt id, 0)``, else ``(None, seconds to wait)``."""
        now = time.time() if now is None else now
        pair, addr = self._keys(username, remote)
        since = now - self.window_s
        async with db.transaction() as tx:
            if db.dialect == "postgresql":
                for key in sorted((pair, addr)):
                    await tx.fetchall("SELECT pg_advisory_xact_lock(hashtext(?))", (key,))
            await tx.execute("DELETE FROM login_attempts WHERE at_unix_s <= ?", (since,))
            waits = []
            rows = await tx.fetchall(
                "SELECT at_unix_s FROM login_attempts WHERE key = ? AND at_unix_s > ? ORDER BY at_unix_s",
                (pair, since),
            )
            if len(rows) >= self.per_pair:
                over = len(rows) - self.per_pair
                lock_s = min(self.window_s, self.backoff_s * 2.0**over)
                waits.append(float(rows[-1]["at_unix_s"]) + lock_s - now)
            rows = await tx.fetchall(
                "SELECT at_unix_s FROM login_attempts WHERE key = ? AND at_unix_s > ?"
                " ORDER BY at_unix_s DESC LIMIT 1 OFFSET ?",
                (addr, since, self.per_remote - 1),
            )
            if rows:
                waits.append(float(rows[0]["at_unix_s"]) + self.window_s - now)
            wait_s = max(waits, default=0.0)
            if wait_s > 0:
                return None, wait_s
            attempt = secrets.token_hex(12)
            await tx.executemany(
                "INSERT INTO login_attempts (key, attempt_id, outcome, at_unix_s)"
                " VALUES (?, ?, 'pending', ?)",
                [(pair, attempt, now), (addr, attempt, now)],
            )
        return attempt, 0.0

    async def finish(
        self, db: Database, attempt: str, *, ok: bool, username: str = "", remote: str = "",
        now: float | None = None,
    ) -> None:  # fmt: skip
        """The password check's outcome: a failure stays counted; a success forgives the pair."""
        now = time.time() if now is None else now
        async with db.transaction() as tx:
            if ok:
                await tx.execute("DELETE FROM login_attempts WHERE attempt_id = ?", (attempt,))
                await tx.execute(
                    "DELETE FROM login_attempts WHERE key = ?", (self._keys(username, remote)[0],)
                )
            else:
                await tx.execute(
                    "UPDATE login_attempts SET outcome = 'failed', at_unix_s = ? WHERE attempt_id = ?",
                    (now, attempt),
                )
