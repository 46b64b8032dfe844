"""Tune the cadence confidence gate (coach/signal/cadence.py ``cadence_trusted``) on tune seeds.

    python -m benchmarks.cadence_gate [--count 40] [--jobs 2]

The tune sessions of every variant family and the mix (benchmarks/family_corpus.py, never the report
seeds; sensor sets in turn) are replayed once with the shipped detector, and the found strokes' starts
and directions are kept. Every gate of a grid (share of one-period gaps × least gaps in rhythm bouts) is
applied offline to the summary's estimate (``estimate_mean_cadence``), as the summary applies it. Printed
per gate and family: the cadence |error| over the sessions given a cadence, against the §5 cadence of the
true starts (as benchmarks/scoring.py scores it), and the coverage (the share of sessions given one).
The rule the shipped constants were chosen by: baseline coverage ≥ 0.9, then the most families at
≤ 1 spm, then the highest pooled coverage (docs/strokes.md, "Issue 9: a cadence confidence gate").
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from multiprocessing import get_context
from typing import Any

import numpy as np

from benchmarks.corpus import load_truth, replay
from benchmarks.family_corpus import SessionSpec, draw_sessions, ensure_trace
from coach.signal.cadence import estimate_mean_cadence, mean_cadence_spm

FAMILIES = ("baseline", "regions", "contact", "helper", "movement", "sensors", "mix")
SHARES = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85)
MIN_GAPS = (4, 8, 16, 24)

Row = dict[str, Any]


def _one(spec: SessionSpec) -> Row | None:
    trace = ensure_trace(spec)
    events = replay(trace, posture_hz=10.0, stroke_detector="default")
    starts: list[float] = []
    directions: list[str] = []
    for e in events:
        if e["type"] == "stroke":
            starts.append(e["t_start"])
            directions.append(e["direction"])
    est = estimate_mean_cadence(starts, directions)
    true = mean_cadence_spm([s.t_start_s for s in load_truth(trace).strokes])
    if est.spm is None or true is None:
        return None
    share = est.one_period_gaps / est.rhythm_gaps if est.rhythm_gaps else 0.0
    return {"family": spec.family, "err": abs(est.spm - true), "share": share, "gaps": est.rhythm_gaps}


def grid(rows: list[Row]) -> list[tuple[float, int, dict[str, tuple[float, float]]]]:
    """Per gate (share, least gaps): per family and pooled ("all"), (mean |error| given, coverage)."""
    out = []
    for share in SHARES:
        for gaps in MIN_GAPS:
            by: dict[str, list[Row]] = defaultdict(list)
            for r in rows:
                by[r["family"]].append(r)
                by["all"].append(r)
            res = {}
            for fam, lst in by.items():
                kept = [r["err"] for r in lst if r["share"] >= share and r["gaps"] >= gaps]
                res[fam] = (float(np.mean(kept)) if kept else float("nan"), len(kept) / len(lst))
            out.append((share, gaps, res))
    return out


def choose(table: list[tuple[float, int, dict[str, tuple[float, float]]]]) -> tuple[float, int]:
    """The rule: baseline coverage ≥ 0.9, the most families ≤ 1 spm, then the highest pooled coverage."""
    ok = [t for t in table if t[2].get("baseline", (0.0, 1.0))[1] >= 0.9]
    best = max(
        ok, key=lambda t: (sum(1 for f in FAMILIES if f in t[2] and t[2][f][0] <= 1.0), t[2]["all"][1])
    )
    return best[0], best[1]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.cadence_gate", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--count", type=int, default=40, help="tune sessions per corpus (default 40)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = ap.parse_args(argv)
    specs = draw_sessions("tune", list(FAMILIES), sensors="cycle", count=args.count)
    with get_context("fork").Pool(args.jobs) as pool:
        rows = [r for r in pool.imap(_one, specs, chunksize=1) if r is not None]
    table = grid(rows)
    print(f"{len(rows)} tune sessions with a cadence; |error| (spm) over sessions given one / coverage")
    for share, gaps, res in table:
        cells = "  ".join(f"{f} {res[f][0]:.2f}/{res[f][1]:.2f}" for f in (*FAMILIES, "all") if f in res)
        print(f"  share ≥ {share:.2f}, gaps ≥ {gaps:2d}:  {cells}")
    share, gaps = choose(table)
    print(f"chosen by the rule: share ≥ {share}, gaps ≥ {gaps}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
