"""Add the kinematic tails to a movement-veto file (docs/strokes.md, "the movement veto, sixth round").

    python -m benchmarks.veto_refit --from FILE --train KEYS --tune KEYS [--out FILE]

Everything of ``--from`` (network, envelope, its tails, rhythm, threshold) is kept; the file gains
``kinematics``: tails of their own on :data:`coach.signal.strokes.veto_kinematics.KINEMATIC_FEATURES`
(:class:`coach.signal.strokes.movement.Tails`), whose tables are the shares ``--levels`` of the
``--train`` sessions' true strokes and whose free allowance is what ``--free-share`` of the ``--tune``
sessions' true strokes exceed: chosen from true strokes alone, without looking at any movement. They are
taken off every contact, in a rhythm too. Session keys and the row cache are
``benchmarks/veto_training.py``'s (a contact's window is cached, so the features are computed afresh).
The tune figures without the veto, with ``--from`` and with the new file are printed per tune corpus
(``--tune`` parts) and kept in the provenance. Rerun after a change of the candidate networks: the rows
are replayed with the shipped ``model.json``.
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

from benchmarks.stroke_training import _cpu_s, _plain, _pool_map, source_commit
from benchmarks.veto_training import _keys, _load, figures_at, kept_at, massage_tails, session_rows

LEVELS = "0.01,0.005,0.002,0.001,0.0005"
#: The families benchmark's tune split, sessions per corpus (``./run bench families -- --split tune
#: --count 16``; fewer where the corpus only checks the cost on weak strokes).
TUNE_COUNTS = "baseline=8,regions=8,contact=16,helper=8,movement=16,sensors=16,massage_free=16,mix=16"


def bench_keys(split: str, counts: str) -> str:
    """Session keys of the families benchmark's ``split`` (``counts``: ``corpus=n,...``), the sensor
    sets in turn as the benchmark takes them (``fam:sensors@treated+hand:15001``)."""
    from simulators.families import MIX_SEEDS, SENSOR_SETS, seed_range

    sets = list(SENSOR_SETS)
    out = []
    for part in counts.split(","):
        corpus, n = part.split("=")
        if corpus == "mix":
            base = {"tune": 40000, "report": 45000}[split]
            seeds: list[int] = list(range(base, min(MIX_SEEDS.stop, base + 40)))
        else:
            seeds = list(seed_range(corpus, split))
        out += [f"fam:{corpus}@{sets[i % len(sets)]}:{seed}" for i, seed in enumerate(seeds[: int(n)])]
    return ",".join(out)


def _corpus(key: str) -> str:
    """The corpus of a session key: its family (``fam:sensors@all:15003`` → ``sensors``), ``today``
    for today's physics, else the key's source (``real``, ``broad``)."""
    if key.startswith("fam:"):
        return key.split(":")[1].split("@")[0]
    return "today" if key[:1].isdigit() else key.split(":")[0].rstrip("0123456789")


def _table(name: str, f: dict[str, float]) -> str:
    return (
        f"  {name:<34} F1 {f['f1']:.4f} (P {f['precision']:.3f} R {f['recall']:.3f}), "
        f"massage-free {f['massage_free_per_min']:.3f}/min, movement {f['movement_per_min']:.3f}/min"
    )


def main(argv: list[str]) -> int:
    from coach.signal.strokes.movement import MovementVeto, read_veto, write_veto
    from coach.signal.strokes.veto_kinematics import KINEMATIC_FEATURES

    ap = argparse.ArgumentParser(prog="python -m benchmarks.veto_refit", description=__doc__.split("\n")[0])
    ap.add_argument("--from", dest="from_file", type=Path, required=True, help="the veto file to extend")
    ap.add_argument("--train", required=True, help="reference sessions: their true strokes make the tables")
    ap.add_argument(
        "--tune",
        default=f"bench:tune:{TUNE_COUNTS}",
        help="tune sessions: their true strokes set the free allowance (keys, or bench:SPLIT:corpus=n,...: "
        "the families benchmark's sessions)",
    )
    ap.add_argument("--levels", default=LEVELS, help="tail shares of the reference true strokes")
    ap.add_argument("--free-share", type=float, default=0.01, help="tune true strokes beyond the allowance")
    ap.add_argument("--weight", type=float, default=1.0, help="log-odds per nat beyond the allowance")
    ap.add_argument("--beyond", type=float, default=4.5, help="at most this many nats per feature (Tails)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    t0 = time.time()
    command = shlex.join(["python", "-m", "benchmarks.veto_refit", *argv])
    if args.tune.startswith("bench:"):
        _, split, counts = args.tune.split(":", 2)
        args.tune = bench_keys(split, counts)
    known, from_provenance = read_veto(args.from_file)
    train = [_load(p) for p in _pool_map(session_rows, _keys(args.train), args.jobs)]
    tune = [_load(p) for p in _pool_map(session_rows, _keys(args.tune), args.jobs)]
    corpus_of = [_corpus(k) for k in _keys(args.tune)]
    print(f"rows: {len(train)} reference, {len(tune)} tune sessions ({time.time() - t0:.0f} s)", flush=True)
    x_true = np.concatenate([s["x"][s["matched"]] for s in train if len(s["x"])])
    kin = massage_tails(
        x_true,
        tune,
        {"features": list(KINEMATIC_FEATURES)},
        [float(v) for v in args.levels.split(",")],
        args.free_share,
        args.weight,
        args.beyond,
    )
    parameters: dict[str, Any] = {**known, "kinematics": {"features": list(KINEMATIC_FEATURES), **kin}}
    print(f"kinematic tails: free {kin['free']:.2f} nats; tune true {kin['tune_true_nats_quantiles']}")
    before, after = MovementVeto.from_dict(known), MovementVeto.from_dict(parameters)
    figures: dict[str, Any] = {}
    parts = ["all", *dict.fromkeys(corpus_of)]
    for part in parts:
        ss = tune if part == "all" else [s for s, c in zip(tune, corpus_of, strict=True) if c == part]
        figures[part] = {
            "no_veto": figures_at(ss, kept_at(ss, None)),
            "from": figures_at(ss, kept_at(ss, before)),
            "refit": figures_at(ss, kept_at(ss, after)),
        }
        print(part)
        for k, f in figures[part].items():
            print(_table(k, f))
    provenance = {
        "command": command,
        "train_sessions": from_provenance.get("train_sessions"),
        "tune_sessions": from_provenance.get("tune_sessions"),
        "kinematics_reference_sessions": args.train,
        "kinematics_tune_sessions": args.tune,
        "base_model": "coach/signal/strokes/model.json (the shipped candidate networks, no veto)",
        "date": dt.date.today().isoformat(),
        "commit": source_commit(),
        "from": {"file": args.from_file.as_posix(), "provenance": from_provenance},
        "figures": _plain(
            {
                "reference_true": len(x_true),
                "tune_by_corpus": figures,
                "cpu_s": round(_cpu_s(), 1),
            }
        ),
    }
    write_veto(args.out, parameters, provenance)
    print(f"wrote {args.out} ({time.time() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
