"""The therapist command vocabulary: names, arguments and their ranges, validation (one home).

A therapist's command reaches a coach signed on ``coach/v1/<p>/cmd`` (the envelope, signing and
verification are :mod:`coach.mqtt.commands`); the monitor checks arguments with the same validators
before it signs. The coach applies a command to its pipeline, records it with its ``t`` in
``<trace>.commands.jsonl``, and a replay applies it again at that time.

Commands and their ``args`` (all numbers in the units their names say):

=====================  ==================================================================
``set_target_duration``  ``{"target_duration_s": 60–3600}``
``set_cadence_range``    ``{"min_spm": 1–120, "max_spm": 1–120}`` with min < max
``set_thresholds``       any of ``{"elevation_margin_m": -0.2–0.5, "wrist_flexion_deg": 1–60,
                         "wrist_deviation_deg": 1–60}`` (at least one)
``pause``, ``resume``, ``stop``   ``{}``
``clear_screening``      ``{"valid_days": 1–30}`` (optional, default 1)
=====================  ==================================================================

Each command is bound to a session (or to "the next session") and valid for a short time: at most
:data:`MAX_VALIDITY` (10 minutes for ``pause``, ``resume`` and ``stop``, a day for the others); the
envelope carries both (:mod:`coach.mqtt.commands`).

The retained ``targets`` document sets the same values (target duration, cadence range, thresholds)
with the same ranges; a live session hands what it applied to the pipeline as one ``set_targets``
command (:func:`targets_command`). The coach's own pauses while a sensor's link is down are ``pause``
and ``resume`` commands ``by`` ``"coach"``.

A session target is 1 minute to 1 hour (:data:`TARGET_DURATION_S`), wherever it comes from (a command,
the targets, the ``coach run`` configuration, a live session's settings): the time cues count down in
minutes ("one minute left" would come at the very start of a shorter session), and a prescribed
session is 10–15 minutes.

Ranges are checked where a command or setting *arrives*. A recorded command is replayed as it was
recorded: :func:`check_recorded` checks its shape and that its numbers are numbers, not their ranges.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Final

from coach.errors import ValidationError

#: Range of a session target (s): 1 minute to 1 hour (see the module docstring).
TARGET_DURATION_S: Final = (60.0, 3600.0)
#: Range of either end of a cadence range (strokes per minute).
CADENCE_SPM: Final = (1.0, 120.0)
#: Range of each posture threshold.
THRESHOLD_RANGES: Final[dict[str, tuple[float, float]]] = {
    "elevation_margin_m": (-0.2, 0.5),
    "wrist_flexion_deg": (1.0, 60.0),
    "wrist_deviation_deg": (1.0, 60.0),
}
THRESHOLD_KEYS: Final = tuple(THRESHOLD_RANGES)
#: How long a screening clearance may last (days).
VALID_DAYS: Final = (1, 30)
#: The coach's own settings where nobody set one (a therapist, the ``coach run`` configuration, a trace's
#: ``meta``), by setting key: a 12-minute live session (a replay has no target unless its ``meta`` gives
#: one), 8–40 strokes a minute (docs/design.md §6), the hand 5 cm above the heart, the wrist within 15° of
#: flexion and 10° of deviation (docs/design.md §5). The pipeline, the live session and the monitor's report
#: read them here.
DEFAULT_SETTINGS: Final[dict[str, float]] = {
    "target_duration_s": 720.0,
    "cadence_min_spm": 8.0,
    "cadence_max_spm": 40.0,
    "elevation_margin_m": 0.05,
    "wrist_flexion_deg": 15.0,
    "wrist_deviation_deg": 10.0,
}


def number_in(args: Mapping[str, Any], key: str, lo: float, hi: float) -> float:
    """``args[key]`` as a float within ``[lo, hi]``; ``ValueError`` with the reason otherwise."""
    v = args.get(key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise ValueError(f"{key} must be a number")
    if not lo <= v <= hi:
        raise ValueError(f"{key} must be within {lo:g}–{hi:g}, not {v:g}")
    return float(v)


def _no_extra(args: Mapping[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(args) - allowed)
    if extra:
        raise ValueError(f"unknown argument(s) {', '.join(extra)}")


def target_duration_args(args: Mapping[str, Any]) -> dict[str, Any]:
    _no_extra(args, {"target_duration_s"})
    return {"target_duration_s": number_in(args, "target_duration_s", *TARGET_DURATION_S)}


def cadence_args(args: Mapping[str, Any]) -> dict[str, Any]:
    _no_extra(args, {"min_spm", "max_spm"})
    lo = number_in(args, "min_spm", *CADENCE_SPM)
    hi = number_in(args, "max_spm", *CADENCE_SPM)
    if not lo < hi:
        raise ValueError("min_spm must be below max_spm")
    return {"min_spm": lo, "max_spm": hi}


def threshold_args(args: Mapping[str, Any]) -> dict[str, Any]:
    _no_extra(args, set(THRESHOLD_RANGES))
    if not args:
        raise ValueError(f"give at least one of {', '.join(THRESHOLD_RANGES)}")
    return {k: number_in(args, k, *THRESHOLD_RANGES[k]) for k in args}


def _no_args(args: Mapping[str, Any]) -> dict[str, Any]:
    _no_extra(args, set())
    return {}


def clear_screening_args(args: Mapping[str, Any]) -> dict[str, Any]:
    _no_extra(args, {"valid_days"})
    if "valid_days" not in args:
        return {"valid_days": 1}
    v = args["valid_days"]
    lo, hi = VALID_DAYS
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValueError(f"valid_days must be a whole number of days within {lo}–{hi}")
    return {"valid_days": v}


#: The therapist's commands: name -> validator returning the normalised args (raises ``ValueError``
#: with the reason).
COMMANDS: Final[dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]]] = {
    "set_target_duration": target_duration_args,
    "set_cadence_range": cadence_args,
    "set_thresholds": threshold_args,
    "pause": _no_args,
    "resume": _no_args,
    "stop": _no_args,
    "clear_screening": clear_screening_args,
}
#: How long a signed command may stay valid: the longest ``expires_at - issued_at`` a coach accepts
#: (:mod:`coach.mqtt.commands` checks it). A persistent session may deliver late, but a pause, resume or
#: stop is meant for now, not for whenever the coach next connects; a setting or a clearance may wait a
#: day for a coach that is offline.
MAX_VALIDITY: Final[dict[str, timedelta]] = {
    "set_target_duration": timedelta(days=1),
    "set_cadence_range": timedelta(days=1),
    "set_thresholds": timedelta(days=1),
    "pause": timedelta(minutes=10),
    "resume": timedelta(minutes=10),
    "stop": timedelta(minutes=10),
    "clear_screening": timedelta(days=1),
}
#: What a pipeline accepts: the therapist's commands and ``set_targets`` (a targets document as a
#: session applied it). ``clear_screening`` is the session's business; the pipeline ignores it.
PIPELINE_COMMANDS: Final = (
    "set_target_duration",
    "set_cadence_range",
    "set_thresholds",
    "set_targets",
    "pause",
    "resume",
    "stop",
    "clear_screening",
)


def check_target_duration(value: float, what: str = "target_duration_s") -> float:
    """A session target within :data:`TARGET_DURATION_S`, else :class:`ValidationError`."""
    try:
        return number_in({what: value}, what, *TARGET_DURATION_S)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def check_recorded(command: Any) -> None:
    """The shape of a command handed to a pipeline (``{"cmd", "args"}``, extra keys allowed) and that its
    numbers are finite numbers; ranges are not checked (see the module docstring)."""
    if not isinstance(command, dict) or command.get("cmd") not in PIPELINE_COMMANDS:
        name = command.get("cmd") if isinstance(command, dict) else command
        raise ValidationError(f"unknown command {name!r} (known: {', '.join(PIPELINE_COMMANDS)})")
    args = command.get("args") or {}
    if not isinstance(args, dict):
        raise ValidationError("command args must be an object")
    numbers = dict(args)
    if command["cmd"] == "set_targets":
        for sub in ("cadence_spm", "thresholds"):
            inner = args.get(sub) or {}
            if not isinstance(inner, dict):
                raise ValidationError(f"set_targets: {sub} must be an object")
            numbers.update(inner)
    for key in ("target_duration_s", "min_spm", "max_spm", *THRESHOLD_KEYS):
        value = numbers.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValidationError(f"command {command['cmd']}: {key} must be a number, not {value!r}")


# -- settings: what commands and targets set ----------------------------------------------------------
#
# A coach keeps the therapist's settings as flat numbers: ``target_duration_s``, ``cadence_min_spm``,
# ``cadence_max_spm`` and the threshold keys.


def setting_values(name: str, args: Mapping[str, Any]) -> dict[str, float]:
    """The settings a (validated) ``set_target_duration``, ``set_cadence_range`` or ``set_thresholds``
    command sets."""
    if name == "set_target_duration":
        return {"target_duration_s": float(args["target_duration_s"])}
    if name == "set_cadence_range":
        return {"cadence_min_spm": float(args["min_spm"]), "cadence_max_spm": float(args["max_spm"])}
    return {k: float(v) for k, v in args.items()}


def targets_args(applied: Mapping[str, float]) -> dict[str, Any]:
    """The ``set_targets`` args for settings just applied (those not given are left out)."""
    args: dict[str, Any] = {}
    if "target_duration_s" in applied:
        args["target_duration_s"] = applied["target_duration_s"]
    cad = {k: applied[f"cadence_{k}"] for k in ("min_spm", "max_spm") if f"cadence_{k}" in applied}
    if cad:
        args["cadence_spm"] = cad
    th = {k: v for k, v in applied.items() if not k.startswith("cadence_") and k != "target_duration_s"}
    if th:
        args["thresholds"] = th
    return args


def targets_command(applied: Mapping[str, float], issued_at: str, by: str) -> dict[str, Any]:
    """The ``set_targets`` command a session applies (and records) for a targets document."""
    return {"id": f"targets-{issued_at}", "cmd": "set_targets", "args": targets_args(applied), "by": by}
