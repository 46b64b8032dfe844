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

``--session-path`` adds a fourth way: the same notifications through the live session's own path
around the pipeline (:class:`~coach.session.intake.Intake`: quantising as the trace will hold them,
holding for the step, each step split in two as a live session's: posture events, then the rest;
:class:`~coach.session.recorder.SessionRecorder` and its trace writer, flushed every 0.1 s of sample
time as the session's clock tick does; :class:`~coach.session.event_sink.EventSink`
into a :class:`~coach.mqtt.publisher.Publisher`'s on-disk spool, not connected), with its function
calls outside the pipeline (total less the "steps of 1 point" way's) and the written trace's SHA-256.

    ./run bench steps                              # 2 minutes of data, steps of 1, 2, 5 points
    ./run bench steps -- --minutes 1 --steps 1,5 --per-packet 4
    ./run bench steps -- --minutes 1 --steps 1 --session-path
    ./run bench steps -- --minutes 1 --steps 1 --stages 3   # CPU per stage (benchmarks/steps_stages.py)
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
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


def _run_session_path(
    meta: Any, notes: list[tuple[float, str, Any]], work: Path, profile: bool, step_points: int | None = None
) -> tuple[float, int, list[str], str]:
    """The notifications through the live session's path around the pipeline (see the module doc):
    CPU s, function calls, the events (JSON, as the sink got them) and the trace's SHA-256. Steps of
    ``step_points`` (default: a live session's, ``LiveConfig.step_points``)."""
    from coach.events import Event, to_json
    from coach.mqtt.broker_config import BrokerSettings
    from coach.mqtt.publisher import Publisher
    from coach.mqtt.spool import Spool
    from coach.mqtt.topics import PatientTopics
    from coach.pipeline import PipelineConfig, SessionPipeline
    from coach.samples import LinkStatus
    from coach.session.config import LiveConfig
    from coach.session.event_sink import EventSink
    from coach.session.intake import Intake
    from coach.session.pacing import StallWatch
    from coach.session.recorder import SessionRecorder

    work.mkdir(parents=True)
    roles = sorted({role for _, role, _ in notes})
    recorder = SessionRecorder(work / "sessions", "s-bench")
    spool = Spool(work / "spool.sqlite3")
    publisher = Publisher(BrokerSettings.from_url("mqtt://127.0.0.1:1"), spool, client_id="coach-p-bench")
    events: list[str] = []
    sink = EventSink("s-bench", PatientTopics("p-bench"), recorder, publisher, None, None)

    def on_events(out: list[Event]) -> None:
        events.extend(to_json(e) for e in out)
        sink.pipeline_events(out)

    intake = Intake(
        None,  # type: ignore[arg-type]  # items are handed to process() here, not read from a source
        recorder,
        lambda item: None,
        on_events,
        feed_interval_s=0.0,
        watch=StallWatch(roles, 0.1, 1e9, 0.05),
        split_steps=True,  # as a live session: a step's posture events first, then its strokes
        step_points=LiveConfig(patient="p-bench").step_points if step_points is None else step_points,
    )
    recorder.open_trace(meta)
    intake.start_pipeline(SessionPipeline(meta, PipelineConfig(posture_hz=10.0)), feed=False)
    intake.process([LinkStatus(role, "up", 0.0, None) for role in roles])
    prof = cProfile.Profile() if profile else None
    t0 = time.process_time()
    if prof is not None:
        prof.enable()
    next_tick = 0.1
    for t_last, _, block in notes:
        intake.process([block])
        intake.complete_step()  # what Intake.read does after its event-loop turns
        if t_last >= next_tick:  # the session's clock tick: the recorder writes what all reached
            recorder.flush()
            next_tick += 0.1
    intake.feed_held()
    assert intake.pipeline is not None
    on_events(intake.pipeline.finish())
    recorder.close()
    if prof is not None:
        prof.disable()
    cpu = time.process_time() - t0
    n_calls = pstats.Stats(prof).total_calls if prof is not None else 0  # type: ignore[attr-defined]
    spool.close()
    digest = hashlib.sha256(recorder.trace_path.read_bytes()).hexdigest()
    return cpu, int(n_calls), events, digest


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="bench steps", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--minutes", type=float, default=2.0, help="minutes of data (default 2)")
    ap.add_argument("--steps", default="1,2,5", help="step sizes in decision points (default 1,2,5)")
    ap.add_argument("--per-packet", type=int, default=4, help="samples a notification (default 4)")
    ap.add_argument(
        "--session-path",
        action="store_true",
        help="also the live session's path around the pipeline (intake, recorder, event sink, spool)",
    )
    ap.add_argument(
        "--stages",
        type=int,
        default=0,
        metavar="REPS",
        help="also the session path's CPU per stage (detector, posture, ...), median of REPS runs",
    )
    ap.add_argument(
        "--session-steps",
        type=int,
        metavar="N",
        help="the session path (and --stages) in steps of N points (default: LiveConfig.step_points)",
    )
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
    step_calls: dict[int, int] = {}
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
            f"{later_ms.max():3.0f} ms; events {'identical' if same else 'DIFFERENT'} (SHA-256 "
            f"{hashlib.sha256(''.join(events).encode()).hexdigest()[:16]})",
            flush=True,
        )
        if step is not None:
            step_calls[step] = n_calls
    from coach.session.config import LiveConfig

    session_steps = args.session_steps or LiveConfig(patient="p-bench").step_points
    if args.session_path:
        with tempfile.TemporaryDirectory(prefix="bench-steps-session-") as tmp:
            _, n_calls, events, digest = _run_session_path(
                meta, notes, Path(tmp) / "a", profile=True, step_points=session_steps
            )
            cpu = _run_session_path(meta, notes, Path(tmp) / "b", profile=False, step_points=session_steps)[0]
        same = events == base_events
        ok = ok and same
        outside = (
            f"{(n_calls - step_calls[session_steps]) / args.minutes / 1e6:5.2f} M outside the pipeline"
            if session_steps in step_calls
            else f"(add {session_steps} to --steps for the calls outside the pipeline)"
        )
        label = f"session path, steps of {session_steps}"
        print(
            f"{label:<22} {n_calls / args.minutes / 1e6:5.2f} M function calls per "
            f"minute of data, {outside}; CPU {cpu / args.minutes:5.2f} s per minute of data "
            f"({100 * cpu / seconds:4.1f} % of a core); events {'identical' if same else 'DIFFERENT'}; "
            f"trace SHA-256 {digest[:16]}",
            flush=True,
        )
    if args.stages:
        from benchmarks.steps_stages import stage_cpu

        rows = stage_cpu(meta, notes, args.stages, session_steps)
        print(
            f"session path in steps of {session_steps} points by stage (CPU per minute of data, median of "
            f"{args.stages} runs, no profiler):"
        )
        for stage, cpu, calls, total in rows:
            print(
                f"  {stage:<34} {cpu / args.minutes:6.3f} s {100 * cpu / total:5.1f} % "
                f"{calls / args.minutes:7.0f} calls {1e6 * cpu / max(calls, 1):7.1f} us a call"
            )
        print(f"  {'(the whole session path)':<34} {rows[0][3] / args.minutes:6.3f} s", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
