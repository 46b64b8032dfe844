"""Refit only the stroker's candidate network (``with_stroker``) and its prior (``bias_stroker``) of a model
file, keeping every other parameter (the ``treated`` network, its prior, the hand section, the direction
and calibration numbers) byte-identical: sessions without a ``stroker`` sensor replay exactly as before.

    python -m benchmarks.stroker_training --out benchmarks/data/models/stroker-candidate.json \\
        --train "fam:helper@treated+stroker:33000-33019,fam:helper@all:33020-33039,..." \\
        --tune "fam:helper@treated+stroker:13000-13007,fam:regions@all:11000-11007,..."

1. Candidate evidence of the training sessions (:func:`benchmarks.stroke_training.candidate_rows`, the
   same cache and labels): the network learns the log-odds of a stroke from ``treated`` + ``stroker``
   evidence, with the recipe of ``stroke_training`` (IoU labels, fidget and movement weight, thinning).
2. The prior ``bias_stroker`` by stroke F1 on the tune sessions with a stroker, the detector's scoring
   replayed for every prior on the grid (the ``treated`` network where the stroker's frames are not
   valid, the hand networks' larger log-odds where a hand sensor is there, as the detector does).
   The base model's F1 on the same sessions is printed beside it.

Train on training seeds only (``3xxxx``, ``41xxx``, ``3000``–); tune seeds are ``1xxxx``/``40xxx``/``1000``–.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.corpus import read_labels, replay, repo_relative
from benchmarks.family_corpus import physics_digest
from benchmarks.stroke_fit import train_mlp
from benchmarks.stroke_sessions import parse_keys, session_trace
from benchmarks.stroke_training import (
    _cpu_s,
    _f1,
    _plain,
    _pool_map,
    _recording_factory,
    _thin,
    candidate_rows,
    labels_of,
    logit_counts,
    source_commit,
)
from coach.signal.strokes.trained import SOURCE_PATH as MODEL_PATH
from coach.signal.strokes.trained import read_model, write_model

#: Priors tried on the tune sessions (``stroke_training``'s grid).
GRID = (-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0)


def check_train_keys(keys: list[str], left_out: str = "") -> None:
    """Refuse training sessions on tune or report seeds, and (``left_out``) sessions of the left-out
    family or mix sessions that contain it: a ``ValueError`` naming the first one."""
    from benchmarks.stroke_sessions import _session
    from simulators.families import family_of_seed, mix_families

    for key in keys:
        if key.startswith("real:"):
            continue
        seed, variant = _session(key)
        corpus = variant.removeprefix("fam:").partition("@")[0]
        family, _, excl = corpus.partition("-no-")
        if family == "mix":
            if not 41000 <= seed < 45000:
                raise ValueError(f"{key}: not a training seed of the mix (41000-44999)")
            if left_out and left_out in mix_families(seed, tuple(e for e in excl.split("-") if e)):
                raise ValueError(f"{key}: this mix session contains the left-out family {left_out}")
            continue
        split = family_of_seed(seed)
        if split is None or split[1] != "train":
            raise ValueError(f"{key}: not a training seed ({split})")
        if left_out and family == left_out:
            raise ValueError(f"{key}: the left-out family {left_out}")


def tune_logits(args: tuple[str, dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    """Per candidate of one tune session, for the new and the base parameters: the log-odds with the
    stroker's prior left at 0 (``treated`` candidates carry their own prior), where the stroker network
    scored, and the hand networks' log-odds (their priors included; −inf without a hand sensor)."""
    key, params, base = args
    from coach.signal.strokes import DetectorModel
    from coach.signal.strokes.scoring import hand_logits, segment_logits
    from coach.signal.strokes.segments import DURATIONS, segment_features

    models = {"new": DetectorModel.from_dict(params), "base": DetectorModel.from_dict(base)}
    trace = session_trace(key)
    labels = read_labels(trace)
    holder: list[Any] = []
    replay(trace, posture_hz=1.0, stroke_detector=_recording_factory(holder, None, keep_frames=True))
    det = holder[0]
    h = det.history
    ends = np.arange(h.start, h.end - 3, dtype=np.int64)
    shape = (ends.size, DURATIONS.shape[0])
    out: dict[str, Any] = {name: np.full(shape, -np.inf) for name in models}
    own = np.full(shape, -np.inf)
    s_mask = np.zeros(shape, dtype=bool)
    for i in range(0, ends.size, 1000):
        batch = segment_features(h, ends[i : i + 1000])
        m = models["new"]
        sel = batch.ok
        if m.quiet_max is not None:
            q = m.quiet_max
            sel = sel & (batch.context[..., 0] <= q[0]) & (batch.context[..., 1] <= q[1])
        for name, mm in models.items():
            out[name][i : i + 1000] = segment_logits(
                batch, mm.treated, mm.with_stroker, mm.bias, 0.0, mm.quiet_max, mm.screen
            )
        if batch.x_stroker is not None:
            s_mask[i : i + 1000] = batch.stroker_ok & sel
        if m.hand is not None:
            own[i : i + 1000] = hand_logits(batch, m.hand, sel, None)
    return {
        "key": key,
        "stroker": "stroker" in labels["roles"],
        "t0": float(h.t_s[0]),
        "start": h.start,
        "frame_s": h.frame_s,
        "max_late": det.segmenter.max_late,
        **out,
        "own": own,
        "s_mask": s_mask,
        "true": np.array([[x["t_start"], x["t_end"]] for x in labels["strokes"]]).reshape(-1, 2),
    }


def counts(d: dict[str, Any], which: str, bias_stroker: float) -> np.ndarray:
    """(true, detected, matched) of one tune session under ``which`` parameters and a stroker prior."""
    return logit_counts(d, np.maximum(np.where(d["s_mask"], d[which] + bias_stroker, d[which]), d["own"]))


def tune_prior(
    params: dict[str, Any], base: dict[str, Any], tune: str, jobs: int, figures: dict[str, Any]
) -> float:
    """The stroker prior with the best stroke F1 on the tune sessions with a stroker (figures: the F1 per
    prior, and the base model's at its own prior, pooled and per corpus)."""
    keys = parse_keys(tune)
    sessions = [d for d in _pool_map(tune_logits, [(k, params, base) for k in keys], jobs) if d["stroker"]]
    zero = np.zeros(3)
    f_new = {b: _f1(sum((counts(d, "new", b) for d in sessions), zero)) for b in GRID}
    chosen = max(GRID, key=lambda b: f_new[b])
    b_base = float(base.get("bias_stroker", base.get("bias", 0.0)))
    per: dict[str, dict[str, float]] = {}
    for corpus in sorted({d["key"].rsplit(":", 1)[0] for d in sessions}):
        ds = [d for d in sessions if d["key"].rsplit(":", 1)[0] == corpus]
        per[corpus] = {
            "base": _f1(sum((counts(d, "base", b_base) for d in ds), zero)),
            "new": _f1(sum((counts(d, "new", chosen) for d in ds), zero)),
        }
    f_base = _f1(sum((counts(d, "base", b_base) for d in sessions), zero))
    print(f"tune sessions with a stroker: {len(sessions)}")
    print("tune F1 by stroker prior: " + ", ".join(f"{b:+.1f}: {f:.3f}" for b, f in f_new.items()))
    print(f"chosen {chosen:+.1f} (F1 {f_new[chosen]:.3f}); base model at {b_base:+.1f}: {f_base:.3f}")
    for corpus, f in per.items():
        print(f"  {corpus}: base {f['base']:.3f} -> new {f['new']:.3f}")
    figures.update(
        tune_sessions_with_stroker=len(sessions),
        tune_f1_with_stroker_by_bias={f"{b:+.1f}": f for b, f in f_new.items()},
        tune_f1_base_model=f_base,
        tune_f1_by_corpus=per,
    )
    return chosen


def fit_stroker(keys: list[str], args: argparse.Namespace, figures: dict[str, Any]) -> dict[str, Any]:
    """The ``with_stroker`` network from the candidate evidence of the sessions ``keys`` that have a
    stroker (``stroke_training``'s recipe)."""
    t0 = time.time()
    paths = _pool_map(partial(candidate_rows, returns=args.returns_negative), keys, args.jobs)
    data = [d for d in (np.load(p) for p in paths) if d["x_stroker"].size]
    print(f"candidate evidence of {len(data)} sessions with a stroker ({time.time() - t0:.0f} s)", flush=True)
    xt = np.concatenate([d["x_treated"] for d in data]).astype(np.float64)
    xs = np.concatenate([d["x_stroker"] for d in data]).astype(np.float64)
    y_raw = np.concatenate([d["y"] for d in data]).astype(np.float64)
    y, use = labels_of(y_raw)
    if args.neg_iou > 0:  # pieces of a stroke (partial overlap) taught as non-strokes, not left out
        use |= (y_raw[:, 0] < args.neg_iou) & (y < 0.5)
    w = 1.0 + (args.fidget_weight - 1.0) * y_raw[:, 3]
    ok = np.isfinite(xs).all(1) & use & _thin(y, w, args.max_candidates)
    net = train_mlp(
        np.concatenate((xt, xs), 1)[ok], y[ok], weight=w[ok], epochs=args.epochs, seed=args.net_seed
    )
    figures.update(
        train_sessions_with_stroker=len(data),
        candidates_with_stroker=int(ok.sum()),
        candidate_strokes_with_stroker=int(y[ok].sum()),
    )
    print(
        f"with-stroker network: {int(ok.sum())} candidates, {int(y[ok].sum())} strokes "
        f"({time.time() - t0:.0f} s)",
        flush=True,
    )
    return net


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.stroker_training", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--train", required=True, help="training sessions (session keys; those with a stroker)")
    ap.add_argument("--tune", required=True, help="tune sessions for the stroker prior (with a stroker)")
    ap.add_argument("--base", type=Path, default=MODEL_PATH, help="the model whose other parameters are kept")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--net-seed", type=int, default=0, help="seed of the network's initial weights")
    ap.add_argument(
        "--max-candidates", type=int, default=0, help="thin ordinary non-strokes to about this many rows"
    )
    ap.add_argument("--fidget-weight", type=float, default=3.0)
    ap.add_argument(
        "--neg-iou",
        type=float,
        default=0.0,
        help="train candidates overlapping a stroke less than this IoU as non-strokes (0: labels_of only)",
    )
    ap.add_argument(
        "--returns-negative",
        action="store_true",
        help="candidates inside the returns between strokes weighted as fidgets (return_intervals)",
    )
    ap.add_argument(
        "--left-out", default="", help="a family left out: refuse its sessions and mix sessions with it"
    )
    ap.add_argument(
        "--tune-only", action="store_true", help="read --out back and tune its stroker prior again (--tune)"
    )
    args = ap.parse_args(argv)
    command = shlex.join(["python", "-m", "benchmarks.stroker_training", *argv])
    base_params, base_prov = read_model(args.base)
    figures: dict[str, Any] = {}
    if args.tune_only:
        params, prov = read_model(args.out)
        params["bias_stroker"] = tune_prior(params, base_params, args.tune, args.jobs, figures)
        prov["with_stroker"]["figures"].update(_plain(figures))
        prov["with_stroker"].update(tune_sessions=args.tune, prior_retuned={"command": command})
        write_model(args.out, params, prov)
        print(f"wrote {args.out}", flush=True)
        return 0
    keys = parse_keys(args.train)
    check_train_keys(keys, args.left_out)
    net = fit_stroker(keys, args, figures)
    params = {**base_params, "with_stroker": net, "bias_stroker": 0.0}
    params["bias_stroker"] = tune_prior(params, base_params, args.tune, args.jobs, figures)
    figures["cpu_s"] = round(_cpu_s(), 1)
    provenance = {
        **base_prov,
        "with_stroker": {
            "note": "with_stroker and bias_stroker refitted; every other parameter kept from the base model",
            "command": command,
            "train_sessions": args.train,
            "tune_sessions": args.tune,
            "left_out_family": args.left_out or None,
            "base_model": repo_relative(args.base),
            "physics_digest": physics_digest(),
            "epochs": args.epochs,
            "network_seed": args.net_seed,
            "max_candidates": args.max_candidates,
            "fidget_weight": args.fidget_weight,
            "neg_iou": args.neg_iou,
            "returns_negative": args.returns_negative,
            "date": dt.date.today().isoformat(),
            "commit": source_commit(),
            "figures": _plain(figures),
        },
    }
    write_model(args.out, params, provenance)
    print(f"wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
