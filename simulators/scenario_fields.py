"""The machinery behind :class:`simulators.scenario.Scenario`: spans and their draws, typed fields with
units and docs (:func:`_spec`), conversion with errors naming the dotted key, and the section base class.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from coach.errors import ValidationError
from coach.samples import ROLES

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

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
    if base == "times":
        if not isinstance(value, list | tuple):
            raise _FieldError(key, "must be a list of times in seconds")
        times = []
        for i, v in enumerate(value):
            t = _num(v, f"{key}[{i}]")
            _in_bounds(t, f"{key}[{i}]", lo, hi, unit)
            times.append(t)
        return tuple(sorted(times))
    if base == "section":
        cls = m["section"]
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise _FieldError(key, f"must be a table/object, not {value!r}")
        return _build(cls, value, key)
    if base == "sensors":
        from simulators.scenario_sensors import SensorSpec  # here: that module builds on this one

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
        from simulators.scenario_motion import Episode  # here: that module builds on this one

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


T = TypeVar("T", bound="DataclassInstance")


def _build(cls: type[T], data: Mapping[str, Any], prefix: str) -> T:
    """Construct a section from a mapping, naming the dotted key of the first bad or unknown entry."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
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


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_plain(v) for v in value]
    return value


def draw(span: Span, rng: np.random.Generator) -> float:
    """A fixed value as is, a range ``(lo, hi)`` drawn uniformly."""
    if isinstance(span, tuple):
        return float(rng.uniform(span[0], span[1]))
    return float(span)


def span_bounds(span: Span) -> tuple[float, float]:
    """``(lo, hi)`` of a span (a fixed value gives ``(v, v)``)."""
    return (float(span[0]), float(span[1])) if isinstance(span, tuple) else (float(span), float(span))
