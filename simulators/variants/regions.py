"""The ``regions`` family: a whole session plan as the source article teaches it.

Fingers one by one from tip to knuckle, then the back of the hand, the forearm up to the elbow, the
palm with the forearm supinated, and the spaces between the fingers; the cycle repeats while the
session lasts. Each stroke carries its true ``region``. The physics follows the contact's place:

- the glide lies on that region (fingers: tip → knuckle, 5–9 cm; forearm: wrist → elbow, 12–24 cm);
- lighter force on fingers and webs (0.3 × the session's typical force, 1–6 N), 0.7 × on the back of
  the hand, 0.8 × on the palm;
- the wrist and finger joints take part of the press and drag before it reaches the forearm
  (``absorb``: 0 on the forearm, 0.3–0.6 on the hand, 0.6–0.9 on fingers and webs), so a finger
  stroke barely pitches or drags the forearm where the watch sits;
- the rubbing vibration reaches each sensor attenuated by distance (e-folding 5–10 cm) and by half
  at each joint crossed (wrist, knuckles): a finger stroke gives the watch a few per cent of it;
- palm strokes happen with the forearm turned palm up (a supination of 140–175° held over the palm
  block), pressing on the palmar side (contact angle 180° ± 20°): the press pushes the hand toward
  the dorsal side, so what the treated sensor's z axis sees flips sign;
- the press flexes the wrist for dorsal hand contacts and extends it for palmar ones.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from simulators.plan import BodyParams, CalibrationPlan, EpisodePlan
from simulators.processes import rng_for
from simulators.scenario import Scenario, draw, span_bounds

#: Finger tip (share of hand length past the wrist), knuckle (share) and lateral offset (m, + radial).
FINGERS: dict[str, tuple[float, float, float]] = {
    "thumb": (0.72, 0.22, 0.045),
    "index": (0.95, 0.45, 0.025),
    "middle": (1.0, 0.45, 0.005),
    "ring": (0.96, 0.45, -0.015),
    "little": (0.84, 0.45, -0.033),
}
#: Region -> (force factor, contact bounds s, absorb range, surface radius m or None = forearm).
REGION_PHYSICS: dict[str, tuple[float, tuple[float, float], tuple[float, float], float | None]] = {
    "finger": (0.3, (0.5, 2.0), (0.6, 0.9), 0.009),
    "between_fingers": (0.3, (0.5, 2.0), (0.6, 0.9), 0.009),
    "back_of_hand": (0.7, (0.6, 3.0), (0.3, 0.6), 0.015),
    "palm": (0.8, (0.6, 3.0), (0.3, 0.6), 0.015),
    "forearm": (1.0, (0.8, 4.0), (0.0, 0.0), None),
}


def _paths(rng: np.random.Generator, body: BodyParams, arm_sign: float) -> list[tuple[str, list[Any]]]:
    """One cycle of the session: (region, [(near_s, far_s, lateral, kappa), ...] per stroke)."""
    L, H = body.forearm_length_m, body.hand_length_m
    blocks: list[tuple[str, list[Any]]] = []
    order = list(FINGERS) if rng.random() < 0.7 else list(reversed(FINGERS))
    fingers: list[Any] = []
    for name in order:
        tip, knuckle, lat = FINGERS[name]
        for _ in range(int(rng.integers(2, 6))):
            fingers.append((L + knuckle * H, L + tip * H - 0.005, arm_sign * lat, rng.normal(0.0, 0.35)))
    blocks.append(("finger", fingers))
    back = [
        (L - 0.02, L + 0.45 * H, arm_sign * rng.uniform(-0.02, 0.02), rng.normal(0.0, 0.2))
        for _ in range(int(rng.integers(4, 11)))
    ]
    blocks.append(("back_of_hand", back))
    fore = [
        (float(rng.uniform(0.04, 0.09)), L - float(rng.uniform(0.0, 0.02)), 0.0, rng.normal(0.0, 0.3))
        for _ in range(int(rng.integers(4, 11)))
    ]
    blocks.append(("forearm", fore))
    palm = [
        (L - 0.02, L + 0.45 * H, arm_sign * rng.uniform(-0.015, 0.015), np.pi + rng.normal(0.0, 0.2))
        for _ in range(int(rng.integers(4, 11)))
    ]
    blocks.append(("palm", palm))
    webs: list[Any] = []
    names = list(FINGERS)
    for a, b in itertools.pairwise(names):
        lat = 0.5 * (FINGERS[a][2] + FINGERS[b][2])
        for _ in range(int(rng.integers(1, 4))):
            webs.append((L + 0.42 * H, L + 0.62 * H, arm_sign * lat, rng.normal(0.0, 0.4)))
    blocks.append(("between_fingers", webs))
    return blocks


def draw_region_session(
    sc: Scenario, body: BodyParams, cal: CalibrationPlan, seed: int
) -> tuple[list[dict[str, float]], dict[str, list[Any]], list[EpisodePlan], float]:
    """Stroke rows (baseline columns), per-row region extras, the palm supination episodes, and the
    session's vibration e-folding distance (m)."""
    rng = rng_for(seed, "variant", "regions")
    st = sc.strokes
    arm_sign = 1.0 if body.arm == "right" else -1.0
    cadence = draw(st.cadence_spm, rng)
    duty = draw(st.duty, rng)
    force0 = draw(st.force_n, rng)
    yaw0 = float(np.deg2rad(draw(st.hand_yaw_deg, rng)))
    vib_coef = draw(sc.limb.vibration_mps2, rng)
    vib_lo, vib_hi = span_bounds(sc.limb.vibration_limits_mps2)
    band_lo, band_hi = span_bounds(sc.limb.vibration_hz)
    decay = float(rng.uniform(0.05, 0.10))
    rows: list[dict[str, float]] = []
    extra: dict[str, list[Any]] = {k: [] for k in ("region", "lateral_m", "radius_m", "absorb", "wrist_gain")}
    episodes: list[EpisodePlan] = []
    t = cal.end_s + draw(st.start_delay_s, rng)
    end = sc.duration_s - 1.0
    bout = 0
    while st.enabled and t < end:
        for region, paths in _paths(rng, body, arm_sign):
            f_factor, (c_lo, c_hi), (ab_lo, ab_hi), radius = REGION_PHYSICS[region]
            first_t = t
            palm_roll = float(np.deg2rad(rng.uniform(140.0, 175.0)))
            if region == "palm":
                t += float(rng.uniform(2.0, 3.5))  # turn the forearm palm up first
                first_t = t
            last_end = t
            for near, far, lateral, kappa in paths:
                period = max(c_lo + 0.4, 60.0 / cadence * float(np.exp(rng.normal(0.0, st.period_cv))))
                contact = float(np.clip(duty * period, c_lo, c_hi))
                if t + contact > end:
                    break
                direction = 1.0 if rng.random() < st.distal_fraction else -1.0
                s0, s1 = (near, far) if direction > 0 else (far, near)
                length = abs(far - near)
                force = float(np.clip(force0 * f_factor * np.exp(rng.normal(0.0, st.force_cv)), 1.0, 25.0))
                mean_speed = length / contact
                vib = float(
                    np.clip(vib_coef * np.sqrt(force / 12.0) * np.sqrt(mean_speed / 0.15), vib_lo, vib_hi)
                )
                rows.append(
                    {
                        "t_start_s": t,
                        "t_end_s": t + contact,
                        "direction": direction,
                        "s_start_m": float(s0),
                        "s_end_m": float(s1),
                        "force_n": force,
                        "ramp_on_s": min(draw(st.ramp_s, rng), contact / 2.5),
                        "ramp_off_s": min(draw(st.ramp_s, rng), contact / 2.5),
                        "contact_angle_rad": float(kappa),
                        "hand_yaw_rad": yaw0 + float(np.deg2rad(rng.normal(0.0, 8.0))),
                        "hand_tilt_rad": float(np.deg2rad(rng.normal(0.0, 6.0))),
                        "return_s": max(0.4, period - contact),
                        "vibration_rms_mps2": vib,
                        "vibration_centre_hz": float(
                            rng.uniform(min(band_lo + 4.0, band_hi), max(band_hi - 4.0, band_lo))
                        ),
                        "bout": float(bout),
                    }
                )
                absorb = float(rng.uniform(ab_lo, ab_hi))
                extra["region"].append(region)
                extra["lateral_m"].append(float(lateral))
                extra["radius_m"].append(body.forearm_radius_m if radius is None else radius)
                extra["absorb"].append(absorb)
                gain = (
                    0.0
                    if region == "forearm"
                    else float(np.cos(kappa)) * (0.3 if "finger" in region else 1.0)
                )
                extra["wrist_gain"].append(gain)
                last_end = t + contact
                t += period
            if region == "palm" and last_end > first_t:
                ramp = float(rng.uniform(0.8, 2.0))
                start = first_t - ramp - float(rng.uniform(0.2, 0.8))
                stop = last_end + float(rng.uniform(0.5, 1.2)) + ramp
                episodes.append(EpisodePlan("roll", start, stop, ramp, ramp, roll_rad=palm_roll))
                t = max(t, stop + 0.5)
            bout += 1
            t += float(rng.uniform(1.5, 6.0))  # moving on to the next region
            if t >= end:
                break
        t += float(rng.uniform(5.0, 20.0))  # between cycles
    return rows, extra, episodes, decay
