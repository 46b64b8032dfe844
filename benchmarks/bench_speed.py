"""Replay speed and memory, issue 2 item 9.

Generates simulated traces (100 Hz, one sensor and three sensors, 15 minutes; three sensors, 60
minutes) in a temporary folder and times, as whole processes, side by side and alternating:

- ``coach replay TRACE`` (stdout to /dev/null), and
- a minimal process that only loads the same CSV with pandas and runs ``vqf.offlineVQF`` per sensor.

Reports the median wall time of each over the repetitions, their ratio (target ≤ 2×), the replay's
samples per second, and the peak resident memory (``wait4`` of the child) of replaying the 60-minute
three-sensor trace (target ≤ 300 MB).

    ./run bench speed                  # 5 repetitions
    ./run bench speed -- --reps 9 --keep DIR
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MINIMAL = r"""
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

TARGET_RATIO = 2.0
TARGET_PEAK_MB = 300.0


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
    )
    return int(out.stdout.strip())


def run_timed(cmd: list[str]) -> tuple[float, float]:
    """Run a command with stdout to /dev/null; return (wall seconds, peak RSS in MB) of that child."""
    with open(os.devnull, "w") as sink:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err = proc.stderr.read().decode() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {err}")
    return wall, usage.ru_maxrss / 1024.0  # ru_maxrss is in KiB on Linux


def replay_cmd(trace: Path) -> list[str]:
    return [sys.executable, "-m", "coach", "replay", str(trace)]


def minimal_cmd(trace: Path) -> list[str]:
    return [sys.executable, "-c", MINIMAL, str(trace)]


def compare(trace: Path, rows: int, reps: int, label: str) -> float:
    replay_s: list[float] = []
    minimal_s: list[float] = []
    run_timed(replay_cmd(trace))  # warm the file cache and the bytecode
    run_timed(minimal_cmd(trace))
    for _ in range(reps):
        replay_s.append(run_timed(replay_cmd(trace))[0])
        minimal_s.append(run_timed(minimal_cmd(trace))[0])
    r, m = statistics.median(replay_s), statistics.median(minimal_s)
    ratio = r / m
    print(
        f"{label:34} replay {r:6.2f} s  minimal {m:6.2f} s  ratio {ratio:4.2f}×  "
        f"({rows / r:,.0f} samples/s; replay runs {', '.join(f'{x:.2f}' for x in replay_s)}; "
        f"minimal {', '.join(f'{x:.2f}' for x in minimal_s)})",
        flush=True,
    )
    return ratio


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="bench speed", description=__doc__)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="write the traces here and keep them")
    ap.add_argument("--skip-memory", action="store_true", help="skip the 60-minute trace")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-speed-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"replay vs minimal (pandas read_csv + vqf.offlineVQF), median of {args.reps}, alternating")
        ratios = []
        for roles, label in (
            ("treated", "15 min, 1 sensor, 100 Hz"),
            ("treated,hand,stroker", "15 min, 3 sensors, 100 Hz"),
        ):
            trace = folder / f"speed-15min-{roles.count(',') + 1}.csv"
            rows = make_trace(trace, 15.0, roles)
            ratios.append(compare(trace, rows, args.reps, label))
        verdict = "met" if max(ratios) <= TARGET_RATIO else "NOT met"
        print(f"target: ratio <= {TARGET_RATIO}×: {verdict}")
        if not args.skip_memory:
            trace = folder / "speed-60min-3.csv"
            rows = make_trace(trace, 60.0, "treated,hand,stroker")
            size_mb = trace.stat().st_size / 1e6
            wall, peak = run_timed(replay_cmd(trace))
            _, peak_min = run_timed(minimal_cmd(trace))
            verdict = "met" if peak <= TARGET_PEAK_MB else "NOT met"
            print(
                f"60 min, 3 sensors, 100 Hz ({rows:,} rows, {size_mb:.0f} MB): replay {wall:.1f} s, "
                f"peak RSS {peak:.0f} MB (minimal process {peak_min:.0f} MB); "
                f"target <= {TARGET_PEAK_MB:.0f} MB: {verdict}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
