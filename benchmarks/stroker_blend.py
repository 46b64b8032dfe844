"""Blend a refitted stroker candidate network with the base model's: ``with_stroker`` becomes one network
whose log-odds are ``weight`` × the candidate's + (1 − ``weight``) × the base's, and ``bias_stroker`` is
searched again on the tune sessions (:func:`benchmarks.stroker_training.tune_prior`). Every other
parameter is the base model's, so sessions without a ``stroker`` replay byte-identically.

    python -m benchmarks.stroker_blend --weight 0.75 \\
        --candidate benchmarks/data/models/stroker-families-candidate-2026-12-07.json \\
        --out benchmarks/data/models/stroker-blend-candidate.json

Why (docs/strokes.md, "the stroker's candidate network blended"): the candidate retrained on the
families finds strokes the base network misses, but fires on the helper's returns in light contact;
the base network rarely does. The blend is a wider network of the same form (:func:`blend_networks`),
so the detector reads it unchanged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.corpus import repo_relative
from benchmarks.stroke_training import _plain, source_commit
from benchmarks.stroker_training import tune_prior
from coach.signal.strokes.trained import SOURCE_PATH as MODEL_PATH
from coach.signal.strokes.trained import read_model, write_model


def blend_networks(nets: list[dict[str, Any]], weights: list[float]) -> dict[str, Any]:
    """One network (the ``Mlp`` dict form) whose log-odds are the weighted sum of ``nets``' log-odds.

    Each network's input standardisation is folded into its first layer (so the blend has mean 0 and
    scale 1), the hidden units sit side by side and the output weights are scaled by ``weights``. The
    inputs are clipped to the intersection of the networks' clip boxes (each box is its training rows'
    0.1-99.9 % range): inside it the blend is exactly the weighted sum; outside it, each network sees
    the input clipped to the tighter bound (a ``ValueError`` if the boxes do not meet)."""
    if len(nets) != len(weights) or not nets:
        raise ValueError("one weight per network")
    lo = np.max([np.asarray(n["clip_lo"], dtype=np.float64) for n in nets], axis=0)
    hi = np.min([np.asarray(n["clip_hi"], dtype=np.float64) for n in nets], axis=0)
    if (lo > hi).any():
        raise ValueError(f"the networks' clip boxes do not meet in inputs {np.flatnonzero(lo > hi).tolist()}")
    w1s, b1s, w2s = [], [], []
    b2 = 0.0
    for net, weight in zip(nets, weights, strict=True):
        mean = np.asarray(net["mean"], dtype=np.float64)
        scale = np.asarray(net["scale"], dtype=np.float64)
        w1 = np.asarray(net["w1"], dtype=np.float64)
        w1s.append(w1 / scale[:, None])
        b1s.append(np.asarray(net["b1"], dtype=np.float64) - (mean / scale) @ w1)
        w2s.append(weight * np.asarray(net["w2"], dtype=np.float64))
        b2 += weight * float(net["b2"])
    k = lo.shape[0]
    return {
        "clip_lo": lo.tolist(),
        "clip_hi": hi.tolist(),
        "mean": [0.0] * k,
        "scale": [1.0] * k,
        "w1": np.concatenate(w1s, axis=1).tolist(),
        "b1": np.concatenate(b1s).tolist(),
        "w2": np.concatenate(w2s).tolist(),
        "b2": b2,
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.stroker_blend", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--candidate", type=Path, required=True, help="a stroker_training output file")
    ap.add_argument("--base", type=Path, default=MODEL_PATH, help="the model whose other parameters are kept")
    ap.add_argument("--weight", type=float, required=True, help="the candidate's share of the log-odds (0-1)")
    ap.add_argument("--tune", default="", help="tune sessions for the prior (default: the candidate's own)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    if not 0.0 <= args.weight <= 1.0:
        raise SystemExit("--weight must be within 0-1")
    command = shlex.join(["python", "-m", "benchmarks.stroker_blend", *argv])
    base, base_prov = read_model(args.base)
    cand, cand_prov = read_model(args.candidate)
    refit = dict(cand_prov["with_stroker"])
    tune = args.tune or refit["tune_sessions"]
    net = blend_networks([cand["with_stroker"], base["with_stroker"]], [args.weight, 1.0 - args.weight])
    params = {**base, "with_stroker": net, "bias_stroker": 0.0}
    figures: dict[str, Any] = {}
    params["bias_stroker"] = tune_prior(params, base, tune, args.jobs, figures)
    refit["blend"] = {
        "note": (
            "with_stroker = weight x the candidate's network (this block's command) + (1 - weight) x the "
            "base model's; bias_stroker searched again; every other parameter kept from the base model"
        ),
        "command": command,
        "candidate": repo_relative(args.candidate),
        "base_model": repo_relative(args.base),
        "weight": args.weight,
        "tune_sessions": tune,
        "date": dt.date.today().isoformat(),
        "commit": source_commit(),
        "figures": _plain(figures),
    }
    write_model(args.out, params, {**base_prov, "with_stroker": refit})
    print(f"wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
