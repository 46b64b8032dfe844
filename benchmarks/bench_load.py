"""A live session on a busy machine against the same session on a quiet one (issue 10 item 5).

The demo's session (three simulated sensors through the simulated bleak backend and the real drivers,
the simulated person, the demo's clock speed), run once as the machine is and once with a CPU hog on
every core (``os.cpu_count()`` busy-looping processes). For each run:

* **invented gaps**: the live session's silent-sensor decisions (``<trace>.gaps.jsonl``), ``paused``
  states, gaps in the summary, and samples dropped as late (all must be 0: the simulated sensors
  never stop sending);
* **live/replay differences**: pipeline events of the live session that ``coach replay`` of its
  recording does not give exactly (must be 0);
* **cue delay**: for every cue, how long after the clock reached the cue's ``t`` it was emitted, in
  wall milliseconds (p50 / p99 / max): what load adds, cues come later but the same;
* **coach CPU share**: the process's CPU time over the session's wall time (% of one core);
* strokes and cues, compared between the two runs (the same seed: the same decisions).

    ./run bench load                     # the demo's session: 6x, 60 s target
    ./run bench load -- --speed 1 --target 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from coach.summary import SESSION_SUMMARY_FIELDS


def pipeline_only(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events a replay of the recording reproduces: without the session's own additions (its
    prompts, the gaps and ratings on state and summary, the final state's time), which a replay does
    not know. Shared with tests/test_live_stalls.py."""
    extras = SESSION_SUMMARY_FIELDS | {"reason", "t"}
    return [
        {k: v for k, v in e.items() if k not in extras or e["type"] not in ("state", "summary")}
        for e in events
        if not e["id"].startswith("session-")
    ]


@contextlib.contextmanager
def _hogs(n: int) -> Iterator[None]:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import os\np = os.getppid()\nwhile os.getppid() == p:\n    sum(range(100_000))",
            ]
        )
        for _ in range(n)
    ]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


async def _session(folder: Path, seed: int, speed: float, target_s: float) -> dict[str, Any]:
    from coach.cli import main as coach_main
    from coach.clock import SessionClock
    from coach.session.config import LiveConfig, RunConfig
    from coach.session.flow import LiveSession, ScriptedSelfReport
    from coach.session.runner import simulated_source
    from coach.session.screening import ScriptedAnswers
    from coach.session.store import LocalStore

    run_cfg = RunConfig(source="bench", patient="p-0001", devices=(), arm="right", target_duration_s=target_s)
    source = simulated_source(run_cfg, seed=seed, duration_s=target_s + 60.0, speed=speed)
    clock = SessionClock(speed)
    delays_ms: list[float] = []

    def on_event(e: Any) -> None:
        if e["type"] == "cue" and not e["id"].startswith("session-"):
            delays_ms.append(1000.0 * max(0.0, clock.now_s() - float(e["t"])) / speed)

    cfg = LiveConfig(
        patient="p-0001", arm="right", target_duration_s=target_s, record_dir=folder, connect_wait_s=0
    )
    session = LiveSession(
        cfg,
        source,
        answers=ScriptedAnswers(),
        store=LocalStore(folder / "patient"),
        self_report=ScriptedSelfReport(1, 1),
        clock=clock,
        on_event=on_event,
    )
    cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    result = await session.run()
    cpu1, wall1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    events = [json.loads(line) for line in result.events_path.read_text().splitlines()]
    assert result.trace_path is not None
    out = io.StringIO()
    with redirect_stdout(out):
        coach_main(["replay", str(result.trace_path)])
    replayed = [json.loads(line) for line in out.getvalue().splitlines()]
    live, again = pipeline_only(events), pipeline_only(replayed)
    differences = sum(1 for a, b in zip(live, again, strict=False) if a != b) + abs(len(live) - len(again))
    gaps_file = result.trace_path.with_name(result.trace_path.name.replace(".csv", ".gaps.jsonl"))
    summary_gaps: Any = dict(result.summary).get("gaps") or []
    decisions = len(gaps_file.read_text().splitlines()) if gaps_file.exists() else 0
    pauses = sum(1 for e in events if e["type"] == "state" and e["state"] == "paused")
    strokes = [(e["direction"], round(e["t_start"], 1)) for e in events if e["type"] == "stroke"]
    cues = [e["code"] for e in events if e["type"] == "cue" and not e["id"].startswith("session-")]
    return {
        "state": f"{result.state} ({result.reason})",
        "invented": decisions + pauses + len(summary_gaps) + session.intake.late_samples,
        "differences": differences,
        "delays_ms": sorted(delays_ms),
        "cpu_pct": 100.0 * cpu_s / (wall1 - wall0),
        "wall_s": wall1 - wall0,
        "loop_stalls": session.intake.watch.stalls,
        "max_loop_lag_ms": 1000.0 * session.intake.watch.max_lag_s,
        "strokes": strokes,
        "cues": cues,
        "decisions": sorted(
            (float(e["t"]), e["type"], e.get("direction") or e.get("code"))
            for e in events
            if e["type"] in ("stroke", "cue") and not e["id"].startswith("session-")
        ),
        "complete_t": next(
            (float(e["t"]) for e in events if e["type"] == "cue" and e.get("code") == "session_complete"),
            float("inf"),
        ),
    }


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench load")
    parser.add_argument(
        "--speed", type=float, default=6.0, help="session clock speed (default: the demo's 6)"
    )
    parser.add_argument("--target", type=float, default=60.0, help="session target, session seconds")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--hogs", type=int, default=os.cpu_count() or 2, help="busy processes (default: one a core)"
    )
    args = parser.parse_args(argv)
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("quiet", "busy"):
            load0 = os.getloadavg()[0]
            with _hogs(args.hogs) if name == "busy" else contextlib.nullcontext():
                rows[name] = asyncio.run(_session(Path(tmp) / name, args.seed, args.speed, args.target))
            rows[name]["load"] = f"{load0:.1f}→{os.getloadavg()[0]:.1f}"
    print(f"speed x{args.speed:g}, target {args.target:g} s, seed {args.seed}; busy: {args.hogs} CPU hogs")
    head = f"{'run':6} {'ended':34} {'invented gaps':>13} {'live/replay diff':>16} "
    head += f"{'cue delay ms p50/p99/max':>26} {'coach CPU':>9} {'wall s':>6} {'loop stalls':>11} "
    print(head + f"{'max lag ms':>10} {'load avg':>10}")
    for name, r in rows.items():
        d = r["delays_ms"]
        delay = f"{_pct(d, 0.5):.0f} / {_pct(d, 0.99):.0f} / {max(d, default=float('nan')):.0f}"
        print(
            f"{name:6} {r['state'][:34]:34} {r['invented']:>13} {r['differences']:>16} {delay:>26} "
            f"{r['cpu_pct']:>8.0f}% {r['wall_s']:>6.1f} {r['loop_stalls']:>11} {r['max_loop_lag_ms']:>10.0f} "
            f"{r['load']:>10}"
        )
    q, b = rows["quiet"], rows["busy"]
    for r in rows.values():
        up_to = r["complete_t"]
        r["decided"] = [d for d in r["decisions"] if d[0] <= up_to]
        r["after"] = len(r["decisions"]) - len(r["decided"])
    same = [d[1:] for d in q["decided"]] == [d[1:] for d in b["decided"]]
    print(
        f"strokes quiet {len(q['strokes'])}, busy {len(b['strokes'])}; cues quiet {len(q['cues'])}, busy "
        f"{len(b['cues'])}; the same strokes (direction) and cues up to 'time is up': "
        f"{'yes' if same else 'NO'}; "
        f"decided after it, before the session's stop: quiet {q['after']}, busy {b['after']}"
    )
    ok = all(r["invented"] == 0 and r["differences"] == 0 for r in rows.values())
    return 0 if ok else 1
