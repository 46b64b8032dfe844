"""Saved per-device calibration profiles (JSON files in the user's data folder).

A profile remembers, for one physical device in one role, what a full calibration found: the long
axis in the sensor frame (from ``rotate``), the gyro bias and the gravity direction at ``still``.
docs/design.md §4: a saved profile can replace the ``rotate`` step; the ``still`` step is still needed
(bias and gravity change with every strapping).

Files live in ``<data folder>/calibration/<key>.json`` (the data folder of
:func:`coach.paths.data_dir`: ``$COACH_DATA_DIR``, else ``$XDG_DATA_HOME/retro-coach``). The key
is made from the role and the device's identity in ``meta.sensors.<role>`` (``device`` plus one of
``serial``, ``address`` or ``id`` when present): device names only, never a person's name.

Replays never read or write profiles on their own (a replay must give the same events on every
machine); a live session passes a :class:`ProfileStore` to the pipeline.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from coach.errors import ConfigError
from coach.trace.meta import TraceMeta

PROFILE_VERSION = 1


@dataclass(frozen=True, slots=True)
class CalibrationProfile:
    """What a calibration found for one device in one role (vectors in the sensor frame)."""

    key: str
    role: str
    device: str
    long_axis_sensor: tuple[float, float, float]
    gyro_bias_rps: tuple[float, float, float] | None = None
    gravity_sensor: tuple[float, float, float] | None = None
    created_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": PROFILE_VERSION,
            "key": self.key,
            "role": self.role,
            "device": self.device,
            "long_axis_sensor": list(self.long_axis_sensor),
            "gyro_bias_rps": None if self.gyro_bias_rps is None else list(self.gyro_bias_rps),
            "gravity_sensor": None if self.gravity_sensor is None else list(self.gravity_sensor),
            "created_s": self.created_s,
        }

    @staticmethod
    def from_json(data: dict[str, Any], source: str) -> CalibrationProfile:
        try:
            if data.get("version") != PROFILE_VERSION:
                raise ValueError(f"version {data.get('version')!r} (expected {PROFILE_VERSION})")
            axis = _vec(data["long_axis_sensor"], "long_axis_sensor", unit=True)
            assert axis is not None
            return CalibrationProfile(
                key=str(data["key"]),
                role=str(data["role"]),
                device=str(data["device"]),
                long_axis_sensor=axis,
                gyro_bias_rps=_vec(data.get("gyro_bias_rps"), "gyro_bias_rps"),
                gravity_sensor=_vec(data.get("gravity_sensor"), "gravity_sensor", unit=True),
                created_s=None if data.get("created_s") is None else float(data["created_s"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: not a calibration profile: {exc}") from None


def _vec(value: Any, name: str, unit: bool = False) -> tuple[float, float, float] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 3:
        raise ValueError(f"{name} must be a list of 3 numbers")
    v = [float(x) for x in value]
    if not all(math.isfinite(x) for x in v):
        raise ValueError(f"{name} must be finite")
    if unit:
        n = math.sqrt(sum(x * x for x in v))
        if not 0.9 < n < 1.1:
            raise ValueError(f"{name} must be a unit vector")
        v = [x / n for x in v]
    return (v[0], v[1], v[2])


def device_key(meta: TraceMeta, role: str) -> str | None:
    """The profile key for a role's device, or ``None`` when ``meta`` does not identify the device."""
    sensors = meta.raw.get("sensors") or {}
    info = sensors.get(role) if isinstance(sensors, dict) else None
    if not isinstance(info, dict) or not info.get("device"):
        return None
    parts = [role, str(info["device"])]
    for k in ("serial", "address", "id"):
        if info.get(k):
            parts.append(str(info[k]))
            break
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts))


class ProfileStore:
    """Profiles in one folder (default: ``<data folder>/calibration``)."""

    def __init__(self, folder: str | Path | None = None) -> None:
        if folder is None:
            from coach.paths import data_dir

            folder = data_dir() / "calibration"
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def load(self, key: str) -> CalibrationProfile | None:
        """The profile saved under ``key``, or ``None``; a broken file raises :class:`ConfigError`."""
        p = self.path(key)
        if not p.exists():
            return None
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{p}: cannot read the calibration profile: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: a calibration profile must be a JSON object")
        return CalibrationProfile.from_json(data, str(p))

    def save(self, profile: CalibrationProfile) -> Path:
        """Write atomically (temp file + rename), folder mode 0700."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        p = self.path(profile.key)
        tmp = p.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(profile.to_json(), indent=2, allow_nan=False) + "\n", encoding="utf-8")
        tmp.replace(p)
        return p


def profile_from_calibration(
    key: str, role: str, device: str, mount: np.ndarray, bias: np.ndarray | None, up: np.ndarray | None
) -> CalibrationProfile:
    """A profile from a calibration result (``mount`` columns are the segment axes in the sensor frame)."""

    def t3(v: np.ndarray) -> tuple[float, float, float]:
        return (float(v[0]), float(v[1]), float(v[2]))

    return CalibrationProfile(
        key=key,
        role=role,
        device=device,
        long_axis_sensor=t3(mount[:, 0]),
        gyro_bias_rps=None if bias is None else t3(bias),
        gravity_sensor=None if up is None else t3(up),
    )
