"""Replay digests of a fixed set of traces: proof that a refactoring changed no output.

    python -m benchmarks.replay_digests [--out DIR]

Simulates a fixed set of sessions (seeds and role sets below, the three roles all covered), adds the
third-party xio recording when it is beside the repository and any ``--trace``, replays each with
``coach replay`` and prints the sha256 of every trace and of every replay's stdout. Run it before and
after a change that must not change behaviour; the two listings must be identical.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
XIO_TRACE = REPO / "tests" / "data" / "xio_fusion" / "sensor_data.coach-trace.csv"
#: (name, ``coach simulate`` arguments)
SESSIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("s1_treated", ("--seed", "1", "--duration", "120", "--roles", "treated")),
    ("s2_treated_hand", ("--seed", "2", "--duration", "120", "--roles", "treated,hand")),
    ("s3_all", ("--seed", "3", "--duration", "120", "--roles", "treated,hand,stroker")),
    ("r4_random", ("--random", "--seed", "4")),
    ("r5_random_all", ("--random", "--seed", "5", "--roles", "treated,hand,stroker")),
    ("r6_random_nocal", ("--random", "--seed", "6", "--no-calibration-meta", "--rate", "50")),
)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.replay_digests", description=__doc__)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "replay_digests")
    ap.add_argument(
        "--trace", type=Path, action="append", default=[], help="another trace to replay (repeatable)"
    )
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    coach = [sys.executable, "-m", "coach"]
    traces: list[tuple[str, Path]] = []
    for name, sim_args in SESSIONS:
        path = args.out / f"{name}.csv"
        if not path.exists():
            subprocess.run([*coach, "simulate", "-o", str(path), *sim_args], check=True, capture_output=True)
        traces.append((name, path))
    if XIO_TRACE.exists():
        traces.append(("xio_fusion", XIO_TRACE))
    traces += [(p.name, p) for p in args.trace]
    for name, path in traces:
        for extra in ((), ("--posture-hz", "10")):
            run = subprocess.run([*coach, "replay", str(path), *extra], capture_output=True, check=False)
            label = name + ("" if not extra else " --posture-hz 10")
            events = run.stdout.count(b"\n")
            strokes = run.stdout.count(b'"type":"stroke"')
            print(
                f"{label:34} trace {_sha(path.read_bytes())[:16]}  replay {_sha(run.stdout)}  "
                f"exit {run.returncode}  events {events}  strokes {strokes}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
