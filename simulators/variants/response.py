"""The treated limb's answer to one contact under the variant families' mechanisms.

Same damped-spring model as :mod:`simulators.limb_response` (today's physics), with per-contact
parameters from :class:`~simulators.variants.strokes.StrokeExtras`: the spring per stroke, the press
lever about a support instead of the elbow, joints that absorb part of a hand or finger contact,
stick-slip skin shear, the support's sink, a rocking strap, re-grips, and vibration that fades with
the distance from the contact to each sensor.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import signal
from scipy.interpolate import CubicSpline

from coach.samples import FloatArray
from simulators.frames import min_jerk, min_jerk_rate
from simulators.limb_response import _FS_HZ, _Window
from simulators.plan import LimbParams, StrokePlan

#: Joint positions are the wrist (s = L) and the knuckles (s = L + this share of the hand length).
KNUCKLE_SHARE = 0.45


@functools.lru_cache(maxsize=256)
def _filters(natural_hz: float, zeta: float) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    w = 2.0 * np.pi * natural_hz
    den = [1.0, 2.0 * zeta * w, w * w]
    bx, ax = signal.bilinear([w * w], den, fs=_FS_HZ)
    ba, aa = signal.bilinear([w * w, 0.0, 0.0], den, fs=_FS_HZ)
    return bx, ax, ba, aa


def stick_slip_force(
    force_n: FloatArray, s_m: FloatArray, mu: float, k_n_per_m: float, ratio: float
) -> FloatArray:
    """Friction force (N, ≥ 0) of a hand gliding over skin that sticks and slips.

    The skin moves with the hand and is sheared (stiffness ``k``) until the shear exceeds the static
    friction ``ratio · μ · F``; it then slips back to the kinetic level ``μ · F`` and sticks again.
    """
    out = np.zeros(len(force_n))
    ds = np.abs(np.diff(s_m, prepend=s_m[0]))
    x = 0.0
    for j in range(len(force_n)):
        f = float(force_n[j])
        if f <= 0.0:
            x = 0.0
            continue
        x += float(ds[j])
        if k_n_per_m * x > ratio * mu * f:
            x = mu * f / k_n_per_m
        out[j] = k_n_per_m * x
    return out


def regrip_profiles(
    strokes: StrokePlan, i: int, t_s: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Force, position and velocity of a stroke with a re-grip: glide, pause with the force reduced,
    glide on (the same stroke)."""
    ex = strokes.extra
    assert ex is not None
    ts, te = float(strokes.t_start_s[i]), float(strokes.t_end_s[i])
    pause = float(ex.regrip_s[i])
    share = float(ex.regrip_u[i])
    glide = te - ts - pause
    ta = ts + share * glide
    tb = ta + pause
    s0, s1 = float(strokes.s_start_m[i]), float(strokes.s_end_m[i])
    sm = s0 + share * (s1 - s0)
    u1 = (t_s - ts) / (ta - ts)
    u2 = (t_s - tb) / (te - tb)
    first = t_s < tb
    s_m = np.where(first, s0 + (sm - s0) * min_jerk(u1), sm + (s1 - sm) * min_jerk(u2))
    v = np.where(first, (sm - s0) / (ta - ts) * min_jerk_rate(u1), (s1 - sm) / (te - tb) * min_jerk_rate(u2))
    ramp_on, ramp_off = float(strokes.ramp_on_s[i]), float(strokes.ramp_off_s[i])
    on = min_jerk((t_s - ts) / ramp_on)
    off = 1.0 - min_jerk((t_s - (te - ramp_off)) / ramp_off)
    r = min(0.08, pause / 2.0)
    dip = min_jerk((t_s - (ta - r)) / r) * (1.0 - min_jerk((t_s - tb) / r))
    level = 1.0 - (1.0 - float(ex.regrip_force[i])) * dip
    force = float(strokes.force_n[i]) * on * off * level
    force = np.where((t_s >= ts) & (t_s <= te), force, 0.0)
    return force, np.asarray(s_m), np.asarray(v)


def _joints_between(a: FloatArray, b: float, joints: tuple[float, ...]) -> FloatArray:
    lo = np.minimum(a, b)
    hi = np.maximum(a, b)
    return np.asarray(np.sum([(lo < j) & (j < hi) for j in joints], axis=0), dtype=np.float64)


def variant_window(
    strokes: StrokePlan,
    i: int,
    limb: LimbParams,
    forearm_length_m: float,
    hand_length_m: float,
    sensor_s_m: dict[str, float],
    strap_half_width_m: float,
) -> tuple[_Window, tuple[float, float, float, float]]:
    """One contact's window (as :class:`~simulators.limb_response.LimbResponse` keeps them) and its truth
    features (onset and release slide acceleration, press peak in degrees, slide peak in mm)."""
    from simulators.limb_response import stroke_profiles

    ex = strokes.extra
    assert ex is not None
    L = forearm_length_m
    nat = float(ex.natural_hz[i]) if np.isfinite(ex.natural_hz[i]) else limb.natural_hz
    zeta = float(ex.damping[i]) if np.isfinite(ex.damping[i]) else limb.damping_ratio
    bx, ax, ba, aa = _filters(round(nat, 3), round(zeta, 3))
    tail_s = min(3.0, 6.0 / (zeta * 2.0 * np.pi * nat))
    ts, te = float(strokes.t_start_s[i]), float(strokes.t_end_s[i])
    t0 = ts - 0.02
    t1 = te + tail_s
    t = t0 + np.arange(int(np.ceil((t1 - t0) * _FS_HZ)) + 1) / _FS_HZ
    force, s_m, v_mps = stroke_profiles(strokes, i, t)
    direction = float(strokes.direction[i])
    kappa = float(strokes.contact_angle_rad[i])
    keep = 1.0 - float(ex.absorb[i])
    drag = float(ex.drag_m_per_n[i]) if np.isfinite(ex.drag_m_per_n[i]) else limb.drag_m_per_n
    if np.isfinite(ex.stick_k_n_per_m[i]):
        friction = stick_slip_force(
            force, s_m, limb.friction_mu, float(ex.stick_k_n_per_m[i]), float(ex.stick_ratio[i])
        )
    else:
        friction = limb.friction_mu * force
    slide_in = drag * friction * direction * keep
    slide = signal.lfilter(bx, ax, slide_in)
    slide_acc = signal.lfilter(ba, aa, slide_in)
    lever = s_m - float(ex.pivot_m[i]) if np.isfinite(ex.pivot_m[i]) else s_m
    press = signal.lfilter(bx, ax, limb.pitch_rad_per_nm * float(ex.pitch_scale[i]) * force * lever * keep)
    gain = float(ex.wrist_gain[i]) if np.isfinite(ex.wrist_gain[i]) else max(0.0, float(np.cos(kappa)))
    on_hand = np.maximum(0.0, s_m - L)
    knots = slice(None, None, 4)
    wrist = None
    if gain != 0.0 and np.any(on_hand > 0):
        wrist_x = signal.lfilter(bx, ax, limb.wrist_rad_per_nm * force * on_hand * gain)
        wrist = CubicSpline(t[knots], wrist_x[knots])
    normal = np.array([0.0, np.sin(kappa), np.cos(kappa)])  # outward normal of the contact surface
    push_acc = None
    if float(ex.sink_m_per_n[i]) > 0.0:
        push_acc = signal.lfilter(ba, aa, float(ex.sink_m_per_n[i]) * force * keep)
    rock = None
    if float(ex.rock_rad_per_n[i]) > 0.0 and "treated" in sensor_s_m:
        u = (s_m - sensor_s_m["treated"]) / strap_half_width_m
        rock_x = float(ex.rock_rad_per_n[i]) * force * u * np.exp(0.5 * (1.0 - u * u))
        rock = CubicSpline(t[knots], rock_x[knots])
    f_peak = max(float(force.max()), 1e-9)
    v_peak = max(float(np.abs(v_mps).max()), 1e-9)
    shape = np.clip(force / f_peak, 0.0, None) * np.abs(v_mps) / v_peak
    env = float(strokes.vibration_rms_mps2[i]) * float(ex.vib_scale[i]) * np.sqrt(shape)
    role_gain: dict[str, FloatArray] = {}
    if bool(ex.local_vibration[i]):
        joints = (L, L + KNUCKLE_SHARE * hand_length_m)
        decay = float(ex.vib_decay_m[i]) if np.isfinite(ex.vib_decay_m[i]) else 0.08
        for role, s_sensor in sensor_s_m.items():
            d = np.abs(s_m - s_sensor)
            role_gain[role] = np.exp(-d / decay) * 0.5 ** _joints_between(s_m, s_sensor, joints)
    wd = _Window(
        t0_s=t0,
        t1_s=float(t[-1]),
        slide_acc_mps2=slide_acc,
        envelope=env,
        centre_hz=float(strokes.vibration_centre_hz[i]),
        press=CubicSpline(t[knots], press[knots]),
        wrist=wrist,
        press_axis=np.array([0.0, np.cos(kappa), -np.sin(kappa)]),
        push_acc_mps2=None if push_acc is None else -push_acc,
        push_axis=normal,
        rock=rock,
        role_gain=role_gain,
    )
    ramp_on, ramp_off = float(strokes.ramp_on_s[i]), float(strokes.ramp_off_s[i])
    on_mask = (t >= ts) & (t <= ts + ramp_on + 0.25)
    off_mask = (t >= te - ramp_off) & (t <= te + 0.25)
    feats = (
        float(np.abs(slide_acc[on_mask]).max()) if on_mask.any() else 0.0,
        float(np.abs(slide_acc[off_mask]).max()) if off_mask.any() else 0.0,
        float(np.rad2deg(np.abs(press).max())),
        float(np.abs(slide).max() * 1e3),
    )
    return wd, feats
