"""Vectorised unit-quaternion arithmetic for the simulator's hot path, scalar-first ``[w, x, y, z]``.

Why not :class:`scipy.spatial.transform.Rotation` here: in SciPy 1.17 composing or building
rotations from Euler angles costs 1–3 µs per sample (``Rotation.__mul__``, ``from_euler``), about
50× these few lines of numpy; a 15-minute three-sensor session needs tens of millions of such
operations. SciPy remains the reference: the truth definitions in :mod:`simulators.frames` use it,
and tests check these functions against it. Arrays are ``(n, 4)`` (or ``(4,)``, broadcast).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from coach.samples import FloatArray


def mul(a: FloatArray, b: FloatArray) -> FloatArray:
    """Hamilton product ``a ⊗ b`` (apply ``b`` first, then ``a``)."""
    w1, x1, y1, z1 = np.moveaxis(np.asarray(a), -1, 0)
    w2, x2, y2, z2 = np.moveaxis(np.asarray(b), -1, 0)
    out: FloatArray = np.stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        axis=-1,
    )
    return out


def conj(q: FloatArray) -> FloatArray:
    """Inverse of a unit quaternion."""
    return np.asarray(np.asarray(q) * np.array([1.0, -1.0, -1.0, -1.0]))


def rotate(q: FloatArray, v: FloatArray) -> FloatArray:
    """Rotate vectors ``v`` (n, 3) by ``q``: ``q ⊗ v ⊗ q*``."""
    q = np.asarray(q)
    w = q[..., :1]
    u = q[..., 1:]
    t = 2.0 * np.cross(u, v)
    return np.asarray(v + w * t + np.cross(u, t))


def rotate_inv(q: FloatArray, v: FloatArray) -> FloatArray:
    """Rotate vectors by the inverse of ``q``."""
    return rotate(conj(q), v)


def axis_angle(axis: int, angle_rad: FloatArray | float) -> FloatArray:
    """Elementary rotations about a coordinate axis (0 = x, 1 = y, 2 = z)."""
    half = 0.5 * np.asarray(angle_rad, dtype=np.float64)
    q = np.zeros((*half.shape, 4))
    q[..., 0] = np.cos(half)
    q[..., 1 + axis] = np.sin(half)
    return q


def from_rotvec(rv: FloatArray) -> FloatArray:
    """Quaternions from rotation vectors (axis · angle, radians)."""
    rv = np.asarray(rv, dtype=np.float64)
    angle = np.linalg.norm(rv, axis=-1, keepdims=True)
    half = 0.5 * angle
    # sin(θ/2)/θ with its series near 0.
    small = angle < 1e-6
    scale = np.where(small, 0.5 - angle * angle / 48.0, np.sin(half) / np.where(small, 1.0, angle))
    return np.concatenate([np.cos(half), rv * scale], axis=-1)


def to_rotvec(q: FloatArray) -> FloatArray:
    """Rotation vectors (shortest rotation: the sign of ``q`` does not matter)."""
    q = np.asarray(q, dtype=np.float64)
    q = np.where(q[..., :1] < 0.0, -q, q)
    s = np.linalg.norm(q[..., 1:], axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(s, q[..., :1])
    small = s < 1e-9
    scale = np.where(small, 2.0 / np.where(q[..., :1] == 0, 1.0, q[..., :1]), angle / np.where(small, 1.0, s))
    return np.asarray(q[..., 1:] * scale)


def normalise(q: FloatArray) -> FloatArray:
    return np.asarray(q / np.linalg.norm(q, axis=-1, keepdims=True))


def slerp_toward(a: FloatArray, b: FloatArray, w: FloatArray) -> FloatArray:
    """From ``a`` toward ``b`` by fraction ``w`` (per sample) along the shortest path."""
    delta = to_rotvec(mul(conj(a), b))
    return mul(a, from_rotvec(np.asarray(w)[..., None] * delta))


def to_rotation(q: FloatArray) -> Rotation:
    """SciPy rotation(s) from ``[w, x, y, z]``."""
    return Rotation.from_quat(np.roll(np.asarray(q), -1, axis=-1))


def from_rotation(rot: Rotation) -> FloatArray:
    return np.roll(np.asarray(rot.as_quat(), dtype=np.float64), 1, axis=-1)


def body_rate_rps(q: FloatArray, t_s: FloatArray) -> FloatArray:
    """Angular rate in the body frame by central differences: ``log(q_{k−1}* ⊗ q_{k+1}) / Δt``.

    Second-order accurate; the end samples use one-sided differences.
    """
    n = len(t_s)
    out = np.zeros((n, 3))
    if n < 2:
        return out
    if n > 2:
        out[1:-1] = to_rotvec(mul(conj(q[:-2]), q[2:])) / (t_s[2:] - t_s[:-2])[:, None]
    out[0] = to_rotvec(mul(conj(q[0]), q[1])) / (t_s[1] - t_s[0])
    out[-1] = to_rotvec(mul(conj(q[-2]), q[-1])) / (t_s[-1] - t_s[-2])
    return out
