"""The drift rate of the relative heading δ, seen directly while the wrist and the forearm are still.

The joint constraint (:mod:`coach.signal.wrist`) sees δ only through the forearm's elevation; with the
forearm near horizontal it is blind and δ coasts on its estimated rate, which on cheap gyros whose bias
drifts with temperature is often wrong (docs/signal.md, issue 9). But while nothing moves at the wrist,
the wrist's reading must not change either: with δ held at a fixed value δ_ref, the reading
``W = R_F⁻¹ · R_z(δ_ref) · R_H`` at a block's first and last wrist samples changes only by the drift of
δ over the block, a turn about the vertical seen in the forearm frame (``u``, the forearm's up vector):
``W_0 · W_1⁻¹ = R_u(Δδ)``. So a block in which the forearm hardly turned (:data:`ARM_STILL_DEG`) and the
reading's change has no part across ``u`` (:data:`WRIST_STILL_DEG`: no flexion, no deviation unless
about the vertical) gives an observation of δ's rate, ``Δδ / Δt``, whatever the elevation. A wrist
that moves about the vertical itself is the one motion that looks like drift; the tracker weighs each
observation by :data:`RATE_SIGMA_RPS` and drops it when it disagrees with its own rate by more than
:data:`GATE_SIGMAS` standard deviations (:meth:`coach.signal.wrist.HeadingOffsetTracker.observe_rate`).

Per block only its first and last wrist samples are kept (any split of the decision points into spans,
and the live path's one point at a time, give the same pair), and the observation is worked out at the
block's end.
"""

from __future__ import annotations

import math

import numpy as np

from coach.samples import FloatArray
from coach.signal import quaternion as quat

#: The forearm turned less than this between the block's first and last wrist samples...
ARM_STILL_DEG = 2.0
#: ...and the wrist reading's change across the vertical is below this.
WRIST_STILL_DEG = 0.5
#: The block's first and last wrist samples at least this far apart.
MIN_SPAN_S = 0.5
#: Standard deviation of one block's rate observation (rad/s).
RATE_SIGMA_RPS = math.radians(0.25)
#: Observations further than this many standard deviations of the innovation from the tracker's rate
#: are dropped (a wrist that moved about the vertical).
GATE_SIGMAS = 3.0
E_Z = np.array([0.0, 0.0, 1.0])


def rotation_vector(q: FloatArray) -> FloatArray:
    """Rotation vector (rad) of one unit quaternion ``[w, x, y, z]``."""
    w = float(q[0])
    v = np.asarray(q[1:], dtype=np.float64)
    if w < 0.0:
        w, v = -w, -v
    n = float(np.linalg.norm(v))
    if n < 1e-12:
        return np.zeros(3)
    return v * (2.0 * math.atan2(n, w) / n)


class StillWristRate:
    """One block's first and last wrist samples, and the rate of δ they show when nothing moved."""

    def __init__(self) -> None:
        self._block = -1
        self._first: tuple[float, FloatArray, FloatArray, float] | None = None
        self._last: tuple[float, FloatArray, FloatArray] | None = None

    def add(self, block: int, t_s: FloatArray, q_f: FloatArray, q_h: FloatArray, delta: FloatArray) -> None:
        """Fold rows of one block (the wrist seen, δ finite): segment quaternions in each device's earth
        frame and the δ the estimator used there."""
        if block != self._block:
            self._block, self._first, self._last = block, None, None
        if t_s.shape[0] == 0:
            return
        if self._first is None:
            self._first = (float(t_s[0]), q_f[0], q_h[0], float(delta[0]))
        self._last = (float(t_s[-1]), q_f[-1], q_h[-1])

    def take(self, block: int) -> float | None:
        """The rate of δ (rad/s) block ``block`` shows, or None (not still, too short, not seen)."""
        first, last, mine = self._first, self._last, self._block == block
        self._block, self._first, self._last = block + 1, None, None
        if first is None or last is None or not mine:
            return None
        t0, qf0, qh0, d_ref = first
        t1, qf1, qh1 = last
        if t1 - t0 < MIN_SPAN_S:
            return None
        turn_f = rotation_vector(quat.multiply(qf1, quat.conjugate(qf0)))
        if float(np.linalg.norm(turn_f)) > math.radians(ARM_STILL_DEG):
            return None
        z = quat.about_z(d_ref)
        w0 = quat.multiply(quat.conjugate(qf0), quat.multiply(z, qh0))
        w1 = quat.multiply(quat.conjugate(qf1), quat.multiply(z, qh1))
        v = rotation_vector(quat.multiply(w0, quat.conjugate(w1)))
        up = quat.rotate_inverse(qf1, E_Z)
        along = float(v @ up)
        if float(np.linalg.norm(v - along * up)) > math.radians(WRIST_STILL_DEG):
            return None
        return along / (t1 - t0)
