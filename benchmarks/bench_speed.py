"""Speed against yardsticks, side by side in one run (issue 14 item 4; issue 2 item 9 before it).

Generates simulated traces (100 Hz, deterministic seed: one sensor and three sensors for 15 minutes,
three sensors for 60 minutes) in a temporary folder and measures, as whole processes, alternating:

- **replay**: ``coach replay TRACE`` (stdout to /dev/null) against the *yardstick*, a process that
  starts Python, parses the same CSV with pandas and runs ``vqf.offlineVQF`` per sensor. CPU time
  (user + system of the child, ``wait4``), wall time, peak RSS, and instruction counts through
  ``perf stat -e instructions`` where the machine has them (CPU time and instructions do not depend
  much on the machine's load; wall time does). Target: replay ≤ 1.5× the yardstick's CPU time.
- **start-up**: ``coach --help`` against a bare ``python -c pass`` (target ≤ 0.3 s wall).
- **memory**: peak RSS of replaying the 60-minute three-sensor trace (target ≤ 150 MB).
- **live**: the coach process's CPU share with three simulated 100 Hz sensors, less the share of the
  simulated devices and drivers alone (the coach's own share, target ≤ 5 % of a core), and the p99
  from a notification entering the driver to the event at an MQTT subscriber (target ≤ 20 ms), on
  the machine as it is and again with both cores kept busy (:mod:`benchmarks.speed_live`).

The figures are compared with the committed baseline ``benchmarks/baseline_speed.json``: the run
fails (exit 1) when a gated figure is more than 20 % worse than its baseline (``--update-baseline``
rewrites the file instead). Not part of the test suite: these machines are noisy.

    ./run bench speed                               # everything (about 6 minutes)
    ./run bench speed -- --reps 5 --skip-live       # replay, start-up and memory only
    ./run bench speed -- --update-baseline          # take the figures as the new baseline
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BASELINE = Path(__file__).resolve().parent / "baseline_speed.json"
#: A gated figure may be this much worse than its baseline before the run fails.
TOLERANCE = 0.20

YARDSTICK = r"""
import sys
import numpy as np
import pandas as pd
import vqf
frame = pd.read_csv(sys.argv[1], comment="#")
for role, rows in frame.groupby("sensor"):
    gyr = np.ascontiguousarray(rows[["gx", "gy", "gz"]].to_numpy(dtype=np.float64))
    acc = np.ascontiguousarray(rows[["ax", "ay", "az"]].to_numpy(dtype=np.float64))
    dt = float(np.median(np.diff(rows["t"].to_numpy())))
    vqf.offlineVQF(gyr, acc, None, dt)
"""

TARGET_REPLAY_RATIO = 1.5
TARGET_HELP_S = 0.3
TARGET_PEAK_MB = 150.0


def write_trace_file(path: Path, minutes: float, roles: str) -> int:
    """A simulated 100 Hz session written as a trace; returns its row count."""
    from simulators import random_scenario, simulate

    sc = random_scenario(5).replace(duration_s=60.0 * minutes, roles=roles, rate_hz=100.0)
    session = simulate(sc, 5)
    session.write(path)
    return sum(len(b) for b in session.blocks.values())


def make_trace(path: Path, minutes: float, roles: str) -> int:
    """:func:`write_trace_file` in a child process: this process stays small, because on Linux a
    child's peak RSS (``ru_maxrss``) also counts the parent's memory at the fork."""
    code = (
        "import sys; from pathlib import Path; from benchmarks.bench_speed import write_trace_file; "
        "print(write_trace_file(Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), str(minutes), roles],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return int(out.stdout.strip())


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float
    peak_mb: float


def child_env() -> dict[str, str]:
    """The children's environment: this one without ``PYTHONDONTWRITEBYTECODE``. With it set (some
    shells and agents set it), the project's own modules are compiled from source in every process
    (~0.3 s of CPU a replay) while the yardstick's numpy and pandas load the bytecode pip wrote at
    install: an installed coach has its bytecode too, so both are measured that way."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_child(cmd: list[str]) -> Run:
    """Run a command with stdout to /dev/null: its wall time, CPU time (user + system) and peak RSS."""
    with open(os.devnull, "w") as sink:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.PIPE, cwd=REPO, env=child_env())
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err = proc.stderr.read().decode() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err[-2000:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0)  # KiB on Linux


def perf_instructions(cmd: list[str]) -> float | None:
    """Instructions the command executed (``perf stat``), or ``None`` where the machine has no counter."""
    perf = shutil.which("perf")
    if perf is None:
        return None
    with tempfile.NamedTemporaryFile("r", suffix=".perf") as out:
        proc = subprocess.run(
            [perf, "stat", "-x", ",", "-e", "instructions", "-o", out.name, "--", *cmd],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=REPO,
            env=child_env(),
        )
        if proc.returncode != 0:
            return None
        for line in out.read().splitlines():
            fields = line.split(",")
            if len(fields) > 2 and fields[2].startswith("instructions"):
                try:
                    return float(fields[0])
                except ValueError:
                    return None  # "<not supported>"
    return None


def coach_cmd(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("coach")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "coach", *args]


def yardstick_cmd(trace: Path) -> list[str]:
    return [sys.executable, "-c", YARDSTICK, str(trace)]


def median_runs(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.wall_s for r in runs),
        statistics.median(r.cpu_s for r in runs),
        max(r.peak_mb for r in runs),
    )


def side_by_side(a: list[str], b: list[str], reps: int) -> tuple[Run, Run, list[Run], list[Run]]:
    """Both commands ``reps`` times, alternating, after one warm-up each (file cache, bytecode)."""
    run_child(a)
    run_child(b)
    runs_a: list[Run] = []
    runs_b: list[Run] = []
    for _ in range(reps):
        runs_a.append(run_child(a))
        runs_b.append(run_child(b))
    return median_runs(runs_a), median_runs(runs_b), runs_a, runs_b


def replay_figures(trace: Path, rows: int, reps: int, label: str) -> dict[str, Any]:
    replay, yard, runs_r, runs_y = side_by_side(coach_cmd("replay", str(trace)), yardstick_cmd(trace), reps)
    ins_r = perf_instructions(coach_cmd("replay", str(trace)))
    ins_y = perf_instructions(yardstick_cmd(trace))
    cpu_ratio = replay.cpu_s / yard.cpu_s
    wall_ratio = replay.wall_s / yard.wall_s
    ins = (
        f"instructions {ins_r / 1e9:.2f} G vs {ins_y / 1e9:.2f} G = {ins_r / ins_y:.2f}×"
        if ins_r and ins_y
        else "instructions: no counter on this machine (perf stat: not supported)"
    )
    verdict = "met" if cpu_ratio <= TARGET_REPLAY_RATIO else "NOT met"
    print(
        f"{label}: replay CPU {replay.cpu_s:.2f} s vs yardstick {yard.cpu_s:.2f} s = {cpu_ratio:.2f}× "
        f"[target <= {TARGET_REPLAY_RATIO}×: {verdict}]; wall {replay.wall_s:.2f} s vs {yard.wall_s:.2f} s "
        f"= {wall_ratio:.2f}×; peak RSS {replay.peak_mb:.0f} vs {yard.peak_mb:.0f} MB; {ins}; "
        f"{rows / replay.cpu_s:,.0f} samples per CPU second",
        flush=True,
    )
    print(
        f"    runs (CPU s): replay {', '.join(f'{r.cpu_s:.2f}' for r in runs_r)}; "
        f"yardstick {', '.join(f'{r.cpu_s:.2f}' for r in runs_y)}",
        flush=True,
    )
    out: dict[str, Any] = {
        "replay_cpu_s": replay.cpu_s,
        "yardstick_cpu_s": yard.cpu_s,
        "cpu_ratio": cpu_ratio,
        "replay_wall_s": replay.wall_s,
        "yardstick_wall_s": yard.wall_s,
        "wall_ratio": wall_ratio,
    }
    if ins_r and ins_y:
        out["instructions_ratio"] = ins_r / ins_y
    return out


def startup_figures(reps: int) -> dict[str, Any]:
    help_run, bare, _, _ = side_by_side(coach_cmd("--help"), [sys.executable, "-c", "pass"], reps)
    verdict = "met" if help_run.wall_s <= TARGET_HELP_S else "NOT met"
    print(
        f"start-up: coach --help wall {help_run.wall_s:.3f} s, CPU {help_run.cpu_s:.3f} s "
        f"[target <= {TARGET_HELP_S} s: {verdict}]; bare python wall {bare.wall_s:.3f} s, "
        f"CPU {bare.cpu_s:.3f} s; CPU ratio {help_run.cpu_s / bare.cpu_s:.1f}×",
        flush=True,
    )
    return {
        "help_wall_s": help_run.wall_s,
        "help_cpu_s": help_run.cpu_s,
        "bare_cpu_s": bare.cpu_s,
        "help_cpu_ratio": help_run.cpu_s / bare.cpu_s,
    }


def memory_figures(trace: Path, rows: int) -> dict[str, Any]:
    replay = run_child(coach_cmd("replay", str(trace)))
    yard = run_child(yardstick_cmd(trace))
    verdict = "met" if replay.peak_mb <= TARGET_PEAK_MB else "NOT met"
    size_mb = trace.stat().st_size / 1e6
    print(
        f"60 min, 3 sensors, 100 Hz ({rows:,} rows, {size_mb:.0f} MB): replay peak RSS "
        f"{replay.peak_mb:.0f} MB "
        f"[target <= {TARGET_PEAK_MB:.0f} MB: {verdict}] (yardstick {yard.peak_mb:.0f} MB); replay CPU "
        f"{replay.cpu_s:.1f} s vs yardstick {yard.cpu_s:.1f} s = {replay.cpu_s / yard.cpu_s:.2f}×",
        flush=True,
    )
    return {
        "peak_mb": replay.peak_mb,
        "yardstick_peak_mb": yard.peak_mb,
        "peak_ratio": replay.peak_mb / yard.peak_mb,
        "cpu_ratio_60min": replay.cpu_s / yard.cpu_s,
    }


#: Figures gated against the baseline (lower is better); live p99 only where it also misses its target.
GATED = (
    "replay_1.cpu_ratio",
    "replay_3.cpu_ratio",
    "replay_1.wall_ratio",
    "replay_3.wall_ratio",
    "replay_1.instructions_ratio",
    "replay_3.instructions_ratio",
    "startup.help_cpu_ratio",
    "memory.peak_ratio",
    "live_quiet.coach_own_cpu_pct",
    "live_quiet.p99_ms",
)
ABSOLUTE_FLOOR = {"live_quiet.p99_ms": 20.0, "live_quiet.coach_own_cpu_pct": 5.0}


def _get(figures: dict[str, Any], key: str) -> float | None:
    group, name = key.split(".")
    value = figures.get(group, {}).get(name)
    return float(value) if isinstance(value, int | float) else None


def check_baseline(figures: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    """The gated figures more than :data:`TOLERANCE` worse than the baseline (and, for live figures,
    also past their target: small absolute figures are noisy)."""
    worse: list[str] = []
    for key in GATED:
        now, then = _get(figures, key), _get(baseline, key)
        if now is None or then is None:
            continue
        if now > then * (1.0 + TOLERANCE) and now > ABSOLUTE_FLOOR.get(key, 0.0):
            worse.append(
                f"{key}: {now:.3g} against a baseline of {then:.3g} (+{100 * (now / then - 1):.0f} %)"
            )
    return worse


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="bench speed", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--reps", type=int, default=3, help="alternating repetitions per comparison (default 3)")
    ap.add_argument("--keep", type=Path, help="write the traces here and keep them")
    ap.add_argument("--skip-memory", action="store_true", help="skip the 60-minute trace")
    ap.add_argument("--skip-live", action="store_true", help="skip the live sessions")
    ap.add_argument("--skip-busy", action="store_true", help="skip the live session with both cores busy")
    ap.add_argument(
        "--live-only", action="store_true", help="only the live sessions (no replay, start-up, memory)"
    )
    ap.add_argument("--live-seconds", type=float, default=60.0, help="active live session (default 60)")
    ap.add_argument(
        "--live-step-points",
        type=int,
        default=1,
        help="also a quiet live session deciding in steps of this many decision points (default 1: none)",
    )
    ap.add_argument(
        "--live-unsplit",
        action="store_true",
        help="also a quiet live session with LiveConfig.split_steps off, beside the split one",
    )
    ap.add_argument("--baseline", type=Path, default=BASELINE)
    ap.add_argument("--update-baseline", action="store_true", help="write these figures as the baseline")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    figures: dict[str, Any] = {"load_average_at_start": os.getloadavg()[0]}
    print(
        f"settings: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; median of {args.reps} "
        "alternating runs; CPU = user + system of the child process",
        flush=True,
    )
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print(
            "note: PYTHONDONTWRITEBYTECODE is set here; the measured processes run without it (bytecode "
            "cached, as in an installed package)",
            flush=True,
        )
    with tempfile.TemporaryDirectory(prefix="bench-speed-") as tmp:
        if args.live_only:
            args.skip_memory = True
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for roles, key, label in (
            ()
            if args.live_only
            else (
                ("treated", "replay_1", "15 min, 1 sensor, 100 Hz"),
                ("treated,hand,stroker", "replay_3", "15 min, 3 sensors, 100 Hz"),
            )
        ):
            trace = folder / f"speed-15min-{roles.count(',') + 1}.csv"
            rows = trace_rows(trace, 15.0, roles)
            figures[key] = replay_figures(trace, rows, args.reps, label)
        if not args.live_only:
            figures["startup"] = startup_figures(max(args.reps, 5))
        if not args.skip_memory:
            trace = folder / "speed-60min-3.csv"
            rows = trace_rows(trace, 60.0, "treated,hand,stroker")
            figures["memory"] = memory_figures(trace, rows)
    if not args.skip_live:
        from benchmarks.speed_live import live_figures

        figures.update(
            live_figures(
                args.live_seconds,
                busy=not args.skip_busy,
                step_points=args.live_step_points,
                unsplit=args.live_unsplit,
            )
        )
    figures["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    if args.update_baseline:
        args.baseline.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
        print(f"baseline written: {args.baseline}")
        return 0
    if not args.baseline.exists():
        print(f"no baseline at {args.baseline}: run with --update-baseline to take one")
        return 0
    worse = check_baseline(figures, json.loads(args.baseline.read_text()))
    if worse:
        print(f"REGRESSION: worse than the baseline ({args.baseline.name}) by more than {TOLERANCE:.0%}:")
        for line in worse:
            print(f"  {line}")
        return 1
    print(f"no gated figure is more than {TOLERANCE:.0%} worse than the baseline ({args.baseline.name})")
    return 0


def trace_rows(trace: Path, minutes: float, roles: str) -> int:
    """Make the trace unless a kept one exists (``--keep``); its row count."""
    if trace.exists():
        with open(trace, "rb") as f:
            return sum(1 for line in f if line[:1] not in (b"#", b"t"))
    return make_trace(trace, minutes, roles)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
