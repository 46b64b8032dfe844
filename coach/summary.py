"""The session summary (docs/design.md §7 ``summary`` event), built here only, and its human table.

:class:`SummaryBuilder` accumulates, per decision point of the active session (after calibration,
not paused), how long the forearm was elevated and the wrist neutral, and collects the strokes; at the
end it builds the ``summary`` fields. Fractions are shares of the active time in which the quantity
was observable (a short sensor gap is neither elevated nor lowered); ``wrist_neutral_fraction`` is
``null`` when the wrist was never observable (no ``hand`` sensor). A live session adds what only it
knows with :func:`session_summary` (the session id, link gaps, the self-report, the screening).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from coach.events import CalibrationSummary, Gap, ScreeningSummary, StrapTurnSummary, SummaryEvent
from coach.signal.cadence import cadence_trusted, estimate_mean_cadence

BoolArray = npt.NDArray[np.bool_]


@dataclass(slots=True)
class SummaryBuilder:
    """Running totals for the summary (see the module docstring)."""

    dt_s: float
    start_s: float | None = None
    active_points: int = 0
    paused_points: int = 0
    elevation_points: int = 0
    elevated_points: int = 0
    wrist_points: int = 0
    neutral_points: int = 0
    strokes: dict[str, int] = field(default_factory=lambda: {"proximal": 0, "distal": 0, "unknown": 0})
    stroke_starts_s: list[float] = field(default_factory=list)
    stroke_directions: list[str] = field(default_factory=list)
    cues: dict[str, int] = field(default_factory=dict)

    def add_span(
        self,
        active: BoolArray,
        treated_ok: BoolArray,
        elevated: BoolArray,
        hand_ok: BoolArray,
        neutral: BoolArray,
    ) -> None:
        self.active_points += int(active.sum())
        self.paused_points += int((~active).sum())
        obs = active & treated_ok
        self.elevation_points += int(obs.sum())
        self.elevated_points += int((obs & elevated).sum())
        wobs = active & hand_ok
        self.wrist_points += int(wobs.sum())
        self.neutral_points += int((wobs & neutral).sum())

    def add_stroke(self, t_start_s: float, direction: str) -> None:
        self.strokes[direction] = self.strokes.get(direction, 0) + 1
        self.stroke_starts_s.append(t_start_s)
        self.stroke_directions.append(direction)

    def add_cue(self, code: str) -> None:
        self.cues[code] = self.cues.get(code, 0) + 1

    def event(
        self, t_s: float, end_s: float, wall_utc: str | None, calibration: CalibrationSummary
    ) -> SummaryEvent:
        """The ``summary`` event at ``t_s`` for a session that ended at ``end_s`` (its ``id`` still empty)."""
        start = self.start_s if self.start_s is not None else end_s
        # The §5 cadence of the strokes made, estimated from those found (docs/strokes.md, "Issue 9:
        # cadence estimate"): strokes the sensors missed in a steady rhythm counted in, splits out.
        estimate = estimate_mean_cadence(self.stroke_starts_s, self.stroke_directions)
        cadence = estimate.spm
        if cadence is not None and not cadence_trusted(estimate):
            # The cadence confidence gate (docs/strokes.md): the found strokes keep no rhythm to count
            # the missed and split ones by, so the summary abstains and says so.
            cadence = None
            calibration = CalibrationSummary(**calibration)
            calibration["checks_off"] = sorted({*calibration["checks_off"], "cadence"})
        return SummaryEvent(
            type="summary",
            t=t_s,
            id="",
            wall_utc=wall_utc,
            duration_s=round(max(0.0, end_s - start), 3),
            strokes_total=sum(self.strokes.values()),
            strokes_proximal=self.strokes.get("proximal", 0),
            strokes_distal=self.strokes.get("distal", 0),
            strokes_unknown=self.strokes.get("unknown", 0),
            mean_cadence_spm=None if cadence is None else round(cadence, 2),
            strokes_in_bouts_counted=estimate.strokes_counted,
            elevated_fraction=_share(self.elevated_points, self.elevation_points),
            wrist_neutral_fraction=_share(self.neutral_points, self.wrist_points),
            calibration=calibration,
            active_s=round(self.active_points * self.dt_s, 3),
            paused_s=round(self.paused_points * self.dt_s, 3),
            cues=dict(sorted(self.cues.items())),
        )


def calibration_summary(
    mounting: str,
    still: tuple[float, float] | None,
    rotate: tuple[float, float] | None,
    checks_off: list[str],
    mounting_warnings: list[str] | None = None,
    strap_turns: list[StrapTurnSummary] | None = None,
) -> CalibrationSummary:
    """The summary's ``calibration`` field: where the mounting came from, the phases (ms), checks off;
    mounting warnings and strap turns only when there are some."""
    out: CalibrationSummary = {
        "mounting": mounting,
        "still": None if still is None else [round(still[0], 3), round(still[1], 3)],
        "rotate": None if rotate is None else [round(rotate[0], 3), round(rotate[1], 3)],
        "checks_off": sorted(set(checks_off)),
    }
    if mounting_warnings:
        out["mounting_warnings"] = sorted(set(mounting_warnings))
    if strap_turns:
        out["strap_turns"] = strap_turns
    return out


#: The fields a live session adds to the pipeline's summary (:func:`session_summary`): a replay of its
#: trace gives every other field of the summary.
SESSION_SUMMARY_FIELDS: frozenset[str] = frozenset(
    {"session", "gaps", "notifications_dropped", "pain_0_10", "swelling_0_10", "screening"}
)


def session_summary(
    summary: SummaryEvent,
    *,
    session: str,
    gaps: list[Gap],
    dropped: Mapping[str, int] | None = None,
    pain_0_10: int | None,
    swelling_0_10: int | None,
    screening: ScreeningSummary | None,
) -> SummaryEvent:
    """A live session's summary: the pipeline's (what a replay of its trace gives), then the session id,
    the sensor link gaps, the notifications per role this computer dropped because it did not read
    them in time, the self-report and the screening outcome."""
    out = SummaryEvent(**summary)
    out["session"] = session
    out["gaps"] = gaps
    out["notifications_dropped"] = dict(sorted((dropped or {}).items()))
    out["pain_0_10"] = pain_0_10
    out["swelling_0_10"] = swelling_0_10
    out["screening"] = screening
    return out


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def format_table(summary: Mapping[str, Any]) -> str:
    """A plain-text table of a summary event for people (``coach replay --summary``)."""

    def pct(v: Any) -> str:
        return "n/a" if v is None else f"{100 * float(v):.1f} %"

    cal = summary.get("calibration") or {}
    rows = [
        ("duration", f"{summary.get('duration_s', 0):.1f} s (active {summary.get('active_s', 0):.1f} s)"),
        (
            "strokes",
            f"{summary.get('strokes_total', 0)} (proximal {summary.get('strokes_proximal', 0)}, "
            f"distal {summary.get('strokes_distal', 0)}, unknown {summary.get('strokes_unknown', 0)})",
        ),
        (
            "mean cadence",
            "n/a"
            if summary.get("mean_cadence_spm") is None
            else f"{summary['mean_cadence_spm']:.1f} strokes/min",
        ),
        ("hand elevated", pct(summary.get("elevated_fraction"))),
        ("wrist neutral", pct(summary.get("wrist_neutral_fraction"))),
        ("mounting", str(cal.get("mounting"))),
        ("still phase", _span(cal.get("still"))),
        ("rotate phase", _span(cal.get("rotate"))),
        ("checks off", ", ".join(cal.get("checks_off") or []) or "none"),
    ]
    if cal.get("mounting_warnings"):
        rows.append(("mounting warnings", ", ".join(cal["mounting_warnings"])))
    if cal.get("strap_turns"):
        turns = ", ".join(f"{s['role']} {s['angle_deg']:+.0f}° at {s['t']:.0f} s" for s in cal["strap_turns"])
        rows.append(("strap turns", turns))
    cues = summary.get("cues") or {}
    if cues:
        rows.append(("cues", ", ".join(f"{k} ×{v}" for k, v in cues.items())))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def _span(v: Any) -> str:
    if not v:
        return "none"
    return f"{float(v[0]):.1f}–{float(v[1]):.1f} s"
