"""Seeded corpora of simulated sessions, their truth, and replays through the real pipeline.

Sessions come from the simulator's public API only (``random_scenario`` / ``simulate`` / ``write``,
docs/simulator.md) and are cached as ``benchmarks/out/corpus/s<seed>.csv`` plus ``.labels.json``
(git-ignored). :func:`replay` runs a trace through :class:`~coach.pipeline.SessionPipeline` the way
``coach replay`` does (file chunks, each role fed in turn, the clock trailing the newest row).
:func:`load_truth` turns a labels file (and the trace's own sample times, for gaps) into a
:class:`~benchmarks.scoring.Truth`; any labelled recording with the same labels keys can be scored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.scoring import PostureTruth, TrueStroke, Truth, outside, sample_gaps
from coach.events import Event

OUT_DIR = Path(__file__).resolve().parent / "out"
CORPUS_DIR = OUT_DIR / "corpus"
#: A sensor silent for longer than this is in a gap (the pipeline's default ``max_gap_s``).
GAP_S = 0.25


#: Named scenario variants for training corpora: ``random_scenario`` overrides.
VARIANTS: dict[str, dict[str, Any]] = {
    "": {},
    # no massage at all, many fidgets (of the treated arm and of the resting massaging hand)
    "nostroke": {"strokes.enabled": False, "fidgets.per_10min": 30.0},
}


def trace_path(seed: int, directory: Path = CORPUS_DIR, variant: str = "") -> Path:
    return directory / (f"s{seed}.csv" if not variant else f"{variant}{seed}.csv")


def labels_path(trace: Path) -> Path:
    name = trace.name.removesuffix(".gz").removesuffix(".csv")
    return trace.with_name(name + ".labels.json")


def ensure_session(seed: int, directory: Path = CORPUS_DIR, variant: str = "") -> Path:
    """``simulate(random_scenario(seed, **VARIANTS[variant]), seed)`` as a trace, generated once, cached."""
    path = trace_path(seed, directory, variant)
    if path.exists() and labels_path(path).exists():
        return path
    from simulators import random_scenario, simulate

    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.csv")
    session = simulate(random_scenario(seed, **VARIANTS[variant]), seed=seed)
    session.write(tmp, labels_path(path))
    tmp.replace(path)
    return path


def read_labels(trace: Path) -> dict[str, Any]:
    with open(labels_path(trace), encoding="utf-8") as f:
        labels: dict[str, Any] = json.load(f)
    return labels


def sample_times(trace: Path) -> dict[str, np.ndarray]:
    """Each role's sample times in the trace (for gaps)."""
    from coach.trace import read_trace

    tr = read_trace(trace)
    return {role: block.t_s for role, block in tr.blocks.items()}


def load_truth(trace: Path, labels: dict[str, Any] | None = None) -> Truth:
    """Truth of a labelled trace: strokes, 10 Hz posture, the active session; observability from the
    trace's own sample gaps (a role silent for more than :data:`GAP_S`)."""
    labels = labels if labels is not None else read_labels(trace)
    strokes = tuple(
        TrueStroke(float(s["t_start"]), float(s["t_end"]), str(s["direction"]), s.get("region"))
        for s in labels["strokes"]
    )
    active = labels.get("active") or [0.0, float(labels["duration_s"])]
    p = labels.get("posture")
    posture = None
    if p:
        t = np.asarray(p["t"], dtype=np.float64)
        times = sample_times(trace)
        obs = (
            outside(t, sample_gaps(times["treated"], GAP_S)) if "treated" in times else np.zeros(t.size, bool)
        )
        wrist_obs = None
        if "hand" in labels.get("roles", []) and "hand" in times:
            wrist_obs = obs & outside(t, sample_gaps(times["hand"], GAP_S))
        posture = PostureTruth(
            t_s=t,
            elevated=np.asarray(p["elevated"], dtype=bool),
            elevation_deg=np.asarray(p["elevation_deg"], dtype=np.float64),
            observable=obs,
            wrist_neutral=np.asarray(p["wrist_neutral"], dtype=bool) if wrist_obs is not None else None,
            flexion_deg=np.asarray(p["wrist_flexion_deg"], dtype=np.float64)
            if wrist_obs is not None
            else None,
            wrist_observable=wrist_obs,
        )
    movements = [
        (str(m["kind"]), float(m["t_start"]), float(m["t_end"])) for m in labels.get("movements", [])
    ]
    movements += [
        ("arm_fidget" if f.get("role") == "treated" else "hand_reach", float(f["t_start"]), float(f["t_end"]))
        for f in labels.get("fidgets", [])
    ]
    straps = [(float(m["t_start"]), float(m["t_end"])) for m in labels.get("mount_changes", [])]
    straps += [(a, b) for kind, a, b in movements if kind == "tug"]
    scenario_strokes = labels.get("scenario", {}).get("strokes", {})
    massage_free = bool(labels.get("massage_free", scenario_strokes.get("enabled") is False))
    return Truth(
        strokes,
        posture,
        float(active[0]),
        float(active[1]),
        tuple(sorted(movements, key=lambda m: m[1])),
        tuple(sorted(straps)),
        massage_free,
    )


def replay(
    trace: Path,
    *,
    posture_hz: float = 10.0,
    stroke_detector: Any = "default",
    on_pipeline: Callable[[Any], None] | None = None,
) -> list[Event]:
    """Events of the trace through the real pipeline, as ``coach replay`` produces them."""
    from coach.cli.replay import CLOCK_SLACK_S
    from coach.pipeline import PipelineConfig, SessionPipeline
    from coach.trace import open_trace

    events: list[Event] = []
    with open_trace(trace) as reader:
        pipeline = SessionPipeline(
            reader.meta, PipelineConfig(posture_hz=posture_hz, stroke_detector=stroke_detector)
        )
        if on_pipeline is not None:
            on_pipeline(pipeline)
        for chunk in reader.chunks():
            for block in chunk.by_role().values():
                events += pipeline.feed(block)
            events += pipeline.advance(float(chunk.t_s[-1]) - CLOCK_SLACK_S)
        events += pipeline.finish()
    return events


@dataclass(frozen=True, slots=True)
class Condition:
    """What kind of session a labelled trace is (for the per-condition tables)."""

    rate: str  # treated rate, e.g. "100 Hz"
    noise: str  # treated device class
    misalignment: str  # treated mounting: "<=10°", "10-20°", ">20°"
    roles: str  # "treated", "treated+hand", "treated+stroker", "all three"
    faults: str  # "none", "drops", "gaps", "drops+gaps"

    @staticmethod
    def of(labels: dict[str, Any]) -> Condition:
        sensors = labels["sensors"]
        tr = sensors["treated"]
        roles = labels["roles"]
        combo = {
            ("treated",): "treated",
            ("hand", "treated"): "treated+hand",
            ("stroker", "treated"): "treated+stroker",
            ("hand", "stroker", "treated"): "all three",
        }[tuple(sorted(roles))]
        mis = float(tr["misalignment_deg"])
        mis_s = "<=10°" if mis <= 10 else ("10-20°" if mis <= 20 else ">20°")
        drops = any(float(s.get("dropped_samples", 0)) > 0 for s in sensors.values())
        gaps = any(s.get("gaps") for s in sensors.values())
        faults = {
            (False, False): "none",
            (True, False): "drops",
            (False, True): "gaps",
            (True, True): "drops+gaps",
        }[(drops, bool(gaps))]
        sc = labels["scenario"]["sensors"]["treated"]
        return Condition(f"{float(sc['rate_hz']):g} Hz", str(tr["device_class"]), mis_s, combo, faults)


def parse_seeds(text: str) -> list[int]:
    """Seeds from ``"2000-2039,2100"`` (inclusive ranges and single seeds, comma-separated)."""
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return out


def repo_relative(path: Path) -> str:
    """``path`` relative to the repository when inside it (provenance never names a machine's folders)."""
    repo = Path(__file__).resolve().parent.parent
    try:
        return str(path.resolve().relative_to(repo))
    except ValueError:
        return path.name
