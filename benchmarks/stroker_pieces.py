"""What the false strokes of sessions with the helper's sensor are: pieces of a stroke, the helper's returns,
or contacts away from any stroke; and what the same-way merge (``MERGE_GAP_S``) would do at other gaps.

    python -m benchmarks.stroker_pieces [--model FILE] [--split tune] [--count 16] [--families helper]

Each session with a ``stroker`` (the families bench's own sessions: sensor sets in turn) is replayed with a
recording detector (the model's candidate network, the shipped direction networks and veto); the merge is
then applied to the kept contacts for each gap of ``--gaps`` (0.25 s is the detector's own), and the
reported contacts are matched to the true strokes as ``benchmarks.scoring`` does. An unmatched contact is
a *piece* when the true stroke it overlaps most is matched by another contact, *unmatched-overlap* when
that stroke is matched by none, *away* when it overlaps none; *in a return* when more than half of it
lies in a labelled return in light contact (``returns``: not a stroke).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.corpus import read_labels, replay
from benchmarks.family_corpus import SessionSpec, draw_sessions, ensure_trace
from benchmarks.scoring import match_strokes

#: ``--model`` (set before the workers fork; None: the shipped model.json).
_MODEL: Path | None = None

Contact = tuple[float, float, float]  # start, end (s), P(distal)


def _contacts(spec: SessionSpec) -> tuple[list[Contact], np.ndarray, np.ndarray]:
    """The kept (not vetoed) contacts of one session before the merge, its true strokes and returns."""
    from coach.signal.strokes import DetectorModel, StrokeDetector
    from coach.signal.strokes.movement import read_veto
    from coach.signal.strokes.trained import read_direction, read_model

    params = dict(read_model(_MODEL)[0])
    shipped = read_direction()
    if shipped is not None:
        params.update(shipped[0])
    params["movement_veto"] = read_veto()[0]
    model = DetectorModel.from_dict(params)
    trace = ensure_trace(spec)
    labels = read_labels(trace)
    holder: list[Any] = []

    def factory(ctx: Any) -> Any:
        det = StrokeDetector(ctx, model=model, record=True)
        holder.append(det)
        return det

    replay(trace, posture_hz=1.0, stroke_detector=factory)
    kept = [(r.t_start_s, r.t_end_s, r.p_distal) for r in holder[0].records or [] if r.reported]
    true = np.array([[s["t_start"], s["t_end"]] for s in labels["strokes"]], dtype=np.float64).reshape(-1, 2)
    rets = labels.get("returns", [])
    returns = np.array([[r["t_start"], r["t_end"]] for r in rets], dtype=np.float64).reshape(-1, 2)
    return kept, true, returns


def merged(kept: list[Contact], gap_s: float) -> list[Contact]:
    """The contacts reported under the same-way merge at ``gap_s`` (``StrokeDetector._reported``'s rule)."""
    out: list[Contact] = []
    last_end, last_distal = -np.inf, False
    for a, b, p in kept:
        distal = p >= 0.5
        if a - last_end < gap_s and distal == last_distal:
            last_end = b
            continue
        last_end, last_distal = b, distal
        out.append((a, b, p))
    return out


def classify(reported: list[Contact], true: np.ndarray, returns: np.ndarray) -> tuple[Counter[str], int]:
    """Kinds of the unmatched reported contacts (see the module docstring) and the matched count."""
    det = np.array([[a, b] for a, b, _ in reported], dtype=np.float64).reshape(-1, 2)
    match = {d: t for t, d in match_strokes(true, det)}
    matched_true = set(match.values())
    kinds: Counter[str] = Counter()
    for i, (a, b, p) in enumerate(reported):
        if i in match:
            continue
        ov = np.clip(np.minimum(true[:, 1], b) - np.maximum(true[:, 0], a), 0.0, None)
        best = int(np.argmax(ov)) if ov.size and ov.max() > 0 else None
        kind = "away" if best is None else ("piece" if best in matched_true else "unmatched-overlap")
        kinds[kind] += 1
        in_ret = np.clip(np.minimum(returns[:, 1], b) - np.maximum(returns[:, 0], a), 0.0, None)
        kinds["in a return"] += int(in_ret.size > 0 and in_ret.max() > 0.5 * (b - a))
        kinds["called distal"] += int(p >= 0.5)
    return kinds, len(match)


def main(argv: list[str]) -> int:
    global _MODEL
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.stroker_pieces", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--model", type=Path, default=None, help="a model file (default: the shipped model.json)")
    ap.add_argument("--split", default="tune", choices=("tune", "report"))
    ap.add_argument(
        "--count", type=int, default=16, help="sessions per family before keeping those with a stroker"
    )
    ap.add_argument("--families", default="helper")
    ap.add_argument("--gaps", default="0,0.25,0.4,0.6", help="merge gaps (s) to compare")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    _MODEL = args.model
    specs = [
        s
        for s in draw_sessions(args.split, args.families.split(","), sensors="cycle", count=args.count)
        if s.roles is not None and "stroker" in s.roles
    ]
    with get_context("fork").Pool(args.jobs) as pool:
        sessions = pool.map(_contacts, specs, chunksize=1)
    print(f"{len(sessions)} sessions with a stroker ({args.split}: {', '.join(str(s.seed) for s in specs)})")
    n_true = sum(len(t) for _, t, _ in sessions)
    for gap in (float(g) for g in args.gaps.split(",")):
        kinds: Counter[str] = Counter()
        n_rep = n_match = 0
        for kept, true, returns in sessions:
            rep = merged(kept, gap)
            k, m = classify(rep, true, returns)
            kinds += k
            n_rep, n_match = n_rep + len(rep), n_match + m
        f1 = 2 * n_match / max(n_rep + n_true, 1)
        print(
            f"merge gap {gap:.2f} s: true {n_true}, reported {n_rep}, matched {n_match}, "
            f"precision {n_match / max(n_rep, 1):.3f}, recall {n_match / max(n_true, 1):.3f}, F1 {f1:.3f}; "
            f"unmatched {n_rep - n_match}: "
            + ", ".join(
                f"{k} {kinds[k]}"
                for k in ("piece", "unmatched-overlap", "away", "in a return", "called distal")
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
