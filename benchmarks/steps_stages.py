"""Where a live step's CPU goes: ``bench steps --stages``. The session path of
:mod:`benchmarks.bench_steps` (intake, pipeline, recorder, event sink, spool) with ``time.process_time``
around each stage's calls, no profiler (a profiler's cost per call would weigh the call-heavy stages
more); a stage's time excludes the stages it calls. Medians over ``reps`` runs.

The stages are methods, patched on their classes for the run and restored after it:

- ``detector``: :meth:`StrokeDetector.process <coach.signal.strokes.detector.StrokeDetector.process>`
  less the frame filters (``frames.push``), the frame history's columns (``add_treated``) and the hand
  history's own candidate evidence (``segment_features (hand history)``, a second call only where the
  hand's windows cannot be the second column of the ``treated`` ones);
- ``role_signals``: the detector's input signals per role and frame; ``posture``: posture per step;
- ``pull_roles``: resampling and VQF; ``check_roles``, ``coaching.span``, ``event_sink``,
  ``recorder.flush`` as named; ``pipeline`` and ``intake``: the rest of their calls.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: (module, class, method, stage)
STAGES = (
    ("coach.signal.strokes.detector", "StrokeDetector", "process", "detector"),
    ("coach.signal.strokes.frames", "FrameStream", "push", "frames.push"),
    ("coach.signal.strokes.segments", "FrameHistory", "add_treated", "add_treated"),
    ("coach.pipeline.stroke_input", "StrokeInput", "_role_signals", "role_signals"),
    ("coach.pipeline.stroke_input", "StrokeInput", "strokes", "stroke input (rest)"),
    ("coach.signal.posture", "PostureEstimator", "compute", "posture"),
    ("coach.pipeline.scheduler", "SessionPipeline", "_pull_roles", "pull_roles"),
    ("coach.pipeline.scheduler", "SessionPipeline", "_check_roles", "check_roles"),
    ("coach.pipeline.coaching", "Coaching", "span", "coaching.span"),
    ("coach.pipeline.scheduler", "SessionPipeline", "feed_many", "pipeline (rest)"),
    ("coach.pipeline.scheduler", "SessionPipeline", "complete", "pipeline (rest)"),
    ("coach.session.event_sink", "EventSink", "pipeline_events", "event_sink"),
    ("coach.session.recorder", "SessionRecorder", "flush", "recorder.flush"),
    ("coach.session.intake", "Intake", "process", "intake (rest)"),
    ("coach.session.intake", "Intake", "complete_step", "intake (rest)"),
)


class _Timers:
    def __init__(self) -> None:
        self.cpu: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._inner: list[float] = []

    def wrap(self, fn: Callable[..., Any], stage: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.process_time()
            self._inner.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                dt = time.process_time() - t0
                self.cpu[stage] += dt - self._inner.pop()
                self.calls[stage] += 1
                if self._inner:
                    self._inner[-1] += dt

        return timed


def stage_cpu(
    meta: Any, notes: list[tuple[float, str, Any]], reps: int, step_points: int | None = None
) -> list[tuple[str, float, int, float]]:
    """Per stage (most CPU first): CPU s per run (median), calls per run, and the total's median."""
    import importlib

    from benchmarks.bench_steps import _run_session_path
    from coach.signal.strokes import segments

    timers = _Timers()
    saved: list[tuple[Any, str, Any]] = []
    for module, cls, name, stage in STAGES:
        owner = getattr(importlib.import_module(module), cls)
        saved.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, timers.wrap(getattr(owner, name), stage))
    # The hand history's own call: segment_features calling itself (the detector's own call is its stage)
    own = segments.segment_features
    saved.append((segments, "segment_features", own))
    inner = timers.wrap(own, "segment_features (hand history)")

    def hand_history_call(h: Any, ends: Any, *args: Any, **kwargs: Any) -> Any:
        return (inner if timers._inner else own)(h, ends, *args, **kwargs)

    segments.segment_features = hand_history_call
    runs: list[tuple[float, defaultdict[str, float], Counter[str]]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-steps-stages-") as tmp:
            for i in range(reps):
                timers.cpu, timers.calls = defaultdict(float), Counter()
                cpu = _run_session_path(meta, notes, Path(tmp) / f"r{i}", False, step_points)[0]
                runs.append((cpu, timers.cpu, timers.calls))
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)
    total = statistics.median(r[0] for r in runs)
    names = {k for r in runs for k in r[1]}
    rows = [(k, statistics.median(r[1][k] for r in runs), runs[0][2][k], total) for k in names]
    return sorted(rows, key=lambda x: -x[1])
