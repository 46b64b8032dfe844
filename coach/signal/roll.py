"""Forearm roll (pronation/supination) about the forearm x axis, against the ``still`` pose.

The roll angle of the forearm is where gravity lies around its long axis: ``φ = atan2(up_y, up_z)``
with ``up`` the earth's up direction in the forearm segment frame (0 when the dorsal z axis is up,
palm down). It needs no heading, so it does not drift. Reported against the ``still`` pose and signed
so that **positive = supination on either arm** (docs/design.md §5): on a right forearm (+y radial,
thumb side) supination turns +y upward, a positive rotation about +x; on a left forearm it is the
opposite. See docs/coordinate_systems.md for the sign table.

Near a vertical forearm (|θ| → 90°) the roll is undefined; callers report it only while
``|θ| <= MAX_ROLL_ELEVATION_DEG``.
"""

from __future__ import annotations

import numpy as np

from coach.samples import FloatArray

#: Above this elevation (either sign) gravity barely constrains the roll: report null.
MAX_ROLL_ELEVATION_DEG = 80.0


def arm_sign(arm: str) -> float:
    """+1 for a right arm, -1 for a left arm: the sign that turns +y/+x rotations into anatomical ones."""
    return 1.0 if arm == "right" else -1.0


def raw_roll_deg(up_seg: FloatArray) -> FloatArray:
    """φ = atan2(up_y, up_z) in degrees, in the segment frame's own sense (positive about +x)."""
    return np.degrees(np.arctan2(up_seg[..., 1], up_seg[..., 2]))


def wrap_deg(angle_deg: FloatArray) -> FloatArray:
    """Wrap angles to (-180, 180]."""
    return 180.0 - np.mod(180.0 - angle_deg, 360.0)


def supination_deg(up_seg: FloatArray, reference_deg: float, arm: str) -> FloatArray:
    """Forearm roll against the reference (the ``still`` pose), positive = supination."""
    return arm_sign(arm) * wrap_deg(raw_roll_deg(up_seg) - reference_deg)
