"""Small statistics of one contact's window for the movement veto (:mod:`coach.signal.strokes.movement`):
numpy's own numbers (median, mean, coefficient of variation, correlation, autocorrelation over the
rhythm's lags) by the same steps without numpy's per-call generality, so the veto's per-contact work is
cheap and its results stay bit for bit what the numpy calls give (tests/test_movement_stats.py).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from coach.samples import FloatArray
from coach.signal.strokes.window_stats import stat as _stat

#: Lags (frames) over which a rhythm of strokes shows in the vibration and the turning (0.8–4 s).
RHYTHM_LAGS: Final = (8, 40)


def _finite(x: FloatArray, clean: bool) -> FloatArray:
    """``np.nan_to_num(x)``; ``clean``: ``x`` is known to be all finite (nothing to replace)."""
    if clean:
        return x
    out: FloatArray = np.nan_to_num(x)
    return out


def _median(x: list[float]) -> float:
    """``np.median`` of a non-empty list of floats: the middle value, or the two middle values' sum
    halved; a NaN, or a zero (whose sign could depend on the order), goes to ``np.median``."""
    v = sorted(x)
    k = len(v) // 2
    m = v[k] if len(v) % 2 else (v[k - 1] + v[k]) / 2.0
    if m != m or m == 0.0 or any(e != e for e in v):
        return float(np.median(x))
    return m


def _lmean(x: list[float]) -> float:
    """``np.mean`` of a non-empty list of floats (the same number: :func:`_stat` without the check)."""
    return _stat(np.array(x, dtype=np.float64), "mean", math.nan, clean=True)


def _cv(x: list[float]) -> float:
    """Coefficient of variation (0 for fewer than two values)."""
    if len(x) < 2:
        return 0.0
    v = np.array(x, dtype=np.float64)
    m = _stat(v, "mean", 0.0, clean=True)
    return _stat(v, "std", 0.0, clean=True) / m if m > 1e-9 else 0.0


def _correlation(x: FloatArray, y: FloatArray) -> float:
    """``np.corrcoef(x, y)[0, 1]`` of two 1-D float64 arrays of one length (at least two): the same
    number by numpy's own steps (rows less their means, one ``dot`` of the rows with their transpose,
    times 1 / (n - 1), over each row's deviation, clipped to ±1), without its generality."""
    n: int = x.shape[0]
    rows = np.empty((2, n))
    rows[0], rows[1] = x, y
    rows -= (np.add.reduce(rows, axis=1) / n)[:, None]
    c = np.dot(rows, rows.T)  # the same product as ``np.cov``'s (a matrix times its own transpose)
    inv = 1.0 / (n - 1)
    c01, c00, c11 = float(c[0, 1]) * inv, float(c[0, 0]) * inv, float(c[1, 1]) * inv
    return min(max(c01 / math.sqrt(c00) / math.sqrt(c11), -1.0), 1.0)


def _periodicity(x: FloatArray, clean: bool = False) -> float:
    """The largest autocorrelation of ``x`` (finite frames only) at :data:`RHYTHM_LAGS`: how much a
    rhythm of 0.8–4 s repeats in it (0 when the window is too short); ``clean``: all finite."""
    if clean:  # the same numbers as below: nanmean and nan_to_num change nothing
        v = x - float(np.add.reduce(x)) / x.shape[0] if x.shape[0] else np.zeros(0)
    else:
        v = np.nan_to_num(x - np.nanmean(x)) if np.isfinite(x).any() else np.zeros(0)
    lo, hi = RHYTHM_LAGS
    n = v.shape[0]
    den = float(v @ v)
    if n < 2 * lo or den <= 1e-12:
        return 0.0
    # ndarray.dot: the same dot loop as ``@`` for two vectors, without the matmul ufunc's overhead.
    best = max(float(v[:-k].dot(v[k:])) / den * n / (n - k) for k in range(lo, min(hi, n // 2) + 1))
    return min(max(best, -1.0), 1.0)  # np.clip of a float (NaN stays NaN)
