"""Train the stroke detector's direction networks alone and write ``coach/signal/strokes/direction.json``.

    python -m benchmarks.direction_training \\
        --train "fam:mix:41000-41079,3000-3019" --tune "fam:mix:40000-40029" [--exclude-family contact]

The candidate networks, prior, calibration and regions stay those of ``model.json``: each session is
replayed with them (:func:`benchmarks.stroke_training.contact_rows`, the code that runs live), every
committed contact matched to a true stroke gives a row of direction evidence, and two small networks
(12 ReLU units; ``treated`` alone, and with the ``stroker`` evidence) learn P(distal). The rows of a
session are cached (``benchmarks/out/training/dirrows_*.json``; keyed by the session, the simulator's
digest and the candidate networks' digest).

``--exclude-family F`` leaves out every training session whose physics includes family ``F`` (the mix
draws several families per session), for the leave-one-family-out figure; the tune figures are then
printed for the sessions with ``F`` and without it.

``--shape`` gives the ``treated`` network the contact's shape evidence too
(:data:`coach.signal.strokes.direction.TREATED_SHAPE_FEATURES`: drags over windows around the found
contact, displacement and pitch profiles); the detector feeds it whenever the network takes more inputs
than the six numbers of :func:`~coach.signal.strokes.direction.treated_evidence`. ``--keep-stroker``
keeps ``model.json``'s network with the ``stroker`` evidence instead of refitting it, ``--stroker-from
FILE`` that of a direction file. ``--elevation-noise SD`` adds Gaussian noise of SD standard deviations
to the elevation (pitch) profiles of every training row (:func:`elevation_columns`), drawn afresh each
batch, so the network leans less on pitch shapes a support or press it has not seen would change
(docs/strokes.md, fifth session). ``--seeds 1,2,3,4,5`` fits the ``treated`` network once per seed and
stores their mean log-odds as one network (:func:`benchmarks.stroke_fit.merge_networks`).

The file holds only ``direction_treated`` and ``direction_stroker`` with their provenance (the command,
sessions, date, commit and the tune figures); :func:`coach.signal.strokes.detector.default_model`
reads it over ``model.json``, so the candidate networks can be retrained independently.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.stroke_fit import merge_networks, train_mlp
from benchmarks.stroke_sessions import _cache_name, parse_keys
from benchmarks.stroke_training import (
    CACHE,
    DIRECTION_HIDDEN,
    _direction_net,
    _pool_map,
    contact_rows,
    source_commit,
)
from coach.signal.strokes.direction import MIN_DIRECTION_PROB
from coach.signal.strokes.trained import (
    DIRECTION_SOURCE_PATH,
    read_model,
    write_direction,
)


def elevation_columns() -> list[int]:
    """Columns of the elevation (pitch) profiles (``el_prof*``, ``el_wide*``) in the ``treated`` shape
    rows: the pitch shapes that a see-saw support or a press that pitches the forearm by where along it
    the hand presses changes."""
    from coach.signal.strokes.direction import TREATED_DIRECTION_FEATURES, TREATED_SHAPE_FEATURES

    names = (*TREATED_DIRECTION_FEATURES, *TREATED_SHAPE_FEATURES)
    return [i for i, n in enumerate(names) if n.startswith("el_")]


def _model_digest(model: dict[str, Any]) -> str:
    text = json.dumps({k: v for k, v in model.items() if not k.startswith("direction")}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def session_rows(args: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`contact_rows` of one session, cached; each row gets the session's families."""
    key, model = args
    from coach.signal.strokes.direction import TREATED_SHAPE_FEATURES

    # the count of shape numbers in the name: rows cached before the evidence grew are not reused
    shape = len(TREATED_SHAPE_FEATURES)
    path = CACHE / f"dirrows2_{_cache_name(key)}_{_model_digest(model)}_s{shape}.json"
    if path.exists():
        rows: list[dict[str, Any]] = json.loads(path.read_text())
        if all("stroker_shape" in r for r in rows):  # rows cached before it was recorded are taken again
            return rows
    rows = contact_rows((key, model))
    fams: list[str] = []
    if key.startswith("fam:"):
        from benchmarks.stroke_sessions import _session, _spec

        seed, variant = _session(key)
        fams = list(_spec(variant[4:], seed).families)
    for r in rows:
        r["families"] = fams
        r["key"] = key
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rows))
    tmp.replace(path)
    return rows


def _x(rows: list[dict[str, Any]], stroker: bool, shape: bool = False) -> np.ndarray:
    """Evidence rows: ``treated`` (+ ``stroker``); ``shape``: + the shape evidence (the ``treated``
    network's; with ``stroker``, the stroker's glide over windows, ``STROKER_SHAPE_FEATURES``)."""
    extra = "stroker_shape" if stroker else "treated_shape"
    return np.array(
        [r["treated"] + (r["stroker"] if stroker else []) + (r[extra] if shape else []) for r in rows],
        dtype=np.float64,
    )


def accuracy(net: Any, rows: list[dict[str, Any]], stroker: bool) -> tuple[float | None, int]:
    """Direction accuracy (``unknown`` counts wrong) of a direction model over matched rows (a
    ``treated`` network that takes more than six inputs reads the shape evidence too)."""
    from coach.signal.strokes.direction import TREATED_DIRECTION_FEATURES, direction_model_from_dict

    if not rows:
        return None, 0
    from coach.signal.strokes.direction import STROKER_DIRECTION_FEATURES

    model = direction_model_from_dict(net)
    n_plain = len(TREATED_DIRECTION_FEATURES) + (len(STROKER_DIRECTION_FEATURES) if stroker else 0)
    shape = model.n_inputs > n_plain
    # a network trained before the shape evidence grew reads its first part (treated_direction_input)
    p = np.array([model.p(x[: model.n_inputs]) for x in _x(rows, stroker, shape)])
    y = np.array([bool(r["distal"]) for r in rows])
    ok = np.where(y, p >= MIN_DIRECTION_PROB, p <= 1.0 - MIN_DIRECTION_PROB)
    return float(ok.mean()), len(rows)


def _split(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    matched = [r for r in rows if r["matched"]]
    return matched, [r for r in matched if r["stroker"] is not None]


def tune_table(
    nets: dict[str, dict[str, Any]], rows: list[dict[str, Any]], groups: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Accuracy alone (every matched row's ``treated`` evidence) and with the stroker, per group."""
    out: dict[str, dict[str, Any]] = {}
    for gname, keep in groups.items():
        sel = [r for r in rows if keep(r)]
        m, ms = _split(sel)
        out[gname] = {}
        for name, params in nets.items():
            a, n = accuracy(params["direction_treated"], m, False)
            b, k = accuracy(params["direction_stroker"], ms, True)
            out[gname][name] = {
                "alone": None if a is None else round(a, 4),
                "rows": n,
                "with_stroker": None if b is None else round(b, 4),
                "rows_stroker": k,
            }
    return out


def _pitch_gate(
    args: argparse.Namespace,
    pitch_net: dict[str, Any],
    mt: list[dict[str, Any]],
    y: np.ndarray,
    train: list[dict[str, Any]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`benchmarks.pitch_gate_fit.fit_pitch_gate` with the ``treated`` network's recipe; every
    training session's contacts (matched or not, in order) give the out-of-range shares."""
    from benchmarks.pitch_gate_fit import fit_pitch_gate

    seeds = [int(s) for s in args.seeds.split(",")]

    def fit(x: np.ndarray, yy: np.ndarray) -> dict[str, Any]:
        nets = [train_mlp(x, yy, hidden=args.hidden, epochs=args.epochs, batch=256, seed=s) for s in seeds]
        return merge_networks(nets)

    by_session: dict[str, list[dict[str, Any]]] = {}
    for r in train:
        by_session.setdefault(r["key"], []).append(r)
    sessions = [_x(rows, False, True) for rows in by_session.values()]
    return fit_pitch_gate(pitch_net, _x(mt, False, True), y, sessions, fit)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.direction_training", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--train", default="fam:mix:41000-41079,3000-3019")
    ap.add_argument("--tune", default="fam:mix:40000-40029")
    ap.add_argument("--exclude-family", default="", help="leave out training sessions with this family")
    ap.add_argument("--out", type=Path, default=DIRECTION_SOURCE_PATH)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--shape", action="store_true", help="the treated network reads the shape evidence")
    ap.add_argument("--hidden", type=int, default=DIRECTION_HIDDEN, help="treated network hidden units")
    ap.add_argument("--epochs", type=int, default=60, help="epochs of the treated network")
    ap.add_argument(
        "--seeds",
        default="1",
        help="seeds of the treated network, comma-separated: several fit an ensemble (mean log-odds, "
        "stored as one network with their hidden units side by side)",
    )
    ap.add_argument(
        "--elevation-noise",
        type=float,
        default=0.0,
        help="Gaussian noise (standard deviations) on the treated network's elevation profiles while it "
        "is fitted",
    )
    ap.add_argument("--keep-stroker", action="store_true", help="keep model.json's stroker network")
    ap.add_argument(
        "--stroker-from",
        type=Path,
        default=None,
        help="keep the stroker network of this direction file instead of refitting it",
    )
    ap.add_argument(
        "--forearm-only", action="store_true", help="fit the treated network on forearm strokes only"
    )
    ap.add_argument(
        "--stroker-shape",
        action="store_true",
        help="refit the stroker network with the stroker's glide over windows (STROKER_SHAPE_FEATURES)",
    )
    ap.add_argument(
        "--stroker-hidden", type=int, default=DIRECTION_HIDDEN, help="stroker network hidden units"
    )
    ap.add_argument("--stroker-epochs", type=int, default=60, help="epochs of the stroker network")
    ap.add_argument(
        "--pitch-gate",
        action="store_true",
        help="also fit the pitch range gate (benchmarks.pitch_gate_fit): a pitch-free treated network the "
        "same way (seeds, epochs, hidden units; no noise) and the out-of-range share that switches to it",
    )
    ap.add_argument(
        "--keep-treated",
        type=Path,
        default=None,
        help="keep the treated network of this direction file instead of refitting it",
    )
    args = ap.parse_args(argv)
    if args.pitch_gate and not args.shape:
        ap.error("--pitch-gate needs --shape (the elevation profiles are shape evidence)")
    t0 = time.time()
    model, _ = read_model()
    train_keys, tune_keys = parse_keys(args.train), parse_keys(args.tune)
    train = [r for rs in _pool_map(session_rows, [(k, model) for k in train_keys], args.jobs) for r in rs]
    excl = args.exclude_family
    if excl:
        train = [r for r in train if excl not in r["families"]]
    print(f"training rows ready: {len(train)} contacts ({time.time() - t0:.0f} s)", flush=True)
    m, ms = _split(train)
    mt = [r for r in m if r.get("region") in (None, "forearm")] if args.forearm_only else m
    y = np.array([float(r["distal"]) for r in mt])
    ys = np.array([float(r["distal"]) for r in ms])
    if args.stroker_from is not None:
        kept_s = json.loads(args.stroker_from.read_text())
        stroker_net = kept_s.get("parameters", kept_s)["direction_stroker"]
    elif args.keep_stroker:
        stroker_net = model["direction_stroker"]
    elif args.stroker_shape or args.stroker_hidden != DIRECTION_HIDDEN or args.stroker_epochs != 60:
        xs = _x(ms, True, args.stroker_shape)
        stroker_net = train_mlp(
            xs, ys, hidden=args.stroker_hidden, epochs=args.stroker_epochs, batch=256, seed=1
        )
    else:
        stroker_net = _direction_net(_x(ms, True), ys)
    if args.keep_treated is not None:
        kept = json.loads(args.keep_treated.read_text())
        treated_net = kept.get("parameters", kept)["direction_treated"]
    else:
        xt = _x(mt, False, args.shape)
        seeds = [int(s) for s in args.seeds.split(",")]
        cols = [c for c in elevation_columns() if c < xt.shape[1]]
        noise = {"group": cols, "group_noise": args.elevation_noise} if args.elevation_noise > 0 else {}
        treated_net = merge_networks(
            [
                train_mlp(xt, y, hidden=args.hidden, epochs=args.epochs, batch=256, seed=s, **noise)
                for s in seeds
            ]
        )
    fitted = {"direction_treated": treated_net, "direction_stroker": stroker_net}
    gate_note: dict[str, Any] = {}
    if args.pitch_gate:
        fitted["direction_pitch_gate"], gate_note = _pitch_gate(args, treated_net, mt, y, train)
    tune = [r for rs in _pool_map(session_rows, [(k, model) for k in tune_keys], args.jobs) for r in rs]
    groups: dict[str, Any] = {"all": lambda r: True}
    for fam in ("regions", "contact", "helper", "movement", "sensors"):
        groups[f"with {fam}"] = lambda r, f=fam: f in r["families"]
    groups["today's physics"] = lambda r: not r["families"]
    groups["forearm"] = lambda r: r.get("region") in (None, "forearm")
    for fam in ("contact", "sensors"):
        groups[f"forearm, with {fam}"] = lambda r, f=fam: (
            f in r["families"]
            and r.get("region")
            in (
                None,
                "forearm",
            )
        )
    groups = {g: keep for g, keep in groups.items() if any(keep(r) for r in tune)}
    table = tune_table({"model.json": model, "fitted": fitted}, tune, groups)
    for g, row in table.items():
        print(f"tune {g}: " + "; ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    if "direction_pitch_gate" in fitted:
        from benchmarks.pitch_gate_fit import gated_accuracy

        for g, keep in groups.items():
            acc, share = gated_accuracy(fitted, [r for r in tune if keep(r)])
            row = table[g]["fitted"]
            row["alone_with_pitch_gate"] = None if acc is None else round(acc, 4)
            row["pitch_gate_share"] = round(share, 4)
            print(f"tune {g}: fitted with the pitch gate {row['alone_with_pitch_gate']} (gated {share:.2f})")
    provenance = {
        "command": shlex.join(["python", "-m", "benchmarks.direction_training", *argv]),
        "train_sessions": args.train,
        "exclude_family": excl or None,
        "tune_sessions": args.tune,
        "direction_rows": len(m),
        "direction_rows_treated": len(mt),
        "direction_rows_with_stroker": len(ms),
        "candidate_networks": "model.json (not refitted)",
        "treated_inputs": "treated + shape" if args.shape else "treated",
        "treated_hidden": args.hidden,
        "treated_epochs": args.epochs,
        "treated_seeds": args.seeds,
        "treated_elevation_noise_sd": args.elevation_noise,
        "stroker_network": f"kept from {args.stroker_from}"
        if args.stroker_from
        else "model.json (kept)"
        if args.keep_stroker
        else "refitted",
        "stroker_inputs": "treated + stroker + stroker shape" if args.stroker_shape else "treated + stroker",
        "stroker_hidden": args.stroker_hidden,
        "stroker_epochs": args.stroker_epochs,
        "treated_network": f"kept from {args.keep_treated}" if args.keep_treated else "refitted",
        **gate_note,
        "date": dt.date.today().isoformat(),
        "commit": source_commit(),
        "tune_figures": table,
    }
    write_direction(args.out, fitted, provenance)
    print(f"wrote {args.out} ({time.time() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
