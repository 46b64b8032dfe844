"""The ``meta`` object of a `coach-trace` v1 file (docs/design.md §7), with typed accessors.

Every key is optional and unknown keys are kept, so a trace rewritten by this package keeps what
another tool put there. Accessors validate on read and raise :class:`~coach.errors.ValidationError`
naming the key; :meth:`TraceMeta.check` runs them all at once (``coach replay`` does, before the first
row, so a bad ``meta`` is an error naming its line).
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from coach.errors import ValidationError
from coach.samples import MAX_RATE_HZ, MIN_RATE_HZ
from coach.trace.limits import MAX_ABS_TIME_S

#: Defaults of docs/design.md §5: elbow supported at heart level, a 26 cm forearm.
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
            raise ValidationError(f"meta.arm must be 'left' or 'right', not {_short(arm)}")
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
        if rate is not None and not (_is_number(rate) and MIN_RATE_HZ <= rate <= MAX_RATE_HZ):
            raise ValidationError(
                f"meta.sensors.{role}.rate_hz must be a number of {MIN_RATE_HZ:g}–{MAX_RATE_HZ:g} Hz, "
                f"not {_short(rate)}"
            )
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
            or not all(_is_number(v) and abs(v) <= MAX_ABS_TIME_S for v in span)
            or not span[0] <= span[1]
        ):
            raise ValidationError(
                f"meta.calibration.{name} must be [start_s, end_s] with start <= end, "
                f"within ±{MAX_ABS_TIME_S:g} s"
            )
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
            raise ValidationError(f"meta.body.forearm_length_m must be 0.05–0.6 m, not {_short(length)}")
        if not (_is_number(offset) and -1.0 <= offset <= 1.0):
            raise ValidationError(f"meta.body.elbow_to_heart_m must be -1–1 m, not {_short(offset)}")
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
        if not (_is_number(v) and 0 < v <= MAX_ABS_TIME_S):
            raise ValidationError(
                f"meta.target_duration_s must be a positive number of seconds up to {MAX_ABS_TIME_S:g}, "
                f"not {_short(v)}"
            )
        return float(v)

    @property
    def start_utc(self) -> str | None:
        v = self.raw.get("start_utc")
        return None if v is None else str(v)

    def check(self) -> None:
        """Read every known key once: raise :class:`ValidationError` for the first bad one.

        ``start_utc``, when given, must be an ISO 8601 time between the years 1900 and 9000 (the wall
        time of every event is computed from it).
        """
        _ = self.arm
        sensors = self.raw.get("sensors")
        if sensors is not None and not isinstance(sensors, dict):
            raise ValidationError("meta.sensors must be an object keyed by role")
        for role in self.sensor_roles:
            self.sensor(role)
        for phase in ("still", "rotate"):
            self.phase(phase)
        _ = self.body, self.thresholds, self.target_duration_s
        start = self.raw.get("start_utc")
        if start is not None:
            try:
                when = dt.datetime.fromisoformat(str(start).replace("Z", "+00:00"))
            except ValueError:
                raise ValidationError(
                    f"meta.start_utc must be an ISO 8601 time, not {_short(start)}"
                ) from None
            if not 1900 <= when.year <= 9000:
                raise ValidationError(f"meta.start_utc must lie between 1900 and 9000, not {_short(start)}")


def _is_number(v: object) -> bool:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int beyond the float range
        return False


def _short(v: object, limit: int = 60) -> str:
    """``repr`` of a value for a message, cut to ``limit`` characters (a meta value can be huge)."""
    if isinstance(v, int) and not isinstance(v, bool) and abs(v).bit_length() > 200:
        return f"an integer of about {int(abs(v).bit_length() * math.log10(2)) + 1} digits"
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 1] + "…"
