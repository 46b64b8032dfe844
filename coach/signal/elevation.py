"""Forearm elevation and the elevated check (docs/design.md §5).

θ is the angle of the forearm x axis above the horizontal (positive: hand higher than elbow). The
wrist's height over the heart is ``h = elbow_to_heart_m + forearm_length_m · sin θ``; the forearm is
*elevated* when ``h ≥ elevation_margin_m``. The judgement is crisp; cues add their own debounce.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from coach.samples import FloatArray
from coach.trace.meta import Body

#: docs/design.md §5 default: the wrist at least 5 cm above the heart.
DEFAULT_ELEVATION_MARGIN_M = 0.05


def elevation_deg(up_seg: FloatArray) -> FloatArray:
    """θ from the earth's up direction expressed in the segment frame ``(n, 3)``: ``asin(up_x)``."""
    # np.clip(x, -1.0, 1.0)'s numbers (NaN kept, the sign of a zero too: the bounds are not zero) without
    # its dispatch, which costs more than the arithmetic on a live step's point or two.
    return np.degrees(np.arcsin(np.minimum(np.maximum(up_seg[..., 0], -1.0), 1.0)))


def wrist_height_m(elevation_deg: FloatArray, body: Body) -> FloatArray:
    """Height of the wrist over the heart (m)."""
    return body.elbow_to_heart_m + body.forearm_length_m * np.sin(np.radians(elevation_deg))


def is_elevated(
    elevation_deg: FloatArray, body: Body, margin_m: float = DEFAULT_ELEVATION_MARGIN_M
) -> npt.NDArray[np.bool_]:
    """The crisp elevated check ``h ≥ margin`` (False where θ is NaN; mask those separately)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(wrist_height_m(elevation_deg, body) >= margin_m)


def threshold_elevation_deg(body: Body, margin_m: float = DEFAULT_ELEVATION_MARGIN_M) -> float:
    """The elevation at which the check flips (NaN-free: clipped to ±90°)."""
    s = (margin_m - body.elbow_to_heart_m) / body.forearm_length_m
    return float(np.degrees(np.arcsin(np.clip(s, -1.0, 1.0))))
