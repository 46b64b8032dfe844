"""Tune the ``stroke_toward_elbow`` gate (coach/pipeline/coaching.py ``DistalRun``) on tune seeds.

    python -m benchmarks.cue_gate [--count 10] [--jobs 2]

The tune sessions of every variant family and the mix (benchmarks/family_corpus.py, never the report
seeds) are replayed once with the shipped detector; the detector's strokes (with their P(distal)) are
kept, and every gate of a small grid is applied to them offline, as the pipeline would (the cue repeats
at most every 10 s, only while the session is active). Printed per gate: cue precision and wrong cues
per 10 minutes of correct massage (scored as benchmarks/scoring_families.py does), and the share of truly
distal bouts that got at least one cue (a gate that never cues is useless).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from multiprocessing import get_context
from typing import Any

import numpy as np

from benchmarks.corpus import load_truth, replay
from benchmarks.family_corpus import SessionSpec, draw_sessions, ensure_trace
from benchmarks.scoring_families import CUE_LOOKBACK_S, _bouts

REPEAT_S = 10.0
BOUT_GAP_S = 10.0


def _strokes(spec: SessionSpec) -> dict[str, Any]:
    from coach.signal.strokes import create_detector

    got: list[Any] = []

    def factory(ctx: Any) -> Any:
        det = create_detector(ctx)
        inner = det.process

        def process(step: Any) -> Any:
            out = inner(step)
            got.extend(out)
            return out

        det.process = process  # type: ignore[method-assign]
        return det

    trace = ensure_trace(spec)
    replay(trace, posture_hz=1.0, stroke_detector=factory)
    truth = load_truth(trace)
    return {
        "strokes": [(s.t_start_s, s.decided_s, s.direction, s.p_distal) for s in got],
        "truth": truth,
    }


def _cues(
    strokes: list[tuple[float, float, str, float | None]], gate: tuple[float, int, int, float]
) -> list[float]:
    p_min, recent_n, min_distal, recent_p = gate
    out: list[float] = []
    recent: list[tuple[float, float]] = []
    last = -np.inf
    for t0, t_dec, direction, p in sorted(strokes, key=lambda s: s[1]):
        q = p if p is not None else float(direction == "distal")
        if direction != "distal":
            q = min(q, 0.5)
        if recent and t0 - recent[-1][0] >= BOUT_GAP_S:
            recent = []
        recent = [*recent, (t0, q)][-recent_n:]
        sure = sum(1 for _, x in recent if x >= recent_p)
        if direction == "distal" and q >= p_min and sure >= min_distal and t_dec - last >= REPEAT_S:
            out.append(t_dec)
            last = t_dec
    return out


def _score(
    sessions: list[dict[str, Any]], gate: tuple[float, int, int, float]
) -> tuple[float, float, float, int]:
    n = ok = wrong = 0
    correct_s = 0.0
    distal_bouts = cued_bouts = 0
    for d in sessions:
        truth = d["truth"]
        cues = [t for t in _cues(d["strokes"], gate) if truth.active_from_s <= t <= truth.active_to_s]
        ends = np.array([s.t_end_s for s in truth.strokes if s.direction == "distal"])
        bouts = _bouts(truth.strokes)
        spans = [
            (b[0].t_start_s, max(s.t_end_s for s in b) + CUE_LOOKBACK_S)
            for b in bouts
            if all(s.direction == "proximal" for s in b)
        ]
        correct_s += sum(hi - lo for lo, hi in spans)
        for t in cues:
            good = bool(np.any((ends >= t - CUE_LOOKBACK_S) & (ends <= t + 0.1)))
            n += 1
            ok += good
            wrong += (not good) and any(lo <= t <= hi for lo, hi in spans)
        for b in bouts:
            if sum(s.direction == "distal" for s in b) >= 3:
                distal_bouts += 1
                lo, hi = b[0].t_start_s, max(s.t_end_s for s in b) + CUE_LOOKBACK_S
                cued_bouts += any(lo <= t <= hi for t in cues)
    return (
        ok / n if n else float("nan"),
        wrong / (correct_s / 600.0) if correct_s else float("nan"),
        cued_bouts / distal_bouts if distal_bouts else float("nan"),
        n,
    )


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.cue_gate", description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=10, help="tune sessions per corpus")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = ap.parse_args(argv)
    specs = draw_sessions("tune", sensors="cycle", count=args.count)
    specs += draw_sessions("tune", "mix", sensors="cycle", count=args.count)
    with get_context("fork").Pool(args.jobs) as pool:
        sessions = list(pool.imap(_strokes, specs, chunksize=1))
    print(f"{len(sessions)} tune sessions replayed")
    print("p_min recent_n min_distal recent_p | cue prec | wrong /10 min | distal bouts cued | cues")
    grid = itertools.product((0.7, 0.8, 0.85, 0.9, 0.95), (3,), (1, 2, 3), (0.6, 0.7, 0.8))
    for gate in [(0.6, 1, 1, 0.6), *grid]:
        prec, wrong, cued, n = _score(sessions, gate)
        print(
            f"{gate[0]:.2f} {gate[1]} {gate[2]} {gate[3]:.2f} | {prec:.3f} | {wrong:.2f} | {cued:.3f} | {n}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
