"""Cadence, as defined in docs/design.md §5 (pure functions of stroke start times).

- A *bout* is a run of strokes whose start-to-start gaps are all under 10 s.
- Active stroking time = Σ over bouts of (last start − first start + the bout's median start-to-start
  period); a one-stroke bout counts 0.
- Summary ``mean_cadence_spm`` = 60 · (strokes in bouts of ≥ 2) / active time.
- Live cadence = 60 · (n − 1) / (last start − first start) over the stroke starts in the last 30 s
  (n ≥ 2), sent as a ``cadence`` event after each stroke.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from coach.samples import FloatArray

BOUT_GAP_S = 10.0
LIVE_WINDOW_S = 30.0


def bouts(starts_s: Sequence[float] | FloatArray) -> list[FloatArray]:
    """Split sorted stroke start times into bouts (gaps < :data:`BOUT_GAP_S`)."""
    starts = np.sort(np.asarray(starts_s, dtype=np.float64))
    if starts.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(starts) >= BOUT_GAP_S) + 1
    return list(np.split(starts, cuts))


def active_stroking_s(starts_s: Sequence[float] | FloatArray) -> float:
    """Σ over bouts of (last − first start + median period); one-stroke bouts count 0."""
    total = 0.0
    for bout in bouts(starts_s):
        if bout.size >= 2:
            total += float(bout[-1] - bout[0] + _median(np.diff(bout)))
    return total


def _median(x: FloatArray) -> float:
    """``np.median`` of a non-empty 1-D float array: the middle value of the sorted values, or the two
    middle values' sum halved (the same IEEE operations). ``np.median`` imports ``numpy.ma`` for its
    NaN check (~7 ms, a 1% of a one-sensor replay); a NaN, or a zero (whose sign could depend on the
    order), still goes to ``np.median``."""
    v = np.sort(x)
    k = v.shape[0] // 2
    m = float(v[k]) if v.shape[0] % 2 else (float(v[k - 1]) + float(v[k])) / 2.0
    if m != m or m == 0.0 or v[-1] != v[-1]:
        return float(np.median(x))
    return m


def mean_cadence_spm(starts_s: Sequence[float] | FloatArray) -> float | None:
    """Summary cadence (strokes/min) or ``None`` when no bout has two strokes."""
    active = active_stroking_s(starts_s)
    if active <= 0:
        return None
    in_bouts = sum(int(b.size) for b in bouts(starts_s) if b.size >= 2)
    return 60.0 * in_bouts / active


def live_cadence_spm(starts_s: Sequence[float] | FloatArray, now_s: float) -> float | None:
    """Live cadence at ``now_s`` over the starts in ``(now_s − 30 s, now_s]``; ``None`` if fewer than 2."""
    starts = np.sort(np.asarray(starts_s, dtype=np.float64))
    recent = starts[(starts > now_s - LIVE_WINDOW_S) & (starts <= now_s)]
    if recent.size < 2 or recent[-1] <= recent[0]:
        return None
    return 60.0 * (recent.size - 1) / float(recent[-1] - recent[0])
