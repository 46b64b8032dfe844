"""Accuracy of the whole pipeline on seeded simulated corpora, scored as in docs/design.md §9.

    ./run bench accuracy                      # tune seeds 1000-1039 and report seeds 2000-2039
    ./run bench accuracy -- --report 2000-2099 --jobs 2 --no-real

Each session is simulated once with the simulator's public API (``random_scenario(seed)`` /
``simulate`` / ``write``; cached in ``benchmarks/out/corpus/``), replayed through the real pipeline the
way ``coach replay`` does (``--posture-hz 10``, default stroke detector), and scored against its labels
(:mod:`benchmarks.scoring`). The detector's parameters were tuned on the tune seeds and trained on
others (``benchmarks/stroke_training.py``); the report seeds are never used for either. Printed: the
corpus composition, tables per condition (rate, noise class, misalignment, roles, faults), totals against
the targets, the calibration of stroke confidence, and false strokes per minute on real recordings that
contain no massage (x-io handheld IMU, BROAD trials).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.corpus import (
    Condition,
    ensure_session,
    load_truth,
    parse_seeds,
    read_labels,
    replay,
)
from benchmarks.real_data import XIO_TRACE, broad_trials
from benchmarks.scoring import Score, score_session

TARGETS = {
    "f1_alone": 0.95,
    "f1_stroker": 0.98,
    "dir_alone": 0.95,
    "dir_stroker": 0.99,
    "cadence_spm": 1.0,
    "stroke_latency_s": 0.5,
    "elevated": 0.97,
    "elevation_mae_deg": 2.0,
    "wrist_neutral": 0.95,
    "flexion_mae_deg": 3.0,
    "posture_change_s": 1.0,
}


#: ``--no-veto``: the shipped detector without its movement veto (set before the workers fork).
_NO_VETO = False
#: ``--veto FILE``: the shipped detector with this movement-veto file instead of its own.
_VETO_FILE: str | None = None


def _one(seed: int) -> tuple[int, Score, dict[str, Any], float, float]:
    """Simulate (cached), replay, score one session; also the detector's own processing time."""
    trace = ensure_session(seed)
    labels = read_labels(trace)
    timer = _DetectorTimer()
    t0 = time.perf_counter()
    events = replay(trace, posture_hz=10.0, stroke_detector=timer.factory)
    wall = time.perf_counter() - t0
    score = score_session(events, load_truth(trace, labels))
    return seed, score, labels, wall, timer.seconds


class _DetectorTimer:
    """Wraps the default detector to time its ``process`` calls."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def factory(self, ctx: Any) -> Any:
        from coach.signal.strokes import StrokeDetector, create_detector, default_model

        if _NO_VETO:
            inner = StrokeDetector(ctx, model=dataclasses.replace(default_model(), veto=None))
        elif _VETO_FILE is not None:
            from coach.signal.strokes.movement import MovementVeto, read_veto

            veto = MovementVeto.from_dict(read_veto(_VETO_FILE)[0])
            inner = StrokeDetector(ctx, model=dataclasses.replace(default_model(), veto=veto))
        else:
            inner = create_detector(ctx)
        timer = self

        class Timed:
            def process(self, step: Any) -> Any:
                t = time.perf_counter()
                out = inner.process(step)
                timer.seconds += time.perf_counter() - t
                return out

            def finish(self, t_end_s: float) -> Any:
                return inner.finish(t_end_s)

        return Timed()


def run_corpus(seeds: list[int], jobs: int) -> list[tuple[int, Score, dict[str, Any], float, float]]:
    if jobs <= 1:
        return [_one(s) for s in seeds]
    with get_context("fork").Pool(jobs) as pool:
        return list(pool.imap(_one, seeds, chunksize=1))


# --------------------------------------------------------------------------------------------------
# Printing


def _f(x: float, nd: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if math.isinf(x):
        return "inf"
    return f"{x:.{nd}f}"


COLUMNS: list[tuple[str, Callable[[Score], str]]] = [
    ("sess", lambda s: str(s.sessions)),
    ("strokes", lambda s: str(s.strokes_true)),
    ("F1", lambda s: _f(s.f1)),
    ("prec", lambda s: _f(s.precision)),
    ("recall", lambda s: _f(s.recall)),
    ("dir acc", lambda s: _f(s.direction_accuracy)),
    ("distal rec", lambda s: _f(s.distal_recall)),
    ("unknown", lambda s: _f(s.direction_unknown / s.strokes_matched if s.strokes_matched else math.nan)),
    ("lat p95 s", lambda s: _f(s.stroke_latency_p95_s, 2)),
    ("cad MAE", lambda s: _f(s.cadence_mae_spm, 2)),
    ("elev agr", lambda s: _f(s.elevated_agreement)),
    ("elev MAE", lambda s: _f(s.elevation_mae_deg, 2)),
    ("wrist agr", lambda s: _f(s.wrist_agreement)),
    ("flex MAE", lambda s: _f(s.flexion_mae_deg, 2)),
    ("chg p95 s", lambda s: _f(s.elevated_change_p95_s, 2)),
]


def print_table(title: str, groups: dict[str, Score]) -> None:
    print(f"\n{title}")
    head = ["condition"] + [c for c, _ in COLUMNS]
    rows = [[k] + [fn(s) for _, fn in COLUMNS] for k, s in groups.items()]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    print(
        "  "
        + "  ".join(
            h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(head, widths, strict=True))
        )
    )
    for r in rows:
        print(
            "  "
            + "  ".join(
                v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True))
            )
        )


def by_condition(
    results: list[tuple[int, Score, dict[str, Any], float, float]],
) -> dict[str, dict[str, Score]]:
    dims: dict[str, dict[str, Score]] = {
        d: defaultdict(Score) for d in ("rate", "noise", "misalignment", "roles", "faults")
    }
    for _, score, labels, _, _ in results:
        cond = Condition.of(labels)
        for d in dims:
            key = getattr(cond, d)
            dims[d][key] = dims[d][key] + score
    return {d: dict(sorted(g.items())) for d, g in dims.items()}


def composition(results: list[tuple[int, Score, dict[str, Any], float, float]]) -> str:
    n_strokes = sum(len(r[2]["strokes"]) for r in results)
    n_distal = sum(sum(s["direction"] == "distal" for s in r[2]["strokes"]) for r in results)
    active = sum(r[2]["active"][1] - r[2]["active"][0] for r in results)
    lowered = sum(
        float(r[2]["summary"]["lowered_fraction"]) * (r[2]["active"][1] - r[2]["active"][0]) for r in results
    )
    fidgets = sum(len(r[2]["fidgets"]) for r in results)
    combos: dict[str, int] = defaultdict(int)
    for r in results:
        combos[Condition.of(r[2]).roles] += 1
    return (
        f"{len(results)} sessions, {active / 60:.0f} min active, {n_strokes} strokes, "
        f"{100 * n_distal / max(n_strokes, 1):.0f} % distal (need ≥ 20 %), "
        f"{100 * lowered / max(active, 1):.0f} % of the time lowered (need ≥ 15 %), {fidgets} fidgets; "
        + ", ".join(f"{k}: {v}" for k, v in sorted(combos.items()))
    )


def totals(results: list[tuple[int, Score, dict[str, Any], float, float]]) -> list[tuple[str, str, str, str]]:
    alone = Score.pooled(r[1] for r in results if "stroker" not in r[2]["roles"])
    withs = Score.pooled(r[1] for r in results if "stroker" in r[2]["roles"])
    allp = Score.pooled(r[1] for r in results)
    hand = Score.pooled(r[1] for r in results if "hand" in r[2]["roles"])
    change = allp.elevated_change_latencies_s + allp.wrist_change_latencies_s
    change_p95 = float(np.percentile(change, 95, method="inverted_cdf")) if change else math.nan

    def row(name: str, value: float, target: float, higher: bool, nd: int = 3) -> tuple[str, str, str, str]:
        met = (value >= target) if higher else (value <= target)
        return (name, _f(value, nd), ("≥ " if higher else "≤ ") + f"{target:g}", "met" if met else "MISSED")

    return [
        row("strokes F1, treated alone", alone.f1, TARGETS["f1_alone"], True),
        row("strokes F1, with stroker", withs.f1, TARGETS["f1_stroker"], True),
        row("direction accuracy, treated alone", alone.direction_accuracy, TARGETS["dir_alone"], True),
        row("direction accuracy, with stroker", withs.direction_accuracy, TARGETS["dir_stroker"], True),
        (
            "  distal recall alone / with stroker",
            f"{_f(alone.distal_recall)} / {_f(withs.distal_recall)}",
            "(shown)",
            "",
        ),
        row(
            "cadence |error| mean over sessions (spm)", allp.cadence_mae_spm, TARGETS["cadence_spm"], False, 2
        ),
        (
            "  cadence |error| max, sessions without a value",
            f"{_f(allp.cadence_max_err_spm, 2)}, {allp.cadence_missing}",
            "",
            "",
        ),
        ("  live cadence |error| mean (spm)", _f(allp.live_cadence_mae_spm, 2), "", ""),
        row(
            "stroke event latency p95 (s after true end)",
            allp.stroke_latency_p95_s,
            TARGETS["stroke_latency_s"],
            False,
            2,
        ),
        row("elevated agreement (time-weighted)", allp.elevated_agreement, TARGETS["elevated"], True),
        row("elevation MAE (°)", allp.elevation_mae_deg, TARGETS["elevation_mae_deg"], False, 2),
        row("wrist neutral agreement (with hand)", hand.wrist_agreement, TARGETS["wrist_neutral"], True),
        row("flexion MAE (°, with hand)", hand.flexion_mae_deg, TARGETS["flexion_mae_deg"], False, 2),
        row("posture change latency p95 (s)", change_p95, TARGETS["posture_change_s"], False, 2),
    ]


def print_totals(name: str, results: list[tuple[int, Score, dict[str, Any], float, float]]) -> None:
    print(f"\n{name}: totals against the targets")
    rows = totals(results)
    w = max(len(r[0]) for r in rows)
    for r in rows:
        print(f"  {r[0].ljust(w)}  {r[1]:>12}  {r[2]:>8}  {r[3]}")


def print_calibration(results: list[tuple[int, Score, dict[str, Any], float, float]]) -> None:
    conf = np.array([c for r in results for c in r[1].stroke_confidences])
    ok = np.array([o for r in results for o in r[1].stroke_confidence_ok], dtype=bool)
    if conf.size == 0:
        return
    print("\nstroke confidence vs share of events that are a true stroke with the right direction")
    edges = [0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0001]
    for lo, hi in itertools.pairwise(edges):
        sel = (conf >= lo) & (conf < hi)
        if sel.any():
            print(
                f"  [{lo:.2f}, {min(hi, 1.0):.2f}): {sel.sum():6d} events, "
                f"mean confidence {conf[sel].mean():.3f}, correct {ok[sel].mean():.3f}"
            )


# --------------------------------------------------------------------------------------------------
# Real recordings without massage


def _broad_trace(npz: Path, out: Path) -> None:
    from coach.samples import SampleBlock
    from coach.trace import TraceMeta, write_trace

    z = np.load(npz)
    t = np.asarray(z["t"], dtype=np.float64)
    acc = np.column_stack([z["ax"], z["ay"], z["az"]]).astype(np.float64)
    gyr = np.column_stack([z["gx"], z["gy"], z["gz"]]).astype(np.float64)
    meta = TraceMeta(
        {"arm": "right", "sensors": {"treated": {"rate_hz": float(z["fs"]), "device": "broad-myon"}}}
    )
    write_trace(out, meta, {"treated": SampleBlock("treated", t, acc, gyr)})


def real_false_positives() -> list[tuple[str, float, int, float]]:
    """(name, minutes, strokes, strokes per minute) on recordings with no massage in them."""
    out: list[tuple[str, float, int, float]] = []
    items: list[tuple[str, Path]] = []
    if XIO_TRACE.exists():
        items.append(("x-io handheld (sensor_data)", XIO_TRACE))
    tmp = Path(tempfile.mkdtemp(prefix="coach-broad-"))
    try:
        for npz in broad_trials():
            p = tmp / (npz.stem + ".csv")
            _broad_trace(npz, p)
            items.append((f"BROAD {npz.stem}", p))
        for name, path in items:
            events = replay(path, posture_hz=1.0, stroke_detector=_DetectorTimer().factory)
            strokes = sum(1 for e in events if e["type"] == "stroke")
            summary: Mapping[str, Any] = events[-1]
            minutes = float(summary.get("duration_s") or 0.0) / 60.0
            out.append((name, minutes, strokes, strokes / minutes if minutes > 0 else math.nan))
    finally:
        for f in tmp.glob("*"):
            f.unlink()
        tmp.rmdir()
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="./run bench accuracy --", description="pipeline accuracy on simulated corpora"
    )
    ap.add_argument("--tune", default="1000-1039", help="tune seeds (default 1000-1039; '' to skip)")
    ap.add_argument("--report", default="2000-2039", help="report seeds (default 2000-2039)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--no-real", action="store_true", help="skip the real recordings")
    ap.add_argument("--no-veto", action="store_true", help="the default detector without its movement veto")
    ap.add_argument("--veto", default=None, help="a movement-veto file instead of the shipped one")
    args = ap.parse_args(argv)
    global _NO_VETO, _VETO_FILE
    _NO_VETO = args.no_veto
    _VETO_FILE = args.veto
    print(
        "settings: replay as `coach replay --posture-hz 10`, default stroke detector"
        f"{' without the movement veto' if args.no_veto else ''}"
        f"{f' with the movement veto {args.veto}' if args.veto else ''}; "
        f"tune seeds {args.tune or '-'}, report seeds {args.report}; {args.jobs} jobs"
    )
    for name, text in (("tune", args.tune), ("report", args.report)):
        seeds = parse_seeds(text)
        if not seeds:
            continue
        t0 = time.perf_counter()
        results = run_corpus(seeds, args.jobs)
        wall = time.perf_counter() - t0
        print(f"\n===== {name} corpus (seeds {text}) =====")
        print(composition(results))
        minutes = sum(float(r[2]["duration_s"]) for r in results) / 60.0
        det_s = sum(r[4] for r in results)
        print(
            f"replayed in {wall:.0f} s wall; stroke detector {det_s:.1f} s in total = "
            f"{det_s / max(minutes / 15.0, 1e-9):.2f} s per 15 min of session"
        )
        for dim, groups in by_condition(results).items():
            print_table(f"{name}: by {dim}", groups)
        print_totals(name, results)
        print_calibration(results)
    if not args.no_real:
        print("\n===== real recordings without massage: any stroke is a false positive =====")
        for name, minutes, n, rate in real_false_positives():
            print(f"  {name:48s} {minutes:6.1f} min  {n:4d} strokes  {rate:6.2f} per min")
    return 0


def _iter(x: Iterable[Any]) -> list[Any]:
    return list(x)
