"""Former home of the stroke-detector slot, now :mod:`coach.signal.strokes.api`.

Kept only so that branches written against the old path keep importing while they are merged; new code
imports :mod:`coach.signal.strokes.api`. Remove once nothing imports it (``grep -r stroke_api``).
"""

from coach.signal.strokes.api import (
    MAX_STROKE_LATENCY_S,
    BoolArray,
    DetectorFactory,
    Direction,
    RoleSignals,
    Stroke,
    StrokeContext,
    StrokeDetector,
    StrokeStep,
)

#: The old string the pipeline loaded the default detector by (``create_detector`` is still there).
DEFAULT_DETECTOR_MODULE = "coach.signal.strokes"

__all__ = [
    "DEFAULT_DETECTOR_MODULE",
    "MAX_STROKE_LATENCY_S",
    "BoolArray",
    "DetectorFactory",
    "Direction",
    "RoleSignals",
    "Stroke",
    "StrokeContext",
    "StrokeDetector",
    "StrokeStep",
]
