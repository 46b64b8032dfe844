"""Therapist commands in the pipeline: when they take effect, what they set.

A command applies at the first decision point at or after its ``t`` (or at once when the pipeline is
already past it); commands at the same point apply in the order they were given. What was applied, at
which time, is kept in :attr:`CommandQueue.applied` for the live session's ``commands.jsonl``, so a
replay applies the same commands at the same points. The vocabulary and its validation are
:mod:`coach.commands`; pausing is :mod:`coach.pipeline.states`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from coach.commands import DEFAULT_SETTINGS, THRESHOLD_KEYS, check_recorded
from coach.signal.posture import Thresholds
from coach.trace.meta import TraceMeta

Command = dict[str, Any]


class CommandQueue:
    """Commands waiting for their decision point, and those applied with their times."""

    def __init__(self) -> None:
        self._waiting: list[tuple[int, int, Command]] = []
        self._seq = 0
        #: ``(t_s, command)`` in the order applied.
        self.applied: list[tuple[float, Command]] = []

    def add(self, command: Command, j: int) -> None:
        """Queue ``command`` for decision point ``j`` (after checking its shape)."""
        check_recorded(command)
        self._waiting.append((j, self._seq, command))
        self._seq += 1
        self._waiting.sort(key=lambda c: (c[0], c[1]))

    def next_point(self) -> int | None:
        """The decision point of the first waiting command."""
        return self._waiting[0][0] if self._waiting else None

    def pop_due(self, j: int) -> Command | None:
        """The first waiting command if it is due at ``j``."""
        if self._waiting and self._waiting[0][0] <= j:
            return self._waiting.pop(0)[2]
        return None

    def first_stop(self) -> int | None:
        """The decision point of the first waiting ``stop``."""
        stops = [j for j, _, c in self._waiting if c["cmd"] == "stop"]
        return stops[0] if stops else None


@dataclass(slots=True)
class Targets:
    """What a therapist may set during a session: posture thresholds, the cadence range for the
    ``faster``/``slower`` cues, the target duration for the time cues."""

    thresholds: Thresholds
    cadence_min_spm: float | None
    cadence_max_spm: float | None
    target_duration_s: float | None

    @classmethod
    def initial(
        cls,
        meta: TraceMeta,
        elevation_margin_m: float | None,
        wrist_flexion_deg: float | None,
        wrist_deviation_deg: float | None,
        cadence_min_spm: float | None,
        cadence_max_spm: float | None,
        target_duration_s: float | None,
    ) -> Targets:
        """The configuration's values, else ``meta``'s, else :data:`coach.commands.DEFAULT_SETTINGS`
        (0.05 m, 15°, 10°; 8–40 strokes/min); no target unless given."""
        th = meta.thresholds
        thresholds = Thresholds(
            _pick(elevation_margin_m, th.get("elevation_margin_m"), DEFAULT_SETTINGS["elevation_margin_m"]),
            _pick(wrist_flexion_deg, th.get("wrist_flexion_deg"), DEFAULT_SETTINGS["wrist_flexion_deg"]),
            _pick(
                wrist_deviation_deg, th.get("wrist_deviation_deg"), DEFAULT_SETTINGS["wrist_deviation_deg"]
            ),
        )
        cad = meta.raw.get("cadence_spm")
        cad = cad if isinstance(cad, dict) else {}
        return cls(
            thresholds,
            _pick(cadence_min_spm, _num_or_none(cad.get("min_spm")), DEFAULT_SETTINGS["cadence_min_spm"]),
            _pick(cadence_max_spm, _num_or_none(cad.get("max_spm")), DEFAULT_SETTINGS["cadence_max_spm"]),
            target_duration_s or meta.target_duration_s,
        )

    def apply(self, name: str, args: dict[str, Any]) -> bool:
        """Apply a ``set_*`` command; returns whether the target duration changed."""
        if name == "set_targets":
            cad = args.get("cadence_spm") or {}
            changed = self._set(args.get("target_duration_s"), cad.get("min_spm"), cad.get("max_spm"))
            self._set_thresholds(args.get("thresholds") or {})
            return changed
        if name == "set_target_duration":
            return self._set(args.get("target_duration_s"), None, None)
        if name == "set_cadence_range":
            return self._set(None, args.get("min_spm"), args.get("max_spm"))
        if name == "set_thresholds":
            self._set_thresholds(args)
        return False

    def _set(self, duration_s: Any, min_spm: Any, max_spm: Any) -> bool:
        if min_spm is not None:
            self.cadence_min_spm = float(min_spm)
        if max_spm is not None:
            self.cadence_max_spm = float(max_spm)
        if duration_s is not None:
            self.target_duration_s = float(duration_s)
            return True
        return False

    def _set_thresholds(self, args: dict[str, Any]) -> None:
        for key in THRESHOLD_KEYS:
            if args.get(key) is not None:
                setattr(self.thresholds, key, float(args[key]))


SETTINGS_COMMANDS = ("set_targets", "set_target_duration", "set_cadence_range", "set_thresholds")


def _pick(*values: float | None) -> float:
    for v in values:
        if v is not None:
            return float(v)
    raise AssertionError("a default is always given")


def _num_or_none(v: Any) -> float | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    return float(v) if ok else None
