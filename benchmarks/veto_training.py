"""Train the movement veto (``coach/signal/strokes/movement_veto.json``; docs/strokes.md).

    COACH_BROAD_DIR=DIR python -m benchmarks.veto_training [--train KEYS] [--tune KEYS] [--out FILE]

Every session (keys as in ``benchmarks/stroke_sessions.py``: ``fam:mix:41000-41099``, ``3000-3039``,
``nostroke3200-3219``, ``real:spsw_har/train``; and ``broad:05+07`` for BROAD trials without massage,
read from ``$COACH_BROAD_DIR`` as written by ``benchmarks.broad_convert``) is replayed through the
real pipeline with the shipped candidate networks and a recording detector (``record=True``, no veto):
each committed contact gives the window of frames the veto reads
(:class:`coach.signal.strokes.movement.ContactWindow`) and whether it matched a true stroke (design.md
§9 matching). The features (:data:`coach.signal.strokes.movement.CONTEXT_FEATURES`) are computed from
the windows when the rows are loaded, so a change of features needs no replay. A small network (24 ReLU
units) learns the log-odds that a committed contact is a true stroke; the *massage envelope*
(:func:`massage_envelope`) takes log-odds off contacts outside the range that true strokes span,
whatever movement the network was shown. The veto drops a contact below a threshold, chosen on the tune
sessions: the highest one whose pooled stroke F1 on the tune sessions with massage is at least the F1
without the veto, and no tune corpus with strokes loses more than :data:`MAX_CORPUS_F1_LOSS` of its F1
(so the veto trades false strokes for nothing, not recall). The veto only removes committed contacts,
so the tune figures per threshold are computed from the recorded contacts without replaying again (the
benchmark replays to confirm).

Rows are cached per session under ``benchmarks/out/training/veto_*.npz`` (keyed by the simulator's and
the candidate detector's source digests and the window the veto reads).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.corpus import OUT_DIR, load_truth, read_labels, replay
from benchmarks.scoring import match_strokes
from benchmarks.scoring_families import MOVEMENT_PAD_S
from benchmarks.stroke_fit import train_mlp
from benchmarks.stroke_sessions import _cache_name, parse_keys, session_trace
from benchmarks.stroke_training import _cpu_s, _plain, _pool_map, source_commit
from coach.signal.strokes.movement import WINDOW_COLUMNS

CACHE = OUT_DIR / "training"
HIDDEN = 24
#: A corpus of the tune sessions may lose at most this much stroke F1 to the veto.
MAX_CORPUS_F1_LOSS = 0.005
#: Thresholds (log-odds) tried on the tune sessions.
GRID = tuple(round(x, 2) for x in np.arange(-6.0, 3.01, 0.25))

DEFAULT_TRAIN = (
    "fam:mix:41000-41059,fam:massage_free:36000-36039,fam:movement:34000-34019,3000-3029,"
    "nostroke3200-3229,real:spsw_har/train,broad:05+07+09+11+14+24+30"
)
DEFAULT_TUNE = "fam:mix:40000-40029,fam:massage_free:16000-16014,fam:movement:14000-14009,1000-1019"


def _detector_digest() -> str:
    """The candidate detector's sources and what the veto's windows hold (not the veto's own code and
    file: the rows keep each contact's window and the features are computed from it when loaded)."""
    import coach.signal.strokes as pkg
    from coach.signal.strokes.movement import BEFORE_FRAMES, WINDOW_COLUMNS

    own = ("movement_veto.json", "movement.py", "veto_tails.py", "veto_kinematics.py")
    h = hashlib.sha256()
    for path in sorted(Path(pkg.__file__).parent.glob("*")):
        if path.suffix in (".py", ".json") and path.name not in own:
            h.update(path.read_bytes())
    h.update(repr((BEFORE_FRAMES, WINDOW_COLUMNS)).encode())
    return h.hexdigest()[:10]


def _broad_trace(key: str) -> Path:
    """``broad:NN``: BROAD trial NN (``$COACH_BROAD_DIR``, written by ``benchmarks.broad_convert``) as
    a labelled trace without massage (the board's ``movement`` phases as ordinary movement)."""
    import json

    from benchmarks.bench_accuracy import _broad_trace as write_broad
    from benchmarks.real_data import broad_dir

    trial = key.split(":", 1)[1]
    found = sorted(broad_dir().glob(f"{trial}_*.npz"))
    if not found:
        raise SystemExit(f"no BROAD trial {trial} in {broad_dir()} (set COACH_BROAD_DIR)")
    out = CACHE / "broad" / f"{found[0].stem}.csv"
    labels = out.with_name(found[0].stem + ".labels.json")
    if out.exists() and labels.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    write_broad(found[0], out)
    with np.load(found[0]) as z:
        t, moving = np.asarray(z["t"]), np.asarray(z["movement"], dtype=bool)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], moving.astype(np.int8), [0]))))
    spans = [
        (float(t[i]), float(t[min(j, len(t) - 1)])) for i, j in zip(edges[::2], edges[1::2], strict=True)
    ]
    doc = {
        "format": "coach-real-labels",
        "version": 1,
        "source": f"BROAD {found[0].name} (CC BY 4.0; tests/data/README.md)",
        "roles": ["treated"],
        "duration_s": float(t[-1]),
        "active": [0.0, float(t[-1])],
        "massage_free": True,
        "strokes": [],
        "movements": [{"kind": "handheld", "t_start": a, "t_end": b, "role": "treated"} for a, b in spans],
    }
    labels.write_text(json.dumps(doc), encoding="utf-8")
    return out


def _trace(key: str) -> Path:
    return _broad_trace(key) if key.startswith("broad:") else session_trace(key)


def _keys(text: str) -> list[str]:
    """:func:`benchmarks.stroke_sessions.parse_keys` plus ``broad:05+07+24`` (BROAD trials)."""
    out: list[str] = []
    for part in text.split(","):
        if part.startswith("broad:"):
            out.extend(f"broad:{t}" for t in part[6:].split("+"))
        elif part:
            out.extend(parse_keys(part))
    return out


def session_rows(key: str) -> Path:
    """The committed contacts of one session, their situation and their truth → a cached ``.npz``."""
    from coach.signal.strokes import DetectorModel, StrokeDetector
    from coach.signal.strokes.direction import TREATED_DIRECTION_FEATURES
    from coach.signal.strokes.trained import read_model

    name = key.replace(":", "_") if key.startswith("broad:") else _cache_name(key)
    out = CACHE / f"veto_{name}_{_detector_digest()}.npz"
    if out.exists():
        return out
    trace = _trace(key)
    labels = read_labels(trace)
    truth = load_truth(trace, labels)
    params = {k: v for k, v in read_model()[0].items() if k != "movement_veto"}
    model = DetectorModel.from_dict(params)
    holder: list[Any] = []

    def factory(ctx: Any) -> Any:
        det = StrokeDetector(ctx, model=model, record=True)
        det.contacts.windows = []
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
    windows = holder[0].contacts.windows or []
    n_drag = len(TREATED_DIRECTION_FEATURES)
    assert len(windows) == len(recs)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    cols: dict[str, Any] = {}
    for k in WINDOW_COLUMNS:
        parts = [w.cols.get(k, np.full(w.cols["gm"].shape[0], np.nan)) for w in windows]
        cols[f"w_{k}"] = np.concatenate(parts).astype(np.float32) if parts else np.empty(0, np.float32)
    np.savez_compressed(
        tmp,
        **cols,
        w_len=np.array([w.cols["gm"].shape[0] for w in windows], dtype=np.int64),
        w_ab=np.array([[w.a, w.b] for w in windows], dtype=np.int64).reshape(-1, 2),
        w_t_a=np.array([w.t_a_s for w in windows], dtype=np.float64),
        w_frame_s=np.array([w.frame_s for w in windows], dtype=np.float64),
        w_has_s=np.array([w.has_stroker for w in windows], dtype=bool),
        w_logit=np.array([w.logit for w in windows], dtype=np.float64),
        w_drag=np.array([w.drag for w in windows], dtype=np.float64).reshape(len(windows), n_drag),
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
    """A session's rows, with the features of the veto's current code computed from the windows (a
    fresh :class:`~coach.signal.strokes.movement.ContactContext` over the contacts in order, as in a
    replay)."""
    from coach.signal.strokes.movement import CONTEXT_FEATURES, ContactContext, ContactWindow

    with np.load(path) as d:
        s = {k: d[k] for k in d.files}
    ends = np.cumsum(s["w_len"])
    ctx = ContactContext()
    rows = []
    for i, (n, (a, b)) in enumerate(zip(s["w_len"], s["w_ab"], strict=True)):
        lo = int(ends[i] - n)
        cols = {k: s[f"w_{k}"][lo : lo + n].astype(np.float64) for k in WINDOW_COLUMNS}
        if not s["w_has_s"][i]:
            cols = {k: v for k, v in cols.items() if not k.startswith("s_")}
        w = ContactWindow(
            cols,
            int(a),
            int(b),
            float(s["w_t_a"][i]),
            float(s["w_frame_s"][i]),
            bool(s["w_has_s"][i]),
            float(s["w_logit"][i]),
            s["w_drag"][i],
        )
        rows.append(ctx.window_features(w))
    s["x"] = np.array(rows, dtype=np.float64).reshape(len(rows), len(CONTEXT_FEATURES))
    return s


def kept_at(sessions: list[dict[str, Any]], veto: Any | None) -> list[np.ndarray]:
    """Which committed contacts of each session ``veto`` (a
    :class:`~coach.signal.strokes.movement.MovementVeto`; None: no veto) reports, in order, with the
    rhythm of the strokes it reported before each (:meth:`MovementVeto.decide`)."""
    if veto is None:
        return [np.ones(len(s["x"]), dtype=bool) for s in sessions]
    return [veto.decide(s["x"], s["det"])[0] for s in sessions]


def figures_at(sessions: list[dict[str, Any]], kept: list[np.ndarray]) -> dict[str, float]:
    """Pooled F1 (sessions with massage), false strokes per minute (massage-free sessions; ordinary
    movement) when only the contacts ``kept`` (:func:`kept_at`) are reported."""
    n_true = n_det = n_match = 0
    mf_det = 0
    mf_min = mv_false = mv_min = 0.0
    for s, keep in zip(sessions, kept, strict=True):
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


#: Features that say how sure the detector is or how much was seen, not what the movement is: never
#: in the massage envelope.
NOT_ENVELOPE = (
    "logit",
    "bout_mean_logit",
    "has_stroker",
    "valid_share_long",
    "bout_contacts",
    "since_last_contact_s",
)


def massage_envelope(
    x_true: np.ndarray, tune: list[dict[str, Any]], quantile: float, max_outside: float
) -> dict[str, Any]:
    """What massage is, in numbers: the range the training sessions' true strokes span on each
    feature (``quantile`` % cut on each side) and its spread (the interquartile range); kept only for
    features on which the tune sessions' true strokes fall outside it at most ``max_outside`` of the
    time (a feature whose range does not carry over from one set of sessions to another says
    nothing general about massage). Chosen without looking at any movement."""
    from coach.signal.strokes.movement import CONTEXT_FEATURES

    lo, hi = np.percentile(x_true, quantile, axis=0), np.percentile(x_true, 100 - quantile, axis=0)
    q1, q3 = np.percentile(x_true, 25, axis=0), np.percentile(x_true, 75, axis=0)
    scale = np.maximum(q3 - q1, 1e-3)
    xt = [s["x"][s["matched"]] for s in tune if len(s["x"])]
    tune_true = np.concatenate(xt) if xt else np.empty((0, len(CONTEXT_FEATURES)))
    share = ((tune_true < lo) | (tune_true > hi)).mean(axis=0) if len(tune_true) else np.ones(len(lo))
    idx = [j for j, f in enumerate(CONTEXT_FEATURES) if f not in NOT_ENVELOPE and share[j] <= max_outside]
    return {
        "features": [CONTEXT_FEATURES[j] for j in idx],
        "lo": [float(lo[j]) for j in idx],
        "hi": [float(hi[j]) for j in idx],
        "scale": [float(scale[j]) for j in idx],
        "tune_true_outside_share": [float(share[j]) for j in idx],
    }


def massage_tails(
    x_true: np.ndarray,
    tune: list[dict[str, Any]],
    envelope: dict[str, Any],
    levels: list[float],
    free_share: float,
    weight: float,
    beyond: float | None = None,
) -> dict[str, Any]:
    """The envelope taken jointly (:class:`coach.signal.strokes.movement.Tails`): on each envelope
    feature, the values that the shares ``levels`` of the training sessions' true strokes lie beyond
    (each side), and ``free``: the summed tail score that only ``free_share`` of the tune sessions'
    true strokes exceed (``beyond``: :attr:`Tails.beyond`). Chosen from true strokes alone, without
    looking at any movement."""
    from coach.signal.strokes.movement import CONTEXT_FEATURES, Tails

    idx = [CONTEXT_FEATURES.index(f) for f in envelope["features"]]
    pct = np.array(levels) * 100.0
    lo = np.percentile(x_true[:, idx], pct, axis=0).T
    hi = np.percentile(x_true[:, idx], 100.0 - pct, axis=0).T
    probe = Tails(np.array(levels), lo, hi, 0.0, 1.0, beyond)
    xt = [s["x"][s["matched"]] for s in tune if len(s["x"])]
    tune_true = np.concatenate(xt) if xt else np.empty((0, len(CONTEXT_FEATURES)))
    nats = np.array([probe.nats(r[idx]) for r in tune_true])
    free = float(np.quantile(nats, 1.0 - free_share)) if len(nats) else 0.0
    return {
        "levels": [float(v) for v in levels],
        "lo": lo.tolist(),
        "hi": hi.tolist(),
        "free": free,
        "weight": weight,
        "free_share": free_share,
        **({} if beyond is None else {"beyond": beyond}),
        "tune_true_nats_quantiles": {f"{q:g}": float(np.quantile(nats, q)) for q in (0.5, 0.9, 0.99, 0.999)}
        if len(nats)
        else {},
    }


def main(argv: list[str]) -> int:
    from coach.signal.strokes.movement import (
        CONTEXT_FEATURES,
        VETO_SOURCE_PATH,
        MovementVeto,
        write_veto,
    )

    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.veto_training", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--train", default=DEFAULT_TRAIN, help="training sessions (stroke_sessions keys)")
    ap.add_argument("--tune", default=DEFAULT_TUNE, help="tune sessions for the threshold")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--movement-weight", type=float, default=2.0, help="weight of false contacts in movement")
    ap.add_argument("--f1-slack", type=float, default=0.0, help="tune F1 may fall this far below no veto")
    ap.add_argument(
        "--envelope-quantile",
        type=float,
        default=0.2,
        help="envelope: percentile of true strokes (each side)",
    )
    ap.add_argument(
        "--envelope-max-outside",
        type=float,
        default=0.01,
        help="envelope: only features whose tune true strokes fall outside it at most this often",
    )
    ap.add_argument("--envelope-weight", type=float, default=1.0, help="log-odds lost per scale outside")
    ap.add_argument(
        "--from",
        dest="from_file",
        type=Path,
        default=None,
        help="keep this veto file's network and envelope range (no training); choose the rest again",
    )
    ap.add_argument(
        "--rhythm",
        default="",
        help="CONTACTS,RATIO,GAP_CV,WEIGHT,LEAST[,ALONG_SHARE]: contacts that continue an established "
        "rhythm of reported strokes are judged with this envelope weight and threshold (movement.Rhythm); "
        "ALONG_SHARE (0-1): only in a bout whose along-forearm share reaches the one that all but this "
        "share of the tune sessions' true strokes reach",
    )
    ap.add_argument(
        "--least",
        type=float,
        default=None,
        help="this threshold instead of the one the tune rule chooses (the tune table is still printed)",
    )
    ap.add_argument(
        "--tail-levels",
        default="",
        help="LEVEL,...: take the envelope jointly (movement.Tails) with these tail shares of the "
        "training sessions' true strokes, largest first (e.g. 0.01,0.005,0.002,0.001,0.0005)",
    )
    ap.add_argument(
        "--tail-free-share",
        type=float,
        default=0.01,
        help="tails: the summed score this share of the tune sessions' true strokes exceed is free",
    )
    ap.add_argument("--tail-weight", type=float, default=1.0, help="tails: log-odds lost per nat beyond free")
    ap.add_argument(
        "--tail-beyond",
        type=float,
        default=None,
        help="tails: at most this many nats per feature, the tail extrapolated beyond the last level "
        "(movement.Tails.beyond; default: the last level's score)",
    )
    ap.add_argument("--out", type=Path, default=VETO_SOURCE_PATH)
    args = ap.parse_args(argv)
    t0 = time.time()
    command = shlex.join(["python", "-m", "benchmarks.veto_training", *argv])
    train_keys, tune_keys = _keys(args.train), _keys(args.tune)
    if args.from_file is not None and args.train == DEFAULT_TRAIN:
        train_keys = []  # the network is not trained again: its training sessions are in --from's file
    print(f"sessions: {len(train_keys)} train, {len(tune_keys)} tune", flush=True)
    train = [_load(p) for p in _pool_map(session_rows, train_keys, args.jobs)]
    print(f"training contacts ready ({time.time() - t0:.0f} s)", flush=True)
    tune = [_load(p) for p in _pool_map(session_rows, tune_keys, args.jobs)]
    corpus_of = [part for part in args.tune.split(",") for _ in _keys(part)]
    print(f"tune contacts ready ({time.time() - t0:.0f} s)", flush=True)
    if not train and args.from_file is None:
        raise SystemExit("no training sessions (an empty --train needs --from)")
    n_f = len(CONTEXT_FEATURES)
    x = np.concatenate([np.empty((0, n_f))] + [s["x"] for s in train if len(s["x"])])
    y = np.concatenate([np.empty(0, dtype=bool)] + [s["matched"] for s in train]).astype(np.float64)
    mv = np.concatenate([np.empty(0, dtype=bool)] + [s["in_move"] for s in train])
    w = np.where(mv, args.movement_weight, 1.0)
    print(
        f"training rows: {len(y)} committed contacts, {int(y.sum())} true strokes, "
        f"{int(mv.sum())} in movement"
    )
    from_provenance: dict[str, Any] = {}
    if args.from_file is not None:
        from coach.signal.strokes.movement import read_veto

        known, from_provenance = read_veto(args.from_file)
        net = known["net"]
        envelope = {k: v for k, v in known["envelope"].items() if k != "weight"}
        print(f"network and envelope range from {args.from_file} (not trained again)")
    else:
        net = train_mlp(x, y, weight=w, hidden=HIDDEN, epochs=args.epochs, batch=512, seed=3)
        lo, hi = np.percentile(x, 0.1, axis=0), np.percentile(x, 99.9, axis=0)
        net["clip_lo"], net["clip_hi"] = lo.tolist(), hi.tolist()
        envelope = massage_envelope(x[y > 0.5], tune, args.envelope_quantile, args.envelope_max_outside)
    envelope["weight"] = args.envelope_weight
    envelope.pop("tails", None)
    if args.tail_levels:
        if not len(y):
            raise SystemExit("--tail-levels needs the training sessions' rows (give --train)")
        levels = [float(v) for v in args.tail_levels.split(",")]
        envelope["tails"] = massage_tails(
            x[y > 0.5], tune, envelope, levels, args.tail_free_share, args.tail_weight, args.tail_beyond
        )
        print(
            f"tails: free {envelope['tails']['free']:.2f} nats; tune true strokes "
            f"{envelope['tails']['tune_true_nats_quantiles']}"
        )
    parameters: dict[str, Any] = {
        "features": list(CONTEXT_FEATURES[: len(net["mean"])]),
        "net": net,
        "least": 0.0,
        "envelope": envelope,
    }
    if args.rhythm:
        n_c, ratio, gap_cv, r_weight, r_least, *along = (float(v) for v in args.rhythm.split(","))
        parameters["rhythm"] = {
            "contacts": int(n_c),
            "ratio": ratio,
            "gap_cv": gap_cv,
            "weight": r_weight,
            "least": r_least,
        }
        if along:
            j = CONTEXT_FEATURES.index("bout_along_share")
            xt = [s["x"][s["matched"], j] for s in tune if len(s["x"])]
            parameters["rhythm"]["along_min"] = float(np.quantile(np.concatenate(xt), along[0]))
            parameters["rhythm"]["along_share_of_tune_true_below"] = along[0]
    veto = MovementVeto.from_dict(parameters)
    print(f"envelope: {len(envelope['features'])} features: {', '.join(envelope['features'])}")

    def at(thr: float) -> MovementVeto:
        return replace(veto, least=thr)

    kept = {thr: kept_at(tune, at(thr)) for thr in GRID}
    base = figures_at(tune, kept_at(tune, None))
    rows = {thr: figures_at(tune, kept[thr]) for thr in GRID}
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
    corpora: dict[str, list[int]] = {}
    for i, (part, sess) in enumerate(zip(corpus_of, tune, strict=True)):
        if not sess["massage_free"]:
            corpora.setdefault(part, []).append(i)

    def corpus_f1(part: str, thr: float | None) -> float:
        ss = [tune[i] for i in corpora[part]]
        ks = kept_at(ss, None) if thr is None else [kept[thr][i] for i in corpora[part]]
        return figures_at(ss, ks)["f1"]

    corpus_base = {part: corpus_f1(part, None) for part in corpora}

    def corpora_ok(thr: float) -> bool:
        return all(corpus_f1(part, thr) >= corpus_base[part] - MAX_CORPUS_F1_LOSS for part in corpora)

    ok = [thr for thr, f in rows.items() if f["f1"] >= base["f1"] - args.f1_slack and corpora_ok(thr)]
    least = max(ok) if ok else min(GRID)
    if args.least is not None:
        print(f"the tune rule would choose {least:+.2f}; --least {args.least:+.2f} instead")
        least = args.least
        kept.setdefault(least, kept_at(tune, at(least)))
    print(f"chosen threshold {least:+.2f} ({time.time() - t0:.0f} s)", flush=True)
    parameters["least"] = float(least)
    chosen = MovementVeto.from_dict(parameters)
    kept_train = np.concatenate([np.empty(0, dtype=bool)] + [kept_at([s], chosen)[0] for s in train])
    provenance = {
        "command": command,
        "train_sessions": args.train if args.from_file is None else from_provenance["train_sessions"],
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
                "train_kept_true_share": float(np.mean(kept_train[y > 0.5])) if len(y) else None,
                "train_kept_false_share": float(np.mean(kept_train[y < 0.5])) if len(y) else None,
                "tune_no_veto": base,
                "tune_by_threshold": {f"{k:+.2f}": v for k, v in rows.items()},
                "movement_weight": args.movement_weight,
                "f1_slack": args.f1_slack,
                "max_corpus_f1_loss": MAX_CORPUS_F1_LOSS,
                "tune_corpus_f1_no_veto": corpus_base,
                "tune_corpus_f1_chosen": {part: corpus_f1(part, least) for part in corpora},
                "network_from": None
                if args.from_file is None
                else {"file": args.from_file.as_posix(), "command": from_provenance["command"]},
                "rhythm": parameters.get("rhythm"),
                "tails_reference_sessions": args.train if args.tail_levels else None,
                "envelope_quantile": args.envelope_quantile,
                "envelope_max_outside": args.envelope_max_outside,
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
