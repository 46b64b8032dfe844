"""Ground truth of a simulated session, with exactly the definitions of docs/design.md §5.

Posture at 10 Hz on ``t = k / 10`` (true session clock), from the model's segment orientations:

- ``elevation_deg``: angle of the forearm x-axis above the horizontal;
- ``wrist_height_m = elbow_to_heart_m + forearm_length_m · sin θ``; ``elevated`` ⇔ it is ≥ 0.05 m;
- ``wrist_flexion_deg`` / ``wrist_deviation_deg``: the hand's rotation relative to the forearm, against
  the ``still`` pose (the mean relative rotation over the prompted still phase), split intrinsic
  Y-then-Z; + = palmar flexion, + = radial deviation on either arm; ``wrist_neutral`` ⇔ |flexion| ≤ 15°
  and |deviation| ≤ 10°;
- ``forearm_roll_deg``: roll about the forearm x-axis against the ``still`` pose, + = supination.

Without calibration the reference is the anatomical neutral (wrist straight, palm exactly down).
The truth is physical: it is given whether or not a sensor could observe it (see ``roles`` and
``gaps`` in the labels).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from coach.samples import FloatArray
from coach.signal.cadence import mean_cadence_spm  # the §5 rule, one home
from simulators import quat
from simulators.body import BodyModel
from simulators.frames import elevation_rad, roll_rad, wrap_rad, wrist_angles

POSTURE_RATE_HZ = 10.0
ELEVATION_MARGIN_M = 0.05
WRIST_FLEXION_MAX_DEG = 15.0
WRIST_DEVIATION_MAX_DEG = 10.0


def reference_pose(model: BodyModel) -> tuple[Rotation, float]:
    """The ``still`` reference: mean hand-in-forearm rotation and forearm roll (rad) over the prompted
    still phase; identity and 0 when the session has no calibration."""
    cal = model.plan.calibration
    if not cal.enabled:
        return Rotation.identity(), 0.0
    t = np.linspace(cal.still[0], cal.still[1], 61)
    fa = model.forearm(t, accelerations=False)
    rel = quat.to_rotation(quat.mul(quat.conj(fa.rot), model.hand_rotation(t, fa)))
    roll = float(roll_rad(quat.to_rotation(fa.rot).mean(), model.arm)[0])
    return rel.mean(), roll


def posture_at(model: BodyModel, t_s: FloatArray) -> dict[str, FloatArray]:
    """Posture truth at any times (arrays, degrees and metres)."""
    b = model.plan.body
    ref_wrist, ref_roll = reference_pose(model)
    fa = model.forearm(t_s, accelerations=False)
    rel = ref_wrist.inv() * quat.to_rotation(quat.mul(quat.conj(fa.rot), model.hand_rotation(t_s, fa)))
    flex, dev = wrist_angles(rel, model.arm)
    forearm = quat.to_rotation(fa.rot)
    elev = elevation_rad(forearm)
    height = b.elbow_to_heart_m + b.forearm_length_m * np.sin(elev)
    flex_deg = np.rad2deg(flex)
    dev_deg = np.rad2deg(dev)
    return {
        "elevation_deg": np.rad2deg(elev),
        "wrist_height_m": height,
        "elevated": height >= ELEVATION_MARGIN_M,
        "wrist_flexion_deg": flex_deg,
        "wrist_deviation_deg": dev_deg,
        "wrist_neutral": (np.abs(flex_deg) <= WRIST_FLEXION_MAX_DEG)
        & (np.abs(dev_deg) <= WRIST_DEVIATION_MAX_DEG),
        "forearm_roll_deg": np.rad2deg(wrap_rad(roll_rad(forearm, model.arm) - ref_roll)),
    }


def posture_grid(duration_s: float) -> FloatArray:
    return np.arange(int(np.floor(duration_s * POSTURE_RATE_HZ + 1e-9)) + 1) / POSTURE_RATE_HZ


def _r(x: Any, nd: int = 4) -> Any:
    """Round floats (and arrays of them) for a compact JSON file."""
    if isinstance(x, np.ndarray):
        if x.dtype == bool:
            return x.tolist()
        return np.round(x.astype(np.float64), nd).tolist()
    if isinstance(x, float | np.floating):
        return round(float(x), nd)
    return x


def posture_labels(model: BodyModel) -> dict[str, Any]:
    t = posture_grid(model.plan.body.duration_s)
    p = posture_at(model, t)
    out: dict[str, Any] = {"rate_hz": POSTURE_RATE_HZ, "t": _r(t, 3)}
    for key, nd in (
        ("elevation_deg", 3),
        ("wrist_height_m", 4),
        ("elevated", 0),
        ("wrist_flexion_deg", 3),
        ("wrist_deviation_deg", 3),
        ("wrist_neutral", 0),
        ("forearm_roll_deg", 3),
    ):
        out[key] = _r(p[key], nd)
    return out


def stroke_labels(model: BodyModel) -> list[dict[str, Any]]:
    st = model.plan.strokes
    feats = model.response.features
    out = []
    if len(st):
        mid = 0.5 * (st.t_start_s + st.t_end_s)
        post = posture_at(model, mid)
    ex = st.extra
    for i in range(len(st)):
        if ex is not None and not ex.labelled[i]:
            continue  # a return in light contact: not a stroke
        length = float(abs(st.s_end_m[i] - st.s_start_m[i]))
        contact = float(st.t_end_s[i] - st.t_start_s[i])
        out.append(
            {
                "t_start": _r(st.t_start_s[i]),
                "t_end": _r(st.t_end_s[i]),
                "direction": "distal" if st.direction[i] > 0 else "proximal",
                "force_n": _r(st.force_n[i], 3),
                "length_m": _r(length),
                "mean_speed_mps": _r(length / contact),
                "peak_speed_mps": _r(1.875 * length / contact),
                "s_start_m": _r(st.s_start_m[i]),
                "s_end_m": _r(st.s_end_m[i]),
                "ramp_on_s": _r(st.ramp_on_s[i], 3),
                "ramp_off_s": _r(st.ramp_off_s[i], 3),
                "friction_mu": _r(model.plan.limb.friction_mu, 3),
                "contact_angle_deg": _r(np.rad2deg(st.contact_angle_rad[i]), 2),
                "vibration_rms_mps2": _r(st.vibration_rms_mps2[i]),
                "vibration_centre_hz": _r(st.vibration_centre_hz[i], 2),
                "onset_acc_mps2": _r(feats.onset_acc_mps2[i]),
                "release_acc_mps2": _r(feats.release_acc_mps2[i]),
                "press_deg": _r(feats.press_deg[i]),
                "slide_mm": _r(feats.slide_mm[i], 3),
                "bout": int(st.bout[i]),
                "elevation_deg": _r(post["elevation_deg"][i], 2),
                "elevated": bool(post["elevated"][i]),
            }
        )
        if ex is not None:
            out[-1]["region"] = ex.region[i]
            if np.isfinite(ex.regrip_u[i]):
                glide = contact - float(ex.regrip_s[i])
                a = float(st.t_start_s[i]) + float(ex.regrip_u[i]) * glide
                out[-1]["regrip"] = [_r(a), _r(a + float(ex.regrip_s[i]))]
    return out


def variant_labels(model: BodyModel) -> dict[str, Any]:
    """Labels of the variant families: what they drew, movements, light returns, strap turns."""
    plan = model.plan
    v = plan.variant
    assert v is not None
    st = plan.strokes
    ex = st.extra
    returns = []
    if ex is not None:
        for i in range(len(st)):
            if not ex.labelled[i]:
                returns.append(
                    {
                        "t_start": _r(st.t_start_s[i]),
                        "t_end": _r(st.t_end_s[i]),
                        "kind": ex.return_kind[i] or "light",
                        "force_n": _r(st.force_n[i], 3),
                        "direction": "distal" if st.direction[i] > 0 else "proximal",
                    }
                )
    return {
        "variant": v.labels(),
        "movements": [lab for e in v.movements for lab in e.labels()],
        "returns": returns,
        "mount_changes": [mc.labels() for mc in v.mount_changes],
    }


def summary_labels(
    posture: dict[str, Any], strokes: list[dict[str, Any]], active: tuple[float, float], has_hand: bool
) -> dict[str, Any]:
    t = np.asarray(posture["t"])
    inside = (t >= active[0]) & (t <= active[1])
    elevated = np.asarray(posture["elevated"], dtype=bool)[inside]
    neutral = np.asarray(posture["wrist_neutral"], dtype=bool)[inside]
    starts = np.array([s["t_start"] for s in strokes], dtype=np.float64)
    cadence = mean_cadence_spm(starts)
    return {
        "strokes_total": len(strokes),
        "strokes_proximal": sum(s["direction"] == "proximal" for s in strokes),
        "strokes_distal": sum(s["direction"] == "distal" for s in strokes),
        "mean_cadence_spm": None if cadence is None else round(cadence, 3),
        "elevated_fraction": round(float(elevated.mean()), 4) if elevated.size else None,
        "lowered_fraction": round(float(1.0 - elevated.mean()), 4) if elevated.size else None,
        "wrist_neutral_fraction": round(float(neutral.mean()), 4) if (neutral.size and has_hand) else None,
        "wrist_neutral_fraction_physical": round(float(neutral.mean()), 4) if neutral.size else None,
    }
