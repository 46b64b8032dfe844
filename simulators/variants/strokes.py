"""Per-stroke physics of the variant families, and building a :class:`~simulators.plan.StrokePlan` from rows.

Today's model (the ``baseline`` family) gives every stroke the session's limb parameters and a palm on
the forearm surface. A variant session carries a :class:`StrokeExtras` beside its plan: one entry per
contact for every mechanism a family may change (region, contact mechanics, the helper's grip). The
neutral values reproduce today's physics, so each family only writes the entries it owns.

Contacts that are *not* strokes (a helper's return in light contact) are in the plan too, marked
``labelled = False``: they touch the limb (drag, vibration) but never appear in the labels' strokes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt

from coach.samples import FloatArray

BoolArray = npt.NDArray[np.bool_]

#: Stroke regions of a session (docs/design.md §5), as written in the labels.
REGIONS: tuple[str, ...] = ("finger", "between_fingers", "back_of_hand", "palm", "forearm")

#: The baseline plan's columns, in :class:`~simulators.plan.StrokePlan` order.
BASE_COLUMNS: tuple[str, ...] = (
    "t_start_s",
    "t_end_s",
    "direction",
    "s_start_m",
    "s_end_m",
    "force_n",
    "ramp_on_s",
    "ramp_off_s",
    "contact_angle_rad",
    "hand_yaw_rad",
    "hand_tilt_rad",
    "return_s",
    "vibration_rms_mps2",
    "vibration_centre_hz",
    "bout",
)


def _nan(n: int) -> FloatArray:
    return np.full(n, np.nan)


@dataclass
class StrokeExtras:
    """Variant physics per contact (arrays of one entry per plan row; NaN = the session's value).

    Region and geometry: ``region`` (None: not drawn by the regions family), ``lateral_m`` (contact
    offset along segment y), ``radius_m`` (surface to axis under the contact), ``absorb`` (share of the
    press and drag taken by the wrist/finger joints before it reaches the forearm), ``wrist_gain``
    (signed multiplier of the press's wrist flexion; NaN: today's ``max(0, cos κ)``), ``local_vibration``
    (vibration falls off with distance from the contact, per sensor).

    Contact mechanics: ``natural_hz``, ``damping``, ``drag_m_per_n``, ``pitch_scale`` (limb stiffness
    per stroke), ``pivot_m`` (the forearm rests on a support here and see-saws about it; NaN: pivot at
    the elbow), ``sink_m_per_n`` (the support compresses under the press), ``stick_k_n_per_m`` and
    ``stick_ratio`` (stick-slip skin shear: skin stiffness and static/kinetic friction ratio; NaN: none),
    ``regrip_u``/``regrip_s``/``regrip_force`` (a re-grip starts at this share of the contact, lasts this
    long, the force falls to this share), ``rock_rad_per_n`` (the strap rocks under the passing hand),
    ``vib_scale``, ``vib_decay_m`` (distance over which the rubbing vibration falls by 1/e on its way
    to a sensor, with ``local_vibration``).

    The helper's hand: ``grip_offset_m`` (stroker sensor from the palm centre, massaging-hand frame),
    ``thumb_share`` (share of the glide the wrist itself travels; the thumb does the rest; negative: the
    wrist drifts back while the thumb pushes), ``sweep_rad`` (the hand turns about the limb normal
    during the glide, pivoting on the contact),
    ``land_rad``/``land_axis`` (wrist turn while landing and lifting), ``return_kind``.
    """

    n: int
    labelled: BoolArray
    region: list[str | None]
    lateral_m: FloatArray
    radius_m: FloatArray
    absorb: FloatArray
    wrist_gain: FloatArray
    local_vibration: BoolArray
    natural_hz: FloatArray
    damping: FloatArray
    drag_m_per_n: FloatArray
    pitch_scale: FloatArray
    pivot_m: FloatArray
    sink_m_per_n: FloatArray
    stick_k_n_per_m: FloatArray
    stick_ratio: FloatArray
    regrip_u: FloatArray
    regrip_s: FloatArray
    regrip_force: FloatArray
    rock_rad_per_n: FloatArray
    vib_scale: FloatArray
    vib_decay_m: FloatArray
    grip_offset_m: FloatArray  # (n, 3)
    thumb_share: FloatArray
    sweep_rad: FloatArray
    land_rad: FloatArray
    land_axis: FloatArray  # (n, 3)
    return_kind: list[str] = field(default_factory=list)  # "" for strokes, "light" for light returns

    @staticmethod
    def neutral(n: int, radius_m: float) -> StrokeExtras:
        """Today's physics for ``n`` contacts."""
        grip = np.tile(np.array([-0.085, 0.0, 0.035]), (n, 1))
        axis = np.tile(np.array([1.0, 0.0, 0.0]), (n, 1))
        return StrokeExtras(
            n=n,
            labelled=np.ones(n, dtype=bool),
            region=[None] * n,
            lateral_m=np.zeros(n),
            radius_m=np.full(n, radius_m),
            absorb=np.zeros(n),
            wrist_gain=_nan(n),
            local_vibration=np.zeros(n, dtype=bool),
            natural_hz=_nan(n),
            damping=_nan(n),
            drag_m_per_n=_nan(n),
            pitch_scale=np.ones(n),
            pivot_m=_nan(n),
            sink_m_per_n=np.zeros(n),
            stick_k_n_per_m=_nan(n),
            stick_ratio=_nan(n),
            regrip_u=_nan(n),
            regrip_s=_nan(n),
            regrip_force=_nan(n),
            rock_rad_per_n=np.zeros(n),
            vib_scale=np.ones(n),
            vib_decay_m=_nan(n),
            grip_offset_m=grip,
            thumb_share=np.ones(n),
            sweep_rad=np.zeros(n),
            land_rad=np.zeros(n),
            land_axis=axis,
            return_kind=[""] * n,
        )

    def take(self, order: list[int]) -> StrokeExtras:
        """Rows in a new order (or a subset); ``-1`` is not allowed."""
        idx = np.asarray(order, dtype=np.int64)
        kw: dict[str, Any] = {"n": len(order)}
        for f in fields(self):
            if f.name == "n":
                continue
            v = getattr(self, f.name)
            kw[f.name] = [v[i] for i in order] if isinstance(v, list) else v[idx]
        return StrokeExtras(**kw)


def rows_of(plan: Any) -> list[dict[str, float]]:
    """A :class:`~simulators.plan.StrokePlan`'s strokes as one dict per stroke (baseline columns)."""
    return [{c: float(getattr(plan, c)[i]) for c in BASE_COLUMNS} for i in range(len(plan))]


def columns_of(rows: list[dict[str, float]]) -> dict[str, FloatArray]:
    """Rows back to the plan's column arrays (empty arrays when there is no row)."""
    return {c: np.array([r[c] for r in rows], dtype=np.float64).reshape(-1) for c in BASE_COLUMNS}
