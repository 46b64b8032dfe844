"""From decisions to events: the order of events that share a time, their ids, posture events.

Stages of the pipeline append events to a *pending* list as they decide them (``t`` the exact decision
time, ``id`` still empty). :meth:`Emitter.flush` sorts them by time to the microsecond (state changes
first, cues last among equal times), rounds ``t`` to the microsecond, never lets it go back, and gives
ids in that order: so ids are the same on every replay of the same trace.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from coach.events import Event, EventIds, PostureEvent, assign_id
from coach.signal.posture import PostureFrame
from coach.signal.resample import IntArray

#: Spans of at most this many points (a live step) are worked in Python floats and ints: fewer calls.
SMALL_SPAN: Final = 8

#: Order of events that share a time: state changes first, cues last.
PRIORITY: Final = {"state": 0, "posture": 1, "stroke": 2, "cadence": 3, "cue": 4, "summary": 5}


class Emitter:
    """Ids and the ``t`` of the last event sent (``t`` never decreases along the stream)."""

    def __init__(self) -> None:
        self.ids = EventIds()
        self.last_t = -math.inf

    def flush(self, pending: list[Event]) -> list[Event]:
        """The pending events in stream order, with their final ``t`` and ids."""
        # By t to the microsecond (the t the events get), then type: a stroke decided a rounding error
        # before a decision point still sorts after that point's posture event, so a live step's
        # posture events can go out before its strokes are known (SessionPipeline.complete).
        pending.sort(key=lambda e: (round(e["t"], 6), PRIORITY[e["type"]]))
        for event in pending:
            t_out = max(round(event["t"], 6), self.last_t)
            self.last_t = t_out
            event["t"] = t_out
            assign_id(self.ids, event)
        return pending


def _num(v: float, digits: int) -> float | None:
    return round(float(v), digits) if math.isfinite(v) else None


def null_posture(t_s: float) -> PostureEvent:
    """A posture event while nothing can be observed (during calibration)."""
    return PostureEvent(
        type="posture",
        t=t_s,
        id="",
        elevated=None,
        elevation_deg=None,
        wrist_neutral=None,
        wrist_flexion_deg=None,
        wrist_deviation_deg=None,
        forearm_roll_deg=None,
    )


class PostureEvents:
    """``posture`` events on the grid ``t = k / posture_hz`` and at once whenever ``elevated`` or
    ``wrist_neutral`` changes (docs/design.md §7)."""

    def __init__(self, posture_every: int, dt_s: float) -> None:
        self.posture_every = posture_every
        self.dt_s = dt_s
        self._prev_flags: tuple[int, int] | None = None

    def _emitted_small(self, j: IntArray, frame: PostureFrame) -> list[int]:
        """The rows of a short span (a live step) that get an event: what the array way finds, in
        Python (each numpy call costs more than the whole span)."""
        pairs_e = zip(frame.treated_ok.tolist(), frame.elevated.tolist(), strict=True)
        pairs_n = zip(frame.hand_ok.tolist(), frame.neutral.tolist(), strict=True)
        elev = [int(e) if ok else -1 for ok, e in pairs_e]
        neut = [int(n) if ok else -1 for ok, n in pairs_n]
        prev_e, prev_n = self._prev_flags if self._prev_flags is not None else (elev[0], neut[0])
        every = self.posture_every
        emitted = []
        for i, jj in enumerate(j.tolist()):
            if elev[i] != prev_e or neut[i] != prev_n or jj % every == 0:
                emitted.append(i)
            prev_e, prev_n = elev[i], neut[i]
        self._prev_flags = (prev_e, prev_n)
        return emitted

    def calibrating(self, j: IntArray, pending: list[Event]) -> None:
        """Grid points while calibrating: every field null."""
        for jj in j[j % self.posture_every == 0].tolist():
            pending.append(null_posture(jj * self.dt_s))
        self._prev_flags = (-1, -1)

    def span(self, j: IntArray, frame: PostureFrame, pending: list[Event]) -> None:
        if len(j) <= SMALL_SPAN:
            emitted = self._emitted_small(j, frame)
        else:
            elev_flag = np.where(frame.treated_ok, frame.elevated.astype(np.int8), -1)
            neut_flag = np.where(frame.hand_ok, frame.neutral.astype(np.int8), -1)
            prev_e, prev_n = (
                self._prev_flags if self._prev_flags is not None else (int(elev_flag[0]), int(neut_flag[0]))
            )
            # np.diff(...) != 0 of small integer flags, without np.diff's dispatch (a few µs, every step)
            e_seq = np.concatenate(([prev_e], elev_flag))
            n_seq = np.concatenate(([prev_n], neut_flag))
            change = (e_seq[1:] != e_seq[:-1]) | (n_seq[1:] != n_seq[:-1])
            emit = change | (j % self.posture_every == 0)
            self._prev_flags = (int(elev_flag[-1]), int(neut_flag[-1]))
            emitted = np.flatnonzero(emit).tolist()
        for i in emitted:
            ok = bool(frame.treated_ok[i])
            hok = bool(frame.hand_ok[i])
            pending.append(
                PostureEvent(
                    type="posture",
                    t=int(j[i]) * self.dt_s,
                    id="",
                    elevated=bool(frame.elevated[i]) if ok else None,
                    elevation_deg=_num(frame.elevation_deg[i], 3) if ok else None,
                    wrist_neutral=bool(frame.neutral[i]) if hok else None,
                    wrist_flexion_deg=_num(frame.flexion_deg[i], 2) if hok else None,
                    wrist_deviation_deg=_num(frame.deviation_deg[i], 2) if hok else None,
                    forearm_roll_deg=_num(frame.roll_deg[i], 2) if ok else None,
                )
            )
