"""Stroke detection (docs/strokes.md): the pipeline's slot and the default detector.

- :mod:`~coach.signal.strokes.api`: the slot: what the pipeline gives a detector and expects back.
- :mod:`~coach.signal.strokes.detector`: the default detector, :func:`create_detector`, built from
  :mod:`~coach.signal.strokes.frames`, :mod:`~coach.signal.strokes.segments`,
  :mod:`~coach.signal.strokes.segmenter`, :mod:`~coach.signal.strokes.direction` and
  :mod:`~coach.signal.strokes.mlp`.
- ``model.json``: the trained parameters with their provenance (:mod:`~coach.signal.strokes.trained`).
"""

from coach.signal.strokes.detector import (
    ContactRecord,
    DetectorModel,
    StrokeDetector,
    create_detector,
    default_model,
)

__all__ = ["ContactRecord", "DetectorModel", "StrokeDetector", "create_detector", "default_model"]
