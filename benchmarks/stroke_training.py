"""Train the stroke detector's small models and write ``coach/signal/strokes/model.json``.

    python -m benchmarks.stroke_training [--train 3000-3159] [--jobs 2] [--direction-only]

Training sessions are simulated with the simulator's public API (seeds 3000–3159 by default; the
accuracy benchmark tunes on 1000–1039 and reports on 2000–2039, so none of them is trained on). Each
session is replayed through the real pipeline with a recording detector (:class:`StrokeDetector` with
``model=None``), so the evidence the models learn from is computed by exactly the code that runs live.

1. Candidate contacts: every ``[a, b)`` of the detector's frames, labelled by overlap (IoU) with the
   true contacts (:func:`labels_of`). Two networks (16 ReLU units)
   learn the log-odds: one from ``treated`` evidence, one with the ``stroker`` evidence added.
2. Direction: the sessions are replayed again with those networks; every committed contact matched to a
   true stroke gives a row of direction evidence; two small networks (12 ReLU units) learn P(distal).
3. Calibration: P(stroke) = sigmoid(a · log-odds + b) fitted on committed contacts (matched or not).

The model file holds the parameters and their provenance (:mod:`coach.signal.strokes.trained`): the
command, the sessions and seeds, the date, the git commit it ran on, and the figures printed on the way.
``--direction-only`` reads the shipped parameters and provenance back from the file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import resource
import shlex
import subprocess
import sys
import time
from collections.abc import Iterable
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.corpus import OUT_DIR, read_labels, replay
from benchmarks.family_corpus import physics_digest
from benchmarks.scoring import match_strokes
from benchmarks.stroke_fit import fit_logistic, fit_region, train_mlp
from benchmarks.stroke_sessions import (
    _cache_name,
    _negative_intervals,
    _session,
    parse_keys,
    return_intervals,
    session_trace,
)
from coach.signal.strokes.trained import SOURCE_PATH as MODEL_PATH
from coach.signal.strokes.trained import read_model, write_model

REPO = Path(__file__).resolve().parents[1]
CACHE = OUT_DIR / "training"
POS_IOU, NEG_IOU = 0.6, 0.3
NEG_PER_POS = 4
MAX_POS_PER_CHUNK = 800
DIRECTION_HIDDEN = 12
#: Weight of candidates inside a fidget: docs/design.md §6 insists they must not count, and they are rare.
FIDGET_WEIGHT = 3.0


# --------------------------------------------------------------------------------------------------
# 1. candidate evidence


def _recording_factory(holder: list[Any], model: Any, **kw: Any) -> Any:
    from coach.signal.strokes import StrokeDetector

    def factory(ctx: Any) -> Any:
        det = StrokeDetector(ctx, model=model, **kw)
        holder.append(det)
        return det

    return factory


def candidate_rows(key: str, returns: bool = False) -> Path:
    """Sampled candidate evidence of one training session → ``out/training/cand_<key>.npz``; ``returns``:
    candidates lying mostly (half their length) inside a return between strokes
    (:func:`~benchmarks.stroke_sessions.return_intervals`) are flagged and sampled as fidgets are
    (``out/training/candret_<key>.npz``)."""
    from coach.signal.strokes.segments import DURATIONS, segment_features

    out = CACHE / f"{'candret' if returns else 'cand'}_{_cache_name(key)}.npz"
    if out.exists():
        return out
    seed, variant = _session(key)
    trace = session_trace(key)
    labels = read_labels(trace)
    holder: list[Any] = []
    replay(trace, posture_hz=1.0, stroke_detector=_recording_factory(holder, None, keep_frames=True))
    h = holder[0].history
    n = int(h.t_s.shape[0])
    true = np.array([[s["t_start"], s["t_end"]] for s in labels["strokes"]], dtype=np.float64).reshape(-1, 2)
    rng = np.random.default_rng(seed + (7 if variant else 0))
    xs_t, xs_s, xs_h, ys, ctx = [], [], [], [], []
    t0, fs = float(h.t_s[0]), h.frame_s
    for lo in range(h.start, h.end, 1000):
        ends = np.arange(lo, min(lo + 1000, h.end - 3), dtype=np.int64)
        if ends.size == 0:
            continue
        batch = segment_features(h, ends)
        ta = t0 + (ends[:, None] - DURATIONS[None, :] - h.start) * fs
        tb = t0 + (ends[:, None] - h.start) * fs * np.ones((1, DURATIONS.shape[0]))
        iou = np.zeros(ta.shape)
        da = np.full(ta.shape, np.nan)
        db = np.full(ta.shape, np.nan)
        near = (true[:, 1] > ta.min() - 1) & (true[:, 0] < tb.max() + 1)
        for s0, s1 in true[near]:
            inter = np.clip(np.minimum(tb, s1) - np.maximum(ta, s0), 0.0, None)
            union = np.maximum(tb, s1) - np.minimum(ta, s0)
            this = inter / union
            better = this > iou
            iou = np.where(better, this, iou)
            da = np.where(better, ta - s0, da)
            db = np.where(better, tb - s1, db)
        ok = batch.ok
        close = np.flatnonzero((ok & (iou >= NEG_IOU)).ravel())
        if len(close) > MAX_POS_PER_CHUNK:
            close = rng.choice(close, MAX_POS_PER_CHUNK, replace=False)
        hard = np.flatnonzero((ok & (iou >= 0.05) & (iou < NEG_IOU)).ravel())
        # candidates away from any stroke but with motion in them (fidgets, posture changes, returns)
        xt_all = batch.x_treated
        moving = (xt_all[..., 8] > 2.0) | (xt_all[..., 9] > 2.0) | (xt_all[..., 13] > math.log(0.1))
        # candidates inside a fidget (the arm, or the resting massaging hand, moving without contact)
        in_fidget = np.zeros(ta.shape, dtype=bool)
        for f0, f1 in _negative_intervals(labels):
            in_fidget |= (ta < f1) & (tb > f0)
        for r0, r1 in return_intervals(labels) if returns else []:  # mostly inside a return
            in_fidget |= np.clip(np.minimum(tb, r1) - np.maximum(ta, r0), 0.0, None) >= 0.5 * (tb - ta)
        fidget = np.flatnonzero((ok & (iou < 0.05) & in_fidget).ravel())
        busy = np.flatnonzero((ok & (iou < 0.05) & moving & ~in_fidget).ravel())
        easy = np.flatnonzero((ok & (iou < 0.05) & ~moving).ravel())
        k = max(len(close), 200) // 2
        neg = np.concatenate(
            (
                rng.choice(fidget, min(len(fidget), 4000), replace=False),
                rng.choice(hard, min(len(hard), NEG_PER_POS * k), replace=False),
                rng.choice(busy, min(len(busy), NEG_PER_POS * k), replace=False),
                rng.choice(easy, min(len(easy), NEG_PER_POS * k), replace=False),
            )
        )
        idx = np.concatenate((close, neg))
        xt = batch.x_treated.reshape(-1, batch.x_treated.shape[-1])[idx]
        xs_t.append(xt.astype(np.float32))
        if batch.x_stroker is not None:
            xsv = batch.x_stroker.reshape(-1, batch.x_stroker.shape[-1])[idx]
            sok = batch.stroker_ok.ravel()[idx]
            xsv = np.where(sok[:, None], xsv, np.nan)
            xs_s.append(xsv.astype(np.float32))
        if batch.x_hand is not None and batch.hand_ok is not None:
            xhv = batch.x_hand.reshape(-1, batch.x_hand.shape[-1])[idx]
            xhv = np.where(batch.hand_ok.ravel()[idx][:, None], xhv, np.nan)
            xs_h.append(xhv.astype(np.float32))
        fid = np.isin(idx, fidget).astype(np.float64)
        ys.append(
            np.column_stack((iou.ravel()[idx], da.ravel()[idx], db.ravel()[idx], fid)).astype(np.float32)
        )
        ctx.append(batch.context.reshape(-1, 2)[idx].astype(np.float32))
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        x_treated=np.concatenate(xs_t),
        x_stroker=np.concatenate(xs_s) if xs_s else np.empty((0, 0), np.float32),
        x_hand=np.concatenate(xs_h) if xs_h else np.empty((0, 0), np.float32),
        y=np.concatenate(ys),  # iou, start offset, end offset (s) against the best-overlapping stroke
        context=np.concatenate(ctx),
        n_frames=n,
    )
    return out


def _thin(y: np.ndarray, weight: np.ndarray, limit: int) -> np.ndarray:
    """A mask keeping every stroke and every up-weighted (fidget, movement) candidate, and a random share
    of the rest so that about ``limit`` rows remain (all of them when ``limit`` is 0 or not exceeded)."""
    keep = (y > 0.5) | (weight > 1.0)
    rest = int((~keep).sum())
    if limit <= 0 or len(y) <= limit or rest == 0:
        return np.ones(len(y), dtype=bool)
    share = max(0.0, (limit - int(keep.sum())) / rest)
    rng = np.random.default_rng(5)
    return keep | (rng.random(len(y)) < share)


def labels_of(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Training target and mask from (IoU, start offset, end offset): a stroke when it overlaps one well
    and ends at most 0.05 s after it (a late end delays the event); not a stroke when it overlaps
    none, or ends far from the true end; the rest is left out."""
    iou, da, db = y[:, 0], y[:, 1], y[:, 2]
    pos = (iou >= POS_IOU) & (db >= -0.25) & (db <= 0.05) & (np.abs(da) <= 0.3)
    neg = (iou < NEG_IOU) | ((db > 0.2) | (db < -0.45))
    neg &= ~pos
    return pos.astype(np.float64), pos | neg


# --------------------------------------------------------------------------------------------------
# 2. direction and calibration rows (the fitting itself: benchmarks/stroke_fit.py)


def matched_contacts(
    key: str, model_dict: dict[str, Any]
) -> tuple[list[Any], dict[int, int], dict[str, Any]]:
    """The committed contacts (``ContactRecord``) of one session under a model, the true stroke each
    matches (contact index → stroke index), and the session's labels."""
    from coach.signal.strokes import DetectorModel

    model = DetectorModel.from_dict(model_dict)
    trace = session_trace(key)
    labels = read_labels(trace)
    holder: list[Any] = []
    replay(trace, posture_hz=1.0, stroke_detector=_recording_factory(holder, model, record=True))
    recs = holder[0].records or []
    true = np.array([[s["t_start"], s["t_end"]] for s in labels["strokes"]], dtype=np.float64).reshape(-1, 2)
    det = np.array([[r.t_start_s, r.t_end_s] for r in recs], dtype=np.float64).reshape(-1, 2)
    return list(recs), {d: t for t, d in match_strokes(true, det)}, labels


def contact_rows(args: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Committed contacts of one session under ``model`` with their truth (matched stroke or none)."""
    key, model_dict = args
    recs, match, labels = matched_contacts(key, model_dict)
    rows = []
    for i, r in enumerate(recs):
        t = match.get(i)
        rows.append(
            {
                "logit": r.logit,
                "matched": t is not None,
                "distal": None if t is None else labels["strokes"][t]["direction"] == "distal",
                "region": None if t is None else labels["strokes"][t].get("region"),
                "duration_s": r.t_end_s - r.t_start_s,
                "treated": [float(v) for v in np.nan_to_num(r.treated)],
                "stroker": None if r.stroker is None else [float(v) for v in np.nan_to_num(r.stroker)],
                "treated_shape": None
                if r.treated_shape is None
                else [float(v) for v in np.nan_to_num(r.treated_shape)],
                "stroker_shape": None
                if r.stroker_shape is None
                else [float(v) for v in np.nan_to_num(r.stroker_shape)],
            }
        )
    return rows


def tune_logits(args: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """Log-odds (without bias) of every candidate of one tune session, split by which model scored it,
    with the frame times and the truth: enough to replay the segmenter for any bias."""
    seed, model_dict = args
    from coach.signal.strokes import DetectorModel
    from coach.signal.strokes.segments import DURATIONS, segment_features

    model = DetectorModel.from_dict(model_dict)
    trace = session_trace(seed)
    labels = read_labels(trace)
    holder: list[Any] = []
    replay(trace, posture_hz=1.0, stroke_detector=_recording_factory(holder, None, keep_frames=True))
    det = holder[0]
    h = det.history
    ends = np.arange(h.start, h.end - 3, dtype=np.int64)
    lt = np.full((ends.size, DURATIONS.shape[0]), -np.inf)
    ls = np.full((ends.size, DURATIONS.shape[0]), -np.inf)
    quiet = np.ones((ends.size, DURATIONS.shape[0]), dtype=bool)
    for i in range(0, ends.size, 1000):
        batch = segment_features(h, ends[i : i + 1000])
        sel = batch.ok
        if model.quiet_max is not None:
            qm = model.quiet_max
            quiet[i : i + 1000] = (batch.context[..., 0] <= qm[0]) & (batch.context[..., 1] <= qm[1])
        if model.screen is not None:
            sw_, sb_, least_ = model.screen
            sel = sel & ((batch.x_treated @ sw_ + sb_) >= least_)
        lt[i : i + 1000][sel] = model.treated.logit(batch.x_treated[sel])
        if model.with_stroker is not None and batch.x_stroker is not None and batch.stroker_ok.any():
            ss = batch.stroker_ok & sel
            x = np.concatenate((batch.x_treated[ss], batch.x_stroker[ss]), axis=-1)
            blk = ls[i : i + 1000]
            blk[ss] = model.with_stroker.logit(x)
    return {
        "seed": seed,
        "stroker": "stroker" in labels["roles"],
        "t0": float(h.t_s[0]),
        "start": h.start,
        "frame_s": h.frame_s,
        "max_late": det.segmenter.max_late,
        "lt": lt,
        "ls": ls,
        "quiet": quiet,
        "true": np.array([[x["t_start"], x["t_end"]] for x in labels["strokes"]]).reshape(-1, 2),
    }


def logit_counts(d: dict[str, Any], logits: np.ndarray) -> np.ndarray:
    """(true, detected, matched) of one tune session (``d`` from a tune pass) when the segmenter runs
    on these per-frame candidate log-odds: the count every prior search compares."""
    from coach.signal.strokes.segmenter import Segmenter

    seg = Segmenter(d["max_late"])
    seg.start_at(d["start"])
    got = []
    for i in range(logits.shape[0]):
        got += seg.step(d["start"] + i, logits[i])
    det = np.array(
        [
            [d["t0"] + (g.a - d["start"]) * d["frame_s"], d["t0"] + (g.b - d["start"]) * d["frame_s"]]
            for g in got
        ]
    ).reshape(-1, 2)
    return np.array([len(d["true"]), len(det), len(match_strokes(d["true"], det))])


def segment_counts(d: dict[str, Any], bias: float, bias_stroker: float) -> np.ndarray:
    """(true, detected, matched) for one tune session under the given biases."""
    logits = np.where(np.isfinite(d["ls"]), d["ls"] + bias_stroker, d["lt"] + bias)
    return logit_counts(d, np.where(d["quiet"], logits, -np.inf))


def _f1(c: np.ndarray) -> float:
    return float(2 * c[2] / max(c[0] + c[1], 1))


def _pool_map(fn: Any, items: Iterable[Any], jobs: int) -> list[Any]:
    items = list(items)
    if jobs <= 1:
        return [fn(i) for i in items]
    with get_context("fork").Pool(jobs) as pool:
        return list(pool.imap(fn, items, chunksize=1))


def source_commit() -> str | None:
    """The git commit the trainer runs on (``+dirty`` with uncommitted changes), or ``None`` outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def _cpu_s() -> float:
    """CPU seconds of this process and its finished workers (wall time is meaningless on a busy host)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _plain(value: Any) -> Any:
    """Figures as JSON values (numpy scalars become Python numbers)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _direction_net(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """P(distal) as a small network (coach.signal.strokes.direction.NetDirection): on the tune seeds a
    logistic model left the stroker's strong vertical cue outvoted by the limb's drag evidence."""
    return train_mlp(x, y, hidden=DIRECTION_HIDDEN, epochs=60, batch=256, seed=1)


def fit_direction(
    model: dict[str, Any], seeds: list[str], jobs: int, t0: float, figures: dict[str, Any]
) -> None:
    """Direction models and the P(stroke) calibration from the committed contacts of ``seeds``; their
    figures go into ``figures``."""
    from coach.signal.strokes.direction import STROKER_DIRECTION_FEATURES, TREATED_DIRECTION_FEATURES

    n_t, n_s = len(TREATED_DIRECTION_FEATURES), len(STROKER_DIRECTION_FEATURES)
    model["direction_treated"] = {"w": [0.0] * n_t, "b": 0.0}
    model["direction_stroker"] = {"w": [0.0] * (n_t + n_s), "b": 0.0}
    rows = [r for rs in _pool_map(contact_rows, [(s, model) for s in seeds], jobs) for r in rs]
    m = [r for r in rows if r["matched"]]
    xt = np.array([r["treated"] for r in m])
    yd = np.array([float(r["distal"]) for r in m])
    model["direction_treated"] = _direction_net(xt, yd)
    ms = [r for r in m if r["stroker"] is not None]
    if ms:
        xs2 = np.array([r["treated"] + r["stroker"] for r in ms])
        model["direction_stroker"] = _direction_net(xs2, np.array([float(r["distal"]) for r in ms]))
    fit_region(model, m, figures)
    lg = np.array([[r["logit"]] for r in rows])
    ca, cb = fit_logistic(lg, np.array([float(r["matched"]) for r in rows]), l2=1e-3)
    model["calib_a"], model["calib_b"] = float(ca[0]), cb
    figures.update(direction_rows=len(m), direction_rows_with_stroker=len(ms), committed_contacts=len(rows))
    print(
        f"direction rows: {len(m)} matched contacts ({len(ms)} with stroker) of {len(rows)} committed; "
        f"calibration a={ca[0]:.3f} b={cb:.3f} ({time.time() - t0:.0f} s)",
        flush=True,
    )


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.stroke_training", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "--train",
        default="3000-3159,nostroke3200-3239",
        help="training sessions: random_scenario seeds, and seeds of the stroke-free variant",
    )
    ap.add_argument("--tune", default="1000-1039", help="tune seeds for the stroke prior (bias)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=25, help="epochs of the candidate networks")
    ap.add_argument(
        "--max-candidates",
        type=int,
        default=0,
        help="thin the ordinary non-stroke candidates at random to about this many rows (0: keep all); "
        "strokes and candidates inside fidgets or movement are all kept",
    )
    ap.add_argument(
        "--direction-train",
        default="",
        help="sessions for the direction, region and calibration fits (default: the training sessions)",
    )
    ap.add_argument(
        "--fidget-weight",
        type=float,
        default=FIDGET_WEIGHT,
        help="weight of candidates inside a fidget or ordinary movement (default %(default)s)",
    )
    ap.add_argument(
        "--out", type=Path, default=MODEL_PATH, help="model file to write (default: the shipped model.json)"
    )
    ap.add_argument(
        "--direction-only",
        action="store_true",
        help="keep the networks and prior, refit direction and calibration",
    )
    args = ap.parse_args(argv)
    seeds = parse_keys(args.train)
    t0 = time.time()
    command = shlex.join(["python", "-m", "benchmarks.stroke_training", *argv])
    print(f"training sessions: {len(seeds)} (seeds {args.train})", flush=True)
    if args.direction_only:
        model_, provenance = read_model(MODEL_PATH)
        figures_: dict[str, Any] = dict(provenance.get("figures") or {})
        fit_direction(model_, seeds, args.jobs, t0, figures_)
        provenance.update(
            direction_refitted=dt.date.today().isoformat(),
            direction_command=command,
            direction_sessions=args.train,
            direction_commit=source_commit(),
            figures=_plain(figures_),
        )
        write_model(MODEL_PATH, model_, provenance)
        print(f"wrote {MODEL_PATH}", flush=True)
        return 0
    figures: dict[str, Any] = {}
    paths = _pool_map(candidate_rows, seeds, args.jobs)
    print(f"candidate evidence ready ({time.time() - t0:.0f} s)", flush=True)
    data = [np.load(p) for p in paths]
    x_t = np.concatenate([d["x_treated"] for d in data]).astype(np.float64)
    y, use = labels_of(np.concatenate([d["y"] for d in data]).astype(np.float64))
    ctx = np.concatenate([d["context"] for d in data]).astype(np.float64)
    pos_ctx = ctx[(y > 0.5) & use]
    # The limb was at least this quiet before 99.9 % of the training strokes (plus a margin).
    quiet_max = [
        float(np.percentile(pos_ctx[:, 0], 99.9)) + 0.5,
        float(np.percentile(pos_ctx[:, 1], 99.9)) + 0.5,
    ]
    print(
        f"quiet limit before a stroke: gyro {math.exp(quiet_max[0]):.3f} rad/s, drag band {quiet_max[1]:+.2f}"
    )
    figures["quiet_max"] = quiet_max
    fidget_weight = args.fidget_weight
    figures["fidget_weight"] = fidget_weight
    fid_w = 1.0 + (fidget_weight - 1.0) * np.concatenate([d["y"][:, 3] for d in data]).astype(np.float64)
    use &= _thin(y, fid_w, args.max_candidates)
    x_t, y, w_t = x_t[use], y[use], fid_w[use]
    treated = train_mlp(x_t, y, weight=w_t, epochs=args.epochs)
    # the linear pre-screen: a logistic model, and the score 99.9 % of the training strokes reach
    mu, sd = x_t.mean(0), x_t.std(0) + 1e-6
    sw, sb = fit_logistic((x_t - mu) / sd, y, l2=1.0)
    w_raw = sw / sd
    b_raw = sb - float((mu / sd) @ sw)
    pos_score = x_t[y > 0.5] @ w_raw + b_raw
    screen = {"w": w_raw.tolist(), "b": b_raw, "least": float(np.percentile(pos_score, 0.1)) - 1.0}
    passed = float(np.mean((x_t[y < 0.5] @ w_raw + b_raw) >= screen["least"]))
    print(f"pre-screen passes {100 * passed:.0f} % of the sampled non-strokes", flush=True)
    figures.update(
        candidates_treated=len(y), candidate_strokes=int(y.sum()), prescreen_pass_nonstrokes=passed
    )
    print(
        f"treated network: {len(y)} candidates, {int(y.sum())} strokes ({time.time() - t0:.0f} s)", flush=True
    )
    xs = [d["x_stroker"] for d in data]
    have = [i for i, d in enumerate(data) if xs[i].size]
    with_stroker = None
    if have:
        xt_s = np.concatenate([data[i]["x_treated"] for i in have]).astype(np.float64)
        xs_s = np.concatenate([xs[i] for i in have]).astype(np.float64)
        y_s = np.concatenate([data[i]["y"] for i in have]).astype(np.float64)
        ys, use_s = labels_of(y_s)
        w_s = 1.0 + (fidget_weight - 1.0) * y_s[:, 3]
        ok = np.isfinite(xs_s).all(1) & use_s & _thin(ys, w_s, args.max_candidates)
        with_stroker = train_mlp(
            np.concatenate((xt_s, xs_s), 1)[ok], ys[ok], weight=w_s[ok], epochs=args.epochs
        )
        print(f"with-stroker network: {int(ok.sum())} candidates ({time.time() - t0:.0f} s)", flush=True)
        figures["candidates_with_stroker"] = int(ok.sum())
    model: dict[str, Any] = {
        "treated": treated,
        "with_stroker": with_stroker,
        "bias": 0.0,
        "bias_stroker": 0.0,
        "direction_treated": {"w": [0.0, 0.0, 0.0], "b": 0.0},
        "direction_stroker": {"w": [0.0] * 7, "b": 0.0},
        "calib_a": 1.0,
        "calib_b": 0.0,
        "quiet_max": quiet_max,
        "screen": screen,
    }
    tune = parse_keys(args.tune)
    if tune:
        sessions = _pool_map(tune_logits, [(s, model) for s in tune], args.jobs)
        grid = [-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0]
        alone = [d for d in sessions if not d["stroker"]]
        withs = [d for d in sessions if d["stroker"]]
        zero = np.zeros(3)
        f_alone = {b: _f1(sum((segment_counts(d, b, b) for d in alone), zero)) for b in grid}
        model["bias"] = max(grid, key=lambda b: f_alone[b])
        f_with = {b: _f1(sum((segment_counts(d, model["bias"], b) for d in withs), zero)) for b in grid}
        model["bias_stroker"] = max(grid, key=lambda b: f_with[b])
        print(
            "bias on tune seeds, F1 treated alone: "
            + ", ".join(f"{b:+.1f}: {f:.3f}" for b, f in f_alone.items())
        )
        print(
            "bias on tune seeds, F1 with stroker:  "
            + ", ".join(f"{b:+.1f}: {f:.3f}" for b, f in f_with.items())
        )
        print(
            f"chosen: bias {model['bias']:+.1f}, stroker bias {model['bias_stroker']:+.1f} "
            f"({time.time() - t0:.0f} s)",
            flush=True,
        )
        figures["tune_f1_treated_alone_by_bias"] = {f"{b:+.1f}": f for b, f in f_alone.items()}
        figures["tune_f1_with_stroker_by_bias"] = {f"{b:+.1f}": f for b, f in f_with.items()}
    direction_seeds = parse_keys(args.direction_train) if args.direction_train else seeds
    fit_direction(model, direction_seeds, args.jobs, t0, figures)
    figures["cpu_s"] = round(_cpu_s(), 1)
    provenance = {
        "command": command,
        "train_sessions": args.train,
        "train_session_count": len(seeds),
        "simulator": (
            "simulators.random_scenario (nostroke: the stroke-free variant); fam:<corpus>: "
            "benchmarks.family_corpus sessions of simulators.families; real:<dir>: benchmarks/data"
        ),
        "physics_digest": physics_digest(),
        "tune_seeds": args.tune,
        "direction_sessions": args.direction_train or args.train,
        "max_candidates": args.max_candidates,
        "epochs": args.epochs,
        "seeds": {
            "networks": 0,
            "direction_networks": 1,
            "candidate_sampling": "session seed (+7 for a variant)",
        },
        "date": dt.date.today().isoformat(),
        "commit": source_commit(),
        "figures": _plain(figures),
    }
    write_model(args.out, model, provenance)
    print(f"wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
