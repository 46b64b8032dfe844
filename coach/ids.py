"""Pseudonymous ids: patient, session and therapist ids as the topics, files and databases use them.

An id is one MQTT topic level and one file-name part: letters, digits, ``_``, ``-`` and ``.``, at most 64
characters, starting with a letter or digit. That excludes the MQTT wildcards ``+`` and ``#``, the level
separator ``/``, path separators and anything that could be a name with spaces, so an id can never
widen a subscription or an ACL pattern, or leave its folder.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Final

from coach.clock import utc_now
from coach.errors import ValidationError

#: ``\Z``, not ``$``: ``$`` would also match before a trailing newline.
ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")


def check_id(value: str, what: str = "id") -> str:
    """Return ``value`` if it is a valid pseudonymous id, else raise :class:`ValidationError`."""
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise ValidationError(
            f"{what} must be 1–64 characters of letters, digits, '_', '-' or '.', starting with a letter "
            f"or digit (a pseudonymous id, never a name): {value!r}"
        )
    return value


def new_session_id(now: datetime | None = None) -> str:
    """``s-<UTC time>-<4 random hex digits>``: sortable by start, unique on one coach."""
    when = (now or utc_now()).astimezone(UTC)
    return f"s-{when:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
