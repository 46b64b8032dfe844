"""The ``helper`` family: a real helper's wrist (the ``stroker`` sensor) instead of a rigid palm.

Per session (drawn from the seed):

- **landing and lifting with a turn of the wrist**: the wrist turns by 10–40° (mostly about the
  massaging hand's long axis) over the last 0.15–0.3 s before contact and back after it;
- **grip changes**: at a region change (70 %) and at any stroke (10–40 %) the hand takes another grip:
  the fingers point along, across or against the limb (multiples of 90° ± 10°) and the contact is
  made with the palm, the fingertips, the thumb web or the heel of the hand, which moves the wrist
  sensor 5–15 cm from the contact;
- **thumb-driven short glides**: glides under 9 cm are driven by the thumb in 50–95 % of cases; the
  wrist then travels between −25 % (it drifts back while the thumb pushes) and 45 % of the glide;
- **sweeping glides**: in 30–70 % of strokes the hand turns 15–40° about the limb normal during the
  glide, pivoting on the contact, so the wrist sensor (5–15 cm from the contact) swings on an arc;
- **returns in light contact**: 15–50 % of the returns inside a bout slide back on the skin with
  0.3–1.5 N (a return, not a stroke: labelled under ``returns``); 3–12 % are pressed (≥ 2 N): such a
  return is a stroke the other way (docs/design.md §5) and is labelled as one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simulators.processes import rng_for
from simulators.variants.strokes import StrokeExtras

#: Grip -> stroker sensor from the palm centre (massaging-hand frame, m).
GRIPS: dict[str, tuple[float, float, float]] = {
    "palm": (-0.085, 0.0, 0.035),
    "fingertips": (-0.15, 0.0, 0.045),
    "thumb_web": (-0.10, 0.035, 0.03),
    "heel": (-0.05, 0.0, 0.03),
}


def apply_helper(
    rows: list[dict[str, float]], ex: StrokeExtras, seed: int
) -> tuple[list[dict[str, float]], StrokeExtras, dict[str, Any]]:
    """Rows and extras with the helper's grips, wrist turns, thumb glides and light/pressed returns."""
    rng = rng_for(seed, "variant", "helper")
    p_light = float(rng.uniform(0.15, 0.5))
    p_pressed = float(rng.uniform(0.03, 0.12))
    p_grip = float(rng.uniform(0.1, 0.4))
    p_thumb = float(rng.uniform(0.5, 0.95))
    p_sweep = float(rng.uniform(0.3, 0.7))
    land = float(np.deg2rad(rng.uniform(10.0, 40.0))) * float(rng.choice([-1.0, 1.0]))
    axis = np.array([1.0, rng.normal(0.0, 0.3), rng.normal(0.0, 0.3)])
    axis /= np.linalg.norm(axis)
    grip_names = list(GRIPS)
    grip = "palm"
    yaw_class = 0.0
    n = len(rows)
    new_rows: list[dict[str, float]] = []
    keep: list[int] = []  # source row of every output row
    inserted: list[tuple[int, str, float]] = []  # (output index, kind, force)
    continued = False  # the hand slid back in contact: same grip and pose as the previous stroke
    for i, row in enumerate(rows):
        region = ex.region[i]
        change = rng.random() < p_grip or (i > 0 and region != ex.region[i - 1] and rng.random() < 0.7)
        if change and not continued:
            grip = grip_names[int(rng.integers(0, len(grip_names)))]
            yaw_class = float(np.deg2rad(90.0 * int(rng.integers(0, 4))))
        ex.grip_offset_m[i] = GRIPS[grip]
        yaw_noise = float(np.deg2rad(rng.normal(0.0, 10.0)))
        if continued:
            prev = new_rows[-1]
            for key in ("hand_yaw_rad", "hand_tilt_rad", "contact_angle_rad"):
                row[key] = prev[key]
        else:
            row["hand_yaw_rad"] = row["hand_yaw_rad"] + yaw_class + yaw_noise
        continued = False
        ex.land_rad[i] = land * float(rng.uniform(0.6, 1.2))
        ex.land_axis[i] = axis
        if abs(row["s_end_m"] - row["s_start_m"]) < 0.09 and rng.random() < p_thumb:
            ex.thumb_share[i] = float(rng.uniform(-0.25, 0.45))
        if rng.random() < p_sweep:
            ex.sweep_rad[i] = float(np.deg2rad(rng.uniform(15.0, 40.0)) * rng.choice([-1.0, 1.0]))
        new_rows.append(row)
        keep.append(i)
        if i + 1 >= n or rows[i + 1]["bout"] != row["bout"]:
            continue
        nxt = rows[i + 1]
        t0, t1 = row["t_end_s"] + 0.08, nxt["t_start_s"] - 0.08
        ds = nxt["s_start_m"] - row["s_end_m"]
        u = rng.random()
        same_place = ex.region[i + 1] == region and abs(ex.lateral_m[i + 1] - ex.lateral_m[i]) < 0.005
        if t1 - t0 < 0.4 or abs(ds) < 0.02 or u >= p_pressed + p_light or not same_place:
            continue
        continued = True
        pressed = u < p_pressed
        force = (
            max(2.0, row["force_n"] * float(rng.uniform(0.5, 1.0)))
            if pressed
            else float(rng.uniform(0.3, 1.5))
        )
        ret = dict(row)
        ret.update(
            t_start_s=t0,
            t_end_s=t1,
            direction=1.0 if ds > 0 else -1.0,
            s_start_m=row["s_end_m"],
            s_end_m=nxt["s_start_m"],
            force_n=force,
            ramp_on_s=min(0.15, (t1 - t0) / 2.5),
            ramp_off_s=min(0.15, (t1 - t0) / 2.5),
            return_s=0.08,
            vibration_rms_mps2=row["vibration_rms_mps2"]
            * (1.0 if pressed else float(np.sqrt(force / max(row["force_n"], 1e-6)))),
        )
        row["return_s"] = 0.08
        new_rows.append(ret)
        keep.append(i)
        inserted.append((len(new_rows) - 1, "pressed" if pressed else "light", force))
    out = ex.take(keep)
    for j, kind, _ in inserted:
        out.labelled[j] = kind == "pressed"
        out.return_kind[j] = "" if kind == "pressed" else "light"
        # The wrist follows the glide wherever the hand stays on the skin between contacts.
        out.thumb_share[max(0, j - 1) : j + 2] = 1.0
        out.sweep_rad[max(0, j - 1) : j + 2] = 0.0
    info = {
        "light_return_share": round(p_light, 3),
        "pressed_return_share": round(p_pressed, 3),
        "grip_change_share": round(p_grip, 3),
        "thumb_share_short_glides": round(p_thumb, 3),
        "sweep_share": round(p_sweep, 3),
        "landing_turn_deg": round(float(np.rad2deg(land)), 2),
    }
    return new_rows, out, info
