"""What a live session gives back (:class:`SessionResult`), and the person's self-report at its end."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from coach.events import SummaryEvent


class SelfReport(Protocol):
    """After the session: pain and swelling, 0–10 each (``None`` when not given)."""

    async def report(self) -> tuple[int | None, int | None]: ...


@dataclass
class ScriptedSelfReport:
    pain_0_10: int | None = None
    swelling_0_10: int | None = None

    async def report(self) -> tuple[int | None, int | None]:
        return self.pain_0_10, self.swelling_0_10


@dataclass
class SessionResult:
    session_id: str
    state: str
    reason: str
    trace_path: Path | None
    summary_path: Path
    events_path: Path
    commands_path: Path
    summary: SummaryEvent
    events_total: int
    spool_empty: bool
    #: Events still in the spool at the end (kept, sent on the next run).
    unsent: int = 0


async def ask_self_report(
    source: SelfReport, signalled: asyncio.Event, at_terminal: bool, wait_s: float
) -> tuple[int | None, int | None]:
    """Pain and swelling, at most ``wait_s``. After a Ctrl-C or SIGTERM (``signalled``) it is asked only
    of a person at a terminal; a first one while asking skips it (a second one, after the one that
    ended the session, exits at once: :func:`coach.session.console.handle_stop_signals`)."""
    if signalled.is_set() and not at_terminal:
        return None, None  # stopped by a signal with nobody at a terminal to answer
    asking = asyncio.ensure_future(source.report())
    waits: set[asyncio.Future[Any]] = {asking}
    if not signalled.is_set():
        waits.add(asyncio.ensure_future(signalled.wait()))
    await asyncio.wait(waits, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
    for task in waits:
        task.cancel()
    if asking.done() and not asking.cancelled() and asking.exception() is None:
        return asking.result()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asking
    return None, None


__all__ = ["ScriptedSelfReport", "SelfReport", "SessionResult", "ask_self_report"]
