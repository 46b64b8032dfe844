"""The project's error types: one root, subclasses that carry where the problem is."""

from __future__ import annotations

from pathlib import Path


class CoachError(Exception):
    """Root of every error the coach raises on purpose."""


class ValidationError(CoachError, ValueError):
    """A value (argument, config entry, payload field) is outside what the contract allows."""


class TraceFormatError(CoachError):
    """A `coach-trace` file breaks the format; names the file and the 1-based line.

    Attributes:
        path: the trace file.
        line: 1-based line number of the offending line (``None`` for whole-file problems).
        reason: what is wrong, in plain words.
    """

    def __init__(self, path: str | Path, line: int | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {reason}")


class DecodeError(CoachError):
    """A BLE notification payload cannot be decoded by its device profile.

    The connection manager counts and drops such packets; ``coach decode`` prints them.

    Attributes:
        profile: the device profile name (``metamotion``, ``witmotion``, ...).
        reason: what is wrong with the packet.
    """

    def __init__(self, profile: str, reason: str) -> None:
        self.profile = profile
        self.reason = reason
        super().__init__(f"{profile}: {reason}")


class ConfigError(CoachError):
    """A configuration file or option is invalid; names the source and the key."""
