"""The live pipeline's cost per step against its latency, without the machine's load in the way.

A simulated three-sensor trace (100 Hz, a fixed seed) is cut into notifications as a live session gets
them (``--per-packet`` samples each, every sensor's in the order their last samples were taken) and fed
to one :class:`~coach.pipeline.SessionPipeline` in this process, no MQTT, no drivers, three ways:

- **per notification**: one pipeline call per notification (the live intake before 2026-12-07);
- **steps of N points**: the notifications held until every sensor's samples reach the last point
  of the step of N decision points (50 Hz grid) holding the next one, then fed in one call
  (:meth:`~coach.pipeline.SessionPipeline.next_point_needs_s`, what ``LiveConfig.step_points`` does).

Reported per way: pipeline calls a second, Python function calls per minute of data (counted by
cProfile: they do not depend on the load, unlike CPU time on a shared machine), CPU time (measured
apart, without the profiler) as a share of a core, and how much later in sample time each event is
decided than with N = 1 (the latency a step adds on a real-time session). The events are checked to
be identical every way.

    ./run bench steps                              # 2 minutes of data, steps of 1, 2, 5 points
    ./run bench steps -- --minutes 1 --steps 1,5 --per-packet 4
"""

from __future__ import annotations

import argparse
import cProfile
import math
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _notifications(trace: Path, per_packet: int) -> tuple[Any, list[tuple[float, str, Any]]]:
    from coach.trace import read_trace

    recorded = read_trace(trace)
    out: list[tuple[float, str, Any]] = []
    for role, block in recorded.blocks.items():
        for a in range(0, len(block), per_packet):
            piece = block.slice(a, min(a + per_packet, len(block)))
            out.append((float(piece.t_s[-1]), role, piece))
    out.sort(key=lambda x: (x[0], x[1]))
    return recorded.meta, out


def _run(
    meta: Any, notes: list[tuple[float, str, Any]], step_points: int | None, profile: bool
) -> tuple[float, int, int, dict[str, float], list[str]]:
    """CPU s, pipeline calls, function calls, per event id the sample time of the notification whose
    call decided it, and the events (JSON). ``step_points=None``: one call per notification."""
    from coach.events import to_json
    from coach.pipeline import PipelineConfig, SessionPipeline

    pipeline = SessionPipeline(meta, PipelineConfig(posture_hz=10.0))
    decided: dict[str, float] = {}
    events: list[str] = []
    held: list[Any] = []
    latest: dict[str, float] = {}
    calls = 0
    prof = cProfile.Profile() if profile else None
    t0 = time.process_time()
    if prof is not None:
        prof.enable()
    for t_last, role, block in notes:
        if step_points is None:
            out = pipeline.feed(block)
        else:
            held.append(block)
            latest[role] = t_last
            needs = pipeline.next_point_needs_s(step_points)
            if needs is not None and any(latest.get(r, -math.inf) < v for r, v in needs.items()):
                continue
            out, held = pipeline.feed_many(held), []
        calls += 1
        for e in out:
            decided[str(e["id"])] = t_last
            events.append(to_json(e))
    for e in pipeline.feed_many(held) + pipeline.finish():
        events.append(to_json(e))
    if prof is not None:
        prof.disable()
    cpu = time.process_time() - t0
    n_calls = pstats.Stats(prof).total_calls if prof is not None else 0  # type: ignore[attr-defined]
    return cpu, calls, int(n_calls), decided, events


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="bench steps", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--minutes", type=float, default=2.0, help="minutes of data (default 2)")
    ap.add_argument("--steps", default="1,2,5", help="step sizes in decision points (default 1,2,5)")
    ap.add_argument("--per-packet", type=int, default=4, help="samples a notification (default 4)")
    args = ap.parse_args(argv)
    from benchmarks.bench_speed import write_trace_file

    with tempfile.TemporaryDirectory(prefix="bench-steps-") as tmp:
        trace = Path(tmp) / "steps.csv"
        write_trace_file(trace, args.minutes, "treated,hand,stroker")
        meta, notes = _notifications(trace, args.per_packet)
    seconds = args.minutes * 60.0
    print(
        f"settings: {args.minutes:g} min of 3 simulated 100 Hz sensors, {args.per_packet} samples a "
        "notification, posture events at 10 Hz, one process, no MQTT or drivers",
        flush=True,
    )
    ways: list[tuple[str, int | None]] = [("per notification", None)]
    ways += [(f"steps of {n} point{'s' * (n > 1)}", n) for n in (int(x) for x in args.steps.split(","))]
    base: dict[str, float] | None = None
    base_events: list[str] | None = None
    ok = True
    for label, step in ways:
        _, calls, n_calls, decided, events = _run(meta, notes, step, profile=True)
        cpu = _run(meta, notes, step, profile=False)[0]
        if base is None or base_events is None:
            base, base_events = decided, events
        same = events == base_events
        ok = ok and same
        later_ms = np.array([(decided[k] - base[k]) * 1000.0 for k in base if k in decided])
        print(
            f"{label:<22} {calls / seconds:5.1f} pipeline calls/s, {n_calls / args.minutes / 1e6:5.2f} M "
            f"function calls per minute of data, CPU {cpu / args.minutes:5.2f} s per minute of data "
            f"({100 * cpu / seconds:4.1f} % of a core); decided later than one call per notification: "
            f"p50 {np.percentile(later_ms, 50):3.0f} ms, p99 {np.percentile(later_ms, 99):3.0f} ms, max "
            f"{later_ms.max():3.0f} ms; events {'identical' if same else 'DIFFERENT'}",
            flush=True,
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
