"""``np.median`` of a 1-D float array without its per-call cost.

``np.median`` imports ``numpy.ma`` for its NaN check on first use (~7 ms, about 1 % of a one-sensor
replay) and costs ~20 µs a call; the cadence estimate and the movement veto call it per bout and per
contact.
"""

from __future__ import annotations

import numpy as np

from coach.samples import FloatArray


def median_1d(x: FloatArray) -> float:
    """``np.median`` of a non-empty 1-D float array, bit for bit: the middle value of the sorted values,
    or the two middle values' sum halved (the same IEEE operations). A NaN, or a zero (whose sign could
    depend on the order), still goes to ``np.median``."""
    v = np.sort(x)
    k = v.shape[0] // 2
    m = float(v[k]) if v.shape[0] % 2 else (float(v[k - 1]) + float(v[k])) / 2.0
    if m != m or m == 0.0 or v[-1] != v[-1]:
        return float(np.median(x))
    return m
