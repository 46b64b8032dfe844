"""The variant families inside the body model (:class:`simulators.body.BodyModel` calls these hooks only
when the session has families; today's physics never reaches this module).

- sensor kinematics with a rocking strap, a strap turned by a tug or for good (a mounting change), the
  support's push, movement accelerations and per-sensor vibration;
- the helper's wrist: grip offsets, contact on fingers and hand (radius, lateral offset), thumb-driven
  short glides, a turn of the wrist on landing and lifting, returns in light contact;
- movement events: the treated arm's pose, and the helper's hand coming to the limb.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from coach.samples import FloatArray
from simulators import quat
from simulators.frames import bump, min_jerk
from simulators.variants.movement_motion import MovementModel

if TYPE_CHECKING:
    from simulators.body import BodyModel, ForearmState, Kinematics

_CONTACT, _RETURN, _DWELL, _APPROACH, _WITHDRAW = 2, 3, 4, 1, 5


def sensor_positions(model_L: float, treated_sensor_m: float, hand_sensor_m: float) -> dict[str, float]:
    """Sensors' positions along the limb from the elbow (m): where the vibration is felt."""
    return {"treated": model_L - treated_sensor_m, "hand": model_L + hand_sensor_m}


class VariantBody:
    """Hooks for one :class:`~simulators.body.BodyModel` whose plan has variant families."""

    def __init__(self, model: BodyModel) -> None:
        self.m = model
        plan = model.plan
        v = plan.variant
        assert v is not None
        b = plan.body
        self.movement = (
            MovementModel(v.movements, b.heading_rad, b.forearm_length_m, b.hand_length_m, plan.seed)
            if v.movements
            else None
        )
        self.mounts = {
            role: [mc for mc in v.mount_changes if mc.role == role] for role in ("treated", "hand")
        }
        # Contacts joined by a return in light contact (or a pressed one) are one landing and one lift.
        st = plan.strokes
        n = len(st)
        self.chain_start = st.t_start_s.copy()
        self.chain_end = st.t_end_s.copy()
        for k in range(1, n):
            if st.t_start_s[k] - st.t_end_s[k - 1] < 0.3:
                self.chain_start[k] = self.chain_start[k - 1]
        for k in range(n - 2, -1, -1):
            if st.t_start_s[k + 1] - st.t_end_s[k] < 0.3:
                self.chain_end[k] = self.chain_end[k + 1]

    # -- the treated arm --------------------------------------------------------------------
    def forearm_pose(
        self,
        t: FloatArray,
        elevation: FloatArray,
        heading: FloatArray,
        roll: FloatArray,
        elbow: FloatArray,
        flexion: FloatArray,
        deviation: FloatArray,
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        if self.movement is None:
            return elevation, heading, roll, elbow, flexion, deviation
        return self.movement.forearm(t, elevation, heading, roll, elbow, flexion, deviation)

    def _turn(self, role: str, t: FloatArray) -> FloatArray:
        turn = np.zeros(len(t))
        for mc in self.mounts.get(role, []):
            turn += mc.angle(t)
        if role == "treated" and self.movement is not None:
            turn += self.movement.strap_turn(t)
        return turn

    def kinematics(self, role: str, t: FloatArray) -> Kinematics:
        from simulators.body import DEVICE_HALF_THICKNESS_M, HAND_SENSOR_HEIGHT_M, Kinematics

        m = self.m
        b = m.plan.body
        fa = m.forearm(t, role=role)
        slide = np.zeros((len(t), 3))
        slide[:, 0] = fa.slide_acc_mps2
        push, rock = m.response.evaluate_extra(t)
        move = self.movement.extra_acc(t, role) if self.movement is not None else np.zeros((len(t), 3))
        turn_q = quat.axis_angle(0, self._turn(role, t))
        if role == "treated":
            rel = quat.mul(turn_q, quat.axis_angle(1, rock))
            r = np.array([m.L - b.treated_sensor_m, 0.0, b.forearm_radius_m + DEVICE_HALF_THICKNESS_M])
            pos = fa.elbow_m + quat.rotate(fa.rot, quat.rotate(turn_q, np.broadcast_to(r, (len(t), 3))))
            extra = slide + push + fa.vibration @ m.mix["treated"].T + move
            return Kinematics(quat.mul(fa.rot, rel), pos, quat.rotate_inv(rel, extra))
        if role == "hand":
            rot_h = m.hand_rotation(t, fa)
            r = np.array([b.hand_sensor_m, 0.0, HAND_SENSOR_HEIGHT_M])
            pos = (
                fa.elbow_m
                + quat.rotate(fa.rot, np.array([m.L, 0.0, 0.0]))
                + quat.rotate(rot_h, quat.rotate(turn_q, np.broadcast_to(r, (len(t), 3))))
            )
            rel_fh = quat.mul(quat.conj(fa.rot), rot_h)
            extra = quat.rotate_inv(rel_fh, slide + push) + fa.vibration @ m.mix["hand"].T + move
            return Kinematics(quat.mul(rot_h, turn_q), pos, quat.rotate_inv(turn_q, extra))
        raise ValueError(f"unknown role {role!r}")

    # -- the helper's hand ------------------------------------------------------------------
    def stroker_pose(
        self,
        tn: FloatArray,
        fa: ForearmState,
        kind: FloatArray,
        ii: FloatArray,
        jj: FloatArray,
        u: FloatArray,
        seg_len_s: FloatArray,
        s: FloatArray,
        kappa: FloatArray,
        yaw: FloatArray,
        tilt: FloatArray,
        lift: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """The massaging hand near the limb: orientation and sensor position (earth)."""
        st = self.m.plan.strokes
        ex = st.extra
        assert ex is not None
        i = np.asarray(ii, dtype=np.int64)
        j = np.asarray(jj, dtype=np.int64)
        contact = kind == _CONTACT
        ret = kind == _RETURN
        hold = (kind == _DWELL) | (kind == _APPROACH)
        w = min_jerk(u)

        def along(q: FloatArray) -> FloatArray:
            """A per-contact quantity along the hand's timeline: current contact, blended on returns."""
            qi, qj = q[i], q[j]
            shape = (-1,) + (1,) * (q.ndim - 1)
            out = np.where(hold.reshape(shape), qj, qi)
            return np.where(ret.reshape(shape), qi + (qj - qi) * w.reshape(shape), out)

        s = s.copy()
        share = ex.thumb_share[i]
        s0 = st.s_start_m[i]
        s[contact] = s0[contact] + share[contact] * (s[contact] - s0[contact])
        # Where the wrist left each contact (a thumb-driven glide leaves it short of the glide's end).
        s_left = st.s_start_m + ex.thumb_share * (st.s_end_m - st.s_start_m)
        s[ret] = s_left[i][ret] + (st.s_start_m[j][ret] - s_left[i][ret]) * w[ret]
        wd_ = kind == _WITHDRAW
        s[wd_] = s_left[i][wd_]
        # A short return (the hand stays on the skin) is neither lifted nor tipped up.
        keep = np.where(ret, np.clip((seg_len_s - 0.3) / 0.4, 0.0, 1.0), 1.0)
        lift = lift * keep
        tilt = tilt + np.where(ret, 0.25 * bump(u) * (1.0 - keep), 0.0)
        radius = along(ex.radius_m) + lift
        lateral = along(ex.lateral_m)
        offset = along(ex.grip_offset_m)
        # The wrist turns while landing and lifting: full turn away from contact, none in mid-contact.
        ts, te = self.chain_start, self.chain_end

        def on(k: npt.NDArray[np.int64]) -> FloatArray:
            return np.asarray(
                min_jerk((tn - (ts[k] - 0.25)) / 0.4) * (1.0 - min_jerk((tn - (te[k] - 0.15)) / 0.4))
            )

        # A sweeping glide turns the hand about the limb normal by ``sweep`` over the contact, centred on
        # the stroke's own yaw; the returns and holds pick it up where the contacts leave it.
        sw_i, sw_j = ex.sweep_rad[i], ex.sweep_rad[j]
        wd = kind == _WITHDRAW
        sweep = np.where(contact, sw_i * (min_jerk(u) - 0.5), 0.0)
        sweep = np.where(ret, 0.5 * sw_i * (1.0 - w) - 0.5 * sw_j * w, sweep)
        sweep = np.where(hold, -0.5 * sw_j, np.where(wd, 0.5 * sw_i, sweep))
        yaw = yaw + sweep
        c = np.maximum(on(i), on(j))
        angle = along(ex.land_rad) * (1.0 - c)
        turn = quat.from_rotvec(along(ex.land_axis) * angle[:, None])
        pt = np.column_stack([s, lateral + radius * np.sin(kappa), radius * np.cos(kappa)])
        hand_in_forearm = quat.mul(
            quat.mul(quat.mul(quat.axis_angle(0, -kappa), quat.axis_angle(2, yaw)), quat.axis_angle(1, tilt)),
            turn,
        )
        rot = quat.mul(fa.rot, hand_in_forearm)
        pos = fa.elbow_m + quat.rotate(fa.rot, pt) + quat.rotate(rot, offset)
        return rot, pos

    @staticmethod
    def slerp_continuous(a: FloatArray, b: FloatArray, w: FloatArray) -> FloatArray:
        """Like :func:`simulators.quat.slerp_toward`, but the rotation vector stays on one branch from
        sample to sample (no flip when the way from ``a`` to ``b`` passes 180°)."""
        delta = quat.to_rotvec(quat.mul(quat.conj(a), b))
        for k in range(1, len(delta)):
            norm = float(np.linalg.norm(delta[k]))
            if norm > 0.5 * np.pi and float(delta[k] @ delta[k - 1]) < 0.0:
                delta[k] *= 1.0 - 2.0 * np.pi / norm
        return quat.mul(a, quat.from_rotvec(np.asarray(w)[..., None] * delta))

    def stroker_movement(
        self, t: FloatArray, q: FloatArray, pos: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """The helper's hand during movement events (on the treated limb, or with the body)."""
        if self.movement is None:
            return q, pos
        w_c, s, kappa, off = self.movement.stroker(t)
        q, pos = q.copy(), pos + off
        sel = w_c > 0
        if sel.any():
            fa = self.m.forearm(t[sel])
            n = int(sel.sum())
            yaw = np.full(n, self.m.plan.strokes.hand_yaw0_rad)
            rot_l, pos_l = self.m._limb_pose(
                fa.rot, fa.elbow_m, s[sel], kappa[sel], yaw, np.zeros(n), np.zeros(n)
            )
            ws = w_c[sel]
            q[sel] = quat.slerp_toward(q[sel], rot_l, ws)
            pos[sel] = (1.0 - ws)[:, None] * pos[sel] + ws[:, None] * pos_l
        return q, pos
