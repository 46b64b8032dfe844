"""Time: the one session clock, and wall-clock UTC times as the contracts write them.

Session time (docs/design.md §7 ``t``) is seconds since the session's ``t = 0`` on ``time.monotonic()``,
running ``speed`` times as fast (a simulated world or ``coach demo`` runs faster than real time). The
drivers stamp samples with it, the live session ticks the pipeline with it.

Wall-clock times in events, status documents, commands and logs are ISO 8601 UTC with a ``Z`` and
millisecond precision (:func:`format_utc`); :func:`wall_utc` maps a trace time to the wall clock given
the trace's ``start_utc``.
"""

from __future__ import annotations

import datetime as dt
import time


class SessionClock:
    """Session seconds since :meth:`start` (or creation), ``speed`` times as fast as ``time.monotonic``."""

    def __init__(self, speed: float = 1.0, *, t0_monotonic: float | None = None) -> None:
        if not speed > 0:
            raise ValueError("clock speed must be positive")
        self.speed = float(speed)
        self.t0_monotonic = time.monotonic() if t0_monotonic is None else t0_monotonic

    def start(self, at_monotonic: float | None = None) -> None:
        """``t = 0`` now (or at the given ``time.monotonic()`` value)."""
        self.t0_monotonic = time.monotonic() if at_monotonic is None else at_monotonic

    def now_s(self) -> float:
        return (time.monotonic() - self.t0_monotonic) * self.speed

    def at(self, monotonic_s: float) -> float:
        """The session time at a ``time.monotonic()`` reading."""
        return (monotonic_s - self.t0_monotonic) * self.speed

    def monotonic_at(self, t_s: float) -> float:
        """The ``time.monotonic()`` value at which the clock reads ``t_s``."""
        return self.t0_monotonic + t_s / self.speed

    async def sleep(self, session_s: float) -> None:
        """Sleep for ``session_s`` session seconds."""
        import asyncio  # here: a replay, which never sleeps, need not load asyncio (~30 ms)

        await asyncio.sleep(max(session_s, 0.0) / self.speed)

    async def sleep_until(self, t_s: float) -> None:
        import asyncio

        delay = self.monotonic_at(t_s) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def format_utc(when: dt.datetime) -> str:
    """ISO 8601 UTC with a ``Z`` and millisecond precision."""
    return when.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_utc(text: str) -> dt.datetime:
    """Parse an ISO 8601 time with an explicit offset or ``Z``; naive times are refused."""
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError("time without a UTC offset")
    return when.astimezone(dt.UTC)


def wall_utc(start_utc: str | None, t_s: float) -> str | None:
    """The wall-clock time of trace time ``t_s`` given the trace's ``start_utc`` (a naive start is
    taken as UTC); ``None`` without a readable start."""
    if not start_utc:
        return None
    try:
        t0 = dt.datetime.fromisoformat(start_utc.replace("Z", "+00:00"))
    except ValueError:
        return None
    if t0.tzinfo is None:
        t0 = t0.replace(tzinfo=dt.UTC)
    return format_utc(t0 + dt.timedelta(seconds=t_s))
