"""Simulator speed: generate (and write) a 15-minute session with three sensors at 100 Hz.

    ./run bench simulator [-- --duration S --rate HZ --seed N --repeat K]

Prints wall-clock seconds for ``simulate`` (physics + sensor model + transport), for building the
labels, and for writing the trace and labels, plus samples generated per second and peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench simulator")
    parser.add_argument("--duration", type=float, default=900.0, help="session seconds (default 900)")
    parser.add_argument("--rate", type=float, default=100.0, help="rate of every sensor (default 100 Hz)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best and the median are shown")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    from simulators import Scenario, SensorSpec, simulate

    import_s = time.perf_counter() - t0
    sc = Scenario(
        duration_s=args.duration,
        sensors={r: SensorSpec(rate_hz=args.rate) for r in ("treated", "hand", "stroker")},
    )
    sim_s, labels_s, write_s = [], [], []
    samples = 0
    for _ in range(args.repeat):
        t = time.perf_counter()
        session = simulate(sc, args.seed)
        sim_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        truth = session.truth
        labels_s.append(time.perf_counter() - t)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            session.write(Path(tmp) / "bench.csv")
            write_s.append(time.perf_counter() - t)
        samples = sum(len(b) for b in session.blocks.values())
    strokes = len(truth["strokes"])

    def stats(xs: list[float]) -> str:
        xs = sorted(xs)
        return f"best {xs[0]:.2f} s, median {xs[len(xs) // 2]:.2f} s"

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(
        f"session: {args.duration:g} s, treated+hand+stroker at {args.rate:g} Hz, "
        f"seed {args.seed}, {strokes} strokes"
    )
    print(f"import simulators:   {import_s:.2f} s")
    print(f"simulate:            {stats(sim_s)}  ({samples / min(sim_s):,.0f} samples/s, {samples} samples)")
    print(f"labels:              {stats(labels_s)}")
    print(f"write trace+labels:  {stats(write_s)}")
    print(f"peak RSS:            {peak_mb:.0f} MB")
    return 0
