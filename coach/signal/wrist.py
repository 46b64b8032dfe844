"""Wrist angles from a forearm and a hand sensor, and the heading drift between them.

Angles (docs/design.md §5). The hand's rotation relative to the forearm, ``R_w = R_F⁻¹ · R_H`` (segment
frames, the hand frame made to coincide with the forearm frame in the ``still`` pose), is split as
intrinsic Y-then-Z, ``R_w = R_y(β) · R_z(γ)``:

- flexion/extension β about the forearm y axis, **positive = palmar flexion** on either arm (a
  positive turn about +y takes the fingers (+x) toward the palm (−z));
- radial/ulnar deviation γ about the hand's z axis, reported **positive = radial** on either arm:
  +y is the radial side only on a right arm, so a left arm flips the sign.

Heading drift. Two 6-axis sensors each have their own earth frame, equal up to a rotation δ about
the vertical that drifts as gyro bias errors integrate. ``R_F⁻¹ · R_z(δ) · R_H`` is the relative
rotation; δ is found at the ``still`` pose (the two long axes point the same way) and then tracked
with the wrist's two-degree-of-freedom joint constraint, as in the magnetometer-free two-IMU
literature (Laidig, Weygers, Seel: "Self-calibrating magnetometer-free inertial motion tracking of
2-DoF joints", Sensors 2022, 22(24):9850): with ``R_w = R_y(β) R_z(γ)`` the flexion axis (forearm y)
and the deviation axis (hand z) are always perpendicular, so ``(R_F e_y) · R_z(δ) (R_H e_z) = 0``.
Each sample gives one equation ``A cos δ + B sin δ + C = 0``; :class:`HeadingOffsetTracker` folds
them, one second at a time, into a small Kalman filter on (δ, dδ/dt). The constraint sees δ through
the forearm's elevation (the residual of a heading error grows with sin θ), so it is strongest with
the hand raised (the therapy's position) and blind with the forearm horizontal; then δ coasts on its
estimated drift rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from coach.samples import FloatArray
from coach.signal import quaternion as quat
from coach.signal.roll import arm_sign

#: docs/design.md §5 defaults; a therapist may change them.
DEFAULT_FLEXION_LIMIT_DEG = 15.0
DEFAULT_DEVIATION_LIMIT_DEG = 10.0


def wrist_angles_deg(q_forearm: FloatArray, q_hand: FloatArray, arm: str) -> tuple[FloatArray, FloatArray]:
    """Flexion (+palmar) and deviation (+radial) in degrees from segment quaternions in one earth frame."""
    # The four entries of quat.to_matrix(q) the angles use, by the same formulas (the same numbers).
    q = quat.normalize(quat.multiply(quat.conjugate(q_forearm), q_hand))
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    flexion = np.degrees(np.arctan2(2 * (x * z + w * y), 1 - 2 * (x * x + y * y)))  # r[0, 2], r[2, 2]
    deviation = np.degrees(np.arctan2(2 * (x * y + w * z), 1 - 2 * (x * x + z * z)))  # r[1, 0], r[1, 1]
    return flexion, arm_sign(arm) * deviation


def is_neutral(
    flexion_deg: FloatArray,
    deviation_deg: FloatArray,
    flexion_limit_deg: float = DEFAULT_FLEXION_LIMIT_DEG,
    deviation_limit_deg: float = DEFAULT_DEVIATION_LIMIT_DEG,
) -> np.ndarray:
    """|flexion| ≤ limit and |deviation| ≤ limit (False where NaN; mask those separately)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(
            (np.abs(flexion_deg) <= flexion_limit_deg) & (np.abs(deviation_deg) <= deviation_limit_deg)
        )


def neutral_whatever_the_turn(
    flexion_deg: FloatArray,
    deviation_deg: FloatArray,
    flexion_limit_deg: float = DEFAULT_FLEXION_LIMIT_DEG,
    deviation_limit_deg: float = DEFAULT_DEVIATION_LIMIT_DEG,
) -> np.ndarray:
    """Where the wrist is neutral even if both segment frames carry an unknown common turn α about the
    forearm's long axis (both straps turned at once, :mod:`coach.signal.strap`).

    ``R_x(−α) R_y(β) R_z(γ) R_x(α)`` turns the rotation vector ``(0, β, γ)`` by α about x, so the angles
    read (flexion, deviation) are the true ones turned by α in their plane (to first order; the sign
    of deviation per arm does not matter here): their magnitude ``r`` is known, their direction not.
    The wrist is neutral for every α when ``r`` ≤ the smaller limit (the circle inside the limits' box).
    The converse (``r`` beyond the box's corner: not neutral for any α) is not given: after such a turn
    a large reading came as often from the frames' other errors as from the wrist (docs/signal.md,
    issue 9, fourth session). False where NaN."""
    r = np.hypot(flexion_deg, deviation_deg)
    with np.errstate(invalid="ignore"):
        return np.asarray(r <= min(flexion_limit_deg, deviation_limit_deg))


def heading_offset_to_align(x_forearm_earth: FloatArray, x_hand_earth: FloatArray) -> float:
    """δ that turns the hand's long axis onto the forearm's heading (mean over the rows given)."""
    a = np.arctan2(x_forearm_earth[:, 1], x_forearm_earth[:, 0])
    b = np.arctan2(x_hand_earth[:, 1], x_hand_earth[:, 0])
    d = a - b
    return float(np.arctan2(np.mean(np.sin(d)), np.mean(np.cos(d))))


#: :attr:`HeadingOffsetTracker.twist_sigma` and ``twist_tau_s`` of new trackers (0: no twist offset).
#: Alone (second session) 1.5° raised the wrist-neutral agreement within 2 min after strap turns on the
#: ``sensors`` family's tune seeds 15000–15039 (``./run bench mounting -- --split tune --count 40
#: --families sensors --strap-only``) but lost on the report seeds: with the offset taking the residual,
#: δ coasted on a stale rate. With the drift rate observed while the wrist is still
#: (:mod:`coach.signal.heading_rate`, sixth session) it is on: tune 0.964 -> 0.980 (3°: 0.980, whole
#: sessions 0.993 against 0.990 with 3°; docs/signal.md, "Strap turns, sixth session").
TWIST_SIGMA_RAD = math.radians(1.5)
TWIST_TAU_S = 60.0
#: Columns of :func:`constraint_terms` (and the side of the moment matrices the tracker takes).
CONSTRAINT_TERMS = 4


def constraint_terms(j1_earth: FloatArray, j2_earth: FloatArray) -> FloatArray:
    """Per-sample ``(A, B, C, 1)`` of the joint constraint ``A cos δ + B sin δ + C (+ b) = 0``.

    ``j1_earth`` is the forearm y axis in the forearm's earth frame, ``j2_earth`` the hand z axis in
    the hand's earth frame; ``R_z(δ)`` maps the hand's earth frame onto the forearm's. The trailing 1
    carries the constant residual ``b`` of a twist offset (:class:`HeadingOffsetTracker`) into the
    moments ``Σ v vᵀ`` (their last row is ``Σ v``, their corner the count).
    """
    p1, p2, p3 = j1_earth[:, 0], j1_earth[:, 1], j1_earth[:, 2]
    q1, q2, q3 = j2_earth[:, 0], j2_earth[:, 1], j2_earth[:, 2]
    return np.stack((p1 * q1 + p2 * q2, p2 * q1 - p1 * q2, p3 * q3, np.ones_like(p1)), axis=1)


@dataclass(slots=True)
class HeadingOffsetTracker:
    """Kalman filter on the relative heading δ (rad) and its drift rate (rad/s).

    Feed it the constraint moments ``Σ v vᵀ`` (``v = (A, B, C)``) of consecutive blocks of
    ``block_s`` seconds with :meth:`update`; read δ at any time with :meth:`offset_at`.

    Attributes:
        residual_sigma: standard deviation of one sample's constraint residual (soft tissue, a wrist
            that is not a perfect universal joint); a sin of an angle, so 0.05 ≈ 3°.
        samples_per_block_cap: information of one block is capped at this many samples' worth, so that
            correlated samples (the posture grid oversamples slow motion) do not make it overconfident.
        rate_noise: random-walk intensity of the drift rate (rad/s per √s).
        twist_sigma: standard deviation of a slowly varying **twist offset** ``b`` of the constraint
            (rad; 0 = not modelled): a device's inclination error about the forearm's long axis (a
            cheap gyro's temperature drift that VQF's bias estimate has not caught up with), or a strap
            turn undone a few degrees off, leaves the constraint a constant residual. At a steady
            elevation θ it reads exactly like a heading error (residual ≈ δ_err · sin θ), so without
            this state a 4° offset at θ = 20° pulled δ ~12° off (deviation off by 20–30°); with it,
            the residual is shared between δ and ``b`` by their priors, and told apart when θ changes.
        twist_tau_s: correlation time of ``b`` (a first-order Gauss-Markov process).
    """

    delta_rad: float
    rate_rps: float = 0.0
    t_s: float = 0.0
    p_dd: float = math.radians(2.0) ** 2
    p_dr: float = 0.0
    p_rr: float = math.radians(0.3) ** 2
    residual_sigma: float = 0.05
    samples_per_block_cap: float = 10.0
    rate_noise: float = math.radians(0.01)
    angle_noise: float = math.radians(0.02)
    twist_sigma: float = field(default_factory=lambda: TWIST_SIGMA_RAD)
    twist_tau_s: float = field(default_factory=lambda: TWIST_TAU_S)
    twist_rad: float = 0.0
    p_bb: float = -1.0  # < 0: the prior (twist_sigma²) at the first update
    p_db: float = 0.0
    p_rb: float = 0.0

    def offset_at(self, t_s: FloatArray) -> FloatArray:
        """δ predicted at times ``t_s`` (at or after the last update)."""
        return self.delta_rad + self.rate_rps * (np.asarray(t_s, dtype=np.float64) - self.t_s)

    def update(self, t_s: float, moments: FloatArray, n_samples: int) -> None:
        """Predict to ``t_s`` (the end of a block) and fold in that block's constraint moments
        (``Σ v vᵀ`` of :func:`constraint_terms` rows; the 3×3 of ``(A, B, C)`` alone without a twist
        offset)."""
        if self.twist_sigma > 0.0 and np.shape(moments)[0] == CONSTRAINT_TERMS:
            self._update_with_twist(t_s, np.asarray(moments, dtype=np.float64), n_samples)
            return
        moments = np.asarray(moments, dtype=np.float64)[:3, :3]
        dt = t_s - self.t_s
        if dt > 0:
            # Constant-rate prediction with a random walk on the rate and a little on the angle.
            q = self.rate_noise**2
            self.delta_rad += self.rate_rps * dt
            self.p_dd += 2 * dt * self.p_dr + dt * dt * self.p_rr + q * dt**3 / 3 + self.angle_noise**2 * dt
            self.p_dr += dt * self.p_rr + q * dt**2 / 2
            self.p_rr += q * dt
            self.t_s = t_s
        if n_samples <= 0:
            return
        scale = min(1.0, self.samples_per_block_cap / n_samples) / self.residual_sigma**2
        m = np.asarray(moments, dtype=np.float64) * scale
        # Gauss-Newton on δ with the prior; the rate follows through the covariance.
        det = self.p_dd * self.p_rr - self.p_dr**2
        info_dd, info_dr, info_rr = self.p_rr / det, -self.p_dr / det, self.p_dd / det
        d0, r0 = self.delta_rad, self.rate_rps
        d, r = d0, r0
        for _ in range(3):
            c, s = math.cos(d), math.sin(d)
            res_sum, hh = _residual_moments(m, c, s)
            # Normal equations of: prior (d - d0, r - r0) + data (on d only).
            g_d = info_dd * (d - d0) + info_dr * (r - r0) + res_sum
            g_r = info_dr * (d - d0) + info_rr * (r - r0)
            h_dd = info_dd + hh
            h_det = h_dd * info_rr - info_dr**2
            step_d = (info_rr * g_d - info_dr * g_r) / h_det
            step_r = (-info_dr * g_d + h_dd * g_r) / h_det
            d -= step_d
            r -= step_r
            if abs(step_d) < 1e-9:
                break
        c, s = math.cos(d), math.sin(d)
        _res, hh = _residual_moments(m, c, s)
        h_dd = info_dd + hh
        h_det = h_dd * info_rr - info_dr**2
        self.p_dd, self.p_dr, self.p_rr = info_rr / h_det, -info_dr / h_det, h_dd / h_det
        self.delta_rad = math.atan2(math.sin(d), math.cos(d))
        self.rate_rps = r

    def observe_rate(self, rate_rps: float, sigma_rps: float, gate_sigmas: float) -> bool:
        """Fold in an observation of the drift rate at the last update's time (standard deviation
        ``sigma_rps``; :mod:`coach.signal.heading_rate`). Dropped, returning False, when it is further
        than ``gate_sigmas`` standard deviations of the innovation from the tracker's own rate."""
        s = self.p_rr + sigma_rps**2
        y = rate_rps - self.rate_rps
        if y * y > gate_sigmas**2 * s:
            return False
        # Kalman update with H = (0, 1, 0) on (δ, rate, b): K = P Hᵀ / s, P -= P Hᵀ H P / s.
        g_d, g_r, g_b = self.p_dr, self.p_rr, self.p_rb
        d = self.delta_rad + g_d / s * y
        self.delta_rad = math.atan2(math.sin(d), math.cos(d))
        self.rate_rps += g_r / s * y
        self.p_dd -= g_d * g_d / s
        self.p_dr -= g_d * g_r / s
        self.p_rr -= g_r * g_r / s
        if self.twist_sigma > 0.0 and self.p_bb >= 0.0:
            self.twist_rad += g_b / s * y
            self.p_db -= g_d * g_b / s
            self.p_rb -= g_r * g_b / s
            self.p_bb -= g_b * g_b / s
        return True

    def _update_with_twist(self, t_s: float, moments: FloatArray, n_samples: int) -> None:
        """:meth:`update` with the twist offset ``b`` as a third state (δ, rate, b)."""
        if self.p_bb < 0.0:
            self.p_bb = self.twist_sigma**2
        p = np.array(
            [
                [self.p_dd, self.p_dr, self.p_db],
                [self.p_dr, self.p_rr, self.p_rb],
                [self.p_db, self.p_rb, self.p_bb],
            ]
        )
        dt = t_s - self.t_s
        if dt > 0:
            q = self.rate_noise**2
            phi = math.exp(-dt / self.twist_tau_s)
            f = np.array([[1.0, dt, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, phi]])
            qm = np.array(
                [
                    [q * dt**3 / 3 + self.angle_noise**2 * dt, q * dt**2 / 2, 0.0],
                    [q * dt**2 / 2, q * dt, 0.0],
                    [0.0, 0.0, self.twist_sigma**2 * (1.0 - phi * phi)],
                ]
            )
            self.delta_rad += self.rate_rps * dt
            self.twist_rad *= phi
            p = f @ p @ f.T + qm
            self.t_s = t_s
        if n_samples > 0:
            scale = min(1.0, self.samples_per_block_cap / n_samples) / self.residual_sigma**2
            m = moments * scale
            info = np.linalg.inv(p)
            x0 = np.array([self.delta_rad, self.rate_rps, self.twist_rad])
            x = x0.copy()
            for _ in range(3):
                c, s = math.cos(x[0]), math.sin(x[0])
                u = np.array([c, s, 1.0, x[2]])
                jac = np.array([[-s, c, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])  # ∂u/∂x
                g = info @ (x - x0) + jac @ (m @ u)
                h = info + jac @ m @ jac.T
                step = np.linalg.solve(h, g)
                x -= step
                if abs(step[0]) < 1e-9 and abs(step[2]) < 1e-9:
                    break
            c, s = math.cos(x[0]), math.sin(x[0])
            jac = np.array([[-s, c, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
            p = np.linalg.inv(info + jac @ m @ jac.T)
            p = 0.5 * (p + p.T)
            self.delta_rad = math.atan2(math.sin(x[0]), math.cos(x[0]))
            self.rate_rps, self.twist_rad = float(x[1]), float(x[2])
        self.p_dd, self.p_dr, self.p_db = float(p[0, 0]), float(p[0, 1]), float(p[0, 2])
        self.p_rr, self.p_rb, self.p_bb = float(p[1, 1]), float(p[1, 2]), float(p[2, 2])


def _residual_moments(m: FloatArray, c: float, s: float) -> tuple[float, float]:
    """``Σ r·∂r/∂δ`` and ``Σ (∂r/∂δ)²`` at δ = atan2(s, c) from the moments ``m = Σ v vᵀ``."""
    u = np.array([c, s, 1.0])  # r = v · u
    du = np.array([-s, c, 0.0])  # ∂r/∂δ = v · du
    return float(du @ m @ u), float(du @ m @ du)
