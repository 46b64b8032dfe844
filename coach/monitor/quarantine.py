"""The quarantine: messages the monitor could not store, kept for a maintainer, never delivered again.

A message that fails validation (:mod:`coach.monitor.messages`), or that the database refuses on its
own while the rest of its batch stores, is acknowledged to the broker (so it is not redelivered),
logged once with its topic and reason, and written to the ``quarantine`` table with the first
:data:`MAX_KEPT_BYTES` of its payload and the patient its topic names (so that patient's data export
and erasure, :mod:`coach.monitor.clinic.patient_data`, include it). ``coach monitor quarantine``
lists it. The table keeps :data:`KEEP_S` (30 days) and at most :data:`MAX_ROWS` rows, the newest.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

from coach.ids import ID_PATTERN
from coach.monitor.db import Database

log = logging.getLogger("coach.monitor.ingest")

MAX_KEPT_BYTES: Final = 64 * 1024
KEEP_S: Final = 30 * 86400.0
MAX_ROWS: Final = 100_000
#: At most this many quarantine log lines a minute; beyond, one line says how many were not logged.
LOG_LINES_PER_MIN: Final = 30


def printable(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` with control characters and lone surrogates escaped, so a log line
    or a text column can always take it."""
    out = []
    for ch in text[:max_chars]:
        code = ord(ch)
        if code < 0x20 or 0x7F <= code < 0xA0 or 0xD800 <= code < 0xE000:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out) + ("…" if len(text) > max_chars else "")


def topic_patient(topic: str) -> str | None:
    """The patient id of a ``coach/v1/<p>/...`` topic (for the patient's data export and erasure), or
    ``None`` when the topic names no valid one."""
    parts = topic.split("/", 3)
    if len(parts) >= 4 and parts[0] == "coach" and parts[1] == "v1" and ID_PATTERN.match(parts[2]):
        return parts[2]
    return None


class QuarantineLog:
    """Logs each quarantined message once, at most :data:`LOG_LINES_PER_MIN` lines a minute."""

    def __init__(self) -> None:
        self._minute = 0
        self._lines = 0
        self._unlogged = 0

    def note(self, topic: str, reason: str) -> None:
        minute = int(time.monotonic() // 60)
        if minute != self._minute:
            if self._unlogged:
                log.warning(
                    "ingest: %d more message(s) quarantined (see coach monitor quarantine)", self._unlogged
                )
            self._minute, self._lines, self._unlogged = minute, 0, 0
        if self._lines < LOG_LINES_PER_MIN:
            self._lines += 1
            log.warning(
                "ingest: quarantined a message on %s: %s", printable(topic, 200), printable(reason, 300)
            )
        else:
            self._unlogged += 1


async def prune(db: Database, now_unix_s: float | None = None) -> None:
    """Drop quarantined messages older than :data:`KEEP_S`, and the oldest beyond :data:`MAX_ROWS`."""
    now = time.time() if now_unix_s is None else now_unix_s
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM quarantine WHERE received_unix_s < ?", (now - KEEP_S,))
        row = await tx.fetchone("SELECT id FROM quarantine ORDER BY id DESC LIMIT 1 OFFSET ?", (MAX_ROWS,))
        if row is not None:
            await tx.execute("DELETE FROM quarantine WHERE id <= ?", (row["id"],))


async def entries(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    """The latest quarantined messages, newest first (payload as bytes)."""
    rows = await db.fetchall(
        "SELECT id, received_unix_s, topic, reason, payload, payload_bytes FROM quarantine"
        " ORDER BY id DESC LIMIT ?",
        (limit,),
    )
    for r in rows:
        r["payload"] = bytes(r["payload"])
    return rows
