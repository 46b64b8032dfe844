"""What the monitor accepts from MQTT: topic parsing and payload validation (DESIGN.md §7).

Every message becomes one typed record, or a :class:`MessageError` naming the topic and the reason.
Ingest logs such errors and carries on; nothing here raises anything else for any input bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from coach.errors import ValidationError
from coach.events import DIRECTIONS, POSTURE_FIELDS, STATES, SUMMARY_FIELDS, from_json
from coach.ids import ID_PATTERN

TOPIC_ROOT: Final = "coach/v1"
#: Pseudonymous patient and session ids: short, no MQTT wildcards or separators, no spaces.
MAX_PAYLOAD_BYTES: Final = 64 * 1024
MAX_EVENT_ID_CHARS: Final = 128
#: Status states: the session states plus what a coach reports outside a session.
STATUS_STATES: Final = (*STATES, "idle", "offline")
#: Event type carrying the patient's after-session log (DESIGN.md §1): pain and swelling, 0–10 each,
#: in ``pain_0_10`` and ``swelling_0_10`` (the summary carries the same two fields).
SELF_REPORT_TYPE: Final = "self_report"
SELF_REPORT_FIELDS: Final = ("pain_0_10", "swelling_0_10")


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
    """A topic the monitor itself publishes (``targets``, ``cmd``): nothing to store."""

    topic: str


Record = EventRecord | StatusRecord | CmdResultRecord | Ignored


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_wall_utc(text: Any) -> float | None:
    """ISO 8601 wall-clock time to Unix seconds; ``None`` when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def _check_id(topic: str, what: str, value: str) -> None:
    if not ID_PATTERN.match(value):
        raise MessageError(topic, f"{what} {value!r} is not a pseudonymous id ([A-Za-z0-9._-], ≤ 64 chars)")


def _load_object(topic: str, payload: bytes) -> tuple[dict[str, Any], str]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise MessageError(topic, f"payload of {len(payload)} bytes is over {MAX_PAYLOAD_BYTES}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MessageError(topic, f"payload is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        return from_json(text), text
    except (ValueError, RecursionError) as exc:
        raise MessageError(topic, f"payload is not a strict JSON object ({exc})") from None


def _require(topic: str, ok: bool, reason: str) -> None:
    if not ok:
        raise MessageError(topic, reason)


def validate_event(topic: str, event: dict[str, Any]) -> None:
    """Check one event against DESIGN.md §7; unknown types pass with their common fields."""
    typ = event.get("type")
    _require(topic, isinstance(typ, str) and bool(typ), "event needs a non-empty string 'type'")
    _require(topic, _is_num(event.get("t")) and event["t"] >= 0, f"{typ} needs a finite number t >= 0")
    eid = event.get("id")
    _require(
        topic,
        isinstance(eid, str) and 0 < len(eid) <= MAX_EVENT_ID_CHARS,
        f"{typ} needs a string 'id' of 1–{MAX_EVENT_ID_CHARS} characters",
    )
    where = f"{typ} {eid}"
    if typ == "stroke":
        ok = _is_num(event.get("t_start")) and _is_num(event.get("t_end"))
        _require(topic, ok and event["t_start"] <= event["t_end"], f"{where}: needs t_start <= t_end")
        _require(topic, event.get("direction") in DIRECTIONS, f"{where}: direction not in {DIRECTIONS}")
        conf: Any = event.get("confidence")
        _require(topic, _is_num(conf) and 0 <= float(conf) <= 1, f"{where}: confidence must be in [0, 1]")
    elif typ == "posture":
        for key in POSTURE_FIELDS:
            _require(topic, key in event, f"{where}: lacks {key!r} (null when unknown)")
            value = event[key]
            if key in ("elevated", "wrist_neutral"):
                _require(topic, value in (True, False, None), f"{where}: {key} must be true, false or null")
            else:
                _require(topic, value is None or _is_num(value), f"{where}: {key} must be a number or null")
    elif typ == "cadence":
        spm: Any = event.get("strokes_per_min")
        _require(topic, _is_num(spm) and float(spm) >= 0, f"{where}: strokes_per_min must be a number >= 0")
    elif typ == "cue":
        ok = isinstance(event.get("code"), str) and isinstance(event.get("message"), str)
        _require(topic, ok and bool(event["code"]), f"{where}: needs string code and message")
    elif typ == "state":
        _require(
            topic, event.get("state") in STATES, f"{where}: state {event.get('state')!r} not in {STATES}"
        )
    elif typ == "summary":
        missing = [k for k in SUMMARY_FIELDS if k not in event]
        _require(topic, not missing, f"{where}: lacks {', '.join(missing)}")
        for key in ("duration_s", "strokes_total", "strokes_proximal", "strokes_distal", "strokes_unknown"):
            _require(topic, _is_num(event[key]) and event[key] >= 0, f"{where}: {key} must be a number >= 0")
        for key in ("mean_cadence_spm", "elevated_fraction", "wrist_neutral_fraction"):
            value = event[key]
            _require(topic, value is None or _is_num(value), f"{where}: {key} must be a number or null")
    elif typ == SELF_REPORT_TYPE:
        for key in SELF_REPORT_FIELDS:
            value = event.get(key)
            _require(
                topic,
                value is None or (_is_num(value) and 0 <= float(value) <= 10),
                f"{where}: {key} must be a number in [0, 10] or null",
            )


def _validate_status(topic: str, status: dict[str, Any]) -> None:
    state = status.get("state")
    # DESIGN.md §7 lists no closed set of status states (the coach reports its session states, and
    # "offline" as its last will): any short name is kept, so a new state never hides the sensors.
    _require(
        topic,
        isinstance(state, str) and 0 < len(state) <= 32,
        f"status state must be a short string (e.g. {', '.join(STATUS_STATES)})",
    )
    session = status.get("session")
    _require(topic, session is None or isinstance(session, str), "status 'session' must be a string or null")
    if isinstance(session, str):
        _check_id(topic, "status session", session)
    sensors = status.get("sensors", {})
    _require(topic, isinstance(sensors, dict), "status 'sensors' must be an object")
    for role, info in sensors.items():
        _require(topic, isinstance(info, dict), f"status sensor {role!r} must be an object")
        _require(
            topic, info.get("link") in ("up", "down"), f"status sensor {role!r}: link must be up or down"
        )
        battery = info.get("battery_pct")
        _require(
            topic,
            battery is None or (_is_num(battery) and 0 <= float(battery) <= 100),
            f"status sensor {role!r}: battery_pct must be in [0, 100] or null",
        )
        device = info.get("device")
        _require(
            topic,
            device is None or (isinstance(device, str) and 0 < len(device) <= 64),
            f"status sensor {role!r}: device must be a device profile name (at most 64 characters)",
        )


def parse_message(topic: str, payload: bytes) -> Record:
    """Turn one MQTT message into a record; raises :class:`MessageError` for anything malformed."""
    parts = topic.split("/")
    if len(parts) < 4 or "/".join(parts[:2]) != TOPIC_ROOT:
        raise MessageError(topic, f"not a {TOPIC_ROOT}/<patient>/... topic")
    patient = parts[2]
    _check_id(topic, "patient id", patient)
    rest = parts[3:]
    if rest in (["targets"], ["cmd"]):
        return Ignored(topic)
    if len(rest) == 2 and rest[1] in ("events", "summary"):
        session = rest[0]
        _check_id(topic, "session id", session)
        event, text = _load_object(topic, payload)
        validate_event(topic, event)
        if rest[1] == "summary":
            _require(topic, event["type"] == "summary", "the summary topic carries a 'summary' event")
        return EventRecord(patient, session, event, text)
    if rest == ["status"]:
        status, _ = _load_object(topic, payload)
        _validate_status(topic, status)
        return StatusRecord(patient, status, parse_wall_utc(status.get("wall_utc")))
    if rest == ["cmd_result"]:
        result, _ = _load_object(topic, payload)
        cmd_id = result.get("cmd_id")
        _require(
            topic, isinstance(cmd_id, str) and 0 < len(cmd_id) <= 128, "cmd_result needs a string cmd_id"
        )
        _require(topic, isinstance(result.get("ok"), bool), "cmd_result needs a boolean 'ok'")
        reason = result.get("reason")
        _require(topic, reason is None or isinstance(reason, str), "cmd_result 'reason' must be a string")
        return CmdResultRecord(patient, str(cmd_id), bool(result["ok"]), reason)
    raise MessageError(topic, "unknown topic under coach/v1/<patient>/")
