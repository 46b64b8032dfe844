"""Coaching events (docs/design.md §7): one TypedDict per event type, stable ids, one strict JSON encoding.

Every event has ``type``, ``t`` (trace seconds when the coach emitted it) and ``id`` (unique within the
session, stable across replays of the same trace), then the fields of its type. The same object is a
JSON-Lines row (``coach replay``, the recorder's events file), an MQTT payload and, at the monitor, a
database record: all of them encode with :func:`to_json` (strict RFC 8259: NaN or infinity raises
instead of producing invalid JSON; numpy scalars become plain numbers; UTF-8, compact) and decode
with :func:`from_json`.

Producers build an event with its fields in contract order, ``id`` left empty (``""``) until
:func:`assign_id` (or :func:`make_event`) gives it one; keys keep their insertion order, which is the
order they are written in.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final, Literal, NotRequired, TypedDict, cast

import numpy as np

EventType = Literal["stroke", "posture", "cadence", "cue", "state", "summary", "self_report"]
EVENT_TYPES: Final[tuple[str, ...]] = ("stroke", "posture", "cadence", "cue", "state", "summary")
SessionState = Literal["screening", "calibrating", "active", "paused", "finished", "aborted"]
STATES: Final[tuple[str, ...]] = ("screening", "calibrating", "active", "paused", "finished", "aborted")
Direction = Literal["proximal", "distal", "unknown"]
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


class StrokeEvent(TypedDict):
    """One glide in contact: start and end of contact, direction, confidence, the deciding role."""

    type: Literal["stroke"]
    t: float
    id: str
    t_start: float
    t_end: float
    direction: Direction
    confidence: float
    sensor: str
    region: NotRequired[str | None]


class PostureEvent(TypedDict):
    """The posture estimate at ``t``; each field ``None`` while it cannot be observed."""

    type: Literal["posture"]
    t: float
    id: str
    elevated: bool | None
    elevation_deg: float | None
    wrist_neutral: bool | None
    wrist_flexion_deg: float | None
    wrist_deviation_deg: float | None
    forearm_roll_deg: float | None


class CadenceEvent(TypedDict):
    """Live cadence (docs/design.md §5) after a stroke; ``trusted``: whether the found strokes in its
    window keep a rhythm (the cadence confidence gate, :func:`coach.signal.cadence.live_cadence_trusted`)."""

    type: Literal["cadence"]
    t: float
    id: str
    strokes_per_min: float
    trusted: NotRequired[bool]


class CueEvent(TypedDict):
    """Plain words for the person; ``role`` names the sensor a link cue is about."""

    type: Literal["cue"]
    t: float
    id: str
    code: str
    message: str
    role: NotRequired[str]


class StateEvent(TypedDict):
    type: Literal["state"]
    t: float
    id: str
    state: SessionState
    reason: str
    wall_utc: str | None


class StrapTurnSummary(TypedDict):
    """A strap turn found mid-session and re-referenced (:mod:`coach.signal.strap`)."""

    t: float
    role: str
    angle_deg: float
    #: Only when the turn left the wrist check uncertain until the next calibration, and why.
    wrist: NotRequired[str]
    #: Only after such a turn: when the still pose the coach asked for was found and the wrist check
    #: re-referenced from it (certain again from then on).
    recalibrated_t: NotRequired[float]


class CalibrationSummary(TypedDict):
    mounting: str
    still: list[float] | None
    rotate: list[float] | None
    checks_off: list[str]
    #: Present only when something was found: mounting problems said to the person (cue codes) and
    #: strap turns re-referenced mid-session.
    mounting_warnings: NotRequired[list[str]]
    strap_turns: NotRequired[list[StrapTurnSummary]]


class Gap(TypedDict):
    """A sensor's link was down from ``start_s`` to ``end_s`` (trace seconds)."""

    role: str
    start_s: float
    end_s: float


class ScreeningSummary(TypedDict):
    blocked_by: list[str]
    cleared_by: str | None


class SummaryEvent(TypedDict):
    """The last event. The fields up to ``cues`` come from the pipeline (a replay gives the same); a
    live session adds ``session``, ``gaps``, ``notifications_dropped`` (per role, sensor data this
    computer was too busy to read; empty when none), the self-report and the screening outcome."""

    type: Literal["summary"]
    t: float
    id: str
    wall_utc: str | None
    duration_s: float
    strokes_total: int
    strokes_proximal: int
    strokes_distal: int
    strokes_unknown: int
    mean_cadence_spm: float | None
    strokes_in_bouts_counted: int
    elevated_fraction: float | None
    wrist_neutral_fraction: float | None
    calibration: CalibrationSummary
    active_s: float
    paused_s: float
    cues: dict[str, int]
    session: NotRequired[str]
    gaps: NotRequired[list[Gap]]
    notifications_dropped: NotRequired[dict[str, int]]
    pain_0_10: NotRequired[int | None]
    swelling_0_10: NotRequired[int | None]
    screening: NotRequired[ScreeningSummary | None]


class SelfReportEvent(TypedDict):
    """After a live session: pain and swelling, 0–10 each (``None`` when not given)."""

    type: Literal["self_report"]
    t: float
    id: str
    pain_0_10: int | None
    swelling_0_10: int | None


Event = StrokeEvent | PostureEvent | CadenceEvent | CueEvent | StateEvent | SummaryEvent | SelfReportEvent
#: A decoded JSON object (an event from outside is checked before it is trusted as an :data:`Event`).
JsonObject = dict[str, Any]


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


def assign_id(ids: EventIds, event: Event) -> None:
    """Give a freshly built event its id (in place; the key keeps its place after ``t``)."""
    event["id"] = ids.next(event["type"])


def make_event(ids: EventIds, event_type: str, t_s: float, **fields: Any) -> Event:
    """An event of any type from keyword fields: ``type``, ``t`` and a fresh ``id`` first, then
    ``fields`` (for producers that do not build the typed dict themselves)."""
    return cast(Event, {"type": event_type, "t": t_s, "id": ids.next(event_type), **fields})


def with_t(event: Event, t_s: float) -> Event:
    """A copy of ``event`` with ``t`` replaced (the key stays in its place)."""
    copy = dict(event)
    copy["t"] = t_s
    return cast(Event, copy)


def _plain(value: Any) -> Any:
    """Convert numpy scalars and arrays to plain Python values; refuse non-finite floats."""
    # The plain types an event is mostly made of first (the same results as the general path below,
    # without its isinstance chain: a replay writes a few thousand events of ~10 values).
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise ValueError(f"non-finite number {value!r} in an event (use null for unknown)")
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): _plain(v) for k, v in value.items()}
    if kind is list:
        return [_plain(v) for v in value]
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


def encode(event: Mapping[str, Any]) -> bytes:
    """:func:`to_json` as UTF-8 bytes: the payload of an event on MQTT."""
    return to_json(event).encode("utf-8")


def to_json(event: Mapping[str, Any]) -> str:
    """One event (or any JSON object) as a strict JSON text on one line (no NaN/Infinity, compact
    separators, UTF-8 characters as they are)."""
    return json.dumps(_plain(event), allow_nan=False, separators=(",", ":"), ensure_ascii=False)


def from_json(text: str | bytes) -> JsonObject:
    """Parse one event (or any JSON object); raises ``ValueError`` for non-JSON, NaN/Infinity or a
    non-object. What it returns is plain JSON: check it before trusting it as an :data:`Event`."""

    def no_constants(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    value = json.loads(text, parse_constant=no_constants)
    if not isinstance(value, dict):
        raise ValueError("an event must be a JSON object")
    obj: JsonObject = value
    return obj
