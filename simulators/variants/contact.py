"""The ``contact`` family: contact mechanics other than today's, drawn per session.

Each session draws a subset of these mechanisms (at least one):

- **support see-saw** (50 %): the forearm lies on a cushion or the table at 35–85 % of its length
  from the elbow instead of hanging from the supported elbow: pressing distal of the support pitches
  the hand down, proximal of it pitches the hand *up*, on top of it only sinks the limb (the support
  compresses 0.05–0.3 mm per N along the contact normal);
- **stiffness and force varying stroke to stroke** (70 %): per stroke the limb's natural frequency
  (2–9 Hz, lognormal σ 0.3 around the session's), damping (0.15–0.8), drag compliance and pitch gain
  (× lognormal σ 0.4), and the force (× lognormal σ 0.35, 1–25 N);
- **stick-slip friction** (50 %; then 40–100 % of strokes): the skin sticks under the hand and is
  sheared (skin stiffness 300–1500 N/m) until the static friction (1.2–2 × the kinetic) gives, then
  slips back to the kinetic level: the drag builds and releases in a sawtooth with sharp transients;
- **re-grips mid-stroke** (50 %; then 10–35 % of contacts ≥ 1.2 s): at 35–65 % of the glide the hand
  pauses 0.12–0.35 s while the force falls to 5–35 % and then glides on: one stroke, labelled with
  its ``regrip`` interval;
- **a strap that rocks** (60 %): the watch tilts about the forearm's y axis as the hand glides over
  it (0.1–0.5 ° per N, odd in the contact's distance from the watch over a strap half-width of
  1.5–3.5 cm), so the tilt sequence depends on the glide's direction.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simulators.plan import BodyParams, LimbParams
from simulators.processes import rng_for
from simulators.variants.strokes import StrokeExtras

MECHANISMS: tuple[str, ...] = ("support", "stiffness", "stick_slip", "regrip", "strap_rock")
_P: dict[str, float] = {"support": 0.5, "stiffness": 0.7, "stick_slip": 0.5, "regrip": 0.5, "strap_rock": 0.6}


def apply_contact(
    rows: list[dict[str, float]], ex: StrokeExtras, body: BodyParams, limb: LimbParams, seed: int
) -> tuple[dict[str, Any], float]:
    """Write the drawn mechanisms into ``rows``/``ex`` in place; return a description for the labels and
    the strap half-width (m)."""
    rng = rng_for(seed, "variant", "contact")
    on = [m for m in MECHANISMS if rng.random() < _P[m]]
    if not on:
        on = [MECHANISMS[int(rng.integers(0, len(MECHANISMS)))]]
    n = len(rows)
    L = body.forearm_length_m
    info: dict[str, Any] = {"mechanisms": on}
    strap_w = float(rng.uniform(0.015, 0.035))
    if "support" in on:
        pivot = float(rng.uniform(0.35, 0.85)) * L
        sink = float(rng.uniform(0.05, 0.3)) * 1e-3
        ex.pivot_m[:] = pivot
        ex.sink_m_per_n[:] = sink
        info["support_at_m"] = round(pivot, 4)
        info["sink_mm_per_n"] = round(sink * 1e3, 4)
    if "stiffness" in on:
        for i in range(n):
            ex.natural_hz[i] = float(np.clip(limb.natural_hz * np.exp(rng.normal(0.0, 0.3)), 2.0, 9.0))
            ex.damping[i] = float(rng.uniform(0.15, 0.8))
            ex.drag_m_per_n[i] = limb.drag_m_per_n * float(np.exp(rng.normal(0.0, 0.4)))
            ex.pitch_scale[i] = float(np.exp(rng.normal(0.0, 0.4)))
            f = float(np.clip(rows[i]["force_n"] * np.exp(rng.normal(0.0, 0.35)), 1.0, 25.0))
            rows[i]["vibration_rms_mps2"] *= float(np.sqrt(f / rows[i]["force_n"]))
            rows[i]["force_n"] = f
    if "stick_slip" in on:
        share = float(rng.uniform(0.4, 1.0))
        k = float(rng.uniform(300.0, 1500.0))
        ratio = float(rng.uniform(1.2, 2.0))
        for i in range(n):
            if rng.random() < share:
                ex.stick_k_n_per_m[i] = k * float(np.exp(rng.normal(0.0, 0.2)))
                ex.stick_ratio[i] = ratio
        info["stick_slip"] = {
            "share": round(share, 3),
            "skin_n_per_m": round(k, 1),
            "static_ratio": round(ratio, 3),
        }
    if "regrip" in on:
        share = float(rng.uniform(0.1, 0.35))
        for i in range(n):
            if rows[i]["t_end_s"] - rows[i]["t_start_s"] >= 1.2 and ex.labelled[i] and rng.random() < share:
                ex.regrip_u[i] = float(rng.uniform(0.35, 0.65))
                ex.regrip_s[i] = float(rng.uniform(0.12, 0.35))
                ex.regrip_force[i] = float(rng.uniform(0.05, 0.35))
        info["regrip_share"] = round(share, 3)
    if "strap_rock" in on:
        gain = float(np.deg2rad(rng.uniform(0.1, 0.5)))
        ex.rock_rad_per_n[:] = gain
        info["strap_rock_deg_per_n"] = round(float(np.rad2deg(gain)), 3)
        info["strap_half_width_m"] = round(strap_w, 4)
    return info, strap_w
