"""Posture at one decision point with a wrist sensor: a live step's usual call, in Python floats.

:meth:`PostureEstimator._compute_with_hand <coach.signal.posture.PostureEstimator>` works on a span's
points as arrays; a live step has one point, where each of its ~60 numpy calls on a row costs more
than its arithmetic. :func:`compute_point` gives the same :class:`~coach.signal.posture.PostureFrame`:
the quaternion algebra (products, rotations, the joint constraint's terms, the norm) as the same IEEE
operations in the same order in Python floats (a sum of four squares left to right, as numpy sums a
row of four); every transcendental function (``arcsin``, ``arctan2``, ``sin``, ``cos``, ``mod``) still
through numpy's own, on a few values at once, so live and replay agree on any machine. The heading
tracker and the strap-turn watcher are the estimator's own methods, called as the array way calls them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from coach.samples import FloatArray
from coach.signal.roles import Interpolated
from coach.signal.roll import MAX_ROLL_ELEVATION_DEG, arm_sign

if TYPE_CHECKING:
    from coach.signal.posture import PostureEstimator, PostureFrame, Thresholds

Quat = tuple[float, float, float, float]
Vec = tuple[float, float, float]


def _mul(p: Quat | list[float], q: Quat | list[float]) -> Quat:
    """``quat.multiply`` of one row each (its formula, term for term)."""
    pw, px, py, pz = p
    qw, qx, qy, qz = q
    return (
        pw * qw - px * qx - py * qy - pz * qz,
        pw * qx + px * qw + py * qz - pz * qy,
        pw * qy - px * qz + py * qw + pz * qx,
        pw * qz + px * qy - py * qx + pz * qw,
    )


def _rot(q: Quat, v: Vec) -> Vec:
    """``quat.rotate`` of one row (its formula, term for term)."""
    w, x, y, z = q
    vx, vy, vz = v
    tx = 2.0 * (y * vz - z * vy)
    ty = 2.0 * (z * vx - x * vz)
    tz = 2.0 * (x * vy - y * vx)
    return (vx + w * tx + (y * tz - z * ty), vy + w * ty + (z * tx - x * tz), vz + w * tz + (x * ty - y * tx))


def _conj(q: Quat) -> Quat:
    """``quat.conjugate``: the vector part times -1.0 (as numpy does it: a NaN keeps its sign bit)."""
    return (q[0], q[1] * -1.0, q[2] * -1.0, q[3] * -1.0)


_E_Y: Vec = (0.0, 1.0, 0.0)
_E_Z: Vec = (0.0, 0.0, 1.0)


def compute_point(
    est: PostureEstimator,
    j: npt.NDArray[np.int64],
    t_s: FloatArray,
    tr: Interpolated,
    hd: Interpolated,
    thresholds: Thresholds,
) -> PostureFrame:
    """``est._compute_with_hand(j, t_s, tr, hd, thresholds)`` for one point, the estimator's hand mounting
    set and no ambiguous strap turn in force (the caller checks both)."""
    from coach.signal.posture import PostureFrame

    s = est.setup
    hand_mount = est.hand_mount_q
    assert hand_mount is not None and j.shape[0] == 1 and not est.wrist_uncertain
    qf = _mul(tr.quat[0].tolist(), est.treated_mount_q.tolist())
    hand_ok = hd.valid & tr.valid
    ok_now = bool(hand_ok[0])
    if ok_now or est._tracker is not None:
        qh = _mul(hd.quat[0].tolist(), hand_mount.tolist())
        p1, p2, p3 = _rot(qf, _E_Y)
        q1, q2, q3 = _rot(qh, _E_Z)
        terms = np.array([[p1 * q1 + p2 * q2, p2 * q1 - p1 * q2, p3 * q3, 1.0]])
        qf_a, qh_a = np.array([qf]), np.array([qh])
        ok = hand_ok  # updated in place, as the array way's view of it
        d = est._heading_offsets(j, t_s, qf_a, qh_a, ok, terms)
        ok &= np.isfinite(d)
        if s.heading_offset_rad is not None:
            est._watch_strap(j, t_s, qf_a, qh_a, d, ok)
        est._fold_block()
        if est.recalibration is not None:  # an ambiguous turn found at this block's end
            est._watch_recalibration(j, t_s, tr.quat, hd.quat, ok)
        ok_now = bool(ok[0])
        delta = float(d[0])
    else:
        hand_ok[0] = False
        ok_now = False
    ux, uy, uz = _rot(_conj(qf), _E_Z)
    up_x = ux if ux != ux else (-1.0 if ux < -1.0 else (1.0 if ux > 1.0 else ux))
    if ok_now:
        # δ (finite where the wrist is seen) aligns the hand's heading: about_z(δ) ⊗ q_h, then the wrist's
        # rotation conj(q_f) ⊗ that, normalised; flexion and deviation from its matrix entries.
        half = np.array([0.5 * delta])
        c, sn = float(np.cos(half)[0]), float(np.sin(half)[0])
        r = _mul(_conj(qf), _mul((c, sn * 0.0, sn * 0.0, sn * 1.0), qh))
        w, x, y, z = r
        norm = math.sqrt(((w * w + x * x) + y * y) + z * z)
        w, x, y, z = w / norm, x / norm, y / norm, z / norm
        num = np.array([uy, 2 * (x * z + w * y), 2 * (x * y + w * z)])
        den = np.array([uz, 1 - 2 * (x * x + y * y), 1 - 2 * (x * x + z * z)])
        ang = np.degrees(np.arctan2(num, den)).tolist()
        raw_roll = ang[0]
        flex, dev = ang[1], arm_sign(s.arm) * ang[2]
        neutral = abs(flex) <= thresholds.wrist_flexion_deg and abs(dev) <= thresholds.wrist_deviation_deg
    else:
        raw_roll = float(np.degrees(np.arctan2(np.array([uy]), np.array([uz])))[0])
        flex = dev = math.nan
        neutral = False
    elev = np.degrees(np.arcsin(np.array([up_x])))
    wrapped = 180.0 - np.mod(180.0 - np.array([raw_roll - s.roll_reference_deg]), 360.0)
    roll = arm_sign(s.arm) * wrapped
    if not abs(float(elev[0])) <= MAX_ROLL_ELEVATION_DEG:
        roll[0] = math.nan
    body = s.body
    height = body.elbow_to_heart_m + body.forearm_length_m * np.sin(np.radians(elev))
    elevated = tr.valid & (height >= thresholds.elevation_margin_m)
    return PostureFrame(
        t_s,
        tr.valid,
        hand_ok,
        elev,
        roll,
        np.array([flex]),
        np.array([dev]),
        elevated,
        np.array([neutral and ok_now]),
    )
