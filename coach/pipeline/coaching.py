"""What the person hears about their strokes and posture over a span: stroke and cadence events, cues.

Each decided stroke becomes a ``stroke`` event and, when the live cadence of docs/design.md §5 is known, a
``cadence`` event; while the session is active, a distal stroke brings the ``stroke_toward_elbow`` cue
only when the recent strokes were confidently distal (:class:`DistalRun`: telling someone who strokes
correctly to stroke the other way does harm, so a single uncertain stroke never does it).
Per decision point, the posture and the cadence in force decide the held cues (``raise_hand``,
``straighten_wrist``, ``slower``, ``faster``), and the active time the time cues (docs/design.md §5 debounce:
:class:`coach.feedback.cues.CueEngine`). Everything counted goes to the summary.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

from coach.cue_texts import PIPELINE_CUES
from coach.events import CadenceEvent, CueEvent, Event, StrokeEvent
from coach.feedback.cues import CueEngine
from coach.pipeline.commands import Targets
from coach.samples import FloatArray
from coach.signal.cadence import BOUT_GAP_S, live_cadence_spm, live_cadence_trusted
from coach.signal.posture import PostureFrame
from coach.signal.strokes.api import Stroke
from coach.summary import SummaryBuilder

BoolArray = npt.NDArray[np.bool_]
_EPS: Final = 1e-9
#: The stroke that brings the cue must be at least this surely distal (the detector's P(distal)).
#: Chosen on the tune seeds (``python -m benchmarks.cue_gate``: the gate with cue precision ≥ 0.95 that
#: cues the most truly distal bouts; docs/strokes.md).
CUE_MIN_P_DISTAL: Final = 0.95
#: ... and of the last :data:`CUE_RECENT` strokes of the bout (it included), :data:`CUE_MIN_DISTAL` must
#: be distal with P(distal) ≥ :data:`CUE_RECENT_P_DISTAL`.
CUE_RECENT: Final = 3
CUE_MIN_DISTAL: Final = 2
CUE_RECENT_P_DISTAL: Final = 0.6


class DistalRun:
    """Whether the recent strokes of the bout were confidently distal (the ``stroke_toward_elbow`` gate).

    A stroke without a P(distal) (a detector that does not give one) counts with its direction alone.
    """

    def __init__(self) -> None:
        self._recent: list[tuple[float, float]] = []  # (start, P(distal)) of the bout's last strokes

    def add(self, s: Stroke) -> bool:
        """Record a stroke; True when it should bring the cue."""
        p = s.p_distal if s.p_distal is not None else (1.0 if s.direction == "distal" else 0.0)
        if s.direction != "distal":
            p = min(p, 0.5)
        if self._recent and s.t_start_s - self._recent[-1][0] >= BOUT_GAP_S:
            self._recent = []
        self._recent = [*self._recent, (s.t_start_s, p)][-CUE_RECENT:]
        sure = sum(1 for _, q in self._recent if q >= CUE_RECENT_P_DISTAL)
        return s.direction == "distal" and p >= CUE_MIN_P_DISTAL and sure >= CUE_MIN_DISTAL


class Coaching:
    """Stroke, cadence and cue events of the spans, with the state carried between spans."""

    def __init__(
        self,
        targets: Targets,
        summary: SummaryBuilder,
        dt_s: float,
        decision_hz: float,
        cues_on: bool,
        cue_hold_s: float,
        cue_repeat_s: float,
    ) -> None:
        self.targets = targets
        self.summary = summary
        self.dt_s = dt_s
        self.decision_hz = decision_hz
        self.cues_on = cues_on
        self.cues = CueEngine(cue_hold_s, cue_repeat_s)
        self._recent_starts: list[float] = []
        self._last_stroke_start = -math.inf
        self._cadence_value = math.nan
        # (decided, start, live cadence: None when none, NaN when not trusted)
        self._span_strokes: list[tuple[float, float, float | None]] = []
        self._elapsed_active_s = 0.0
        self._distal_run = DistalRun()

    def strokes(self, strokes: list[Stroke], active: BoolArray, t: FloatArray, pending: list[Event]) -> None:
        """The span's strokes (in decision order), with the distal-stroke cue where the session is active."""
        for s in sorted(strokes, key=lambda s: (s.decided_s, s.t_start_s)):
            self.stroke(s, pending)
            if self._distal_run.add(s) and self.cues_on:
                i = min(max(0, math.floor((s.decided_s - t[0]) * self.decision_hz + 1e-6)), len(t) - 1)
                if active[i]:
                    for tc, code in self.cues.distal_stroke(s.decided_s):
                        self._cue(tc, code, pending)

    def stroke(self, s: Stroke, pending: list[Event]) -> None:
        """One stroke event, then the live cadence it brings."""
        direction = s.direction if s.direction in ("proximal", "distal", "unknown") else "unknown"
        event = StrokeEvent(
            type="stroke",
            t=s.decided_s,
            id="",
            t_start=round(s.t_start_s, 4),
            t_end=round(s.t_end_s, 4),
            direction=direction,
            confidence=round(min(1.0, max(0.0, float(s.confidence))), 3),
            sensor=s.sensor,
        )
        if s.region is not None:
            event["region"] = s.region
        pending.append(event)
        self.summary.add_stroke(s.t_start_s, direction)
        self._recent_starts = [x for x in self._recent_starts if x > s.decided_s - 60.0] + [s.t_start_s]
        spm = live_cadence_spm(self._recent_starts, s.decided_s)
        if spm is not None:
            # The cadence confidence gate: without a rhythm in the window the value is said but not
            # trusted, and no ``slower``/``faster`` cue stands on it.
            trusted = live_cadence_trusted(self._recent_starts, s.decided_s)
            pending.append(
                CadenceEvent(
                    type="cadence", t=s.decided_s, id="", strokes_per_min=round(spm, 2), trusted=trusted
                )
            )
            if not trusted:
                spm = math.nan
        self._span_strokes.append((s.decided_s, s.t_start_s, spm))

    def span(self, t: FloatArray, frame: PostureFrame, active: BoolArray, pending: list[Event]) -> None:
        """The held and time cues of a span (or, with cues off, only the cadence bookkeeping)."""
        if not self.cues_on:
            self._cadence_track(t)
            return
        conds: dict[str, BoolArray] = {
            "raise_hand": active & frame.treated_ok & ~frame.elevated,
            "straighten_wrist": active & frame.hand_ok & ~frame.neutral,
        }
        value, last_start = self._cadence_track(t)
        # Cadence holds from its event until the next, and lapses when stroking stops for a bout gap.
        fresh = t - last_start < BOUT_GAP_S
        lo, hi = self.targets.cadence_min_spm, self.targets.cadence_max_spm
        # (comparisons with NaN, "no cadence", are False and raise no floating-point warning)
        too_fast = value > (hi if hi is not None else np.inf)
        too_slow = value < (lo if lo is not None else -np.inf)
        conds["slower"] = active & fresh & too_fast
        conds["faster"] = active & fresh & too_slow
        cues = self.cues.conditions(t, self.dt_s, conds)
        elapsed: FloatArray = self._elapsed_active_s + np.cumsum(active).astype(np.float64) * self.dt_s
        self._elapsed_active_s = float(elapsed[-1])
        cues += self.cues.time_left(t, elapsed, self.targets.target_duration_s)
        for tc, code in cues:
            self._cue(tc, code, pending)

    def mounting_warning(self, t_s: float, code: str, pending: list[Event]) -> None:
        """Say a mounting problem (:mod:`calibration.plausibility`) as a cue."""
        self._cue(t_s, code, pending)

    def recalibration_cue(self, t_s: float, code: str, pending: list[Event]) -> None:
        """Ask for the still pose again after an ambiguous strap turn, or thank for it
        (:mod:`coach.signal.recalibration`): said with cues off too, as the mounting checks are (the
        wrist check waits for it)."""
        self._cue(t_s, code, pending)

    def _cue(self, t_s: float, code: str, pending: list[Event]) -> None:
        pending.append(CueEvent(type="cue", t=t_s, id="", code=code, message=PIPELINE_CUES[code]))
        self.summary.add_cue(code)

    def _cadence_track(self, t: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Per decision point: the live cadence in force (NaN: none) and the latest stroke start known
        by then; folds this span's strokes into the carried values."""
        value = np.full(t.shape[0], self._cadence_value)
        last_start = np.full(t.shape[0], self._last_stroke_start)
        for decided, start, spm in sorted(self._span_strokes):
            after = t >= decided - _EPS
            last_start = np.where(after, np.maximum(last_start, start), last_start)
            if spm is not None:
                value = np.where(after, spm, value)
            self._last_stroke_start = max(self._last_stroke_start, start)
            if spm is not None:
                self._cadence_value = spm
        self._span_strokes.clear()
        return value, last_start
