"""False strokes in ordinary movement under parts of the ``sensors`` family's sensor model (issue 9, 3).

    python -m benchmarks.sensor_ablation [--split tune] [--count 40] [--models family,cheap,variant,drawn]

The same sessions of the ``sensors`` family's seeds (the same strokes, fidgets and body; the sensor
sets in turn, as ``./run bench families`` takes them) are simulated under four sensor models and
replayed as ``coach replay --posture-hz 10`` does:

- ``family``: the ``sensors`` family as benchmarked (MPU-6050-class devices and the family's variant:
  large gyro offsets, temperature drift, coarse quantisation, saturation, a strap that turns);
- ``cheap``: MPU-6050-class devices, without the variant;
- ``variant``: the variant on BMI270-class (``good``) devices;
- ``drawn``: neither (today's physics: each device's class as the seed draws it).

Printed per model: minutes of ordinary movement, false strokes in it (and per minute), stroke F1, and
each false stroke. Whatever stays false under ``drawn`` is the movement itself, not the sensors.
Sessions are cached under ``benchmarks/out/ablation/<physics digest>/<model>/``.
"""

from __future__ import annotations

import argparse
from multiprocessing import get_context
from pathlib import Path

from benchmarks.corpus import labels_path, load_truth, replay
from benchmarks.family_corpus import physics_digest
from benchmarks.scoring import Score, score_session
from simulators.families import SENSOR_SETS, family_scenario, seed_range
from simulators.scenario import Scenario

OUT_DIR = Path(__file__).resolve().parent / "out" / "ablation"
MODELS: tuple[str, ...] = ("family", "cheap", "variant", "drawn")


def scenario(model: str, seed: int, roles: tuple[str, ...]) -> Scenario:
    """The session of ``seed`` under one of :data:`MODELS`."""
    if model == "family":
        return family_scenario(seed, ("sensors",), roles=roles)
    if model == "cheap":
        return family_scenario(seed, (), roles=roles, device_class="cheap")
    if model == "variant":
        return family_scenario(seed, ("sensors",), roles=roles, device_class="good")
    if model == "drawn":
        return family_scenario(seed, (), roles=roles)
    raise ValueError(f"unknown sensor model {model!r} (known: {', '.join(MODELS)})")


def _one(job: tuple[str, int, int]) -> tuple[int, Score]:
    from simulators import simulate

    model, i, seed = job
    roles = list(SENSOR_SETS.values())[i % len(SENSOR_SETS)]
    path = OUT_DIR / physics_digest() / model / f"s{seed}.csv"
    if not (path.exists() and labels_path(path).exists()):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.csv")
        simulate(scenario(model, seed, roles), seed=seed).write(tmp, labels_path(path))
        tmp.replace(path)
    events = replay(path, posture_hz=10.0, stroke_detector="default")
    return seed, score_session(events, load_truth(path))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.sensor_ablation", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--split", default="tune", choices=("tune", "report"))
    ap.add_argument("--count", type=int, default=40, help="sessions (default 40)")
    ap.add_argument("--models", default=",".join(MODELS), help="sensor models (comma-separated)")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    seeds = list(seed_range("sensors", args.split))[: args.count]
    for model in [m for m in args.models.split(",") if m]:
        scenario(model, seeds[0], ("treated",))  # an unknown model fails before any work
        jobs = [(model, i, seed) for i, seed in enumerate(seeds)]
        with get_context("fork").Pool(args.jobs) as pool:
            results = list(pool.imap(_one, jobs, chunksize=1))
        total = Score.pooled(s for _, s in results)
        minutes = sum(total.movement_ms.values()) / 60000.0
        false = sum(total.movement_false.values())
        print(
            f"{model:8s} {len(results)} sessions ({args.split} {seeds[0]}–{seeds[-1]}): {minutes:.2f} min of "
            f"ordinary movement, {false} false strokes ({total.movement_false_per_min():.2f}/min); "
            f"stroke F1 {total.f1:.4f} (P {total.precision:.4f}, R {total.recall:.4f})",
            flush=True,
        )
        for seed, s in results:
            for kind, a, b, direction in s.movement_false_at:
                print(f"    {seed} {kind} {a:.2f}–{b:.2f} s {direction}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
