"""MQTT topic names of DESIGN.md §7, built from validated pseudonymous ids.

A patient id or session id is one topic level: letters, digits, ``_``, ``-`` and ``.``, at most 64
characters. That excludes the MQTT wildcards ``+`` and ``#``, the level separator ``/`` and anything
that could be a name with spaces, so a topic can never widen a subscription or an ACL pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from coach.errors import ValidationError

PREFIX: Final = "coach/v1"
_ID_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_id(value: str, what: str = "id") -> str:
    """Return ``value`` if it is a valid pseudonymous id (one topic level), else raise ValidationError."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ValidationError(
            f"{what} must be 1–64 characters of letters, digits, '_', '-' or '.', starting with a letter "
            f"or digit (a pseudonymous id, never a name): {value!r}"
        )
    return value


@dataclass(frozen=True, slots=True)
class PatientTopics:
    """The topics of one patient (``<p>``)."""

    patient: str

    def __post_init__(self) -> None:
        check_id(self.patient, "patient id")

    @property
    def base(self) -> str:
        return f"{PREFIX}/{self.patient}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def targets(self) -> str:
        return f"{self.base}/targets"

    @property
    def cmd(self) -> str:
        return f"{self.base}/cmd"

    @property
    def cmd_result(self) -> str:
        return f"{self.base}/cmd_result"

    @property
    def stored(self) -> str:
        """Retained, written by the monitor: how far it has stored each session (docs/mqtt.md)."""
        return f"{self.base}/stored"

    def events(self, session: str) -> str:
        return f"{self.base}/{check_id(session, 'session id')}/events"

    def summary(self, session: str) -> str:
        return f"{self.base}/{check_id(session, 'session id')}/summary"


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    """A topic under ``coach/v1`` split into its parts; ``session`` is ``None`` for patient-level topics."""

    patient: str
    session: str | None
    kind: str


_PATIENT_KINDS: Final = ("status", "targets", "cmd", "cmd_result", "stored")
_SESSION_KINDS: Final = ("events", "summary")


def parse_topic(topic: str) -> ParsedTopic:
    """Split ``coach/v1/<p>/...`` into patient, session and kind; raise ValidationError otherwise."""
    parts = topic.split("/")
    if len(parts) < 4 or "/".join(parts[:2]) != PREFIX:
        raise ValidationError(f"not a coach/v1 topic: {topic!r}")
    patient = check_id(parts[2], "patient id")
    if len(parts) == 4 and parts[3] in _PATIENT_KINDS:
        return ParsedTopic(patient, None, parts[3])
    if len(parts) == 5 and parts[4] in _SESSION_KINDS:
        return ParsedTopic(patient, check_id(parts[3], "session id"), parts[4])
    raise ValidationError(f"unknown coach/v1 topic: {topic!r}")
