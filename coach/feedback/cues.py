"""Debounced coaching cues (docs/design.md §5: a state must hold ≥ 1 s before a cue, a cue repeats at most
every 10 s, and cues stay quiet during calibration).

The pipeline hands each span's condition arrays (one value per decision point) to :class:`CueEngine`,
which returns ``(t_s, code)`` pairs. Conditions are judged crisply upstream; the debounce here is the
hysteresis: a condition must hold for ``hold_s`` without a break before its cue, and while it keeps
holding the cue comes again every ``repeat_s``. Outside the active state (calibrating, paused) every
condition counts as false, so no cue fires and a run restarts afterwards.

Cue codes are stable snake_case ids; their words (plain English for the patient: the ``message`` of a
``cue`` event, what the therapist and the logs read) are :data:`coach.cue_texts.PIPELINE_CUES`. The
person hears and reads them in the session's language through the catalogue (:mod:`coach.cue_texts`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from coach.samples import FloatArray

BoolArray = npt.NDArray[np.bool_]

#: Time cues: code → seconds before the target duration.
TIME_CUES: tuple[tuple[str, float], ...] = (
    ("five_minutes_left", 300.0),
    ("one_minute_left", 60.0),
    ("session_complete", 0.0),
)


@dataclass(slots=True)
class HeldCue:
    """A condition cue: fires once the condition held ``hold_s``, then every ``repeat_s`` while it holds."""

    code: str
    hold_s: float
    repeat_s: float
    run_start_s: float | None = None
    last_cue_s: float = -math.inf

    def step(self, t_s: FloatArray, cond: BoolArray, dt_s: float) -> list[float]:
        """Cue times within the decision points ``t_s`` (uniform, spacing ``dt_s``)."""
        n = t_s.shape[0]
        if n == 0:
            return []
        if not cond.any():  # the usual live step: no run, so none carried on (as the loop below ends)
            self.run_start_s = None
            return []
        out: list[float] = []
        edges = np.diff(np.concatenate(([0], cond.astype(np.int8), [0])))
        starts = np.flatnonzero(edges == 1)
        ends = np.flatnonzero(edges == -1)  # exclusive
        carried, self.run_start_s = self.run_start_s, None
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            run_start = carried if (a == 0 and carried is not None) else float(t_s[a])
            last_t = float(t_s[b - 1])
            due = max(run_start + self.hold_s, self.last_cue_s + self.repeat_s)
            while due <= last_t + 1e-9:
                idx = a + max(0, math.ceil((due - float(t_s[a])) / dt_s - 1e-6))
                if idx >= b:
                    break
                t_cue = float(t_s[idx])
                out.append(t_cue)
                self.last_cue_s = t_cue
                due = t_cue + self.repeat_s
            if b == n:
                self.run_start_s = run_start
        return out


@dataclass(slots=True)
class CueEngine:
    """All cues of a session (see the module docstring)."""

    hold_s: float = 1.0
    repeat_s: float = 10.0
    held: dict[str, HeldCue] = field(default_factory=dict)
    last_stroke_cue_s: float = -math.inf
    time_cues_done: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for code in ("raise_hand", "straighten_wrist", "slower", "faster"):
            self.held[code] = HeldCue(code, self.hold_s, self.repeat_s)

    def conditions(
        self, t_s: FloatArray, dt_s: float, conds: dict[str, BoolArray]
    ) -> list[tuple[float, str]]:
        """Cues from per-decision-point conditions (``raise_hand``, ``straighten_wrist``, ``slower``,
        ``faster``); each array is already false outside the active state."""
        out: list[tuple[float, str]] = []
        for code, cond in conds.items():
            out.extend((t, code) for t in self.held[code].step(t_s, cond, dt_s))
        return out

    def distal_stroke(self, t_s: float) -> list[tuple[float, str]]:
        """A distal stroke was reported at ``t_s``: cue unless one was given in the last ``repeat_s``."""
        if t_s - self.last_stroke_cue_s < self.repeat_s - 1e-9:
            return []
        self.last_stroke_cue_s = t_s
        return [(t_s, "stroke_toward_elbow")]

    def time_left(
        self, t_s: FloatArray, elapsed_s: FloatArray, target_s: float | None
    ) -> list[tuple[float, str]]:
        """Time cues where the active elapsed time first reaches ``target − lead``; once each."""
        if target_s is None or t_s.shape[0] == 0:
            return []
        out: list[tuple[float, str]] = []
        for code, lead in TIME_CUES:
            if code in self.time_cues_done or (lead > 0 and target_s - lead <= 0):
                continue
            hit = np.flatnonzero(elapsed_s >= target_s - lead - 1e-9)
            if hit.size:
                out.append((float(t_s[hit[0]]), code))
                self.time_cues_done.add(code)
        return out

    def target_changed(self) -> None:
        """A new target duration: time cues may come again."""
        self.time_cues_done.clear()
