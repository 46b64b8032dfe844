"""Continuous-time kinematics of a planned session: segment orientations and sensor positions at any times.

The treated forearm pivots about a supported elbow (earth origin). Its pose is built from heading,
elevation and anatomical roll (:func:`simulators.frames.forearm_rotation`), then small extra rotations
in the forearm frame (the press of each stroke, tremor). The hand hangs on the wrist with flexion and
deviation (:func:`simulators.frames.wrist_rotation`). The massaging hand (``stroker``) rests, approaches,
glides on the limb surface in contact, returns on a lifted arc and withdraws again.

Everything here is a function of time, so each sensor can be sampled on its own clock. Specific force
and angular rate are derived from these poses in :mod:`simulators.motion`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coach.samples import FloatArray
from simulators import quat
from simulators.frames import bump, forearm_quat, min_jerk, wrist_quat
from simulators.limb_response import LimbResponse, stroke_profiles
from simulators.plan import EpisodePlan, SessionPlan
from simulators.processes import Narrowband, SmoothProcess, rng_for
from simulators.scenario import draw
from simulators.variants.body_hooks import VariantBody, sensor_positions

#: Height of the treated sensor's centre over the forearm skin (half the device thickness), m.
DEVICE_HALF_THICKNESS_M = 0.006
#: Hand sensor centre over the hand's long axis (hand half-thickness plus device), m.
HAND_SENSOR_HEIGHT_M = 0.022
#: The stroker sensor on the massaging wrist, in the massaging hand's frame from the palm centre, m.
STROKER_FROM_PALM_M = np.array([-0.085, 0.0, 0.035])

_REST, _APPROACH, _CONTACT, _RETURN, _DWELL, _WITHDRAW = range(6)
SEGMENT_NAMES = ("rest", "approach", "contact", "return", "dwell", "withdraw")


@dataclass(frozen=True)
class ForearmState:
    """The treated forearm at a set of times."""

    rot: FloatArray  # (n, 4) [w, x, y, z] quaternion: R_earth_from_forearm
    elbow_m: FloatArray  # (n, 3) earth
    slide_acc_mps2: FloatArray  # (n,) along forearm x, from strokes' friction
    vibration: FloatArray  # (n, 3) unmixed rubbing vibration (m/s²)
    flexion_rad: FloatArray
    deviation_rad: FloatArray


@dataclass(frozen=True)
class Kinematics:
    """One sensor's segment at a set of times: orientation, sensor position, and accelerations that are
    added directly (in the segment frame) rather than derived from positions."""

    rot: FloatArray  # (n, 4) [w, x, y, z] quaternion: R_earth_from_segment
    pos_m: FloatArray  # (n, 3) earth
    extra_acc_mps2: FloatArray  # (n, 3) segment frame


def _episode_weight(ep: EpisodePlan, t_s: FloatArray) -> FloatArray:
    up = min_jerk((t_s - ep.t_start_s) / ep.ramp_in_s)
    down = 1.0 - min_jerk((t_s - (ep.t_end_s - ep.ramp_out_s)) / ep.ramp_out_s)
    return np.asarray(up * down)


def _cut(intervals: list[tuple[float, float]], lo: float, hi: float) -> list[tuple[float, float]]:
    """``intervals`` with ``[lo, hi]`` removed."""
    out = []
    for a, b in intervals:
        if b <= lo or a >= hi:
            out.append((a, b))
            continue
        if a < lo:
            out.append((a, lo))
        if b > hi:
            out.append((hi, b))
    return out


def _random_mix(rng: np.random.Generator, weights: tuple[float, float, float]) -> FloatArray:
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    mix = np.diag(weights) @ q
    return np.asarray(mix / np.linalg.norm(mix))


class BodyModel:
    """The kinematic session model of docs/design.md §6 for one :class:`~simulators.plan.SessionPlan`."""

    def __init__(self, plan: SessionPlan) -> None:
        self.plan = plan
        b = plan.body
        seed = plan.seed
        T = b.duration_s
        self.arm = b.arm
        self.L = b.forearm_length_m
        self._drift = {
            name: SmoothProcess(rng_for(seed, "drift", name), T, sigma, tau)
            for name, (sigma, tau) in plan.drift.items()
        }
        rng = rng_for(seed, "tremor")
        r_treated = b.forearm_length_m - b.treated_sensor_m
        w2 = (2.0 * np.pi * b.tremor_hz) ** 2
        self._tremor_rad = b.tremor_mps2 / (w2 * r_treated)
        self._tremor = [Narrowband(rng, T, b.tremor_hz) for _ in range(2)]
        self._hand_tremor_rad = 0.6 * b.tremor_mps2 / (w2 * (b.hand_sensor_m + 0.02))
        self._hand_tremor = [Narrowband(rng, T, b.tremor_hz) for _ in range(2)]
        self._stroker_tremor_rad = 0.8 * b.tremor_mps2 / (w2 * 0.1)
        self._stroker_tremor = [Narrowband(rng, T, b.tremor_hz) for _ in range(3)]
        self.vb: VariantBody | None = None
        if plan.variant is None:
            self.response = LimbResponse(plan.strokes, plan.limb, b.forearm_length_m, seed)
        else:
            self.response = LimbResponse(
                plan.strokes,
                plan.limb,
                b.forearm_length_m,
                seed,
                sensor_s_m=sensor_positions(b.forearm_length_m, b.treated_sensor_m, b.hand_sensor_m),
                hand_length_m=b.hand_length_m,
                strap_half_width_m=plan.variant.strap_half_width_m,
            )
        mix_rng = rng_for(seed, "vibration-mix")
        self.mix = {
            "treated": _random_mix(mix_rng, (1.0, 0.5, 0.8)),
            "hand": float(mix_rng.uniform(0.3, 0.7)) * _random_mix(mix_rng, (1.0, 0.6, 0.8)),
            "stroker": float(mix_rng.uniform(0.5, 1.0)) * _random_mix(mix_rng, (0.8, 0.6, 1.0)),
        }
        self._episodes = {
            kind: [e for e in plan.episodes if e.kind in kinds]
            for kind, kinds in (("height", ("lowered", "sag")), ("wrist", ("wrist",)), ("roll", ("roll",)))
        }
        self._init_stroker()
        if plan.variant is not None:
            self.vb = VariantBody(self)

    # -- treated forearm ---------------------------------------------------------------------
    def height_m(self, t_s: FloatArray) -> FloatArray:
        """Intended wrist height over the heart (before fidgets, breathing, tremor and stroke presses)."""
        b = self.plan.body
        a0, a1 = self.plan.active
        fatigue = b.fatigue_m * np.clip((t_s - a0) / max(a1 - a0, 1e-9), 0.0, 1.0)
        h = b.height_m - fatigue + self._drift["height"](t_s)
        for ep in self._episodes["height"]:
            if ep.t_end_s < t_s[0] or ep.t_start_s > t_s[-1]:
                continue
            w = _episode_weight(ep, t_s)
            h = (1.0 - w) * h + w * float(ep.height_m if ep.height_m is not None else h.mean())
        return np.asarray(h)

    def forearm(self, t_s: FloatArray, accelerations: bool = True, role: str | None = None) -> ForearmState:
        """The treated forearm at sorted times; ``accelerations=False`` skips the directly added slide
        and vibration accelerations (for orientation-only uses such as posture truth). ``role`` picks the
        sensor whose share of the rubbing vibration is returned (variant families only)."""
        b = self.plan.body
        cal = self.plan.calibration
        t = np.asarray(t_s, dtype=np.float64)
        h = self.height_m(t)
        elevation = np.arcsin(np.clip((h - b.elbow_to_heart_m) / self.L, -0.95, 0.95))
        breath = np.sin(2.0 * np.pi * b.breathing_hz * t + b.breathing_phase)
        elevation = elevation + b.breathing_rad * breath
        heading = b.heading_rad + self._drift["heading"](t)
        roll = b.roll0_rad + self._drift["roll"](t) + 0.3 * b.breathing_rad * breath
        for ep in self._episodes["roll"]:
            if ep.t_end_s >= t[0] and ep.t_start_s <= t[-1]:
                roll = roll + _episode_weight(ep, t) * float(ep.roll_rad or 0.0)
        if cal.lead_in_s > 0:
            settle = 1.0 - min_jerk(t / cal.lead_in_s)
            elevation = elevation + cal.settle_elevation_rad * settle
            roll = roll + cal.settle_roll_rad * settle
        if cal.enabled:
            r0, r1 = cal.rotate_performed
            u = np.clip((t - r0) / (r1 - r0), 0.0, 1.0)
            roll = roll + cal.rotate_rad * 0.5 * (1.0 - np.cos(2.0 * np.pi * cal.turns * u))
        elbow = np.zeros((len(t), 3))
        elbow[:, 2] = 0.002 * breath
        fid = self.plan.fidgets
        lo = int(np.searchsorted(fid.t_start_s, t[0] - 10.0))
        hi = int(np.searchsorted(fid.t_start_s, t[-1], side="right"))
        cos_h, sin_h = np.cos(b.heading_rad), np.sin(b.heading_rad)
        heading_frame = np.array([[cos_h, -sin_h, 0.0], [sin_h, cos_h, 0.0], [0.0, 0.0, 1.0]])
        for i in range(lo, hi):
            w = bump((t - fid.t_start_s[i]) / fid.duration_s[i])
            elevation = elevation + w * fid.elevation_rad[i]
            heading = heading + w * fid.heading_rad[i]
            elbow += w[:, None] * (heading_frame @ fid.translation_m[i])[None, :]
        flexion = b.flexion0_rad + self._drift["flexion"](t)
        deviation = b.deviation0_rad + self._drift["deviation"](t)
        for ep in self._episodes["wrist"]:
            if ep.t_end_s < t[0] or ep.t_start_s > t[-1]:
                continue
            w = _episode_weight(ep, t)
            if ep.flexion_rad is not None:
                flexion = (1.0 - w) * flexion + w * ep.flexion_rad
            if ep.deviation_rad is not None:
                deviation = (1.0 - w) * deviation + w * ep.deviation_rad
        if self.vb is not None:
            elevation, heading, roll, elbow, flexion, deviation = self.vb.forearm_pose(
                t, elevation, heading, roll, elbow, flexion, deviation
            )
        for rc in cal.recalibrations:
            if rc.end_s < t[0] or rc.move_s > t[-1]:
                continue
            # The still pose asked for again: the usual height, palm down, the wrist as in the still pose.
            w = rc.weight(t)
            fatigue = b.fatigue_m * np.clip(
                (t - self.plan.active[0]) / max(self.plan.active[1] - self.plan.active[0], 1e-9), 0.0, 1.0
            )
            h_still = b.height_m - fatigue + self._drift["height"](t)
            el_still = np.arcsin(np.clip((h_still - b.elbow_to_heart_m) / self.L, -0.95, 0.95))
            elevation = (1.0 - w) * elevation + w * (el_still + b.breathing_rad * breath)
            roll = (1.0 - w) * roll + w * (
                b.roll0_rad + self._drift["roll"](t) + 0.3 * b.breathing_rad * breath
            )
            flexion = (1.0 - w) * flexion + w * (b.flexion0_rad + self._drift["flexion"](t))
            deviation = (1.0 - w) * deviation + w * (b.deviation0_rad + self._drift["deviation"](t))
        slide_acc, press, wrist_press, vib = self.response.evaluate(t, accelerations, role)
        small = press.copy()
        small[:, 1] += self._tremor_rad * self._tremor[0](t)
        small[:, 2] += self._tremor_rad * self._tremor[1](t)
        rot = quat.mul(forearm_quat(heading, elevation, roll, self.arm), quat.from_rotvec(small))
        return ForearmState(rot, elbow, slide_acc, vib, flexion + wrist_press, deviation)

    def hand_rotation(self, t_s: FloatArray, fa: ForearmState) -> FloatArray:
        """``R_earth_from_hand`` as (n, 4) quaternions."""
        tremor = np.zeros((len(t_s), 3))
        tremor[:, 1] = self._hand_tremor_rad * self._hand_tremor[0](t_s)
        tremor[:, 2] = self._hand_tremor_rad * self._hand_tremor[1](t_s)
        wrist = quat.mul(wrist_quat(fa.flexion_rad, fa.deviation_rad, self.arm), quat.from_rotvec(tremor))
        return quat.mul(fa.rot, wrist)

    # -- sensors -----------------------------------------------------------------------------
    def kinematics(self, role: str, t_s: FloatArray) -> Kinematics:
        """Segment orientation, sensor position and directly-added accelerations of one role."""
        b = self.plan.body
        t = np.asarray(t_s, dtype=np.float64)
        if role == "stroker":
            return self._stroker(t)
        if self.vb is not None:
            return self.vb.kinematics(role, t)
        fa = self.forearm(t)
        slide = np.zeros((len(t), 3))
        slide[:, 0] = fa.slide_acc_mps2
        if role == "treated":
            r = np.array([self.L - b.treated_sensor_m, 0.0, b.forearm_radius_m + DEVICE_HALF_THICKNESS_M])
            pos = fa.elbow_m + quat.rotate(fa.rot, r)
            extra = slide + fa.vibration @ self.mix["treated"].T
            return Kinematics(fa.rot, pos, extra)
        if role == "hand":
            rot_h = self.hand_rotation(t, fa)
            pos = (
                fa.elbow_m
                + quat.rotate(fa.rot, np.array([self.L, 0.0, 0.0]))
                + quat.rotate(rot_h, np.array([b.hand_sensor_m, 0.0, HAND_SENSOR_HEIGHT_M]))
            )
            rel = quat.mul(quat.conj(fa.rot), rot_h)
            extra = quat.rotate_inv(rel, slide) + fa.vibration @ self.mix["hand"].T
            return Kinematics(rot_h, pos, extra)
        raise ValueError(f"unknown role {role!r}")

    # -- the massaging hand ------------------------------------------------------------------
    def _init_stroker(self) -> None:
        st = self.plan.strokes
        b = self.plan.body
        rng = rng_for(self.plan.seed, "stroker")
        n = len(st)
        rows: list[tuple[int, float, int, int]] = []  # kind, start, stroke i, target j
        cursor = -1e9
        from_rest = True
        for i in range(n):
            ts, te = float(st.t_start_s[i]), float(st.t_end_s[i])
            if from_rest:
                approach = min(float(rng.uniform(0.8, 1.5)), max(0.3, ts - cursor - 0.2))
                rows.append((_REST, cursor, -1, -1))
                rows.append((_APPROACH, ts - approach, -1, i))
            rows.append((_CONTACT, ts, i, i))
            gap = float(st.t_start_s[i + 1]) - te if i + 1 < n else np.inf
            withdraw = float(rng.uniform(0.8, 1.5))
            if gap > withdraw + 1.5 + 1.0:
                rows.append((_WITHDRAW, te, i, -1))
                cursor = te + withdraw
                from_rest = True
            else:
                ret = min(float(st.return_s[i]), gap)
                rows.append((_RETURN, te, i, i + 1))
                if gap - ret > 1e-6:
                    rows.append((_DWELL, te + ret, i + 1, i + 1))
                from_rest = False
        rows.append((_REST, cursor, -1, -1))
        if n == 0:
            rows = [(_REST, -1e9, -1, -1)]
        self._seg_kind = np.array([r[0] for r in rows], dtype=np.int64)
        self._seg_t0 = np.array([r[1] for r in rows])
        self._seg_i = np.array([r[2] for r in rows], dtype=np.int64)
        self._seg_j = np.array([r[3] for r in rows], dtype=np.int64)
        self._seg_t1 = np.append(self._seg_t0[1:], np.inf)
        # Rest pose: the massaging hand on the lap or table, beside and below the treated elbow.
        cos_h, sin_h = np.cos(b.heading_rad), np.sin(b.heading_rad)
        heading_frame = np.array([[cos_h, -sin_h, 0.0], [sin_h, cos_h, 0.0], [0.0, 0.0, 1.0]])
        side = 1.0 if b.arm == "right" else -1.0  # the other hand sits toward the body's midline
        offset = np.array(
            [rng.uniform(-0.05, 0.15), side * rng.uniform(0.15, 0.35), rng.uniform(-0.35, -0.15)]
        )
        self._rest_pos = heading_frame @ offset
        self._rest_rot = quat.mul(
            quat.mul(
                quat.axis_angle(2, b.heading_rad + rng.uniform(-1.5, 1.5)),
                quat.axis_angle(1, rng.uniform(-0.35, 0.35)),
            ),
            quat.axis_angle(0, rng.uniform(-0.5, 0.5)),
        )
        self._rest_drift = [SmoothProcess(rng, b.duration_s, 0.01, 20.0) for _ in range(3)]
        self._draw_reaches()

    def _draw_reaches(self) -> None:
        """Out-and-back movements of the resting massaging hand (no contact), after calibration."""
        rng = rng_for(self.plan.seed, "stroker-reaches")
        fs = self.plan.scenario.fidgets
        rate = draw(fs.stroker_per_10min, rng)
        a0, a1 = self.plan.active
        rests = [
            (max(float(t0), a0) + 0.5, min(float(t1), a1) - 0.5)
            for k, t0, t1 in zip(self._seg_kind, self._seg_t0, self._seg_t1, strict=True)
            if k == _REST
        ]
        rests = [(a, b) for a, b in rests if b > a]
        rows: list[tuple[float, float, FloatArray, FloatArray]] = []
        # The rate counts per 10 minutes of active session; reaches happen where the hand rests.
        for _ in range(int(rng.poisson(rate * max(0.0, a1 - a0) / 600.0))):
            dur = float(rng.uniform(0.8, 2.0))
            windows = [(a, b - dur) for a, b in rests if b - a > dur]
            room = sum(b - a for a, b in windows)
            if room <= 0:
                break
            x = float(rng.uniform(0.0, room))
            for a, b in windows:
                if x <= b - a:
                    start = a + x
                    break
                x -= b - a
            direction = rng.normal(size=3)
            move = direction / np.linalg.norm(direction) * rng.uniform(0.08, 0.3)
            turn = rng.normal(size=3)
            turn = turn / np.linalg.norm(turn) * np.deg2rad(rng.uniform(10.0, 40.0))
            rows.append((start, dur, move, turn))
            rests = _cut(rests, start - 0.5, start + dur + 0.5)
        rows.sort(key=lambda r: r[0])
        self.stroker_reaches = rows

    def _reach_offsets(self, t: FloatArray) -> tuple[FloatArray, FloatArray]:
        move = np.zeros((len(t), 3))
        turn = np.zeros((len(t), 3))
        for start, dur, vec, rv in self.stroker_reaches:
            if start > t[-1] or start + dur < t[0]:
                continue
            w = bump((t - start) / dur)
            move += w[:, None] * vec[None, :]
            turn += w[:, None] * rv[None, :]
        return move, turn

    def stroker_segments(self) -> list[tuple[str, float, float]]:
        """The massaging hand's plan as ``(kind, start_s, end_s)`` (for labels and tests)."""
        return [
            (SEGMENT_NAMES[k], float(a), float(b))
            for k, a, b in zip(self._seg_kind, self._seg_t0, self._seg_t1, strict=True)
            if b > a
        ]

    def _limb_pose(
        self,
        fa_rot: FloatArray,
        elbow: FloatArray,
        s_m: FloatArray,
        kappa: FloatArray,
        yaw: FloatArray,
        tilt: FloatArray,
        lift_m: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """Massaging hand on (or above) the limb: orientation and stroker sensor position."""
        r = self.plan.body.forearm_radius_m + lift_m
        contact = np.column_stack([s_m, r * np.sin(kappa), r * np.cos(kappa)])
        # Palm on the surface whose outward normal is R_x(-κ)·z; fingers turned by yaw, tilted by tilt.
        hand_in_forearm = quat.mul(
            quat.mul(quat.axis_angle(0, -kappa), quat.axis_angle(2, yaw)), quat.axis_angle(1, tilt)
        )
        rot = quat.mul(fa_rot, hand_in_forearm)
        pos = elbow + quat.rotate(fa_rot, contact) + quat.rotate(rot, STROKER_FROM_PALM_M)
        return rot, pos

    def _rest_pose(self, t: FloatArray) -> tuple[FloatArray, FloatArray]:
        drift = np.column_stack([d(t) for d in self._rest_drift])
        move, turn = self._reach_offsets(t)
        pos = self._rest_pos[None, :] + drift + move
        rot = quat.mul(self._rest_rot, quat.from_rotvec(2.0 * drift + turn))
        return rot, pos

    def _stroker(self, t: FloatArray) -> Kinematics:
        st = self.plan.strokes
        n = len(t)
        seg = np.searchsorted(self._seg_t0, t, side="right") - 1
        seg = np.clip(seg, 0, len(self._seg_t0) - 1)
        kind = self._seg_kind[seg]
        q_all = np.zeros((n, 4))
        pos = np.zeros((n, 3))
        extra = np.zeros((n, 3))
        near = kind != _REST
        if near.any():
            tn = t[near]
            fa = self.forearm(tn)
            kn = kind[near]
            i_idx = self._seg_i[seg[near]]
            j_idx = self._seg_j[seg[near]]
            u = (tn - self._seg_t0[seg[near]]) / (self._seg_t1[seg[near]] - self._seg_t0[seg[near]])
            s = np.zeros(len(tn))
            kappa = np.zeros(len(tn))
            yaw = np.zeros(len(tn))
            tilt = np.zeros(len(tn))
            lift = np.zeros(len(tn))
            # Start (j) and end (i) poses of the neighbouring strokes.
            ii = np.clip(i_idx, 0, None)
            jj = np.clip(j_idx, 0, None)
            contact = kn == _CONTACT
            for stroke in np.unique(i_idx[contact]):
                m = contact & (i_idx == stroke)
                _, s_m, _ = stroke_profiles(st, int(stroke), tn[m])
                s[m] = s_m
            kappa[contact] = st.contact_angle_rad[ii[contact]]
            yaw[contact] = st.hand_yaw_rad[ii[contact]]
            tilt[contact] = st.hand_tilt_rad[ii[contact]]
            ret = kn == _RETURN
            w = min_jerk(u[ret])
            s[ret] = st.s_end_m[ii[ret]] + (st.s_start_m[jj[ret]] - st.s_end_m[ii[ret]]) * w
            kappa[ret] = (
                st.contact_angle_rad[ii[ret]]
                + (st.contact_angle_rad[jj[ret]] - st.contact_angle_rad[ii[ret]]) * w
            )
            yaw[ret] = st.hand_yaw_rad[ii[ret]] + (st.hand_yaw_rad[jj[ret]] - st.hand_yaw_rad[ii[ret]]) * w
            tilt[ret] = (
                st.hand_tilt_rad[ii[ret]] + (st.hand_tilt_rad[jj[ret]] - st.hand_tilt_rad[ii[ret]]) * w
            )
            tilt[ret] -= 0.25 * bump(u[ret])
            lift[ret] = st.lift_m * bump(u[ret])
            hold = (kn == _DWELL) | (kn == _APPROACH)
            s[hold] = st.s_start_m[jj[hold]]
            kappa[hold] = st.contact_angle_rad[jj[hold]]
            yaw[hold] = st.hand_yaw_rad[jj[hold]]
            tilt[hold] = st.hand_tilt_rad[jj[hold]]
            wd = kn == _WITHDRAW
            s[wd] = st.s_end_m[ii[wd]]
            kappa[wd] = st.contact_angle_rad[ii[wd]]
            yaw[wd] = st.hand_yaw_rad[ii[wd]]
            tilt[wd] = st.hand_tilt_rad[ii[wd]]
            if self.vb is not None:
                seg_len = self._seg_t1[seg[near]] - self._seg_t0[seg[near]]
                rot, p = self.vb.stroker_pose(tn, fa, kn, ii, jj, u, seg_len, s, kappa, yaw, tilt, lift)
            else:
                rot, p = self._limb_pose(fa.rot, fa.elbow_m, s, kappa, yaw, tilt, lift)
            # Blend toward the rest pose while approaching (rest -> limb) or withdrawing (limb -> rest).
            blend = (kn == _APPROACH) | wd
            if blend.any():
                ub = u[blend]
                w_rest = np.where(kn[blend] == _APPROACH, 1.0 - min_jerk(ub), min_jerk(ub))
                rest_rot, rest_pos = self._rest_pose(tn[blend])
                slerp = quat.slerp_toward if self.vb is None else self.vb.slerp_continuous
                rot[blend] = slerp(rot[blend], rest_rot, w_rest)
                pb = (1.0 - w_rest)[:, None] * p[blend] + w_rest[:, None] * rest_pos
                pb[:, 2] += 0.06 * bump(ub)
                p[blend] = pb
            q_all[near] = rot
            pos[near] = p
            extra[near] = fa.vibration @ self.mix["stroker"].T
        if (~near).any():
            rest_rot, rest_pos = self._rest_pose(t[~near])
            q_all[~near] = rest_rot
            pos[~near] = rest_pos
        if self.vb is not None:
            q_all, pos = self.vb.stroker_movement(t, q_all, pos)
        tremor = np.column_stack([self._stroker_tremor_rad * f(t) for f in self._stroker_tremor])
        return Kinematics(quat.mul(q_all, quat.from_rotvec(tremor)), pos, extra)
