"""The session state as the pipeline decides it, and the one place that decides why it is paused.

``none`` → ``calibrating`` → ``active`` ⇄ ``paused`` → ``finished`` | ``aborted``. The pipeline is paused
while a ``pause`` command is in force (a therapist's, or the coach's own while a sensor's link is down:
the live session decides those and records them as commands, :mod:`coach.session.links`) or while the
``treated`` sensor has been silent for longer than ``pause_after_s`` (a gap in its samples). A replay
applies the same recorded commands to the same samples, so it pauses at the same decision points.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from coach.events import Event, SessionState, StateEvent
from coach.samples import FloatArray
from coach.signal.resample import IntArray

BoolArray = npt.NDArray[np.bool_]
_EPS = 1e-9


class SessionStates:
    """The current state, why it is paused, and the ``state`` events of its changes."""

    def __init__(
        self, dt_s: float, pause_after_s: float, emit_events: bool, wall: Callable[[float], str | None]
    ) -> None:
        self.dt_s = dt_s
        self.pause_after_s = pause_after_s
        self.emit_events = emit_events
        self.wall = wall
        #: ``none`` until the session starts with the treated sensor's first sample.
        self.state: SessionState | str = "none"
        self.paused_by_command = False
        self.paused_by_gap = False
        self._gap_start: float | None = None

    def set(
        self, pending: list[Event], j: int, state: SessionState, reason: str, t_s: float | None = None
    ) -> None:
        """Change to ``state`` at decision point ``j`` (or at ``t_s``) with a ``state`` event."""
        if state == self.state:
            return
        self.state = state
        if self.emit_events:
            t = j * self.dt_s if t_s is None else t_s
            pending.append(
                StateEvent(type="state", t=t, id="", state=state, reason=reason, wall_utc=self.wall(t))
            )

    def pause_command(self, pending: list[Event], j: int) -> None:
        if not self.paused_by_command:
            self.paused_by_command = True
            if self.state == "active":
                self.set(pending, j, "paused", "paused by command")

    def resume_command(self, pending: list[Event], j: int) -> None:
        if self.paused_by_command:
            self.paused_by_command = False
            if self.state == "paused" and not self.paused_by_gap:
                self.set(pending, j, "active", "resumed by command")

    def span(self, j: IntArray, t: FloatArray, treated_ok: BoolArray, pending: list[Event]) -> BoolArray:
        """Pauses from ``treated`` gaps (and commands) over one span; returns its active mask."""
        ok = treated_ok
        n = ok.shape[0]
        if not self.paused_by_command and self.state != "paused" and ok.all():
            # The usual step: no gap, no pause, so no change (what the general case below gives).
            self._gap_start = None
            self.paused_by_gap = False
            return np.ones(n, dtype=bool)
        idx = np.arange(n)
        last_ok = np.maximum.accumulate(np.where(ok, idx, -1))
        carried = self._gap_start if self._gap_start is not None else t[0]
        gap_start = np.where(last_ok >= 0, t[np.minimum(last_ok + 1, n - 1)], carried)
        gap_pause = ~ok & (t - gap_start >= self.pause_after_s - _EPS)
        self._gap_start = None if ok[-1] else float(gap_start[-1])
        paused = gap_pause | self.paused_by_command
        prev = self.state == "paused"
        change = np.flatnonzero(np.diff(np.concatenate(([prev], paused))) != 0)
        for i in change.tolist():
            if paused[i]:
                reason = "treated sensor silent" if gap_pause[i] else "paused by command"
                self.set(pending, int(j[i]), "paused", reason)
            else:
                self.set(pending, int(j[i]), "active", "treated sensor back")
        self.paused_by_gap = bool(gap_pause[-1])
        active: BoolArray = ~paused
        return active
