"""What the monitor accepts from MQTT: topic parsing and payload validation (docs/design.md §7).

Every message becomes one typed record, or a :class:`MessageError` naming the topic and the reason;
nothing here raises anything else for any input bytes (``tests/test_monitor_fuzz.py`` throws generated
JSON and raw bytes at it). What passes is safe for both databases and for every page:

- the whole payload first (:func:`check_tree`): at most :data:`MAX_PAYLOAD_BYTES`, nested at most
  :data:`MAX_DEPTH` deep with at most :data:`MAX_NODES` values; every integer within ±2^53 (a
  401-digit number would overflow every float conversion after it), every number finite; every
  string valid Unicode (no lone surrogates) without NUL or other control characters (tab and newline
  aside) and at most :data:`MAX_STRING_CHARS` long;
- then each known field of each known event type, status and command result with its type and
  range (:mod:`coach.monitor.fields`): times and durations, fractions 0–1, ratings 0–10, angles,
  counts, ids by pattern, dates (``wall_utc``) parsed and between 2000 and 2100.

Unknown event types pass with valid ``type``, ``t`` and ``id`` (the contract lets new types appear);
unknown fields pass the whole-payload checks and are kept in the stored payload, never shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

from coach.errors import ValidationError
from coach.events import STATES
from coach.ids import ID_PATTERN
from coach.monitor.fields import (
    FieldError,
    check_cmd_result,
    check_event,
    check_status,
    check_tree,
    parse_wall_utc,
    text_is_plain,
)

__all__ = [
    "ID_PATTERN",
    "MAX_PAYLOAD_BYTES",
    "SELF_REPORT_FIELDS",
    "SELF_REPORT_TYPE",
    "STATUS_STATES",
    "CmdResultRecord",
    "EventRecord",
    "Ignored",
    "MessageError",
    "Record",
    "StatusRecord",
    "parse_message",
    "parse_wall_utc",
    "validate_event",
]

TOPIC_ROOT: Final = "coach/v1"
MAX_PAYLOAD_BYTES: Final = 64 * 1024
#: Status states: the session states plus what a coach reports outside a session.
STATUS_STATES: Final = (*STATES, "idle", "offline")
#: Event type carrying the patient's after-session log (docs/design.md §1): pain and swelling, 0–10 each,
#: in ``pain_0_10`` and ``swelling_0_10`` (the summary carries the same two fields).
SELF_REPORT_TYPE: Final = "self_report"
SELF_REPORT_FIELDS: Final = ("pain_0_10", "swelling_0_10")
#: Topics the monitor itself publishes: nothing to store.
_OWN_KINDS: Final = (["targets"], ["cmd"], ["stored"])


class MessageError(ValidationError):
    """A message the monitor cannot store: says which topic and why."""

    def __init__(self, topic: str, reason: str) -> None:
        self.topic = topic
        self.reason = reason
        super().__init__(f"{topic}: {reason}")


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One event of a session, from ``.../<s>/events`` or the retained ``.../<s>/summary``."""

    patient_id: str
    session_id: str
    event: dict[str, Any]
    #: The payload as received (validated strict JSON), stored as is.
    text: str = ""

    @property
    def seq(self) -> int | None:
        """The coach's per-session delivery number (``None`` from coaches that send none)."""
        value = self.event.get("seq")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """The retained ``coach/v1/<p>/status`` (the last will is ``{"state": "offline"}``)."""

    patient_id: str
    status: dict[str, Any]
    status_unix_s: float | None  # from wall_utc when present


@dataclass(frozen=True, slots=True)
class CmdResultRecord:
    """``coach/v1/<p>/cmd_result``: the coach's answer to one therapist command."""

    patient_id: str
    cmd_id: str
    ok: bool
    reason: str | None


@dataclass(frozen=True, slots=True)
class Ignored:
    """A topic the monitor itself publishes (``targets``, ``cmd``, ``stored``): nothing to store."""

    topic: str


Record = EventRecord | StatusRecord | CmdResultRecord | Ignored


def _check_id(topic: str, what: str, value: str) -> None:
    if not ID_PATTERN.match(value):
        raise MessageError(
            topic, f"{what} {value[:80]!r} is not a pseudonymous id ([A-Za-z0-9._-], ≤ 64 chars)"
        )


def _load_object(topic: str, payload: bytes) -> tuple[dict[str, Any], str]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise MessageError(topic, f"payload of {len(payload)} bytes is over {MAX_PAYLOAD_BYTES}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MessageError(topic, f"payload is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        value = _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise MessageError(topic, f"payload is not a strict JSON object ({str(exc)[:200]})") from None
    if not isinstance(value, dict):
        raise MessageError(topic, "payload is not a strict JSON object (a JSON object is needed)")
    try:
        check_tree(value, plain_text=text_is_plain(text))
    except FieldError as exc:
        raise MessageError(topic, str(exc)) from None
    return value, text


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


#: One decoder for every message (``json.loads`` with options builds a new one per call).
_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant)


def validate_event(topic: str, event: dict[str, Any], *, tree_checked: bool = False) -> None:
    """Check one event's fields against docs/design.md §7; unknown types pass with their common fields.
    ``tree_checked``: the whole-payload limits were checked already (:func:`parse_message`)."""
    try:
        if not tree_checked:
            check_tree(event)
        check_event(event)
    except FieldError as exc:
        raise MessageError(topic, str(exc)) from None


def parse_message(topic: str, payload: bytes) -> Record:
    """Turn one MQTT message into a record; raises :class:`MessageError` for anything malformed."""
    parts = topic.split("/")
    if len(parts) < 4 or "/".join(parts[:2]) != TOPIC_ROOT:
        raise MessageError(topic, f"not a {TOPIC_ROOT}/<patient>/... topic")
    patient = parts[2]
    _check_id(topic, "patient id", patient)
    rest = parts[3:]
    if rest in _OWN_KINDS:
        return Ignored(topic)
    if len(rest) == 2 and rest[1] in ("events", "summary"):
        session = rest[0]
        _check_id(topic, "session id", session)
        event, text = _load_object(topic, payload)
        validate_event(topic, event, tree_checked=True)
        if rest[1] == "summary" and event["type"] != "summary":
            raise MessageError(topic, "the summary topic carries a 'summary' event")
        return EventRecord(patient, session, event, text)
    if rest == ["status"]:
        status, _ = _load_object(topic, payload)
        try:
            check_status(status)
        except FieldError as exc:
            raise MessageError(topic, str(exc)) from None
        return StatusRecord(patient, status, parse_wall_utc(status.get("wall_utc")))
    if rest == ["cmd_result"]:
        result, _ = _load_object(topic, payload)
        try:
            check_cmd_result(result)
        except FieldError as exc:
            raise MessageError(topic, str(exc)) from None
        return CmdResultRecord(patient, str(result["cmd_id"]), bool(result["ok"]), result.get("reason"))
    raise MessageError(topic, "unknown topic under coach/v1/<patient>/")
