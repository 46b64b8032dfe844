# ruff: noqa: RUF009  (_spec() returns dataclasses.field(...) with metadata; ruff cannot tell)
"""The documented description of a simulated session: :class:`Scenario`, its file format, and random draws.

A scenario says *what kind* of session to simulate; :func:`simulators.simulate` with a seed turns it into
one concrete session. Numeric parameters marked "span" take either one number (fixed) or a two-element
``[lo, hi]`` range drawn uniformly; each field's doc says *when* it is drawn (once per session, per
stroke, per episode, ...) or whether it is a bound that per-item draws are clipped to.

Load one from TOML or JSON with :meth:`Scenario.from_file`; unknown keys and bad values raise
:class:`~coach.errors.ConfigError` naming the file and the dotted key (``strokes.cadence_spm``).
:func:`random_scenario` draws a varied session covering docs/design.md §6. ``docs/simulator.md`` lists every
field (``coach simulate --fields`` prints the table).
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from coach.errors import ConfigError
from simulators.scenario_fields import (
    ARMS,
    DEVICE_CLASSES,
    EPISODE_KINDS,
    FAMILIES,
    Span,
    _build,
    _FieldError,
    _Section,
    _spec,
    _to_plain,
    draw,
    span_bounds,
)
from simulators.scenario_motion import (
    Episode,
    FidgetSpec,
    LimbSpec,
    MountingFaultSpec,
    PostureSpec,
    StrokeSpec,
)
from simulators.scenario_sensors import BodySpec, CalibrationSpec, SensorSpec

# The scenario API is one import: the sections and draws live in scenario_fields / _sensors / _motion.
__all__ = [
    "ARMS",
    "DEVICE_CLASSES",
    "EPISODE_KINDS",
    "FAMILIES",
    "BodySpec",
    "CalibrationSpec",
    "Episode",
    "FidgetSpec",
    "LimbSpec",
    "MountingFaultSpec",
    "PostureSpec",
    "Scenario",
    "SensorSpec",
    "Span",
    "StrokeSpec",
    "describe_fields",
    "draw",
    "fields_table",
    "random_scenario",
    "span_bounds",
]


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
        if not self.calibration.recalibration_requests_s:
            for key in ("recalibration_requests_s", "recalibration_reaction_s", "recalibration_hold_s"):
                del out["calibration"][key]  # likewise: nobody asked for the still pose again
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
