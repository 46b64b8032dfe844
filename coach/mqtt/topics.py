"""MQTT topic names of docs/design.md §7, built from validated pseudonymous ids (:mod:`coach.ids`: one
topic level each, so a topic can never widen a subscription or an ACL pattern)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from coach.errors import ValidationError
from coach.ids import check_id

PREFIX: Final = "coach/v1"


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
