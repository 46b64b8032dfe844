"""How a :class:`~coach.pipeline.SessionPipeline` runs: :class:`PipelineConfig`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from calibration.profiles import ProfileStore
from coach.errors import ValidationError
from coach.signal.strokes.api import DetectorFactory

MOUNTINGS: Final = ("meta", "auto", "nominal")


@dataclass(slots=True)
class PipelineConfig:
    """How a :class:`SessionPipeline` runs. ``None`` means: from ``meta``, else the default.

    Attributes:
        posture_hz: rate of the regular ``posture`` events (docs/design.md §7; default 1).
        mounting: ``meta`` | ``auto`` | ``nominal``; ``None``: ``meta`` when the trace has calibration
            times, else ``auto``.
        elevation_margin_m, wrist_flexion_deg, wrist_deviation_deg: posture limits
            (``meta.thresholds``, else 0.05 m, 15°, 10°).
        cadence_min_spm, cadence_max_spm: cadence range for the ``faster`` / ``slower`` cues
            (``meta.cadence_spm`` ``{"min_spm", "max_spm"}``, else 8 and 40 strokes/min, the range of
            docs/design.md §6).
        target_duration_s: session target for the time cues (``meta.target_duration_s``, else none).
        state_events: emit ``state`` events (calibrating → active ⇄ paused → finished).
        cues: emit ``cue`` events.
        stroke_detector: ``"default"`` (``coach.signal.strokes.create_detector``), a factory, or
            ``None`` for no stroke detection.
        profiles: a calibration-profile store: replaces a missing ``rotate`` step with a saved long
            axis and saves new ones (live sessions; replays leave it ``None``).
        decision_hz: lowest rate of the decision grid.
        max_gap_s: samples further apart than this are a gap (no interpolation across it).
        pause_after_s: a ``treated`` gap longer than this pauses the session.
        reset_gap_s: a gap longer than this restarts the orientation filter (bias and heading kept).
        cue_hold_s, cue_repeat_s: cue debounce (docs/design.md §5: 1 s and 10 s).
    """

    posture_hz: float = 1.0
    mounting: str | None = None
    elevation_margin_m: float | None = None
    wrist_flexion_deg: float | None = None
    wrist_deviation_deg: float | None = None
    cadence_min_spm: float | None = None
    cadence_max_spm: float | None = None
    target_duration_s: float | None = None
    state_events: bool = True
    cues: bool = True
    stroke_detector: str | DetectorFactory | None = "default"
    profiles: ProfileStore | None = None
    decision_hz: float = 50.0
    max_gap_s: float = 0.25
    pause_after_s: float = 1.0
    reset_gap_s: float = 0.3
    cue_hold_s: float = 1.0
    cue_repeat_s: float = 10.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.posture_hz) and 0 < self.posture_hz <= 1000):
            raise ValidationError(f"posture_hz must be in (0, 1000], not {self.posture_hz!r}")
        if self.mounting is not None and self.mounting not in MOUNTINGS:
            raise ValidationError(f"mounting must be one of {', '.join(MOUNTINGS)}, not {self.mounting!r}")
        if not 0 < self.max_gap_s < self.pause_after_s:
            raise ValidationError("need 0 < max_gap_s < pause_after_s")
