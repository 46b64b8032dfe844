"""How the treated wrist itself moves during a committed contact (docs/strokes.md, "the movement veto,
sixth round"): the evidence of the veto's *kinematic tails*. A stroke moves the skin of a forearm that
rests on its support; the wrist under it barely travels. An arm fidget, a lift or a reach moves the
whole forearm: the watch accelerates more inside the contact than in the seconds before it and travels
out and back by centimetres. Read by :class:`coach.signal.strokes.movement.ContactContext`."""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from coach.samples import FloatArray
from coach.signal.median import median_1d

#: The kinematic features (appended to the veto's context features; units in the names).
KINEMATIC_FEATURES: Final = (
    "lin_acc_in_vs_near",
    "log_excursion_mm",
    "log_lin_acc_max_in_mps2",
)
#: Frames before the contact's start from which the excursion is integrated (0.5 s).
EXCURSION_LEAD_FRAMES: Final = 5
#: Frames before the contact that say how much the wrist accelerated before it (2 s).
NEAR_FRAMES: Final = 20
_EPS: Final = 1e-3


def _detrended_integral(x: FloatArray, dt_s: float) -> FloatArray:
    """The running integral of ``x`` (rows: frames) less its least-squares straight line per column:
    an out-and-back movement keeps its shape, a constant offset (a sensor's bias, a tilt's gravity
    leak) integrates to a line and goes."""
    y = np.cumsum(x, axis=0) * dt_s
    n = y.shape[0]
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    slope = (t @ y) / float(t @ t)
    out: FloatArray = y - y.mean(axis=0) - t[:, None] * slope[None, :]
    return out


def kinematic_features(cols: dict[str, FloatArray], a: int, b: int, frame_s: float) -> list[float]:
    """:data:`KINEMATIC_FEATURES` of the contact at frames ``[a, b)`` of a veto window ``cols`` (its
    earth-frame gravity-free acceleration ``ex``, ``ey``, ``lz``, m/s², frame means): the log ratio of
    the mean acceleration magnitude inside the contact to its median over the 2 s before (0 without
    frames before), the log of the largest distance (mm) the wrist travels from its mean path over
    the contact from 0.5 s before its start to the decision (acceleration integrated twice, each time
    less a straight line), and the log of the largest acceleration magnitude inside the contact."""
    if not all(k in cols for k in ("ex", "ey", "lz")) or b <= a:
        return [0.0, math.log(0.1), math.log(_EPS)]
    ex = cols["ex"]
    n = ex.shape[0]
    # ``np.nan_to_num(np.stack((ex, ey, lz), axis=1))``: the same C-ordered (n, 3) array, filled in place.
    acc = np.empty((n, 3))
    acc[:, 0], acc[:, 1], acc[:, 2] = ex, cols["ey"], cols["lz"]
    np.nan_to_num(acc, copy=False)
    mag = np.sqrt(np.einsum("ij,ij->i", acc, acc))
    inside = mag[a:b]
    near = mag[max(0, a - NEAR_FRAMES) : a]
    # ``ndarray.mean`` is numpy's pairwise sum over the count: the same number.
    mean_in = float(np.add.reduce(inside)) / inside.shape[0]
    ratio = math.log((mean_in + _EPS) / (median_1d(near) + _EPS)) if near.shape[0] else 0.0
    seg = acc[max(0, a - EXCURSION_LEAD_FRAMES) : n]
    travel = 0.0
    if seg.shape[0] >= 4:
        pos = _detrended_integral(_detrended_integral(seg - seg.mean(axis=0), frame_s), frame_s)
        travel = 1000.0 * float(np.sqrt(np.einsum("ij,ij->i", pos, pos)).max())
    return [ratio, math.log(travel + 0.1), math.log(float(np.maximum.reduce(inside)) + _EPS)]


__all__ = ["KINEMATIC_FEATURES", "kinematic_features"]
