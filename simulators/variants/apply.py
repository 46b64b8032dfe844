"""Putting the variant families into a session plan (:func:`simulators.plan.plan_session` calls these).

``Scenario.variants`` names the families; each draws its mechanisms from the session seed with its own
generators (``rng_for(seed, "variant", <family>, ...)``), so a family added to a scenario never changes
another ingredient's draw, and a scenario without families is today's physics bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulators.plan import (
    BodyParams,
    CalibrationPlan,
    EpisodePlan,
    FidgetPlan,
    LimbParams,
    StrokePlan,
    stroke_plan_from_columns,
)
from simulators.scenario import Scenario
from simulators.variants.contact import apply_contact
from simulators.variants.helper import apply_helper
from simulators.variants.movement import MovementEvent, draw_movements
from simulators.variants.regions import draw_region_session
from simulators.variants.sensors import MountChange, SensorVariant, draw_mount_changes, draw_sensor_variant
from simulators.variants.strokes import StrokeExtras, columns_of, rows_of


@dataclass
class VariantPlan:
    """What the families drew for one session (beyond the per-contact :class:`StrokeExtras`)."""

    families: tuple[str, ...]
    info: dict[str, Any] = field(default_factory=dict)
    palm_episodes: tuple[EpisodePlan, ...] = ()
    strap_half_width_m: float = 0.025
    movements: tuple[MovementEvent, ...] = ()
    sensors: dict[str, SensorVariant] = field(default_factory=dict)
    mount_changes: tuple[MountChange, ...] = ()

    def labels(self) -> dict[str, Any]:
        return {
            "families": list(self.families),
            **self.info,
            "sensors": {role: v.labels() for role, v in self.sensors.items()},
        }


def plan_variant_strokes(
    sc: Scenario,
    body: BodyParams,
    limb: LimbParams,
    cal: CalibrationPlan,
    seed: int,
    draw_strokes: Callable[[Scenario, BodyParams, LimbParams, CalibrationPlan, int], StrokePlan],
) -> tuple[StrokePlan, VariantPlan]:
    """The session's contacts with the families' mechanisms, and the rest of what they drew."""
    fam = sc.variants
    variant = VariantPlan(fam)
    base = draw_strokes(sc, body, limb, cal, seed)
    lift, yaw0 = base.lift_m, base.hand_yaw0_rad
    if "regions" in fam:
        rows, rex, palm, decay = draw_region_session(sc, body, cal, seed)
        ex = StrokeExtras.neutral(len(rows), body.forearm_radius_m)
        ex.region = list(rex["region"])
        for key in ("lateral_m", "radius_m", "absorb", "wrist_gain"):
            getattr(ex, key)[:] = np.asarray(rex[key], dtype=np.float64)
        ex.local_vibration[:] = True
        ex.vib_decay_m[:] = decay
        variant.palm_episodes = tuple(palm)
        variant.info["regions"] = {"vibration_decay_m": round(decay, 4)}
    else:
        rows = rows_of(base)
        ex = StrokeExtras.neutral(len(rows), body.forearm_radius_m)
    if "helper" in fam:
        rows, ex, info = apply_helper(rows, ex, seed)
        variant.info["helper"] = info
    if "contact" in fam:
        info_c, variant.strap_half_width_m = apply_contact(rows, ex, body, limb, seed)
        variant.info["contact"] = info_c
    plan = stroke_plan_from_columns(columns_of(rows), lift, yaw0, ex)
    return plan, variant


def finish_variant(
    variant: VariantPlan,
    sc: Scenario,
    body: BodyParams,
    cal: CalibrationPlan,
    strokes: StrokePlan,
    fidgets: FidgetPlan,
    episodes: tuple[EpisodePlan, ...],
    seed: int,
) -> tuple[EpisodePlan, ...]:
    """Episodes with the palm supinations; movement events, sensor variants and strap turns drawn."""
    out = list(episodes)
    if variant.palm_episodes:
        palms = variant.palm_episodes
        out = [
            e
            for e in out
            if e.kind != "roll" or all(e.t_end_s < p.t_start_s or e.t_start_s > p.t_end_s for p in palms)
        ]
        out += list(palms)
    busy = [(float(a), float(b)) for a, b in zip(strokes.t_start_s, strokes.t_end_s, strict=True)]
    busy += [(float(a), float(a + d)) for a, d in zip(fidgets.t_start_s, fidgets.duration_s, strict=True)]
    active = (cal.end_s + 2.0, body.duration_s - 2.0)
    if "movement" in variant.families:
        variant.movements = draw_movements(seed, busy, active, not sc.strokes.enabled, body.forearm_length_m)
        variant.info["movement"] = {"events": len(variant.movements)}
    if "sensors" in variant.families:
        variant.sensors = {role: draw_sensor_variant(seed, role, body.duration_s) for role in sc.sensors}
        busy_all = busy + [(e.t_start_s, e.t_end_s) for e in variant.movements]
        variant.mount_changes = draw_mount_changes(seed, tuple(sc.sensors), active, busy_all)
    return tuple(sorted(out, key=lambda e: e.t_start_s))
