"""The window statistics the movement veto (:mod:`~coach.signal.strokes.movement`) reads of a committed
contact: maxima, ranges, means and deviations of parts of the frames around it, for one window at a time
or for many windows at once with the same numbers bit for bit (numpy's summation order across the
windows, :func:`~coach.signal.strokes.window_ops.row_sums`)."""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from coach.samples import FloatArray
from coach.signal.strokes import window_ops
from coach.signal.strokes.segments import IntArray

#: Frames before a contact's start that the veto reads (6 s; the history keeps 7.7 s).
BEFORE_FRAMES: Final = 60
#: Frames just before a contact (2 s): the approach.
NEAR_FRAMES: Final = 20


def stat(x: FloatArray, fn: str, empty: float, clean: bool = False) -> float:
    """``fn`` ("max", "std", "range" or "mean") of the finite values of ``x`` (``empty`` when there are
    none); ``clean``: ``x`` is known to be all finite. The same numbers as ``ndarray.max``/``std``/
    ``mean`` (numpy's pairwise sums over the count), without their generality."""
    v = x if clean else x[np.isfinite(x)]
    n: int = v.shape[0]
    if n == 0:
        return empty
    if fn == "max":
        return float(np.maximum.reduce(v))
    if fn == "range":
        return float(np.maximum.reduce(v) - np.minimum.reduce(v))
    m = float(np.add.reduce(v)) / n
    if fn == "std":
        d = v - m
        np.multiply(d, d, out=d)
        return math.sqrt(float(np.add.reduce(d)) / n)
    return m


#: The window statistics the veto reads: (name, column, part of the window, reduction, value when the
#: part is empty or the column absent). Parts (frames of the window, clipped to it): ``before`` and
#: ``near`` the :data:`BEFORE_FRAMES` and :data:`NEAR_FRAMES` before the contact, ``inside`` the
#: contact, ``after`` from its end, ``long`` the whole window, ``from_a`` from the contact's start,
#: ``near_b`` from ``near``'s start to the contact's end.
WINDOW_STATS: Final = (
    ("gm_max_before", "gm", "before", "max", -7.0),
    ("gm_max_near", "gm", "near", "max", -7.0),
    ("gm_max_in", "gm", "inside", "max", -7.0),
    ("gm_max_after", "gm", "after", "max", -7.0),
    ("gm_mean_long", "gm", "long", "mean", -7.0),
    ("gm_mean_in", "gm", "inside", "mean", -7.0),
    ("lfr_max_near", "lfr", "near", "max", 0.0),
    ("lfr_mean_long", "lfr", "long", "mean", 0.0),
    ("lfr_max_after", "lfr", "after", "max", 0.0),
    ("hfr_mean_in", "hfr", "inside", "mean", 0.0),
    ("hfr_mean_near", "hfr", "near", "mean", 0.0),
    ("hfr_mean_long", "hfr", "long", "mean", 0.0),
    ("el_mean_in", "el", "inside", "mean", 0.0),
    ("el_mean_long", "el", "long", "mean", 0.0),
    ("el_std_long", "el", "long", "std", 0.0),
    ("el_range_near_b", "el", "near_b", "range", 0.0),
    ("ex_std_long", "ex", "long", "std", 0.0),
    ("ey_std_long", "ey", "long", "std", 0.0),
    ("lz_std_long", "lz", "long", "std", 0.0),
    ("wx_std_long", "wx", "long", "std", 0.0),
    ("wy_std_long", "wy", "long", "std", 0.0),
    ("wz_std_long", "wz", "long", "std", 0.0),
    ("ex_std_from_a", "ex", "from_a", "std", 0.0),
    ("ey_std_from_a", "ey", "from_a", "std", 0.0),
    ("lz_std_from_a", "lz", "from_a", "std", 0.0),
    ("lx_std_from_a", "lx", "from_a", "std", 0.0),
    ("frame_ok_mean_long", "frame_ok", "long", "mean", 0.0),
    ("s_gm_max_in", "s_gm", "inside", "max", -7.0),
    ("s_gm_mean_long", "s_gm", "long", "mean", -7.0),
    ("s_gm_mean_in", "s_gm", "inside", "mean", -7.0),
    ("s_gm_mean_near", "s_gm", "near", "mean", math.nan),  # empty: the mean inside (see window_features)
)


def _part(part: str, a: IntArray, b: IntArray, n: IntArray) -> tuple[IntArray, IntArray]:
    """Frames ``[f0, f1)`` of a part of each window (clipped to it; ``f1 <= f0``: empty)."""
    f0, f1 = {
        "before": (a - BEFORE_FRAMES, a),
        "near": (a - NEAR_FRAMES, a),
        "inside": (a, b),
        "after": (b, n),
        "long": (np.zeros_like(n), n),
        "from_a": (a, n),
        "near_b": (a - NEAR_FRAMES, b),
    }[part]
    return np.maximum(f0, 0), np.minimum(f1, n)


def scalar_stats(c: dict[str, FloatArray], a: int, b: int, clean: set[str]) -> dict[str, float]:
    """:data:`WINDOW_STATS` of one window ``c`` (any values; ``clean``: its all-finite columns)."""
    n = int(c["gm"].shape[0]) if "gm" in c else 0
    parts = {
        "before": (a - BEFORE_FRAMES, a),
        "near": (a - NEAR_FRAMES, a),
        "inside": (a, b),
        "after": (b, n),
        "long": (0, n),
        "from_a": (a, n),
        "near_b": (a - NEAR_FRAMES, b),
    }
    out: dict[str, float] = {}
    for name, col, part, fn, empty in WINDOW_STATS:
        f0, f1 = parts[part]
        f0, f1 = max(0, f0), min(n, f1)
        x = c[col][f0:f1] if col in c and f1 > f0 else np.empty(0)
        out[name] = stat(x, fn, empty, col in clean)
    return out


def clean_stats(
    cols: dict[str, FloatArray], lo: IntArray, n: IntArray, a: IntArray, b: IntArray
) -> list[dict[str, float]]:
    """:data:`WINDOW_STATS` of windows ``[lo, lo + n)`` of the columns ``cols`` (contacts at ``[a, b)``
    of their windows), every value of which is finite: the same numbers as :func:`scalar_stats`, all
    windows and statistics in a few numpy calls. Means and deviations are numpy's pairwise sums
    (:func:`~coach.signal.strokes.window_ops.row_sums`) over the count, a maximum or range is exact in
    any order."""
    m = lo.shape[0]
    specs = [s for s in WINDOW_STATS if s[1] in cols]  # never empty: the callers need ``gm``
    names = sorted({s[1] for s in specs})
    offset = dict(zip(names, np.cumsum([0] + [cols[k].shape[0] for k in names]).tolist(), strict=False))
    src = np.concatenate([cols[k] for k in names]) if names else np.zeros(1)
    parts = {p: _part(p, a, b, n) for p in {s[2] for s in specs}}
    start = (
        np.concatenate([lo + parts[s[2]][0] + offset[s[1]] for s in specs])
        if specs
        else np.zeros(0, np.int64)
    )
    length = (
        np.concatenate([np.maximum(parts[s[2]][1] - parts[s[2]][0], 0) for s in specs]) if specs else start
    )
    width = int(length.max(initial=0)) + 8
    pos = np.arange(width)
    valid = pos < length[:, None]
    raw = src[np.minimum(start[:, None] + pos, src.shape[0] - 1)]
    fns = np.repeat(np.array([s[3] for s in specs]), m)
    values = np.zeros(start.shape[0])
    summed = np.flatnonzero((fns == "mean") | (fns == "std"))
    if summed.size:
        v = np.where(valid[summed], raw[summed], 0.0)
        cnt = length[summed]
        mean = window_ops.row_sums(v, cnt) / np.maximum(cnt, 1)
        values[summed] = mean
        dev = np.flatnonzero(fns[summed] == "std")
        if dev.size:
            d = np.where(valid[summed[dev]], v[dev] - mean[dev, None], 0.0)
            np.multiply(d, d, out=d)
            values[summed[dev]] = np.sqrt(window_ops.row_sums(d, cnt[dev]) / np.maximum(cnt[dev], 1))
    top = np.flatnonzero((fns == "max") | (fns == "range"))
    if top.size:
        values[top] = np.maximum.reduce(np.where(valid[top], raw[top], -np.inf), axis=1)
        rng = np.flatnonzero(fns[top] == "range")
        if rng.size:
            low = np.minimum.reduce(np.where(valid[top[rng]], raw[top[rng]], np.inf), axis=1)
            values[top[rng]] = values[top[rng]] - low
    empty = np.repeat(np.array([s[4] for s in specs], dtype=np.float64), m)
    values = np.where(length > 0, values, empty).reshape(len(specs), m)
    table = values.T.tolist()
    absent = {s[0]: s[4] for s in WINDOW_STATS if s[1] not in cols}
    return [{**dict(zip((s[0] for s in specs), row, strict=True)), **absent} for row in table]
