"""Check a JSON-Lines event stream against the contract: each event's schema, then the stream's rules.

Per line: strict JSON (RFC 8259: no NaN, Infinity or numbers that overflow to them), one object, valid
under its type's schema (:func:`coach.event_schema.schema_problems`). Across the stream (docs/design.md
§7): ``t`` never decreases, every ``id`` is unique, a stroke's ``t_start <= t_end <= t``, the summary
comes last and once, and the stream is not empty. With ``hand=True`` (the trace had a hand sensor),
``wrist_neutral`` must be known in at least half of the posture events.

``coach check-events`` runs :func:`check` on a file or stdin.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple, TypeGuard

from coach.event_schema import schema_problems

#: Slack for comparing times that went through decimal rounding.
TIME_TOLERANCE_S: Final = 1e-9
#: At most this many problems are collected by default (a broken stream repeats its fault).
DEFAULT_MAX_PROBLEMS: Final = 20


class _NotStrictJSONError(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotStrictJSONError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotStrictJSONError(f"{text} overflows to {value}")
    return value


def _is_number(v: object) -> TypeGuard[float]:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


class StreamCheck(NamedTuple):
    """What :func:`check` found: ``problems`` (empty: the stream keeps the contract) and events per type."""

    problems: list[str]
    counts: dict[str, int]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(slots=True)
class _StreamState:
    last_t: float = -math.inf
    last_type: str | None = None
    summary_line: int | None = None
    id_lines: dict[str, int] = field(default_factory=dict)
    posture_seen: int = 0
    posture_wrist_known: int = 0


def check(
    lines: Iterable[str | bytes], hand: bool = False, max_problems: int = DEFAULT_MAX_PROBLEMS
) -> StreamCheck:
    """Check the events in ``lines`` (one JSON object per line, text or UTF-8 bytes; blank lines are
    ignored). Stops after ``max_problems`` problems."""
    problems: list[str] = []
    counts: dict[str, int] = {}
    state = _StreamState()
    for n, line in enumerate(lines, 1):
        if line.strip():
            problems += _check_line(n, line, state, counts)
        if len(problems) >= max_problems:
            return StreamCheck(problems[:max_problems], counts)
    problems += _check_end(state, hand)
    return StreamCheck(problems[:max_problems], counts)


def _check_line(n: int, line: str | bytes, state: _StreamState, counts: dict[str, int]) -> list[str]:
    where = f"line {n}"
    try:
        text = line.decode("utf-8") if isinstance(line, bytes) else line
    except UnicodeDecodeError as exc:
        return [f"{where}: not UTF-8 ({exc.reason} at byte {exc.start})"]
    try:
        event = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except ValueError as exc:
        return [f"{where}: not strict JSON ({exc})"]
    if not isinstance(event, dict):
        return [f"{where}: an event must be a JSON object, not {type(event).__name__}"]
    typ, t, eid = event.get("type"), event.get("t"), event.get("id")
    label = f"{where} ({typ} {eid})" if isinstance(typ, str) and isinstance(eid, str) else where
    problems = [f"{label}: {p}" for p in schema_problems(event)]
    if not (isinstance(typ, str) and _is_number(t)):
        return problems  # no type or time to order it by: the schema problems say why
    counts[typ] = counts.get(typ, 0) + 1
    if isinstance(eid, str) and eid:
        if eid in state.id_lines:
            problems.append(f"{label}: id {eid!r} repeats (first on line {state.id_lines[eid]})")
        else:
            state.id_lines[eid] = n
    if t < state.last_t - TIME_TOLERANCE_S:
        problems.append(f"{label}: t={t} goes back in time (previous {state.last_t})")
    if state.summary_line is not None:
        problems.append(f"{label}: an event after the summary (line {state.summary_line})")
    if typ == "stroke":
        problems.extend(_stroke_times(label, event, t))
    elif typ == "posture":
        state.posture_seen += 1
        state.posture_wrist_known += event.get("wrist_neutral") is not None
    elif typ == "summary" and state.summary_line is None:
        state.summary_line = n
    state.last_t = max(state.last_t, t)
    state.last_type = typ
    return problems


def _stroke_times(label: str, event: dict[str, Any], t: float) -> list[str]:
    t0, t1 = event.get("t_start"), event.get("t_end")
    if not (_is_number(t0) and _is_number(t1)):
        return []  # the schema already said so
    if t0 <= t1 <= t + TIME_TOLERANCE_S:
        return []
    return [f"{label}: a stroke needs t_start <= t_end <= t (t_start={t0}, t_end={t1}, t={t})"]


def _check_end(state: _StreamState, hand: bool) -> list[str]:
    problems: list[str] = []
    if state.last_type is None:
        problems.append("no events at all")
    elif state.last_type != "summary":
        problems.append(f"the last event is {state.last_type!r}, not 'summary'")
    seen, known = state.posture_seen, state.posture_wrist_known
    if hand and seen and known < 0.5 * seen:
        problems.append(
            f"a hand sensor is present but wrist_neutral is null in {seen - known} of {seen} posture events"
        )
    return problems
