"""The ``meta`` object of a `coach-trace` v1 file (DESIGN.md §7), with typed accessors.

Every key is optional and unknown keys are kept, so a trace rewritten by this package keeps what
another tool put there. Accessors validate on read and raise :class:`~coach.errors.ValidationError`
naming the key.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

from coach.errors import ValidationError

#: Defaults of DESIGN.md §5: elbow supported at heart level, a 26 cm forearm.
DEFAULT_FOREARM_LENGTH_M = 0.26
DEFAULT_ELBOW_TO_HEART_M = 0.0


@dataclass(frozen=True, slots=True)
class Body:
    """Body parameters for the wrist-height estimate ``h = elbow_to_heart_m + forearm_length_m·sin θ``."""

    forearm_length_m: float = DEFAULT_FOREARM_LENGTH_M
    elbow_to_heart_m: float = DEFAULT_ELBOW_TO_HEART_M


@dataclass(frozen=True, slots=True)
class SensorInfo:
    """Per-role facts from ``meta.sensors``: nominal rate (Hz) and device name, each possibly unknown."""

    rate_hz: float | None = None
    device: str | None = None


class TraceMeta:
    """A trace's ``meta`` dictionary. ``raw`` is the whole object, unknown keys included."""

    __slots__ = ("raw",)

    def __init__(self, raw: dict[str, Any] | None = None) -> None:
        if raw is not None and not isinstance(raw, dict):
            raise ValidationError("meta must be a JSON object")
        self.raw: dict[str, Any] = copy.deepcopy(raw) if raw else {}

    def __repr__(self) -> str:
        return f"TraceMeta({self.raw!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TraceMeta) and self.raw == other.raw

    def copy(self) -> TraceMeta:
        return TraceMeta(self.raw)

    # -- arm ---------------------------------------------------------------------------------
    @property
    def arm(self) -> str:
        """``left`` or ``right`` (the default when absent: see :attr:`arm_given`)."""
        arm = self.raw.get("arm", "right")
        if arm not in ("left", "right"):
            raise ValidationError(f"meta.arm must be 'left' or 'right', not {arm!r}")
        return str(arm)

    @property
    def arm_given(self) -> bool:
        """Whether the trace says which arm is treated (it sets the sign of deviation and roll)."""
        return "arm" in self.raw

    # -- sensors -----------------------------------------------------------------------------
    def sensor(self, role: str) -> SensorInfo:
        sensors = self.raw.get("sensors") or {}
        if not isinstance(sensors, dict):
            raise ValidationError("meta.sensors must be an object keyed by role")
        info = sensors.get(role) or {}
        if not isinstance(info, dict):
            raise ValidationError(f"meta.sensors.{role} must be an object")
        rate = info.get("rate_hz")
        if rate is not None and not (_is_number(rate) and rate > 0):
            raise ValidationError(f"meta.sensors.{role}.rate_hz must be a positive number, not {rate!r}")
        device = info.get("device")
        return SensorInfo(None if rate is None else float(rate), None if device is None else str(device))

    @property
    def sensor_roles(self) -> list[str]:
        sensors = self.raw.get("sensors") or {}
        return list(sensors) if isinstance(sensors, dict) else []

    # -- calibration phases ------------------------------------------------------------------
    def phase(self, name: str) -> tuple[float, float] | None:
        """Start and end (trace seconds) of a calibration phase (``still``, ``rotate``), or ``None``."""
        cal = self.raw.get("calibration") or {}
        if not isinstance(cal, dict):
            raise ValidationError("meta.calibration must be an object of phase names to [start, end]")
        span = cal.get(name)
        if span is None:
            return None
        if (
            not isinstance(span, list | tuple)
            or len(span) != 2
            or not all(_is_number(v) for v in span)
            or not span[0] <= span[1]
        ):
            raise ValidationError(f"meta.calibration.{name} must be [start_s, end_s] with start <= end")
        return float(span[0]), float(span[1])

    def set_phase(self, name: str, start_s: float, end_s: float) -> None:
        self.raw.setdefault("calibration", {})[name] = [round(start_s, 6), round(end_s, 6)]

    # -- body, thresholds, duration ----------------------------------------------------------
    @property
    def body(self) -> Body:
        body = self.raw.get("body") or {}
        if not isinstance(body, dict):
            raise ValidationError("meta.body must be an object")
        length = body.get("forearm_length_m", DEFAULT_FOREARM_LENGTH_M)
        offset = body.get("elbow_to_heart_m", DEFAULT_ELBOW_TO_HEART_M)
        if not (_is_number(length) and 0.05 <= length <= 0.6):
            raise ValidationError(f"meta.body.forearm_length_m must be 0.05–0.6 m, not {length!r}")
        if not (_is_number(offset) and -1.0 <= offset <= 1.0):
            raise ValidationError(f"meta.body.elbow_to_heart_m must be -1–1 m, not {offset!r}")
        return Body(float(length), float(offset))

    @property
    def thresholds(self) -> dict[str, float]:
        th = self.raw.get("thresholds") or {}
        if not isinstance(th, dict) or not all(_is_number(v) for v in th.values()):
            raise ValidationError("meta.thresholds must be an object of numbers")
        return {str(k): float(v) for k, v in th.items()}

    @property
    def target_duration_s(self) -> float | None:
        v = self.raw.get("target_duration_s")
        if v is None:
            return None
        if not (_is_number(v) and v > 0):
            raise ValidationError(f"meta.target_duration_s must be a positive number, not {v!r}")
        return float(v)

    @property
    def start_utc(self) -> str | None:
        v = self.raw.get("start_utc")
        return None if v is None else str(v)


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
