"""Telling the process's own stalls from a sensor's silence.

A session at home runs on whatever machine the person has, often busy with other work. When this
process is held up (the event loop blocked by a slow call, or starved of CPU by other programs), every
sensor's samples wait in the queues in front of it and arrive together once it runs again: that is
not a sensor gap, and the pipeline must never be told it is. So the live pipeline decides on sample
time only (:mod:`coach.session.intake`), and a sensor counts as *silent* only when

1. its driver reports its link down, or
2. none of its samples has arrived for ``silence_s`` seconds of **healthy loop time**.

Healthy loop time is measured by the session's own clock tick (every ``tick_s``): each tick adds the
wall time since the previous one, but at most ``tick_s + tolerance_s``. A tick that comes late — the
loop was blocked or starved — adds only that much, so the process's own stall never counts toward a
sensor's silence, however long it lasts; the samples queued behind it come in as soon as the loop
runs again, long before ``silence_s`` of healthy time has passed. (The tick's lateness *is* the
event loop's lag: the same measure, taken where the decisions are made.) A sensor that truly stopped
sending while its link stays up is silent after ``silence_s`` of wall time on a healthy machine, a
little longer on a busy one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


class StallWatch:
    """Healthy loop time, per-sensor silence, and the loop's lag (see the module docstring).

    Args:
        roles: the session's sensors.
        tick_s: the interval the caller ticks at (wall seconds).
        silence_s: healthy wall seconds without a sample before a sensor counts as silent.
        tolerance_s: lateness of a tick still counted as healthy time.
    """

    def __init__(self, roles: Iterable[str], tick_s: float, silence_s: float, tolerance_s: float) -> None:
        self.tick_s = tick_s
        self.silence_s = silence_s
        self.tolerance_s = tolerance_s
        self.quiet_s: dict[str, float] = dict.fromkeys(roles, 0.0)
        self.down: set[str] = set()
        self.healthy_s = 0.0
        #: The loop's lag: the largest lateness of a tick, and how many ticks came later than
        #: ``tolerance_s`` (the process's own stalls).
        self.max_lag_s = 0.0
        self.stalls = 0
        self._last_tick: float | None = None

    def heard(self, role: str) -> None:
        """A sample of ``role`` arrived."""
        self.quiet_s[role] = 0.0

    def link(self, role: str, up: bool) -> None:
        """The driver reports ``role``'s link up or down."""
        if up:
            self.down.discard(role)
            self.quiet_s[role] = 0.0
        else:
            self.down.add(role)

    def tick(self, now_s: float) -> float:
        """The clock ticks at wall time ``now_s`` (``time.monotonic()``); returns the healthy time it adds."""
        if self._last_tick is None:
            self._last_tick = now_s
            return 0.0
        elapsed = max(0.0, now_s - self._last_tick)
        self._last_tick = now_s
        lag = elapsed - self.tick_s
        if lag > self.tolerance_s:
            self.stalls += 1
        self.max_lag_s = max(self.max_lag_s, lag)
        credit = min(elapsed, self.tick_s + self.tolerance_s)
        self.healthy_s += credit
        for role in self.quiet_s:
            self.quiet_s[role] += credit
        return credit

    def silent(self, role: str) -> bool:
        return role in self.down or self.quiet_s.get(role, 0.0) >= self.silence_s

    def why(self, role: str) -> str:
        if role in self.down:
            return "link down"
        return f"no samples for {self.quiet_s.get(role, math.inf):.1f} s of healthy loop time"


__all__ = ["StallWatch"]
