# ruff: noqa: RUF009  (_spec() returns dataclasses.field(...) with metadata; ruff cannot tell)
"""The documented description of a simulated session: :class:`Scenario`, its file format, and random draws.

A scenario says *what kind* of session to simulate; :func:`simulators.simulate` with a seed turns it into
one concrete session. Numeric parameters marked "span" take either one number (fixed) or a two-element
``[lo, hi]`` range drawn uniformly; each field's doc says *when* it is drawn (once per session, per
stroke, per episode, ...) or whether it is a bound that per-item draws are clipped to.

Load one from TOML or JSON with :meth:`Scenario.from_file`; unknown keys and bad values raise
:class:`~coach.errors.ConfigError` naming the file and the dotted key (``strokes.cadence_spm``).
:func:`random_scenario` draws a varied session covering docs/design.md §6. ``docs/simulator.md`` lists every
field (``python -m simulators.scenario`` prints the table).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from coach.errors import ConfigError, ValidationError
from coach.samples import ROLES

#: A fixed value or a uniform range ``(lo, hi)``.
Span = float | tuple[float, float]

DEVICE_CLASSES: tuple[str, ...] = ("good", "cheap")
EPISODE_KINDS: tuple[str, ...] = ("lowered", "sag", "wrist", "roll")
ARMS: tuple[str, ...] = ("left", "right")
#: Physics variant families (docs/simulator.md, "Physics variant families"); none = today's ``baseline``.
FAMILIES: tuple[str, ...] = ("regions", "contact", "helper", "movement", "sensors")


class _FieldError(ValidationError):
    """A bad value: ``key`` is the dotted path below the object being checked.

    Constructing a section directly raises it as a :class:`~coach.errors.ValidationError`; the file
    loader catches it and reports the full dotted key as a :class:`~coach.errors.ConfigError`.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def _spec(
    default: Any = dataclasses.MISSING,
    *,
    doc: str,
    kind: str,
    unit: str = "",
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple[str, ...] = (),
    section: type | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    meta = {
        "doc": doc,
        "kind": kind,
        "unit": unit,
        "lo": lo,
        "hi": hi,
        "choices": choices,
        "section": section,
    }
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


# --------------------------------------------------------------------------------------------------
# Value checks and conversion (shared by the constructors and the file loader)


def _num(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _FieldError(key, f"must be a finite number, not {value!r}")
    return float(value)


def _in_bounds(v: float, key: str, lo: float | None, hi: float | None, unit: str) -> None:
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        lo_s = "-inf" if lo is None else f"{lo:g}"
        hi_s = "inf" if hi is None else f"{hi:g}"
        raise _FieldError(key, f"{v:g} is outside [{lo_s}, {hi_s}]{' ' + unit if unit else ''}")


def _convert(value: Any, f: dataclasses.Field[Any], key: str) -> Any:
    """Check one field value and return it in canonical form (tuples, floats, section objects)."""
    m = f.metadata
    kind, lo, hi, unit = m["kind"], m["lo"], m["hi"], m["unit"]
    if value is None and kind.startswith("opt"):
        return None
    base = kind.removeprefix("opt")
    if base == "float":
        v = _num(value, key)
        _in_bounds(v, key, lo, hi, unit)
        return v
    if base == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _FieldError(key, f"must be an integer, not {value!r}")
        _in_bounds(float(value), key, lo, hi, unit)
        return int(value)
    if base == "bool":
        if not isinstance(value, bool):
            raise _FieldError(key, f"must be true or false, not {value!r}")
        return value
    if base == "str":
        if not isinstance(value, str):
            raise _FieldError(key, f"must be a string, not {value!r}")
        return value
    if base == "choice":
        if value not in m["choices"]:
            raise _FieldError(key, f"must be one of {', '.join(m['choices'])}, not {value!r}")
        return str(value)
    if base == "span":
        if isinstance(value, list | tuple):
            if len(value) != 2:
                raise _FieldError(key, f"a range must be [lo, hi], not {list(value)!r}")
            a, b = _num(value[0], key), _num(value[1], key)
            if a > b:
                raise _FieldError(key, f"range [{a:g}, {b:g}] has lo > hi")
            _in_bounds(a, key, lo, hi, unit)
            _in_bounds(b, key, lo, hi, unit)
            return (a, b) if a != b else a
        v = _num(value, key)
        _in_bounds(v, key, lo, hi, unit)
        return v
    if base == "gaps":
        if not isinstance(value, list | tuple):
            raise _FieldError(key, "must be a list of [start_s, duration_s] pairs")
        out = []
        for i, pair in enumerate(value):
            k = f"{key}[{i}]"
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise _FieldError(k, f"must be [start_s, duration_s], not {pair!r}")
            start, dur = _num(pair[0], k), _num(pair[1], k)
            if start < 0 or dur <= 0:
                raise _FieldError(k, "start must be >= 0 and duration > 0")
            out.append((start, dur))
        return tuple(out)
    if base == "section":
        cls = m["section"]
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise _FieldError(key, f"must be a table/object, not {value!r}")
        return _build(cls, value, key)
    if base == "sensors":
        if not isinstance(value, Mapping):
            raise _FieldError(key, "must be a table of role -> sensor settings")
        out_s: dict[str, SensorSpec] = {}
        for role, spec in value.items():
            if role not in ROLES:
                raise _FieldError(f"{key}.{role}", f"unknown role (known: {', '.join(ROLES)})")
            if isinstance(spec, SensorSpec):
                out_s[role] = spec
            elif isinstance(spec, Mapping):
                out_s[role] = _build(SensorSpec, spec, f"{key}.{role}")
            else:
                raise _FieldError(f"{key}.{role}", "must be a table of sensor settings")
        if "treated" not in out_s:
            raise _FieldError(key, "needs a 'treated' sensor (a session without it cannot be coached)")
        return {r: out_s[r] for r in ROLES if r in out_s}
    if base == "families":
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
            raise _FieldError(key, f"must be a list of family names, not {value!r}")
        unknown = [n for n in names if n not in (*FAMILIES, "baseline")]
        if unknown:
            raise _FieldError(
                key,
                f"unknown famil{'y' if len(unknown) == 1 else 'ies'} {unknown!r} "
                f"(known: baseline, {', '.join(FAMILIES)})",
            )
        return tuple(f for f in FAMILIES if f in names)
    if base == "episodes":
        if not isinstance(value, list | tuple):
            raise _FieldError(key, "must be a list of episode tables")
        eps = []
        for i, ep in enumerate(value):
            k = f"{key}[{i}]"
            if isinstance(ep, Episode):
                eps.append(ep)
            elif isinstance(ep, Mapping):
                eps.append(_build(Episode, ep, k))
            else:
                raise _FieldError(k, "must be a table")
        return tuple(eps)
    raise AssertionError(f"unknown field kind {kind}")  # pragma: no cover


T = TypeVar("T")


def _build(cls: type[T], data: Mapping[str, Any], prefix: str) -> T:
    """Construct a section from a mapping, naming the dotted key of the first bad or unknown entry."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for k in data:
        if k not in fields:
            where = f"{prefix}.{k}" if prefix else str(k)
            close = difflib.get_close_matches(str(k), list(fields), n=2)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise _FieldError(where, f"unknown key{hint}")
    try:
        return cls(**dict(data))
    except _FieldError as exc:
        raise _FieldError(f"{prefix}.{exc.key}" if prefix else exc.key, exc.message) from None


def _normalise(obj: Any) -> None:
    """``__post_init__`` body: check and canonicalise every field in place (frozen-safe)."""
    for f in dataclasses.fields(obj):
        object.__setattr__(obj, f.name, _convert(getattr(obj, f.name), f, f.name))


class _Section:
    """Validation on construction for every scenario section."""

    def __post_init__(self) -> None:
        _normalise(self)
        self._cross_check()

    def _cross_check(self) -> None:
        """Checks between fields; raise :class:`_FieldError` naming the key."""


# --------------------------------------------------------------------------------------------------
# The sections


@dataclass(frozen=True)
class SensorSpec(_Section):
    """One worn sensor (a role): device class, rate, mounting and transport faults."""

    rate_hz: float = _spec(
        100.0,
        kind="float",
        unit="Hz",
        lo=10.0,
        hi=1000.0,
        doc="nominal output data rate (the design corpus uses 50, 100 and 200)",
    )
    device_class: str = _spec(
        "good",
        kind="choice",
        choices=DEVICE_CLASSES,
        doc="sensor error model: 'good' (BMI270-class) or 'cheap' (MPU-6050-class); see docs/simulator.md",
    )
    device: str | None = _spec(
        None,
        kind="optstr",
        doc="device name written to meta.sensors.<role>.device; default by class "
        "(good: metamotion-s, cheap: witmotion-bwt901)",
    )
    noise_scale: float = _spec(
        1.0, kind="float", lo=0.0, hi=20.0, doc="multiplier on the class's white noise"
    )
    misalignment_deg: Span = _spec(
        (0.0, 20.0),
        kind="span",
        unit="°",
        lo=0.0,
        hi=45.0,
        doc="session draw: angle of the mounting rotation away from nominal (device axes = segment axes), "
        "about a random axis; <= 45 keeps device x within 45° of distal",
    )
    acc_range_g: float | None = _spec(
        None,
        kind="optfloat",
        unit="g",
        lo=1.0,
        hi=32.0,
        doc="accelerometer full scale (saturation); default by class",
    )
    gyro_range_dps: float | None = _spec(
        None,
        kind="optfloat",
        unit="°/s",
        lo=60.0,
        hi=4000.0,
        doc="gyroscope full scale (saturation); default by class",
    )
    drop_rate: Span = _spec(
        0.0,
        kind="span",
        lo=0.0,
        hi=0.5,
        doc="session draw: share of BLE packets lost (each loses samples_per_packet samples)",
    )
    samples_per_packet: int = _spec(
        1, kind="int", lo=1, hi=16, doc="samples carried by one BLE notification (drops come in such runs)"
    )
    gaps_per_10min: Span = _spec(
        0.0,
        kind="span",
        lo=0.0,
        hi=30.0,
        doc="session draw: rate of random whole disconnections, placed outside the calibration phases",
    )
    gap_s: Span = _spec(
        (1.0, 10.0),
        kind="span",
        unit="s",
        lo=0.05,
        hi=600.0,
        doc="per-gap draw: duration of a random disconnection",
    )
    gaps: tuple[tuple[float, float], ...] = _spec(
        (),
        kind="gaps",
        unit="s",
        doc="explicit disconnections as [start_s, duration_s] pairs (true time), in addition to random ones",
    )
    jitter_s: Span | None = _spec(
        None,
        kind="optspan",
        unit="s",
        lo=0.0,
        hi=0.1,
        doc="session draw: σ of timestamp jitter; default by class",
    )
    clock_offset_s: Span | None = _spec(
        None,
        kind="optspan",
        unit="s",
        lo=-1.0,
        hi=1.0,
        doc="session draw: constant offset of this sensor's timestamps from true time; default by class",
    )
    clock_drift_ppm: Span | None = _spec(
        None,
        kind="optspan",
        unit="ppm",
        lo=-5000.0,
        hi=5000.0,
        doc="session draw: drift of this sensor's timestamps against true time; default by class",
    )
    rate_error_ppm: Span | None = _spec(
        None,
        kind="optspan",
        unit="ppm",
        lo=-50000.0,
        hi=50000.0,
        doc="session draw: deviation of the actual sampling rate from rate_hz (device oscillator); "
        "default by class",
    )


@dataclass(frozen=True)
class BodySpec(_Section):
    """The treated arm's geometry (session draws)."""

    forearm_length_m: Span = _spec(
        0.26, kind="span", unit="m", lo=0.15, hi=0.40, doc="elbow pivot to wrist joint (written to meta.body)"
    )
    elbow_to_heart_m: Span = _spec(
        0.0,
        kind="span",
        unit="m",
        lo=-0.3,
        hi=0.3,
        doc="height of the supported elbow over the heart (written to meta.body)",
    )
    hand_length_m: Span = _spec(
        (0.17, 0.21), kind="span", unit="m", lo=0.10, hi=0.26, doc="wrist joint to fingertips"
    )
    forearm_radius_m: Span = _spec(
        (0.025, 0.035),
        kind="span",
        unit="m",
        lo=0.01,
        hi=0.06,
        doc="skin surface to forearm long axis (contact and sensor height)",
    )
    treated_sensor_m: Span = _spec(
        (0.02, 0.06),
        kind="span",
        unit="m",
        lo=0.0,
        hi=0.12,
        doc="treated sensor centre, proximal of the wrist joint",
    )
    hand_sensor_m: Span = _spec(
        (0.04, 0.07),
        kind="span",
        unit="m",
        lo=0.01,
        hi=0.10,
        doc="hand sensor centre (3rd metacarpal), distal of the wrist joint",
    )


@dataclass(frozen=True)
class CalibrationSpec(_Section):
    """The guided start of docs/design.md §4: ``still`` then ``rotate``."""

    enabled: bool = _spec(True, kind="bool", doc="perform the still and rotate phases at the session start")
    in_meta: bool = _spec(
        True,
        kind="bool",
        doc="write the prompted phase times to meta.calibration (false: a trace without them)",
    )
    lead_in_s: Span = _spec(
        (0.5, 2.0),
        kind="span",
        unit="s",
        lo=0.0,
        hi=60.0,
        doc="session draw: from t = 0 to the still prompt (arm settles into the pose)",
    )
    still_s: Span = _spec(
        (3.0, 5.0), kind="span", unit="s", lo=3.0, hi=60.0, doc="session draw: prompted still duration"
    )
    rotate_s: Span = _spec(
        6.0, kind="span", unit="s", lo=3.0, hi=30.0, doc="session draw: prompted rotate duration"
    )
    rotate_turns: int = _spec(2, kind="int", lo=1, hi=5, doc="palm-down/palm-up turns in the rotate phase")
    rotate_deg: Span = _spec(
        (120.0, 170.0),
        kind="span",
        unit="°",
        lo=20.0,
        hi=200.0,
        doc="session draw: supination reached at each turn (palm up)",
    )
    reaction_s: Span = _spec(
        (0.2, 0.8),
        kind="span",
        unit="s",
        lo=0.0,
        hi=3.0,
        doc="session draw: delay of the performed rotation after its prompt",
    )


@dataclass(frozen=True)
class StrokeSpec(_Section):
    """Strokes of the massaging hand (docs/design.md §6)."""

    enabled: bool = _spec(True, kind="bool", doc="simulate strokes at all")
    cadence_spm: Span = _spec(
        (12.0, 30.0),
        kind="span",
        unit="1/min",
        lo=4.0,
        hi=60.0,
        doc="session draw: stroking rate inside bouts",
    )
    period_cv: float = _spec(
        0.12, kind="float", lo=0.0, hi=0.5, doc="per-stroke relative variation (σ) of the stroke period"
    )
    duty: Span = _spec(
        (0.4, 0.65), kind="span", lo=0.1, hi=0.9, doc="session draw: contact share of the stroke period"
    )
    contact_s: Span = _spec(
        (0.8, 4.0),
        kind="span",
        unit="s",
        lo=0.2,
        hi=10.0,
        doc="bounds of a stroke's contact (glide) duration",
    )
    return_s: Span = _spec(
        (0.5, 2.0),
        kind="span",
        unit="s",
        lo=0.2,
        hi=10.0,
        doc="per-stroke draw: return (no contact) duration, shortened to what the period leaves",
    )
    length_m: Span = _spec(
        (0.08, 0.30), kind="span", unit="m", lo=0.02, hi=0.5, doc="bounds of the glide length"
    )
    speed_mps: Span = _spec(
        (0.05, 0.25),
        kind="span",
        unit="m/s",
        lo=0.01,
        hi=1.0,
        doc="session draw of the typical mean glide speed; also bounds each stroke's mean speed",
    )
    speed_cv: float = _spec(
        0.15, kind="float", lo=0.0, hi=1.0, doc="per-stroke relative variation (σ) of the glide speed"
    )
    force_n: Span = _spec(
        (2.0, 20.0),
        kind="span",
        unit="N",
        lo=0.5,
        hi=50.0,
        doc="session draw of the typical peak normal force (light to firm); also bounds each stroke's force",
    )
    force_cv: float = _spec(
        0.2, kind="float", lo=0.0, hi=1.0, doc="per-stroke relative variation (σ) of the normal force"
    )
    ramp_s: Span = _spec(
        (0.2, 0.5),
        kind="span",
        unit="s",
        lo=0.02,
        hi=2.0,
        doc="per-stroke draws: force ramp-on and ramp-off times",
    )
    friction_mu: Span = _spec(
        (0.1, 0.4),
        kind="span",
        lo=0.0,
        hi=1.5,
        doc="session draw: friction coefficient between hand and skin (with lotion)",
    )
    distal_fraction: float = _spec(
        0.25,
        kind="float",
        lo=0.0,
        hi=1.0,
        doc="probability that a stroke goes distal (toward the fingertips: wrong)",
    )
    bout_strokes: Span = _spec(
        (5.0, 30.0), kind="span", lo=1.0, hi=1000.0, doc="per-bout draw: strokes in a bout (rounded)"
    )
    pause_s: Span = _spec(
        (5.0, 40.0), kind="span", unit="s", lo=0.0, hi=3600.0, doc="per-pause draw: pause between bouts"
    )
    start_delay_s: Span = _spec(
        (2.0, 8.0),
        kind="span",
        unit="s",
        lo=0.0,
        hi=600.0,
        doc="session draw: from the end of calibration to the first stroke",
    )
    lift_m: Span = _spec(
        (0.02, 0.08),
        kind="span",
        unit="m",
        lo=0.0,
        hi=0.3,
        doc="session draw: height of the return arc over the limb",
    )
    contact_angle_deg: Span = _spec(
        (-40.0, 40.0),
        kind="span",
        unit="°",
        lo=-180.0,
        hi=180.0,
        doc="per-stroke draw: contact surface around the long axis (0 = dorsal, + toward segment +y)",
    )
    hand_yaw_deg: Span = _spec(
        (-180.0, 180.0),
        kind="span",
        unit="°",
        lo=-180.0,
        hi=180.0,
        doc="session draw: massaging hand's fingers about the limb normal (0 = fingers distal)",
    )


@dataclass(frozen=True)
class LimbSpec(_Section):
    """How the supported limb answers the massaging hand (session draws)."""

    natural_hz: Span = _spec(
        (3.0, 6.0),
        kind="span",
        unit="Hz",
        lo=0.5,
        hi=20.0,
        doc="natural frequency of the limb on its support",
    )
    damping_ratio: Span = _spec((0.3, 0.6), kind="span", lo=0.05, hi=2.0, doc="damping ratio of that spring")
    drag_mm_per_n: Span = _spec(
        (0.6, 1.5),
        kind="span",
        unit="mm/N",
        lo=0.0,
        hi=5.0,
        doc="static displacement along the glide per newton of friction",
    )
    pitch_deg_per_12n: Span = _spec(
        (0.5, 1.5),
        kind="span",
        unit="°",
        lo=0.0,
        hi=5.0,
        doc="pitch change from 12 N pressing at the wrist (scales with the lever arm from the elbow)",
    )
    wrist_deg_per_10n: Span = _spec(
        (1.0, 3.0),
        kind="span",
        unit="°",
        lo=0.0,
        hi=10.0,
        doc="palmar flexion from 10 N pressing on the hand 5 cm past the wrist",
    )
    vibration_mps2: Span = _spec(
        (0.03, 0.18),
        kind="span",
        unit="m/s²",
        lo=0.0,
        hi=1.0,
        doc="session draw: rubbing vibration RMS at the treated sensor for 12 N at 0.15 m/s; each stroke "
        "scales it by sqrt(F/12 N)·sqrt(v/0.15 m/s), clipped to vibration_limits_mps2",
    )
    vibration_limits_mps2: Span = _spec(
        (0.02, 0.2), kind="span", unit="m/s²", lo=0.0, hi=2.0, doc="bounds of a stroke's vibration RMS"
    )
    vibration_hz: Span = _spec(
        (20.0, 40.0), kind="span", unit="Hz", lo=5.0, hi=200.0, doc="band of the rubbing vibration"
    )


@dataclass(frozen=True)
class Episode(_Section):
    """One explicit posture episode (times on the true session clock)."""

    kind: str = _spec(
        "lowered",
        kind="choice",
        choices=EPISODE_KINDS,
        doc="lowered: hand lowered and raised again; sag: slow sag then quick correction; "
        "wrist: bent wrist; roll: forearm turned",
    )
    t_start_s: float = _spec(0.0, kind="float", unit="s", lo=0.0, doc="start of the episode")
    duration_s: float = _spec(20.0, kind="float", unit="s", lo=0.1, doc="whole episode, transitions included")
    transition_s: float = _spec(
        1.5, kind="float", unit="s", lo=0.05, hi=120.0, doc="in and out transition (for sag: the recovery)"
    )
    height_m: float | None = _spec(
        None,
        kind="optfloat",
        unit="m",
        lo=-0.5,
        hi=0.5,
        doc="lowered/sag: wrist height over the heart reached",
    )
    flexion_deg: float | None = _spec(
        None, kind="optfloat", unit="°", lo=-80.0, hi=80.0, doc="wrist: flexion reached (+ palmar)"
    )
    deviation_deg: float | None = _spec(
        None, kind="optfloat", unit="°", lo=-40.0, hi=40.0, doc="wrist: deviation reached (+ radial)"
    )
    roll_deg: float | None = _spec(
        None, kind="optfloat", unit="°", lo=-120.0, hi=120.0, doc="roll: forearm roll reached (+ supination)"
    )

    def _cross_check(self) -> None:
        need = {"lowered": ("height_m",), "sag": ("height_m",), "wrist": (), "roll": ("roll_deg",)}[self.kind]
        for name in need:
            if getattr(self, name) is None:
                raise _FieldError(name, f"a {self.kind} episode needs {name}")
        if self.kind == "wrist" and self.flexion_deg is None and self.deviation_deg is None:
            raise _FieldError("flexion_deg", "a wrist episode needs flexion_deg and/or deviation_deg")
        if 2 * self.transition_s > self.duration_s and self.kind != "sag":
            raise _FieldError("transition_s", "two transitions must fit in duration_s")


@dataclass(frozen=True)
class PostureSpec(_Section):
    """Posture of the treated arm over the session: drift, fatigue, episodes, tremor, breathing."""

    height_m: Span = _spec(
        (0.08, 0.20),
        kind="span",
        unit="m",
        lo=-0.3,
        hi=0.5,
        doc="session draw: wrist height over the heart in the prescribed elevated pose",
    )
    height_drift_m: Span = _spec(
        (0.003, 0.012),
        kind="span",
        unit="m",
        lo=0.0,
        hi=0.2,
        doc="session draw: σ of the slow height drift (correlation time 30–90 s)",
    )
    fatigue_m: Span = _spec(
        (0.0, 0.04),
        kind="span",
        unit="m",
        lo=0.0,
        hi=0.3,
        doc="session draw: height lost to fatigue over the session (linear)",
    )
    heading_deg: Span = _spec(
        (-180.0, 180.0),
        kind="span",
        unit="°",
        lo=-360.0,
        hi=360.0,
        doc="session draw: heading of the forearm in the earth frame",
    )
    heading_drift_deg: Span = _spec(
        (1.0, 4.0), kind="span", unit="°", lo=0.0, hi=45.0, doc="session draw: σ of the slow heading drift"
    )
    lowered_per_10min: Span = _spec(
        (0.5, 4.0),
        kind="span",
        lo=0.0,
        hi=60.0,
        doc="session draw: rate of random lowering episodes (lowered or sag)",
    )
    lowered_s: Span = _spec(
        (5.0, 60.0), kind="span", unit="s", lo=0.5, hi=3600.0, doc="per-episode draw: time held low"
    )
    lowered_height_m: Span = _spec(
        (-0.15, 0.03),
        kind="span",
        unit="m",
        lo=-0.5,
        hi=0.5,
        doc="per-episode draw: wrist height over the heart when lowered",
    )
    sag_share: float = _spec(
        0.4, kind="float", lo=0.0, hi=1.0, doc="share of random lowering episodes that are slow sags"
    )
    sag_ramp_s: Span = _spec(
        (15.0, 60.0), kind="span", unit="s", lo=1.0, hi=600.0, doc="per-episode draw: duration of a slow sag"
    )
    transition_s: Span = _spec(
        (0.8, 3.0),
        kind="span",
        unit="s",
        lo=0.1,
        hi=30.0,
        doc="per-episode draw: transition into and out of an episode",
    )
    wrist_per_10min: Span = _spec(
        (0.5, 4.0), kind="span", lo=0.0, hi=60.0, doc="session draw: rate of random bent-wrist episodes"
    )
    wrist_s: Span = _spec(
        (3.0, 40.0),
        kind="span",
        unit="s",
        lo=0.5,
        hi=3600.0,
        doc="per-episode draw: duration of a bent-wrist episode",
    )
    flexion_deg: Span = _spec(
        (8.0, 45.0),
        kind="span",
        unit="°",
        lo=0.0,
        hi=80.0,
        doc="per-episode draw: flexion magnitude (sign random: flexion or extension)",
    )
    deviation_deg: Span = _spec(
        (5.0, 25.0),
        kind="span",
        unit="°",
        lo=0.0,
        hi=40.0,
        doc="per-episode draw: deviation magnitude (sign random: radial or ulnar)",
    )
    wrist_drift_deg: Span = _spec(
        (1.0, 4.0),
        kind="span",
        unit="°",
        lo=0.0,
        hi=30.0,
        doc="session draw: σ of the slow flexion drift (deviation drifts half as much)",
    )
    roll_per_10min: Span = _spec(
        (0.0, 2.0), kind="span", lo=0.0, hi=60.0, doc="session draw: rate of random forearm-roll episodes"
    )
    roll_s: Span = _spec(
        (5.0, 40.0),
        kind="span",
        unit="s",
        lo=0.5,
        hi=3600.0,
        doc="per-episode draw: duration of a roll episode",
    )
    roll_deg: Span = _spec(
        (15.0, 60.0),
        kind="span",
        unit="°",
        lo=0.0,
        hi=120.0,
        doc="per-episode draw: roll magnitude (sign random)",
    )
    roll_drift_deg: Span = _spec(
        (1.0, 5.0), kind="span", unit="°", lo=0.0, hi=45.0, doc="session draw: σ of the slow roll drift"
    )
    tremor_mps2: Span = _spec(
        (0.005, 0.04),
        kind="span",
        unit="m/s²",
        lo=0.0,
        hi=1.0,
        doc="session draw: physiological tremor amplitude at the treated sensor",
    )
    tremor_hz: Span = _spec(
        (8.0, 12.0), kind="span", unit="Hz", lo=1.0, hi=30.0, doc="session draw: tremor centre frequency"
    )
    breathing_hz: Span = _spec(
        (0.2, 0.3), kind="span", unit="Hz", lo=0.05, hi=1.0, doc="session draw: breathing rate"
    )
    breathing_deg: Span = _spec(
        (0.05, 0.4),
        kind="span",
        unit="°",
        lo=0.0,
        hi=5.0,
        doc="session draw: breathing sway amplitude of the forearm",
    )
    episodes: tuple[Episode, ...] = _spec(
        kind="episodes", factory=tuple, doc="explicit episodes, in addition to random ones"
    )


@dataclass(frozen=True)
class FidgetSpec(_Section):
    """Quick out-and-back arm movements with no contact: they must not count as strokes."""

    per_10min: Span = _spec((0.0, 4.0), kind="span", lo=0.0, hi=120.0, doc="session draw: rate of fidgets")
    duration_s: Span = _spec(
        (0.6, 1.8), kind="span", unit="s", lo=0.2, hi=5.0, doc="per-fidget draw: out-and-back duration"
    )
    translation_m: Span = _spec(
        (0.01, 0.08),
        kind="span",
        unit="m",
        lo=0.0,
        hi=0.4,
        doc="per-fidget draw: how far the arm moves (direction random)",
    )
    rotation_deg: Span = _spec(
        (3.0, 20.0),
        kind="span",
        unit="°",
        lo=0.0,
        hi=90.0,
        doc="per-fidget draw: how far the forearm tilts/turns",
    )
    stroker_per_10min: Span = _spec(
        (0.0, 4.0),
        kind="span",
        lo=0.0,
        hi=120.0,
        doc="session draw: rate of reaches of the massaging hand (for lotion, a scratch) during its rests "
        "between bouts: stroker motion without contact",
    )


@dataclass(frozen=True)
class MountingFaultSpec(_Section):
    """Opt-in mounting mistakes (none by default): what the coach's mounting checks must say."""

    backwards: str | None = _spec(
        None,
        kind="optchoice",
        choices=ROLES,
        doc="this role's device is strapped on backwards: turned 180° about its z axis, x toward the elbow",
    )
    swap_roles: bool = _spec(
        False,
        kind="bool",
        doc="the treated and hand devices are swapped: the trace's treated rows come from the hand",
    )
    wrong_arm: bool = _spec(False, kind="bool", doc="the sensors are on the other arm than meta.arm says")

    def _cross_check(self) -> None:
        if self.backwards == "stroker":
            raise _FieldError("backwards", "only a worn sensor (treated or hand) can be on backwards")

    @property
    def any(self) -> bool:
        return self.backwards is not None or self.swap_roles or self.wrong_arm


def _default_sensors() -> dict[str, SensorSpec]:
    return {"treated": SensorSpec()}


@dataclass(frozen=True)
class Scenario(_Section):
    """A simulated session: what :func:`simulators.simulate` turns into a trace and its ground truth."""

    name: str = _spec("", kind="str", doc="free label, copied to the labels file")
    duration_s: float = _spec(
        600.0, kind="float", unit="s", lo=20.0, hi=4 * 3600.0, doc="session length from t = 0"
    )
    arm: str = _spec("right", kind="choice", choices=ARMS, doc="treated arm (meta.arm)")
    start_utc: str = _spec(
        "2026-01-05T09:30:00Z", kind="str", doc="wall-clock time of t = 0 (meta.start_utc)"
    )
    sensors: dict[str, SensorSpec] = _spec(
        kind="sensors",
        factory=_default_sensors,
        doc="roles present (treated, hand, stroker) and their devices; treated is required",
    )
    sensor_errors: bool = _spec(
        True,
        kind="bool",
        doc="apply the device error model (noise, bias, scale, misalignment of axes, saturation, "
        "quantisation)",
    )
    transport_faults: bool = _spec(
        True, kind="bool", doc="apply drops, gaps, jitter, clock offset/drift and rate error"
    )
    body: BodySpec = _spec(kind="section", section=BodySpec, factory=BodySpec, doc="arm geometry")
    calibration: CalibrationSpec = _spec(
        kind="section", section=CalibrationSpec, factory=CalibrationSpec, doc="session-start calibration"
    )
    strokes: StrokeSpec = _spec(kind="section", section=StrokeSpec, factory=StrokeSpec, doc="strokes")
    limb: LimbSpec = _spec(kind="section", section=LimbSpec, factory=LimbSpec, doc="limb response to strokes")
    posture: PostureSpec = _spec(
        kind="section", section=PostureSpec, factory=PostureSpec, doc="posture over time"
    )
    fidgets: FidgetSpec = _spec(kind="section", section=FidgetSpec, factory=FidgetSpec, doc="fidgets")
    mounting_faults: MountingFaultSpec = _spec(
        kind="section",
        section=MountingFaultSpec,
        factory=MountingFaultSpec,
        doc="opt-in mounting mistakes: a device on backwards, swapped roles, the wrong arm",
    )
    variants: tuple[str, ...] = _spec(
        kind="families",
        factory=tuple,
        doc="physics variant families on top of today's model (baseline = none): regions, contact, "
        "helper, movement, sensors; each draws its mechanisms from the seed (docs/simulator.md)",
    )

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self.sensors)

    def _cross_check(self) -> None:
        faults = self.mounting_faults
        if faults.swap_roles and "hand" not in self.sensors:
            raise _FieldError("mounting_faults.swap_roles", "needs a hand sensor to swap with treated")
        if faults.backwards is not None and faults.backwards not in self.sensors:
            raise _FieldError("mounting_faults.backwards", f"no {faults.backwards} sensor in this session")

    # -- files -------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<scenario>") -> Scenario:
        """Build from a plain mapping (parsed TOML/JSON); errors name ``source`` and the dotted key."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: a scenario must be a table/object")
        try:
            return _build(cls, data, "")
        except _FieldError as exc:
            raise ConfigError(f"{source}: {exc.key}: {exc.message}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> Scenario:
        """Load a ``.toml`` or ``.json`` scenario file."""
        p = Path(path)
        try:
            text = p.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read scenario file: {exc.strerror}") from None
        if p.suffix.lower() == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{p}:{exc.lineno}: not valid JSON: {exc.msg}") from None
        elif p.suffix.lower() == ".toml":
            try:
                data = tomllib.loads(text.decode("utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{p}: not valid TOML: {exc}") from None
        else:
            raise ConfigError(f"{p}: a scenario file must end in .toml or .json")
        return cls.from_dict(data, str(p))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able mapping (ranges as [lo, hi]) that :meth:`from_dict` reads back."""
        out: dict[str, Any] = _to_plain(self)
        if not out["variants"]:
            del out["variants"]  # baseline: the labels of existing sessions stay byte-identical
        if not self.mounting_faults.any:
            del out["mounting_faults"]  # likewise
        return out

    def replace(self, **overrides: Any) -> Scenario:
        """A copy with fields replaced; dotted keys reach into sections (``{"strokes.cadence_spm": 20}``).

        ``roles`` (e.g. ``("treated", "stroker")``), ``rate_hz`` and ``device_class`` are shortcuts that
        set the sensor list and every sensor's rate or class.
        """
        data = self.to_dict()
        data.setdefault("mounting_faults", {})
        for key, value in overrides.items():
            if key == "roles":
                roles = list(value.split(",") if isinstance(value, str) else value)
                sensors = data["sensors"]
                data["sensors"] = {r: sensors.get(r, sensors.get("treated", {})) for r in roles}
                continue
            if key in ("rate_hz", "device_class"):
                for spec in data["sensors"].values():
                    spec[key] = value
                continue
            target = data
            parts = key.split(".")
            for part in parts[:-1]:
                if not isinstance(target.get(part), dict):
                    raise ConfigError(f"override {key!r}: {part!r} is not a section")
                target = target[part]
            target[parts[-1]] = _to_plain(value)
        return Scenario.from_dict(data, "overrides")


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_plain(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------------
# Draws


def draw(span: Span, rng: np.random.Generator) -> float:
    """A fixed value as is, a range ``(lo, hi)`` drawn uniformly."""
    if isinstance(span, tuple):
        return float(rng.uniform(span[0], span[1]))
    return float(span)


def span_bounds(span: Span) -> tuple[float, float]:
    """``(lo, hi)`` of a span (a fixed value gives ``(v, v)``)."""
    return (float(span[0]), float(span[1])) if isinstance(span, tuple) else (float(span), float(span))


def random_scenario(seed: int, **overrides: Any) -> Scenario:
    """A varied session covering docs/design.md §6, drawn from ``seed``, then ``overrides`` (as for
    :meth:`Scenario.replace`).

    Varied: arm, role combination, 50/100/200 Hz, good and cheap devices, mounting up to 30°, drops and
    gaps on some sensors, cadence 8–40 strokes/min, light to firm strokes, a share of distal strokes
    between 0 and 0.8 (corpus mean ≈ 0.33), lowering and bent-wrist episodes at session rates that give a
    corpus mean of roughly a quarter of the time lowered, fidgets, breathing and tremor.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5CE4A210]))
    arm = str(rng.choice(ARMS))
    roles = ["treated"]
    combo = int(rng.integers(0, 4))  # treated alone, +hand, +stroker, all three
    if combo in (1, 3):
        roles.append("hand")
    if combo in (2, 3):
        roles.append("stroker")
    same_rate = rng.random() < 0.6
    session_rate = float(rng.choice([50.0, 100.0, 200.0], p=[0.25, 0.5, 0.25]))
    sensors: dict[str, SensorSpec] = {}
    for role in roles:
        rate = session_rate if same_rate else float(rng.choice([50.0, 100.0, 200.0], p=[0.25, 0.5, 0.25]))
        cls_ = str(rng.choice(DEVICE_CLASSES))
        faulty = rng.random() < 0.5
        sensors[role] = SensorSpec(
            rate_hz=rate,
            device_class=cls_,
            misalignment_deg=round(float(rng.uniform(0.0, 30.0)), 2),
            drop_rate=round(float(rng.uniform(0.0, 0.03)), 4) if faulty else 0.0,
            samples_per_packet=int(rng.choice([1, 1, 2, 3])),
            gaps_per_10min=round(float(rng.uniform(0.3, 1.5)), 2) if faulty and rng.random() < 0.6 else 0.0,
            gap_s=(1.0, 8.0),
        )
    cadence = float(rng.uniform(8.0, 40.0))
    # A share of distal strokes per session: good technique, mixed, or mostly wrong.
    style = rng.random()
    if style < 0.35:
        distal = float(rng.uniform(0.0, 0.1))
    elif style < 0.8:
        distal = float(rng.uniform(0.2, 0.6))
    else:
        distal = float(rng.uniform(0.6, 0.85))
    force = float(rng.uniform(2.5, 18.0))
    lowered_share = float(rng.uniform(0.05, 0.35))
    # Expected seconds low per lowering episode ≈ mean hold + about one transition ≈ 35 s.
    lowered_rate = round(lowered_share * 600.0 / 35.0, 3)
    scenario = Scenario(
        name=f"random-{seed}",
        duration_s=round(float(rng.uniform(120.0, 600.0)), 1),
        arm=arm,
        sensors=sensors,
        body=BodySpec(
            forearm_length_m=round(float(rng.uniform(0.22, 0.30)), 3),
            elbow_to_heart_m=round(float(rng.choice([0.0, rng.uniform(-0.05, 0.08)])), 3),
        ),
        strokes=StrokeSpec(
            cadence_spm=(round(cadence * 0.95, 2), round(cadence * 1.05, 2)),
            distal_fraction=round(distal, 3),
            force_n=(round(max(2.0, force * 0.85), 2), round(min(20.0, force * 1.15), 2)),
            bout_strokes=(4.0, 40.0) if rng.random() < 0.5 else (10.0, 60.0),
            pause_s=(4.0, 30.0),
        ),
        posture=PostureSpec(
            lowered_per_10min=lowered_rate,
            wrist_per_10min=round(float(rng.uniform(0.5, 4.0)), 3),
            roll_per_10min=round(float(rng.uniform(0.0, 2.0)), 3),
        ),
        fidgets=FidgetSpec(per_10min=round(float(rng.uniform(0.5, 5.0)), 3)),
    )
    return scenario.replace(**overrides) if overrides else scenario


# --------------------------------------------------------------------------------------------------
# Reference table for the docs


def describe_fields(cls: type = Scenario, prefix: str = "") -> Iterator[tuple[str, str, str, str]]:
    """Rows ``(dotted key, default, unit, doc)`` for every field, sections expanded."""
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        m = f.metadata
        if m["kind"] == "section":
            yield from describe_fields(m["section"], f"{key}.")
            continue
        if m["kind"] == "sensors":
            yield key, "{treated = {}}", "", m["doc"]
            yield from describe_fields(SensorSpec, f"{key}.<role>.")
            continue
        if m["kind"] == "families":
            yield key, "[]", "", m["doc"]
            continue
        if m["kind"] == "episodes":
            yield key, "[]", "", m["doc"]
            yield from describe_fields(Episode, f"{key}[].")
            continue
        factory = f.default_factory
        default = factory() if callable(factory) else f.default
        shown = json.dumps(_to_plain(default))
        yield key, shown, m["unit"], m["doc"]


def fields_table() -> str:
    """The field reference as a Markdown table (docs/simulator.md; ``coach simulate --fields``)."""
    lines = ["| key | default | unit | meaning |", "|---|---|---|---|"]
    for key, default, unit, doc in describe_fields():
        lines.append(f"| `{key}` | `{default}` | {unit} | {doc} |")
    return "\n".join(lines)
