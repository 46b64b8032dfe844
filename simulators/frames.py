"""Segment frames, rotation helpers and the ground-truth angle definitions of docs/design.md §5.

Frames (see docs/simulator.md, "Coordinate systems"):

- earth frame: x, y horizontal, z up (gravity is ``(0, 0, -g)``); the heading is arbitrary;
- segment frames (forearm ``F``, hand ``H``, massaging hand ``M``): x distal along the long axis, z dorsal,
  y = z × x (so +y points radially on a right arm and ulnarly on a left arm);
- sensor frames: the device axes; a mounting rotation ``M_seg_from_sensor`` maps sensor-frame vectors
  into the segment frame.

Rotations are :class:`scipy.spatial.transform.Rotation` objects that map vectors from the named
*child* frame into the *parent* frame (``R_earth_from_forearm.apply(v_forearm) -> v_earth``).
scipy stores quaternions as ``[x, y, z, w]``; the project boundary is ``[w, x, y, z]``: convert only
with :func:`quat_wxyz` / :func:`rotation_from_wxyz`.

Truth definitions (exactly docs/design.md §5):

- elevation θ = angle of the forearm x-axis above the horizontal: ``asin(x_F · e_z)``;
- wrist angles: the hand's rotation relative to the forearm, taken against the ``still`` pose,
  ``W = (R_F⁻¹ R_H)_still⁻¹ · (R_F⁻¹ R_H)``, split as intrinsic Y-then-Z angles
  ``W ≈ R_y(a) · R_z(b)``; flexion = a (+ = palmar on either arm), deviation = s·b with s = +1 on a right
  arm and −1 on a left arm (+ = radial on either arm);
- forearm roll: rotation about the forearm x-axis away from "segment y horizontal", i.e. the X angle of
  the intrinsic Z-Y-X (heading, pitch, roll) decomposition of ``R_earth_from_forearm``, minus its value
  in the ``still`` pose, times s (+ = supination on either arm).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from coach.samples import FloatArray
from coach.units import GRAVITY_MPS2  # the simulated earth has this field everywhere
from simulators import quat

#: Gravity vector in the earth frame (z up).
GRAVITY_EARTH_MPS2 = np.array([0.0, 0.0, -GRAVITY_MPS2])


def arm_sign(arm: str) -> float:
    """+1 on a right arm, −1 on a left arm: the sign that makes deviation and roll anatomical."""
    if arm == "right":
        return 1.0
    if arm == "left":
        return -1.0
    raise ValueError(f"arm must be 'left' or 'right', not {arm!r}")


def quat_wxyz(rot: Rotation) -> FloatArray:
    """Scalar-first quaternion(s) ``[w, x, y, z]`` of a rotation (the project's boundary order)."""
    q = np.asarray(rot.as_quat(), dtype=np.float64)
    return np.roll(q, 1, axis=-1)


def rotation_from_wxyz(q_wxyz: FloatArray | list[float]) -> Rotation:
    """Inverse of :func:`quat_wxyz`."""
    q = np.asarray(q_wxyz, dtype=np.float64)
    return Rotation.from_quat(np.roll(q, -1, axis=-1))


def forearm_rotation(
    heading_rad: FloatArray, elevation_rad: FloatArray, roll_rad: FloatArray, arm: str
) -> Rotation:
    """``R_earth_from_forearm`` from heading, elevation (+ = hand up) and anatomical roll (+ = supination).

    Roll 0 with any elevation is the palm-down pose: segment y horizontal, z as close to up as the
    elevation allows.
    """
    s = arm_sign(arm)
    angles = np.column_stack(
        [
            np.broadcast_to(heading_rad, np.shape(elevation_rad)),
            -np.asarray(elevation_rad),
            s * np.asarray(roll_rad),
        ]
    )
    return Rotation.from_euler("ZYX", angles)


def forearm_quat(
    heading_rad: FloatArray, elevation_rad: FloatArray, roll_rad: FloatArray, arm: str
) -> FloatArray:
    """:func:`forearm_rotation` as ``[w, x, y, z]`` quaternions, computed fast (:mod:`simulators.quat`)."""
    s = arm_sign(arm)
    return quat.mul(
        quat.mul(quat.axis_angle(2, heading_rad), quat.axis_angle(1, -np.asarray(elevation_rad))),
        quat.axis_angle(0, s * np.asarray(roll_rad)),
    )


def wrist_quat(flexion_rad: FloatArray, deviation_rad: FloatArray, arm: str) -> FloatArray:
    """:func:`wrist_rotation` as ``[w, x, y, z]`` quaternions, computed fast."""
    return quat.mul(
        quat.axis_angle(1, flexion_rad), quat.axis_angle(2, arm_sign(arm) * np.asarray(deviation_rad))
    )


def wrist_rotation(flexion_rad: FloatArray, deviation_rad: FloatArray, arm: str) -> Rotation:
    """``R_forearm_from_hand`` for anatomical flexion (+ palmar) and deviation (+ radial): R_y(a)·R_z(s·b)."""
    s = arm_sign(arm)
    angles = np.column_stack([np.asarray(flexion_rad, dtype=np.float64), s * np.asarray(deviation_rad)])
    return Rotation.from_euler("YZ", angles)


def wrist_angles(hand_in_forearm: Rotation, arm: str) -> tuple[FloatArray, FloatArray]:
    """Flexion (+ palmar) and deviation (+ radial), radians, of a hand-relative-to-forearm rotation.

    The intrinsic Y-then-Z split of docs/design.md §5; the remaining twist about x is ignored.
    """
    angles = np.atleast_2d(hand_in_forearm.as_euler("YZX"))
    return angles[:, 0], arm_sign(arm) * angles[:, 1]


def elevation_rad(r_earth_from_forearm: Rotation) -> FloatArray:
    """Angle of the segment x-axis above the horizontal (radians)."""
    x_earth = np.atleast_2d(r_earth_from_forearm.apply([1.0, 0.0, 0.0]))
    return np.asarray(np.arcsin(np.clip(x_earth[:, 2], -1.0, 1.0)))


def roll_rad(r_earth_from_forearm: Rotation, arm: str) -> FloatArray:
    """Anatomical roll (+ = supination) of the forearm away from "segment y horizontal", radians."""
    zyx = np.atleast_2d(r_earth_from_forearm.as_euler("ZYX"))
    return np.asarray(arm_sign(arm) * zyx[:, 2])


def wrap_rad(angle: FloatArray) -> FloatArray:
    """Wrap angles into [−π, π)."""
    return np.asarray((np.asarray(angle) + np.pi) % (2.0 * np.pi) - np.pi)


def min_jerk(u: FloatArray) -> FloatArray:
    """Minimum-jerk position profile 0→1 on u ∈ [0, 1] (clipped outside): 10u³ − 15u⁴ + 6u⁵."""
    u = np.clip(u, 0.0, 1.0)
    return np.asarray(u**3 * (10.0 + u * (-15.0 + 6.0 * u)))


def min_jerk_rate(u: FloatArray) -> FloatArray:
    """d/du of :func:`min_jerk` (0 outside [0, 1])."""
    inside = (u > 0.0) & (u < 1.0)
    uc = np.clip(u, 0.0, 1.0)
    return np.where(inside, 30.0 * uc**2 * (1.0 - uc) ** 2, 0.0)


def bump(u: FloatArray) -> FloatArray:
    """Out-and-back profile 0→1→0 on u ∈ [0, 1], zero velocity and acceleration at both ends: 64u³(1−u)³."""
    uc = np.clip(u, 0.0, 1.0)
    return np.asarray(64.0 * uc**3 * (1.0 - uc) ** 3)
