"""Train the movement veto (``coach/signal/strokes/movement_veto.json``; docs/strokes.md).

    python -m benchmarks.veto_training [--train KEYS] [--tune KEYS] [--out FILE] [--jobs 2]

Every session (keys as in ``benchmarks/stroke_sessions.py``: ``fam:mix:41000-41099``, ``3000-3039``,
``nostroke3200-3219``, ``real:spsw_har/train``) is replayed through the real pipeline with the shipped
candidate networks and a recording detector (``record=True``, no veto): each committed contact gives
its situation (:data:`coach.signal.strokes.movement.CONTEXT_FEATURES`) and whether it matched a true
stroke (design.md §9 matching). A small network (24 ReLU units) learns the log-odds that a committed
contact is a true stroke. The veto drops a contact below a threshold, chosen on the tune sessions: the
highest one whose pooled stroke F1 on the tune sessions with massage is at least the F1 without the
veto, and no tune corpus with strokes loses more than :data:`MAX_CORPUS_F1_LOSS` of its F1 (so the
veto trades false strokes for nothing, not recall). The veto only
removes committed contacts, so the tune figures per threshold are computed from the recorded contacts
without replaying again (the benchmark replays to confirm).

Rows are cached per session under ``benchmarks/out/training/veto_*.npz`` (keyed by the simulator's and
the detector's source digests).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.corpus import OUT_DIR, load_truth, read_labels, replay
from benchmarks.scoring import match_strokes
from benchmarks.scoring_families import MOVEMENT_PAD_S
from benchmarks.stroke_fit import train_mlp
from benchmarks.stroke_sessions import _cache_name, parse_keys, session_trace
from benchmarks.stroke_training import _cpu_s, _plain, _pool_map, source_commit

CACHE = OUT_DIR / "training"
HIDDEN = 24
#: A corpus of the tune sessions may lose at most this much stroke F1 to the veto.
MAX_CORPUS_F1_LOSS = 0.005
#: Thresholds (log-odds) tried on the tune sessions.
GRID = tuple(round(x, 2) for x in np.arange(-6.0, 3.01, 0.25))

DEFAULT_TRAIN = (
    "fam:mix:41000-41059,fam:massage_free:36000-36039,fam:movement:34000-34019,3000-3029,"
    "nostroke3200-3229,real:spsw_har/train"
)
DEFAULT_TUNE = "fam:mix:40000-40029,fam:massage_free:16000-16014,fam:movement:14000-14009,1000-1019"


def _detector_digest() -> str:
    import coach.signal.strokes as pkg

    h = hashlib.sha256()
    for path in sorted(Path(pkg.__file__).parent.glob("*")):
        if path.suffix in (".py", ".json") and path.name != "movement_veto.json":
            h.update(path.read_bytes())
    return h.hexdigest()[:10]


def session_rows(key: str) -> Path:
    """The committed contacts of one session, their situation and their truth → a cached ``.npz``."""
    from coach.signal.strokes import DetectorModel, StrokeDetector
    from coach.signal.strokes.movement import CONTEXT_FEATURES
    from coach.signal.strokes.trained import read_model

    out = CACHE / f"veto_{_cache_name(key)}_{_detector_digest()}.npz"
    if out.exists():
        return out
    trace = session_trace(key)
    labels = read_labels(trace)
    truth = load_truth(trace, labels)
    params = {k: v for k, v in read_model()[0].items() if k != "movement_veto"}
    model = DetectorModel.from_dict(params)
    holder: list[Any] = []

    def factory(ctx: Any) -> Any:
        det = StrokeDetector(ctx, model=model, record=True)
        holder.append(det)
        return det

    replay(trace, posture_hz=1.0, stroke_detector=factory)
    recs = holder[0].records or []
    true = np.array([[s.t_start_s, s.t_end_s] for s in truth.strokes], dtype=np.float64).reshape(-1, 2)
    det = np.array([[r.t_start_s, r.t_end_s] for r in recs], dtype=np.float64).reshape(-1, 2)
    matched = np.zeros(len(recs), dtype=bool)
    for _, d in match_strokes(true, det):
        matched[d] = True
    mid = det.mean(axis=1) if len(recs) else np.empty(0)
    in_move = np.zeros(len(recs), dtype=bool)
    for _, a, b in truth.movements:
        in_move |= (mid >= a - MOVEMENT_PAD_S) & (mid <= b + MOVEMENT_PAD_S)
    move_s = sum(
        max(0.0, min(b, truth.active_to_s) - max(a, truth.active_from_s)) for _, a, b in truth.movements
    )
    x = np.array([r.context for r in recs], dtype=np.float64).reshape(len(recs), len(CONTEXT_FEATURES))
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp,
        x=x,
        matched=matched,
        in_move=in_move & ~matched,
        det=det,
        n_true=len(truth.strokes),
        active_min=max(0.0, truth.active_to_s - truth.active_from_s) / 60.0,
        move_min=move_s / 60.0,
        massage_free=bool(truth.massage_free or not truth.strokes),
    )
    tmp.replace(out)
    return out


def _load(path: Path) -> dict[str, Any]:
    with np.load(path) as d:
        return {k: d[k] for k in d.files}


def figures_at(sessions: list[dict[str, Any]], least: float | None, z: list[np.ndarray]) -> dict[str, float]:
    """Pooled F1 (sessions with massage), false strokes per minute (massage-free sessions; ordinary
    movement) when contacts below ``least`` are dropped (None: no veto)."""
    n_true = n_det = n_match = 0
    mf_det = 0
    mf_min = mv_false = mv_min = 0.0
    for s, zs in zip(sessions, z, strict=True):
        keep = np.ones(len(zs), dtype=bool) if least is None else zs >= least
        mv_false += float((s["in_move"] & keep).sum())
        mv_min += float(s["move_min"])
        if s["massage_free"]:
            mf_det += int(keep.sum())
            mf_min += float(s["active_min"])
        else:
            n_true += int(s["n_true"])
            n_det += int(keep.sum())
            n_match += int((s["matched"] & keep).sum())
    return {
        "f1": 2 * n_match / max(n_true + n_det, 1),
        "recall": n_match / max(n_true, 1),
        "precision": n_match / max(n_det, 1),
        "massage_free_per_min": mf_det / max(mf_min, 1e-9),
        "movement_per_min": mv_false / max(mv_min, 1e-9),
    }


def main(argv: list[str]) -> int:
    from coach.signal.strokes.mlp import Mlp
    from coach.signal.strokes.movement import CONTEXT_FEATURES, VETO_SOURCE_PATH, write_veto

    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.veto_training", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--train", default=DEFAULT_TRAIN, help="training sessions (stroke_sessions keys)")
    ap.add_argument("--tune", default=DEFAULT_TUNE, help="tune sessions for the threshold")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--movement-weight", type=float, default=2.0, help="weight of false contacts in movement")
    ap.add_argument("--f1-slack", type=float, default=0.0, help="tune F1 may fall this far below no veto")
    ap.add_argument("--out", type=Path, default=VETO_SOURCE_PATH)
    args = ap.parse_args(argv)
    t0 = time.time()
    command = shlex.join(["python", "-m", "benchmarks.veto_training", *argv])
    train_keys, tune_keys = parse_keys(args.train), parse_keys(args.tune)
    print(f"sessions: {len(train_keys)} train, {len(tune_keys)} tune", flush=True)
    train = [_load(p) for p in _pool_map(session_rows, train_keys, args.jobs)]
    print(f"training contacts ready ({time.time() - t0:.0f} s)", flush=True)
    tune = [_load(p) for p in _pool_map(session_rows, tune_keys, args.jobs)]
    corpus_of = [part for part in args.tune.split(",") for _ in parse_keys(part)]
    print(f"tune contacts ready ({time.time() - t0:.0f} s)", flush=True)
    x = np.concatenate([s["x"] for s in train if len(s["x"])])
    y = np.concatenate([s["matched"] for s in train]).astype(np.float64)
    mv = np.concatenate([s["in_move"] for s in train])
    w = np.where(mv, args.movement_weight, 1.0)
    print(
        f"training rows: {len(y)} committed contacts, {int(y.sum())} true strokes, "
        f"{int(mv.sum())} in movement"
    )
    net = train_mlp(x, y, weight=w, hidden=HIDDEN, epochs=args.epochs, batch=512, seed=3)
    lo, hi = np.percentile(x, 0.1, axis=0), np.percentile(x, 99.9, axis=0)
    net["clip_lo"], net["clip_hi"] = lo.tolist(), hi.tolist()
    mlp = Mlp.from_dict(net)
    z = [mlp.logit(s["x"]) if len(s["x"]) else np.empty(0) for s in tune]
    base = figures_at(tune, None, z)
    rows = {thr: figures_at(tune, thr, z) for thr in GRID}
    print(
        f"tune, no veto: F1 {base['f1']:.4f} (P {base['precision']:.3f} R {base['recall']:.3f}), "
        f"false/min massage-free {base['massage_free_per_min']:.2f}, "
        f"in movement {base['movement_per_min']:.2f}"
    )
    for thr, f in rows.items():
        print(
            f"  least {thr:+.2f}: F1 {f['f1']:.4f} (P {f['precision']:.3f} R {f['recall']:.3f}), "
            f"massage-free {f['massage_free_per_min']:.2f}/min, movement {f['movement_per_min']:.2f}/min"
        )
    corpora: dict[str, tuple[list[dict[str, Any]], list[np.ndarray]]] = {}
    for part, sess, zs in zip(corpus_of, tune, z, strict=True):
        if not sess["massage_free"]:
            corpora.setdefault(part, ([], []))[0].append(sess)
            corpora[part][1].append(zs)
    corpus_base = {part: figures_at(ss, None, zs)["f1"] for part, (ss, zs) in corpora.items()}

    def corpora_ok(thr: float) -> bool:
        return all(
            figures_at(ss, thr, zs)["f1"] >= corpus_base[part] - MAX_CORPUS_F1_LOSS
            for part, (ss, zs) in corpora.items()
        )

    ok = [thr for thr, f in rows.items() if f["f1"] >= base["f1"] - args.f1_slack and corpora_ok(thr)]
    least = max(ok) if ok else min(GRID)
    print(f"chosen threshold {least:+.2f} ({time.time() - t0:.0f} s)", flush=True)
    z_train = mlp.logit(x)
    parameters = {"features": list(CONTEXT_FEATURES), "net": net, "least": float(least)}
    provenance = {
        "command": command,
        "train_sessions": args.train,
        "tune_sessions": args.tune,
        "base_model": "coach/signal/strokes/model.json (the shipped candidate networks, no veto)",
        "date": dt.date.today().isoformat(),
        "commit": source_commit(),
        "seed": 3,
        "figures": _plain(
            {
                "train_rows": len(y),
                "train_true": int(y.sum()),
                "train_in_movement": int(mv.sum()),
                "train_kept_true_share": float(np.mean(z_train[y > 0.5] >= least)),
                "train_kept_false_share": float(np.mean(z_train[y < 0.5] >= least)),
                "tune_no_veto": base,
                "tune_by_threshold": {f"{k:+.2f}": v for k, v in rows.items()},
                "movement_weight": args.movement_weight,
                "f1_slack": args.f1_slack,
                "max_corpus_f1_loss": MAX_CORPUS_F1_LOSS,
                "tune_corpus_f1_no_veto": corpus_base,
                "tune_corpus_f1_chosen": {
                    part: figures_at(ss, least, zs)["f1"] for part, (ss, zs) in corpora.items()
                },
                "hidden": HIDDEN,
                "epochs": args.epochs,
                "cpu_s": round(_cpu_s(), 1),
            }
        ),
    }
    write_veto(args.out, parameters, provenance)
    print(f"wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
