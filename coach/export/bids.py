"""Recorded sessions as a Motion-BIDS dataset (BIDS 1.10, the motion modality), for research tools.

Runs on the coach's machine: the raw samples exist only in the coach's trace files (the monitor
stores events, never samples). Per session (a trace ``<session>.csv`` and, beside it, the events the
coach emitted ``<session>.events.jsonl``; a trace without them gets its events by replaying it):

    sub-<p>/ses-<s>/motion/sub-<p>_ses-<s>_task-retrogrademassage_tracksys-<role>_motion.tsv
                                                                       ..._motion.json, _channels.tsv
    sub-<p>/ses-<s>/motion/sub-<p>_ses-<s>_task-retrogrademassage_events.tsv (+ .json)

One tracking system per sensor role (each IMU has its own clock and rate). Channels: LATENCY (the
sample time on the session clock, s, since samples are not exactly periodic), ACCEL x/y/z (m/s^2),
GYRO x/y/z (rad/s), MAGN x/y/z (uT) and pressure as MISC (Pa) where the sensor has them, in the
sensor frame (docs/design.md §3). Events: strokes (onset = contact start, duration = the glide), cues,
session states, posture changes of ``elevated``/``wrist_neutral``, and the calibration phases
(``calibration_still``, ``calibration_rotate``) from the trace's metadata. Labels are the ids
reduced to letters and digits (BIDS labels allow no ``-``/``_``); ``participants.tsv`` keeps the
pseudonymous id beside its label. No names, no wall-clock dates beyond the session's start time
in ``scans``-free sidecars (``acq_time`` is not written).

Why not ``motionbids`` (PyPI 0.6): it declares ipykernel and ``pip>=26.1.2`` as run-time
dependencies (a Jupyter kernel in every patient's install) for a few files we write here; the
tests instead check the output with the official BIDS validator (``bids-validator-deno``).
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from coach import __version__
from coach.errors import ValidationError
from coach.samples import SampleBlock
from coach.trace.reader import read_trace

BIDS_VERSION: Final = "1.10.0"
TASK: Final = "retrogrademassage"
TRACKED_POINT: Final = {"treated": "TreatedForearm", "hand": "TreatedHand", "stroker": "MassagingWrist"}
PLACEMENT: Final = {
    "treated": "dorsal side of the treated forearm just above the wrist (watch position)",
    "hand": "dorsum of the treated hand, over the third metacarpal",
    "stroker": "wrist of the massaging hand",
}
_EVENT_COLUMNS: Final = ("onset", "duration", "trial_type", "direction", "confidence", "value", "message")


def label(identifier: str) -> str:
    out = re.sub(r"[^A-Za-z0-9]", "", identifier)
    if not out:
        raise ValidationError(f"{identifier!r} has no letters or digits for a BIDS label")
    return out


@dataclass(frozen=True)
class Recording:
    """One recorded session: its participant id, session id, trace and events (``None``: replay)."""

    patient_id: str
    session_id: str
    trace: Path
    events: Path | None


def recordings_in(folder: Path, patient_id: str) -> list[Recording]:
    """The recorded sessions in a coach's ``patients/<p>/sessions`` folder."""
    out = []
    for trace in sorted(folder.glob("*.csv")):
        events = trace.with_name(f"{trace.stem}.events.jsonl")
        out.append(Recording(patient_id, trace.stem, trace, events if events.exists() else None))
    return out


def _num(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.6g}"


def _write_tsv(path: Path, header: list[str] | None, rows: Iterable[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        if header is not None:
            w.writerow(header)
        w.writerows(rows)


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _channels(block: SampleBlock) -> list[tuple[str, str, str, str]]:
    """(name, component, type, units) in column order."""
    out = [("latency", "n/a", "LATENCY", "s")]
    out += [(f"acc_{a}", a, "ACCEL", "m/s^2") for a in "xyz"]
    out += [(f"gyr_{a}", a, "GYRO", "rad/s") for a in "xyz"]
    if block.mag_ut is not None:
        out += [(f"mag_{a}", a, "MAGN", "uT") for a in "xyz"]
    if block.pressure_pa is not None:
        out.append(("pressure", "n/a", "MISC", "Pa"))
    return out


def _columns(block: SampleBlock) -> np.ndarray[Any, np.dtype[np.float64]]:
    parts = [block.t_s[:, None], block.acc_mps2, block.gyr_rps]
    if block.mag_ut is not None:
        parts.append(block.mag_ut)
    if block.pressure_pa is not None:
        parts.append(block.pressure_pa[:, None])
    return np.hstack(parts).astype(np.float64)


def _events_rows(events: list[dict[str, Any]], calibration: dict[str, Any]) -> list[list[str]]:
    rows: list[tuple[float, list[str]]] = []
    for phase in ("still", "rotate"):
        span = calibration.get(phase)
        if isinstance(span, list) and len(span) == 2:
            a, b = float(span[0]), float(span[1])
            rows.append((a, [_num(a), _num(b - a), f"calibration_{phase}", "n/a", "n/a", "n/a", "n/a"]))
    last: dict[str, Any] = {}
    for e in events:
        kind, t = e.get("type"), float(e.get("t", 0.0))
        if kind == "stroke":
            a, b = float(e["t_start"]), float(e["t_end"])
            conf = e.get("confidence")
            rows.append(
                (a, [_num(a), _num(b - a), "stroke", str(e.get("direction")), _num(conf), "n/a", "n/a"])
            )
        elif kind == "cue":
            rows.append((t, [_num(t), "0", "cue", "n/a", "n/a", str(e.get("code")), str(e.get("message"))]))
        elif kind == "state":
            rows.append(
                (t, [_num(t), "0", "state", "n/a", "n/a", str(e.get("state")), str(e.get("reason") or "n/a")])
            )
        elif kind == "posture":
            for key in ("elevated", "wrist_neutral"):
                value = e.get(key)
                if value is not None and value != last.get(key):
                    rows.append((t, [_num(t), "0", key, "n/a", "n/a", "true" if value else "false", "n/a"]))
                    last[key] = value
    rows.sort(key=lambda r: r[0])
    return [[c.replace("\t", " ").replace("\n", " ") or "n/a" for c in r] for _, r in rows]


def _load_events(rec: Recording) -> list[dict[str, Any]]:
    if rec.events is not None:
        out = []
        with open(rec.events, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        out.append(json.loads(line))
                    except ValueError as exc:
                        raise ValidationError(f"{rec.events}:{n}: not JSON ({exc})") from None
        return out
    return replay(rec.trace)


def replay(trace: Path) -> list[dict[str, Any]]:
    """The events the pipeline gives for ``trace`` (as ``coach replay`` does, without its commands)."""
    from coach.pipeline import PipelineConfig, SessionPipeline
    from coach.trace import open_trace

    events: list[dict[str, Any]] = []
    with open_trace(trace) as reader:
        pipeline = SessionPipeline(reader.meta, PipelineConfig())
        for chunk in reader.chunks():
            for block in chunk.by_role().values():
                events += map(dict, pipeline.feed(block))
            events += map(dict, pipeline.advance(float(chunk.t_s[-1]) - 0.5))
        events += map(dict, pipeline.finish())
    return events


def write_dataset(
    out: Path, recordings: list[Recording], *, name: str = "Retro Coach sessions"
) -> list[Path]:
    """Write (or add to) the dataset at ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    written: list[Path] = []
    description = out / "dataset_description.json"
    _write_json(
        description,
        {
            "Name": name,
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "raw",
            "GeneratedBy": [
                {"Name": "retro-coach", "Version": __version__, "Description": "coach bids-export"}
            ],
        },
    )
    (out / "README").write_text(
        "Retrograde massage sessions recorded by Retro Coach (wrist-worn IMUs), exported with "
        "`coach bids-export`. Pseudonymous participant ids only. Events: strokes with their direction, "
        "coaching cues, session states, posture changes and calibration phases.\n",
        encoding="utf-8",
    )
    written += [description, out / "README"]
    participants: dict[str, str] = {}
    for rec in recordings:
        sub, ses = label(rec.patient_id), label(rec.session_id)
        if participants.get(sub, rec.patient_id) != rec.patient_id:
            raise ValidationError(
                f"patients {participants[sub]!r} and {rec.patient_id!r} share label {sub!r}"
            )
        participants[sub] = rec.patient_id
        trace = read_trace(rec.trace)
        folder = out / f"sub-{sub}" / f"ses-{ses}" / "motion"
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"sub-{sub}_ses-{ses}_task-{TASK}"
        for role in trace.roles:
            block = trace.blocks[role]
            info = trace.meta.sensor(role)
            base = folder / f"{stem}_tracksys-{role}"
            data = _columns(block)
            _write_tsv(
                base.with_name(base.name + "_motion.tsv"), None, ([_num(v) for v in row] for row in data)
            )
            channels = _channels(block)
            _write_tsv(
                base.with_name(base.name + "_channels.tsv"),
                ["name", "component", "type", "tracked_point", "units"],
                ([n, c, t, TRACKED_POINT.get(role, role), u] for n, c, t, u in channels),
            )
            duration = float(block.t_s[-1] - block.t_s[0]) if len(block) > 1 else 0.0
            rate = info.rate_hz or (round((len(block) - 1) / duration, 3) if duration > 0 else "n/a")
            counts = {t: sum(1 for _, _, kind, _ in channels if kind == t) for _, _, t, _ in channels}
            _write_json(
                base.with_name(base.name + "_motion.json"),
                {
                    "TaskName": TASK,
                    "TaskDescription": "Retrograde massage of the treated hand, coached live",
                    "TrackingSystemName": role,
                    "SamplingFrequency": rate,
                    "SamplingFrequencyEffective": round((len(block) - 1) / duration, 4)
                    if duration > 0
                    else "n/a",
                    "RecordingDuration": round(duration, 3),
                    "ManufacturersModelName": info.device or "n/a",
                    "MotionChannelCount": len(channels),
                    **{
                        f"{k}ChannelCount": v
                        for k, v in counts.items()
                        if k in ("ACCEL", "GYRO", "MAGN", "LATENCY", "MISC")
                    },
                    "SensorPlacement": PLACEMENT.get(role, role),
                    "TreatedArm": trace.meta.raw.get("arm", "n/a"),
                },
            )
            written.append(base.with_name(base.name + "_motion.tsv"))
        calibration = trace.meta.raw.get("calibration") or {}
        events_path = folder / f"{stem}_events.tsv"
        _write_tsv(events_path, list(_EVENT_COLUMNS), _events_rows(_load_events(rec), calibration))
        _write_json(
            folder / f"{stem}_events.json",
            {
                "trial_type": {
                    "Description": "stroke, cue, state, elevated, wrist_neutral, calibration_still/_rotate"
                },
                "direction": {
                    "Description": "stroke direction: proximal (toward the elbow), distal or unknown"
                },
                "confidence": {"Description": "the detector's confidence in the stroke, 0 to 1"},
                "value": {
                    "Description": "cue code, new session state, or the new posture value (true/false)"
                },
                "message": {"Description": "cue text given to the person, or the state's reason"},
            },
        )
        written.append(events_path)
    _write_tsv(
        out / "participants.tsv",
        ["participant_id", "source_id"],
        ([f"sub-{sub}", pid] for sub, pid in sorted(participants.items())),
    )
    _write_json(
        out / "participants.json",
        {"source_id": {"Description": "the pseudonymous patient id used by the coach and the monitor"}},
    )
    return written
