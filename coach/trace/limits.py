"""What a `coach-trace` v1 file may hold, in numbers (docs/signal.md, "Trace errors").

Everything outside these limits is a :class:`~coach.errors.TraceFormatError` naming the file and the
line, never a traceback, a hang or gigabytes of memory. The limits are far beyond any real session or
sensor, so a real recording never meets them; they exist so that a broken or hostile file cannot make
the coach allocate a grid for a year or parse a line of two gigabytes. (Sample rates are bounded where
they are used: :data:`coach.samples.MIN_RATE_HZ` and ``MAX_RATE_HZ``.)
"""

from __future__ import annotations

from typing import Final

#: ``|t|`` in seconds: a trace is one session on one clock starting near 0 (docs/design.md §7), so a day
#: is plenty; a wall-clock time (Unix seconds, ~1.7e9) or a device's uptime in µs is refused here.
MAX_ABS_TIME_S: Final = 86_400.0
#: Longest data row, in characters (a row of every column at full precision is under 200).
MAX_ROW_CHARS: Final = 4_096
#: Longest comment or header line (the ``meta`` line), in characters.
MAX_HEADER_LINE_CHARS: Final = 1 << 20
#: Deepest nesting of objects and arrays inside ``meta`` (the contract's own keys nest 3 deep).
MAX_META_DEPTH: Final = 32
#: Characters of rows read into one batch at most (besides the row count), so memory stays bounded.
MAX_BATCH_CHARS: Final = 16 << 20
#: Largest magnitude per column group: far beyond any IMU's range (±200 g, ±70 rad/s, ±5 mT), small
#: enough that squares and sums of them stay finite.
MAX_ABS_VALUE: Final = {
    "acc": 1e5,  # m/s²
    "gyr": 1e4,  # rad/s
    "mag": 1e5,  # µT
    "pressure": 1e7,  # Pa
}


def column_limit(column: str) -> float | None:
    """The largest magnitude allowed in a numeric column (``None`` for ``t``, checked by time)."""
    if column in ("ax", "ay", "az"):
        return MAX_ABS_VALUE["acc"]
    if column in ("gx", "gy", "gz"):
        return MAX_ABS_VALUE["gyr"]
    if column in ("mx", "my", "mz"):
        return MAX_ABS_VALUE["mag"]
    if column == "pressure":
        return MAX_ABS_VALUE["pressure"]
    return None
