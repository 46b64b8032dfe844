"""Field-by-field checks of what coaches publish, with explicit types and ranges.

Used by :mod:`coach.monitor.messages` before anything reaches the database, and by the read models
(:func:`number`, :func:`parse_wall_utc`) so a value stored before these checks existed can never break
a page either. Every check raises :class:`FieldError` (a ``ValueError``) with the field and the
reason; nothing here raises anything else for any JSON value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from coach.events import DIRECTIONS, POSTURE_FIELDS, STATES
from coach.ids import ID_PATTERN

#: Event ids (``posture-12``, ``session-cue-3``) and command ids.
EVENT_ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")
#: Event types, cue codes, status words, sensor roles: snake_case names.
NAME_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_]{0,63}\Z")
MAX_DEPTH: Final = 8
MAX_NODES: Final = 5000
MAX_STRING_CHARS: Final = 4096
#: Exact integers in JSON (and in a double): beyond this a number is refused.
MAX_INT: Final = 2**53
#: Session time ``t`` and durations: at most 10 days of seconds.
MAX_SESSION_S: Final = 864_000.0
#: ``wall_utc`` must lie in [2000, 2100).
EARLIEST_UNIX_S: Final = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
LATEST_UNIX_S: Final = datetime(2100, 1, 1, tzinfo=UTC).timestamp()
REGIONS: Final = ("finger", "between_fingers", "back_of_hand", "palm", "forearm")
TEXT_CHARS: Final = 1000
#: C0 controls (tab, newline and carriage return allowed), DEL and the C1 controls.
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class FieldError(ValueError):
    """A field outside the contract: ``str()`` names the field and says why."""


def _fail(where: str, why: str) -> FieldError:
    return FieldError(f"{where}: {why}")


#: In the JSON text: a raw DEL or C1 control, or an escape that may decode to a control character or
#: a surrogate. Raw C0 controls cannot be in strict JSON. A text without any of these holds no string
#: :func:`check_tree` would refuse for its characters, so it can skip that per-string work (a match,
#: which an escaped backslash can also cause, only means the full check runs).
_SUSPECT_TEXT: Final = re.compile(r"[\x7f-\x9f]|\\u00[0189][0-9a-fA-F]|\\u007[fF]|\\[bf]|\\u[dD][89a-fA-F]")


def text_is_plain(text: str) -> bool:
    """The JSON text holds no escape or character that could decode to a refused string."""
    return _SUSPECT_TEXT.search(text) is None


def check_tree(
    value: Any, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES, plain_text: bool = False
) -> None:
    """Whole-payload limits (see :mod:`coach.monitor.messages`), without recursion. ``plain_text``:
    the JSON text passed :func:`text_is_plain`, so strings need only their length checked."""
    if plain_text and type(value) is dict and len(value) < max_nodes and _flat_and_fine(value):
        return  # the common case, a flat object of plain values: checked in one pass
    stack: list[tuple[Any, int, str]] = [(value, 0, "payload")]
    nodes = 0
    while stack:
        item, depth, where = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            raise _fail("payload", f"more than {max_nodes} values")
        if depth > max_depth:
            raise _fail(where, f"nested deeper than {max_depth}")
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, int):
            if not -MAX_INT <= item <= MAX_INT:
                raise _fail(where, "integer beyond ±2^53")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise _fail(where, "number is not finite")
        elif isinstance(item, str):
            if plain_text:
                if len(item) > MAX_STRING_CHARS:
                    raise _fail(where, f"string longer than {MAX_STRING_CHARS} characters")
            else:
                _check_text(where, item, MAX_STRING_CHARS)
        elif isinstance(item, dict):
            for key, sub in item.items():
                if plain_text:
                    if len(key) > 128:
                        raise _fail(f"{where} key", "string longer than 128 characters")
                else:
                    _check_text(f"{where} key", key, 128)
                stack.append((sub, depth + 1, key[:64]))
        elif isinstance(item, list):
            stack.extend((sub, depth + 1, where) for sub in item)
        else:
            raise _fail(where, f"unexpected {type(item).__name__}")


def _flat_and_fine(doc: dict[Any, Any]) -> bool:
    """A JSON object (from plain text) with no nested value, every value within :func:`check_tree`'s
    limits. ``False`` means "not sure": the full walk then says what is wrong, if anything."""
    for key, item in doc.items():
        if len(key) > 128:
            return False
        kind = type(item)
        if kind is float:
            if not math.isfinite(item):
                return False
        elif kind is str:
            if len(item) > MAX_STRING_CHARS:
                return False
        elif kind is int:
            if not -MAX_INT <= item <= MAX_INT:
                return False
        elif not (item is None or kind is bool):
            return False  # nested (or not from a JSON decoder)
    return True


def _check_text(where: str, text: str, max_chars: int) -> None:
    if len(text) > max_chars:
        raise _fail(where, f"string longer than {max_chars} characters")
    if _CONTROL.search(text):
        raise _fail(where, "string holds NUL or other control characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail(where, "string holds a lone surrogate (not Unicode text)") from None


# --- single values ------------------------------------------------------------------------------


def is_number(value: Any) -> bool:
    """A finite JSON number (bool excluded) of a size any float conversion takes."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -MAX_INT <= value <= MAX_INT
    return isinstance(value, float) and math.isfinite(value)


def number(value: Any, lo: float = -math.inf, hi: float = math.inf) -> float | None:
    """``value`` as a float when it is a number within [lo, hi], else ``None`` (for the read models)."""
    if not is_number(value):
        return None
    v = float(value)
    return v if lo <= v <= hi else None


def _num(doc: Mapping[str, Any], key: str, lo: float, hi: float, *, null: bool, where: str) -> None:
    value = doc.get(key)
    if type(value) is float and lo <= value <= hi and math.isfinite(value):
        return  # the common case first
    if value is None and null:
        return
    if number(value, lo, hi) is None:
        nullable = " or null" if null else ""
        raise _fail(f"{where} {key}", f"must be a number in [{lo:g}, {hi:g}]{nullable}, not {_show(value)}")


def _count(doc: Mapping[str, Any], key: str, where: str, hi: int = 1_000_000) -> None:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= hi:
        raise _fail(f"{where} {key}", f"must be a whole number in [0, {hi}], not {_show(value)}")


def _bool(doc: Mapping[str, Any], key: str, where: str) -> None:
    value = doc.get(key)
    if not (value is None or isinstance(value, bool)):
        raise _fail(f"{where} {key}", "must be true, false or null")


def _text(doc: Mapping[str, Any], key: str, where: str, *, null: bool, max_chars: int = TEXT_CHARS) -> None:
    value = doc.get(key)
    if value is None and null:
        return
    if not isinstance(value, str) or len(value) > max_chars:
        raise _fail(f"{where} {key}", f"must be a string of at most {max_chars} characters")


def _name(doc: Mapping[str, Any], key: str, where: str, *, null: bool) -> None:
    value = doc.get(key)
    if value is None and null:
        return
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise _fail(f"{where} {key}", f"must be a snake_case name, not {_show(value)}")


def _one_of(doc: Mapping[str, Any], key: str, allowed: tuple[str, ...], where: str) -> None:
    value = doc.get(key)
    if not isinstance(value, str) or value not in allowed:
        raise _fail(f"{where} {key}", f"must be one of {', '.join(allowed)}, not {_show(value)}")


def _show(value: Any) -> str:
    """A short, printable rendering of a refused value for a log line and the quarantine."""
    return repr(value)[:60]


def parse_wall_utc(text: Any) -> float | None:
    """ISO 8601 wall-clock time with an offset to Unix seconds, within [2000, 2100); else ``None``."""
    if not isinstance(text, str) or not 0 < len(text) <= 40:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            return None
        unix_s = parsed.timestamp()
    except (ValueError, OverflowError, OSError):
        return None
    return unix_s if EARLIEST_UNIX_S <= unix_s < LATEST_UNIX_S else None


def _wall(doc: Mapping[str, Any], where: str) -> None:
    value = doc.get("wall_utc")
    if value is not None and parse_wall_utc(value) is None:
        raise _fail(f"{where} wall_utc", f"must be ISO 8601 with an offset, in 2000–2099, not {_show(value)}")


# --- events -------------------------------------------------------------------------------------


def check_event(event: Mapping[str, Any]) -> None:
    """The common fields of every event, then those of its type (docs/design.md §7 and docs/mqtt.md)."""
    typ = event.get("type")
    if not isinstance(typ, str) or not NAME_PATTERN.match(typ):
        raise _fail("event type", f"must be a snake_case name, not {_show(typ)}")
    eid = event.get("id")
    if not isinstance(eid, str) or not EVENT_ID_PATTERN.match(eid):
        raise _fail(f"{typ} id", f"must be 1–128 characters of letters, digits, '._:-', not {_show(eid)}")
    where = f"{typ} {eid}"
    _num(event, "t", 0.0, MAX_SESSION_S, null=False, where=where)
    seq = event.get("seq")
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq <= MAX_INT):
        raise _fail(f"{where} seq", f"must be a whole number >= 1, not {_show(seq)}")
    check = _CHECKS.get(typ)
    if check is not None:
        check(event, where)


def _stroke(e: Mapping[str, Any], where: str) -> None:
    _num(e, "t_start", 0.0, MAX_SESSION_S, null=False, where=where)
    _num(e, "t_end", 0.0, MAX_SESSION_S, null=False, where=where)
    if e["t_start"] > e["t_end"]:
        raise _fail(where, "needs t_start <= t_end")
    _one_of(e, "direction", DIRECTIONS, where)
    _num(e, "confidence", 0.0, 1.0, null=False, where=where)
    _name(e, "sensor", where, null=True)
    if e.get("region") is not None:
        _one_of(e, "region", REGIONS, where)


def _posture(e: Mapping[str, Any], where: str) -> None:
    for key in POSTURE_FIELDS:
        if key not in e:
            raise _fail(where, f"lacks {key!r} (null when unknown)")
        if key in ("elevated", "wrist_neutral"):
            _bool(e, key, where)
        else:
            _num(e, key, -360.0, 360.0, null=True, where=where)


def _cadence(e: Mapping[str, Any], where: str) -> None:
    _num(e, "strokes_per_min", 0.0, 600.0, null=False, where=where)


def _cue(e: Mapping[str, Any], where: str) -> None:
    _name(e, "code", where, null=False)
    _text(e, "message", where, null=False)


def _state(e: Mapping[str, Any], where: str) -> None:
    if e.get("state") not in STATES:
        raise _fail(f"{where} state", f"{_show(e.get('state'))} not in {STATES}")
    _text(e, "reason", where, null=True)
    _wall(e, where)


def _rating(e: Mapping[str, Any], where: str) -> None:
    for key in ("pain_0_10", "swelling_0_10"):
        _num(e, key, 0.0, 10.0, null=True, where=where)


def _summary(e: Mapping[str, Any], where: str) -> None:
    from coach.events import SUMMARY_FIELDS

    missing = [k for k in SUMMARY_FIELDS if k not in e]
    if missing:
        raise _fail(where, f"lacks {', '.join(missing)}")
    _wall(e, where)
    _num(e, "duration_s", 0.0, MAX_SESSION_S, null=False, where=where)
    for key in ("strokes_total", "strokes_proximal", "strokes_distal", "strokes_unknown"):
        _count(e, key, where)
    _num(e, "mean_cadence_spm", 0.0, 600.0, null=True, where=where)
    _num(e, "elevated_fraction", 0.0, 1.0, null=True, where=where)
    _num(e, "wrist_neutral_fraction", 0.0, 1.0, null=True, where=where)
    for key in ("active_s", "paused_s"):
        _num(e, key, 0.0, MAX_SESSION_S, null=True, where=where)
    _rating(e, where)
    calibration = e.get("calibration")
    if calibration is not None and not isinstance(calibration, dict):
        raise _fail(f"{where} calibration", "must be an object or null")
    session = e.get("session")
    if session is not None and (not isinstance(session, str) or not ID_PATTERN.match(session)):
        raise _fail(f"{where} session", "must be a session id")
    gaps = e.get("gaps")
    if gaps is not None:
        if not isinstance(gaps, list) or len(gaps) > 1000:
            raise _fail(f"{where} gaps", "must be a list of at most 1000 gaps")
        for gap in gaps:
            if not isinstance(gap, dict):
                raise _fail(f"{where} gaps", "each gap is an object")
            _num(gap, "start_s", 0.0, MAX_SESSION_S, null=False, where=f"{where} gap")
            _num(gap, "end_s", 0.0, MAX_SESSION_S, null=False, where=f"{where} gap")
    dropped = e.get("notifications_dropped")
    if dropped is not None and (
        not isinstance(dropped, dict)
        or len(dropped) > 16
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in dropped.values())
    ):
        raise _fail(f"{where} notifications_dropped", "must map sensor roles to counts")
    cues = e.get("cues")
    if cues is not None and (
        not isinstance(cues, dict)
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in cues.values())
    ):
        raise _fail(f"{where} cues", "must map cue codes to counts")


_CHECKS: Final = {
    "stroke": _stroke,
    "posture": _posture,
    "cadence": _cadence,
    "cue": _cue,
    "state": _state,
    "summary": _summary,
    "self_report": _rating,
}


# --- status and command results -----------------------------------------------------------------


def check_status(status: Mapping[str, Any]) -> None:
    """The retained status (docs/mqtt.md): state, session, wall_utc, sensors, times, flags."""
    where = "status"
    state = status.get("state")
    # docs/design.md §7 lists no closed set of status states: any short snake_case name is kept, so a new
    # state never hides the sensors.
    if not isinstance(state, str) or not NAME_PATTERN.match(state) or len(state) > 32:
        raise _fail(f"{where} state", "must be a short string (e.g. active, finished, offline)")
    session = status.get("session")
    if session is not None and (not isinstance(session, str) or not ID_PATTERN.match(session)):
        raise _fail(f"{where} session", f"must be a session id or null, not {_show(session)}")
    _wall(status, where)
    sensors = status.get("sensors", {})
    if not isinstance(sensors, dict) or len(sensors) > 8:
        raise _fail(f"{where} sensors", "must be an object of at most 8 sensors")
    for role, info in sensors.items():
        if not NAME_PATTERN.match(role):
            raise _fail(f"{where} sensor", f"role {_show(role)} is not a snake_case name")
        if not isinstance(info, dict):
            raise _fail(f"{where} sensor {role}", "must be an object")
        if info.get("link") not in ("up", "down"):
            raise _fail(f"{where} sensor {role}", "link must be up or down")
        _num(info, "battery_pct", 0.0, 100.0, null=True, where=f"{where} sensor {role}")
        device = info.get("device")
        if device is not None and (not isinstance(device, str) or not 0 < len(device) <= 64):
            raise _fail(f"{where} sensor {role}", "device must be a device profile name (1–64 characters)")
    _num(status, "target_duration_s", 0.0, MAX_SESSION_S, null=True, where=where)
    _num(status, "time_left_s", -MAX_SESSION_S, MAX_SESSION_S, null=True, where=where)
    for key in ("screening", "self_report"):
        _name(status, key, where, null=True)


def check_cmd_result(result: Mapping[str, Any]) -> None:
    cmd_id = result.get("cmd_id")
    if not isinstance(cmd_id, str) or not EVENT_ID_PATTERN.match(cmd_id):
        raise _fail("cmd_result", "needs a string cmd_id (1–128 characters of letters, digits, '._:-')")
    if not isinstance(result.get("ok"), bool):
        raise _fail("cmd_result", "needs a boolean 'ok'")
    _text(result, "reason", "cmd_result", null=True)
