"""The monitor's delivery receipts: the retained ``coach/v1/<p>/stored`` document (docs/mqtt.md).

The monitor publishes, retained, how far it has stored each recent session of a patient::

    {"sessions": {"s-20261124T093000Z-3f2a": {"through": 812, "ranges": [[815, 830]]}},
     "wall_utc": "2026-11-24T09:45:02.113Z"}

``through``: every event with ``seq`` 1..through of that session is stored; ``ranges``: stored runs
beyond it (inclusive ``[first, last]`` pairs, at most :data:`MAX_RANGES`), so the coach sends again
only what is missing. The coach (:mod:`coach.mqtt.publisher`) removes what is confirmed from its
spool and sends the rest again. Both ends use this module; :func:`parse_stored` never raises on any
input but :class:`ValueError`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from coach.ids import check_id

#: Stored runs beyond ``through`` listed per session (the rest is simply sent again).
MAX_RANGES: Final = 32
#: Sessions listed in one document (the most recent ones).
MAX_SESSIONS: Final = 256
#: Largest delivery number accepted (JSON's exact integers).
MAX_SEQ: Final = 2**53


@dataclass(frozen=True, slots=True)
class Receipt:
    """How far one session is stored."""

    through: int
    ranges: tuple[tuple[int, int], ...] = field(default=())


def stored_runs(seqs: Sequence[int], through: int) -> Receipt:
    """The receipt for the stored ``seqs`` of a session whose first ``through`` are already known
    stored: ``through`` advanced over the contiguous run, and up to :data:`MAX_RANGES` runs beyond."""
    runs: list[tuple[int, int]] = []
    for s in sorted(set(seqs)):
        if s <= through:
            continue
        if s == through + 1 and not runs:
            through = s
        elif runs and s == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], s)
        else:
            runs.append((s, s))
    return Receipt(through, tuple(runs[:MAX_RANGES]))


def render_stored(receipts: Mapping[str, Receipt], wall_utc: str) -> bytes:
    """The retained document for one patient."""
    sessions = {
        s: {"through": r.through, **({"ranges": [list(x) for x in r.ranges]} if r.ranges else {})}
        for s, r in receipts.items()
    }
    return json.dumps({"sessions": sessions, "wall_utc": wall_utc}, separators=(",", ":")).encode()


def _seq(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQ:
        raise ValueError(f"not a delivery number: {value!r}")
    return value


def parse_stored(payload: bytes) -> dict[str, Receipt]:
    """Read a ``stored`` document; raises :class:`ValueError` (with the reason) for anything else."""
    if len(payload) > 1024 * 1024:
        raise ValueError("stored document over 1 MiB")
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    sessions = doc.get("sessions") if isinstance(doc, dict) else None
    if not isinstance(sessions, dict):
        raise ValueError("no 'sessions' object")
    out: dict[str, Receipt] = {}
    for session, entry in list(sessions.items())[:MAX_SESSIONS]:
        check_id(session, "session id")
        if not isinstance(entry, dict):
            raise ValueError(f"session {session}: not an object")
        ranges = entry.get("ranges", [])
        if not isinstance(ranges, list):
            raise ValueError(f"session {session}: 'ranges' is not a list")
        pairs = []
        for pair in ranges[:MAX_RANGES]:
            if not isinstance(pair, list) or len(pair) != 2:
                raise ValueError(f"session {session}: a range is not [first, last]")
            lo, hi = _seq(pair[0]), _seq(pair[1])
            if lo > hi:
                raise ValueError(f"session {session}: range [{lo}, {hi}] is reversed")
            pairs.append((lo, hi))
        out[session] = Receipt(_seq(entry.get("through")), tuple(pairs))
    return out
