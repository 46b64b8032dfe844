"""Train the model's ``hand`` section (issue 9 item 1): networks used only when a session has a ``hand``
sensor, added to an existing model file whose other parameters are kept unchanged.

    python -m benchmarks.hand_training --out benchmarks/data/models/hand-candidate.json \\
        --train "fam:regions@treated+hand:31000-31029,..." --tune "fam:regions@treated+hand:11000-11009,..."

1. Candidate evidence of the training sessions (:func:`benchmarks.stroke_training.candidate_rows`, the
   same cache): ``with_hand`` learns the log-odds of a stroke from ``treated`` + hand evidence
   (:data:`coach.signal.strokes.hand.HAND_FEATURES`), ``with_all`` with the ``stroker``'s too.
2. The priors ``bias_hand`` (sessions without ``stroker``) and ``bias_all`` (with it) on the tune
   sessions, by stroke F1 (the segmenter replayed for every prior on the grid).
3. Committed contacts of the direction sessions under the base model with the new networks: the hand's
   direction network (P(distal) from the ``treated`` direction evidence and the same evidence on the
   hand; used when the stroker's glide is not available) and the hand's region networks.

Sessions without a ``hand`` sensor are scored by the base model's networks exactly as before.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.corpus import read_labels, replay, repo_relative
from benchmarks.family_corpus import physics_digest
from benchmarks.stroke_fit import REGION_HIDDEN, REGIONS, train_mlp
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
    matched_contacts,
    source_commit,
)
from coach.signal.strokes.trained import SOURCE_PATH as MODEL_PATH
from coach.signal.strokes.trained import read_model, write_model

#: Priors tried on the tune sessions (the hand networks learn from thinned non-strokes, so the prior
#: that undoes that is negative).
GRID = (-9.0, -8.0, -7.0, -6.0, -5.0, -4.0, -3.0, -2.0, -1.0, 0.0, 1.0)


def tune_logits(args: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """Per candidate of one tune session: the base model's log-odds (its priors included), and the hand
    networks' log-odds without their prior (the detector keeps the larger of the two)."""
    key, params = args
    from coach.signal.strokes import DetectorModel
    from coach.signal.strokes.scoring import hand_logits, segment_logits
    from coach.signal.strokes.segments import DURATIONS, segment_features

    model = DetectorModel.from_dict(params)
    assert model.hand is not None
    trace = session_trace(key)
    labels = read_labels(trace)
    holder: list[Any] = []
    replay(trace, posture_hz=1.0, stroke_detector=_recording_factory(holder, None, keep_frames=True))
    det = holder[0]
    h = det.history
    ends = np.arange(h.start, h.end - 3, dtype=np.int64)
    base = np.full((ends.size, DURATIONS.shape[0]), -np.inf)
    own = np.full_like(base, -np.inf)
    with_s = np.zeros(base.shape, dtype=bool)
    for i in range(0, ends.size, 1000):
        batch = segment_features(h, ends[i : i + 1000])
        m = model
        base[i : i + 1000] = segment_logits(
            batch, m.treated, m.with_stroker, m.bias, m.bias_stroker, m.quiet_max, m.screen
        )
        sel = batch.ok
        if m.quiet_max is not None:
            q = m.quiet_max
            sel = sel & (batch.context[..., 0] <= q[0]) & (batch.context[..., 1] <= q[1])
        assert m.hand is not None
        own[i : i + 1000] = hand_logits(batch, m.hand, sel, None)
        if batch.hand_ok is not None:
            with_s[i : i + 1000] = batch.hand_ok & batch.stroker_ok
    return {
        "key": key,
        "stroker": "stroker" in labels["roles"],
        "t0": float(h.t_s[0]),
        "start": h.start,
        "frame_s": h.frame_s,
        "max_late": det.segmenter.max_late,
        "base": base,
        "own": own,
        "with_s": with_s,
        "true": np.array([[x["t_start"], x["t_end"]] for x in labels["strokes"]]).reshape(-1, 2),
    }


def counts(d: dict[str, Any], bias_hand: float, bias_all: float) -> np.ndarray:
    """(true, detected, matched) of one tune session under the hand priors."""
    return logit_counts(d, np.maximum(d["base"], d["own"] + np.where(d["with_s"], bias_all, bias_hand)))


def contact_rows(args: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Committed contacts with the hand's evidence, matched to the truth."""
    key, params = args
    recs, match, labels = matched_contacts(key, params)
    rows = []
    for i, r in enumerate(recs):
        t = match.get(i)
        if t is None or r.hand is None or r.hand_contact is None:
            continue
        s = labels["strokes"][t]
        rows.append(
            {
                "distal": s["direction"] == "distal",
                "region": s.get("region"),
                "stroker": r.stroker is not None,
                "x_dir": [float(v) for v in np.nan_to_num(np.concatenate((r.treated, r.hand)))],
                "x_region": [
                    float(v)
                    for v in np.nan_to_num(
                        np.concatenate((r.treated, [r.t_end_s - r.t_start_s], r.hand, r.hand_contact))
                    )
                ],
            }
        )
    return rows


def tune_priors(
    hand: dict[str, Any], params: dict[str, Any], tune: str, jobs: int, figures: dict[str, Any]
) -> None:
    """``bias_hand`` (sessions without ``stroker``) then ``bias_all`` (with it) by stroke F1 on ``tune``."""
    hand.update(bias_hand=0.0, bias_all=0.0)
    sessions = _pool_map(tune_logits, [(k, params) for k in parse_keys(tune)], jobs)
    zero = np.zeros(3)
    alone = [d for d in sessions if not d["stroker"]]
    withs = [d for d in sessions if d["stroker"]]
    f_h = {b: _f1(sum((counts(d, b, b) for d in alone), zero)) for b in GRID}
    hand["bias_hand"] = max(GRID, key=lambda b: f_h[b])
    f_a = {b: _f1(sum((counts(d, hand["bias_hand"], b) for d in withs), zero)) for b in GRID}
    hand["bias_all"] = max(GRID, key=lambda b: f_a[b]) if withs else hand["bias_hand"]
    print("tune F1 by hand prior: " + ", ".join(f"{b:+.1f}: {f:.3f}" for b, f in f_h.items()))
    print("tune F1 by all prior:  " + ", ".join(f"{b:+.1f}: {f:.3f}" for b, f in f_a.items()))
    figures["tune_f1_hand_by_bias"] = {f"{b:+.1f}": f for b, f in f_h.items()}
    figures["tune_f1_all_by_bias"] = {f"{b:+.1f}": f for b, f in f_a.items()}
    print(f"chosen priors: {hand['bias_hand']:+.1f}, {hand['bias_all']:+.1f}", flush=True)


def _base_found(params: dict[str, Any], x_t: np.ndarray, x_s: np.ndarray) -> np.ndarray:
    """Rows the base networks score above 0 (their priors included; the stroker's where its evidence
    is there)."""
    from coach.signal.strokes.mlp import Mlp

    z = Mlp.from_dict(params["treated"]).logit(x_t) + float(params.get("bias", 0.0))
    if params.get("with_stroker") and x_s.size:
        have = np.isfinite(x_s).all(1)
        zs = Mlp.from_dict(params["with_stroker"]).logit(np.concatenate((x_t, x_s), 1)[have])
        z[have] = zs + float(params.get("bias_stroker", 0.0))
    found: np.ndarray = z > 0.0
    return found


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.hand_training", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--train", required=True, help="training sessions with a hand sensor (session keys)")
    ap.add_argument("--tune", required=True, help="tune sessions for the priors")
    ap.add_argument(
        "--direction-train", default="", help="sessions for direction and regions (default: --train)"
    )
    ap.add_argument("--base", type=Path, default=MODEL_PATH, help="the model whose other parameters are kept")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--max-candidates", type=int, default=600000)
    ap.add_argument("--fidget-weight", type=float, default=3.0)
    ap.add_argument("--hidden", type=int, default=16, help="hidden units of the hand networks")
    ap.add_argument(
        "--residual",
        action="store_true",
        help="train the hand networks without the strokes the base networks already find",
    )
    ap.add_argument(
        "--tune-only", action="store_true", help="read --out back and tune its hand priors again (--tune)"
    )
    args = ap.parse_args(argv)
    if args.tune_only:
        params, prov = read_model(args.out)
        figures_: dict[str, Any] = {}
        tune_priors(params["hand"], params, args.tune, args.jobs, figures_)
        prov["hand"]["figures"].update(_plain(figures_))
        prov["hand"].update(
            tune_sessions=args.tune,
            priors_retuned={"command": shlex.join(["python", "-m", "benchmarks.hand_training", *argv])},
        )
        write_model(args.out, params, prov)
        print(f"wrote {args.out}", flush=True)
        return 0
    t0 = time.time()
    command = shlex.join(["python", "-m", "benchmarks.hand_training", *argv])
    keys = parse_keys(args.train)
    base_params, base_prov = read_model(args.base)
    figures: dict[str, Any] = {}
    paths = _pool_map(candidate_rows, keys, args.jobs)
    data = [np.load(p) for p in paths]
    data = [d for d in data if "x_hand" in d.files and d["x_hand"].size]
    print(
        f"candidate evidence of {len(data)} sessions with a hand sensor ({time.time() - t0:.0f} s)",
        flush=True,
    )
    x_t = np.concatenate([d["x_treated"] for d in data]).astype(np.float64)
    x_h = np.concatenate([d["x_hand"] for d in data]).astype(np.float64)
    n_s = max((d["x_stroker"].shape[1] for d in data if d["x_stroker"].size), default=0)
    x_s = np.concatenate(
        [d["x_stroker"] if d["x_stroker"].size else np.full((len(d["y"]), n_s), np.nan) for d in data]
    ).astype(np.float64)
    y_raw = np.concatenate([d["y"] for d in data]).astype(np.float64)
    y, use = labels_of(y_raw)
    w = 1.0 + (args.fidget_weight - 1.0) * y_raw[:, 3]
    use &= np.isfinite(x_h).all(1) & _thin(y, w, args.max_candidates)
    if args.residual:
        # The hand networks only add to the shipped ones (the larger log-odds wins): strokes those
        # already find (log-odds above 0 with their prior) teach the hand networks nothing.
        found = _base_found(base_params, x_t, x_s)
        figures["residual_strokes_dropped"] = int((use & found & (y > 0.5)).sum())
        use &= ~(found & (y > 0.5))
    hand: dict[str, Any] = {
        "with_hand": train_mlp(
            np.concatenate((x_t, x_h), 1)[use], y[use], weight=w[use], epochs=args.epochs, hidden=args.hidden
        )
    }
    figures.update(candidates_hand=int(use.sum()), candidate_strokes_hand=int(y[use].sum()))
    print(f"with-hand network: {int(use.sum())} candidates, {int(y[use].sum())} strokes", flush=True)
    use_a = use & np.isfinite(x_s).all(1) if n_s else np.zeros_like(use)
    hand["with_all"] = (
        train_mlp(
            np.concatenate((x_t, x_s, x_h), 1)[use_a],
            y[use_a],
            weight=w[use_a],
            epochs=args.epochs,
            hidden=args.hidden,
        )
        if use_a.sum() > 1000
        else None
    )
    figures["candidates_all"] = int(use_a.sum())
    print(f"with-all network: {int(use_a.sum())} candidates ({time.time() - t0:.0f} s)", flush=True)
    hand.update(bias_hand=0.0, bias_all=0.0)
    params = {**base_params, "hand": hand}
    tune_priors(hand, params, args.tune, args.jobs, figures)
    dkeys = parse_keys(args.direction_train) if args.direction_train else keys
    rows = [r for rs in _pool_map(contact_rows, [(k, params) for k in dkeys], args.jobs) for r in rs]
    xd = np.array([r["x_dir"] for r in rows])
    hand["direction"] = train_mlp(
        xd, np.array([float(r["distal"]) for r in rows]), hidden=12, epochs=60, batch=256, seed=1
    )
    reg_rows = [r for r in rows if r["region"] is not None]
    if len(reg_rows) >= 200:
        xr = np.array([r["x_region"] for r in reg_rows])
        hand["region"] = {
            reg: train_mlp(
                xr,
                np.array([float(r["region"] == reg) for r in reg_rows]),
                hidden=REGION_HIDDEN,
                epochs=40,
                batch=256,
                seed=30 + k,
            )
            for k, reg in enumerate(REGIONS)
        }
    figures.update(
        direction_rows_hand=len(rows),
        region_rows_hand=len(reg_rows),
        region_share={
            reg: sum(r["region"] == reg for r in reg_rows) / max(len(reg_rows), 1) for reg in REGIONS
        },
        cpu_s=round(_cpu_s(), 1),
    )
    print(f"direction rows {len(rows)}, region rows {len(reg_rows)} ({time.time() - t0:.0f} s)", flush=True)
    provenance = {
        **base_prov,
        "hand": {
            "command": command,
            "train_sessions": args.train,
            "tune_sessions": args.tune,
            "direction_sessions": args.direction_train or args.train,
            "base_model": repo_relative(args.base),
            "physics_digest": physics_digest(),
            "epochs": args.epochs,
            "max_candidates": args.max_candidates,
            "fidget_weight": args.fidget_weight,
            "hidden": args.hidden,
            "residual": args.residual,
            "date": dt.date.today().isoformat(),
            "commit": source_commit(),
            "figures": _plain(figures),
        },
    }
    write_model(args.out, {**base_params, "hand": hand}, provenance)
    print(f"wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
