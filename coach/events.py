"""Coaching events (DESIGN.md §7): their types, stable ids, and strict JSON Lines encoding.

Events are plain ``dict`` s so that the same object is a JSON-Lines row, an MQTT payload and a
database record. Every event has ``type``, ``t`` (trace seconds when the coach emitted it) and ``id``
(unique within the session, stable across replays of the same trace). Encoding is strict RFC 8259:
NaN or infinity raises instead of producing invalid JSON; numpy scalars become plain numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final, Literal

import numpy as np

EventType = Literal["stroke", "posture", "cadence", "cue", "state", "summary"]
EVENT_TYPES: Final[tuple[str, ...]] = ("stroke", "posture", "cadence", "cue", "state", "summary")
STATES: Final[tuple[str, ...]] = ("screening", "calibrating", "active", "paused", "finished", "aborted")
DIRECTIONS: Final[tuple[str, ...]] = ("proximal", "distal", "unknown")
POSTURE_FIELDS: Final[tuple[str, ...]] = (
    "elevated",
    "elevation_deg",
    "wrist_neutral",
    "wrist_flexion_deg",
    "wrist_deviation_deg",
    "forearm_roll_deg",
)
SUMMARY_FIELDS: Final[tuple[str, ...]] = (
    "wall_utc",
    "duration_s",
    "strokes_total",
    "strokes_proximal",
    "strokes_distal",
    "strokes_unknown",
    "mean_cadence_spm",
    "elevated_fraction",
    "wrist_neutral_fraction",
    "calibration",
)

Event = dict[str, Any]


class EventIds:
    """Allocates ids ``<type>-<n>`` counting per type: unique in a session and, because the pipeline
    is deterministic, the same on every replay of the same trace."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def next(self, event_type: str) -> str:
        n = self._counts.get(event_type, 0) + 1
        self._counts[event_type] = n
        return f"{event_type}-{n}"

    @property
    def state(self) -> dict[str, int]:
        return dict(self._counts)

    @state.setter
    def state(self, counts: Mapping[str, int]) -> None:
        self._counts = dict(counts)


def make_event(ids: EventIds, event_type: str, t_s: float, **fields: Any) -> Event:
    """Build an event with ``type``, ``t`` and a fresh ``id`` first, then ``fields``."""
    return {"type": event_type, "t": t_s, "id": ids.next(event_type), **fields}


def _plain(value: Any) -> Any:
    """Convert numpy scalars and arrays to plain Python values; refuse non-finite floats."""
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        if not math.isfinite(f):
            raise ValueError(f"non-finite number {f!r} in an event (use null for unknown)")
        return f
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    raise TypeError(f"cannot put {type(value).__name__} in an event")


def to_json(event: Mapping[str, Any]) -> str:
    """One event as a strict JSON text on one line (no NaN/Infinity, compact separators)."""
    return json.dumps(_plain(event), allow_nan=False, separators=(",", ":"), ensure_ascii=False)


def from_json(text: str) -> Event:
    """Parse one event; raises ``ValueError`` for non-JSON, NaN/Infinity or a non-object."""

    def no_constants(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    value = json.loads(text, parse_constant=no_constants)
    if not isinstance(value, dict):
        raise ValueError("an event must be a JSON object")
    return value
