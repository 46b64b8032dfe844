"""Therapist commands on ``coach/v1/<p>/cmd`` (docs/design.md §7): envelope, signing and verification.

A command is ``{"id", "cmd", "args", "issued_at", "expires_at", "session", "by", "sig"}``. ``session``
binds it to one session (its id) or, explicitly, to ``"next"``: the first session that receives it.
``expires_at`` ends its validity, at most :data:`coach.commands.MAX_VALIDITY` after ``issued_at``
(10 minutes for ``pause``, ``resume`` and ``stop``, a day for the others): a signed ``pause`` from six
days ago, or one meant for another session, changes nothing. ``sig`` is HMAC-SHA256, in lower-case
hex, over the command's canonical JSON without ``sig`` (:func:`canonical_json`: sorted keys, no
spaces, UTF-8, no NaN), keyed with the patient's enrolment secret, which the monitor and that
patient's coach share. The coach accepts only commands whose signature verifies (every command, not
just the safety-relevant ones: an unsigned ``stop`` from anyone who can publish on the topic would be
a denial of service). The monitor uses :func:`command_envelope` and :func:`sign_command` to make them.

The command names, their arguments and ranges are :mod:`coach.commands` (one home).

The same signature scheme covers the retained ``targets`` document (:func:`parse_targets`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from coach.clock import format_utc, parse_utc, utc_now
from coach.commands import COMMANDS, MAX_VALIDITY, cadence_args, target_duration_args, threshold_args
from coach.errors import CoachError
from coach.ids import ID_PATTERN

#: Commands older than this are refused as stale, whatever their ``expires_at``.
DEFAULT_MAX_AGE = timedelta(days=7)
#: Clock skew tolerated for ``issued_at`` in the future.
MAX_FUTURE_SKEW = timedelta(minutes=5)
#: ``session`` value that binds a command to the first session receiving it.
NEXT_SESSION: Final = "next"

_CMD_ID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}\Z")
_SIG_RE: Final = re.compile(r"^[0-9a-f]{64}\Z")
ENVELOPE_KEYS: Final = frozenset({"id", "cmd", "args", "issued_at", "expires_at", "session", "by", "sig"})


class CommandError(CoachError):
    """A command that changes nothing, with the reason that goes to ``cmd_result``."""

    def __init__(self, cmd_id: str | None, reason: str) -> None:
        self.cmd_id = cmd_id
        self.reason = reason
        super().__init__(f"command {cmd_id or '(no id)'} rejected: {reason}")


def canonical_json(obj: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: sorted keys, no spaces, UTF-8, strict numbers."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def signature(obj: Mapping[str, Any], secret: str) -> str:
    """HMAC-SHA256 (hex) of ``obj`` without its ``sig`` key."""
    body = {k: v for k, v in obj.items() if k != "sig"}
    return hmac.new(secret.encode("utf-8"), canonical_json(body), hashlib.sha256).hexdigest()


def sign_command(command: Mapping[str, Any], secret: str) -> dict[str, Any]:
    """A copy of ``command`` with its ``sig`` set (for the monitor and for tests)."""
    signed = {k: v for k, v in command.items() if k != "sig"}
    signed["sig"] = signature(signed, secret)
    return signed


def verify_signature(obj: Mapping[str, Any], secret: str) -> bool:
    sig = obj.get("sig")
    if not isinstance(sig, str) or not _SIG_RE.match(sig):
        return False
    try:
        expected = signature(obj, secret)
    except (TypeError, ValueError):
        return False
    return hmac.compare_digest(sig, expected)


@dataclass(frozen=True, slots=True)
class Command:
    """A verified, validated therapist command."""

    id: str
    cmd: str
    args: dict[str, Any]
    issued_at: str
    by: str
    issued: datetime = field(compare=False)
    #: The session it is bound to, or ``"next"``.
    session: str = NEXT_SESSION
    expires: datetime | None = field(default=None, compare=False)

    def record(self) -> dict[str, Any]:
        """The command as written to ``<trace>.commands.jsonl`` and handed to the pipeline (no ``sig``)."""
        return {
            "id": self.id,
            "cmd": self.cmd,
            "args": dict(self.args),
            "issued_at": self.issued_at,
            "by": self.by,
        }


def parse_command(
    payload: bytes | str,
    secret: str | None,
    *,
    session: str,
    now: datetime | None = None,
    max_age: timedelta = DEFAULT_MAX_AGE,
) -> Command:
    """Decode, verify and validate one command payload for the coach's session ``session``; raise
    :class:`CommandError` with the reason.

    Checks, in order: JSON object with exactly the envelope keys and their types; signature (before
    anything else is interpreted); known command; its arguments; ``issued_at`` neither stale nor in
    the future; ``expires_at`` after ``issued_at``, within :data:`~coach.commands.MAX_VALIDITY` of it,
    and not past;
    ``session`` this session or ``"next"``.
    """
    try:
        obj = json.loads(payload, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CommandError(None, f"malformed: not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise CommandError(None, "malformed: a command must be a JSON object")
    cmd_id = obj.get("id")
    if not isinstance(cmd_id, str) or not _CMD_ID_RE.match(cmd_id):
        raise CommandError(None, "malformed: 'id' must be 1–64 characters of letters, digits, _ . : -")
    missing = sorted(ENVELOPE_KEYS - set(obj))
    if missing:
        raise CommandError(cmd_id, f"malformed: missing {', '.join(missing)}")
    extra = sorted(set(obj) - ENVELOPE_KEYS)
    if extra:
        raise CommandError(cmd_id, f"malformed: unknown field(s) {', '.join(extra)}")
    for key in ("cmd", "issued_at", "expires_at", "session", "by", "sig"):
        if not isinstance(obj[key], str):
            raise CommandError(cmd_id, f"malformed: '{key}' must be a string")
    if obj["session"] != NEXT_SESSION and not ID_PATTERN.match(obj["session"]):
        raise CommandError(cmd_id, "malformed: 'session' must be a session id or \"next\"")
    if not isinstance(obj["args"], dict):
        raise CommandError(cmd_id, "malformed: 'args' must be an object")
    if secret is None:
        raise CommandError(cmd_id, "unauthorised: this coach has no enrolment secret to verify commands")
    if not verify_signature(obj, secret):
        raise CommandError(cmd_id, "unauthorised: signature does not verify")
    validator = COMMANDS.get(obj["cmd"])
    if validator is None:
        raise CommandError(cmd_id, f"unknown command {obj['cmd']!r}; known: {', '.join(COMMANDS)}")
    try:
        args = validator(obj["args"])
    except ValueError as exc:
        raise CommandError(cmd_id, f"invalid args for {obj['cmd']}: {exc}") from None
    now = now or utc_now()
    issued = _check_issued(cmd_id, obj["issued_at"], now, max_age)
    expires = _check_expires(cmd_id, obj["cmd"], obj["expires_at"], issued, now)
    bound = obj["session"]
    if bound != NEXT_SESSION and bound != session:
        raise CommandError(cmd_id, f"wrong session: issued for {bound}, this is {session}")
    return Command(cmd_id, obj["cmd"], args, obj["issued_at"], obj["by"], issued, bound, expires)


def _check_expires(cmd_id: str, cmd: str, text: str, issued: datetime, now: datetime) -> datetime:
    try:
        expires = parse_utc(text)
    except ValueError:
        raise CommandError(cmd_id, f"malformed: expires_at {text!r} is not an ISO 8601 UTC time") from None
    longest = MAX_VALIDITY[cmd]
    if not issued < expires <= issued + longest:
        raise CommandError(
            cmd_id, f"invalid: expires_at must be after issued_at and at most {_span(longest)} later"
        )
    if now > expires:
        raise CommandError(cmd_id, f"expired: valid until {text}")
    return expires


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} minutes" if minutes < 120 else f"{minutes // 60} hours"


def command_envelope(
    cmd_id: str,
    cmd: str,
    args: Mapping[str, Any],
    *,
    by: str,
    session: str,
    issued: datetime | None = None,
    valid_for: timedelta | None = None,
) -> dict[str, Any]:
    """An unsigned command, ``expires_at`` = ``issued_at`` + ``valid_for`` (default: the longest the
    coach accepts for that command). Sign it with :func:`sign_command`."""
    issued = parse_utc(format_utc(issued or utc_now()))  # what the text says, to the millisecond
    valid_for = min(valid_for or MAX_VALIDITY[cmd], MAX_VALIDITY[cmd])
    return {
        "id": cmd_id,
        "cmd": cmd,
        "args": dict(args),
        "issued_at": format_utc(issued),
        "expires_at": format_utc(issued + valid_for),
        "session": session,
        "by": by,
    }


def _check_issued(cmd_id: str | None, text: str, now: datetime, max_age: timedelta) -> datetime:
    try:
        issued = parse_utc(text)
    except ValueError:
        raise CommandError(cmd_id, f"malformed: issued_at {text!r} is not an ISO 8601 UTC time") from None
    if issued > now + MAX_FUTURE_SKEW:
        raise CommandError(cmd_id, f"issued_at {text} is in the future (clock skew?)")
    if issued < now - max_age:
        raise CommandError(cmd_id, f"stale: issued_at {text} is older than {max_age.days} days")
    return issued


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# -- the retained targets document --------------------------------------------------------------------

TARGET_KEYS: Final = frozenset({"target_duration_s", "cadence_spm", "thresholds", "issued_at", "by", "sig"})


@dataclass(frozen=True, slots=True)
class Targets:
    """Verified targets from ``coach/v1/<p>/targets``; ``None`` fields are not set by the therapist."""

    target_duration_s: float | None
    cadence_spm: tuple[float, float] | None
    thresholds: dict[str, float]
    issued_at: str
    by: str


def parse_targets(payload: bytes | str, secret: str | None) -> Targets:
    """Decode and verify the retained targets document (signed like a command, without ``id``)::

    {"target_duration_s": 720, "cadence_spm": {"min_spm": 10, "max_spm": 30},
     "thresholds": {"wrist_flexion_deg": 20}, "issued_at": "...Z", "by": "t-01", "sig": "..."}
    """
    try:
        obj = json.loads(payload, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CommandError("targets", f"malformed: not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise CommandError("targets", "malformed: targets must be a JSON object")
    extra = sorted(set(obj) - TARGET_KEYS)
    if extra:
        raise CommandError("targets", f"malformed: unknown field(s) {', '.join(extra)}")
    for key in ("issued_at", "by", "sig"):
        if not isinstance(obj.get(key), str):
            raise CommandError("targets", f"malformed: '{key}' must be a string")
    if secret is None:
        raise CommandError("targets", "unauthorised: this coach has no enrolment secret to verify targets")
    if not verify_signature(obj, secret):
        raise CommandError("targets", "unauthorised: signature does not verify")
    try:
        parse_utc(obj["issued_at"])
        duration = (
            target_duration_args({"target_duration_s": obj["target_duration_s"]})["target_duration_s"]
            if "target_duration_s" in obj
            else None
        )
        cadence_doc = obj.get("cadence_spm")
        cadence = None
        if cadence_doc is not None:
            if not isinstance(cadence_doc, dict):
                raise ValueError("cadence_spm must be an object with min_spm and max_spm")
            c = cadence_args(cadence_doc)
            cadence = (c["min_spm"], c["max_spm"])
        th_doc = obj.get("thresholds") or {}
        if not isinstance(th_doc, dict):
            raise ValueError("thresholds must be an object")
        thresholds = threshold_args(th_doc) if th_doc else {}
    except ValueError as exc:
        raise CommandError("targets", f"invalid targets: {exc}") from None
    return Targets(duration, cadence, thresholds, obj["issued_at"], obj["by"])
