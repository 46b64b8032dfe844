"""Delivery receipts: the monitor tells each coach, retained on ``coach/v1/<p>/stored``, how far it has
stored each of that patient's recent sessions (format: :mod:`coach.mqtt.confirmations`).

A coach keeps every session event on disk until a receipt covers it, and sends again what a receipt
does not cover (docs/mqtt.md, "End to end"). A receipt is only ever computed from what is committed.

Per session this instance keeps ``through`` (every delivery number up to it is stored) and the stored
numbers beyond it that it knows of. Those come from its own committed batches; a session it has not
seen since it started is read from the database once; and a session with holes in this instance's
view is read again before each receipt, since another instance on the same shared subscription may
have stored the missing numbers. Receipts go out at most every ``min_interval_s`` per patient, at
once when a session's summary was stored (the coach is about to end and waits a moment for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

from coach.clock import format_utc, utc_now
from coach.monitor.db import Database
from coach.monitor.ingest_store import StoreResult
from coach.mqtt.confirmations import MAX_SESSIONS, Receipt, render_stored, stored_runs
from coach.mqtt.topics import PatientTopics

log = logging.getLogger("coach.monitor.receipts")

Publish = Callable[[str, bytes], Awaitable[None]]
#: Sessions stay in a patient's receipt this long after their last stored event.
WINDOW_S: Final = 2 * 86400.0
#: Delivery numbers read per session and query when the view has holes.
READ_LIMIT: Final = 20_000


@dataclass
class _Session:
    through: int = 0
    above: set[int] = field(default_factory=set)
    loaded: bool = False
    fresh: list[int] = field(default_factory=list)
    touched_unix_s: float = 0.0

    def merge(self, seqs: list[int]) -> None:
        self.above.update(s for s in seqs if s > self.through)
        while self.through + 1 in self.above:
            self.through += 1
            self.above.discard(self.through)

    def receipt(self) -> Receipt:
        return stored_runs(sorted(self.above), self.through)


class Receipts:
    """Tracks stored delivery numbers and publishes the receipts (run :meth:`run` as a task)."""

    def __init__(
        self, db: Database, publish: Publish, *, min_interval_s: float = 5.0, per_tick: int = 100
    ) -> None:
        self.db = db
        self.publish = publish
        self.min_interval_s = min_interval_s
        #: Receipts sent at most per tick (a tenth of a second), so thousands of sessions do not
        #: all go out at once, every ``min_interval_s``, in one burst.
        self.per_tick = per_tick
        #: patient -> session -> what is known of it.
        self._sessions: dict[str, dict[str, _Session]] = {}
        self._forgot_at = time.monotonic()
        #: Patients with news: ``True`` when it should go out at once.
        self._dirty: dict[str, bool] = {}
        self._last_sent: dict[str, float] = {}
        self._wake = asyncio.Event()
        self.published = 0
        self.failures = 0

    def note(self, result: StoreResult) -> None:
        """Called after a batch committed (no I/O here: the writer must not wait)."""
        now = time.time()
        for key, seqs in result.stored_seqs.items():
            if key[0] not in self._last_sent:  # first news of a patient: its receipt goes out now,
                self._last_sent[key[0]] = time.monotonic() - self.min_interval_s  # then on its own beat
            state = self._sessions.setdefault(key[0], {}).setdefault(key[1], _Session())
            state.fresh.extend(seqs)
            state.touched_unix_s = now
            urgent = key in result.summaries
            self._dirty[key[0]] = self._dirty.get(key[0], False) or urgent
            if urgent:
                self._wake.set()

    def receipt(self, patient: str, session: str) -> Receipt | None:
        """What this instance last computed for a session (tests and the health page)."""
        state = self._sessions.get(patient, {}).get(session)
        return None if state is None else state.receipt()

    async def run(self, tick_s: float = 0.1) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), tick_s)
            self._wake.clear()
            now = time.monotonic()
            due = [
                p
                for p, urgent in self._dirty.items()
                if urgent or now - self._last_sent.get(p, -1e9) >= self.min_interval_s
            ][: self.per_tick]
            if not due:
                continue
            for p in due:
                del self._dirty[p]
            results = await asyncio.gather(*(self._send(p) for p in due), return_exceptions=True)
            for p, outcome in zip(due, results, strict=True):
                if isinstance(outcome, BaseException):
                    if isinstance(outcome, asyncio.CancelledError):
                        raise outcome
                    self.failures += 1
                    self._dirty.setdefault(p, False)  # try again on a later tick
                    log.debug("receipt for %s not sent: %r", p, outcome)
            self._forget_old()

    async def _send(self, patient: str) -> None:
        receipts: dict[str, Receipt] = {}
        recent = sorted(self._sessions.get(patient, {}).items(), key=lambda item: -item[1].touched_unix_s)[
            :MAX_SESSIONS
        ]
        for session, state in recent:
            await self._update(patient, session, state)
            receipts[session] = state.receipt()
        self._last_sent[patient] = time.monotonic()
        await self.publish(PatientTopics(patient).stored, render_stored(receipts, format_utc(utc_now())))
        self.published += 1

    async def _update(self, patient: str, session: str, state: _Session) -> None:
        fresh, state.fresh = state.fresh, []
        if not state.loaded and 1 in fresh:
            state.loaded = True  # it began while this instance ran: what it stored is what it saw
        if state.loaded and not state.above:
            state.merge(fresh)
            if not state.above:
                return
        # First sight of the session, or holes in this instance's view: read what is committed. Most
        # often (another instance on the shared subscription stored the rest) it is one unbroken run
        # beyond ``through``: one aggregate row says so.
        agg = await self.db.fetchone(
            "SELECT COUNT(*) AS n, MAX(delivery_seq) AS top FROM events WHERE patient_id = ?"
            " AND session_id = ? AND delivery_seq > ?",
            (patient, session, state.through),
        )
        if agg is not None and agg["top"] is not None and int(agg["n"]) == int(agg["top"]) - state.through:
            state.loaded = True
            state.through = int(agg["top"])
            state.above = {s for s in state.above if s > state.through}
            state.merge(fresh)
            return
        rows = await self.db.fetchall(
            "SELECT delivery_seq FROM events WHERE patient_id = ? AND session_id = ?"
            " AND delivery_seq > ? ORDER BY delivery_seq LIMIT ?",
            (patient, session, state.through, READ_LIMIT),
        )
        state.loaded = True
        state.merge([int(r["delivery_seq"]) for r in rows] + fresh)

    def _forget_old(self) -> None:
        if time.monotonic() - self._forgot_at < 60.0:
            return
        self._forgot_at = time.monotonic()
        cutoff = time.time() - WINDOW_S
        for patient, sessions in list(self._sessions.items()):
            for session in [s for s, v in sessions.items() if v.touched_unix_s < cutoff]:
                del sessions[session]
            if not sessions:
                del self._sessions[patient]
